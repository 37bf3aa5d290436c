//! Late fusion: independent unimodal models (an encoder and a head each), trained on
//! their own losses; the fused prediction is the mean of their outputs.

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;

use super::strategy::{Strategy, TrainBatch, masked_mean, per_sample_ce};
use crate::data::Batch;
use crate::error::Result;
use crate::model::{HeadLayout, MultimodalModel};

/// Each modality's encoder and head learn from that modality's cross-entropy only;
/// the losses share no parameter, so one backward pass of their sum is M independent
/// ones.
#[derive(Default)]
pub struct Late;

impl Late {
    pub fn new() -> Self {
        Self
    }
}

/// Each modality's mean cross-entropy (label `smoothing`) over the batch samples that
/// have it: `M x [1]`.
pub(crate) fn unimodal_losses(logits: &[Tensor<2>], b: &Batch, smoothing: f64) -> Vec<Tensor<1>> {
    let [m, n] = b.present.dims();
    (0..m)
        .map(|k| {
            let mask = b.present.clone().narrow(0, k, 1).reshape([n]);
            masked_mean(
                per_sample_ce(logits[k].clone(), b.labels.clone(), smoothing),
                mask,
            )
        })
        .collect()
}

impl Strategy for Late {
    fn head_layout(&self) -> HeadLayout {
        HeadLayout::Late
    }

    fn loss_names(&self, modalities: &[String]) -> Vec<String> {
        modalities.to_vec()
    }

    fn train_batch(
        &mut self,
        model: MultimodalModel,
        batch: &TrainBatch<'_>,
        optimizer: &mut ModuleOptimizer,
        lr: f64,
    ) -> Result<(MultimodalModel, Vec<Option<Tensor<1>>>)> {
        let b = Batch::gather(batch.data, batch.indices, batch.device);
        let (logits, _) = model
            .head
            .per_modality("late fusion")?
            .logits_and_weights(model.all_features(&b)?, &b.present);
        let losses = unimodal_losses(&logits, &b, batch.label_smoothing);
        let total = losses.iter().cloned().reduce(|a, l| a + l).expect("M >= 2");
        let grads = GradientsParams::from_grads(total.backward(), &model);
        let model = optimizer.step(lr, model, grads);
        let any = |k: usize| {
            batch
                .indices
                .iter()
                .any(|&i| batch.data.modalities[k].present[i])
        };
        let reported = losses
            .into_iter()
            .enumerate()
            .map(|(k, l)| any(k).then(|| l.detach().inner()))
            .collect();
        Ok((model, reported))
    }
}
