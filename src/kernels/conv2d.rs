//! 2-D convolution on the CPU backend: forward, weight gradient and input gradient.
//!
//! Burn's CPU backend (`Flex`) builds its im2col element by element, and its weight
//! gradient is Burn's generic one: it swaps the batch and channel axes of the input and
//! of the output gradient (two transposed copies per layer and step) and runs a
//! convolution with `C_in` "batches" of skinny products, one convolution per group for
//! grouped and depthwise layers. Here, per group,
//!
//! ```text
//! Y_g  [C_out/g, OH * OW]             = W_g x cols_g                 (per sample)
//! dW_g [C_out/g, C_in/g * KH * KW]    = dY_g [C_out/g, B * OH * OW] x cols_g^T
//! dcols_g [C_in/g * KH * KW, B*OH*OW] = W_g^T x dY_g, added back where read (col2im)
//! ```
//!
//! over the im2col patches `cols_g [C_in/g * KH * KW, B * OH * OW]` (contiguous runs;
//! strided layers read them from the input's stride phases, `geometry.rs`;
//! built a chunk of samples at a time, so memory stays bounded). Depthwise layers (one
//! input channel per group) run over whole planes (`depthwise.rs`) and their gradients
//! directly per channel. On x86-64 with AVX2 + FMA two kernels without patches take
//! most layers first: the implicit product (`implicit.rs`: vectors across channels,
//! for 64+ channels and ResNet's stem) and the direct convolution (`direct.rs`: vectors
//! across output columns, for stride-1 layers of wide planes and few channels, and a
//! 7x7 stride-2 stem's other passes through its stride phases, `phases.rs`); each
//! decides from the layer's shape whether it runs. The operation is a backend extension
//! ([`burn::backend::backend_extension`]) with its own backward for `Autodiff`, used only
//! on the CPU backend; other devices run Burn's `conv2d`.

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::{ConvOptions, FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension};
use burn::nn::conv::Conv2d;
use burn::tensor::{DType, Tensor, TensorData};
use rayon::prelude::*;

use super::channel_bias::add_channel_bias;
use super::depthwise;
use super::direct::{Direct, flipped_transposed};
use super::gemm::{matmul, matmul_uninit};
use super::geometry::Geometry;
use super::implicit::{Implicit, Pass};
use super::phases::Phases;
use super::{dims4, math, ours, output_len, padding_pairs, scratch};

/// Patch values built at once while computing a weight gradient (32 MiB of `f32`).
const PATCH_VALUES: usize = 8 << 20;

/// The convolution whose weight gradient is ours.
#[backend_extension(Flex, Autodiff)]
pub trait ConvKernels: Backend {
    /// `x [B, C_in, H, W]`, `weight [C_out, C_in / groups, KH, KW]`
    /// `-> [B, C_out, OH, OW]`: Burn's forward pass (the bias is added outside).
    fn conv2d_ours(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d(x, weight, None, options)
    }

    /// The gradient of the loss with respect to `weight`, given the input `x` and the
    /// gradient `grad [B, C_out, OH, OW]` of the output.
    fn conv2d_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d_weight_backward(x, weight, grad, options)
    }

    /// The gradient of the loss with respect to `x`, given `weight` and the gradient
    /// `grad [B, C_out, OH, OW]` of the output.
    fn conv2d_input_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d_x_backward(x, weight, grad, options)
    }
}

impl ConvKernels for Flex {
    fn conv2d_ours(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let (xs, ws) = (dims4(&x), dims4(&weight));
        // One input channel per group; one group of one input channel is a plain product.
        let depthwise = ws[1] == 1 && options.groups == xs[1] && xs[1] > 1 && ws[0] % xs[1] == 0;
        let output = |axis: usize| {
            let (stride, dilation) = (options.stride[axis], options.dilation[axis]);
            output_len(
                xs[2 + axis],
                options.padding[axis],
                ws[2 + axis],
                stride,
                dilation,
            )
        };
        let (Some(oh), Some(ow)) = (output(0), output(1)) else {
            return Self::conv2d(x, weight, None, options);
        };
        if x.dtype() != DType::F32 || weight.dtype() != DType::F32 {
            return Self::conv2d(x, weight, None, options);
        }
        let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
        let (Some(xv), Some(wv)) = (x.as_slice::<f32>(), weight.as_slice::<f32>()) else {
            return Self::conv2d(x, weight, None, options);
        };
        let y = if depthwise {
            let geometry = Geometry::new([xs[2], xs[3]], [oh, ow], [ws[2], ws[3]], &options);
            depthwise::forward(&geometry, xv, [xs[0], xs[1]], wv, ws[0])
        } else if let Some(conv) = Implicit::of(Pass::Forward, xs, ws, &options, [oh, ow]) {
            conv.forward(xv, wv)
        } else if let Some(direct) = Direct::forward(xs, ws, &options, [oh, ow]) {
            direct.run(xv, wv)
        } else if let Some((phases, direct)) = phased(xs, ws, &options, [oh, ow], Direct::forward) {
            direct.run(&phases.input(xv, xs[0]), &phases.weight(wv))
        } else {
            forward_gemm(xv, xs, wv, ws, [oh, ow], &options)
        };
        Self::float_from_data(
            TensorData::new(y, [xs[0], ws[0], oh, ow]),
            &Default::default(),
        )
    }

    fn conv2d_input_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let (xs, ws, gs) = (dims4(&x), dims4(&weight), dims4(&grad));
        if weight.dtype() != DType::F32 || grad.dtype() != DType::F32 {
            return Self::conv2d_x_backward(x, weight, grad, options);
        }
        let (weight, grad) = (weight.to_contiguous(), grad.to_contiguous());
        let output = [gs[2], gs[3]];
        let direct = Direct::input_grad(xs, ws, &options, output);
        let implicit = Implicit::of(Pass::InputGrad, xs, ws, &options, output);
        let dx = match (weight.as_slice::<f32>(), grad.as_slice::<f32>()) {
            (Some(wv), Some(gv)) => match (implicit, direct) {
                (Some(conv), _) => conv.input_grad(wv, gv),
                (None, Some(d)) => d.run(gv, &flipped_transposed(wv, ws)),
                (None, None) => match phased(xs, ws, &options, output, Direct::input_grad) {
                    Some((p, d)) => {
                        let w = flipped_transposed(&p.weight(wv), p.weight_dims());
                        p.input_grad(&d.run(gv, &w), xs[0])
                    }
                    None => input_grad(wv, ws, gv, gs, xs, &options),
                },
            },
            // Contiguous f32 always reads as a slice; Burn's gradient otherwise.
            _ => return Self::conv2d_x_backward(x, weight, grad, options),
        };
        Self::float_from_data(TensorData::new(dx, xs), &Default::default())
    }

    fn conv2d_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let (xs, ws, gs) = (dims4(&x), dims4(&weight), dims4(&grad));
        if x.dtype() != DType::F32 || grad.dtype() != DType::F32 {
            return Self::conv2d_weight_backward(x, weight, grad, options);
        }
        let (x, grad) = (x.to_contiguous(), grad.to_contiguous());
        let output = [gs[2], gs[3]];
        let direct = Direct::for_weight_grad(xs, ws, &options, output);
        let implicit = Implicit::of(Pass::WeightGrad, xs, ws, &options, output);
        let w = match (x.as_slice::<f32>(), grad.as_slice::<f32>()) {
            (Some(xv), Some(gv)) => match (implicit, direct) {
                (Some(conv), _) => conv.weight_grad(xv, gv),
                (None, Some(d)) => d.weight_grad(xv, gv),
                (None, None) => match phased(xs, ws, &options, output, Direct::for_weight_grad) {
                    Some((p, d)) => p.weight_grad(&d.weight_grad(&p.input(xv, xs[0]), gv)),
                    None => weight_grad(xv, xs, gv, gs, ws, &options),
                },
            },
            // Contiguous f32 always reads as a slice; Burn's gradient otherwise.
            _ => return Self::conv2d_weight_backward(x, weight, grad, options),
        };
        Self::float_from_data(TensorData::new(w, ws), &Default::default())
    }
}

impl<B: Backend + ConvKernels, C: CheckpointStrategy> ConvKernels for Autodiff<B, C> {
    fn conv2d_ours(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct Conv;

        impl<B: Backend + ConvKernels> Backward<B, 2> for Conv {
            type State = (NodeId, NodeId, ConvOptions<2>);

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                checkpointer: &mut Checkpointer,
            ) {
                let [node_x, node_weight] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x_state, weight_state, options) = ops.state;
                let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
                let weight =
                    checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(weight_state);
                if let Some(node) = node_x {
                    let dx = B::conv2d_input_grad(
                        x.clone(),
                        weight.clone(),
                        grad.clone(),
                        options.clone(),
                    );
                    grads.register::<B>(node.id, dx);
                }
                if let Some(node) = node_weight {
                    grads.register::<B>(node.id, B::conv2d_weight_grad(x, weight, grad, options));
                }
            }
        }

        match Conv
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let state = (
                    prep.checkpoint(&x),
                    prep.checkpoint(&weight),
                    options.clone(),
                );
                prep.finish(
                    state,
                    B::conv2d_ours(x.into_primitive(), weight.into_primitive(), options),
                )
            }
            OpsKind::UnTracked(prep) => prep.finish(B::conv2d_ours(
                x.into_primitive(),
                weight.into_primitive(),
                options,
            )),
        }
    }
}

/// `x [B, C_in, H, W]` through the convolution `weight [C_out, C_in / groups, KH, KW]`
/// (and `bias [C_out]`) `-> [B, C_out, OH, OW]`: ours on the CPU backend, Burn's
/// elsewhere; the same values either way.
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    if !ours(&x.device()) {
        return burn::tensor::module::conv2d(x, weight, bias, options);
    }
    let y: Tensor<4> =
        Tensor::from_dispatch(<burn::backend::Dispatch as ConvKernels>::conv2d_ours(
            x.into_dispatch(),
            weight.into_dispatch(),
            options,
        ));
    match bias {
        Some(b) => add_channel_bias(y, b),
        None => y,
    }
}

/// `conv`'s forward pass, `x [B, C_in, H, W] -> [B, C_out, OH, OW]`, through
/// [`conv2d`]: what `conv.forward(x)` computes, with its parameters as they are (model
/// and encoder files are unchanged).
pub fn forward(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let padding = padding_pairs(&conv.padding, conv.kernel_size, conv.stride, [h, w]);
    let options = ConvOptions::new_with_padding(conv.stride, padding, conv.dilation, conv.groups);
    conv2d(
        x,
        conv.weight.val(),
        conv.bias.as_ref().map(|b| b.val()),
        options,
    )
}

/// A direct-kernel constructor (`Direct::forward`, `input_grad`, `for_weight_grad`).
type MakeDirect = fn([usize; 4], [usize; 4], &ConvOptions<2>, [usize; 2]) -> Option<Direct>;

/// A strided layer in its phase form ([`Phases`]), when the direct kernel takes that
/// stride-1 form (`make` says).
fn phased(
    xs: [usize; 4],
    ws: [usize; 4],
    options: &ConvOptions<2>,
    output: [usize; 2],
    make: MakeDirect,
) -> Option<(Phases, Direct)> {
    let p = Phases::new(xs, ws, options, output)?;
    let d = make(
        p.input_dims(xs[0]),
        p.weight_dims(),
        &Phases::options(),
        output,
    )?;
    Some((p, d))
}

/// `y [B, C_out, OH, OW]` of `x` (dims `xs`) through `wt` (dims `ws`): per group and
/// chunk of samples, the im2col patches and one GEMM, `Y_g = W_g x cols_g`, written
/// straight into `y` for one sample at a time (its rows are `y`'s channel planes) and
/// copied there for several (late layers, whose small planes make a thin product
/// alone). A 1x1 convolution with stride 1 and no padding reads `x` as its patches.
fn forward_gemm(
    x: &[f32],
    xs: [usize; 4],
    wt: &[f32],
    ws: [usize; 4],
    [oh, ow]: [usize; 2],
    options: &ConvOptions<2>,
) -> Vec<f32> {
    let gs = [xs[0], ws[0], oh, ow];
    let sizes = Sizes::new(xs, gs, ws, options);
    let Sizes {
        batch,
        c_in,
        c_out,
        cin_g,
        cout_g,
        groups,
        k,
        plane,
        ..
    } = sizes;
    let g = &sizes.geometry;
    let pointwise = k == cin_g
        && plane == g.h * g.w
        && options.stride == [1, 1]
        && sizes.geometry.pad == [0, 0];
    // Several samples per product only where one sample's plane is small.
    let chunk = if plane >= 256 { 1 } else { sizes.chunk };
    if chunk == 1 {
        return forward_per_sample(x, wt, &sizes, pointwise);
    }
    // Every value is written below: by a product (a chunk of one sample) or copied out
    // of the chunk's product, for each group's channels of each chunk of samples.
    let mut y = Vec::with_capacity(batch * c_out * plane);
    let spare = &mut y.spare_capacity_mut()[..batch * c_out * plane];
    let (cols_values, yg_values) = (k * chunk * plane, cout_g * chunk * plane);
    scratch::with_two(cols_values, yg_values, |cols, yg| {
        for group in 0..groups {
            let w_g = &wt[group * cout_g * k..][..cout_g * k];
            for n in (0..batch).step_by(chunk) {
                let nb = chunk.min(batch - n);
                let cols_len = nb * plane;
                let patches: &[f32] = if pointwise && nb == 1 {
                    &x[(n * c_in + group * cin_g) * plane..][..cin_g * plane]
                } else {
                    im2col(x, &sizes, group, [n, nb], &mut cols[..k * cols_len]);
                    &cols[..k * cols_len]
                };
                if nb == 1 {
                    let dst = &mut spare[(n * c_out + group * cout_g) * plane..][..cout_g * plane];
                    matmul_uninit(
                        (dst, cout_g, plane, [plane, 1]),
                        (w_g, [k, 1]),
                        (patches, [plane, 1]),
                        k,
                        false,
                    );
                    continue;
                }
                let dst = &mut yg[..cout_g * cols_len];
                matmul(
                    (dst, cout_g, cols_len, [cols_len, 1]),
                    false,
                    (w_g, [k, 1]),
                    (patches, [cols_len, 1]),
                    k,
                );
                // Row c of `yg` holds channel `group * cout_g + c` of samples n..n + nb.
                let first = group * cout_g;
                spare[n * c_out * plane..(n + nb) * c_out * plane]
                    .par_chunks_mut(plane)
                    .enumerate()
                    .filter(|(i, _)| (i % c_out) / cout_g == group)
                    .for_each(|(i, out)| {
                        let (s, c) = (i / c_out, i % c_out - first);
                        let src = &yg[c * cols_len + s * plane..][..plane];
                        for (o, &v) in out.iter_mut().zip(src) {
                            o.write(v);
                        }
                    });
            }
        }
    });
    // SAFETY: every chunk of samples wrote every group's channels above.
    unsafe { y.set_len(batch * c_out * plane) };
    y
}

/// [`forward_gemm`] one sample per task, its patches and product on one thread (a
/// product over one sample's plane split across threads synchronised about as long as
/// it computed: the small CNN's second thread added little).
fn forward_per_sample(x: &[f32], wt: &[f32], sizes: &Sizes, pointwise: bool) -> Vec<f32> {
    let Sizes {
        c_in,
        c_out,
        cin_g,
        cout_g,
        groups,
        k,
        plane,
        ..
    } = *sizes;
    let cols_values = if pointwise { 0 } else { k * plane };
    // Each sample's output is written in full by its groups' products.
    math::written(
        sizes.batch,
        c_out * plane,
        1,
        || (),
        |_, n, y_n| {
            scratch::with_two(cols_values, 0, |cols, _| {
                for group in 0..groups {
                    let w_g = &wt[group * cout_g * k..][..cout_g * k];
                    let patches: &[f32] = if pointwise {
                        &x[(n * c_in + group * cin_g) * plane..][..cin_g * plane]
                    } else {
                        im2col(x, sizes, group, [n, 1], &mut cols[..k * plane]);
                        &cols[..k * plane]
                    };
                    let dst = &mut y_n[group * cout_g * plane..][..cout_g * plane];
                    matmul_uninit(
                        (dst, cout_g, plane, [plane, 1]),
                        (w_g, [k, 1]),
                        (patches, [plane, 1]),
                        k,
                        true,
                    );
                }
            })
        },
    )
}

/// The im2col patches of group `group` for samples `n..n + nb` of `x`: `cols [k,
/// nb * plane]`, row (channel of the group, ky, kx), column (sample, oy, ox).
fn im2col(x: &[f32], sizes: &Sizes, group: usize, [n, nb]: [usize; 2], cols: &mut [f32]) {
    let (c_in, cin_g, plane) = (sizes.c_in, sizes.cin_g, sizes.plane);
    let g = &sizes.geometry;
    let (hw, taps) = (g.h * g.w, g.kh * g.kw);
    if g.stride != [1, 1] {
        return im2col_strided(x, sizes, group, [n, nb], cols);
    }
    cols.par_chunks_mut(nb * plane)
        .enumerate()
        .for_each(|(row, out)| {
            let ci = group * cin_g + row / taps;
            let (ky, kx) = ((row / g.kw) % g.kh, row % g.kw);
            for s in 0..nb {
                let xp = &x[((n + s) * c_in + ci) * hw..][..hw];
                g.patch_row(xp, ky, kx, &mut out[s * plane..][..plane]);
            }
        });
}

/// [`im2col`] of a strided layer: each input plane split once into its stride phases
/// (zero-padded), so every patch row is contiguous runs of a phase rather than a
/// gather of every `stride`-th value (a 7x7 stem at stride 2 read each input value 49
/// times that way).
fn im2col_strided(x: &[f32], sizes: &Sizes, group: usize, [n, nb]: [usize; 2], cols: &mut [f32]) {
    let (c_in, cin_g, plane) = (sizes.c_in, sizes.cin_g, sizes.plane);
    let g = &sizes.geometry;
    let (hw, taps) = (g.h * g.w, g.kh * g.kw);
    let dims = g.phase_dims(0);
    let per_plane = g.stride[0] * g.stride[1] * dims[0] * dims[1];
    let mut phases = math::zeros::<f32>(nb * cin_g * per_plane);
    phases
        .par_chunks_mut(per_plane.max(1))
        .enumerate()
        .for_each(|(i, q)| {
            let (s, c) = (i / cin_g, i % cin_g);
            let xp = &x[((n + s) * c_in + group * cin_g + c) * hw..][..hw];
            g.fill_phases(xp, dims, q);
        });
    cols.par_chunks_mut(nb * plane)
        .enumerate()
        .for_each(|(row, out)| {
            let (c, tap) = (row / taps, row % taps);
            let offset = g.phase_offset(tap / g.kw, tap % g.kw, dims);
            for s in 0..nb {
                let q = &phases[(s * cin_g + c) * per_plane + offset..];
                let rows = out[s * plane..][..plane].chunks_exact_mut(g.ow.max(1));
                for (oy, o) in rows.enumerate() {
                    o.copy_from_slice(&q[oy * dims[1]..][..g.ow]);
                }
            }
        });
}

/// `dW` of the convolution of `x` (dims `xs`) whose output gradient is `g` (dims
/// `gs`), for a weight of dims `ws`.
fn weight_grad(
    x: &[f32],
    xs: [usize; 4],
    g: &[f32],
    gs: [usize; 4],
    ws: [usize; 4],
    options: &ConvOptions<2>,
) -> Vec<f32> {
    let sizes = Sizes::new(xs, gs, ws, options);
    let Sizes {
        batch,
        c_in,
        c_out,
        cin_g,
        cout_g,
        groups,
        k,
        plane,
        chunk,
        ref geometry,
    } = sizes;
    let [h, w] = [geometry.h, geometry.w];
    let mut dw = vec![0.0f32; c_out * k];
    if cin_g == 1 && groups > 1 {
        // Depthwise (or a channel multiplier): each output channel reads one input
        // channel; a direct sum per channel, in parallel.
        dw.par_chunks_mut(k).enumerate().for_each(|(co, out)| {
            let ci = co / cout_g;
            for b in 0..batch {
                let xp = &x[(b * c_in + ci) * h * w..][..h * w];
                let gp = &g[(b * c_out + co) * plane..][..plane];
                math::vectorized(
                    #[inline(always)]
                    || geometry.accumulate(xp, gp, out),
                );
            }
        });
        return dw;
    }
    scratch::with_two(k * chunk * plane, cout_g * chunk * plane, |cols, dy| {
        for group in 0..groups {
            let dst = &mut dw[group * cout_g * k..][..cout_g * k];
            for (n, first) in (0..batch).step_by(chunk).map(|b| (b, b == 0)) {
                let nb = chunk.min(batch - n);
                let cols_len = nb * plane;
                im2col(x, &sizes, group, [n, nb], &mut cols[..k * cols_len]);
                gather_group(
                    g,
                    [c_out, plane],
                    group * cout_g,
                    [n, nb],
                    &mut dy[..cout_g * cols_len],
                );
                // dst [cout_g, k] (+)= dy [cout_g, cols_len] x cols^T [cols_len, k].
                matmul(
                    (dst, cout_g, k, [k, 1]),
                    !first,
                    (&dy[..cout_g * cols_len], [cols_len, 1]),
                    (&cols[..k * cols_len], [1, cols_len]),
                    cols_len,
                );
            }
        }
    });
    dw
}

/// `dx` of the convolution with weight `wt` (dims `ws`) whose output gradient is `g`
/// (dims `gs`), for an input of dims `xs`: per group `dcols = W_g^T x dY_g`, one GEMM,
/// then each patch value added back where it was read (col2im); depthwise layers
/// directly.
fn input_grad(
    wt: &[f32],
    ws: [usize; 4],
    g: &[f32],
    gs: [usize; 4],
    xs: [usize; 4],
    options: &ConvOptions<2>,
) -> Vec<f32> {
    let Sizes {
        batch,
        c_in,
        c_out,
        cin_g,
        cout_g,
        groups,
        k,
        plane,
        chunk,
        geometry,
    } = Sizes::new(xs, gs, ws, options);
    let [h, w, kh, kw] = [geometry.h, geometry.w, geometry.kh, geometry.kw];
    let mut dx = math::zeros::<f32>(batch * c_in * h * w);
    if cin_g == 1 && groups > 1 {
        // Each input channel feeds `cout_g` output channels through one tap set each.
        dx.par_chunks_mut(h * w)
            .enumerate()
            .for_each(|(plane_at, out)| {
                let (b, ci) = (plane_at / c_in, plane_at % c_in);
                for co in ci * cout_g..(ci + 1) * cout_g {
                    let gp = &g[(b * c_out + co) * plane..][..plane];
                    geometry.scatter(gp, &wt[co * k..][..k], out);
                }
            });
        return dx;
    }
    scratch::with_two(k * chunk * plane, cout_g * chunk * plane, |dcols, dy| {
        for group in 0..groups {
            for n in (0..batch).step_by(chunk) {
                let nb = chunk.min(batch - n);
                let cols_len = nb * plane;
                gather_group(
                    g,
                    [c_out, plane],
                    group * cout_g,
                    [n, nb],
                    &mut dy[..cout_g * cols_len],
                );
                // dcols [k, cols_len] = W_g^T [k, cout_g] x dy [cout_g, cols_len].
                matmul(
                    (&mut dcols[..k * cols_len], k, cols_len, [cols_len, 1]),
                    false,
                    (&wt[group * cout_g * k..][..cout_g * k], [1, k]),
                    (&dy[..cout_g * cols_len], [cols_len, 1]),
                    cout_g,
                );
                // col2im, one input plane (sample, channel of the group) per task.
                let dcols = &dcols;
                dx[n * c_in * h * w..(n + nb) * c_in * h * w]
                    .par_chunks_mut(h * w)
                    .enumerate()
                    .filter(|(i, _)| (i % c_in) / cin_g == group)
                    .for_each(|(i, out)| {
                        let (s, ci) = (i / c_in, i % cin_g);
                        for tap in 0..kh * kw {
                            let row =
                                &dcols[(ci * kh * kw + tap) * cols_len + s * plane..][..plane];
                            geometry.add_patch_row(row, tap / kw, tap % kw, out);
                        }
                    });
            }
        }
    });
    dx
}

/// The sizes of one convolution's gradient, from the dims of its input, output
/// gradient and weight.
struct Sizes {
    batch: usize,
    c_in: usize,
    c_out: usize,
    /// Input and output channels per group.
    cin_g: usize,
    cout_g: usize,
    groups: usize,
    /// Patch values per output position (`cin_g * KH * KW`).
    k: usize,
    /// Output positions per sample (`OH * OW`).
    plane: usize,
    /// Samples whose patches are built at once (at most [`PATCH_VALUES`] values).
    chunk: usize,
    geometry: Geometry,
}

impl Sizes {
    fn new(xs: [usize; 4], gs: [usize; 4], ws: [usize; 4], options: &ConvOptions<2>) -> Self {
        let [batch, c_in, h, w] = xs;
        let [_, c_out, oh, ow] = gs;
        let [_, cin_g, kh, kw] = ws;
        let (k, plane) = (cin_g * kh * kw, oh * ow);
        Self {
            batch,
            c_in,
            c_out,
            cin_g,
            cout_g: c_out / options.groups,
            groups: options.groups,
            k,
            plane,
            chunk: (PATCH_VALUES / (k * plane).max(1)).clamp(1, batch.max(1)),
            geometry: Geometry::new([h, w], [oh, ow], [kh, kw], options),
        }
    }
}

/// Copies channels `first..` of the output gradient `g [B, c_out, plane]` for samples
/// `n..n + nb` into `out`, one channel per row of `nb * plane` values: row channel,
/// column (sample, oy, ox).
fn gather_group(
    g: &[f32],
    [c_out, plane]: [usize; 2],
    first: usize,
    [n, nb]: [usize; 2],
    out: &mut [f32],
) {
    out.par_chunks_mut(nb * plane)
        .enumerate()
        .for_each(|(c, row)| {
            for s in 0..nb {
                row[s * plane..][..plane]
                    .copy_from_slice(&g[((n + s) * c_out + first + c) * plane..][..plane]);
            }
        });
}
