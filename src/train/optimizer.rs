//! Building the configured optimizer.

use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer};
use serde::{Deserialize, Serialize};

use super::settings::invalid;
use super::sgd::Sgd;
use crate::error::Result;

/// Optimizer family.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// SGD with momentum and L2 weight decay (the paper's choice).
    #[default]
    Sgd,
    /// Adam with L2 weight decay.
    Adam,
    /// AdamW (decoupled weight decay).
    Adamw,
}

/// Optimizer and learning-rate schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerConfig {
    pub kind: OptimizerKind,
    /// Initial learning rate.
    pub lr: f64,
    /// SGD momentum (ignored by Adam/AdamW).
    pub momentum: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// Multiply the learning rate by `lr_decay` every this many epochs.
    pub lr_decay_every: usize,
    /// Step-decay factor.
    pub lr_decay: f64,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            kind: OptimizerKind::Sgd,
            lr: 1e-3,
            momentum: 0.9,
            weight_decay: 1e-4,
            lr_decay_every: 70,
            lr_decay: 0.1,
        }
    }
}

impl OptimizerConfig {
    /// Checks every field; errors name the field.
    pub fn validate(&self) -> Result<()> {
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return invalid("optimizer.lr", "must be a finite number > 0");
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return invalid("optimizer.momentum", "must be in [0, 1)");
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return invalid("optimizer.weight_decay", "must be a finite number >= 0");
        }
        if self.lr_decay_every == 0 {
            return invalid("optimizer.lr_decay_every", "must be at least 1");
        }
        if !(self.lr_decay > 0.0 && self.lr_decay <= 1.0) {
            return invalid("optimizer.lr_decay", "must be in (0, 1]");
        }
        Ok(())
    }

    /// Learning rate during `epoch` (0-based): step decay.
    pub fn lr_at(&self, epoch: usize) -> f64 {
        self.lr * self.lr_decay.powi((epoch / self.lr_decay_every) as i32)
    }
}

/// The optimizer of `config`. Parameters without a gradient in a step (other
/// modalities' encoders in an MLA step) are left exactly as they are: no momentum or
/// weight-decay drift.
pub fn build_optimizer(config: &OptimizerConfig) -> ModuleOptimizer {
    let decay =
        (config.weight_decay > 0.0).then(|| WeightDecayConfig::new(config.weight_decay as f32));
    match config.kind {
        OptimizerKind::Sgd => ModuleOptimizer::from(Sgd {
            momentum: config.momentum as f32,
            weight_decay: config.weight_decay as f32,
        }),
        OptimizerKind::Adam => AdamConfig::new().with_weight_decay(decay).init(),
        OptimizerKind::Adamw => AdamWConfig::new()
            .with_weight_decay(config.weight_decay as f32)
            .init(),
    }
}
