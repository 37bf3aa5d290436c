//! How a model's head reads the encoders' features: MLA's shared head, and the fused
//! heads of the paper's baselines (appendix A.2). Each fused layout has one forward,
//! [`MultimodalModel::fused_logits`], given which modalities are present; a modality's
//! own prediction is the same network with the others deactivated (zero features), as
//! the paper evaluates fusion methods, except where the layout has a head per modality.

use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::MultimodalModel;
use crate::error::{MlaError, Result};

/// How the head reads the encoders' features (`s` features per modality, `C` classes,
/// `M` modalities).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeadLayout {
    /// MLA: one `s -> C` head applied to each modality's feature on its own.
    #[default]
    Shared,
    /// MLA's ablation (`train.mla.bias_per_modality`): the shared head's `s -> C` weight
    /// (the head, without its bias) and a bias per modality (`layers[m]`'s bias; its
    /// `1 x C` weight is unused).
    SharedWeight,
    /// MLA's ablation (`train.mla.head_per_modality`): an `s -> C` head per modality,
    /// each trained in its modality's step, fused as MLA fuses (alternating Late fusion).
    Unshared,
    /// Concat: one `M*s -> C` head over the concatenated features.
    Concat,
    /// Sum: an `s -> C` head per modality; the fused logits are their sum.
    Sum,
    /// Late fusion: an `s -> C` head per modality; the fused logits are their mean.
    Late,
    /// QMF: an `s -> C` head per modality; the fused logits are weighted by each
    /// modality's energy confidence `logsumexp(f_m) / 10` ([`energy_confidence`]),
    /// clamped at 0 and normalised to sum to 1 over the modalities present.
    Energy,
    /// FiLM: modality `condition`'s feature gives `(γ, β)` through one `s -> 2s` layer;
    /// every other modality's feature becomes `γ ⊙ h + β`; those are concatenated into
    /// an `(M-1)*s -> C` head.
    Film { condition: usize },
    /// BiGated: an `s -> s` layer per modality; `σ` of modality `gate`'s hidden state
    /// multiplies every other modality's hidden state; those are concatenated into an
    /// `(M-1)*s -> C` head.
    Gated { gate: usize },
    /// AE: an `M*s -> hidden -> M*s` autoencoder fills in absent modalities; an
    /// `M*s -> C` head reads the completed features ([`super::imputation`]).
    Autoencoder { hidden: usize },
    /// CRA: `blocks` residual autoencoders in cascade fill in absent modalities; an
    /// `M*s -> C` head reads the completed features.
    Cascade { blocks: usize, hidden: usize },
    /// MMIN: a forward cascade of `blocks` residual autoencoders imagines absent
    /// modalities and a `blocks*hidden -> C` head reads its codes; a backward cascade
    /// (training only) maps the imagined modalities back.
    Imagination { blocks: usize, hidden: usize },
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

impl HeadLayout {
    /// Whether the layout has a classifier per modality (its unimodal predictions).
    pub fn per_modality(self) -> bool {
        matches!(
            self,
            HeadLayout::Sum | HeadLayout::Late | HeadLayout::Energy | HeadLayout::Unshared
        )
    }

    /// Checks the layout against `m` modalities.
    pub fn check(self, m: usize) -> Result<()> {
        let (name, k) = match self {
            HeadLayout::Film { condition } => ("FiLM's condition modality", condition),
            HeadLayout::Gated { gate } => ("BiGated's gate modality", gate),
            HeadLayout::Autoencoder { hidden }
            | HeadLayout::Cascade { hidden, .. }
            | HeadLayout::Imagination { hidden, .. }
                if hidden == 0 =>
            {
                return Err(MlaError::config("train.impute.hidden", "must be > 0"));
            }
            HeadLayout::Cascade { blocks: 0, .. } | HeadLayout::Imagination { blocks: 0, .. } => {
                return Err(MlaError::config(
                    "train.impute.blocks",
                    "must be at least 1",
                ));
            }
            _ => return Ok(()),
        };
        if k >= m {
            return Err(MlaError::config(
                "train.condition_modality",
                format!("{name} is {k}, but there are {m} modalities (0..{m})"),
            ));
        }
        Ok(())
    }

    /// The head and the layers around it, for `m` modalities of `s` features and `c`
    /// classes. Per-modality layouts keep their heads in `layers`, and `head` is a 1x1
    /// stand-in (every model has a `head`, so MLA's code and older files keep it).
    pub fn build(self, m: usize, s: usize, c: usize, device: &Device) -> (Linear, Vec<Linear>) {
        let linear = |i: usize, o: usize| LinearConfig::new(i, o).init(device);
        let autoencoders = |n: usize, hidden: usize| -> Vec<Linear> {
            (0..n)
                .flat_map(|_| [linear(m * s, hidden), linear(hidden, m * s)])
                .collect()
        };
        match self {
            HeadLayout::Shared => (linear(s, c), Vec::new()),
            // The biases start at zero (a 1-input layer's default range would be ±1).
            HeadLayout::SharedWeight => (
                LinearConfig::new(s, c).with_bias(false).init(device),
                (0..m)
                    .map(|_| {
                        LinearConfig::new(1, c)
                            .with_initializer(Initializer::Zeros)
                            .init(device)
                    })
                    .collect(),
            ),
            HeadLayout::Concat => (linear(m * s, c), Vec::new()),
            HeadLayout::Sum | HeadLayout::Late | HeadLayout::Energy | HeadLayout::Unshared => {
                (linear(1, 1), (0..m).map(|_| linear(s, c)).collect())
            }
            HeadLayout::Film { .. } => (linear((m - 1) * s, c), vec![linear(s, 2 * s)]),
            HeadLayout::Gated { .. } => (
                linear((m - 1) * s, c),
                (0..m).map(|_| linear(s, s)).collect(),
            ),
            HeadLayout::Autoencoder { hidden } => (linear(m * s, c), autoencoders(1, hidden)),
            HeadLayout::Cascade { blocks, hidden } => {
                (linear(m * s, c), autoencoders(blocks, hidden))
            }
            HeadLayout::Imagination { blocks, hidden } => {
                (linear(blocks * hidden, c), autoencoders(2 * blocks, hidden))
            }
        }
    }
}

impl MultimodalModel {
    /// Fused logits of a fused layout: `M x [B, s]` features and `[M, B]` presence
    /// `-> [B, C]`. A missing modality is deactivated: its feature is zero, and a
    /// per-modality head leaves it out.
    pub fn fused_logits(&self, features: Vec<Tensor<2>>, present: &Tensor<2>) -> Tensor<2> {
        let [m, b] = present.dims();
        let mask = |k: usize| present.clone().narrow(0, k, 1).reshape([b, 1]);
        let masked: Vec<Tensor<2>> = features
            .into_iter()
            .enumerate()
            .map(|(k, h)| h * mask(k))
            .collect();
        match self.layout {
            // (MLA's shared layouts fuse at test time instead: [`crate::fusion`].)
            HeadLayout::Shared | HeadLayout::SharedWeight | HeadLayout::Concat => {
                self.head.forward(Tensor::cat(masked, 1))
            }
            HeadLayout::Sum | HeadLayout::Late | HeadLayout::Energy | HeadLayout::Unshared => {
                let (logits, weights) = self.per_modality(masked, present);
                weighted_sum(logits, &weights)
            }
            HeadLayout::Film { condition } => {
                let s = masked[0].dims()[1];
                let gb = self.layers[0].forward(masked[condition].clone());
                let (gamma, beta) = (gb.clone().narrow(1, 0, s), gb.narrow(1, s, s));
                let modulated = (0..m)
                    .filter(|&k| k != condition)
                    .map(|k| gamma.clone() * masked[k].clone() + beta.clone())
                    .collect();
                self.head.forward(Tensor::cat(modulated, 1))
            }
            HeadLayout::Gated { gate } => {
                let hidden: Vec<Tensor<2>> = masked
                    .into_iter()
                    .zip(&self.layers)
                    .map(|(h, layer)| layer.forward(h))
                    .collect();
                let g = sigmoid(hidden[gate].clone());
                let gated = (0..m)
                    .filter(|&k| k != gate)
                    .map(|k| g.clone() * hidden[k].clone())
                    .collect();
                self.head.forward(Tensor::cat(gated, 1))
            }
            HeadLayout::Autoencoder { .. }
            | HeadLayout::Cascade { .. }
            | HeadLayout::Imagination { .. } => self.imputation_logits(masked, present),
        }
    }

    /// Per-modality layouts: each head's logits `M x [B, C]`, and the fusion weights
    /// `[M, B]` (zero where missing; 1 for Sum, `1 / count` for late fusion, the
    /// detached energy confidence for QMF).
    pub fn per_modality(
        &self,
        features: Vec<Tensor<2>>,
        present: &Tensor<2>,
    ) -> (Vec<Tensor<2>>, Tensor<2>) {
        let logits: Vec<Tensor<2>> = features
            .into_iter()
            .zip(&self.layers)
            .map(|(h, head)| head.forward(h))
            .collect();
        let weights = match self.layout {
            HeadLayout::Late => present.clone() / present.clone().sum_dim(0).clamp_min(1.0),
            HeadLayout::Energy => {
                let conf: Vec<Tensor<1>> = logits
                    .iter()
                    .map(|l| energy_confidence(l.clone()).detach())
                    .collect();
                // Normalised over the modalities present (QMF's own code uses the raw
                // confidences): raw ones grow with the logits, and so does the fused
                // loss's gradient, a feedback that made QMF diverge on pretrained
                // features at rates where every other method trains. A negative
                // energy counts as no confidence; with none anywhere, equal weights.
                let conf = Tensor::stack::<2>(conf, 0).clamp_min(0.0) * present.clone();
                let eps = 1e-6;
                let total = conf.clone().sum_dim(0) + present.clone().sum_dim(0).mul_scalar(eps);
                (conf + present.clone().mul_scalar(eps)) / total.clamp_min(1e-12)
            }
            _ => present.clone(),
        };
        (logits, weights)
    }

    /// A fused layout's logits `[B, C]` and the fusion weights it reports per modality
    /// `[M, B]`, each column summing to 1 over the modalities present (QMF: its
    /// confidences; the others: equal). Per-modality heads run once for both.
    pub fn fuse(&self, features: Vec<Tensor<2>>, present: &Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let (logits, weights) = if self.layout.per_modality() {
            // A missing modality's logits get weight 0, so its feature needs no mask.
            let (logits, weights) = self.per_modality(features, present);
            (weighted_sum(logits, &weights), weights)
        } else {
            (self.fused_logits(features, present), present.clone())
        };
        let normalised = weights.clone() / weights.sum_dim(0).clamp_min(1e-12);
        (logits, normalised)
    }

    /// Modality `k`'s own logits in a fused layout: its head where it has one, else the
    /// fused network with every other modality deactivated. `[B, s] -> [B, C]`.
    pub(crate) fn deactivated_logits(&self, k: usize, features: Tensor<2>) -> Tensor<2> {
        let [b, s] = features.dims();
        let m = self.num_modalities();
        if self.layout.per_modality() {
            return self.layers[k].forward(features);
        }
        let device = features.device();
        let all = (0..m)
            .map(|j| {
                if j == k {
                    features.clone()
                } else {
                    Tensor::zeros([b, s], &device)
                }
            })
            .collect();
        let mut only = vec![0.0f32; m * b];
        only[k * b..(k + 1) * b].fill(1.0);
        let present = Tensor::<1>::from_floats(only.as_slice(), &device).reshape([m, b]);
        self.fused_logits(all, &present)
    }
}
