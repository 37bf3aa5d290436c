//! Our own kernels for Burn's CPU backend, added through Burn's backend extension
//! where a Burn operation is slow there; other backends run Burn's operations.

pub mod adaptive_pool;
pub mod attention;
pub mod batch_norm;
pub mod channel_bias;
pub mod conv2d;
mod depthwise;
pub mod direct;
mod elementwise;
pub mod gelu;
mod gemm;
mod geometry;
pub mod implicit;
pub mod layer_norm;
pub mod linear;
pub mod math;
pub mod max_pool;
mod phases;
pub mod relu;
mod scratch;
pub mod sgd;
mod simd;

pub use adaptive_pool::adaptive_avg_pool2d;
pub use attention::attention;
pub use batch_norm::{Activation, batch_norm};
pub use channel_bias::add_channel_bias;
pub use conv2d::{conv2d, forward as conv2d_forward};
pub use gelu::gelu;
pub use layer_norm::add_layer_norm;
pub use linear::{linear, linear_gelu};
pub use max_pool::max_pool2d;
pub use relu::{add_relu, relu};
pub use sgd::sgd_step;

use burn::backend::{DispatchDevice, TensorMetadata};
use burn::nn::PaddingConfig2d;
use burn::tensor::Device;

/// Whether `device` runs our kernels (the CPU backend, with or without autodiff).
fn ours(device: &Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        DispatchDevice::Flex(_)
    )
}

/// Dims of a 4-D tensor.
fn dims4<T: TensorMetadata>(t: &T) -> [usize; 4] {
    let s = t.shape();
    [s[0], s[1], s[2], s[3]]
}

/// `padding` as `(before, after)` pairs for rows and columns of an `[h, w]` input, with
/// Burn's `PaddingConfig2d` semantics (its own helper is private to burn-nn).
fn padding_pairs(
    padding: &PaddingConfig2d,
    kernel: [usize; 2],
    stride: [usize; 2],
    [h, w]: [usize; 2],
) -> [(usize, usize); 2] {
    let same = |k: usize, s: usize, n: usize| {
        let total = ((n.div_ceil(s.max(1))).saturating_sub(1) * s + k).saturating_sub(n);
        (total / 2, total - total / 2)
    };
    match *padding {
        PaddingConfig2d::Valid => [(0, 0), (0, 0)],
        PaddingConfig2d::Same => [same(kernel[0], stride[0], h), same(kernel[1], stride[1], w)],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
    }
}

/// Windows of `kernel` taps `dilation` apart, `stride` apart, along an axis of `len`
/// padded by `(before, after)`: how many fit, `None` when none does.
fn output_len(
    len: usize,
    (before, after): (usize, usize),
    kernel: usize,
    stride: usize,
    dilation: usize,
) -> Option<usize> {
    let span = dilation * (kernel.max(1) - 1) + 1;
    (len + before + after)
        .checked_sub(span)
        .map(|room| room / stride.max(1) + 1)
}
