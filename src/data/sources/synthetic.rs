//! The built-in data: a deterministic multimodal generator whose modalities differ in
//! how informative they are, so that modality laziness shows.
//!
//! Every modality draws class prototypes; a sample is its class prototype plus noise
//! (vectors and images) or a mix of class keywords and random tokens (text). Classes
//! from `informative_classes` on share one prototype in that modality, so it cannot
//! tell them apart. The default has a dominant modality that is sharp on 6 of 8
//! classes and blind to the last two, and a weak modality that is noisy but
//! informative on all classes: fusing both beats either alone.

use serde::{Deserialize, Serialize};

use crate::data::dataset::{Dataset, InputKind, ModalityData, Splits};
use crate::data::sources::{DataSource, Files, Loading, SourceEntry, from_json};
use crate::error::{MlaError, Result};
use crate::rng::Rng;

/// The shape of one synthetic modality.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SyntheticKind {
    /// A feature vector of `dim` values.
    Features { dim: usize },
    /// A one-channel `size x size` image.
    Image { size: usize },
    /// A sequence of `len` tokens from a vocabulary of `vocab` ids (0 = padding).
    Tokens { len: usize, vocab: usize },
}

/// One synthetic modality.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyntheticModality {
    pub name: String,
    /// What the modality's input looks like.
    pub kind: SyntheticKind,
    /// Distance between class prototypes, in units of the noise (vectors and images).
    #[serde(default = "one")]
    pub separation: f64,
    /// Standard deviation of the per-value noise (vectors and images).
    #[serde(default = "one")]
    pub noise: f64,
    /// Probability that a token is one of its class's keywords (tokens).
    #[serde(default = "half")]
    pub keyword_rate: f64,
    /// Classes `0..informative_classes` have their own prototype; the rest share one.
    pub informative_classes: usize,
}

fn one() -> f64 {
    1.0
}
fn half() -> f64 {
    0.5
}

/// The synthetic data set: modalities, classes, split sizes, missing rate and seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyntheticConfig {
    pub modalities: Vec<SyntheticModality>,
    pub num_classes: usize,
    pub train: usize,
    pub valid: usize,
    pub test: usize,
    /// Probability that each modality of each sample is missing (at least one is kept).
    #[serde(default)]
    pub missing_rate: f64,
    pub seed: u64,
}

impl Default for SyntheticConfig {
    /// Two feature modalities over 8 classes: `strong` is sharp but blind to classes 6
    /// and 7; `weak` is noisy but sees every class.
    fn default() -> Self {
        Self {
            modalities: vec![
                SyntheticModality {
                    name: "strong".into(),
                    kind: SyntheticKind::Features { dim: 32 },
                    separation: 6.0,
                    noise: 1.0,
                    keyword_rate: 0.5,
                    informative_classes: 6,
                },
                SyntheticModality {
                    name: "weak".into(),
                    kind: SyntheticKind::Features { dim: 32 },
                    separation: 2.5,
                    noise: 1.0,
                    keyword_rate: 0.5,
                    informative_classes: 8,
                },
            ],
            num_classes: 8,
            train: 2000,
            valid: 500,
            test: 1000,
            missing_rate: 0.0,
            seed: 0,
        }
    }
}

impl SyntheticConfig {
    /// Checks every field; errors name the field.
    pub fn validate(&self) -> Result<()> {
        let bad =
            |field: &str, reason: &str| Err(MlaError::config(format!("data.{field}"), reason));
        if self.modalities.len() < 2 {
            return bad("modalities", "need at least 2 modalities");
        }
        if self.num_classes < 2 {
            return bad("num_classes", "need at least 2 classes");
        }
        if self.train == 0 || self.valid == 0 || self.test == 0 {
            return bad("train/valid/test", "every split needs at least one sample");
        }
        if !(0.0..1.0).contains(&self.missing_rate) {
            return bad("missing_rate", "must be in [0, 1)");
        }
        for (i, m) in self.modalities.iter().enumerate() {
            let f = |name: &str| format!("modalities[{i}].{name}");
            let err = |field: String, reason: &str| {
                Err(MlaError::config(format!("data.{field}"), reason))
            };
            match m.kind {
                SyntheticKind::Features { dim: 0 } => return err(f("dim"), "must be > 0"),
                SyntheticKind::Image { size: 0 } => return err(f("size"), "must be > 0"),
                SyntheticKind::Tokens { len, vocab } if len == 0 || vocab <= self.num_classes => {
                    return err(f("len/vocab"), "need len > 0 and vocab > num_classes");
                }
                _ => {}
            }
            if !(m.separation.is_finite() && m.separation >= 0.0) {
                return err(f("separation"), "must be finite and >= 0");
            }
            if !(m.noise.is_finite() && m.noise > 0.0) {
                return err(f("noise"), "must be finite and > 0");
            }
            if !(0.0..=1.0).contains(&m.keyword_rate) {
                return err(f("keyword_rate"), "must be in [0, 1]");
            }
            if m.informative_classes == 0 || m.informative_classes > self.num_classes {
                return err(f("informative_classes"), "must be in 1..=num_classes");
            }
        }
        Ok(())
    }

    /// Generates the three splits. The same config always gives the same data.
    pub fn generate(&self) -> Result<Splits> {
        self.validate()?;
        let prototypes: Vec<Prototypes> = self
            .modalities
            .iter()
            .enumerate()
            .map(|(m, spec)| {
                Prototypes::draw(
                    spec,
                    self.num_classes,
                    &mut Rng::derive(self.seed, 100 + m as u64),
                )
            })
            .collect();
        let split = |n: usize, stream: u64| {
            self.sample(&prototypes, n, &mut Rng::derive(self.seed, stream))
        };
        let splits = Splits {
            train: split(self.train, 1)?,
            valid: split(self.valid, 2)?,
            test: split(self.test, 3)?,
        };
        splits.validate()?;
        Ok(splits)
    }

    fn sample(&self, prototypes: &[Prototypes], n: usize, rng: &mut Rng) -> Result<Dataset> {
        let mut labels: Vec<usize> = (0..n).map(|i| i % self.num_classes).collect();
        rng.shuffle(&mut labels);
        let m_count = self.modalities.len();
        let mut present = vec![vec![true; n]; m_count];
        if self.missing_rate > 0.0 {
            for i in 0..n {
                for row in present.iter_mut() {
                    row[i] = rng.uniform() >= self.missing_rate;
                }
                if present.iter().all(|row| !row[i]) {
                    present[rng.below(m_count)][i] = true;
                }
            }
        }
        let modalities = self
            .modalities
            .iter()
            .zip(prototypes)
            .zip(present)
            .map(|((spec, proto), present)| {
                let values: Vec<f32> = labels
                    .iter()
                    .flat_map(|&y| proto.sample(spec, y, rng))
                    .collect();
                ModalityData {
                    name: spec.name.clone(),
                    kind: spec.input_kind(),
                    values: values.into(),
                    present,
                }
            })
            .collect();
        Dataset::new(modalities, labels, self.num_classes)
    }
}

impl SyntheticModality {
    /// The [`InputKind`] this modality produces.
    pub fn input_kind(&self) -> InputKind {
        match self.kind {
            SyntheticKind::Features { dim } => InputKind::Features { dim },
            SyntheticKind::Image { size } => InputKind::Image {
                channels: 1,
                height: size,
                width: size,
            },
            SyntheticKind::Tokens { len, vocab } => InputKind::Tokens { len, vocab },
        }
    }
}

/// Per-class prototypes of one modality.
enum Prototypes {
    /// One unit-norm direction per class, scaled so that two prototypes lie about
    /// `separation` apart.
    Vectors(Vec<Vec<f64>>),
    /// Keyword ids per class.
    Keywords(Vec<Vec<usize>>),
}

impl Prototypes {
    fn draw(spec: &SyntheticModality, num_classes: usize, rng: &mut Rng) -> Self {
        // Classes from `informative_classes` on share one extra prototype.
        let of_class = |c: usize| c.min(spec.informative_classes);
        let distinct = (spec.informative_classes + 1).min(num_classes);
        match spec.kind {
            SyntheticKind::Tokens { vocab, .. } => {
                // Ids 1..vocab split into disjoint keyword sets, one per informative class.
                let per_class = ((vocab - 1) / distinct).max(1);
                let sets: Vec<Vec<usize>> = (0..distinct)
                    .map(|c| {
                        (0..per_class)
                            .map(|k| 1 + (c * per_class + k) % (vocab - 1))
                            .collect()
                    })
                    .collect();
                Prototypes::Keywords(
                    (0..num_classes)
                        .map(|c| sets[of_class(c)].clone())
                        .collect(),
                )
            }
            _ => {
                let dim = spec.input_kind().item_len();
                let scale = spec.separation * spec.noise / std::f64::consts::SQRT_2;
                let dirs: Vec<Vec<f64>> = (0..distinct)
                    .map(|_| {
                        let v: Vec<f64> = (0..dim).map(|_| rng.normal()).collect();
                        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
                        v.into_iter().map(|x| x / norm * scale).collect()
                    })
                    .collect();
                Prototypes::Vectors(
                    (0..num_classes)
                        .map(|c| dirs[of_class(c)].clone())
                        .collect(),
                )
            }
        }
    }

    fn sample(&self, spec: &SyntheticModality, class: usize, rng: &mut Rng) -> Vec<f32> {
        match (self, &spec.kind) {
            (Prototypes::Vectors(protos), _) => protos[class]
                .iter()
                .map(|&mu| (mu + spec.noise * rng.normal()) as f32)
                .collect(),
            (Prototypes::Keywords(sets), &SyntheticKind::Tokens { len, vocab }) => (0..len)
                .map(|_| {
                    let id = if rng.uniform() < spec.keyword_rate {
                        sets[class][rng.below(sets[class].len())]
                    } else {
                        1 + rng.below(vocab - 1)
                    };
                    id as f32
                })
                .collect(),
            (Prototypes::Keywords(_), _) => {
                unreachable!("keywords are drawn for token modalities only")
            }
        }
    }
}

/// The synthetic generator as a data source: `source = "synthetic"`, `--data builtin`.
pub const ENTRY: SourceEntry = SourceEntry {
    name: "synthetic",
    spec: "builtin",
    from_json: from_json::<SyntheticConfig>,
    from_spec: |spec| {
        if let Some((key, _)) = spec.options.first() {
            return Err(spec.unknown(key, "none"));
        }
        Ok(Box::new(SyntheticConfig {
            seed: spec.seed,
            ..Default::default()
        }))
    },
};

impl DataSource for SyntheticConfig {
    fn seed_mut(&mut self) -> &mut u64 {
        &mut self.seed
    }

    fn input_kinds(&self) -> Option<Vec<InputKind>> {
        Some(self.modalities.iter().map(|m| m.input_kind()).collect())
    }

    fn validate(&self) -> Result<()> {
        SyntheticConfig::validate(self)
    }

    fn load(&self, _files: &dyn Files) -> Result<Loading> {
        Ok(Loading::Built {
            splits: self.generate()?,
            skipped: Vec::new(),
        })
    }

    crate::source_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_config_same_data_other_seed_other_data() {
        let cfg = SyntheticConfig {
            train: 50,
            valid: 10,
            test: 10,
            ..Default::default()
        };
        let a = cfg.generate().unwrap();
        let b = cfg.generate().unwrap();
        assert_eq!(a.train, b.train);
        let c = SyntheticConfig { seed: 1, ..cfg }.generate().unwrap();
        assert_ne!(a.train.modalities[0].values, c.train.modalities[0].values);
    }

    #[test]
    fn missing_rate_drops_modalities_but_keeps_one() {
        let cfg = SyntheticConfig {
            train: 400,
            valid: 10,
            test: 10,
            missing_rate: 0.5,
            ..Default::default()
        };
        let d = cfg.generate().unwrap().train;
        let missing = d.modalities[0].present.iter().filter(|p| !**p).count();
        assert!((100..250).contains(&missing), "{missing}");
        assert!((0..d.len()).all(|i| d.modalities.iter().any(|m| m.present[i])));
    }

    #[test]
    fn tokens_and_images_are_generated_in_range() {
        let cfg = SyntheticConfig {
            modalities: vec![
                SyntheticModality {
                    name: "img".into(),
                    kind: SyntheticKind::Image { size: 6 },
                    separation: 3.0,
                    noise: 1.0,
                    keyword_rate: 0.5,
                    informative_classes: 3,
                },
                SyntheticModality {
                    name: "txt".into(),
                    kind: SyntheticKind::Tokens { len: 5, vocab: 20 },
                    separation: 1.0,
                    noise: 1.0,
                    keyword_rate: 0.7,
                    informative_classes: 3,
                },
            ],
            num_classes: 3,
            train: 30,
            valid: 3,
            test: 3,
            missing_rate: 0.0,
            seed: 4,
        };
        let d = cfg.generate().unwrap().train;
        assert_eq!(d.modalities[0].values.len(), 30 * 36);
        assert!(
            d.modalities[1]
                .values
                .iter()
                .all(|&t| (1.0..20.0).contains(&t))
        );
    }

    #[test]
    fn invalid_fields_are_named() {
        let mut cfg = SyntheticConfig::default();
        cfg.modalities[1].noise = 0.0;
        let e = cfg.generate().unwrap_err().to_string();
        assert!(e.contains("data.modalities[1].noise"), "{e}");
    }
}
