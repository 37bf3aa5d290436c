//! 2-D max pooling on the CPU backend, forward (with the argmax of each window) and
//! backward (each output gradient added at its argmax).
//!
//! Burn's CPU backend pools through a 3-D kernel that divides indices per element and
//! keeps 64-bit argmax positions; in the small CNN's training step its forward pass was
//! a sixth of the time. A scalar scan of each window (as PyTorch's pool with indices
//! runs) still took 18 ms of ResNet-18's step on two threads, at the stem's 48 x 32
//! planes of 56 x 56. Here a window's maximum is taken in two passes, each vectorised
//! across columns: over the window's rows for every input column, then over the
//! window's columns from every column (each stride-th of which is an output). Ties go
//! to the smaller position, so the argmax is the first maximum in the window's
//! row-major order (a NaN counts as the maximum, as in PyTorch).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::{FloatTensorOps, IntTensorOps};
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Autodiff, Backend, Flex, TensorMetadata, backend_extension};
use burn::nn::pool::MaxPool2d;
use burn::tensor::{DType, IntDType, Shape, Tensor, TensorData};
use std::mem::MaybeUninit;

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
    /// its input plane, `y * W + x`; 32-bit on the CPU backend, Burn's 64-bit elsewhere),
    /// for the window `[kernel, stride, pad]` (each `[rows, columns]`) and `output =
    /// [OH, OW]`.
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
        // Argmax positions in 32 bits (half the memory of Burn's 64), for planes whose
        // positions fit.
        let fits = h * w < PADDING as usize;
        let Some(xv) = x
            .as_slice::<f32>()
            .filter(|_| x.dtype() == DType::F32 && fits)
        else {
            return burns::<Self>(x, window);
        };
        let geometry = Window {
            input: [h, w],
            kernel: [kh, kw],
            stride: [sy, sx],
            pad: [py, px],
            output: [oh, ow],
        };
        let (y, at) = geometry.pool(xv, b * c);
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
                .as_slice::<i32>()
                .filter(|_| argmax.dtype() == DType::I32),
        ) else {
            return burns_grad::<Self>(input, window, grad, argmax);
        };
        // Each plane zeroed just before its gradients are added (in cache), not all of
        // them first in a pass of their own.
        let dx = math::written(
            b * c,
            h * w,
            1,
            || (),
            |_, p, plane| {
                for v in plane.iter_mut() {
                    v.write(0.0);
                }
                // SAFETY: every value of `plane` was just written; `MaybeUninit<f32>`
                // has `f32`'s layout.
                let plane = unsafe { &mut *(plane as *mut [MaybeUninit<f32>] as *mut [f32]) };
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
            },
        );
        Flex::float_from_data(TensorData::new(dx, input), &Default::default())
    }
}

/// A pool's geometry over one plane; padding under half the kernel on each side, so
/// that every window holds input values.
struct Window {
    input: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    pad: [usize; 2],
    output: [usize; 2],
}

impl Window {
    /// The maxima `[planes, oh, ow]` of `x [planes, h, w]` and their argmax (`y * w +
    /// x` in the plane), planes in parallel tasks.
    fn pool(&self, x: &[f32], planes: usize) -> (Vec<f32>, Vec<i32>) {
        let [h, w] = self.input;
        let [oh, ow] = self.output;
        let out = oh * ow;
        let (mut y, mut at) = (
            Vec::with_capacity(planes * out),
            Vec::with_capacity(planes * out),
        );
        // Planes per task: as many input values as other element-wise kernels' tasks.
        let per = (math::TASK / (h * w).max(1)).max(1);
        let chunk = (per * out).max(1);
        y.spare_capacity_mut()[..planes * out]
            .par_chunks_mut(chunk)
            .zip(at.spare_capacity_mut()[..planes * out].par_chunks_mut(chunk))
            .enumerate()
            .for_each(|(t, (y, at))| {
                let mut rows = Rows::new(self);
                math::vectorized(
                    #[inline(always)]
                    || {
                        for (i, (y, at)) in y.chunks_mut(out).zip(at.chunks_mut(out)).enumerate() {
                            let plane = &x[(t * per + i) * h * w..][..h * w];
                            rows.plane(self, plane, y, at);
                        }
                    },
                )
            });
        // SAFETY: `plane` wrote every output of every plane (each output row in full),
        // and both vectors hold `planes * out` values.
        unsafe {
            y.set_len(planes * out);
            at.set_len(planes * out);
        }
        (y, at)
    }
}

/// A task's working rows: the maxima over a window's rows (with their argmax), padded
/// with -inf on both sides, and the maxima over a window's columns from every column.
struct Rows {
    /// `0, 1, ..., w - 1`: a row's positions from its start.
    columns: Vec<i32>,
    column_max: Vec<f32>,
    column_at: Vec<i32>,
    max: Vec<f32>,
    at: Vec<i32>,
}

/// The argmax of padding: after every position of a plane, so it never wins a tie.
const PADDING: i32 = i32::MAX;

impl Rows {
    fn new(window: &Window) -> Self {
        let [_, w] = window.input;
        let padded = window.pad[1] + w + window.kernel[1];
        let starts = Self::starts(window);
        Rows {
            columns: (0..w as i32).collect(),
            column_max: vec![f32::NEG_INFINITY; padded],
            column_at: vec![PADDING; padded],
            max: vec![0.0; starts],
            at: vec![0; starts],
        }
    }

    /// Windows from every column (stride 1) up to the last output's.
    fn starts(window: &Window) -> usize {
        (window.output[1].max(1) - 1) * window.stride[1] + 1
    }

    /// One plane's maxima `y [oh * ow]` and argmax `at`. Per output row, the maximum of
    /// each input column over the window's rows, then of those over the window's
    /// columns from every column, of which each stride-th is an output. Ties go to the
    /// smaller position (the first in row-major order), so the passes' order does not
    /// change the argmax.
    #[inline(always)]
    fn plane(
        &mut self,
        window: &Window,
        plane: &[f32],
        y: &mut [MaybeUninit<f32>],
        at: &mut [MaybeUninit<i32>],
    ) {
        let [h, w] = window.input;
        let [kh, kw] = window.kernel;
        let [sy, sx] = window.stride;
        let [py, px] = window.pad;
        let [oh, ow] = window.output;
        let starts = Self::starts(window);
        for oy in 0..oh {
            let first = (oy * sy).saturating_sub(py);
            let last = (oy * sy + kh).saturating_sub(py).min(h);
            // Over the window's rows, written between the -inf padding (`new`).
            let columns = &self.columns[..w];
            let row = |k: usize| {
                let r = first + k;
                (&plane[r * w..][..w], columns, (r * w) as i32)
            };
            let max = &mut self.column_max[px..][..w];
            let arg = &mut self.column_at[px..][..w];
            fold(last - first, row, max, arg, false);
            // Over the window's columns, from every column `s` (padded column `s`'s
            // window starts at input column `s - px`).
            let (column_max, column_at) = (&self.column_max, &self.column_at);
            let column = |kx: usize| (&column_max[kx..][..starts], &column_at[kx..][..starts], 0);
            let (out_max, out_at) = (&mut self.max[..starts], &mut self.at[..starts]);
            fold(kw, column, out_max, out_at, true);
            for ox in 0..ow {
                y[oy * ow + ox].write(out_max[ox * sx]);
                at[oy * ow + ox].write(out_at[ox * sx]);
            }
        }
    }
}

/// Per position `j` of `max`, the first maximum over the sources `k < count` of
/// `values[j]`, at position `positions[j] + offset`, where `(values, positions, offset)
/// = source(k)`, that position in `arg`: a later source replaces where greater, or a
/// NaN (and the maximum not), or, with `ties`, equal at a smaller position. One pass per
/// position over every source, kept in registers (a pass per source wrote masked
/// stores that the next pass's loads waited on); up to 3 sources (every pool's window
/// here) the loop over them unrolled, so the loop over positions vectorises.
#[inline(always)]
fn fold<'a>(
    count: usize,
    source: impl Fn(usize) -> (&'a [f32], &'a [i32], i32),
    max: &mut [f32],
    arg: &mut [i32],
    ties: bool,
) {
    #[inline(always)]
    fn run<'a, const K: usize>(
        source: impl Fn(usize) -> (&'a [f32], &'a [i32], i32),
        max: &mut [f32],
        arg: &mut [i32],
        ties: bool,
    ) {
        let n = max.len();
        // Every source as long as `max`, so that the loop reads without bounds checks.
        let sources: [_; K] = std::array::from_fn(&source);
        let values: [&[f32]; K] = std::array::from_fn(|k| &sources[k].0[..n]);
        let at: [&[i32]; K] = std::array::from_fn(|k| &sources[k].1[..n]);
        let offset: [i32; K] = std::array::from_fn(|k| sources[k].2);
        let arg = &mut arg[..n];
        for j in 0..n {
            let (mut m, mut a) = (values[0][j], at[0][j] + offset[0]);
            for k in 1..K {
                (m, a) = keep(m, a, values[k][j], at[k][j] + offset[k], ties);
            }
            max[j] = m;
            arg[j] = a;
        }
    }
    match count {
        0 => {}
        1 => run::<1>(source, max, arg, ties),
        2 => run::<2>(source, max, arg, ties),
        3 => run::<3>(source, max, arg, ties),
        _ => {
            // Larger windows: the first three, then each further source against them.
            run::<3>(&source, max, arg, ties);
            for k in 3..count {
                let (values, at, offset) = source(k);
                let sources = max
                    .iter_mut()
                    .zip(arg.iter_mut())
                    .zip(values.iter().zip(at));
                for ((m, a), (&v, &i)) in sources {
                    (*m, *a) = keep(*m, *a, v, i + offset, ties);
                }
            }
        }
    }
}

/// `(m, a)` replaced by `(v, i)` where `v` is greater, or a NaN (and `m` not), or, with
/// `ties`, equal at a smaller position `i`; `|` and `&`, not `||` and `&&`: no
/// branches, so that loops over it vectorise.
#[inline(always)]
fn keep(m: f32, a: i32, v: f32, i: i32, ties: bool) -> (f32, i32) {
    let earlier = ties & (i < a);
    let take = (v > m) | ((v == m) & earlier) | (v.is_nan() & (!m.is_nan() | earlier));
    (if take { v } else { m }, if take { i } else { a })
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
