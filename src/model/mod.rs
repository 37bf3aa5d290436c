//! Models: one encoder per modality, one linear head shared by all of them.
//!
//! `f_m = g ∘ h_m`: encoder `h_m` maps modality `m` to an `s`-dimensional feature and
//! the head `g` maps features to `C` logits.

mod cnn;
mod encoder;
pub mod head;
mod mlp;
mod multimodal;
pub mod pretrained;
mod resnet;
mod text;

pub use cnn::{CnnEncoder, CnnEncoderConfig};
pub use encoder::{Encoder, EncoderConfig};
pub use head::{ENERGY_SCALE, Head, HeadLayout, energy_confidence, imputation, weighted_sum};
pub use mlp::{MlpEncoder, MlpEncoderConfig};
pub use multimodal::{ModelConfig, ModelSpec, MultimodalModel, Networks};
pub use resnet::{BasicBlock, Resnet18, Resnet18Config};
pub use text::{TextEncoder, TextEncoderConfig};

use std::sync::Mutex;

use burn::tensor::Device;

/// Runs `init` with the backend's RNG seeded by `seed`.
///
/// Burn's RNG may be global to the backend, so initialisations are serialised: two
/// models built at once from different threads still get their own seeds.
pub(crate) fn seeded<T>(device: &Device, seed: u64, init: impl FnOnce() -> T) -> T {
    static INIT: Mutex<()> = Mutex::new(());
    let _guard = INIT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    device.seed(seed);
    init()
}
