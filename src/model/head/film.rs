//! FiLM (Perez et al., AAAI 2018): modality `c`'s feature gives
//! `(γ, β) = split(W_film h_c + b_film)`; every other modality's feature becomes
//! `γ ⊙ h_k + β`, and the head reads their concatenation.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

/// FiLM's conditioning layer and head.
#[derive(Module, Debug)]
pub struct FilmHead {
    /// `(M-1)*s -> C` over the modulated features.
    pub head: Linear,
    /// `s -> 2s`: `(γ, β)` from the condition modality.
    pub film: Linear,
    /// Which modality conditions the others.
    #[module(skip)]
    pub condition: usize,
    #[module(skip)]
    pub modalities: usize,
}

impl FilmHead {
    pub fn new(m: usize, s: usize, c: usize, condition: usize, device: &Device) -> Self {
        Self {
            head: LinearConfig::new((m - 1) * s, c).init(device),
            film: LinearConfig::new(s, 2 * s).init(device),
            condition,
            modalities: m,
        }
    }

    /// `M x [B, s]` features (absent ones zero) `-> [B, C]`.
    pub fn forward(&self, features: Vec<Tensor<2>>) -> Tensor<2> {
        let s = features[0].dims()[1];
        let gb = self.film.forward(features[self.condition].clone());
        let (gamma, beta) = (gb.clone().narrow(1, 0, s), gb.narrow(1, s, s));
        let modulated = (0..features.len())
            .filter(|&k| k != self.condition)
            .map(|k| gamma.clone() * features[k].clone() + beta.clone())
            .collect();
        self.head.forward(Tensor::cat(modulated, 1))
    }
}
