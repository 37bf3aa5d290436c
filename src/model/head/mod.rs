//! How a model's head reads the encoders' features: MLA's shared head, and the fused
//! heads of the paper's baselines (appendix A.2), one file each. [`HeadLayout`] is the
//! configuration (saved in a model's architecture); [`Head`] the module it builds, a
//! variant per kind of head with its parameters named. Each fused head has one
//! forward, [`Head::fused_logits`], given which modalities are present; a modality's
//! own prediction is the same network with the others deactivated (zero features), as
//! the paper evaluates fusion methods, except where the head has a part per modality.

mod concat;
mod film;
mod gated;
pub mod imputation;
mod per_modality;
mod shared;
pub(crate) mod untyped;

pub use concat::ConcatHead;
pub use film::FilmHead;
pub use gated::GatedHead;
pub use imputation::{Autoencoder, ImputationHead, Imputer};
pub use per_modality::{ENERGY_SCALE, PerModalityHead, Weighting, energy_confidence, weighted_sum};
pub use shared::SharedHead;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

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
    /// and a bias per modality.
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
    /// `M*s -> C` head reads the completed features ([`imputation`]).
    Autoencoder { hidden: usize },
    /// CRA: `blocks` residual autoencoders in cascade fill in absent modalities; an
    /// `M*s -> C` head reads the completed features.
    Cascade { blocks: usize, hidden: usize },
    /// MMIN: a forward cascade of `blocks` residual autoencoders imagines absent
    /// modalities and a `blocks*hidden -> C` head reads its codes; a backward cascade
    /// (training only) maps the imagined modalities back.
    Imagination { blocks: usize, hidden: usize },
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

    /// The head for `m` modalities of `s` features and `c` classes (call
    /// [`Self::check`] first).
    ///
    /// Within each head the parameters are declared in the order of the model files
    /// written before typed heads, so that a seed draws the same initial weights.
    pub fn init(self, m: usize, s: usize, c: usize, device: &Device) -> Head {
        match self {
            HeadLayout::Shared => Head::Shared(SharedHead::new(s, c, None, device)),
            HeadLayout::SharedWeight => Head::Shared(SharedHead::new(s, c, Some(m), device)),
            HeadLayout::Concat => Head::Concat(ConcatHead::new(m, s, c, device)),
            HeadLayout::Sum | HeadLayout::Unshared => {
                Head::PerModality(PerModalityHead::new(m, s, c, Weighting::Sum, device))
            }
            HeadLayout::Late => {
                Head::PerModality(PerModalityHead::new(m, s, c, Weighting::Mean, device))
            }
            HeadLayout::Energy => {
                Head::PerModality(PerModalityHead::new(m, s, c, Weighting::Energy, device))
            }
            HeadLayout::Film { condition } => Head::Film(FilmHead::new(m, s, c, condition, device)),
            HeadLayout::Gated { gate } => Head::Gated(GatedHead::new(m, s, c, gate, device)),
            HeadLayout::Autoencoder { hidden } => Head::Imputation(ImputationHead::new(
                Imputer::Autoencoder,
                m,
                s,
                1,
                hidden,
                c,
                device,
            )),
            HeadLayout::Cascade { blocks, hidden } => Head::Imputation(ImputationHead::new(
                Imputer::Cascade,
                m,
                s,
                blocks,
                hidden,
                c,
                device,
            )),
            HeadLayout::Imagination { blocks, hidden } => Head::Imputation(ImputationHead::new(
                Imputer::Imagination,
                m,
                s,
                blocks,
                hidden,
                c,
                device,
            )),
        }
    }
}

/// The head of a model: a variant per kind of head, each with its parameters named.
#[derive(Module, Debug)]
pub enum Head {
    /// MLA's head, shared by every modality (with a bias per modality or not).
    Shared(SharedHead),
    /// A classifier per modality: Sum, Late fusion, QMF, MLA with a head per modality.
    PerModality(PerModalityHead),
    /// Concat (and OGM-GE): one classifier over the concatenated features.
    Concat(ConcatHead),
    /// FiLM.
    Film(FilmHead),
    /// BiGated.
    Gated(GatedHead),
    /// AE, CRA and MMIN: an imputation network before a classifier.
    Imputation(ImputationHead),
}

impl Head {
    /// Fused logits: `M x [B, s]` features and `[M, B]` presence `-> [B, C]`. A missing
    /// modality is deactivated: its feature is zero, and a per-modality head leaves it
    /// out. (MLA fuses at test time instead, [`crate::fusion`]; its fused logits here
    /// are the sum of the present modalities' logits, as Sum's.)
    pub fn fused_logits(&self, features: Vec<Tensor<2>>, present: &Tensor<2>) -> Tensor<2> {
        let [_, b] = present.dims();
        let masked: Vec<Tensor<2>> = features
            .into_iter()
            .enumerate()
            .map(|(k, h)| h * present.clone().narrow(0, k, 1).reshape([b, 1]))
            .collect();
        match self {
            Head::Shared(head) => {
                let logits = (0..masked.len())
                    .map(|k| head.logits(k, masked[k].clone()))
                    .collect();
                weighted_sum(logits, present)
            }
            Head::PerModality(head) => {
                let (logits, weights) = head.logits_and_weights(masked, present);
                weighted_sum(logits, &weights)
            }
            Head::Concat(head) => head.forward(masked),
            Head::Film(head) => head.forward(masked),
            Head::Gated(head) => head.forward(masked),
            Head::Imputation(head) => head.forward(masked, present),
        }
    }

    /// A fused head's logits `[B, C]` and the fusion weights it reports per modality
    /// `[M, B]`, each column summing to 1 over the modalities present (QMF: its
    /// confidences; the others: equal). Per-modality heads run once for both.
    pub fn fuse(&self, features: Vec<Tensor<2>>, present: &Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let (logits, weights) = match self {
            // A missing modality's logits get weight 0, so its feature needs no mask.
            Head::PerModality(head) => {
                let (logits, weights) = head.logits_and_weights(features, present);
                (weighted_sum(logits, &weights), weights)
            }
            _ => (self.fused_logits(features, present), present.clone()),
        };
        let normalised = weights.clone() / weights.sum_dim(0).clamp_min(1e-12);
        (logits, normalised)
    }

    /// Modality `k`'s own logits `f_k`: `[B, s] -> [B, C]`. MLA's head and per-modality
    /// heads have them; Concat uses the head's rows that read modality `k` (and the
    /// bias), as the paper evaluates a joint model on one modality; the other fused
    /// heads run with every other modality deactivated.
    pub fn unimodal_logits(&self, k: usize, features: Tensor<2>) -> Tensor<2> {
        match self {
            Head::Shared(head) => head.logits(k, features),
            Head::PerModality(head) => head.heads[k].forward(features),
            Head::Concat(head) => head.modality_logits(k, features),
            Head::Film(head) => self.deactivated_logits(k, features, head.modalities),
            Head::Gated(head) => self.deactivated_logits(k, features, head.hidden.len()),
            Head::Imputation(head) => self.deactivated_logits(k, features, head.modalities),
        }
    }

    /// Modality `k`'s logits through the fused network with every other modality
    /// deactivated, of `m`. `[B, s] -> [B, C]`.
    fn deactivated_logits(&self, k: usize, features: Tensor<2>, m: usize) -> Tensor<2> {
        let [b, s] = features.dims();
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

    /// The per-modality head, for the methods that train one (an error naming `method`
    /// for any other head).
    pub fn per_modality(&self, method: &str) -> Result<&PerModalityHead> {
        match self {
            Head::PerModality(head) => Ok(head),
            _ => Err(wrong_head(method, "a head per modality")),
        }
    }

    /// The imputation head, for the methods that train one.
    pub fn imputation(&self, method: &str) -> Result<&ImputationHead> {
        match self {
            Head::Imputation(head) => Ok(head),
            _ => Err(wrong_head(method, "an imputation network")),
        }
    }

    /// The concatenation head, for the methods that train one.
    pub fn concat(&self, method: &str) -> Result<&ConcatHead> {
        match self {
            Head::Concat(head) => Ok(head),
            _ => Err(wrong_head(method, "a head over the concatenated features")),
        }
    }
}

fn wrong_head(method: &str, wants: &str) -> MlaError {
    MlaError::Model(format!(
        "{method} trains {wants}, and this model has another head"
    ))
}
