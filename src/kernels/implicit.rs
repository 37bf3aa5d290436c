//! 2-D convolution as an implicit product with vectors across channels (x86-64 with
//! AVX2 + FMA, or AVX-512): no im2col patches, no col2im.
//!
//! A convolution's forward pass, input gradient and weight gradient are each a product
//! `C [M, N] = A [M, K] x B [K, N]` whose left factor is read in place from a
//! zero-padded buffer: `A[i][k] = src[rows[i] + cols[k]]`, an offset per row plus an
//! offset per column ([`Gathered`]). A register block of `MR` rows x `NV` vectors of
//! columns broadcasts `A[i][k]` and multiplies it into `B`'s row `k` (packed in panels
//! of whole vectors), so the vectors run across channels, which fill them on any
//! plane: the direct kernel's vectors run across output columns, and 7 x 7 or 4 x 4
//! planes left most of their lanes idle, while im2col + GEMM spent as long copying
//! patches of 4-7 values as multiplying.
//!
//! ```text
//! forward       i = output pixel (n, oy, ox)   k = (ci, ky, kx)    N = c_out
//! weight grad   i = (ci, ky, kx)               k = output pixel    N = c_out
//! input grad    i = input pixel (n, iy, ix)    k = (co, ky, kx)    N = c_in
//! ```
//!
//! The input gradient runs once per stride phase of the input pixels (`iy + pad`
//! modulo the stride): each phase meets a fixed subset of the taps, so a strided
//! layer's input gradient is a few such products over the zero-padded output gradient,
//! no scatter. Dilation changes only the offsets. One group only (grouped and depthwise
//! layers run elsewhere).

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};

use burn::backend::ops::ConvOptions;
use rayon::prelude::*;

use super::geometry::pad_plane;
use super::simd::Isa;
use super::{math, scratch};

/// Values of `K` per pass over a task's rows: `B`'s slice for one panel (`KC` x 64
/// values on AVX-512, 32 KiB) stays in the first-level cache while every row block of
/// the task reads it (64 to 2000 measured within noise of each other).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const KC: usize = 128;
/// Values of a weight gradient's packed output gradient at most (32 MiB, as the im2col
/// path's patches): larger batches run as several products whose sums are added.
const PACKED_VALUES: usize = 8 << 20;
/// Partial sums a parallel task holds at most (128 KiB): its rows x the padded `N` stay
/// in the second-level cache across the passes over `K`.
const TILE_VALUES: usize = 32 << 10;

/// Fewest channels across which the vectors run (the output channels of a forward
/// pass or weight gradient, the input channels of an input gradient): 64 fill AVX-512's
/// 6 x 4-vector block; at 32 the direct kernel or im2col + GEMM were faster
/// (`examples/conv_layers.rs`).
const MIN_CHANNELS: usize = 64;
/// Fewest pixels (batch x plane) of a forward pass or input gradient: below them
/// packing the weights costs more than the product gains (ResNet-18's last audio
/// layers, 16 x 4 x 2 pixels).
const MIN_PIXELS: usize = 256;
/// Fewest terms per output (input channels x taps) of a strided layer of fewer than
/// [`MIN_CHANNELS`] output channels: ResNet-18's stem on images (3 x 49) ran faster
/// here, on spectrograms (1 x 49) through its stride phases, where each product is too
/// short to pay for moving its outputs.
const MIN_DEPTH: usize = 96;
/// Fewest output channels of a weight gradient: at 32 (an 8 x 2-vector block on
/// AVX-512) it beat the direct kernel and the stride phases on ResNet-18's stem and
/// first stage (`examples/conv_layers.rs`), given enough rows (below).
const MIN_GRAD_CHANNELS: usize = 32;
/// Fewest rows (input channels x taps) of a weight gradient of fewer than
/// [`MIN_CHANNELS`] output channels with stride 1: with fewer, packing the output
/// gradient (its channels for every pixel) cost as much as the rows' products, and
/// the direct kernel, which reads it in place, was faster (16 -> 32 channels of 3x3 on
/// 50 x 32 planes: 16.6 against 24 ms).
const MIN_GRAD_ROWS: usize = 256;

thread_local! {
    /// Whether every layer it can run goes through this kernel (see [`set_forced`]).
    static FORCED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs every convolution of one group that the calling thread computes through this
/// kernel where the CPU allows, whatever its shape (off by default), so that a test
/// reaches every shape through it without changing other tests' paths.
pub fn set_forced(on: bool) {
    FORCED.with(|f| f.set(on));
}

/// Whether [`set_forced`] is on for the calling thread.
fn forced() -> bool {
    FORCED.with(|f| f.get())
}

/// Whether this kernel may run (see [`set_enabled`]).
static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns this kernel on or off for the whole process (on by default), so that a
/// benchmark can time it against the other paths on the same layers in one process.
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// The register block: `mr` rows x `nv` vectors of columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Block {
    isa: Isa,
    mr: usize,
    nv: usize,
}

impl Block {
    /// The block for products of `n` columns: as many vectors as `n` fills (up to 4 of
    /// AVX-512's 16 lanes, 2 of AVX2's 8), and rows for about 24 (AVX-512's 32
    /// registers) or 12 (AVX2's 16) accumulators, leaving registers for `B`'s vectors
    /// and the broadcast value.
    fn for_columns(isa: Isa, n: usize) -> Block {
        let vectors = n.div_ceil(isa.lanes());
        let (mr, nv) = match isa {
            Isa::Avx512 if vectors > 2 => (6, 4),
            Isa::Avx512 if vectors == 2 => (8, 2),
            Isa::Avx512 => (12, 1),
            Isa::Avx2 if vectors > 1 => (6, 2),
            Isa::Avx2 => (12, 1),
        };
        Block { isa, mr, nv }
    }

    /// Columns per panel of `B`.
    fn width(self) -> usize {
        self.nv * self.isa.lanes()
    }
}

/// `C = A x B` with `A[i][k] = src[rows[i] + cols[k]]`, written to
/// `out[out_rows[i] + j * out_stride]` (`j < n`).
struct Gathered<'a> {
    src: &'a [f32],
    rows: &'a [usize],
    cols: &'a [usize],
    /// `B [K, n]` in panels of [`Block::width`] columns, `[panel][K][width]`, zeros past
    /// `n`.
    b: &'a [f32],
    n: usize,
    out_rows: &'a [usize],
    out_stride: usize,
    block: Block,
}

/// Values of `B [K, n]` packed in panels of `width` columns ([`Gathered::b`]).
fn packed_len(k_len: usize, n: usize, width: usize) -> usize {
    n.div_ceil(width) * k_len * width
}

/// `B [K, n]` with `B[k][j] = src[offsets[k] + j * stride]` into `b` ([`packed_len`]
/// values, every one written), packed in panels of `width` columns (see
/// [`Gathered::b`]), in parallel slices of 64 rows.
fn pack(src: &[f32], offsets: &[usize], stride: usize, n: usize, width: usize, b: &mut [f32]) {
    const ROWS: usize = 64;
    let k_len = offsets.len();
    assert_eq!(
        b.len(),
        packed_len(k_len, n, width),
        "implicit conv: B size"
    );
    if k_len == 0 {
        return;
    }
    b.par_chunks_mut(k_len * width)
        .enumerate()
        .for_each(|(panel, p)| {
            let columns = width.min(n - panel * width);
            let first = panel * width * stride;
            p.par_chunks_mut(ROWS * width)
                .zip(offsets.par_chunks(ROWS))
                .for_each(|(chunk, ks)| {
                    let contiguous = ks.windows(2).all(|w| w[1] == w[0] + 1);
                    if contiguous {
                        // A run of `src` per column (weights, output gradients): read
                        // in order, written a column of the slice at a time.
                        for j in 0..columns {
                            let run = &src[ks[0] + first + j * stride..][..ks.len()];
                            for (row, &v) in chunk.chunks_exact_mut(width).zip(run) {
                                row[j] = v;
                            }
                        }
                        for row in chunk.chunks_exact_mut(width) {
                            row[columns..].fill(0.0);
                        }
                        return;
                    }
                    for (row, &off) in chunk.chunks_exact_mut(width).zip(ks) {
                        let values = src[off + first..].iter().step_by(stride);
                        for (d, &v) in row[..columns].iter_mut().zip(values) {
                            *d = v;
                        }
                        row[columns..].fill(0.0);
                    }
                })
        });
}

impl Gathered<'_> {
    /// Writes `C` into `out` (every `out[out_rows[i] + j * out_stride]`, `j < n`; other
    /// values untouched).
    fn run_into(&self, out: &mut [MaybeUninit<f32>]) {
        let (m, k) = (self.rows.len(), self.cols.len());
        assert_eq!(m, self.out_rows.len(), "implicit conv: rows");
        if m == 0 || self.n == 0 {
            return;
        }
        let width = self.block.width();
        let panels = self.n.div_ceil(width);
        assert_eq!(self.b.len(), panels * k * width, "implicit conv: B size");
        // Every read and write lies inside its buffer: checked once here, so that the
        // kernel's unchecked reads cannot stray.
        let max_col = self.cols.iter().copied().max().unwrap_or(0);
        let max_row = self.rows.iter().copied().max().unwrap_or(0);
        assert!(
            k == 0 || max_row + max_col < self.src.len(),
            "implicit conv: reads past the input"
        );
        let max_out = self.out_rows.iter().copied().max().unwrap_or(0);
        assert!(
            max_out + (self.n - 1) * self.out_stride < out.len(),
            "implicit conv: writes past the output"
        );
        let mr = self.block.mr;
        let blocks = m.div_ceil(mr);
        // The last block's missing rows repeat row 0: read, never written.
        let rows: Vec<usize> = (0..blocks * mr)
            .map(|i| self.rows.get(i).copied().unwrap_or(self.rows[0]))
            .collect();
        let ldc = panels * width;
        let threads = rayon::current_num_threads();
        // Row blocks per task: as many as keep the task's partial sums in cache.
        let mut per_task = (TILE_VALUES / (mr * ldc)).clamp(1, blocks);
        let row_tasks = blocks.div_ceil(per_task);
        let mut k_parts = 1;
        if row_tasks < 2 * threads {
            if k >= m {
                // Few rows and long sums (weight gradients): split `K` and add the
                // parts, so that `B` is read once, not once per task of rows.
                k_parts = (2 * threads).div_ceil(row_tasks).min(k.div_ceil(KC)).max(1);
            } else {
                per_task = blocks.div_ceil(2 * threads).max(1);
            }
        } else {
            // A whole number of tasks per thread: 7 tasks on 2 threads kept one thread
            // idle for the last.
            per_task = blocks.div_ceil(row_tasks.next_multiple_of(threads)).max(1);
        }
        let k_step = k.div_ceil(k_parts).max(1);
        let out = Shared(out.as_mut_ptr());
        // `c` (the rows of the task from `first`) into `out`, column by column:
        // consecutive rows are mostly adjacent outputs.
        let scatter = |first: usize, c: &[f32]| {
            let n_rows = (m - first * mr).min(per_task * mr);
            let out_rows = &self.out_rows[first * mr..][..n_rows];
            // 16 rows at a time, column by column: the rows' values stay in the first
            // cache, and consecutive rows are mostly adjacent outputs.
            for (r0, rows16) in out_rows.chunks(16).enumerate() {
                let c16 = &c[r0 * 16 * ldc..];
                for j in 0..self.n {
                    let column = j * self.out_stride;
                    for (i, &at) in rows16.iter().enumerate() {
                        // SAFETY: inside `out` (checked above); the output positions of
                        // distinct (row, column) pairs differ, and each task writes its
                        // own rows.
                        unsafe { (*out.at(at + column)).write(c16[i * ldc + j]) };
                    }
                }
            }
        };
        let task_rows = |first: usize| &rows[first * mr..(first + per_task).min(blocks) * mr];
        let firsts: Vec<usize> = (0..blocks).step_by(per_task).collect();
        if k_parts == 1 {
            firsts.into_par_iter().for_each(|first| {
                let rows = task_rows(first);
                scratch::with_two(rows.len() * ldc, 0, |c, _| {
                    self.task(rows, 0..k, c);
                    scatter(first, c);
                })
            });
        } else {
            for first in firsts {
                let rows = task_rows(first);
                let parts: Vec<Vec<f32>> = (0..k_parts)
                    .into_par_iter()
                    .map(|part| {
                        let mut c = vec![0.0; rows.len() * ldc];
                        let range = part * k_step..((part + 1) * k_step).min(k);
                        self.task(rows, range, &mut c);
                        c
                    })
                    .collect();
                let mut parts = parts.into_iter();
                let mut sum = parts.next().expect("one part at least");
                for part in parts {
                    for (s, v) in sum.iter_mut().zip(&part) {
                        *s += v;
                    }
                }
                scatter(first, &sum);
            }
        }
    }

    /// `c [rows, panels * width] = A[rows] x B`, through the kernel of the block's
    /// instruction set.
    fn task(&self, rows: &[usize], range: std::ops::Range<usize>, c: &mut [f32]) {
        assert!(
            self.block.isa.on_this_cpu(),
            "the implicit convolution needs {:?}",
            self.block.isa
        );
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has the instructions just checked; `run_into` checked every
        // read against `src`, `rows` is a whole number of blocks, `c` and `b` hold
        // their blocks.
        unsafe {
            entry::task(self.block, self.src, rows, self.cols, range, self.b, c)
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!(
            "an implicit convolution without x86-64 ({})",
            rows.len() + c.len() + range.len()
        );
    }
}

/// `values` as memory to write (which it is already, initialised).
fn as_uninit(values: &mut [f32]) -> &mut [MaybeUninit<f32>] {
    // SAFETY: `MaybeUninit<f32>` has `f32`'s layout, and only `f32`s are written.
    unsafe { &mut *(values as *mut [f32] as *mut [MaybeUninit<f32>]) }
}

/// A pointer to the output that parallel tasks write disjoint values through.
#[derive(Clone, Copy)]
struct Shared(*mut MaybeUninit<f32>);

// SAFETY: tasks write disjoint positions (see `Gathered::run_into`).
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

impl Shared {
    /// # Safety
    /// `i` lies inside the buffer and no other task writes it.
    unsafe fn at(self, i: usize) -> *mut MaybeUninit<f32> {
        unsafe { self.0.add(i) }
    }
}

/// Two positions along an axis (see [`Axis::phase`]).
type Pair = (usize, usize);

/// Which product of a convolution runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// [`Implicit::forward`].
    Forward,
    /// [`Implicit::input_grad`].
    InputGrad,
    /// [`Implicit::weight_grad`].
    WeightGrad,
}

/// One axis of a convolution: input length, padding before and after, kernel taps,
/// stride, dilation and output length.
#[derive(Clone, Copy, Debug)]
struct Axis {
    len: usize,
    pad: (usize, usize),
    kernel: usize,
    stride: usize,
    dilation: usize,
    out: usize,
}

impl Axis {
    /// Length of the zero-padded input.
    fn padded(self) -> usize {
        self.pad.0 + self.len + self.pad.1
    }

    /// The input gradient's padding of the output gradient before it (`T`): phase `r`'s
    /// tap `kk` reads output `q - m` for input `iy + pad = q * stride + r`, `m = (kk *
    /// dilation - r) / stride <= T`.
    fn grad_before(self) -> usize {
        (self.kernel - 1) * self.dilation / self.stride
    }

    /// Length of the zero-padded output gradient: every `q - m + T` read fits.
    fn grad_padded(self) -> usize {
        let q_max = (self.len - 1 + self.pad.0) / self.stride;
        self.grad_before() + self.out.max(q_max + 1)
    }

    /// Phase `r`'s input positions `(i, q)` and its taps `(kk, T - m)`.
    fn phase(self, r: usize) -> (Vec<Pair>, Vec<Pair>) {
        let positions = (0..self.len)
            .filter(|i| (i + self.pad.0) % self.stride == r)
            .map(|i| (i, (i + self.pad.0) / self.stride))
            .collect();
        let taps = (0..self.kernel)
            .filter(|kk| kk * self.dilation % self.stride == r)
            .map(|kk| {
                (
                    kk,
                    self.grad_before() - (kk * self.dilation - r) / self.stride,
                )
            })
            .collect();
        (positions, taps)
    }
}

/// A convolution this kernel runs: one group, dims of input `[B, c_in, h, w]` and
/// weight `[c_out, c_in, kh, kw]`.
#[derive(Clone, Copy, Debug)]
pub struct Implicit {
    batch: usize,
    c_in: usize,
    c_out: usize,
    axes: [Axis; 2],
    isa: Isa,
}

impl Implicit {
    /// `pass` of the convolution of `options` (input dims `xs`, weight dims `ws`,
    /// output plane `output`), when this kernel runs it (unless [`set_forced`]):
    /// - a forward pass: [`MIN_CHANNELS`] output channels, or [`MIN_GRAD_CHANNELS`]
    ///   with a stride and [`MIN_DEPTH`] terms (ResNet-18's stem: 17.7 against 21.2 ms
    ///   through its phases), and [`MIN_PIXELS`] output pixels;
    /// - a weight gradient: [`MIN_CHANNELS`] output channels (its `K` is every output
    ///   pixel, so packing is cheap), or [`MIN_GRAD_CHANNELS`] with a stride and
    ///   [`MIN_DEPTH`] terms or with [`MIN_GRAD_ROWS`] rows;
    /// - an input gradient: stride 1, [`MIN_CHANNELS`] input channels and
    ///   [`MIN_PIXELS`] input pixels (strided layers' phases made products too small:
    ///   im2col + GEMM and col2im measured faster);
    ///
    /// never a 1x1 layer of stride 1 without padding.
    pub fn of(
        pass: Pass,
        xs: [usize; 4],
        ws: [usize; 4],
        options: &ConvOptions<2>,
        output: [usize; 2],
    ) -> Option<Implicit> {
        let conv = Self::new(xs, ws, options, output)?;
        let [ay, ax] = conv.axes;
        let strided = ay.stride > 1 || ax.stride > 1;
        let depth = conv.c_in * conv.taps();
        let narrow_ok = conv.c_out >= MIN_GRAD_CHANNELS && strided && depth >= MIN_DEPTH;
        // A 1x1 layer of stride 1 without padding is a plain product already, which the
        // GEMM reads in place and packs better (MobileNetV2's pointwise layers ran 5-10%
        // slower here).
        let plain = conv
            .axes
            .iter()
            .all(|a| a.kernel == 1 && a.stride == 1 && a.pad == (0, 0));
        let fits = !plain
            && match pass {
                Pass::Forward => {
                    (conv.c_out >= MIN_CHANNELS || narrow_ok)
                        && conv.batch * conv.out_plane() >= MIN_PIXELS
                }
                Pass::WeightGrad => {
                    conv.c_out >= MIN_CHANNELS
                        || narrow_ok
                        || (conv.c_out >= MIN_GRAD_CHANNELS && depth >= MIN_GRAD_ROWS)
                }
                Pass::InputGrad => {
                    !strided
                        && conv.c_in >= MIN_CHANNELS
                        && conv.batch * ay.len * ax.len >= MIN_PIXELS
                }
            };
        (fits || forced()).then_some(conv)
    }

    /// The convolution, when this kernel can run it at all: one group, on a CPU with
    /// AVX2 + FMA, enabled ([`set_enabled`]), nothing empty.
    fn new(
        xs: [usize; 4],
        ws: [usize; 4],
        options: &ConvOptions<2>,
        output: [usize; 2],
    ) -> Option<Implicit> {
        if options.groups != 1 || !ENABLED.load(Ordering::Relaxed) || ws[1] != xs[1] {
            return None;
        }
        let axis = |a: usize| Axis {
            len: xs[2 + a],
            pad: options.padding[a],
            kernel: ws[2 + a],
            stride: options.stride[a].max(1),
            dilation: options.dilation[a].max(1),
            out: output[a],
        };
        let conv = Implicit {
            batch: xs[0],
            c_in: xs[1],
            c_out: ws[0],
            axes: [axis(0), axis(1)],
            isa: Isa::best()?,
        };
        let empty = [conv.batch, conv.c_in, conv.c_out, output[0], output[1]].contains(&0)
            || conv.axes.iter().any(|a| a.len == 0 || a.kernel == 0);
        (!empty).then_some(conv)
    }

    fn taps(&self) -> usize {
        self.axes[0].kernel * self.axes[1].kernel
    }

    fn out_plane(&self) -> usize {
        self.axes[0].out * self.axes[1].out
    }

    /// Where output pixels `pixels` (counted across the batch: sample `i / P`, pixel
    /// `i % P` of its plane) start in `y [B, c_out, P]`.
    fn output_offsets(&self, pixels: std::ops::Range<usize>) -> Vec<usize> {
        let p = self.out_plane();
        pixels.map(|i| (i / p) * self.c_out * p + i % p).collect()
    }

    /// Runs `f` with the input zero-padded (or itself where nothing is padded), its
    /// plane's rows and columns, and a buffer of `b_len` values for `B`.
    fn with_padded<R>(
        &self,
        x: &[f32],
        b_len: usize,
        f: impl FnOnce(&[f32], [usize; 2], &mut [f32]) -> R,
    ) -> R {
        let [ay, ax] = self.axes;
        let plane = [ay.padded(), ax.padded()];
        if plane == [ay.len, ax.len] {
            return scratch::with_two(b_len, 0, |b, _| f(x, plane, b));
        }
        let planes = self.batch * self.c_in;
        scratch::with_two(planes * plane[0] * plane[1], b_len, |xpad, b| {
            pad_planes(x, [ay.len, ax.len], plane, [ay.pad.0, ax.pad.0], xpad);
            f(xpad, plane, b)
        })
    }

    /// Offsets in the padded input of output pixel `(n, oy, ox)`'s window, and of tap
    /// `(ci, ky, kx)` from there.
    fn window_offsets(&self, [hp, wp]: [usize; 2]) -> (Vec<usize>, Vec<usize>) {
        let [ay, ax] = self.axes;
        let sample = self.c_in * hp * wp;
        let mut pixels = Vec::with_capacity(self.batch * self.out_plane());
        for n in 0..self.batch {
            for oy in 0..ay.out {
                for ox in 0..ax.out {
                    pixels.push(n * sample + oy * ay.stride * wp + ox * ax.stride);
                }
            }
        }
        let mut taps = Vec::with_capacity(self.c_in * self.taps());
        for ci in 0..self.c_in {
            for ky in 0..ay.kernel {
                for kx in 0..ax.kernel {
                    taps.push(ci * hp * wp + ky * ay.dilation * wp + kx * ax.dilation);
                }
            }
        }
        (pixels, taps)
    }

    /// `y [B, c_out, oh, ow]` of `x [B, c_in, h, w]` through `wt [c_out, c_in, kh, kw]`.
    pub fn forward(&self, x: &[f32], wt: &[f32]) -> Vec<f32> {
        let k = self.c_in * self.taps();
        assert_eq!(wt.len(), self.c_out * k, "implicit conv: weight size");
        let block = Block::for_columns(self.isa, self.c_out);
        let p = self.out_plane();
        let len = self.batch * self.c_out * p;
        let mut y = Vec::with_capacity(len);
        let b_len = packed_len(k, self.c_out, block.width());
        self.with_padded(x, b_len, |xpad, plane, b| {
            let (pixels, taps) = self.window_offsets(plane);
            let offsets: Vec<usize> = (0..k).collect();
            pack(wt, &offsets, k, self.c_out, block.width(), b);
            let out_rows = self.output_offsets(0..pixels.len());
            Gathered {
                src: xpad,
                rows: &pixels,
                cols: &taps,
                b,
                n: self.c_out,
                out_rows: &out_rows,
                out_stride: p,
                block,
            }
            .run_into(&mut y.spare_capacity_mut()[..len])
        });
        // SAFETY: every value was written: each output pixel (a row) times each output
        // channel (a column) is one value of `y`, and `run_into` writes every pair.
        unsafe { y.set_len(len) };
        y
    }

    /// `dw [c_out, c_in, kh, kw]` given the input `x` and the output gradient `g [B,
    /// c_out, oh, ow]`: the forward product with its rows and columns swapped, summed
    /// over every output pixel of every sample.
    pub fn weight_grad(&self, x: &[f32], g: &[f32]) -> Vec<f32> {
        let k = self.c_in * self.taps();
        let p = self.out_plane();
        assert_eq!(
            g.len(),
            self.batch * self.c_out * p,
            "implicit conv: gradient size"
        );
        let block = Block::for_columns(self.isa, self.c_out);
        let width = block.width();
        let len = self.c_out * k;
        // Samples per product: the packed output gradient (as large as the gradient
        // itself) stays within `PACKED_VALUES`, each product's sums added to `dw`.
        let per_sample = packed_len(p, self.c_out, width);
        let per = (PACKED_VALUES / per_sample.max(1)).clamp(1, self.batch);
        let mut dw = vec![0.0; len];
        self.with_padded(x, per * per_sample, |xpad, plane, b_all| {
            let (pixels, taps) = self.window_offsets(plane);
            let out_rows: Vec<usize> = (0..k).collect();
            let mut part = Vec::new();
            for first in (0..self.batch).step_by(per) {
                let chunk = first * p..(first + per.min(self.batch - first)) * p;
                let offsets = self.output_offsets(chunk.clone());
                let b = &mut b_all[..packed_len(chunk.len(), self.c_out, width)];
                pack(g, &offsets, p, self.c_out, width, b);
                let product = Gathered {
                    src: xpad,
                    rows: &taps,
                    cols: &pixels[chunk],
                    b,
                    n: self.c_out,
                    out_rows: &out_rows,
                    out_stride: k,
                    block,
                };
                if first == 0 {
                    product.run_into(as_uninit(&mut dw));
                } else {
                    part.resize(len, 0.0);
                    product.run_into(as_uninit(&mut part));
                    for (d, v) in dw.iter_mut().zip(&part) {
                        *d += v;
                    }
                }
            }
        });
        dw
    }

    /// `dx [B, c_in, h, w]` given `wt` and the output gradient `g [B, c_out, oh, ow]`:
    /// one product per stride phase of the input pixels, over `g` zero-padded so that
    /// every tap of a phase reads it at a fixed offset.
    pub fn input_grad(&self, wt: &[f32], g: &[f32]) -> Vec<f32> {
        let [ay, ax] = self.axes;
        let (t, p) = (self.taps(), self.out_plane());
        assert_eq!(
            wt.len(),
            self.c_out * self.c_in * t,
            "implicit conv: weight size"
        );
        assert_eq!(
            g.len(),
            self.batch * self.c_out * p,
            "implicit conv: gradient size"
        );
        let (hq, wq) = (ay.grad_padded(), ax.grad_padded());
        let (h, w) = (ay.len, ax.len);
        let mut dx = math::zeros::<f32>(self.batch * self.c_in * h * w);
        let block = Block::for_columns(self.isa, self.c_in);
        // The largest phase's B: every tap.
        let b_len = packed_len(self.c_out * t, self.c_in, block.width());
        scratch::with_two(self.batch * self.c_out * hq * wq, b_len, |gpad, b_all| {
            let before = [ay.grad_before(), ax.grad_before()];
            pad_planes(g, [ay.out, ax.out], [hq, wq], before, gpad);
            for ry in 0..ay.stride {
                let (ys, kys) = ay.phase(ry);
                for rx in 0..ax.stride {
                    let (xs, kxs) = ax.phase(rx);
                    if ys.is_empty() || xs.is_empty() || kys.is_empty() || kxs.is_empty() {
                        // No tap reaches these input pixels: their gradient stays zero.
                        continue;
                    }
                    let (mut rows, mut out_rows) = (Vec::new(), Vec::new());
                    for n in 0..self.batch {
                        for &(iy, qy) in &ys {
                            for &(ix, qx) in &xs {
                                rows.push(n * self.c_out * hq * wq + qy * wq + qx);
                                out_rows.push(n * self.c_in * h * w + iy * w + ix);
                            }
                        }
                    }
                    let (mut cols, mut offsets) = (Vec::new(), Vec::new());
                    for co in 0..self.c_out {
                        for &(ky, dy) in &kys {
                            for &(kx, dxo) in &kxs {
                                cols.push(co * hq * wq + dy * wq + dxo);
                                offsets.push(co * self.c_in * t + ky * ax.kernel + kx);
                            }
                        }
                    }
                    let b = &mut b_all[..packed_len(offsets.len(), self.c_in, block.width())];
                    pack(wt, &offsets, t, self.c_in, block.width(), b);
                    Gathered {
                        src: gpad,
                        rows: &rows,
                        cols: &cols,
                        b,
                        n: self.c_in,
                        out_rows: &out_rows,
                        out_stride: h * w,
                        block,
                    }
                    .run_into(as_uninit(&mut dx));
                }
            }
        });
        dx
    }
}

/// Planes of `[h, w]` values (`x`), each at `(top, left)` of a `[hp, wp]` plane of
/// `out`, zeros around it (every value of `out` written; input values that fall
/// outside are left out).
fn pad_planes(
    x: &[f32],
    [h, w]: [usize; 2],
    [hp, wp]: [usize; 2],
    [top, left]: [usize; 2],
    out: &mut [f32],
) {
    assert_eq!(
        x.len() / (h * w).max(1),
        out.len() / (hp * wp).max(1),
        "implicit conv: padded planes"
    );
    let cols = w.min(wp.saturating_sub(left));
    out.par_chunks_mut(hp * wp)
        .zip(x.par_chunks(h * w))
        .for_each(|(dst, src)| pad_plane(src, [h, w], dst, [hp, wp], [top, left], cols));
}

/// The register-block kernel, once for both instruction sets.
#[cfg(target_arch = "x86_64")]
mod kernel {
    use super::super::simd::Simd;
    use std::ops::Range;

    use super::KC;

    /// `c [rows, panels * NV * LANES] = A[rows] x B` over the values `range` of `K`, in
    /// passes of [`KC`]: per pass and panel, each block of `MR` rows accumulates into
    /// its block of `c`.
    ///
    /// # Safety
    /// `S`'s instructions; `src[rows[i] + cols[k]]` inside `src` for every `i`, `k`;
    /// `rows` a whole number of blocks; `b` and `c` of their sizes.
    #[inline(always)]
    pub unsafe fn task<S: Simd, const MR: usize, const NV: usize>(
        src: &[f32],
        rows: &[usize],
        cols: &[usize],
        range: Range<usize>,
        b: &[f32],
        c: &mut [f32],
    ) {
        let width = NV * S::LANES;
        let k_len = cols.len();
        let panels = b.len() / (k_len * width).max(1);
        let ldc = panels * width;
        debug_assert!(rows.len().is_multiple_of(MR) && c.len() == rows.len() * ldc);
        if range.is_empty() {
            c.fill(0.0);
            return;
        }
        for k0 in range.clone().step_by(KC) {
            let ks = &cols[k0..(k0 + KC).min(range.end)];
            for panel in 0..panels {
                let bp = &b[(panel * k_len + k0) * width..][..ks.len() * width];
                for (block, block_rows) in rows.chunks_exact(MR).enumerate() {
                    // SAFETY: as the caller promises; the block of `c` lies inside it.
                    unsafe {
                        tile::<S, MR, NV>(
                            src.as_ptr(),
                            block_rows,
                            ks,
                            bp.as_ptr(),
                            c.as_mut_ptr().add(block * MR * ldc + panel * width),
                            ldc,
                            k0 > range.start,
                        )
                    }
                }
            }
        }
    }

    /// `c[i][..NV * LANES] (+)= sum over k of src[rows[i] + cols[k]] * b[k]`.
    ///
    /// # Safety
    /// As [`task`]; `b` holds `cols.len()` rows of `NV * LANES`.
    #[inline(always)]
    unsafe fn tile<S: Simd, const MR: usize, const NV: usize>(
        src: *const f32,
        rows: &[usize],
        cols: &[usize],
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        accumulate: bool,
    ) {
        // SAFETY: see `task`.
        unsafe {
            let r: [*const f32; MR] = std::array::from_fn(|i| src.add(rows[i]));
            let mut acc = [[S::zero(); NV]; MR];
            if accumulate {
                for (i, a) in acc.iter_mut().enumerate() {
                    for (v, a_v) in a.iter_mut().enumerate() {
                        *a_v = S::load(c.add(i * ldc + v * S::LANES));
                    }
                }
            }
            let mut bp = b;
            for &off in cols {
                let bv: [S::V; NV] = std::array::from_fn(|v| S::load(bp.add(v * S::LANES)));
                for (i, a) in acc.iter_mut().enumerate() {
                    let x = S::splat(r[i].add(off));
                    for v in 0..NV {
                        a[v] = S::fmadd(x, bv[v], a[v]);
                    }
                }
                bp = bp.add(NV * S::LANES);
            }
            for (i, a) in acc.iter().enumerate() {
                for (v, a_v) in a.iter().enumerate() {
                    S::store(c.add(i * ldc + v * S::LANES), *a_v);
                }
            }
        }
    }
}

/// The kernel compiled for each instruction set and block.
#[cfg(target_arch = "x86_64")]
mod entry {
    use std::ops::Range;

    use super::super::simd::{Avx2, Avx512};
    use super::{Block, Isa, kernel};

    /// # Safety
    /// As `kernel::task`; the CPU has the block's instruction set.
    pub unsafe fn task(
        block: Block,
        src: &[f32],
        rows: &[usize],
        cols: &[usize],
        range: Range<usize>,
        b: &[f32],
        c: &mut [f32],
    ) {
        unsafe {
            match (block.isa, block.mr, block.nv) {
                (Isa::Avx512, 6, 4) => avx512_6x4(src, rows, cols, range, b, c),
                (Isa::Avx512, 8, 2) => avx512_8x2(src, rows, cols, range, b, c),
                (Isa::Avx512, 12, 1) => avx512_12x1(src, rows, cols, range, b, c),
                (Isa::Avx2, 6, 2) => avx2_6x2(src, rows, cols, range, b, c),
                (Isa::Avx2, 12, 1) => avx2_12x1(src, rows, cols, range, b, c),
                _ => unreachable!("no kernel for {block:?}"),
            }
        }
    }

    macro_rules! instance {
        ($name:ident, $simd:ty, $features:literal, $mr:literal, $nv:literal) => {
            #[target_feature(enable = $features)]
            unsafe fn $name(
                src: &[f32],
                rows: &[usize],
                cols: &[usize],
                range: Range<usize>,
                b: &[f32],
                c: &mut [f32],
            ) {
                unsafe { kernel::task::<$simd, $mr, $nv>(src, rows, cols, range, b, c) }
            }
        };
    }

    instance!(avx512_6x4, Avx512, "avx512f,avx2,fma", 6, 4);
    instance!(avx512_8x2, Avx512, "avx512f,avx2,fma", 8, 2);
    instance!(avx512_12x1, Avx512, "avx512f,avx2,fma", 12, 1);
    instance!(avx2_6x2, Avx2, "avx2,fma", 6, 2);
    instance!(avx2_12x1, Avx2, "avx2,fma", 12, 1);
}
