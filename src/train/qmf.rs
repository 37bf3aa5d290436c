//! QMF, quality-aware multimodal fusion (Zhang et al., ICML 2023), in the late-fusion
//! setting as the paper applies it: a head per modality, fused logits
//! `Σ_m w_m f_m` weighted by the detached energy confidence
//! `c_m = logsumexp(f_m) / 10`, normalised: `w_m = max(c_m, 0) / Σ_k max(c_k, 0)`
//! (the paper's code weights by `c_m` itself, whose growth with the logits feeds back
//! into the fused loss's gradient until training diverges), and the loss
//! `CE(fused) + Σ_m CE(f_m) + rank_weight · Σ_m L_rank(c_m)`.
//!
//! The ranking loss asks a sample that has so far been harder (larger cumulative
//! cross-entropy of that modality, kept per training sample) to be less confident:
//! each sample `i` of a batch is paired with the next one `j` (cyclically); with
//! `t = sign(L_i - L_j)` and `margin = |L_i - L_j|` (cumulative losses scaled to
//! `[0, 1]` by their largest value) the pair costs `max(0, t (c_i - c_j) - margin)`.

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, IndexingUpdateOp, Int, Tensor};
use serde::{Deserialize, Serialize};

use super::late::unimodal_losses;
use super::settings::invalid;
use super::strategy::{Strategy, StrategyState, TrainBatch, masked_mean, mean_ce, per_sample_ce};
use crate::data::Batch;
use crate::error::{MlaError, Result};
use crate::model::{HeadLayout, MultimodalModel, energy_confidence, weighted_sum};

/// QMF's regulariser (Zhang et al., ICML 2023).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QmfConfig {
    /// Weight of the ranking loss on the energy confidences.
    pub rank_weight: f64,
}

impl Default for QmfConfig {
    fn default() -> Self {
        Self { rank_weight: 0.1 }
    }
}

impl QmfConfig {
    /// Checks every field; errors name the field.
    pub fn validate(&self) -> Result<()> {
        if !(self.rank_weight.is_finite() && self.rank_weight >= 0.0) {
            return invalid("qmf.rank_weight", "must be a finite number >= 0");
        }
        Ok(())
    }
}

pub struct Qmf {
    rank_weight: f64,
    /// `[M, N]` cumulative cross-entropy of each modality on each training sample.
    history: Tensor<2>,
}

impl Qmf {
    /// QMF for `m` modalities and `n` training samples; history on `device` (plain).
    pub fn new(config: &QmfConfig, m: usize, n: usize, device: &Device) -> Self {
        Self {
            rank_weight: config.rank_weight,
            history: Tensor::zeros([m, n], device),
        }
    }
}

/// The ranking loss of one modality: confidences `c` `[B]` (with gradient), the
/// samples' cumulative losses `l` `[B]` scaled to `[0, 1]`, and presence `[B]`.
pub fn rank_loss(c: Tensor<1>, l: Tensor<1>, present: Tensor<1>) -> Tensor<1> {
    let [b] = c.dims();
    let device = c.device();
    let next: Vec<i64> = (0..b as i64).map(|i| (i + 1) % b as i64).collect();
    let next = Tensor::<1, Int>::from_ints(next.as_slice(), &device);
    let (c2, l2) = (
        c.clone().select(0, next.clone()),
        l.clone().select(0, next.clone()),
    );
    let both = present.clone() * present.select(0, next);
    let diff = l - l2;
    let t = diff.clone().sign();
    let cost = (t * (c - c2) - diff.abs()).clamp_min(0.0);
    masked_mean(cost, both)
}

impl Strategy for Qmf {
    fn head_layout(&self) -> HeadLayout {
        HeadLayout::Energy
    }

    fn loss_names(&self, _modalities: &[String]) -> Vec<String> {
        ["fused", "unimodal", "rank"].map(String::from).into()
    }

    fn train_batch(
        &mut self,
        model: MultimodalModel,
        batch: &TrainBatch<'_>,
        optimizer: &mut ModuleOptimizer,
        lr: f64,
    ) -> Result<(MultimodalModel, Vec<Option<Tensor<1>>>)> {
        let b = Batch::gather(batch.data, batch.indices, batch.device);
        let [m, n] = b.present.dims();
        // Each head runs once: its logits feed the fused loss (weighted by the detached
        // confidences) and its own.
        let (logits, weights) = model
            .head
            .per_modality("QMF")?
            .logits_and_weights(model.all_features(&b)?, &b.present);
        let fused = weighted_sum(logits.clone(), &weights);
        let fused_loss = mean_ce(fused, b.labels.clone(), batch.label_smoothing);
        let unimodal = unimodal_losses(&logits, &b, batch.label_smoothing)
            .into_iter()
            .reduce(|a, l| a + l)
            .expect("M >= 2");
        let idx: Vec<i64> = batch.indices.iter().map(|&i| i as i64).collect();
        let idx = Tensor::<1, Int>::from_ints(idx.as_slice(), &self.history.device());
        let seen = self.history.clone().select(1, idx.clone()); // [M, B]
        let scale = self.history.clone().max().clamp_min(1e-12);
        let seen = (seen / scale.unsqueeze::<2>()).autodiff();
        let mut rank = None;
        let mut losses = Vec::with_capacity(m);
        for (k, l) in logits.iter().enumerate() {
            let present = b.present.clone().narrow(0, k, 1).reshape([n]);
            let c = energy_confidence(l.clone());
            let r = rank_loss(
                c,
                seen.clone().narrow(0, k, 1).reshape([n]),
                present.clone(),
            );
            rank = Some(match rank {
                Some(sum) => sum + r,
                None => r,
            });
            // The confidence history keeps the plain cross-entropy, as QMF defines it.
            losses.push(per_sample_ce(l.clone(), b.labels.clone(), 0.0).detach() * present);
        }
        let rank = rank.expect("M >= 2");
        let total =
            fused_loss.clone() + unimodal.clone() + rank.clone().mul_scalar(self.rank_weight);
        let grads = GradientsParams::from_grads(total.backward(), &model);
        let model = optimizer.step(lr, model, grads);
        // This batch's losses join the history after the step, as QMF updates it.
        let batch_losses = Tensor::stack::<2>(losses, 0).inner();
        self.history =
            self.history
                .clone()
                .select_assign(1, idx, batch_losses, IndexingUpdateOp::Add);
        let out = |t: Tensor<1>| Some(t.detach().inner());
        Ok((model, vec![out(fused_loss), out(unimodal), out(rank)]))
    }

    fn state(&self) -> Result<StrategyState> {
        Ok(StrategyState {
            matrices: vec![self.history.clone()],
            ..StrategyState::default()
        })
    }

    fn restore(&mut self, state: StrategyState) -> Result<()> {
        match &state.matrices[..] {
            [h] if h.dims() == self.history.dims()
                && state.counters.is_empty()
                && state.optimizers.is_empty() =>
            {
                self.history = h.clone().to_device(&self.history.device());
                Ok(())
            }
            _ => Err(MlaError::Checkpoint(
                "its QMF history does not match this run's data".into(),
            )),
        }
    }
}
