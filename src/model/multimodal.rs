//! The multimodal model: per-modality encoders and one linear head.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{Encoder, EncoderConfig, seeded};
use crate::data::{Batch, Dataset, EncoderInput, InputKind};
use crate::error::{MlaError, Result};

/// How the head reads the encoders' features.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeadLayout {
    /// MLA: one `s -> C` head applied to each modality's feature on its own.
    #[default]
    Shared,
    /// The joint (Concat) baseline: one `M*s -> C` head over the concatenated features.
    Concat,
}

/// Architecture settings: the feature size and each modality's encoder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Size `s` of every encoder's output feature.
    #[serde(default = "default_feature_dim")]
    pub feature_dim: usize,
    /// One encoder per modality; empty means "the default encoder for each input kind".
    #[serde(default)]
    pub encoders: Vec<EncoderConfig>,
}

fn default_feature_dim() -> usize {
    128
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            feature_dim: default_feature_dim(),
            encoders: Vec::new(),
        }
    }
}

impl ModelConfig {
    /// The default for manifests of raw data: smaller features than the synthetic
    /// data's, so a page or a laptop trains it in seconds per epoch.
    pub fn for_manifest() -> Self {
        Self {
            feature_dim: 64,
            encoders: Vec::new(),
        }
    }

    /// The encoder configuration of each modality, filling in defaults.
    pub fn resolve(&self, kinds: &[InputKind]) -> Result<Vec<EncoderConfig>> {
        if self.feature_dim == 0 {
            return Err(MlaError::config("model.feature_dim", "must be > 0"));
        }
        let encoders = if self.encoders.is_empty() {
            kinds.iter().map(EncoderConfig::default_for).collect()
        } else {
            self.encoders.clone()
        };
        if encoders.len() != kinds.len() {
            return Err(MlaError::config(
                "model.encoders",
                format!("{} encoders for {} modalities", encoders.len(), kinds.len()),
            ));
        }
        for (i, (e, k)) in encoders.iter().zip(kinds).enumerate() {
            e.check(k, &format!("model.encoders[{i}]"))?;
        }
        Ok(encoders)
    }
}

/// Everything needed to rebuild a model's architecture (saved next to its weights).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Modality names, in order.
    pub modalities: Vec<String>,
    /// Input kind of each modality.
    pub inputs: Vec<InputKind>,
    /// Encoder of each modality (resolved, never empty).
    pub encoders: Vec<EncoderConfig>,
    /// Feature size `s`.
    pub feature_dim: usize,
    /// Number of classes `C`.
    pub num_classes: usize,
    /// How the head reads the features.
    pub head: HeadLayout,
}

impl ModelSpec {
    /// The architecture `config` gives for the modalities and classes of `data`.
    pub fn for_data(data: &Dataset, config: &ModelConfig, head: HeadLayout) -> Result<Self> {
        let inputs = data.kinds();
        Ok(ModelSpec {
            modalities: data.names(),
            encoders: config.resolve(&inputs)?,
            inputs,
            feature_dim: config.feature_dim,
            num_classes: data.num_classes,
            head,
        })
    }

    /// Builds the model with weights drawn from `seed`.
    ///
    /// Weights are drawn on the CPU and then moved to `device`, so the same seed gives
    /// the same initial model on every backend.
    pub fn init(&self, seed: u64, device: &Device) -> Result<MultimodalModel> {
        let cpu = Device::flex();
        let (model, record) = seeded(&cpu, seed, || {
            let model = self.build(&cpu)?;
            // Taking the record draws every (lazily initialised) parameter now, while
            // the seeded RNG is ours.
            let record = model.clone().into_record();
            Ok::<_, MlaError>((model, record))
        })?;
        Ok(model.load_record(record).to_device(device))
    }

    /// Builds the architecture on `device` with parameters that are still to be
    /// initialised or loaded (see [`crate::io::load_model`]).
    pub fn build(&self, device: &Device) -> Result<MultimodalModel> {
        if self.encoders.len() != self.inputs.len() || self.modalities.len() != self.inputs.len() {
            return Err(MlaError::Model(
                "modalities, inputs and encoders differ in number".into(),
            ));
        }
        let head_in = match self.head {
            HeadLayout::Shared => self.feature_dim,
            HeadLayout::Concat => self.feature_dim * self.inputs.len(),
        };
        let encoders = self
            .encoders
            .iter()
            .zip(&self.inputs)
            .map(|(e, k)| e.init(k, self.feature_dim, device))
            .collect::<Result<Vec<_>>>()?;
        Ok(MultimodalModel {
            encoders,
            head: LinearConfig::new(head_in, self.num_classes).init(device),
            layout: self.head,
        })
    }
}

/// Encoders `h_1 .. h_M` and the head `g`.
#[derive(Module, Debug)]
pub struct MultimodalModel {
    pub encoders: Vec<Encoder>,
    pub head: Linear,
    #[module(skip)]
    pub layout: HeadLayout,
}

impl MultimodalModel {
    /// Number of modalities `M`.
    pub fn num_modalities(&self) -> usize {
        self.encoders.len()
    }

    /// `h_m(x)`: `[B, s]`.
    pub fn features(&self, modality: usize, input: &EncoderInput) -> Result<Tensor<2>> {
        self.encoders[modality].forward(input)
    }

    /// Unimodal logits `f_m = g(h_m(x))`: `[B, s] -> [B, C]`. For the Concat layout this
    /// uses the head's rows that read modality `m` (and the bias), as the paper
    /// evaluates a joint model on one modality.
    pub fn unimodal_logits(&self, modality: usize, features: Tensor<2>) -> Tensor<2> {
        match self.layout {
            HeadLayout::Shared => self.head.forward(features),
            HeadLayout::Concat => {
                let s = features.dims()[1];
                let w = self.head.weight.val().narrow(0, modality * s, s);
                let logits = features.matmul(w);
                match &self.head.bias {
                    Some(b) => logits + b.val().unsqueeze_dim(0),
                    None => logits,
                }
            }
        }
    }

    /// Joint logits of the Concat layout: `M x [B, s]` features and `[M, B]` presence
    /// `-> [B, C]`; a missing modality contributes a zero feature.
    pub fn concat_logits(&self, features: Vec<Tensor<2>>, present: &Tensor<2>) -> Tensor<2> {
        let masked: Vec<Tensor<2>> = features
            .into_iter()
            .enumerate()
            .map(|(m, h)| {
                let [b, _] = h.dims();
                let mask = present.clone().narrow(0, m, 1).reshape([b, 1]);
                h * mask
            })
            .collect();
        self.head.forward(Tensor::cat(masked, 1))
    }

    /// Logits of every modality for a batch: `[M, B, C]`.
    pub fn all_unimodal_logits(&self, batch: &Batch) -> Result<Tensor<3>> {
        let logits = (0..self.num_modalities())
            .map(|m| Ok(self.unimodal_logits(m, self.features(m, &batch.inputs[m])?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Tensor::stack(logits, 0))
    }
}
