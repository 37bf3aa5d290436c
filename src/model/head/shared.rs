//! MLA's head: one `s -> C` linear map `g` shared by every modality,
//! `f_m = g(h_m) = W h_m + b`; with `train.mla.bias_per_modality`, `W` is shared and
//! each modality has its own bias, `f_m = W h_m + b_m`.

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

/// MLA's shared head.
#[derive(Module, Debug)]
pub struct SharedHead {
    /// `W` (`[s, C]`) and, without per-modality biases, `b` (`[C]`).
    pub linear: Linear,
    /// `b_m` (`[C]` each), one per modality; empty without per-modality biases.
    pub biases: Vec<Param<Tensor<1>>>,
}

impl SharedHead {
    /// An `s -> C` head; with `biases_for` `Some(m)`, without its own bias and with a
    /// zero bias per modality (a 1-input layer's default range would be ±1).
    pub fn new(s: usize, c: usize, biases_for: Option<usize>, device: &Device) -> Self {
        let config = LinearConfig::new(s, c).with_bias(biases_for.is_none());
        let biases = (0..biases_for.unwrap_or(0))
            .map(|_| Param::from_tensor(Tensor::zeros([c], device)))
            .collect();
        Self {
            linear: config.init(device),
            biases,
        }
    }

    /// `f_k = W h + b` (or `+ b_k`): `[B, s] -> [B, C]`.
    pub fn logits(&self, k: usize, features: Tensor<2>) -> Tensor<2> {
        let logits = self.linear.forward(features);
        match self.biases.get(k) {
            Some(bias) => logits + bias.val().unsqueeze_dim(0),
            None => logits,
        }
    }
}
