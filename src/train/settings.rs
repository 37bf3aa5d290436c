//! The training settings: which method runs, the schedule and optimizer, and each
//! method's own settings (kept beside the method, gathered here).

use serde::{Deserialize, Serialize};

use super::alternating::MlaConfig;
use super::hgm::HgmConfig;
use super::imputation::ImputeConfig;
use super::ogm::OgmConfig;
use super::optimizer::OptimizerConfig;
use super::qmf::QmfConfig;
use crate::error::{MlaError, Result};
use crate::fusion::Fusion;
use crate::model::EncoderConfig;

/// Which training method runs: MLA, or one of the paper's baselines (appendix A.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Alternating unimodal adaptation with a shared head (MLA, Eq. 1-8).
    #[default]
    Mla,
    /// Concat: concatenated features, one head, one loss.
    #[serde(alias = "concat")]
    Joint,
    /// Sum: a head per modality, summed logits, one loss.
    Sum,
    /// Late fusion: independent unimodal models, averaged outputs.
    #[serde(alias = "late-fusion")]
    Late,
    /// FiLM: one modality's feature scales and shifts the others'.
    Film,
    /// BiGated: a sigmoid gate from one modality's hidden state modulates the others'.
    Bigated,
    /// OGM-GE: Concat with on-the-fly gradient modulation and noise.
    OgmGe,
    /// QMF: energy-weighted late fusion with a ranking regulariser.
    Qmf,
    /// AE: an autoencoder over the concatenated features imputes absent modalities;
    /// Concat's head reads the completed features (missing-modality baseline).
    Ae,
    /// CRA: a cascade of residual autoencoders imputes absent modalities (Tran et al.,
    /// CVPR 2017).
    Cra,
    /// MMIN: cross-modal imagination with cycle consistency; the head reads the
    /// cascade's latent codes (Zhao et al., ACL 2021).
    Mmin,
}

impl Method {
    /// The methods built for missing modalities (the paper's Table 2 baselines).
    pub const MISSING: [Method; 3] = [Method::Ae, Method::Cra, Method::Mmin];

    /// Every method, in the paper's Table 1 order.
    pub const ALL: [Method; 8] = [
        Method::Sum,
        Method::Joint,
        Method::Late,
        Method::Film,
        Method::Bigated,
        Method::OgmGe,
        Method::Qmf,
        Method::Mla,
    ];

    /// Name on the command line and in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            Method::Mla => "mla",
            Method::Joint => "joint",
            Method::Sum => "sum",
            Method::Late => "late",
            Method::Film => "film",
            Method::Bigated => "bigated",
            Method::OgmGe => "ogm-ge",
            Method::Qmf => "qmf",
            Method::Ae => "ae",
            Method::Cra => "cra",
            Method::Mmin => "mmin",
        }
    }

    /// Name in tables, as the paper writes it.
    pub fn title(self) -> &'static str {
        match self {
            Method::Mla => "MLA",
            Method::Joint => "Concat",
            Method::Sum => "Sum",
            Method::Late => "Late Fusion",
            Method::Film => "FiLM",
            Method::Bigated => "BiGated",
            Method::OgmGe => "OGM-GE",
            Method::Qmf => "QMF",
            Method::Ae => "AE",
            Method::Cra => "CRA",
            Method::Mmin => "MMIN",
        }
    }
}

impl std::str::FromStr for Method {
    type Err = MlaError;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim().to_ascii_lowercase();
        match s.as_str() {
            "concat" => return Ok(Method::Joint),
            "late-fusion" => return Ok(Method::Late),
            _ => {}
        }
        Method::ALL
            .into_iter()
            .chain(Method::MISSING)
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                MlaError::config(
                    "train.method",
                    format!(
                        "unknown method `{s}` (methods: {}, {}; concat = joint)",
                        Method::ALL.map(Method::name).join(", "),
                        Method::MISSING.map(Method::name).join(", ")
                    ),
                )
            })
    }
}

/// Everything about training except data and architecture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    pub method: Method,
    pub epochs: usize,
    pub batch_size: usize,
    pub optimizer: OptimizerConfig,
    /// Used by MLA only.
    pub hgm: HgmConfig,
    /// Used by MLA only: the head options of the ablation.
    pub mla: MlaConfig,
    /// Used by OGM-GE only.
    pub ogm: OgmConfig,
    /// Used by QMF only.
    pub qmf: QmfConfig,
    /// Used by AE, CRA and MMIN only.
    pub impute: ImputeConfig,
    /// FiLM's condition modality, BiGated's gate modality.
    pub condition_modality: usize,
    /// Fusion of unimodal predictions at evaluation (MLA only; the baselines fuse in
    /// their heads).
    pub fusion: Fusion,
    /// Order in which modalities take their steps on each batch; empty = `0..M`.
    pub modality_order: Vec<usize>,
    /// Seed of weight initialisation and batch order.
    pub seed: u64,
    /// Label smoothing of every training loss, in `[0, 1)`: the target puts
    /// `1 - label_smoothing` on the label and the rest evenly on all classes. None (the
    /// default): [`TEXT_LABEL_SMOOTHING`] when a modality has the text encoder trained
    /// from scratch, else 0 (see [`TrainConfig::label_smoothing_for`]).
    pub label_smoothing: Option<f64>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            method: Method::Mla,
            // The paper's schedule (100 epochs, decay x0.1 every 70); one epoch of the
            // built-in data takes a fraction of a second on a CPU.
            epochs: 100,
            batch_size: 64,
            optimizer: OptimizerConfig::default(),
            hgm: HgmConfig::default(),
            mla: MlaConfig::default(),
            ogm: OgmConfig::default(),
            qmf: QmfConfig::default(),
            impute: ImputeConfig::default(),
            condition_modality: 0,
            fusion: Fusion::Entropy,
            modality_order: Vec::new(),
            seed: 0,
            label_smoothing: None,
        }
    }
}

/// The label smoothing of models with a text encoder trained from scratch. That
/// encoder is a linear bag-of-words model, which fits its training texts within a few
/// epochs (names and titles rarely share words across classes) and from then on only
/// grows its logits, where a logistic regression's L2 penalty, tuned on validation,
/// stops; smoothing bounds the logits instead. Measured on emoji names against such a
/// regression (BENCHMARKS.md, "The text encoder trained from scratch"): from 0.6
/// points below it to its level. Every modality gets the same smoothing, because
/// entropy fusion compares the modalities' confidences: smoothing the text modality
/// alone cost the fused prediction a point there.
pub const TEXT_LABEL_SMOOTHING: f64 = 0.1;

impl TrainConfig {
    /// The label smoothing for a model with `encoders`: the configured one, else
    /// [`TEXT_LABEL_SMOOTHING`] when one of them is the text encoder trained from
    /// scratch, else 0.
    pub fn label_smoothing_for(&self, encoders: &[EncoderConfig]) -> f64 {
        self.label_smoothing.unwrap_or_else(|| {
            if encoders.iter().any(|e| matches!(e, EncoderConfig::Text(_))) {
                TEXT_LABEL_SMOOTHING
            } else {
                0.0
            }
        })
    }

    /// The modality order for `m` modalities, checked.
    pub fn order(&self, m: usize) -> Result<Vec<usize>> {
        if self.modality_order.is_empty() {
            return Ok((0..m).collect());
        }
        let mut sorted = self.modality_order.clone();
        sorted.sort_unstable();
        if sorted != (0..m).collect::<Vec<_>>() {
            return Err(MlaError::config(
                "train.modality_order",
                format!(
                    "must list each of the {m} modalities 0..{m} once, got {:?}",
                    self.modality_order
                ),
            ));
        }
        Ok(self.modality_order.clone())
    }

    /// Checks every field; errors name the field.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 {
            return invalid("epochs", "must be at least 1");
        }
        if self.batch_size == 0 {
            return invalid("batch_size", "must be at least 1");
        }
        if let Some(s) = self.label_smoothing
            && !(0.0..1.0).contains(&s)
        {
            return invalid("label_smoothing", "must be in [0, 1)");
        }
        self.optimizer.validate()?;
        if self.method != Method::Mla && self.mla != MlaConfig::default() {
            return invalid("mla", "the head options are MLA's (method = \"mla\")");
        }
        self.mla.validate()?;
        self.hgm.validate()?;
        self.ogm.validate()?;
        self.qmf.validate()?;
        self.impute.validate()
    }
}

/// The error for a bad value of `train.<field>`.
pub(super) fn invalid(field: &str, reason: &str) -> Result<()> {
    Err(MlaError::config(format!("train.{field}"), reason))
}
