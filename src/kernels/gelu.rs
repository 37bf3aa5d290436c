//! GELU on the CPU backend with a vectorised normal CDF.
//!
//! `GELU(x) = x Φ(x)`, `GELU'(x) = Φ(x) + x φ(x)`. Burn's CPU backend computes `Φ` with
//! libm's scalar `erff`, which took a sixth of MiniLM's feature extraction; here `Φ` is
//! [`math::normal_cdf`], a loop the compiler vectorises. Forward and backward are a
//! backend extension ([`burn::backend::backend_extension`]) with their own backward for
//! `Autodiff`; other devices run Burn's `gelu`.

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::ops::ActivationOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension};
use burn::tensor::Tensor;

use super::{elementwise, math, ours};

/// `1 / √(2π)`.
const INV_SQRT_2PI: f32 = 0.398_942_3;

/// GELU with our backward.
#[backend_extension(Flex, Autodiff)]
pub trait GeluKernels: Backend {
    /// `x -> GELU(x)`, element-wise, any shape.
    fn gelu_ours(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::gelu(x)
    }

    /// `grad * GELU'(x)`, element-wise (`x` and `grad` of one shape).
    fn gelu_grad(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::gelu_backward(x, grad)
    }
}

impl GeluKernels for Flex {
    fn gelu_ours(x: FloatTensor<Self>) -> FloatTensor<Self> {
        elementwise::unary(x, value).unwrap_or_else(Self::gelu)
    }

    fn gelu_grad(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        elementwise::binary(&x, &grad, |x, g| {
            g * (math::normal_cdf(x) + x * INV_SQRT_2PI * math::exp(-0.5 * x * x))
        })
        .unwrap_or_else(|| Self::gelu_backward(x, grad))
    }
}

/// `GELU(x) = x Φ(x)`.
#[inline(always)]
pub(super) fn value(x: f32) -> f32 {
    x * math::normal_cdf(x)
}

impl<B: Backend + GeluKernels, C: CheckpointStrategy> GeluKernels for Autodiff<B, C> {
    fn gelu_ours(x: FloatTensor<Self>) -> FloatTensor<Self> {
        elementwise::unary_autodiff::<B, C>(x, B::gelu_ours, B::gelu_grad)
    }
}

/// `GELU(x)` (the exact one, with the normal CDF): ours on the CPU backend, Burn's
/// elsewhere; the same values either way (to a few parts in 10^7).
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !ours(&x.device()) {
        return burn::tensor::activation::gelu(x);
    }
    Tensor::from_dispatch(<burn::backend::Dispatch as GeluKernels>::gelu_ours(
        x.into_dispatch(),
    ))
}
