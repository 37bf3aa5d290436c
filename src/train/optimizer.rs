//! Building the configured optimizer.

use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer, SgdConfig};

use crate::config::{OptimizerConfig, OptimizerKind};

/// The optimizer of `config`. Parameters without a gradient in a step (other
/// modalities' encoders in an MLA step) are left exactly as they are: no momentum or
/// weight-decay drift.
pub fn build_optimizer(config: &OptimizerConfig) -> ModuleOptimizer {
    let decay =
        (config.weight_decay > 0.0).then(|| WeightDecayConfig::new(config.weight_decay as f32));
    match config.kind {
        OptimizerKind::Sgd => SgdConfig::new()
            .with_momentum((config.momentum > 0.0).then_some(MomentumConfig {
                momentum: config.momentum,
                dampening: 0.0,
                nesterov: false,
            }))
            .with_weight_decay(decay)
            .init(),
        OptimizerKind::Adam => AdamConfig::new().with_weight_decay(decay).init(),
        OptimizerKind::Adamw => AdamWConfig::new()
            .with_weight_decay(config.weight_decay as f32)
            .init(),
    }
}
