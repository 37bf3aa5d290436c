//! Run configuration (serde), validated once: bad values become errors that name the
//! field, so the training code never re-checks them.

use serde::{Deserialize, Serialize};

use crate::data::sources;
pub use crate::data::sources::{
    DataSource, av_digits::AvDigitsSource, crema_d::CremaDSource, emoji::EmojiSource,
    manifest_file::ManifestSource, mfeat::MfeatSource,
};
use crate::data::{ManifestConfig, MissingConfig, SyntheticConfig};
use crate::error::{MlaError, Result};
use crate::model::ModelConfig;
// Each method's settings live beside the method (`train::ogm`, `train::qmf`, ...);
// the run configuration gathers them.
pub use crate::train::{
    HgmConfig, ImputeConfig, Method, MlaConfig, OgmConfig, OptimizerConfig, OptimizerKind,
    ProjectWith, QmfConfig, TEXT_LABEL_SMOOTHING, TrainConfig,
};

/// Where a run's data comes from: one registered [`DataSource`]'s settings, written
/// in a configuration as `[data] source = "<name>"` and the fields of its settings.
pub struct DataConfig(Box<dyn DataSource>);

impl DataConfig {
    /// The configuration of `source`.
    pub fn new(source: impl DataSource) -> Self {
        Self(Box::new(source))
    }

    /// The source's settings.
    pub fn source(&self) -> &dyn DataSource {
        self.0.as_ref()
    }

    /// The source's settings, to change them.
    pub fn source_mut(&mut self) -> &mut dyn DataSource {
        self.0.as_mut()
    }

    /// The settings as the concrete type `T`, when they are one.
    pub fn get<T: DataSource>(&self) -> Option<&T> {
        self.0.as_any().downcast_ref()
    }

    /// [`DataConfig::get`], to change them.
    pub fn get_mut<T: DataSource>(&mut self) -> Option<&mut T> {
        self.0.as_any_mut().downcast_mut()
    }

    /// The seed of the data's generation or split.
    pub fn seed_mut(&mut self) -> &mut u64 {
        self.0.seed_mut()
    }

    /// The manifest options of the sources built from a manifest.
    pub fn manifest_options(&mut self) -> Option<&mut ManifestConfig> {
        self.0.manifest_options_mut()
    }
}

impl From<Box<dyn DataSource>> for DataConfig {
    fn from(source: Box<dyn DataSource>) -> Self {
        Self(source)
    }
}

impl Default for DataConfig {
    fn default() -> Self {
        Self::new(SyntheticConfig::default())
    }
}

impl Clone for DataConfig {
    fn clone(&self) -> Self {
        Self(self.0.clone_box())
    }
}

impl std::fmt::Debug for DataConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl PartialEq for DataConfig {
    fn eq(&self, other: &Self) -> bool {
        self.0.name() == other.0.name()
            && matches!((self.0.to_json(), other.0.to_json()), (Ok(a), Ok(b)) if a == b)
    }
}

impl Serialize for DataConfig {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeMap};
        let fields = self.0.to_json().map_err(S::Error::custom)?;
        let serde_json::Value::Object(fields) = fields else {
            return Err(S::Error::custom("a data source's settings must be a table"));
        };
        let mut map = serializer.serialize_map(Some(fields.len() + 1))?;
        map.serialize_entry("source", self.0.name())?;
        for (key, value) in &fields {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for DataConfig {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        use serde::de::Error;
        let mut value = serde_json::Value::deserialize(deserializer)?;
        let serde_json::Value::Object(fields) = &mut value else {
            return Err(D::Error::custom("`data` must be a table"));
        };
        let name = match fields.remove("source") {
            Some(serde_json::Value::String(name)) => name,
            Some(_) => return Err(D::Error::custom("`data.source` must be a string")),
            None => return Err(D::Error::missing_field("source")),
        };
        let entry = sources::by_name(&name).ok_or_else(|| {
            D::Error::custom(format!(
                "unknown data source `{name}` (expected one of: {})",
                sources::names().join(", ")
            ))
        })?;
        (entry.from_json)(value).map(Self).map_err(D::Error::custom)
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
    /// The run on the manifest at `path` (built with `options`): what the page writes
    /// beside a data set it exports, for `mla-native train --config`.
    pub fn for_manifest(
        path: String,
        options: ManifestConfig,
        model: ModelConfig,
        train: TrainConfig,
        missing: MissingConfig,
    ) -> Self {
        Self {
            data: DataConfig::new(ManifestSource { path, options }),
            model,
            train,
            missing,
        }
    }

    /// Checks every part that can be checked before the data is loaded.
    pub fn validate(&self) -> Result<()> {
        self.train.validate()?;
        let data = self.data.source();
        data.validate()?;
        if let Some(kinds) = data.input_kinds() {
            self.model.resolve(&kinds)?;
            self.train.order(kinds.len())?;
            self.missing.validate(kinds.len())?;
        }
        if self.model.pretrained && data.manifest_options().is_none() {
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
