//! A classifier per modality, `f_m = W_m h_m + b_m`, fused by a weighted sum
//! `Σ_m w_m ⊙ f_m` over the modalities present: Sum (`w_m = 1`), Late fusion
//! (`w_m = 1 / count`), QMF (energy confidences), and MLA with a head per modality
//! (trained alternately, fused at test time by [`crate::fusion`]).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

/// How a per-modality head weighs its modalities' logits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weighting {
    /// 1 per modality present.
    Sum,
    /// `1 / count` of the modalities present.
    Mean,
    /// QMF's energy confidence, normalised over the modalities present.
    Energy,
}

/// The classifiers of a per-modality head.
#[derive(Module, Debug)]
pub struct PerModalityHead {
    /// `s -> C`, one per modality.
    pub heads: Vec<Linear>,
    #[module(skip)]
    pub weighting: Weighting,
}

impl PerModalityHead {
    pub fn new(m: usize, s: usize, c: usize, weighting: Weighting, device: &Device) -> Self {
        Self {
            heads: (0..m)
                .map(|_| LinearConfig::new(s, c).init(device))
                .collect(),
            weighting,
        }
    }

    /// Each head's logits `M x [B, C]`, and the fusion weights `[M, B]` (zero where
    /// missing; 1 for Sum, `1 / count` for late fusion, the detached energy confidence
    /// for QMF).
    pub fn logits_and_weights(
        &self,
        features: Vec<Tensor<2>>,
        present: &Tensor<2>,
    ) -> (Vec<Tensor<2>>, Tensor<2>) {
        let logits: Vec<Tensor<2>> = features
            .into_iter()
            .zip(&self.heads)
            .map(|(h, head)| head.forward(h))
            .collect();
        let weights = match self.weighting {
            Weighting::Sum => present.clone(),
            Weighting::Mean => present.clone() / present.clone().sum_dim(0).clamp_min(1.0),
            Weighting::Energy => energy_weights(&logits, present),
        };
        (logits, weights)
    }
}

/// QMF's temperature: confidence is `logsumexp(logits) / ENERGY_SCALE`.
pub const ENERGY_SCALE: f32 = 10.0;

/// `logsumexp` over classes, divided by [`ENERGY_SCALE`]: the negative free energy, high
/// when a modality is confident. `[B, C] -> [B]`.
pub fn energy_confidence(logits: Tensor<2>) -> Tensor<1> {
    let [b, _] = logits.dims();
    let max = logits.clone().max_dim(1); // [B, 1]
    let lse = (logits - max.clone()).exp().sum_dim(1).log() + max;
    lse.reshape([b]).div_scalar(ENERGY_SCALE)
}

/// QMF's fusion weights `[M, B]` from `M x [B, C]` logits: the detached confidences,
/// normalised over the modalities present.
fn energy_weights(logits: &[Tensor<2>], present: &Tensor<2>) -> Tensor<2> {
    let conf: Vec<Tensor<1>> = logits
        .iter()
        .map(|l| energy_confidence(l.clone()).detach())
        .collect();
    // Normalised over the modalities present (QMF's own code uses the raw
    // confidences): raw ones grow with the logits, and so does the fused loss's
    // gradient, a feedback that made QMF diverge on pretrained features at rates where
    // every other method trains. A negative energy counts as no confidence; with none
    // anywhere, equal weights.
    let conf = Tensor::stack::<2>(conf, 0).clamp_min(0.0) * present.clone();
    let eps = 1e-6;
    let total = conf.clone().sum_dim(0) + present.clone().sum_dim(0).mul_scalar(eps);
    (conf + present.clone().mul_scalar(eps)) / total.clamp_min(1e-12)
}

/// `Σ_m w_m ⊙ l_m`: `M x [B, C]` logits weighted per sample by `[M, B]` weights.
pub fn weighted_sum(logits: Vec<Tensor<2>>, weights: &Tensor<2>) -> Tensor<2> {
    let [b, c] = logits[0].dims();
    let weighted: Vec<Tensor<2>> = logits
        .into_iter()
        .enumerate()
        .map(|(k, l)| l * weights.clone().narrow(0, k, 1).reshape([b, 1]))
        .collect();
    Tensor::stack::<3>(weighted, 0).sum_dim(0).reshape([b, c])
}
