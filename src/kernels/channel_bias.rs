//! A per-channel bias (a convolution's) on the CPU backend, forward and backward over
//! all threads.
//!
//! `y[n, c, ..] = x[n, c, ..] + b[c]`, `db[c] = Σ_{n, ..} dy[n, c, ..]`, `dx = dy`.
//! Burn's CPU backend adds a broadcast bias on one thread into a new tensor; on two
//! threads that pass over each convolution's output was a serial part of the small
//! CNN's step. Here the sum is in place when the input is unshared, one plane per task,
//! and the bias gradient sums each channel's planes in parallel. Other devices run
//! Burn's broadcast add.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, TensorMetadata, backend_extension};
use burn::tensor::{DType, Shape, Tensor};

use super::batch_norm::{affine_clamp, channel_sums, channel_tensor};
use super::{math, ours};

/// The bias of `[N, C, ...]` maps, with our backward.
#[backend_extension(Flex, Autodiff)]
pub trait BiasKernels: Backend {
    /// `x [N, C, ...] + bias [C]`, the bias broadcast over each channel.
    fn add_channel_bias(x: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self> {
        burns_add::<Self>(x, bias)
    }

    /// `grad [N, C, ...]` summed over everything but the channel: `[C]`.
    fn channel_bias_grad(grad: FloatTensor<Self>) -> FloatTensor<Self> {
        burns_grad::<Self>(grad)
    }
}

/// Burn's broadcast add of the bias reshaped to `[1, C, 1, ...]`.
fn burns_add<B: Backend>(x: FloatTensor<B>, bias: FloatTensor<B>) -> FloatTensor<B> {
    let mut dims = vec![1; x.shape().num_dims()];
    dims[1] = bias.shape()[0];
    B::float_add(x, B::float_reshape(bias, Shape::from(dims)))
}

/// Burn's sums of `grad` over every axis but the channel's, as `[C]`.
fn burns_grad<B: Backend>(grad: FloatTensor<B>) -> FloatTensor<B> {
    let rank = grad.shape().num_dims();
    let c = grad.shape()[1];
    let summed = (0..rank).filter(|&d| d != 1).fold(grad, B::float_sum_dim);
    B::float_reshape(summed, Shape::new([c]))
}

impl BiasKernels for Flex {
    fn add_channel_bias(x: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self> {
        let shape = x.shape();
        let (n, c) = (shape[0], shape[1]);
        let bias = bias.to_contiguous();
        let usable = x.dtype() == DType::F32
            && bias.as_slice::<f32>().is_some_and(|b| b.len() == c)
            && n * c > 0;
        if !usable {
            return burns_add::<Self>(x, bias);
        }
        let b = bias.as_slice::<f32>().expect("checked");
        // The per-channel affine map of batch norm, with unit scale and no clamp.
        affine_clamp(x, &vec![1.0; c], b, [f32::NEG_INFINITY, f32::INFINITY])
    }

    fn channel_bias_grad(grad: FloatTensor<Self>) -> FloatTensor<Self> {
        let shape = grad.shape();
        let (n, c) = (shape[0], shape[1]);
        let plane: usize = shape.iter().skip(2).product();
        let grad = grad.to_contiguous();
        let Some(g) = grad
            .as_slice::<f32>()
            .filter(|_| grad.dtype() == DType::F32)
        else {
            return burns_grad::<Self>(grad);
        };
        let sums = channel_sums([n, c, plane], |_, _, at| {
            [math::sum(&g[at..][..plane]) as f64, 0.0]
        });
        channel_tensor(sums.iter().map(|[s, _]| *s as f32).collect())
    }
}

impl<B: Backend + BiasKernels, C: CheckpointStrategy> BiasKernels for Autodiff<B, C> {
    fn add_channel_bias(x: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct Bias;

        impl<B: Backend + BiasKernels> Backward<B, 2> for Bias {
            type State = ();

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node_x, node_bias] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                if let Some(node) = node_bias {
                    grads.register::<B>(node.id, B::channel_bias_grad(grad.clone()));
                }
                if let Some(node) = node_x {
                    grads.register::<B>(node.id, grad);
                }
            }
        }

        Bias.prepare::<C>([x.node(), bias.node()])
            .compute_bound()
            .stateless(B::add_channel_bias(
                x.into_primitive(),
                bias.into_primitive(),
            ))
    }
}

/// `x [N, C, ...] + bias [C]` over each channel: ours on the CPU backend (all
/// threads), Burn's broadcast add elsewhere; the same values.
pub fn add_channel_bias<const D: usize>(x: Tensor<D>, bias: Tensor<1>) -> Tensor<D> {
    if !ours(&x.device()) {
        let c = bias.dims()[0];
        let mut dims = [1; D];
        dims[1] = c;
        return x + bias.reshape(dims);
    }
    Tensor::from_dispatch(<burn::backend::Dispatch as BiasKernels>::add_channel_bias(
        x.into_dispatch(),
        bias.into_dispatch(),
    ))
}
