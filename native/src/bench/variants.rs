//! The table's columns: methods, with MLA's ablation switches, and `--methods`.

use anyhow::Result;
use mla::config::Method;

/// One column of the table: a method, with MLA's ablation switches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    pub method: Method,
    /// MLA only: head gradient modification on.
    pub hgm: bool,
    /// MLA only: dynamic (entropy) fusion on; off = equal weights.
    pub dynamic: bool,
    /// MLA only: one of the head options of the head ablation (issue 16).
    pub head: Option<HeadOption>,
}

/// MLA's head options (`train.mla`), one at a time in the head ablation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadOption {
    StatePerModality,
    LrDivided,
    BiasPerModality,
    PerModality,
    Calibrate,
}

impl HeadOption {
    pub const ALL: [HeadOption; 5] = [
        HeadOption::StatePerModality,
        HeadOption::LrDivided,
        HeadOption::BiasPerModality,
        HeadOption::PerModality,
        HeadOption::Calibrate,
    ];

    /// The `train` flag, which is also the run name's suffix.
    pub(super) fn flag(self) -> &'static str {
        match self {
            HeadOption::StatePerModality => "head-state-per-modality",
            HeadOption::LrDivided => "head-lr-divided",
            HeadOption::BiasPerModality => "bias-per-modality",
            HeadOption::PerModality => "head-per-modality",
            HeadOption::Calibrate => "calibrate",
        }
    }

    pub(super) fn title(self) -> &'static str {
        match self {
            HeadOption::StatePerModality => "head state per modality",
            HeadOption::LrDivided => "head lr / M",
            HeadOption::BiasPerModality => "bias per modality",
            HeadOption::PerModality => "a head per modality",
            HeadOption::Calibrate => "temperatures calibrated",
        }
    }
}

impl Variant {
    pub(super) fn of(method: Method) -> Self {
        Self {
            method,
            hgm: true,
            dynamic: true,
            head: None,
        }
    }

    /// The run folder's name and the key in results.json.
    pub fn name(&self) -> String {
        let mut n = self.method.name().to_string();
        if self.method == Method::Mla {
            if !self.hgm {
                n += "-no-hgm";
            }
            if !self.dynamic {
                n += "-no-df";
            }
            if let Some(h) = self.head {
                n += &format!("-{}", h.flag());
            }
        }
        n
    }

    /// The column heading.
    pub fn title(&self) -> String {
        if let Some(h) = self.head {
            return format!("MLA ({})", h.title());
        }
        if self.method == Method::Mla && !(self.hgm && self.dynamic) {
            let mark = |on: bool| if on { "✓" } else { "✗" };
            format!("MLA (HGM {}, DF {})", mark(self.hgm), mark(self.dynamic))
        } else {
            self.method.title().to_string()
        }
    }

    /// The `train` flags that select it.
    pub(super) fn flags(&self) -> Vec<String> {
        let mut f = vec!["--method".to_string(), self.method.name().to_string()];
        if !self.hgm {
            f.push("--no-hgm".into());
        }
        if !self.dynamic {
            f.extend(["--fusion".into(), "mean".into()]);
        }
        if let Some(h) = self.head {
            f.push(format!("--{}", h.flag()));
        }
        f
    }

    /// MLA's head ablation: the paper's MLA, without HGM, and each head option alone.
    pub fn head_ablation() -> Vec<Variant> {
        let mla = Variant::of(Method::Mla);
        let mut all = vec![
            mla.clone(),
            Variant {
                hgm: false,
                ..mla.clone()
            },
        ];
        all.extend(HeadOption::ALL.map(|h| Variant {
            head: Some(h),
            ..mla.clone()
        }));
        all
    }

    /// The four MLA configurations of the ablation: HGM x dynamic fusion.
    pub fn ablation() -> Vec<Variant> {
        [(false, false), (true, false), (false, true), (true, true)]
            .map(|(hgm, dynamic)| Variant {
                method: Method::Mla,
                hgm,
                dynamic,
                head: None,
            })
            .into()
    }
}

/// Parses `--methods`: `all`, `mla-heads` (MLA's head ablation, with Late fusion and
/// QMF beside it), or names separated by commas.
pub fn parse_methods(list: &str) -> Result<Vec<Variant>> {
    let mut out: Vec<Variant> = Vec::new();
    for item in list.split(',').map(str::trim) {
        let group = match item {
            "all" => Method::ALL.into_iter().map(Variant::of).collect(),
            "mla-heads" => {
                let mut v = Variant::head_ablation();
                v.extend([Method::Late, Method::Qmf].map(Variant::of));
                v
            }
            // A method, or one of MLA's variants by its run name (`mla-no-hgm`).
            one => match one.parse::<Method>() {
                Ok(method) => vec![Variant::of(method)],
                Err(e) => vec![
                    Variant::head_ablation()
                        .into_iter()
                        .chain(Variant::ablation())
                        .find(|v| v.name() == one)
                        .ok_or(e)?,
                ],
            },
        };
        // A method named twice (`mla-heads,late`) runs once.
        for v in group {
            if !out.iter().any(|o| o.name() == v.name()) {
                out.push(v);
            }
        }
    }
    Ok(out)
}
