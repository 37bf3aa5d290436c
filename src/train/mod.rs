//! Training: the methods (one file each), head gradient modification, and the loop the
//! front ends drive step by step.

mod alternating;
mod checkpoint;
mod hgm;
mod joint;
mod optimizer;
mod strategy;
mod trainer;

pub use alternating::Alternating;
pub use hgm::HeadGradientModifier;
pub use joint::Joint;
pub use optimizer::build_optimizer;
pub use strategy::{Strategy, StrategyState, TrainBatch};
pub use trainer::{EpochMetrics, Trainer};
