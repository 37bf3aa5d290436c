//! A pretrained network followed by a trained projection: the encoder of a modality
//! that uses one.

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData, activation::relu};

use super::{Bert, BertConfig, MobileNetV2, Net, PretrainedSettings, TrainMode};
use crate::data::EncoderInput;
use crate::error::{MlaError, Result};

/// A pretrained network (absent while frozen and not needed: training on cached
/// features, or a model file before
/// [`crate::model::MultimodalModel::with_frozen_networks`]).
// One per pretrained modality, moved rarely: a box would buy nothing (see `Encoder`).
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Backbone {
    MobilenetV2(MobileNetV2),
    Bert(Bert),
}

impl Backbone {
    /// The architecture of `net` with fresh weights.
    pub fn new(net: Net, device: &Device) -> Self {
        match net {
            Net::MobilenetV2 => Backbone::MobilenetV2(MobileNetV2::new(device)),
            Net::MinilmL6 => Backbone::Bert(BertConfig::minilm_l6().init(device)),
        }
    }

    /// The network's feature of a batch: images `[B, 3, H, W]` or ids `[B, L]` `-> [B, d]`.
    pub fn features(&self, input: &EncoderInput) -> Result<Tensor<2>> {
        match (self, input) {
            (Backbone::MobilenetV2(m), EncoderInput::Image(x)) => Ok(m.features(x.clone())),
            (Backbone::Bert(b), EncoderInput::Tokens(ids)) => Ok(b.sentence_embedding(ids.clone())),
            _ => Err(MlaError::Data(
                "a pretrained encoder got an input of another kind (model and data disagree)"
                    .into(),
            )),
        }
    }

    /// Freezes what `train` does not train.
    pub fn freeze_for(self, train: TrainMode) -> Self {
        let keep = match train {
            TrainMode::Frozen => 0,
            TrainMode::LastBlocks(n) => n,
            TrainMode::All => return self,
        };
        match self {
            Backbone::MobilenetV2(m) => Backbone::MobilenetV2(m.freeze_all_but_last(keep)),
            Backbone::Bert(b) => Backbone::Bert(b.freeze_all_but_last(keep)),
        }
    }
}

/// A pretrained network, its features standardised (`(f - shift) * scale`, fixed
/// statistics of the training split), then a trained projection with ReLU to the
/// feature size.
#[derive(Module, Debug)]
pub struct PretrainedEncoder {
    pub backbone: Option<Backbone>,
    /// Per-feature mean of the training split's features (not trained).
    pub shift: Param<Tensor<1>>,
    /// Per-feature inverse deviation (not trained).
    pub scale: Param<Tensor<1>>,
    pub proj: Linear,
    #[module(skip)]
    pub net: Net,
}

impl PretrainedEncoder {
    /// The encoder with a fresh projection and no standardisation yet; the network is
    /// built (to be loaded) only when it trains.
    pub fn new(settings: &PretrainedSettings, d_out: usize, device: &Device) -> Self {
        let d = settings.net.feature_dim();
        let fixed = |t: Tensor<1>| Param::from_tensor(t).set_require_grad(false);
        Self {
            backbone: (settings.train != TrainMode::Frozen)
                .then(|| Backbone::new(settings.net, device)),
            shift: fixed(Tensor::zeros([d], device)),
            scale: fixed(Tensor::ones([d], device)),
            proj: LinearConfig::new(d, d_out).init(device),
            net: settings.net,
        }
    }

    /// Sets the standardisation to the statistics of `features` (`[n, d]` values,
    /// sample-major; the rows of `rows`). Features of a network differ in scale by
    /// orders of magnitude (MiniLM's are unit vectors, MobileNetV2's pooled ReLU6
    /// maps), so one learning rate would suit none of them without it.
    pub fn standardize(&mut self, features: &[f32], rows: &[usize]) {
        let d = self.net.feature_dim();
        let stats = crate::data::Standardizer::fit(features, d, d, rows);
        let device = self.proj.weight.device();
        let to = |v: Vec<f32>| Tensor::from_data(TensorData::new(v, [d]), &device);
        let fixed = |t: Tensor<1>| Param::from_tensor(t).set_require_grad(false);
        self.shift = fixed(to(stats.mean.iter().map(|&m| m as f32).collect()));
        self.scale = fixed(to(stats
            .std
            .iter()
            .map(|&s| 1.0 / s.max(1e-3) as f32)
            .collect()));
    }

    /// Cached features `[B, d]`, or raw inputs through the network: `-> [B, d_out]`.
    pub fn forward(&self, input: &EncoderInput) -> Result<Tensor<2>> {
        let features = match (input, &self.backbone) {
            (EncoderInput::Features(f), _) => f.clone(),
            (raw, Some(backbone)) => backbone.features(raw)?,
            (_, None) => {
                return Err(MlaError::Model(format!(
                    "the frozen pretrained encoder `{}` is not loaded: load its encoder file \
                     (`{}`) to predict from raw inputs",
                    self.net.name(),
                    self.net.file_name()
                )));
            }
        };
        let standardized =
            (features - self.shift.val().unsqueeze_dim(0)) * self.scale.val().unsqueeze_dim(0);
        Ok(relu(self.proj.forward(standardized)))
    }
}
