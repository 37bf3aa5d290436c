//! Test-time dynamic fusion (Eq. 6-8) and its variants.
//!
//! Per sample `r` and modality `m`: `p = softmax(f_m)`, entropy `e = −Σ p log p`,
//! `λ_m = exp(max_k e_k − e_m) / Σ_v exp(max_k e_k − e_v)` over the modalities present
//! for `r`, and the fused logits `ŷ = Σ_m λ_m f_m`. Confident modalities weigh more.

use burn::tensor::{Tensor, activation::log_softmax};
use serde::{Deserialize, Serialize};

/// How unimodal logits are combined.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fusion {
    /// The paper's per-sample entropy weights (Eq. 8).
    #[default]
    Entropy,
    /// Equal weights over the modalities present.
    Mean,
    /// The authors' released code: one weight per modality for the whole batch, from
    /// the batch-mean entropy, so results depend on batch composition. For comparison.
    BatchEntropy,
}

/// Fusion weights and fused logits of a batch.
#[derive(Clone, Debug)]
pub struct Fused {
    /// `[M, B]`: `λ_{m,r}`; zero for missing modalities, each column sums to 1.
    pub weights: Tensor<2>,
    /// `[B, C]`: `Σ_m λ_{m,r} f_m(x_{m,r})`.
    pub logits: Tensor<2>,
    /// `[M, B]`: entropy of each modality's prediction.
    pub entropy: Tensor<2>,
}

/// Masked value that no real entropy (at most `ln C`) comes near.
const ABSENT: f32 = 1.0e6;

/// Entropy of `softmax(logits)` along the last axis: `[M, B, C] -> [M, B]`.
pub fn entropy(logits: Tensor<3>) -> Tensor<2> {
    let [m, b, _] = logits.dims();
    let log_p = log_softmax(logits, 2);
    (log_p.clone().exp() * log_p)
        .sum_dim(2)
        .neg()
        .reshape([m, b])
}

impl Fusion {
    /// Fuses `[M, B, C]` unimodal logits given `[M, B]` presence (1 present, 0 missing).
    pub fn fuse(self, logits: Tensor<3>, present: Tensor<2>) -> Fused {
        let [m, b, c] = logits.dims();
        let entropy = entropy(logits.clone());
        let absent = present.clone().neg().add_scalar(1.0);
        let scores = match self {
            Fusion::Entropy => entropy.clone().neg(),
            Fusion::Mean => present.zeros_like(),
            Fusion::BatchEntropy => {
                let count = present.clone().sum_dim(1).clamp_min(1.0); // [M, 1]
                let mean = (entropy.clone() * present.clone()).sum_dim(1) / count;
                mean.neg().expand([m, b])
            }
        };
        // softmax over present modalities of −e, which equals Eq. 8 (the max shift cancels).
        let scores = scores - absent.clone() * ABSENT;
        let shift = scores.clone().max_dim(0); // [1, B]
        let w = (scores - shift).exp() * present;
        let weights = w.clone() / w.sum_dim(0).clamp_min(f32::MIN_POSITIVE);
        let fused = (logits * weights.clone().reshape([m, b, 1]))
            .sum_dim(0)
            .reshape([b, c]);
        Fused {
            weights,
            logits: fused,
            entropy,
        }
    }
}
