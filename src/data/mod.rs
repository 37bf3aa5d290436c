//! Data: modalities, samples with missing-modality masks, splits, and batching.
//!
//! Data enters the core as in-memory values (no file system here), so the same code
//! serves the browser and the command line.

mod batch;
mod dataset;
pub mod synthetic;

pub use batch::{Batch, EncoderInput, labels};
pub use dataset::{Dataset, InputKind, ModalityData, Splits};
pub use synthetic::{SyntheticConfig, SyntheticKind, SyntheticModality};
