//! Adaptive average pooling on the CPU backend, forward and backward.
//!
//! Output cell `(i, j)` of an `[OH, OW]` grid averages the input rows
//! `⌊i H / OH⌋ .. ⌈(i + 1) H / OH⌉` and columns likewise (Burn's and PyTorch's windows,
//! which overlap where the sizes do not divide). Burn's CPU backend runs this as a 3-D
//! pool adding one element at a time; its backward took a tenth of the small CNN's
//! training step. Here each window row is a contiguous run, summed forward and filled
//! with `grad / count` backward, one plane per parallel task.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::{FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, TensorMetadata, backend_extension};
use burn::nn::pool::AdaptiveAvgPool2d;
use burn::tensor::{DType, Shape, Tensor, TensorData};
use rayon::prelude::*;

use super::{dims4, math, ours};

/// Adaptive average pooling with our backward.
#[backend_extension(Flex, Autodiff)]
pub trait PoolKernels: Backend {
    /// `x [B, C, H, W] -> [B, C, OH, OW]` for `output = [OH, OW]`.
    fn adaptive_avg_pool2d_ours(x: FloatTensor<Self>, output: [usize; 2]) -> FloatTensor<Self> {
        Self::adaptive_avg_pool2d(x, output)
    }

    /// The gradient `[B, C, H, W]` (the input's dims `input`) given the output's
    /// gradient `grad [B, C, OH, OW]`.
    fn adaptive_avg_pool2d_grad(input: [usize; 4], grad: FloatTensor<Self>) -> FloatTensor<Self> {
        burns_grad::<Self>(input, grad)
    }
}

/// Burn's adaptive average pool backward (which reads only the input's dims).
fn burns_grad<B: Backend>(input: [usize; 4], grad: FloatTensor<B>) -> FloatTensor<B> {
    let device = TensorMetadata::device(&grad);
    let x = B::float_zeros(Shape::new(input), &device, grad.dtype().into());
    B::adaptive_avg_pool2d_backward(x, grad)
}

/// The window of output index `i` of `out` along an axis of `len`: `start..end`.
fn window(i: usize, len: usize, out: usize) -> (usize, usize) {
    (i * len / out, ((i + 1) * len).div_ceil(out))
}

impl PoolKernels for Flex {
    fn adaptive_avg_pool2d_ours(x: FloatTensor<Self>, output: [usize; 2]) -> FloatTensor<Self> {
        let [b, c, h, w] = dims4(&x);
        let [oh, ow] = output;
        if x.dtype() != DType::F32 || oh == 0 || ow == 0 || h == 0 || w == 0 {
            return Self::adaptive_avg_pool2d(x, output);
        }
        let x = x.to_contiguous();
        let Some(xv) = x.as_slice::<f32>() else {
            return Self::adaptive_avg_pool2d(x, output);
        };
        let mut y = math::zeros::<f32>(b * c * oh * ow);
        y.par_chunks_mut(oh * ow).enumerate().for_each(|(p, out)| {
            let plane = &xv[p * h * w..][..h * w];
            for i in 0..oh {
                let (r0, r1) = window(i, h, oh);
                for j in 0..ow {
                    let (c0, c1) = window(j, w, ow);
                    let sum: f32 = (r0..r1)
                        .map(|r| plane[r * w + c0..r * w + c1].iter().sum::<f32>())
                        .sum();
                    out[i * ow + j] = sum / ((r1 - r0) * (c1 - c0)) as f32;
                }
            }
        });
        Self::float_from_data(TensorData::new(y, [b, c, oh, ow]), &Default::default())
    }

    fn adaptive_avg_pool2d_grad(input: [usize; 4], grad: FloatTensor<Self>) -> FloatTensor<Self> {
        let [b, c, h, w] = input;
        let [_, _, oh, ow] = dims4(&grad);
        let grad = grad.to_contiguous();
        let gv = match grad.as_slice::<f32>() {
            Some(gv) if oh > 0 && ow > 0 => gv,
            _ => return burns_grad::<Self>(input, grad),
        };
        let mut dx = math::zeros::<f32>(b * c * h * w);
        dx.par_chunks_mut((h * w).max(1))
            .enumerate()
            .for_each(|(p, plane)| {
                let g = &gv[p * oh * ow..][..oh * ow];
                math::vectorized(
                    #[inline(always)]
                    || {
                        for i in 0..oh {
                            let (r0, r1) = window(i, h, oh);
                            for j in 0..ow {
                                let (c0, c1) = window(j, w, ow);
                                let v = g[i * ow + j] / ((r1 - r0) * (c1 - c0)) as f32;
                                for r in r0..r1 {
                                    for d in &mut plane[r * w + c0..r * w + c1] {
                                        *d += v;
                                    }
                                }
                            }
                        }
                    },
                )
            });
        Self::float_from_data(TensorData::new(dx, input), &Default::default())
    }
}

impl<B: Backend + PoolKernels, C: CheckpointStrategy> PoolKernels for Autodiff<B, C> {
    fn adaptive_avg_pool2d_ours(x: FloatTensor<Self>, output: [usize; 2]) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct Pool;

        impl<B: Backend + PoolKernels> Backward<B, 1> for Pool {
            /// The input's dims: all the backward pass needs of it.
            type State = [usize; 4];

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                if let Some(node) = node {
                    grads.register::<B>(node.id, B::adaptive_avg_pool2d_grad(ops.state, grad));
                }
            }
        }

        let s = x.shape();
        let input = [s[0], s[1], s[2], s[3]];
        match Pool.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(
                input,
                B::adaptive_avg_pool2d_ours(x.into_primitive(), output),
            ),
            OpsKind::UnTracked(prep) => {
                prep.finish(B::adaptive_avg_pool2d_ours(x.into_primitive(), output))
            }
        }
    }
}

/// `pool.forward(x)`, `[B, C, H, W] -> [B, C, OH, OW]`: ours on the CPU backend, Burn's
/// elsewhere; the same values either way.
pub fn adaptive_avg_pool2d(pool: &AdaptiveAvgPool2d, x: Tensor<4>) -> Tensor<4> {
    if !ours(&x.device()) {
        return pool.forward(x);
    }
    Tensor::from_dispatch(
        <burn::backend::Dispatch as PoolKernels>::adaptive_avg_pool2d_ours(
            x.into_dispatch(),
            pool.output_size,
        ),
    )
}
