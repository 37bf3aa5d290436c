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
mod strategy;
mod trainer;

pub use alternating::Alternating;
pub use checkpoint::checksum_note as checkpoint_checksum_note;
pub use hgm::HeadGradientModifier;
pub use imputation::{Imputation, ImputationLosses, imputation_losses, shown_modalities};
pub use joint::Joint;
pub use late::Late;
pub use ogm::{OgmGe, coefficients as ogm_coefficients, scores as ogm_scores};
pub use optimizer::build_optimizer;
pub use qmf::{Qmf, rank_loss as qmf_rank_loss};
pub use strategy::{Strategy, StrategyState, TrainBatch, masked_mean, mean_ce, per_sample_ce};
pub use trainer::{EpochMetrics, Trainer};
