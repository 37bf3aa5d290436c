//! The interface every training method implements.

use burn::optim::ModuleOptimizer;
use burn::tensor::{Device, Int, Tensor, activation::log_softmax};

use crate::data::Dataset;
use crate::error::Result;
use crate::model::{HeadLayout, MultimodalModel};

/// The samples of one training batch.
pub struct TrainBatch<'a> {
    /// The training split.
    pub data: &'a Dataset,
    /// Indices into `data` of this batch's samples.
    pub indices: &'a [usize],
    /// The autodiff device the model lives on.
    pub device: &'a Device,
    /// The epoch, 0-based.
    pub epoch: usize,
    /// Label smoothing of the training losses (`train.label_smoothing`, resolved).
    pub label_smoothing: f64,
}

/// Cross-entropy of each sample against its label smoothed by `smoothing` (the target
/// puts `1 - smoothing` on the label and spreads `smoothing` evenly over all `C`
/// classes; 0 is the plain cross-entropy): `[B, C]` logits and `[B]` labels `-> [B]`.
pub fn per_sample_ce(logits: Tensor<2>, labels: Tensor<1, Int>, smoothing: f64) -> Tensor<1> {
    let [b, _] = logits.dims();
    let log_p = log_softmax(logits, 1);
    let label = log_p.clone().gather(1, labels.reshape([b, 1])).reshape([b]);
    if smoothing == 0.0 {
        return label.neg();
    }
    let uniform = log_p.mean_dim(1).reshape([b]);
    (label.mul_scalar(1.0 - smoothing) + uniform.mul_scalar(smoothing)).neg()
}

/// Mean [`per_sample_ce`] over the batch: `[B, C]` logits and `[B]` labels `-> [1]`.
pub fn mean_ce(logits: Tensor<2>, labels: Tensor<1, Int>, smoothing: f64) -> Tensor<1> {
    per_sample_ce(logits, labels, smoothing).mean()
}

/// Mean of `values` over the samples where `mask` is 1 (`[B]` each; 0 when none is).
pub fn masked_mean(values: Tensor<1>, mask: Tensor<1>) -> Tensor<1> {
    (values * mask.clone()).sum() / mask.sum().clamp_min(1.0)
}

/// What a method carries from batch to batch besides the model and the optimizer
/// (HGM's `P` and step count, optimizers of its own), for checkpoints.
#[derive(Clone, Debug, Default)]
pub struct StrategyState {
    /// Plain-device matrices.
    pub matrices: Vec<Tensor<2>>,
    pub counters: Vec<usize>,
    /// Records of the method's own optimizers (MLA's per-modality head optimizers).
    pub optimizers: Vec<Vec<u8>>,
}

/// A training method: how one batch updates the model.
pub trait Strategy {
    /// The head this method trains.
    fn head_layout(&self) -> HeadLayout;

    /// Names of the losses [`Strategy::train_batch`] reports, in order.
    fn loss_names(&self, modalities: &[String]) -> Vec<String>;

    /// Trains on one batch and returns the updated model and, per loss name, the
    /// batch's mean loss (`[1]`, still on the device) or `None` when that loss had no
    /// sample in the batch.
    fn train_batch(
        &mut self,
        model: MultimodalModel,
        batch: &TrainBatch<'_>,
        optimizer: &mut ModuleOptimizer,
        lr: f64,
    ) -> Result<(MultimodalModel, Vec<Option<Tensor<1>>>)>;

    /// The state a checkpoint must keep; none by default.
    fn state(&self) -> Result<StrategyState> {
        Ok(StrategyState::default())
    }

    /// Continues from [`Strategy::state`]'s result.
    fn restore(&mut self, state: StrategyState) -> Result<()> {
        if state.matrices.is_empty() && state.counters.is_empty() && state.optimizers.is_empty() {
            Ok(())
        } else {
            Err(crate::error::MlaError::Checkpoint(
                "it holds method state this method does not have".into(),
            ))
        }
    }
}
