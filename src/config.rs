//! Run configuration (serde), validated once: bad values become errors that name the
//! field, so the training code never re-checks them.

use serde::{Deserialize, Serialize};

use crate::data::{
    AvDigitsConfig, EmojiLabel, ManifestConfig, MfeatConfig, MissingConfig, SyntheticConfig,
};
use crate::error::{MlaError, Result};
use crate::model::ModelConfig;
// Each method's settings live beside the method (`train::ogm`, `train::qmf`, ...);
// the run configuration gathers them.
pub use crate::train::{
    HgmConfig, ImputeConfig, Method, MlaConfig, OgmConfig, OptimizerConfig, OptimizerKind,
    ProjectWith, QmfConfig, TEXT_LABEL_SMOOTHING, TrainConfig,
};

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
