//! A residual sum and its layer norm at inference on the CPU backend, as one pass per
//! row where the sum's first operand lies.
//!
//! `y = γ (v - μ) / √(σ² + ε) + β`, `v = x + r`, with `μ`, `σ²` (biased) over the last
//! axis: a transformer's `norm(sublayer(x) + x)`. Burn adds `x + r` into a new tensor,
//! then normalises it into another. Training (autodiff) and other devices run Burn's
//! operations.

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, TensorMetadata, backend_extension};
use burn::nn::LayerNorm;
use burn::tensor::{DType, Tensor};

use super::{elementwise, math, ours};

/// Layer norm of a sum.
#[backend_extension(Flex)]
pub trait LayerNormKernels: Backend {
    /// `x [.., d]`, `residual` of `x`'s shape, `gamma [d]`, `beta [d]` (zeros for a norm
    /// without one) -> `[.., d]`.
    fn add_layer_norm(
        x: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        burns::<Self>(x, residual, gamma, Some(beta), epsilon)
    }
}

/// Burn's operations: `layer_norm(x + residual)`.
fn burns<B: Backend>(
    x: FloatTensor<B>,
    residual: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: Option<FloatTensor<B>>,
    epsilon: f64,
) -> FloatTensor<B> {
    B::layer_norm(B::float_add(x, residual), gamma, beta, epsilon)
}

impl LayerNormKernels for Flex {
    fn add_layer_norm(
        x: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        let d = x.shape().iter().last().copied().unwrap_or(0);
        let (residual, gamma, beta) = (
            residual.to_contiguous(),
            gamma.to_contiguous(),
            beta.to_contiguous(),
        );
        let vector = |t: &FloatTensor<Self>| t.as_slice::<f32>().is_some_and(|v| v.len() == d);
        let usable = x.dtype() == DType::F32
            && d > 0
            && x.shape() == residual.shape()
            && residual.as_slice::<f32>().is_some()
            && vector(&gamma)
            && vector(&beta);
        if !usable {
            return burns::<Self>(x, residual, gamma, Some(beta), epsilon);
        }
        let r = residual.as_slice::<f32>().expect("checked");
        let g = gamma.as_slice::<f32>().expect("checked");
        let b = beta.as_slice::<f32>().expect("checked");
        elementwise::in_place_or_copy(
            x,
            d,
            #[inline(always)]
            |row, v| norm_row(v, &r[row * d..][..d], g, b, epsilon as f32),
        )
        .unwrap_or_else(|x| burns::<Self>(x, residual.clone(), gamma, Some(beta), epsilon))
    }
}

/// One row in place: `v = v + r`, then `γ (v - μ) / √(σ² + ε) + β`.
#[inline(always)]
fn norm_row(v: &mut [f32], r: &[f32], gamma: &[f32], beta: &[f32], epsilon: f32) {
    for (v, &r) in v.iter_mut().zip(r) {
        *v += r;
    }
    let n = v.len() as f32;
    let mean = math::sum(v) / n;
    for v in v.iter_mut() {
        *v -= mean;
    }
    let variance = math::dot(v, v) / n;
    let inv = 1.0 / (variance + epsilon).sqrt();
    for ((v, &g), &b) in v.iter_mut().zip(gamma).zip(beta) {
        *v = *v * inv * g + b;
    }
}

/// `norm.forward(x + residual)` with `norm`'s `epsilon` (which Burn keeps private):
/// ours at inference on the CPU backend, Burn's elsewhere.
pub fn add_layer_norm<const D: usize>(
    norm: &LayerNorm,
    epsilon: f64,
    x: Tensor<D>,
    residual: Tensor<D>,
) -> Tensor<D> {
    let device = x.device();
    if !ours(&device) || device.is_autodiff() {
        return norm.forward(x + residual);
    }
    Tensor::from_dispatch(
        <burn::backend::Dispatch as LayerNormKernels>::add_layer_norm(
            x.into_dispatch(),
            residual.into_dispatch(),
            norm.gamma.val().into_dispatch(),
            match &norm.beta {
                Some(b) => b.val().into_dispatch(),
                None => Tensor::<1>::zeros(norm.gamma.dims(), &device).into_dispatch(),
            },
            epsilon,
        ),
    )
}
