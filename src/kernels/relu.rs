//! ReLU on the CPU backend, forward and backward over all threads.
//!
//! Burn's CPU backend runs element-wise operations on one thread: on two threads the
//! small CNN's ReLUs (forward, and the backward mask) over 16-32-channel maps of a
//! 64-sample batch were a serial part of every step, which kept a second thread from
//! paying. Here both are [`math`]'s parallel vectorised loops, the forward in place
//! when the input is unshared. Other devices run Burn's `relu`.
//!
//! [`add_relu`] is a residual block's end, `relu(a + b)`, in one pass: Burn's addition
//! ran on one thread, and the ReLU after it read and wrote the sum again.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::{ActivationOps, FloatTensorOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, TensorMetadata, backend_extension};
use burn::tensor::{DType, Tensor};

use super::{elementwise, math, ours};

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

    /// `max(a + b, 0)` for `a` and `b` of one shape; the gradient of each is
    /// [`Self::relu_grad`] of the output.
    fn add_relu_ours(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::relu(Self::float_add(a, b))
    }
}

/// `max(x, 0)` by comparison, so that a NaN passes through as Burn's does.
#[inline(always)]
fn relu_value(x: f32) -> f32 {
    if x < 0.0 { 0.0 } else { x }
}

/// Whether a ReLU passes the gradient where its input (or output) is `x`: positive, or
/// NaN, as Burn's `relu_backward`.
#[inline(always)]
pub(super) fn passes(x: f32) -> bool {
    x > 0.0 || x.is_nan()
}

impl ReluKernels for Flex {
    fn relu_ours(x: FloatTensor<Self>) -> FloatTensor<Self> {
        elementwise::unary(x, relu_value).unwrap_or_else(Self::relu)
    }

    fn relu_grad(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        elementwise::binary(&x, &grad, |x, g| if passes(x) { g } else { 0.0 })
            .unwrap_or_else(|| Self::relu_backward(x, grad))
    }

    fn add_relu_ours(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        let f = |a: f32, b: f32| relu_value(a + b);
        if b.dtype() == DType::F32 && a.shape() == b.shape() {
            let b = b.to_contiguous();
            let bv = b
                .as_slice::<f32>()
                .expect("contiguous f32 reads as a slice");
            // Into `a`'s values where it is unshared (a batch norm's output), else a new
            // tensor.
            match elementwise::in_place(a, |av| math::zip_in_place(av, bv, bv, |a, b, _| f(a, b))) {
                Ok(y) => return y,
                Err(a) => {
                    return elementwise::binary(&a, &b, f)
                        .unwrap_or_else(|| Self::relu(Self::float_add(a, b)));
                }
            }
        }
        Self::relu(Self::float_add(a, b))
    }
}

impl<B: Backend + ReluKernels, C: CheckpointStrategy> ReluKernels for Autodiff<B, C> {
    fn relu_ours(x: FloatTensor<Self>) -> FloatTensor<Self> {
        elementwise::unary_autodiff::<B, C>(x, B::relu_ours, B::relu_grad)
    }

    fn add_relu_ours(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct AddRelu;

        impl<B: Backend + ReluKernels> Backward<B, 2> for AddRelu {
            /// The output: where it is positive (or NaN) the sum was, and the gradient
            /// passes to both terms.
            type State = B::FloatTensorPrimitive;

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node_a, node_b] = ops.parents;
                let grad = B::relu_grad(ops.state, grads.consume::<B>(&ops.node));
                match (node_a, node_b) {
                    (Some(a), Some(b)) => {
                        grads.register::<B>(a.id, grad.clone());
                        grads.register::<B>(b.id, grad);
                    }
                    (Some(node), None) | (None, Some(node)) => grads.register::<B>(node.id, grad),
                    (None, None) => {}
                }
            }
        }

        match AddRelu
            .prepare::<C>([a.node(), b.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let y = B::add_relu_ours(a.into_primitive(), b.into_primitive());
                prep.finish(y.clone(), y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::add_relu_ours(a.into_primitive(), b.into_primitive()))
            }
        }
    }
}

/// `max(a + b, 0)` for `a` and `b` of one shape (a residual block's end): ours on the
/// CPU backend (one pass over all threads), Burn's addition and ReLU elsewhere; the same
/// values.
pub fn add_relu<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    if !ours(&a.device()) || a.dims() != b.dims() {
        return relu(a + b);
    }
    Tensor::from_dispatch(<burn::backend::Dispatch as ReluKernels>::add_relu_ours(
        a.into_dispatch(),
        b.into_dispatch(),
    ))
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
