//! The joint (Concat) baseline: concatenated features, one head, one loss.

use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};

use super::strategy::{Strategy, TrainBatch};
use crate::data::Batch;
use crate::error::Result;
use crate::model::{HeadLayout, MultimodalModel};

/// All encoders and the `M*s -> C` head are trained together on one cross-entropy
/// loss: the setting in which modality laziness appears.
pub struct Joint {
    loss: CrossEntropyLoss,
}

impl Joint {
    /// The joint baseline on `device`.
    pub fn new(device: &Device) -> Self {
        Self {
            loss: CrossEntropyLossConfig::new().init(device),
        }
    }
}

impl Strategy for Joint {
    fn head_layout(&self) -> HeadLayout {
        HeadLayout::Concat
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
        let features = (0..model.num_modalities())
            .map(|m| model.features(m, &b.inputs[m]))
            .collect::<Result<Vec<_>>>()?;
        let logits = model.concat_logits(features, &b.present);
        let loss = self.loss.forward(logits, b.labels);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let model = optimizer.step(lr, model, grads);
        Ok((model, vec![Some(loss.detach().inner())]))
    }
}
