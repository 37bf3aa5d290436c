//! 2-D max pooling on the CPU backend, forward (with the argmax of each window) and
//! backward (each output gradient added at its argmax).
//!
//! Burn's CPU backend pools through a 3-D kernel that divides indices per element and
//! keeps 64-bit argmax positions; in the small CNN's training step its forward pass was
//! a sixth of the time. Here each window is scanned along contiguous rows, one plane per
//! parallel task, with the first maximum of a window as its argmax (a NaN counts as
//! the maximum, as in PyTorch).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::{FloatTensorOps, IntTensorOps};
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Autodiff, Backend, Flex, TensorMetadata, backend_extension};
use burn::nn::pool::MaxPool2d;
use burn::tensor::{DType, IntDType, Shape, Tensor, TensorData};
use rayon::prelude::*;

use super::{dims4, math, ours, output_len, padding_pairs};

/// Burn's max pool, `(output, argmax)`.
fn burns<B: Backend>(
    x: FloatTensor<B>,
    [kernel, stride, pad]: [[usize; 2]; 3],
) -> (FloatTensor<B>, IntTensor<B>) {
    let r = B::max_pool2d_with_indices(x, kernel, stride, pad, [1, 1], false, IntDType::I64);
    (r.output, r.indices)
}

/// Burn's max pool backward (which reads only the input's dims).
fn burns_grad<B: Backend>(
    input: [usize; 4],
    [kernel, stride, pad]: [[usize; 2]; 3],
    grad: FloatTensor<B>,
    argmax: IntTensor<B>,
) -> FloatTensor<B> {
    let device = TensorMetadata::device(&grad);
    let x = B::float_zeros(Shape::new(input), &device, grad.dtype().into());
    B::max_pool2d_with_indices_backward(x, kernel, stride, pad, [1, 1], false, grad, argmax).x_grad
}

/// Max pooling with our backward.
#[backend_extension(Flex, Autodiff)]
pub trait MaxPoolKernels: Backend {
    /// `x [B, C, H, W] -> ([B, C, OH, OW], argmax [B, C, OH, OW])` (argmax: the index in
    /// its input plane, `y * W + x`), for the window `[kernel, stride, pad]` (each
    /// `[rows, columns]`) and `output = [OH, OW]`.
    fn max_pool2d_ours(
        x: FloatTensor<Self>,
        window: [[usize; 2]; 3],
        output: [usize; 2],
    ) -> (FloatTensor<Self>, IntTensor<Self>) {
        let _ = output;
        burns::<Self>(x, window)
    }

    /// The input's gradient `[B, C, H, W]` (dims `input`), given the output's gradient
    /// and the argmax of [`Self::max_pool2d_ours`].
    fn max_pool2d_grad(
        input: [usize; 4],
        window: [[usize; 2]; 3],
        grad: FloatTensor<Self>,
        argmax: IntTensor<Self>,
    ) -> FloatTensor<Self> {
        burns_grad::<Self>(input, window, grad, argmax)
    }
}

impl MaxPoolKernels for Flex {
    fn max_pool2d_ours(
        x: FloatTensor<Self>,
        window: [[usize; 2]; 3],
        output: [usize; 2],
    ) -> (FloatTensor<Self>, IntTensor<Self>) {
        let [b, c, h, w] = dims4(&x);
        let [[kh, kw], [sy, sx], [py, px]] = window;
        let [oh, ow] = output;
        let x = x.to_contiguous();
        let Some(xv) = x.as_slice::<f32>().filter(|_| x.dtype() == DType::F32) else {
            return burns::<Self>(x, window);
        };
        let mut y = math::zeros::<f32>(b * c * oh * ow);
        let mut at = math::zeros::<i64>(b * c * oh * ow);
        y.par_chunks_mut((oh * ow).max(1))
            .zip(at.par_chunks_mut((oh * ow).max(1)))
            .enumerate()
            .for_each(|(p, (out, arg))| {
                let plane = &xv[p * h * w..][..h * w];
                for i in 0..oh {
                    let y0 = (i * sy).saturating_sub(py);
                    let y1 = (i * sy + kh).saturating_sub(py).min(h);
                    for j in 0..ow {
                        let x0 = (j * sx).saturating_sub(px);
                        let x1 = (j * sx + kw).saturating_sub(px).min(w);
                        let (mut best, mut index) = (f32::NEG_INFINITY, -1i64);
                        for r in y0..y1 {
                            for (k, &v) in plane[r * w + x0..r * w + x1].iter().enumerate() {
                                if v > best || (v.is_nan() && !best.is_nan()) || index < 0 {
                                    (best, index) = (v, (r * w + x0 + k) as i64);
                                }
                            }
                        }
                        out[i * ow + j] = best;
                        arg[i * ow + j] = index;
                    }
                }
            });
        let dims = [b, c, oh, ow];
        (
            Flex::float_from_data(TensorData::new(y, dims), &Default::default()),
            Flex::int_from_data(TensorData::new(at, dims), &Default::default()),
        )
    }

    fn max_pool2d_grad(
        input: [usize; 4],
        window: [[usize; 2]; 3],
        grad: FloatTensor<Self>,
        argmax: IntTensor<Self>,
    ) -> FloatTensor<Self> {
        let [b, c, h, w] = input;
        let s = grad.shape();
        let plane_out = s[2] * s[3];
        let (grad, argmax) = (grad.to_contiguous(), argmax.to_contiguous());
        let (Some(gv), Some(av)) = (
            grad.as_slice::<f32>()
                .filter(|_| grad.dtype() == DType::F32),
            argmax
                .as_slice::<i64>()
                .filter(|_| argmax.dtype() == DType::I64),
        ) else {
            return burns_grad::<Self>(input, window, grad, argmax);
        };
        let mut dx = math::zeros::<f32>(b * c * h * w);
        dx.par_chunks_mut((h * w).max(1))
            .enumerate()
            .for_each(|(p, plane)| {
                let (g, a) = (
                    &gv[p * plane_out..][..plane_out],
                    &av[p * plane_out..][..plane_out],
                );
                for (&g, &a) in g.iter().zip(a) {
                    // A window with no input position (all padding) has no argmax.
                    if let Some(d) = usize::try_from(a).ok().and_then(|a| plane.get_mut(a)) {
                        *d += g;
                    }
                }
            });
        Flex::float_from_data(TensorData::new(dx, input), &Default::default())
    }
}

impl<B: Backend + MaxPoolKernels, C: CheckpointStrategy> MaxPoolKernels for Autodiff<B, C> {
    fn max_pool2d_ours(
        x: FloatTensor<Self>,
        window: [[usize; 2]; 3],
        output: [usize; 2],
    ) -> (FloatTensor<Self>, IntTensor<Self>) {
        #[derive(Debug)]
        struct Pool;

        impl<B: Backend + MaxPoolKernels> Backward<B, 1> for Pool {
            /// The input's dims, the window and the argmax.
            type State = ([usize; 4], [[usize; 2]; 3], IntTensor<B>);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (input, window, argmax) = ops.state;
                if let Some(node) = node {
                    grads.register::<B>(node.id, B::max_pool2d_grad(input, window, grad, argmax));
                }
            }
        }

        let s = x.shape();
        let input = [s[0], s[1], s[2], s[3]];
        match Pool.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (y, argmax) = B::max_pool2d_ours(x.into_primitive(), window, output);
                (prep.finish((input, window, argmax.clone()), y), argmax)
            }
            OpsKind::UnTracked(prep) => {
                let (y, argmax) = B::max_pool2d_ours(x.into_primitive(), window, output);
                (prep.finish(y), argmax)
            }
        }
    }
}

/// `pool.forward(x)`, `[B, C, H, W] -> [B, C, OH, OW]`: ours on the CPU backend for
/// pools without dilation or ceil mode and with padding under half the kernel (every
/// window reads the input), Burn's otherwise; the same values either way.
pub fn max_pool2d(pool: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let (k, s) = (pool.kernel_size, pool.stride);
    let padding = padding_pairs(&pool.padding, k, s, [h, w]);
    let out = |axis: usize, n: usize| output_len(n, padding[axis], k[axis], s[axis], 1);
    let supported = pool.dilation == [1, 1]
        && !pool.ceil_mode
        && s[0] > 0
        && s[1] > 0
        && (0..2).all(|a| 2 * padding[a].0.max(padding[a].1) <= k[a]);
    let (Some(oh), Some(ow)) = (out(0, h), out(1, w)) else {
        return pool.forward(x);
    };
    if !supported || !ours(&x.device()) {
        return pool.forward(x);
    }
    let window = [k, s, [padding[0].0, padding[1].0]];
    let (y, _) = <burn::backend::Dispatch as MaxPoolKernels>::max_pool2d_ours(
        x.into_dispatch(),
        window,
        [oh, ow],
    );
    Tensor::from_dispatch(y)
}
