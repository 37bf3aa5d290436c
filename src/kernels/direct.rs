//! Direct 2-D convolution of stride 1 over wide planes (x86-64 with AVX2 + FMA, or
//! AVX-512 where the CPU has it): each sample's input is copied once into a
//! zero-padded buffer, and a register block of output channels x two vectors of output
//! columns accumulates `w * x` over the input channels and taps, reading that buffer in
//! place. No im2col patches (9 copies of a 3x3 layer's input) and no packing: on
//! ResNet-18's 28 x 28 layers im2col + GEMM took 1.6 times oneDNN's time, and the GEMM
//! alone already as long as oneDNN's whole convolution.
//!
//! The same kernel computes a stride-1 layer's input gradient: the output gradient,
//! zero-padded by `K - 1 - pad`, through the weights flipped and transposed. The weight
//! gradient reads the same padded input against the output gradient, a block of output
//! channels x 3 taps of a row at a time, summed over each sample's positions. Layers of
//! many channels go to the implicit product first (`implicit.rs`); elsewhere (strides,
//! dilation, groups, narrow planes, wasm32, CPUs without AVX2) the im2col + GEMM path
//! runs.

use std::sync::atomic::{AtomicBool, Ordering};

use burn::backend::ops::ConvOptions;
use rayon::prelude::*;

use super::geometry::pad_plane;
pub use super::simd::{Isa, set_avx512};
use super::{math, scratch};

/// The direct kernel's register blocks on each instruction set.
impl Isa {
    /// Output channels per forward register block, x 2 vectors of accumulators: 12 of
    /// AVX2's 16 registers (the rest hold the input vectors and the broadcast weight);
    /// 16 of AVX-512's 32, as 12 channels measured no faster and waste a third of a
    /// block on 32 or 64 channels.
    const fn block(self) -> usize {
        match self {
            Isa::Avx2 => 6,
            Isa::Avx512 => 8,
        }
    }

    /// Output channels per weight-gradient block, x 3 taps of accumulators (12 / 24
    /// registers).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    const fn grad_block(self) -> usize {
        match self {
            Isa::Avx2 => 4,
            Isa::Avx512 => 8,
        }
    }

    /// Output columns per forward step: two vectors.
    const fn cols(self) -> usize {
        2 * self.lanes()
    }
}

/// Narrowest output plane that runs here: below it the padding columns of each step
/// cost more than im2col (a 7 x 7 plane would compute 16 columns for 7 or more).
pub const MIN_WIDTH: usize = 12;
/// Fewest output channels that run here: a block computes all its channels (a single
/// channel ran slower than im2col).
const MIN_CHANNELS: usize = 4;
/// Most input channels of a forward pass or a weight gradient that run here: beyond
/// them a row's reads outgrow the first cache and the GEMM's packing wins (measured
/// with `examples/conv_layers.rs`: even at 64, behind at 128). The input gradient,
/// whose input channels are the layer's outputs, gains at 128 too.
const MAX_CHANNELS: usize = 64;
/// Most input channels of a weight gradient that run here: with the GEMM's AVX-512
/// micro-kernels, im2col + GEMM took 8.2 ms for 48 x 64 -> 64 channels on 14 x 14
/// planes, this kernel 10.7 (32 channels on 28 x 28: 7.8 against 17.4).
const MAX_GRAD_CHANNELS: usize = 32;

/// One direct convolution: `x [B, c_in, h, w] -> y [B, c_out, oh, ow]`, input pixel
/// `(iy, ix)` at `(iy + offset[0], ix + offset[1])` of the zero-padded input that
/// `y[oy, ox] = sum w[ky, kx] * xpad[oy + ky, ox + kx]` reads.
#[derive(Clone, Copy, Debug)]
pub struct Direct {
    pub batch: usize,
    pub c_in: usize,
    pub c_out: usize,
    pub input: [usize; 2],
    pub kernel: [usize; 2],
    pub offset: [usize; 2],
    pub output: [usize; 2],
    pub isa: Isa,
}

/// Whether the direct kernel may run (see [`set_enabled`]).
static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns the direct kernel on or off for the whole process (on by default), so that a
/// benchmark can time it against im2col + GEMM on the same layers in one process.
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether a kernel is 1x1: im2col + GEMM reads such a layer's input in place already
/// (no patches), and the GEMM packs better than this block does.
fn pointwise(kernel: [usize; 2]) -> bool {
    kernel == [1, 1]
}

/// Whether this kernel runs: enabled ([`set_enabled`]) on a CPU that has it.
pub fn available() -> bool {
    ENABLED.load(Ordering::Relaxed) && Isa::best().is_some()
}

/// The padding before the rows and before the columns of a convolution with stride 1,
/// no dilation and one group (what this kernel computes); `None` for any other.
fn plain_padding(options: &ConvOptions<2>) -> Option<[usize; 2]> {
    (options.stride == [1, 1] && options.dilation == [1, 1] && options.groups == 1)
        .then_some([options.padding[0].0, options.padding[1].0])
}

impl Direct {
    /// The forward pass of the convolution of `options` (input dims `xs`, weight dims
    /// `ws`, output plane `output`), when it runs here.
    pub fn forward(
        xs: [usize; 4],
        ws: [usize; 4],
        options: &ConvOptions<2>,
        output: [usize; 2],
    ) -> Option<Self> {
        Self::plain(xs, ws, options, output, MAX_CHANNELS)
    }

    /// That convolution for its weight gradient ([`Direct::weight_grad`]), when it runs
    /// here.
    pub fn for_weight_grad(
        xs: [usize; 4],
        ws: [usize; 4],
        options: &ConvOptions<2>,
        output: [usize; 2],
    ) -> Option<Self> {
        Self::plain(xs, ws, options, output, MAX_GRAD_CHANNELS)
    }

    fn plain(
        xs: [usize; 4],
        ws: [usize; 4],
        options: &ConvOptions<2>,
        output: [usize; 2],
        max_c_in: usize,
    ) -> Option<Self> {
        let pad = plain_padding(options)?;
        let d = Direct {
            batch: xs[0],
            c_in: xs[1],
            c_out: ws[0],
            input: [xs[2], xs[3]],
            kernel: [ws[2], ws[3]],
            offset: pad,
            output,
            isa: Isa::best()?,
        };
        (output[1] >= MIN_WIDTH
            && d.c_in <= max_c_in
            && d.c_out >= MIN_CHANNELS
            && !pointwise(d.kernel)
            && available())
        .then_some(d)
    }

    /// The input gradient of that convolution, as a direct convolution of the output
    /// gradient (`[B, c_out, oh, ow] -> [B, c_in, h, w]`, through
    /// [`flipped_transposed`] weights), when it runs here: padding beyond `K - 1`
    /// leaves output rows no tap reads, which this form cannot say.
    pub fn input_grad(
        xs: [usize; 4],
        ws: [usize; 4],
        options: &ConvOptions<2>,
        output: [usize; 2],
    ) -> Option<Self> {
        let pad = plain_padding(options)?;
        let [kh, kw] = [ws[2], ws[3]];
        let d = Direct {
            batch: xs[0],
            c_in: ws[0],
            c_out: xs[1],
            input: output,
            kernel: [kh, kw],
            offset: [(kh - 1).checked_sub(pad[0])?, (kw - 1).checked_sub(pad[1])?],
            output: [xs[2], xs[3]],
            isa: Isa::best()?,
        };
        (xs[3] >= MIN_WIDTH && d.c_out >= MIN_CHANNELS && !pointwise(d.kernel) && available())
            .then_some(d)
    }

    /// `y [B, c_out, oh, ow]` of `x [B, c_in, h, w]` through `wt [c_out, c_in, kh, kw]`,
    /// one sample per parallel task.
    pub fn run(&self, x: &[f32], wt: &[f32]) -> Vec<f32> {
        let [h, w] = self.input;
        let [oh, ow] = self.output;
        let [kh, kw] = self.kernel;
        assert_eq!(
            x.len(),
            self.batch * self.c_in * h * w,
            "direct conv: input size"
        );
        assert_eq!(
            wt.len(),
            self.c_out * self.c_in * kh * kw,
            "direct conv: weight size"
        );
        let packed = self.pack(wt);
        let mut y = math::zeros::<f32>(self.batch * self.c_out * oh * ow);
        let (hp, wp) = self.padded();
        let sample_in = self.c_in * h * w;
        y.par_chunks_mut((self.c_out * oh * ow).max(1))
            .enumerate()
            .for_each(|(n, y_n)| {
                scratch::with_two(self.c_in * hp * wp, 0, |xpad, _| {
                    self.pad_input(&x[n * sample_in..][..sample_in], xpad);
                    sample(self, xpad, &packed, y_n)
                })
            });
        y
    }

    /// `dw [c_out, c_in, kh, kw]` of this convolution (a forward one) given its input
    /// `x [B, c_in, h, w]` and output gradient `g [B, c_out, oh, ow]`: `dw[co, ci, ky,
    /// kx] = sum over samples and output positions of g[co, oy, ox] * xpad[ci, oy + ky,
    /// ox + kx]`, a partial sum per parallel task of samples, added at the end. Made
    /// by [`Direct::for_weight_grad`].
    pub fn weight_grad(&self, x: &[f32], g: &[f32]) -> Vec<f32> {
        let [h, w] = self.input;
        let [oh, ow] = self.output;
        let [kh, kw] = self.kernel;
        let (sample_in, sample_out) = (self.c_in * h * w, self.c_out * oh * ow);
        assert_eq!(x.len(), self.batch * sample_in, "direct conv: input size");
        assert_eq!(
            g.len(),
            self.batch * sample_out,
            "direct conv: gradient size"
        );
        let (hp, wp) = self.padded();
        let row = self.gradient_row();
        let len = self.c_out * self.c_in * kh * kw;
        let lanes = self.isa.lanes();
        let per_task = self.batch.div_ceil(rayon::current_num_threads()).max(1);
        let partials: Vec<Vec<f32>> = (0..self.batch)
            .step_by(per_task)
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|first| {
                // A vector of lanes per weight, summed across lanes once at the end:
                // a sum per sample cost as much as the products on 14 x 14 planes.
                let mut lanes_dw = vec![0.0; len * lanes];
                scratch::with_two(self.c_in * hp * wp, self.c_out * oh * row, |xpad, gpad| {
                    for n in first..(first + per_task).min(self.batch) {
                        self.pad_input(&x[n * sample_in..][..sample_in], xpad);
                        // Rows of `row` values, zeros past `ow`: a step's extra lanes
                        // add nothing.
                        let g_n = &g[n * sample_out..][..sample_out];
                        for (src, dst) in g_n.chunks_exact(ow).zip(gpad.chunks_exact_mut(row)) {
                            dst[..ow].copy_from_slice(src);
                            dst[ow..].fill(0.0);
                        }
                        sample_weight_grad(self, xpad, gpad, &mut lanes_dw)
                    }
                });
                lanes_dw
                    .chunks_exact(lanes)
                    .map(|v| v.iter().sum())
                    .collect::<Vec<f32>>()
            })
            .collect();
        let mut partials = partials.into_iter();
        let mut dw = partials.next().unwrap_or_else(|| vec![0.0; len]);
        for p in partials {
            for (d, v) in dw.iter_mut().zip(&p) {
                *d += v;
            }
        }
        dw
    }

    /// Values per row of the zero-padded output gradient the weight gradient reads:
    /// `ow` rounded up to whole vectors.
    fn gradient_row(&self) -> usize {
        let lanes = self.isa.lanes();
        self.output[1].div_ceil(lanes) * lanes
    }

    /// Rows and columns of the zero-padded input: every step reads a whole step of
    /// columns from its first, so the last step's extra columns read zeros too.
    fn padded(&self) -> (usize, usize) {
        let [oh, ow] = self.output;
        let [kh, kw] = self.kernel;
        let cols = self.isa.cols();
        (oh + kh - 1, ow.div_ceil(cols) * cols + kw - 1)
    }

    /// `x_n [c_in, h, w]` at its offset in `xpad [c_in, hp, wp]`, zeros around it;
    /// input rows and columns beyond the padded size (padding after the plane that is
    /// negative in effect) are left out, as no tap reads them.
    fn pad_input(&self, x_n: &[f32], xpad: &mut [f32]) {
        let [h, w] = self.input;
        let (hp, wp) = self.padded();
        let [oy, ox] = self.offset;
        // Columns past `ow + kw - 1` are read by the extra columns of a step only: left
        // at zero, so that the weight gradient's zero-padded output gradient meets no
        // infinity there (0 x inf is NaN).
        let cols = w.min(
            (self.output[1] + self.kernel[1] - 1)
                .min(wp)
                .saturating_sub(ox),
        );
        for (plane, out) in x_n.chunks_exact(h * w).zip(xpad.chunks_exact_mut(hp * wp)) {
            pad_plane(plane, [h, w], out, [hp, wp], [oy, ox], cols);
        }
    }

    /// `wt [c_out, c_in, kh, kw]` as blocks of `CB` ([`Isa::block`]) output channels,
    /// `[block][c_in][kh][kw][CB]` (zeros for channels past `c_out`): the block's
    /// weights for one tap are adjacent.
    fn pack(&self, wt: &[f32]) -> Vec<f32> {
        let cb = self.isa.block();
        let taps = self.kernel[0] * self.kernel[1];
        let blocks = self.c_out.div_ceil(cb);
        let mut packed = vec![0.0; blocks * self.c_in * taps * cb];
        for co in 0..self.c_out {
            let (block, lane) = (co / cb, co % cb);
            for ci in 0..self.c_in {
                for t in 0..taps {
                    packed[((block * self.c_in + ci) * taps + t) * cb + lane] =
                        wt[(co * self.c_in + ci) * taps + t];
                }
            }
        }
        packed
    }
}

/// One sample's output through the kernel of `d.isa` ([`kernel::sample`]).
fn sample(d: &Direct, xpad: &[f32], packed: &[f32], y: &mut [f32]) {
    // A `Direct` is only made where the CPU has its instructions (checked again: one
    // could be built by hand; the on/off switches are not asked, a run under way
    // finishes).
    assert!(
        d.isa.on_this_cpu(),
        "the direct convolution needs {:?}",
        d.isa
    );
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the CPU has the instructions just checked; the kernel checks the
    // buffers' sizes.
    unsafe {
        match d.isa {
            Isa::Avx2 => entry::sample_avx2(d, xpad, packed, y),
            Isa::Avx512 => entry::sample_avx512(d, xpad, packed, y),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!(
        "a direct convolution {d:?} without x86-64 ({})",
        xpad.len() + packed.len() + y.len()
    );
}

/// Adds one sample's weight gradient, lane by lane, to `lanes_dw [c_out, c_in, kh, kw,
/// lanes]` through the kernel of `d.isa` ([`kernel::weight_grad`]).
fn sample_weight_grad(d: &Direct, xpad: &[f32], gpad: &[f32], lanes_dw: &mut [f32]) {
    assert!(
        d.isa.on_this_cpu(),
        "the direct convolution needs {:?}",
        d.isa
    );
    #[cfg(target_arch = "x86_64")]
    // SAFETY: as in `sample`.
    unsafe {
        match d.isa {
            Isa::Avx2 => entry::weight_grad_avx2(d, xpad, gpad, lanes_dw),
            Isa::Avx512 => entry::weight_grad_avx512(d, xpad, gpad, lanes_dw),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!(
        "a direct convolution {d:?} without x86-64 ({})",
        xpad.len() + gpad.len() + lanes_dw.len()
    );
}

/// `wt [c_out, c_in, kh, kw]` flipped in both spatial axes with its channel axes
/// swapped, `[c_in, c_out, kh, kw]`: the weights of the input gradient's convolution.
pub fn flipped_transposed(wt: &[f32], [c_out, c_in, kh, kw]: [usize; 4]) -> Vec<f32> {
    let mut out = vec![0.0; wt.len()];
    for co in 0..c_out {
        for ci in 0..c_in {
            for ky in 0..kh {
                for kx in 0..kw {
                    out[((ci * c_out + co) * kh + (kh - 1 - ky)) * kw + (kw - 1 - kx)] =
                        wt[((co * c_in + ci) * kh + ky) * kw + kx];
                }
            }
        }
    }
    out
}

/// The kernels, once for both instruction sets ([`Isa::block`] and [`Isa::grad_block`]
/// give their register blocks).
#[cfg(target_arch = "x86_64")]
mod kernel {
    use super::super::simd::Simd;
    use super::Direct;

    /// Output columns a forward step holds at most (two vectors of 16).
    const MAX_COLS: usize = 32;
    /// Taps of a row per block of the weight gradient.
    const GTAPS: usize = 3;

    /// One sample: `xpad [c_in, hp, wp]` (padded as [`Direct::pad_input`] writes it)
    /// through `packed` ([`Direct::pack`], blocks of `CB` channels) into `y [c_out, oh,
    /// ow]`.
    ///
    /// # Safety
    /// The CPU has `S`'s instructions.
    #[inline(always)]
    pub unsafe fn sample<S: Simd, const CB: usize>(
        d: &Direct,
        xpad: &[f32],
        packed: &[f32],
        y: &mut [f32],
    ) {
        let [oh, ow] = d.output;
        let [kh, kw] = d.kernel;
        let (hp, wp) = d.padded();
        let cols = 2 * S::LANES;
        let block_len = d.c_in * kh * kw * CB;
        assert!(xpad.len() >= d.c_in * hp * wp && y.len() == d.c_out * oh * ow);
        assert!(packed.len() == d.c_out.div_ceil(CB) * block_len);
        // Row by row, every block: the kh input rows of every channel a row reads stay
        // in the first caches while all output channels use them (block by block, a
        // 56 x 56 sample's padded input, larger than L2, was read again per block).
        for oy in 0..oh {
            for block in 0..d.c_out.div_ceil(CB) {
                let w = &packed[block * block_len..][..block_len];
                let channels = CB.min(d.c_out - block * CB);
                let mut ox = 0;
                while ox < ow {
                    let mut acc = [[0.0f32; MAX_COLS]; CB];
                    // SAFETY: every read lies inside `xpad` and `w`: rows oy..oy + kh < hp,
                    // columns ox..ox + cols + kw - 1 <= wp (the padded width is a whole
                    // number of steps plus kw - 1), the weights block_len long.
                    unsafe {
                        if ow - ox > S::LANES {
                            step::<S, CB, 2>(d, xpad, w, [oy, ox], [hp, wp], &mut acc)
                        } else {
                            step::<S, CB, 1>(d, xpad, w, [oy, ox], [hp, wp], &mut acc)
                        }
                    };
                    let n = (ow - ox).min(cols);
                    for (c, row) in acc.iter().enumerate().take(channels) {
                        let co = block * CB + c;
                        y[(co * oh + oy) * ow + ox..][..n].copy_from_slice(&row[..n]);
                    }
                    ox += cols;
                }
            }
        }
    }

    /// `acc[c][..LANES * V]` = output columns `ox..` of row `oy` for the block's
    /// channels.
    ///
    /// # Safety
    /// `S`'s instructions; the reads described at the call lie inside `xpad` and `w`.
    #[inline(always)]
    unsafe fn step<S: Simd, const CB: usize, const V: usize>(
        d: &Direct,
        xpad: &[f32],
        w: &[f32],
        [oy, ox]: [usize; 2],
        [hp, wp]: [usize; 2],
        acc: &mut [[f32; MAX_COLS]; CB],
    ) {
        let [kh, kw] = d.kernel;
        // SAFETY: see `sample`.
        unsafe {
            let mut a = [[S::zero(); V]; CB];
            let (xp, wp_ptr) = (xpad.as_ptr(), w.as_ptr());
            for ci in 0..d.c_in {
                for ky in 0..kh {
                    let row = xp.add((ci * hp + oy + ky) * wp + ox);
                    let taps = wp_ptr.add((ci * kh + ky) * kw * CB);
                    for kx in 0..kw {
                        let mut xv = [S::zero(); V];
                        for (v, x) in xv.iter_mut().enumerate() {
                            *x = S::load(row.add(kx + S::LANES * v));
                        }
                        let wk = taps.add(kx * CB);
                        for (c, a_c) in a.iter_mut().enumerate() {
                            let wc = S::splat(wk.add(c));
                            for v in 0..V {
                                a_c[v] = S::fmadd(wc, xv[v], a_c[v]);
                            }
                        }
                    }
                }
            }
            for (out, a_c) in acc.iter_mut().zip(&a) {
                for (v, a_v) in a_c.iter().enumerate() {
                    S::store(out.as_mut_ptr().add(S::LANES * v), *a_v);
                }
            }
        }
    }

    /// Adds one sample's `dw`, lane by lane, to `lanes_dw [c_out, c_in, kh, kw, LANES]`
    /// (its sum over the lanes is `dw`): `xpad` as in [`sample`], `gpad [c_out, oh,
    /// row]` its output gradient in rows of `row` ([`Direct::gradient_row`]) values,
    /// zeros past `ow`; `GCO` output channels x [`GTAPS`] taps of a row at a time.
    ///
    /// # Safety
    /// The CPU has `S`'s instructions.
    #[inline(always)]
    pub unsafe fn weight_grad<S: Simd, const GCO: usize>(
        d: &Direct,
        xpad: &[f32],
        gpad: &[f32],
        lanes_dw: &mut [f32],
    ) {
        let oh = d.output[0];
        let [kh, kw] = d.kernel;
        let (hp, wp) = d.padded();
        let row = d.gradient_row();
        assert!(xpad.len() >= d.c_in * hp * wp && gpad.len() >= d.c_out * oh * row);
        assert!(lanes_dw.len() == d.c_out * d.c_in * kh * kw * S::LANES);
        for block in (0..d.c_out).step_by(GCO) {
            let channels = GCO.min(d.c_out - block);
            for ci in 0..d.c_in {
                for ky in 0..kh {
                    for kx in (0..kw).step_by(GTAPS) {
                        let at = [block, channels, ci, ky, kx];
                        // SAFETY: rows oy + ky < hp, columns up to row - 1 + kw - 1 < wp
                        // (`row` <= the padded width's steps), gradient rows of `row`;
                        // the lanes of weights (block + c < c_out, kx + t < kw).
                        unsafe {
                            match kw - kx {
                                1 => gradient_taps::<S, GCO, 1>(d, xpad, gpad, at, lanes_dw),
                                2 => gradient_taps::<S, GCO, 2>(d, xpad, gpad, at, lanes_dw),
                                _ => gradient_taps::<S, GCO, GTAPS>(d, xpad, gpad, at, lanes_dw),
                            }
                        };
                    }
                }
            }
        }
    }

    /// Adds the sums over one sample's output positions of `g[block + c] * xpad[ci,
    /// oy + ky, ox + kx + t]` for `c < channels` and `t < T`, one vector per weight, to
    /// their lanes in `lanes_dw` (channels past `channels` repeat the block's first:
    /// computed, not stored).
    ///
    /// # Safety
    /// `S`'s instructions; the reads described at the call lie inside `xpad` and `gpad`.
    #[inline(always)]
    unsafe fn gradient_taps<S: Simd, const GCO: usize, const T: usize>(
        d: &Direct,
        xpad: &[f32],
        gpad: &[f32],
        [block, channels, ci, ky, kx]: [usize; 5],
        lanes_dw: &mut [f32],
    ) {
        let oh = d.output[0];
        let [kh, kw] = d.kernel;
        let (hp, wp) = d.padded();
        let row = d.gradient_row();
        // SAFETY: see `weight_grad`.
        unsafe {
            let mut a = [[S::zero(); T]; GCO];
            let (xp, gp) = (xpad.as_ptr(), gpad.as_ptr());
            for oy in 0..oh {
                let x_row = xp.add((ci * hp + oy + ky) * wp + kx);
                let g_rows: [*const f32; GCO] = std::array::from_fn(|c| {
                    let co = block + if c < channels { c } else { 0 };
                    gp.add((co * oh + oy) * row)
                });
                for ox in (0..row).step_by(S::LANES) {
                    let mut xv = [S::zero(); T];
                    for (t, v) in xv.iter_mut().enumerate() {
                        *v = S::load(x_row.add(ox + t));
                    }
                    for (c, a_c) in a.iter_mut().enumerate() {
                        let gv = S::load(g_rows[c].add(ox));
                        for t in 0..T {
                            a_c[t] = S::fmadd(gv, xv[t], a_c[t]);
                        }
                    }
                }
            }
            let out = lanes_dw.as_mut_ptr();
            for (c, a_c) in a.iter().enumerate().take(channels) {
                let at = (((block + c) * d.c_in + ci) * kh + ky) * kw + kx;
                for (t, v) in a_c.iter().enumerate() {
                    let p = out.add((at + t) * S::LANES);
                    S::store(p, S::add(S::load(p), *v));
                }
            }
        }
    }
}

/// The kernels compiled for each instruction set: the generic code of [`kernel`]
/// inlined into a function that has the instructions.
#[cfg(target_arch = "x86_64")]
mod entry {
    use super::super::simd::{Avx2, Avx512};
    use super::{Direct, Isa, kernel};

    /// # Safety
    /// The CPU has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn sample_avx2(d: &Direct, xpad: &[f32], packed: &[f32], y: &mut [f32]) {
        unsafe { kernel::sample::<Avx2, { Isa::Avx2.block() }>(d, xpad, packed, y) }
    }

    /// # Safety
    /// The CPU has AVX-512F.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn sample_avx512(d: &Direct, xpad: &[f32], packed: &[f32], y: &mut [f32]) {
        unsafe { kernel::sample::<Avx512, { Isa::Avx512.block() }>(d, xpad, packed, y) }
    }

    /// # Safety
    /// The CPU has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn weight_grad_avx2(d: &Direct, xpad: &[f32], gpad: &[f32], dw: &mut [f32]) {
        unsafe { kernel::weight_grad::<Avx2, { Isa::Avx2.grad_block() }>(d, xpad, gpad, dw) }
    }

    /// # Safety
    /// The CPU has AVX-512F.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn weight_grad_avx512(d: &Direct, xpad: &[f32], gpad: &[f32], dw: &mut [f32]) {
        unsafe { kernel::weight_grad::<Avx512, { Isa::Avx512.grad_block() }>(d, xpad, gpad, dw) }
    }
}
