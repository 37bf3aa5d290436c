//! ReLU on the CPU backend, forward and backward over all threads.
//!
//! Burn's CPU backend runs element-wise operations on one thread: on two threads the
//! small CNN's ReLUs (forward, and the backward mask) over 16-32-channel maps of a
//! 64-sample batch were a serial part of every step, which kept a second thread from
//! paying. Here both are [`math`]'s parallel vectorised loops, the forward in place
//! when the input is unshared. Other devices run Burn's `relu`.

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::ops::ActivationOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension};
use burn::tensor::Tensor;

use super::{elementwise, ours};

/// ReLU with our backward.
#[backend_extension(Flex, Autodiff)]
pub trait ReluKernels: Backend {
    /// `x -> max(x, 0)`, element-wise, any shape (NaN stays NaN).
    fn relu_ours(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::relu(x)
    }

    /// `grad` where the ReLU's input `x` is positive (or NaN), 0 elsewhere.
    fn relu_grad(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::relu_backward(x, grad)
    }
}

/// `max(x, 0)` by comparison, so that a NaN passes through as Burn's does.
#[inline(always)]
fn relu_value(x: f32) -> f32 {
    if x < 0.0 { 0.0 } else { x }
}

impl ReluKernels for Flex {
    fn relu_ours(x: FloatTensor<Self>) -> FloatTensor<Self> {
        elementwise::unary(x, relu_value).unwrap_or_else(Self::relu)
    }

    fn relu_grad(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        elementwise::binary(
            &x,
            &grad,
            |x, g| if x > 0.0 || x.is_nan() { g } else { 0.0 },
        )
        .unwrap_or_else(|| Self::relu_backward(x, grad))
    }
}

impl<B: Backend + ReluKernels, C: CheckpointStrategy> ReluKernels for Autodiff<B, C> {
    fn relu_ours(x: FloatTensor<Self>) -> FloatTensor<Self> {
        elementwise::unary_autodiff::<B, C>(x, B::relu_ours, B::relu_grad)
    }
}

/// `max(x, 0)`: ours on the CPU backend (all threads), Burn's elsewhere; the same values.
pub fn relu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !ours(&x.device()) {
        return burn::tensor::activation::relu(x);
    }
    Tensor::from_dispatch(<burn::backend::Dispatch as ReluKernels>::relu_ours(
        x.into_dispatch(),
    ))
}
