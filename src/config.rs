//! Run configuration (serde), validated once: bad values become errors that name the
//! field, so the training code never re-checks them.

use serde::{Deserialize, Serialize};

use crate::data::{
    AvDigitsConfig, EmojiLabel, ManifestConfig, MfeatConfig, MissingConfig, SyntheticConfig,
};
use crate::error::{MlaError, Result};
use crate::fusion::Fusion;
use crate::model::{EncoderConfig, ModelConfig};

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

/// OGM-GE's on-the-fly gradient modulation (Peng et al., CVPR 2022).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OgmConfig {
    /// `α` of the coefficient `1 - tanh(α ρ)`.
    pub alpha: f64,
    /// First epoch (1-based) with modulation.
    pub start_epoch: usize,
    /// Last epoch (1-based, inclusive) with modulation.
    pub end_epoch: usize,
    /// Generalisation enhancement: add `N(0, std(g))` noise to every encoder gradient.
    pub noise: bool,
}

impl Default for OgmConfig {
    fn default() -> Self {
        // OGM-GE tunes α per data set; 0.5 is a middle value. Modulation from the first
        // epoch to the 50th.
        Self {
            alpha: 0.5,
            start_epoch: 1,
            end_epoch: 50,
            noise: true,
        }
    }
}

/// QMF's regulariser (Zhang et al., ICML 2023).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QmfConfig {
    /// Weight of the ranking loss on the energy confidences.
    pub rank_weight: f64,
}

impl Default for QmfConfig {
    fn default() -> Self {
        Self { rank_weight: 0.1 }
    }
}

/// The imputation networks of the missing-modality baselines (AE, CRA, MMIN). They
/// work on the concatenated features `[h_1 .. h_M]` (`M*s` values, an absent
/// modality's zero).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImputeConfig {
    /// Width of each autoencoder's code; 0 = the feature size `s`.
    pub hidden: usize,
    /// Residual autoencoders in the cascade (CRA, and each of MMIN's two).
    pub blocks: usize,
    /// Weight of the reconstruction loss (MMIN: the forward imagination loss).
    pub recon_weight: f64,
    /// MMIN: weight of the backward imagination (cycle) loss.
    pub cycle_weight: f64,
    /// In training, each present modality of a sample is also hidden from the network
    /// with this probability (one always stays), so that it learns to fill in what it
    /// can check against.
    pub hide: f64,
}

impl Default for ImputeConfig {
    fn default() -> Self {
        Self {
            hidden: 0,
            blocks: 2,
            recon_weight: 1.0,
            cycle_weight: 1.0,
            hide: 0.5,
        }
    }
}

/// Optimizer family.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// SGD with momentum and L2 weight decay (the paper's choice).
    #[default]
    Sgd,
    /// Adam with L2 weight decay.
    Adam,
    /// AdamW (decoupled weight decay).
    Adamw,
}

/// Optimizer and learning-rate schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerConfig {
    pub kind: OptimizerKind,
    /// Initial learning rate.
    pub lr: f64,
    /// SGD momentum (ignored by Adam/AdamW).
    pub momentum: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// Multiply the learning rate by `lr_decay` every this many epochs.
    pub lr_decay_every: usize,
    /// Step-decay factor.
    pub lr_decay: f64,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            kind: OptimizerKind::Sgd,
            lr: 1e-3,
            momentum: 0.9,
            weight_decay: 1e-4,
            lr_decay_every: 70,
            lr_decay: 0.1,
        }
    }
}

impl OptimizerConfig {
    /// Learning rate during `epoch` (0-based): step decay.
    pub fn lr_at(&self, epoch: usize) -> f64 {
        self.lr * self.lr_decay.powi((epoch / self.lr_decay_every) as i32)
    }
}

/// When the projection matrix is updated relative to projecting the gradient.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProjectWith {
    /// Algorithm 1: update `P` with this batch's mean feature, then project with it.
    #[default]
    Updated,
    /// Project with `P_{t-1}`, then update `P` with this batch's mean feature.
    Previous,
}

/// How MLA's head is kept: the ablation of issue 16. The defaults are the paper's
/// method (one shared head, one optimizer, one learning rate).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MlaConfig {
    /// A head per modality instead of the shared one, each trained in its modality's
    /// step: alternating Late fusion (HGM has nothing to protect there and is off).
    pub head_per_modality: bool,
    /// The shared head's learning rate divided by the number of modalities `M` (it
    /// takes `M` steps per batch where each encoder takes one).
    pub head_lr_divided: bool,
    /// The shared head's optimizer state (momentum, Adam's moments) kept per modality,
    /// so one modality's step carries nothing of another's.
    pub head_state_per_modality: bool,
    /// The shared head's weight with a bias per modality instead of one shared bias.
    pub bias_per_modality: bool,
    /// Before fusion, each modality's logits divided by a temperature fitted on the
    /// validation split ([`crate::calibration`]), refitted every epoch and kept with
    /// the model.
    pub calibrate: bool,
}

/// Head gradient modification (Eq. 3-5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HgmConfig {
    /// Project the head's gradient at all.
    pub enabled: bool,
    /// `α > 0` of Eq. 5: smaller locks seen directions harder.
    pub alpha: f64,
    /// Order of projection and update.
    pub project_with: ProjectWith,
    /// Also project the head's bias (as the weight of a constant input 1).
    pub project_bias: bool,
}

impl Default for HgmConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            alpha: 0.1,
            project_with: ProjectWith::Updated,
            project_bias: false,
        }
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
        let bad =
            |field: &str, reason: &str| Err(MlaError::config(format!("train.{field}"), reason));
        let o = &self.optimizer;
        if self.epochs == 0 {
            return bad("epochs", "must be at least 1");
        }
        if self.batch_size == 0 {
            return bad("batch_size", "must be at least 1");
        }
        if let Some(s) = self.label_smoothing
            && !(0.0..1.0).contains(&s)
        {
            return bad("label_smoothing", "must be in [0, 1)");
        }
        if !(o.lr.is_finite() && o.lr > 0.0) {
            return bad("optimizer.lr", "must be a finite number > 0");
        }
        if !(0.0..1.0).contains(&o.momentum) {
            return bad("optimizer.momentum", "must be in [0, 1)");
        }
        if !(o.weight_decay.is_finite() && o.weight_decay >= 0.0) {
            return bad("optimizer.weight_decay", "must be a finite number >= 0");
        }
        if o.lr_decay_every == 0 {
            return bad("optimizer.lr_decay_every", "must be at least 1");
        }
        if !(o.lr_decay > 0.0 && o.lr_decay <= 1.0) {
            return bad("optimizer.lr_decay", "must be in (0, 1]");
        }
        if self.method != Method::Mla && self.mla != MlaConfig::default() {
            return bad("mla", "the head options are MLA's (method = \"mla\")");
        }
        if self.mla.head_per_modality
            && (self.mla.head_lr_divided
                || self.mla.head_state_per_modality
                || self.mla.bias_per_modality)
        {
            return bad(
                "mla.head_per_modality",
                "with a head per modality there is no shared head for head_lr_divided, \
                 head_state_per_modality or bias_per_modality to act on",
            );
        }
        if !(self.hgm.alpha.is_finite() && self.hgm.alpha > 0.0) {
            return bad("hgm.alpha", "must be a finite number > 0");
        }
        if !(self.ogm.alpha.is_finite() && self.ogm.alpha >= 0.0) {
            return bad("ogm.alpha", "must be a finite number >= 0");
        }
        if self.ogm.start_epoch == 0 || self.ogm.end_epoch < self.ogm.start_epoch {
            return bad(
                "ogm.start_epoch/end_epoch",
                "need 1 <= start_epoch <= end_epoch",
            );
        }
        if !(self.qmf.rank_weight.is_finite() && self.qmf.rank_weight >= 0.0) {
            return bad("qmf.rank_weight", "must be a finite number >= 0");
        }
        let i = &self.impute;
        if i.blocks == 0 {
            return bad("impute.blocks", "must be at least 1");
        }
        for (field, w) in [
            ("recon_weight", i.recon_weight),
            ("cycle_weight", i.cycle_weight),
        ] {
            if !(w.is_finite() && w >= 0.0) {
                return bad(&format!("impute.{field}"), "must be a finite number >= 0");
            }
        }
        if !(0.0..1.0).contains(&i.hide) {
            return bad("impute.hide", "must be in [0, 1)");
        }
        Ok(())
    }
}

/// Where a run's data comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum DataConfig {
    /// The built-in synthetic generator.
    Synthetic(SyntheticConfig),
    /// An image + text manifest (CSV or JSONL) and the files it names.
    Manifest(ManifestSource),
    /// The UCI multiple-features CSVs (`mfeat-<view>.csv`) in a folder.
    Mfeat(MfeatSource),
    /// Free Spoken Digit recordings paired with MNIST images.
    AvDigits(AvDigitsSource),
    /// CREMA-D in the layout of the paper's released code.
    CremaD(CremaDSource),
    /// The emoji of the npm package `emoji-datasource-google`: picture, name, category.
    Emoji(EmojiSource),
}

impl DataConfig {
    /// The seed of the data's generation or split.
    pub fn seed_mut(&mut self) -> &mut u64 {
        match self {
            DataConfig::Synthetic(s) => &mut s.seed,
            DataConfig::Manifest(m) => &mut m.options.seed,
            DataConfig::Mfeat(m) => &mut m.options.seed,
            DataConfig::AvDigits(a) => &mut a.options.seed,
            DataConfig::CremaD(c) => &mut c.options.seed,
            DataConfig::Emoji(e) => &mut e.options.seed,
        }
    }

    /// The manifest options of the sources built from a manifest.
    pub fn manifest_options(&mut self) -> Option<&mut ManifestConfig> {
        match self {
            DataConfig::Manifest(m) => Some(&mut m.options),
            DataConfig::Emoji(e) => Some(&mut e.options),
            _ => None,
        }
    }
}

/// The folder of the npm package `emoji-datasource-google` (its `package/` folder,
/// holding `emoji.json` and `img/google/64/`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmojiSource {
    pub dir: String,
    /// The label: the emoji's category (default) or subcategory.
    #[serde(default)]
    pub label: EmojiLabel,
    /// Image size, tokens, vocabulary, split, as for a manifest.
    #[serde(default)]
    pub options: ManifestConfig,
}

/// A folder of `mfeat-<view>.csv` files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfeatSource {
    pub dir: String,
    #[serde(default)]
    pub options: MfeatConfig,
}

/// FSDD's `recordings/` folder and a folder with MNIST's IDX files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AvDigitsSource {
    /// Folder of `{digit}_{speaker}_{take}.wav` files.
    pub fsdd: String,
    /// Folder with `*-images-idx3-ubyte[.gz]` and `*-labels-idx1-ubyte[.gz]`.
    pub mnist: String,
    #[serde(default)]
    pub options: AvDigitsConfig,
}

/// The root folder of CREMA-D prepared as the paper's released code expects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CremaDSource {
    pub dir: String,
    #[serde(default)]
    pub options: crate::data::CremaDConfig,
}

/// A manifest on disk and how to build the data set from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestSource {
    /// Path of the manifest; image paths in it are relative to its folder.
    pub path: String,
    /// Image size, tokens, vocabulary, split.
    #[serde(default)]
    pub options: ManifestConfig,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig::Synthetic(SyntheticConfig::default())
    }
}

/// A whole run: data, architecture and training. Saved, resolved, with every run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    pub data: DataConfig,
    pub model: ModelConfig,
    pub train: TrainConfig,
    /// Modalities masked at a rate, per split (none by default).
    pub missing: MissingConfig,
}

impl RunConfig {
    /// Checks every part that can be checked before the data is loaded.
    pub fn validate(&self) -> Result<()> {
        self.train.validate()?;
        match &self.data {
            DataConfig::Synthetic(data) => {
                data.validate()?;
                let kinds: Vec<_> = data.modalities.iter().map(|m| m.input_kind()).collect();
                self.model.resolve(&kinds)?;
                self.train.order(kinds.len())?;
                self.missing.validate(kinds.len())?;
            }
            DataConfig::Manifest(m) => m.options.validate()?,
            DataConfig::Emoji(e) => e.options.validate()?,
            DataConfig::Mfeat(m) => m.options.validate()?,
            DataConfig::AvDigits(a) => a.options.validate()?,
            DataConfig::CremaD(c) => c.options.validate()?,
        }
        if self.model.pretrained
            && !matches!(self.data, DataConfig::Manifest(_) | DataConfig::Emoji(_))
        {
            return Err(MlaError::config(
                "model.pretrained",
                "pretrained encoders read the image and text columns of manifest and emoji \
                 data; name them per modality in `model.encoders` for other data",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_follow_the_paper() {
        let c = RunConfig::default();
        c.validate().unwrap();
        assert_eq!(c.train.optimizer.lr, 1e-3);
        assert_eq!(c.train.optimizer.momentum, 0.9);
        assert_eq!(c.train.optimizer.weight_decay, 1e-4);
        assert!(c.train.hgm.enabled);
    }

    #[test]
    fn bad_values_name_their_field() {
        let mut c = RunConfig::default();
        c.train.hgm.alpha = 0.0;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("train.hgm.alpha")
        );
        let mut c = RunConfig::default();
        c.train.epochs = 0;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("train.epochs")
        );
        let mut c = RunConfig::default();
        c.train.modality_order = vec![0, 0];
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("modality_order")
        );
    }

    #[test]
    fn step_decay_schedule() {
        let o = OptimizerConfig {
            lr: 1.0,
            lr_decay_every: 10,
            lr_decay: 0.1,
            ..Default::default()
        };
        assert_eq!(o.lr_at(0), 1.0);
        assert_eq!(o.lr_at(9), 1.0);
        assert!((o.lr_at(10) - 0.1).abs() < 1e-12);
        assert!((o.lr_at(25) - 0.01).abs() < 1e-12);
    }

    #[test]
    fn json_round_trip_and_unknown_fields_rejected() {
        let c = RunConfig::default();
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<RunConfig>(&text).unwrap(), c);
        let e = serde_json::from_str::<RunConfig>(r#"{"train":{"epochz":3}}"#).unwrap_err();
        assert!(e.to_string().contains("epochz"));
    }
}
