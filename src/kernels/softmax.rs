//! Attention weights at inference on the CPU backend: scale, padding mask and softmax
//! in one pass over the scores, where they lie.
//!
//! `p[b, h, i, j] = softmax_j(s[b, h, i, j] * scale + mask[b, j])`. Burn runs the
//! scale, the broadcast mask and the softmax as three passes, each into a new tensor.
//! Training (autodiff) and other devices run Burn's operations.

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, backend_extension};
use burn::tensor::activation::softmax;
use burn::tensor::{DType, Tensor};

use super::{dims4, elementwise, math, ours};

/// Scaled, masked softmax over the last axis.
#[backend_extension(Flex)]
pub trait SoftmaxKernels: Backend {
    /// `scores [B, H, L, K]`, `mask [B, K]` (added after the scale) -> `[B, H, L, K]`.
    fn attention_softmax(
        scores: FloatTensor<Self>,
        scale: f32,
        mask: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        reference::<Self>(scores, scale, mask)
    }
}

/// Burn's operations: `softmax(scores * scale + mask[:, None, None, :], 3)`.
fn reference<B: Backend>(
    scores: FloatTensor<B>,
    scale: f32,
    mask: FloatTensor<B>,
) -> FloatTensor<B> {
    let [b, _, _, k] = dims4(&scores);
    let mask = B::float_reshape(mask, [b, 1, 1, k].into());
    let scaled = B::float_mul_scalar(scores, scale.into());
    B::softmax(B::float_add(scaled, mask), 3)
}

impl SoftmaxKernels for Flex {
    fn attention_softmax(
        scores: FloatTensor<Self>,
        scale: f32,
        mask: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let [b, h, l, k] = dims4(&scores);
        let mask = mask.to_contiguous();
        let usable = scores.dtype() == DType::F32
            && mask.as_slice::<f32>().is_some_and(|m| m.len() == b * k)
            && k > 0;
        if !usable {
            return reference::<Self>(scores, scale, mask);
        }
        let m = mask.as_slice::<f32>().expect("checked");
        let rows_per_sample = h * l;
        let apply = |values: &mut [f32]| {
            math::for_planes(
                values,
                k,
                #[inline(always)]
                |row, p| softmax_row(p, scale, &m[(row / rows_per_sample) * k..][..k]),
            )
        };
        elementwise::in_place_or_copy(scores, apply)
            .unwrap_or_else(|s| reference::<Self>(s, scale, mask.clone()))
    }
}

/// One row: `p_j = exp(v_j - max v) / Σ exp(v - max v)`, `v_j = s_j * scale + mask_j`;
/// exactly 0 where `v_j - max v` is below `exp`'s range (a masked key).
#[inline(always)]
fn softmax_row(row: &mut [f32], scale: f32, mask: &[f32]) {
    for (v, &m) in row.iter_mut().zip(mask) {
        *v = *v * scale + m;
    }
    let max = math::max(row);
    for v in row.iter_mut() {
        let d = *v - max;
        *v = if d < -87.0 { 0.0 } else { math::exp(d) };
    }
    let inv = 1.0 / math::sum(row);
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// Attention weights `softmax(scores * scale + mask)` over the last axis, `scores [B, H,
/// L, K]`, `mask [B, K]` (0 to keep a key, a large negative number to leave it out):
/// ours at inference on the CPU backend, Burn's elsewhere.
pub fn attention_softmax(scores: Tensor<4>, scale: f32, mask: Tensor<2>) -> Tensor<4> {
    let device = scores.device();
    if !ours(&device) || device.is_autodiff() {
        let [b, k] = mask.dims();
        return softmax(scores.mul_scalar(scale) + mask.reshape([b, 1, 1, k]), 3);
    }
    Tensor::from_dispatch(
        <burn::backend::Dispatch as SoftmaxKernels>::attention_softmax(
            scores.into_dispatch(),
            scale,
            mask.into_dispatch(),
        ),
    )
}
