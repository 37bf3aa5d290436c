//! Joint training of a fused head with one loss: the Concat, Sum, FiLM and BiGated
//! baselines (they differ in the head, [`HeadLayout`]).

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;

use super::strategy::{Strategy, TrainBatch, mean_ce};
use crate::data::Batch;
use crate::error::Result;
use crate::model::{HeadLayout, MultimodalModel};

/// All encoders and the fused head are trained together on one cross-entropy loss of
/// the fused logits: the setting in which modality laziness appears.
pub struct Joint {
    layout: HeadLayout,
}

impl Joint {
    /// Joint training of the fused head `layout`.
    pub fn new(layout: HeadLayout) -> Self {
        Self { layout }
    }
}

impl Strategy for Joint {
    fn head_layout(&self) -> HeadLayout {
        self.layout
    }

    fn loss_names(&self, _modalities: &[String]) -> Vec<String> {
        vec!["joint".into()]
    }

    fn train_batch(
        &mut self,
        model: MultimodalModel,
        batch: &TrainBatch<'_>,
        optimizer: &mut ModuleOptimizer,
        lr: f64,
    ) -> Result<(MultimodalModel, Vec<Option<Tensor<1>>>)> {
        let b = Batch::gather(batch.data, batch.indices, batch.device);
        let logits = model.head.fused_logits(model.all_features(&b)?, &b.present);
        let loss = mean_ce(logits, b.labels, batch.label_smoothing);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let model = optimizer.step(lr, model, grads);
        Ok((model, vec![Some(loss.detach().inner())]))
    }
}
