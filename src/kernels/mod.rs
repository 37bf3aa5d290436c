//! Our own kernels for Burn's CPU backend, added through Burn's backend extension
//! where a Burn operation is slow there; other backends run Burn's operations.

pub mod adaptive_pool;
pub mod batch_norm;
pub mod conv2d;
mod depthwise;
mod elementwise;
pub mod gelu;
pub mod math;
pub mod max_pool;
mod scratch;

pub use adaptive_pool::adaptive_avg_pool2d;
pub use batch_norm::{Activation, batch_norm};
pub use conv2d::{conv2d, forward as conv2d_forward};
pub use gelu::gelu;
pub use max_pool::max_pool2d;

use burn::backend::DispatchDevice;
use burn::tensor::Device;

/// Whether `device` runs our kernels (the CPU backend, with or without autodiff).
fn ours(device: &Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        DispatchDevice::Flex(_)
    )
}
