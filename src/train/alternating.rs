//! MLA's alternating unimodal adaptation (Eq. 1-2) with HGM.

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Bytes, Device, Tensor};
use serde::{Deserialize, Serialize};

use super::hgm::{HeadGradientModifier, HgmConfig};
use super::optimizer::{OptimizerConfig, build_optimizer};
use super::settings::invalid;
use super::strategy::{Strategy, StrategyState, TrainBatch, mean_ce};
use crate::data::{EncoderInput, labels};
use crate::error::{MlaError, Result};
use crate::model::head::SharedHead;
use crate::model::{Head, HeadLayout, MultimodalModel};

/// How MLA's head is kept: the ablation of issue 16. The defaults are the paper's
/// method (one shared head, one optimizer, one learning rate).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MlaConfig {
    /// A head per modality instead of the shared one, each trained in its modality's
    /// step: alternating Late fusion (HGM has nothing to protect there and is off).
    pub head_per_modality: bool,
    /// The shared head's learning rate divided by the number of modalities `M` (it
    /// takes `M` steps per batch where each encoder takes one).
    pub head_lr_divided: bool,
    /// The shared head's optimizer state (momentum, Adam's moments) kept per modality,
    /// so one modality's step carries nothing of another's.
    pub head_state_per_modality: bool,
    /// The shared head's weight with a bias per modality instead of one shared bias.
    pub bias_per_modality: bool,
    /// Before fusion, each modality's logits divided by a temperature fitted on the
    /// validation split ([`crate::calibration`]), refitted every epoch and kept with
    /// the model.
    pub calibrate: bool,
}

impl MlaConfig {
    /// Checks every field; errors name the field.
    pub fn validate(&self) -> Result<()> {
        if self.head_per_modality
            && (self.head_lr_divided || self.head_state_per_modality || self.bias_per_modality)
        {
            return invalid(
                "mla.head_per_modality",
                "with a head per modality there is no shared head for head_lr_divided, \
                 head_state_per_modality or bias_per_modality to act on",
            );
        }
        Ok(())
    }
}

/// Each batch, each modality in turn takes its own forward, backward and optimizer
/// step through its encoder and the shared head. Only that encoder and the head get
/// gradients, so only they change.
pub struct Alternating {
    order: Vec<usize>,
    hgm: Option<HeadGradientModifier>,
    options: MlaConfig,
    /// With `head_state_per_modality`: modality `m`'s optimizer for the shared head.
    head_optimizers: Vec<ModuleOptimizer>,
    optimizer: OptimizerConfig,
}

impl Alternating {
    /// `order`: the modality sequence within a batch; `hgm`: `None` or its settings,
    /// with `P` of a head reading `feature_dim` features kept on `device` (plain).
    pub fn new(order: Vec<usize>, hgm: &HgmConfig, feature_dim: usize, device: &Device) -> Self {
        Self::with_options(
            order,
            hgm,
            &MlaConfig::default(),
            &OptimizerConfig::default(),
            feature_dim,
            device,
        )
    }

    /// [`Alternating::new`] with the head options of `options` (`optimizer` builds the
    /// per-modality head optimizers when they are asked for).
    pub fn with_options(
        order: Vec<usize>,
        hgm: &HgmConfig,
        options: &MlaConfig,
        optimizer: &OptimizerConfig,
        feature_dim: usize,
        device: &Device,
    ) -> Self {
        let head_optimizers = if options.head_state_per_modality {
            order.iter().map(|_| build_optimizer(optimizer)).collect()
        } else {
            Vec::new()
        };
        Self {
            hgm: (hgm.enabled && !options.head_per_modality)
                .then(|| HeadGradientModifier::new(hgm, feature_dim, device)),
            order,
            options: options.clone(),
            head_optimizers,
            optimizer: optimizer.clone(),
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
        let logits = model.unimodal_logits(modality, features.clone());
        let loss = mean_ce(
            logits,
            labels(batch.data, &idx, batch.device),
            batch.label_smoothing,
        );
        let mut all = loss.backward();
        // Encoder `modality`, the shared head and the layers beside it step on their
        // own: the other encoders have no gradient, and walking them (gradient lookup,
        // optimizer) costs as much as the step itself on small models.
        let MultimodalModel {
            mut encoders,
            head,
            layout,
            temperatures,
        } = model;
        let encoder = encoders.remove(modality);
        let encoder_grads = GradientsParams::from_module(&mut all, &encoder);
        encoders.insert(modality, optimizer.step(lr, encoder, encoder_grads));
        let head = match head {
            Head::Shared(SharedHead { linear, biases }) => {
                let mut head_grads = GradientsParams::from_module(&mut all, &linear);
                if let Some(hgm) = self.hgm.as_mut() {
                    let h_mean = features.detach().mean_dim(0).squeeze_dim::<1>(0).inner();
                    hgm.apply(&mut head_grads, &linear, h_mean);
                }
                // Per-modality biases step once per batch, at the full rate.
                let biases = if biases.is_empty() {
                    biases
                } else {
                    let grads = GradientsParams::from_module(&mut all, &biases);
                    optimizer.step(lr, biases, grads)
                };
                // The shared head steps once per modality: its rate is divided when asked.
                let head_lr = if self.options.head_lr_divided {
                    lr / self.order.len() as f64
                } else {
                    lr
                };
                let head_optimizer = match self.head_optimizers.get_mut(modality) {
                    Some(own) => own,
                    None => optimizer,
                };
                let linear = head_optimizer.step(head_lr, linear, head_grads);
                Head::Shared(SharedHead { linear, biases })
            }
            // A head per modality: only this modality's has a gradient.
            Head::PerModality(heads) => {
                let grads = GradientsParams::from_module(&mut all, &heads);
                Head::PerModality(optimizer.step(lr, heads, grads))
            }
            _ => {
                return Err(MlaError::Model(
                    "MLA trains a shared head or a head per modality, and this model has \
                     another head"
                        .into(),
                ));
            }
        };
        let model = MultimodalModel {
            encoders,
            head,
            layout,
            temperatures,
        };
        Ok((model, Some(loss.detach().inner())))
    }
}

impl Strategy for Alternating {
    fn head_layout(&self) -> HeadLayout {
        if self.options.head_per_modality {
            HeadLayout::Unshared
        } else if self.options.bias_per_modality {
            HeadLayout::SharedWeight
        } else {
            HeadLayout::Shared
        }
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

    fn state(&self) -> Result<StrategyState> {
        let optimizers = self
            .head_optimizers
            .iter()
            .map(|o| {
                o.into_bytes()
                    .map(|b| b.to_vec())
                    .map_err(|e| MlaError::Checkpoint(format!("a head optimizer: {e}")))
            })
            .collect::<Result<_>>()?;
        Ok(match &self.hgm {
            Some(h) => StrategyState {
                matrices: vec![h.projection().matrix().clone()],
                counters: vec![h.steps()],
                optimizers,
            },
            None => StrategyState {
                optimizers,
                ..StrategyState::default()
            },
        })
    }

    fn restore(&mut self, state: StrategyState) -> Result<()> {
        if state.optimizers.len() != self.head_optimizers.len() {
            return Err(MlaError::Checkpoint(
                "its head optimizers do not match this run's head_state_per_modality".into(),
            ));
        }
        self.head_optimizers = state
            .optimizers
            .into_iter()
            .map(|bytes| {
                build_optimizer(&self.optimizer)
                    .from_bytes(Bytes::from_bytes_vec(bytes))
                    .map_err(|e| MlaError::Checkpoint(format!("a head optimizer: {e}")))
            })
            .collect::<Result<_>>()?;
        match (&mut self.hgm, &state.matrices[..], &state.counters[..]) {
            (Some(h), [p], [steps]) => h.restore(p.clone(), *steps),
            (None, [], []) => Ok(()),
            _ => Err(MlaError::Checkpoint(
                "its HGM state does not match this run's HGM setting".into(),
            )),
        }
    }
}
