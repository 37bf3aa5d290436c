//! MLA's alternating unimodal adaptation (Eq. 1-2) with HGM.

use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};

use super::hgm::HeadGradientModifier;
use super::strategy::{Strategy, StrategyState, TrainBatch};
use crate::config::HgmConfig;
use crate::data::{EncoderInput, labels};
use crate::error::{MlaError, Result};
use crate::model::{HeadLayout, MultimodalModel};

/// Each batch, each modality in turn takes its own forward, backward and optimizer
/// step through its encoder and the shared head. Only that encoder and the head get
/// gradients, so only they change.
pub struct Alternating {
    order: Vec<usize>,
    hgm: Option<HeadGradientModifier>,
    loss: CrossEntropyLoss,
}

impl Alternating {
    /// `order`: the modality sequence within a batch; `hgm`: `None` or its settings,
    /// with `P` of a head reading `feature_dim` features kept on `device` (plain).
    pub fn new(order: Vec<usize>, hgm: &HgmConfig, feature_dim: usize, device: &Device) -> Self {
        Self {
            order,
            hgm: hgm
                .enabled
                .then(|| HeadGradientModifier::new(hgm, feature_dim, device)),
            loss: CrossEntropyLossConfig::new().init(device),
        }
    }

    /// The head gradient modifier, when HGM is on.
    pub fn hgm(&self) -> Option<&HeadGradientModifier> {
        self.hgm.as_ref()
    }

    /// One modality's step (Eq. 2) on the batch samples that have that modality.
    /// Returns the model unchanged and no loss when none has it.
    pub fn modality_step(
        &mut self,
        model: MultimodalModel,
        modality: usize,
        batch: &TrainBatch<'_>,
        optimizer: &mut ModuleOptimizer,
        lr: f64,
    ) -> Result<(MultimodalModel, Option<Tensor<1>>)> {
        let present = &batch.data.modalities[modality].present;
        let idx: Vec<usize> = batch
            .indices
            .iter()
            .copied()
            .filter(|&i| present[i])
            .collect();
        if idx.is_empty() {
            return Ok((model, None));
        }
        let input = EncoderInput::gather(batch.data, modality, &idx, batch.device);
        let features = model.features(modality, &input)?; // [B_m, s]
        let logits = model.head.forward(features.clone());
        let loss = self
            .loss
            .forward(logits, labels(batch.data, &idx, batch.device));
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        if let Some(hgm) = self.hgm.as_mut() {
            let h_mean = features.detach().mean_dim(0).squeeze_dim::<1>(0).inner();
            hgm.apply(&mut grads, &model.head, h_mean);
        }
        let model = optimizer.step(lr, model, grads);
        Ok((model, Some(loss.detach().inner())))
    }
}

impl Strategy for Alternating {
    fn head_layout(&self) -> HeadLayout {
        HeadLayout::Shared
    }

    fn loss_names(&self, modalities: &[String]) -> Vec<String> {
        modalities.to_vec()
    }

    fn train_batch(
        &mut self,
        mut model: MultimodalModel,
        batch: &TrainBatch<'_>,
        optimizer: &mut ModuleOptimizer,
        lr: f64,
    ) -> Result<(MultimodalModel, Vec<Option<Tensor<1>>>)> {
        let mut losses = vec![None; model.num_modalities()];
        for m in self.order.clone() {
            let (next, loss) = self.modality_step(model, m, batch, optimizer, lr)?;
            model = next;
            losses[m] = loss;
        }
        Ok((model, losses))
    }

    fn state(&self) -> StrategyState {
        match &self.hgm {
            Some(h) => StrategyState {
                matrices: vec![h.projection().matrix().clone()],
                counters: vec![h.steps()],
            },
            None => StrategyState::default(),
        }
    }

    fn restore(&mut self, state: StrategyState) -> Result<()> {
        match (&mut self.hgm, &state.matrices[..], &state.counters[..]) {
            (Some(h), [p], [steps]) => h.restore(p.clone(), *steps),
            (None, [], []) => Ok(()),
            _ => Err(MlaError::Checkpoint(
                "its HGM state does not match this run's HGM setting".into(),
            )),
        }
    }
}
