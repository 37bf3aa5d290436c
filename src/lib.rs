//! # mla
//!
//! MLA — *Multimodal Representation Learning by Alternating Unimodal Adaptation*
//! (Zhang et al., CVPR 2024) — on Burn, for native and browser (WebGPU) front ends.
//!
//! - [`data`]: modalities, masks, splits, the built-in synthetic data.
//! - [`model`]: per-modality encoders and one shared linear head.
//! - [`projection`]: the RLS projection of head gradient modification (HGM).
//! - [`fusion`]: test-time entropy fusion.
//! - [`train`]: the alternating trainer (MLA), the joint baseline, the driven loop.
//! - [`eval`]: unimodal and fused accuracy.
//! - [`modality_gap`]: the distance between modalities' normalised features.
//! - [`io`]: model files as bytes.
//! - [`limits`]: upper bounds on every size read from a file or an option.
//! - [`site`]: a web site for a model (the widget, the model, an example page) as a zip.

pub mod calibration;
pub mod config;
pub mod data;
pub mod device;
pub mod error;
pub mod eval;
pub mod fusion;
pub mod io;
pub mod kernels;
pub mod limits;
pub mod modality_gap;
pub mod model;
pub mod predict;
pub mod projection;
pub mod rng;
pub mod site;
pub mod train;

pub use config::{
    HgmConfig, Method, MlaConfig, OptimizerConfig, OptimizerKind, ProjectWith, RunConfig,
    TrainConfig,
};
pub use device::Backend;
pub use error::{MlaError, Result};
pub use eval::EvalReport;
pub use fusion::Fusion;
pub use train::{EpochMetrics, Trainer};

/// Re-exported so that front ends use the same Burn as the core.
pub use burn;
