//! Choosing an encoder by configuration.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::pretrained::{
    MinilmConfig, MobilenetV2Config, Net, PretrainedEncoder, PretrainedSettings,
};
use super::{
    CnnEncoder, CnnEncoderConfig, MlpEncoder, MlpEncoderConfig, Resnet18, Resnet18Config,
    TextEncoder, TextEncoderConfig,
};
use crate::data::{ColumnKind, EncoderInput, InputKind};
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
    /// MobileNetV2 with ImageNet weights over an image, then a trained projection.
    MobilenetV2(MobilenetV2Config),
    /// all-MiniLM-L6-v2 over text, then a trained projection.
    Minilm(MinilmConfig),
}

impl EncoderConfig {
    /// An upper estimate of its parameter count on `input` with `feature_dim` features
    /// (the large matrices; saturating), checked before a model is built.
    pub fn approx_params(&self, input: &InputKind, feature_dim: usize) -> usize {
        let m = usize::saturating_mul;
        let (channels, values, vocab) = match *input {
            InputKind::Features { dim } => (1, dim, 0),
            InputKind::Image {
                channels,
                height,
                width,
            } => (channels, m(m(channels, height), width), 0),
            InputKind::Tokens { vocab, .. } => (1, 0, vocab),
        };
        match self {
            EncoderConfig::Mlp(c) => m(values, c.hidden)
                .saturating_add(m(m(c.hidden, c.hidden), c.layers))
                .saturating_add(m(c.hidden, feature_dim)),
            EncoderConfig::Cnn(c) => {
                let mut prev = channels;
                let mut n = 0usize;
                for &w in &c.channels {
                    n = n.saturating_add(m(m(prev, w), 9));
                    prev = w;
                }
                n.saturating_add(m(m(prev, m(c.grid, c.grid)), feature_dim))
            }
            EncoderConfig::Text(c) => {
                m(vocab, c.embed_dim).saturating_add(m(c.embed_dim, feature_dim))
            }
            // ResNet-18 has about 2,800 width² weights (11.2 M at width 64).
            EncoderConfig::Resnet18(c) => m(m(c.width, c.width), 3000)
                .saturating_add(m(m(c.width, 8), feature_dim))
                .saturating_add(m(m(channels, c.width), 49)),
            EncoderConfig::MobilenetV2(_) => 3_600_000usize.saturating_add(m(1280, feature_dim)),
            EncoderConfig::Minilm(_) => 23_000_000usize.saturating_add(m(384, feature_dim)),
        }
    }

    /// Its sizes with their upper bounds (`(field, value, limit)`), checked before a
    /// model of a file's architecture is built ([`super::ModelSpec::validate`]).
    pub fn sizes(&self) -> Vec<(&'static str, usize, usize)> {
        use crate::limits::{MAX_INPUT_SIDE, MAX_TOKENS, MAX_WIDTH};
        match self {
            EncoderConfig::Mlp(c) => vec![
                ("mlp.hidden", c.hidden, MAX_WIDTH),
                ("mlp.layers", c.layers, 64),
            ],
            EncoderConfig::Cnn(c) => {
                let mut sizes = vec![
                    ("cnn.channels (count)", c.channels.len(), 64),
                    ("cnn.grid", c.grid, 64),
                ];
                sizes.extend(c.channels.iter().map(|&w| ("cnn.channels", w, MAX_WIDTH)));
                sizes
            }
            EncoderConfig::Text(c) => vec![("text.embed_dim", c.embed_dim, MAX_WIDTH)],
            EncoderConfig::Resnet18(c) => vec![
                ("resnet18.width", c.width, 4096),
                ("resnet18.frames", c.frames, 256),
            ],
            EncoderConfig::MobilenetV2(c) => {
                vec![("mobilenet_v2.image_size", c.image_size, MAX_INPUT_SIDE)]
            }
            EncoderConfig::Minilm(c) => vec![("minilm.max_tokens", c.max_tokens, MAX_TOKENS)],
        }
    }

    /// The encoder that fits an input kind by default.
    pub fn default_for(kind: &InputKind) -> Self {
        match kind {
            InputKind::Features { .. } => EncoderConfig::Mlp(MlpEncoderConfig::default()),
            InputKind::Image { .. } => EncoderConfig::Cnn(CnnEncoderConfig::default()),
            InputKind::Tokens { .. } => EncoderConfig::Text(TextEncoderConfig::default()),
        }
    }

    /// The encoder of a manifest column of `kind` by default; with `pretrained`,
    /// images and texts get the pretrained networks.
    pub fn for_column(kind: ColumnKind, pretrained: bool) -> Self {
        match (kind, pretrained) {
            (ColumnKind::Image, true) => EncoderConfig::MobilenetV2(MobilenetV2Config::default()),
            (ColumnKind::Text, true) => EncoderConfig::Minilm(MinilmConfig::default()),
            (ColumnKind::Image | ColumnKind::Audio, _) => {
                EncoderConfig::Cnn(CnnEncoderConfig::default())
            }
            (ColumnKind::Text, false) => EncoderConfig::Text(TextEncoderConfig::default()),
            (ColumnKind::Vector, _) => EncoderConfig::Mlp(MlpEncoderConfig::default()),
        }
    }

    /// The pretrained network's settings, for the pretrained encoders.
    pub fn pretrained(&self) -> Option<PretrainedSettings> {
        match self {
            EncoderConfig::MobilenetV2(c) => Some(PretrainedSettings {
                net: Net::MobilenetV2,
                train: c.train,
                size: c.image_size,
                sha256: c.sha256.clone(),
            }),
            EncoderConfig::Minilm(c) => Some(PretrainedSettings {
                net: Net::MinilmL6,
                train: c.train,
                size: c.max_tokens,
                sha256: c.sha256.clone(),
            }),
            _ => None,
        }
    }

    /// Records the SHA-256 of the encoder file a pretrained encoder uses (an error when
    /// it already names another one).
    pub fn pin_sha256(&mut self, sha256: &str) -> Result<()> {
        let name = self.name();
        let slot = match self {
            EncoderConfig::MobilenetV2(c) => &mut c.sha256,
            EncoderConfig::Minilm(c) => &mut c.sha256,
            _ => return Ok(()),
        };
        match slot {
            Some(want) if want != sha256 => Err(MlaError::Model(format!(
                "the configuration names the `{}` encoder file of SHA-256 {want}, but the one \
                 found has SHA-256 {sha256}",
                name
            ))),
            _ => {
                *slot = Some(sha256.to_string());
                Ok(())
            }
        }
    }

    /// The input kind a model of this encoder takes for data of `kind`: a pretrained
    /// encoder trained on cached features still takes the network's input.
    pub fn model_input(&self, kind: &InputKind) -> InputKind {
        match self.pretrained() {
            Some(p) => p.input_kind(),
            None => kind.clone(),
        }
    }

    /// Short name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            EncoderConfig::Mlp(_) => "mlp",
            EncoderConfig::Cnn(_) => "cnn",
            EncoderConfig::Text(_) => "text",
            EncoderConfig::Resnet18(_) => "resnet18",
            EncoderConfig::MobilenetV2(_) => "mobilenet_v2",
            EncoderConfig::Minilm(_) => "minilm",
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
        if let Some(p) = self.pretrained() {
            p.check(field)?;
            // The network's input, or its features cached for a frozen encoder.
            if *kind != p.input_kind() && *kind != p.feature_kind() {
                return Err(MlaError::config(
                    field,
                    format!(
                        "a `{}` encoder reads {:?} (or its cached features, {:?}), not {kind:?}",
                        self.name(),
                        p.input_kind(),
                        p.feature_kind()
                    ),
                ));
            }
            return Ok(());
        }
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
            (EncoderConfig::MobilenetV2(_) | EncoderConfig::Minilm(_), _) => {
                let p = self.pretrained().expect("a pretrained encoder");
                Encoder::Pretrained(PretrainedEncoder::new(&p, d_out, device))
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
    Pretrained(PretrainedEncoder),
}

impl Encoder {
    /// Encodes a batch: `input` of `B` samples `-> [B, s]`.
    pub fn forward(&self, input: &EncoderInput) -> Result<Tensor<2>> {
        match (self, input) {
            (Encoder::Mlp(e), EncoderInput::Features(x)) => Ok(e.forward(x.clone())),
            (Encoder::Cnn(e), EncoderInput::Image(x)) => Ok(e.forward(x.clone())),
            (Encoder::Text(e), EncoderInput::Tokens(x)) => Ok(e.forward(x.clone())),
            (Encoder::Resnet18(e), EncoderInput::Image(x)) => Ok(e.forward(x.clone())),
            (Encoder::Pretrained(e), input) => e.forward(input),
            _ => Err(MlaError::Data(
                "an input does not match its modality's encoder (model and data disagree)".into(),
            )),
        }
    }
}
