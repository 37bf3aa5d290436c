//! Choosing an encoder by configuration.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{
    CnnEncoder, CnnEncoderConfig, MlpEncoder, MlpEncoderConfig, Resnet18, Resnet18Config,
    TextEncoder, TextEncoderConfig,
};
use crate::data::{EncoderInput, InputKind};
use crate::error::{MlaError, Result};

/// Which encoder a modality uses, with its settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EncoderConfig {
    /// [`MlpEncoder`] over a feature vector.
    Mlp(MlpEncoderConfig),
    /// [`CnnEncoder`] over an image.
    Cnn(CnnEncoderConfig),
    /// [`TextEncoder`] over token ids.
    Text(TextEncoderConfig),
    /// [`Resnet18`] over an image, a spectrogram, or video frames stacked on channels.
    Resnet18(Resnet18Config),
}

impl EncoderConfig {
    /// The encoder that fits an input kind by default.
    pub fn default_for(kind: &InputKind) -> Self {
        match kind {
            InputKind::Features { .. } => EncoderConfig::Mlp(MlpEncoderConfig::default()),
            InputKind::Image { .. } => EncoderConfig::Cnn(CnnEncoderConfig::default()),
            InputKind::Tokens { .. } => EncoderConfig::Text(TextEncoderConfig::default()),
        }
    }

    /// Short name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            EncoderConfig::Mlp(_) => "mlp",
            EncoderConfig::Cnn(_) => "cnn",
            EncoderConfig::Text(_) => "text",
            EncoderConfig::Resnet18(_) => "resnet18",
        }
    }

    /// Checks the settings and that the encoder can read `kind`; `field` names the
    /// configuration entry in errors.
    pub fn check(&self, kind: &InputKind, field: &str) -> Result<()> {
        let mismatch = || {
            Err(MlaError::config(
                field,
                format!("a `{}` encoder cannot read {kind:?}", self.name()),
            ))
        };
        match (self, kind) {
            (EncoderConfig::Mlp(c), InputKind::Features { .. }) => {
                if c.layers == 0 || c.hidden == 0 {
                    return Err(MlaError::config(
                        field,
                        "mlp needs layers >= 1 and hidden >= 1",
                    ));
                }
            }
            (EncoderConfig::Cnn(c), InputKind::Image { .. }) => {
                if c.channels.is_empty() || c.channels.contains(&0) || c.grid == 0 {
                    return Err(MlaError::config(
                        field,
                        "cnn needs at least one non-zero channel count and grid >= 1",
                    ));
                }
            }
            (EncoderConfig::Resnet18(c), InputKind::Image { channels, .. }) => {
                if c.width == 0 || c.frames == 0 || channels % c.frames != 0 {
                    return Err(MlaError::config(
                        field,
                        format!(
                            "resnet18 needs width >= 1 and frames >= 1 dividing the input's \
                             {channels} channels (frames stacked on the channel axis); got \
                             width {} and frames {}",
                            c.width, c.frames
                        ),
                    ));
                }
            }
            (EncoderConfig::Text(c), InputKind::Tokens { .. }) => {
                if c.embed_dim == 0 {
                    return Err(MlaError::config(field, "text needs embed_dim >= 1"));
                }
            }
            _ => return mismatch(),
        }
        Ok(())
    }

    /// Builds the encoder for `kind` with `d_out` output features.
    pub fn init(&self, kind: &InputKind, d_out: usize, device: &Device) -> Result<Encoder> {
        self.check(kind, "encoder")?;
        Ok(match (self, kind) {
            (EncoderConfig::Mlp(c), InputKind::Features { dim }) => {
                Encoder::Mlp(c.init(*dim, d_out, device))
            }
            (EncoderConfig::Cnn(c), InputKind::Image { channels, .. }) => {
                Encoder::Cnn(c.init(*channels, d_out, device))
            }
            (EncoderConfig::Text(c), InputKind::Tokens { vocab, .. }) => {
                Encoder::Text(c.init(*vocab, d_out, device))
            }
            (EncoderConfig::Resnet18(c), InputKind::Image { channels, .. }) => {
                Encoder::Resnet18(c.init(*channels, d_out, device))
            }
            _ => unreachable!("checked above"),
        })
    }
}

/// One modality's encoder `h_m`.
// A model holds one per modality and moves them rarely: the ResNet variant's size
// costs nothing worth a box (which Burn's module derive would have to see through).
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Encoder {
    Mlp(MlpEncoder),
    Cnn(CnnEncoder),
    Text(TextEncoder),
    Resnet18(Resnet18),
}

impl Encoder {
    /// Encodes a batch: `input` of `B` samples `-> [B, s]`.
    pub fn forward(&self, input: &EncoderInput) -> Result<Tensor<2>> {
        match (self, input) {
            (Encoder::Mlp(e), EncoderInput::Features(x)) => Ok(e.forward(x.clone())),
            (Encoder::Cnn(e), EncoderInput::Image(x)) => Ok(e.forward(x.clone())),
            (Encoder::Text(e), EncoderInput::Tokens(x)) => Ok(e.forward(x.clone())),
            (Encoder::Resnet18(e), EncoderInput::Image(x)) => Ok(e.forward(x.clone())),
            _ => Err(MlaError::Data(
                "an input does not match its modality's encoder (model and data disagree)".into(),
            )),
        }
    }
}
