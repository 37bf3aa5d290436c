//! Training: the methods (one file each), head gradient modification, and the loop the
//! front ends drive step by step.

mod alternating;
mod checkpoint;
mod hgm;
mod imputation;
mod joint;
mod late;
mod ogm;
mod optimizer;
mod qmf;
mod settings;
mod sgd;
mod strategy;
mod trainer;

pub use alternating::{Alternating, MlaConfig};
pub use checkpoint::checksum_note as checkpoint_checksum_note;
pub use hgm::{HeadGradientModifier, HgmConfig, ProjectWith};
pub use imputation::{
    Imputation, ImputationLosses, ImputeConfig, imputation_losses, shown_modalities,
};
pub use joint::Joint;
pub use late::Late;
pub use ogm::{OgmConfig, OgmGe, coefficients as ogm_coefficients, scores as ogm_scores};
pub use optimizer::{OptimizerConfig, OptimizerKind, build_optimizer};
pub use qmf::{Qmf, QmfConfig, rank_loss as qmf_rank_loss};
pub use settings::{Method, TEXT_LABEL_SMOOTHING, TrainConfig};
pub use strategy::{Strategy, StrategyState, TrainBatch, masked_mean, mean_ce, per_sample_ce};
pub use trainer::{EpochMetrics, Trainer};
