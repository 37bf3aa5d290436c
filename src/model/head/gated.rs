//! BiGated (Kiela et al., 2018): a hidden layer per modality, `z_k = W_k h_k + b_k`;
//! `σ(z_g)` of the gate modality multiplies every other modality's `z_k`, and the head
//! reads their concatenation.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor};

/// BiGated's hidden layers and head.
#[derive(Module, Debug)]
pub struct GatedHead {
    /// `(M-1)*s -> C` over the gated hidden states.
    pub head: Linear,
    /// `s -> s`, one per modality.
    pub hidden: Vec<Linear>,
    /// Which modality gates the others.
    #[module(skip)]
    pub gate: usize,
}

impl GatedHead {
    pub fn new(m: usize, s: usize, c: usize, gate: usize, device: &Device) -> Self {
        Self {
            head: LinearConfig::new((m - 1) * s, c).init(device),
            hidden: (0..m)
                .map(|_| LinearConfig::new(s, s).init(device))
                .collect(),
            gate,
        }
    }

    /// `M x [B, s]` features (absent ones zero) `-> [B, C]`.
    pub fn forward(&self, features: Vec<Tensor<2>>) -> Tensor<2> {
        let hidden: Vec<Tensor<2>> = features
            .into_iter()
            .zip(&self.hidden)
            .map(|(h, layer)| layer.forward(h))
            .collect();
        let g = sigmoid(hidden[self.gate].clone());
        let gated = (0..hidden.len())
            .filter(|&k| k != self.gate)
            .map(|k| g.clone() * hidden[k].clone())
            .collect();
        self.head.forward(Tensor::cat(gated, 1))
    }
}
