//! Concat (and OGM-GE): one `M*s -> C` head over the concatenated features,
//! `f = W [h_1, .., h_M] + b`.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

/// The head over the concatenated features.
#[derive(Module, Debug)]
pub struct ConcatHead {
    /// `M*s -> C`: rows `k*s .. (k+1)*s` of its weight read modality `k`.
    pub linear: Linear,
}

impl ConcatHead {
    pub fn new(m: usize, s: usize, c: usize, device: &Device) -> Self {
        Self {
            linear: LinearConfig::new(m * s, c).init(device),
        }
    }

    /// `M x [B, s]` features (absent ones zero) `-> [B, C]`.
    pub fn forward(&self, features: Vec<Tensor<2>>) -> Tensor<2> {
        self.linear.forward(Tensor::cat(features, 1))
    }

    /// Modality `k` alone: `h_k W_k + b`, with `W_k` the rows that read it.
    /// `[B, s] -> [B, C]`.
    pub fn modality_logits(&self, k: usize, features: Tensor<2>) -> Tensor<2> {
        let s = features.dims()[1];
        let logits = features.matmul(self.linear.weight.val().narrow(0, k * s, s));
        match &self.linear.bias {
            Some(b) => logits + b.val().unsqueeze_dim(0),
            None => logits,
        }
    }
}
