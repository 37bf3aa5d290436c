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
//!
//! On small planes many taps of the border pixels read padding (a 4 x 4 plane with
//! 3 x 3 taps: 44 of 144 per channel pair). There the rows fall into classes of pixels
//! whose taps all read inside the data ([`Classes`]); `K` runs tap-major and the input
//! is copied channels-last, so that a class's taps are a few runs of `K` and a run
//! reads along memory, and each block of rows sums only over its class's runs.

use std::mem::MaybeUninit;
use std::ops::Range;
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
/// Least share of a product's reads that land on padding for its pixels to be split
/// into classes that skip them (see [`Classes`]): below it, the weights' own order packs
/// faster than the tap-major order saves.
const MIN_SKIPPED: f64 = 0.15;

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
    b: Panels<'a>,
    /// Consecutive classes of `rows`: each one's number of rows and the runs of `K`
    /// its rows sum over (the others' `A` values are padding zeros).
    classes: &'a [(usize, Vec<Range<usize>>)],
    n: usize,
    out_rows: &'a [usize],
    out_stride: usize,
    block: Block,
}

/// `B [K, n]` of a [`Gathered`] product.
#[derive(Clone, Copy)]
enum Panels<'a> {
    /// Packed in panels of [`Block::width`] columns, `[panel][K][width]`, zeros past
    /// `n`.
    Packed(&'a [f32]),
    /// `B[k][j] = src[offsets[k] + j * stride]`, to pack. Where the product splits `K`
    /// across tasks, each packs its part a piece of [`PIECE_K`] at a time, just before
    /// it sums over it: a weight gradient's `B` (the output gradient, as large as `K`)
    /// stays in cache rather than going through memory twice more, packed whole.
    Gather {
        src: &'a [f32],
        offsets: &'a [usize],
        stride: usize,
    },
}

/// Values of `K` a task packs at once where it packs its own part of `B` (64 KiB at 32
/// columns: in the second-level cache with the task's other data).
const PIECE_K: usize = 4 * KC;

/// Values of `B [K, n]` packed in panels of `width` columns ([`Gathered::b`]).
fn packed_len(k_len: usize, n: usize, width: usize) -> usize {
    n.div_ceil(width) * k_len * width
}

/// `B [K, n]` with `B[k][j] = src[offsets[k] + j * stride]` into `b` ([`packed_len`]
/// values, every one written), packed in panels of `width` columns (see
/// [`Gathered::b`]), in parallel slices of [`PACK_ROWS`] rows.
fn pack(src: &[f32], offsets: &[usize], stride: usize, n: usize, block: Block, b: &mut [f32]) {
    let width = block.width();
    let k_len = check_packed(offsets, n, width, b);
    if k_len == 0 {
        return;
    }
    b.par_chunks_mut(k_len * width)
        .enumerate()
        .for_each(|(panel, p)| {
            p.par_chunks_mut(PACK_ROWS * width)
                .zip(offsets.par_chunks(PACK_ROWS))
                .for_each(|(chunk, ks)| pack_rows(src, ks, stride, [panel, n], block, chunk))
        });
}

/// [`pack`] on the calling thread (a task packing its own part of `K`).
fn pack_serial(
    src: &[f32],
    offsets: &[usize],
    stride: usize,
    n: usize,
    block: Block,
    b: &mut [f32],
) {
    let width = block.width();
    let k_len = check_packed(offsets, n, width, b);
    if k_len == 0 {
        return;
    }
    for (panel, p) in b.chunks_mut(k_len * width).enumerate() {
        for (chunk, ks) in p
            .chunks_mut(PACK_ROWS * width)
            .zip(offsets.chunks(PACK_ROWS))
        {
            pack_rows(src, ks, stride, [panel, n], block, chunk);
        }
    }
}

/// Rows of `B` packed at once by [`pack`].
const PACK_ROWS: usize = 64;

/// `K`, once `b` is checked to hold `B [K, n]` packed.
fn check_packed(offsets: &[usize], n: usize, width: usize, b: &[f32]) -> usize {
    assert_eq!(
        b.len(),
        packed_len(offsets.len(), n, width),
        "implicit conv: B size"
    );
    offsets.len()
}

/// Rows `ks` (their offsets) of panel `panel` of `B [K, n]` into `chunk`, a row of
/// `block.width()` values each, zeros past `n`.
fn pack_rows(
    src: &[f32],
    ks: &[usize],
    stride: usize,
    [panel, n]: [usize; 2],
    block: Block,
    chunk: &mut [f32],
) {
    let width = block.width();
    let columns = width.min(n - panel * width);
    let first = panel * width * stride;
    let out = as_uninit(chunk);
    gather_strided(
        Some(block.isa),
        &src[first..],
        ks,
        stride,
        columns,
        out,
        width,
    );
    for row in chunk.chunks_exact_mut(width).take(ks.len()) {
        row[columns..].fill(0.0);
    }
}

/// `out[r * width + j] = src[rows[r] + j * stride]` for every row `r` and `j < columns`
/// (`columns <= width`): whole vectors of `j` gathered on `isa` (one load per value, one
/// store per vector, where a value at a time stored each apart), the rest one value at
/// a time. A transpose when `stride` is a plane's size (channels into lanes).
pub(super) fn gather_strided(
    isa: Option<Isa>,
    src: &[f32],
    rows: &[usize],
    stride: usize,
    columns: usize,
    out: &mut [MaybeUninit<f32>],
    width: usize,
) {
    let gathered = match isa {
        #[cfg(target_arch = "x86_64")]
        Some(isa) => {
            let lanes = isa.lanes();
            let last = rows.iter().max().map(|k| k + (columns.max(1) - 1) * stride);
            if columns >= lanes
                && columns <= width
                && last.is_some_and(|last| last < src.len())
                && (lanes * stride) < i32::MAX as usize
                && out.len() >= rows.len() * width
            {
                // SAFETY: `isa` is this CPU's (callers take it from `Isa::best`); every
                // read, `src[k + j * stride]` for `j < columns`, lies inside `src`
                // (checked above), whose lanes' offsets fit the gather's 32 bits; each
                // row's gathered values lie inside `out`.
                unsafe {
                    entry::gather_rows(
                        isa,
                        src.as_ptr(),
                        rows,
                        stride,
                        columns / lanes,
                        out.as_mut_ptr().cast(),
                        width,
                    )
                }
                columns - columns % lanes
            } else {
                0
            }
        }
        // Without x86-64 no instruction set is named (`Isa::best`).
        _ => 0,
    };
    if gathered < columns {
        for (row, &off) in out.chunks_exact_mut(width).zip(rows) {
            let values = src[off + gathered * stride..].iter().step_by(stride);
            for (d, &v) in row[gathered..columns].iter_mut().zip(values) {
                d.write(v);
            }
        }
    }
}

impl Gathered<'_> {
    /// Writes `C` into `out` (every `out[out_rows[i] + j * out_stride]`, `j < n`; other
    /// values untouched).
    // Without x86-64 this kernel never runs (`Implicit::new`), its loops end at the first
    // `unreachable!`.
    #[cfg_attr(not(target_arch = "x86_64"), allow(clippy::never_loop))]
    fn run_into(&self, out: &mut [MaybeUninit<f32>]) {
        let m = self.rows.len();
        assert_eq!(m, self.out_rows.len(), "implicit conv: rows");
        assert_eq!(
            self.classes.iter().map(|(count, _)| count).sum::<usize>(),
            m,
            "implicit conv: classes"
        );
        if m == 0 || self.n == 0 {
            return;
        }
        let width = self.block.width();
        let panels = self.n.div_ceil(width);
        let k_len = self.cols.len();
        match self.b {
            Panels::Packed(b) => {
                assert_eq!(b.len(), panels * k_len * width, "implicit conv: B size")
            }
            Panels::Gather {
                src,
                offsets,
                stride,
            } => {
                assert_eq!(offsets.len(), k_len, "implicit conv: B rows");
                let last = offsets.iter().max().map(|o| o + (self.n - 1) * stride);
                assert!(
                    last.is_none_or(|last| last < src.len()),
                    "implicit conv: B reads past its source"
                );
            }
        }
        assert!(
            self.classes
                .iter()
                .flat_map(|(_, runs)| runs)
                .all(|r| r.start <= r.end && r.end <= k_len),
            "implicit conv: K runs"
        );
        // Every read and write lies inside its buffer: checked once here, so that the
        // kernel's unchecked reads cannot stray.
        let max_col = self.cols.iter().copied().max().unwrap_or(0);
        let max_row = self.rows.iter().copied().max().unwrap_or(0);
        assert!(
            k_len == 0 || max_row + max_col < self.src.len(),
            "implicit conv: reads past the input"
        );
        let max_out = self.out_rows.iter().copied().max().unwrap_or(0);
        assert!(
            max_out + (self.n - 1) * self.out_stride < out.len(),
            "implicit conv: writes past the output"
        );
        let mr = self.block.mr;
        // Each class's rows in whole blocks: its last block's missing rows repeat its
        // last row, whose value the same task writes again to the same place.
        let padded: usize = self
            .classes
            .iter()
            .map(|(count, _)| count.next_multiple_of(mr))
            .sum();
        let (mut rows, mut out_rows) = (Vec::with_capacity(padded), Vec::with_capacity(padded));
        let mut block_runs = Vec::new();
        let mut from = 0;
        for (count, runs) in self.classes {
            if *count == 0 {
                continue;
            }
            let blocks = count.div_ceil(mr);
            for i in 0..blocks * mr {
                let row = from + i.min(count - 1);
                rows.push(self.rows[row]);
                out_rows.push(self.out_rows[row]);
            }
            block_runs.extend(std::iter::repeat_n(runs.as_slice(), blocks));
            from += count;
        }
        let blocks = block_runs.len();
        let ldc = panels * width;
        let threads = rayon::current_num_threads();
        // Row blocks per task: as many as keep the task's partial sums in cache.
        let mut per_task = (TILE_VALUES / (mr * ldc)).clamp(1, blocks);
        let row_tasks = blocks.div_ceil(per_task);
        // One class of one run (every weight gradient): its `K` may be split.
        let whole = match self.classes {
            [(_, runs)] if runs.len() == 1 => Some(runs[0].clone()),
            _ => None,
        };
        let mut k_parts = 1;
        if row_tasks < 2 * threads {
            match whole.clone() {
                Some(whole) if whole.len() >= m => {
                    // Few rows and long sums (weight gradients): split `K` and add the
                    // parts, so that `B` is read once, not once per task of rows.
                    k_parts = (2 * threads)
                        .div_ceil(row_tasks)
                        .min(whole.len().div_ceil(KC))
                        .max(1);
                }
                _ => per_task = blocks.div_ceil(2 * threads).max(1),
            }
        } else {
            // A whole number of tasks per thread: 7 tasks on 2 threads kept one thread
            // idle for the last.
            per_task = blocks.div_ceil(row_tasks.next_multiple_of(threads)).max(1);
        }
        let b = match (k_parts, whole.as_ref(), self.b) {
            // One task of rows, its `K` split: each part of `B` read by one task.
            (2.., Some(_), _) if blocks <= per_task => self.b,
            (_, _, Panels::Packed(b)) => Panels::Packed(b),
            (
                ..,
                Panels::Gather {
                    src,
                    offsets,
                    stride,
                },
            ) => {
                // Several tasks read each value of `B`: packed once, before them.
                return scratch::with_two(packed_len(k_len, self.n, width), 0, |b, _| {
                    pack(src, offsets, stride, self.n, self.block, b);
                    Gathered {
                        b: Panels::Packed(b),
                        ..*self
                    }
                    .run_into(out)
                });
            }
        };
        let out = Shared(out.as_mut_ptr());
        // `c` (the rows of the task from block `first`) into `out`.
        let scatter = |first: usize, c: &[f32]| {
            let out_rows = &out_rows[first * mr..(first + per_task).min(blocks) * mr];
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the block's instruction set was checked by `task`, which ran
            // first; every write lies inside `out` (checked above); the output
            // positions of distinct (row, column) pairs differ, but for a repeated
            // row, which this task writes with the same value, and each task writes
            // its own rows.
            unsafe {
                entry::scatter(
                    self.block,
                    c,
                    ldc,
                    self.n,
                    out_rows,
                    self.out_stride,
                    out.values(),
                )
            }
            #[cfg(not(target_arch = "x86_64"))]
            unreachable!(
                "an implicit convolution without x86-64 ({:?}, {})",
                out.values(),
                c.len() + out_rows.len()
            );
        };
        let task_blocks = |first: usize| first..(first + per_task).min(blocks);
        let firsts: Vec<usize> = (0..blocks).step_by(per_task).collect();
        match (k_parts, whole) {
            (2.., Some(whole)) => {
                let k_step = whole.len().div_ceil(k_parts);
                for first in firsts {
                    let task = task_blocks(first);
                    let rows = &rows[task.start * mr..task.end * mr];
                    let parts: Vec<Vec<f32>> = (0..k_parts)
                        .into_par_iter()
                        .map(|part| {
                            let mut c = vec![0.0; rows.len() * ldc];
                            let from = whole.start + part * k_step;
                            let range = from..(from + k_step).min(whole.end);
                            self.part(rows, task.len(), range, &mut c);
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
            _ => firsts.into_par_iter().for_each(|first| {
                let task = task_blocks(first);
                let rows = &rows[task.start * mr..task.end * mr];
                scratch::with_two(rows.len() * ldc, 0, |c, _| {
                    let Panels::Packed(b) = b else {
                        unreachable!("B packed before the tasks")
                    };
                    self.task(rows, self.cols, b, &block_runs[task], c, false);
                    scatter(first, c);
                })
            }),
        }
    }

    /// `c [rows, panels * width] = A[rows] x B` summed over the `K` values `range` only,
    /// for `blocks` blocks of rows: `B`'s part packed here a piece at a time where it is
    /// to pack.
    fn part(&self, rows: &[usize], blocks: usize, range: Range<usize>, c: &mut [f32]) {
        match self.b {
            Panels::Packed(b) => {
                let range = std::slice::from_ref(&range);
                self.task(rows, self.cols, b, &vec![range; blocks], c, false)
            }
            Panels::Gather {
                src,
                offsets,
                stride,
            } => {
                let width = self.block.width();
                let piece = PIECE_K.min(range.len());
                scratch::with_two(packed_len(piece, self.n, width), 0, |buffer, _| {
                    for (i, from) in range.clone().step_by(piece).enumerate() {
                        let ks = from..(from + piece).min(range.end);
                        let b = &mut buffer[..packed_len(ks.len(), self.n, width)];
                        pack_serial(src, &offsets[ks.clone()], stride, self.n, self.block, b);
                        let all = 0..ks.len();
                        let all = std::slice::from_ref(&all);
                        self.task(rows, &self.cols[ks], b, &vec![all; blocks], c, i > 0);
                    }
                })
            }
        }
    }

    /// `c [rows, panels * width] (+)= A[rows] x B` over columns `cols` of `A` and the
    /// packed `b` of the same rows of `B` (added to `c` where `accumulate`), through the
    /// kernel of the block's instruction set.
    fn task(
        &self,
        rows: &[usize],
        cols: &[usize],
        b: &[f32],
        runs: &[&[Range<usize>]],
        c: &mut [f32],
        accumulate: bool,
    ) {
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
            entry::task(self.block, self.src, rows, cols, runs, b, c, accumulate)
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!(
            "an implicit convolution without x86-64 ({}, {accumulate})",
            rows.len() + cols.len() + b.len() + c.len() + runs.len()
        );
    }
}

/// `values` as memory to write (which it is already, initialised), for a kernel that
/// writes only `f32`s.
pub(super) fn as_uninit(values: &mut [f32]) -> &mut [MaybeUninit<f32>] {
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
    /// The buffer's values, to write as `f32`s.
    fn values(self) -> *mut f32 {
        self.0.cast()
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

    /// The zero-padded input's layout: channel-major planes, or channels last.
    fn input_layout(&self, channels_last: bool) -> Layout {
        let [ay, ax] = self.axes;
        Layout {
            channels: self.c_in,
            plane: [ay.padded(), ax.padded()],
            channels_last,
        }
    }

    /// Runs `f` with the input in `layout`, zero-padded (the input itself where nothing
    /// is padded and the layout is its own), and a buffer of `b_len` values for `B`.
    fn with_input<R>(
        &self,
        x: &[f32],
        layout: &Layout,
        b_len: usize,
        f: impl FnOnce(&[f32], &mut [f32]) -> R,
    ) -> R {
        let [ay, ax] = self.axes;
        if !layout.channels_last && layout.plane == [ay.len, ax.len] {
            return scratch::with_two(b_len, 0, |b, _| f(x, b));
        }
        scratch::with_two(layout.len(self.batch), b_len, |xpad, b| {
            layout.fill(x, [ay.len, ax.len], [ay.pad.0, ax.pad.0], xpad);
            f(xpad, b)
        })
    }

    /// Offsets in the input of `layout` of output pixel `(n, oy, ox)`'s window, in that
    /// order.
    fn window_offsets(&self, layout: &Layout) -> Vec<usize> {
        let [ay, ax] = self.axes;
        let mut pixels = Vec::with_capacity(self.batch * self.out_plane());
        for n in 0..self.batch {
            for oy in 0..ay.out {
                for ox in 0..ax.out {
                    pixels.push(layout.at(n, 0, oy * ay.stride, ox * ax.stride));
                }
            }
        }
        pixels
    }

    /// Offsets in the input of `layout` of tap `(ci, ky, kx)` from a window's start, at
    /// `K` index `k_index(ci, ky, kx)`.
    fn tap_offsets(
        &self,
        layout: &Layout,
        k_index: impl Fn(usize, usize, usize) -> usize,
    ) -> Vec<usize> {
        let [ay, ax] = self.axes;
        let mut taps = vec![0; self.c_in * self.taps()];
        for ci in 0..self.c_in {
            for ky in 0..ay.kernel {
                for kx in 0..ax.kernel {
                    taps[k_index(ci, ky, kx)] =
                        layout.at(0, ci, ky * ay.dilation, kx * ax.dilation);
                }
            }
        }
        taps
    }

    /// `y [B, c_out, oh, ow]` of `x [B, c_in, h, w]` through `wt [c_out, c_in, kh, kw]`:
    /// one product per class of output pixels (see [`Classes`]).
    pub fn forward(&self, x: &[f32], wt: &[f32]) -> Vec<f32> {
        let [ay, ax] = self.axes;
        let k = self.c_in * self.taps();
        assert_eq!(wt.len(), self.c_out * k, "implicit conv: weight size");
        let block = Block::for_columns(self.isa, self.c_out);
        let p = self.out_plane();
        let len = self.batch * self.c_out * p;
        let mut y = Vec::with_capacity(len);
        let b_len = packed_len(k, self.c_out, block.width());
        let out = &mut y.spare_capacity_mut()[..len];
        let inside = |a: Axis| {
            let bases: Vec<usize> = (0..a.out).map(|o| o * a.stride).collect();
            let taps: Vec<usize> = (0..a.kernel).map(|t| t * a.dilation).collect();
            Classes::of(&bases, &taps, a.pad.0..a.pad.0 + a.len)
        };
        let classes = Classes::pick(inside(ay), inside(ax), self.c_in);
        let layout = self.input_layout(classes.tap_major);
        self.with_input(x, &layout, b_len, |xpad, b| {
            let cols = self.tap_offsets(&layout, |ci, ky, kx| classes.k_index(ci, ky, kx));
            let mut offsets = vec![0; k];
            for ci in 0..self.c_in {
                for ky in 0..ay.kernel {
                    for kx in 0..ax.kernel {
                        offsets[classes.k_index(ci, ky, kx)] =
                            (ci * ay.kernel + ky) * ax.kernel + kx;
                    }
                }
            }
            if classes.tap_major {
                // Each filter in `K`'s order first, so that the panels' rows follow
                // each other in memory and pack as transposed blocks (a row a tap's
                // stride apart gathered a value per lane, each lane another filter's
                // page).
                scratch::with_two(wt.len(), 0, |ordered, _| {
                    ordered
                        .par_chunks_mut(k.max(1))
                        .zip(wt.par_chunks(k.max(1)))
                        .for_each(|(row, filter)| {
                            for (v, &at) in row.iter_mut().zip(&offsets) {
                                *v = filter[at];
                            }
                        });
                    let in_order: Vec<usize> = (0..k).collect();
                    pack(ordered, &in_order, k, self.c_out, block, b);
                });
            } else {
                pack(wt, &offsets, k, self.c_out, block, b);
            }
            let pixels = self.batch * p;
            let (mut rows, mut out_rows) = (Vec::with_capacity(pixels), Vec::with_capacity(pixels));
            let mut runs = Vec::new();
            for (oys, oxs, class_runs) in classes.iter() {
                let before = rows.len();
                for n in 0..self.batch {
                    for &oy in oys {
                        for &ox in oxs {
                            rows.push(layout.at(n, 0, oy * ay.stride, ox * ax.stride));
                            out_rows.push(n * self.c_out * p + oy * ax.out + ox);
                        }
                    }
                }
                runs.push((rows.len() - before, class_runs));
            }
            Gathered {
                src: xpad,
                rows: &rows,
                cols: &cols,
                b: Panels::Packed(b),
                classes: &runs,
                n: self.c_out,
                out_rows: &out_rows,
                out_stride: p,
                block,
            }
            .run_into(out);
        });
        // SAFETY: every value was written: the classes cover every output pixel once (a
        // row of a product), and `run_into` writes each row's value of every output
        // channel (a column).
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
        // Samples per product: where the product packs the output gradient whole (as
        // large as the gradient itself), it stays within `PACKED_VALUES`; each product's
        // sums are added to `dw`.
        let per_sample = packed_len(p, self.c_out, width);
        let per = (PACKED_VALUES / per_sample.max(1)).clamp(1, self.batch);
        // Written in full by the first product (every row of `K`, every column), without
        // a serial pass of zeros first.
        let mut dw = Vec::with_capacity(len);
        let layout = self.input_layout(false);
        self.with_input(x, &layout, 0, |xpad, _| {
            let pixels = self.window_offsets(&layout);
            let [ay, ax] = self.axes;
            let taps =
                self.tap_offsets(&layout, |ci, ky, kx| (ci * ay.kernel + ky) * ax.kernel + kx);
            let out_rows: Vec<usize> = (0..k).collect();
            let mut part = Vec::new();
            for first in (0..self.batch).step_by(per) {
                let chunk = first * p..(first + per.min(self.batch - first)) * p;
                let offsets = self.output_offsets(chunk.clone());
                let whole = [(k, std::iter::once(0..chunk.len()).collect())];
                let product = Gathered {
                    src: xpad,
                    rows: &taps,
                    cols: &pixels[chunk],
                    b: Panels::Gather {
                        src: g,
                        offsets: &offsets,
                        stride: p,
                    },
                    classes: &whole,
                    n: self.c_out,
                    out_rows: &out_rows,
                    out_stride: k,
                    block,
                };
                if first == 0 {
                    product.run_into(&mut dw.spare_capacity_mut()[..len]);
                    // SAFETY: the product wrote all `len` values (above).
                    unsafe { dw.set_len(len) };
                } else {
                    part.resize(len, 0.0);
                    product.run_into(as_uninit(&mut part));
                    for (d, v) in dw.iter_mut().zip(&part) {
                        *d += v;
                    }
                }
            }
        });
        // No samples: no product ran, and the gradient is zero.
        dw.resize(len, 0.0);
        dw
    }

    /// `dx [B, c_in, h, w]` given `wt` and the output gradient `g [B, c_out, oh, ow]`:
    /// per stride phase of the input pixels, one product per class of its pixels (see
    /// [`Classes`]), over `g` zero-padded so that every tap of a phase reads it at a
    /// fixed offset.
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
        let len = self.batch * self.c_in * h * w;
        // Every input pixel lies in one phase; where each phase meets a tap, its
        // products write all of them, and `dx` needs no zeros first.
        let covered = [ay, ax]
            .iter()
            .all(|a| (0..a.stride).all(|r| !a.phase(r).1.is_empty()));
        let mut dx = if covered {
            Vec::with_capacity(len)
        } else {
            math::zeros::<f32>(len)
        };
        let out = if covered {
            &mut dx.spare_capacity_mut()[..len]
        } else {
            as_uninit(&mut dx)
        };
        let block = Block::for_columns(self.isa, self.c_in);
        // The largest phase's B: every tap.
        let b_len = packed_len(self.c_out * t, self.c_in, block.width());
        scratch::with_two(self.batch * self.c_out * hq * wq, b_len, |gpad, b_all| {
            let before = [ay.grad_before(), ax.grad_before()];
            let mut filled = None;
            // A phase's positions `(i, q)` read `g` at `q + d` for its taps `(kk, d)`.
            let inside = |a: Axis, positions: &[Pair], taps: &[Pair]| {
                let bases: Vec<usize> = positions.iter().map(|&(_, q)| q).collect();
                let offsets: Vec<usize> = taps.iter().map(|&(_, d)| d).collect();
                let from = a.grad_before();
                Classes::of(&bases, &offsets, from..from + a.out)
            };
            for ry in 0..ay.stride {
                let (ys, kys) = ay.phase(ry);
                for rx in 0..ax.stride {
                    let (xs, kxs) = ax.phase(rx);
                    if ys.is_empty() || xs.is_empty() || kys.is_empty() || kxs.is_empty() {
                        // No tap reaches these input pixels: their gradient stays zero.
                        continue;
                    }
                    let classes =
                        Classes::pick(inside(ay, &ys, &kys), inside(ax, &xs, &kxs), self.c_out);
                    let layout = Layout {
                        channels: self.c_out,
                        plane: [hq, wq],
                        channels_last: classes.tap_major,
                    };
                    // Padded once, again only where a phase reads the other layout.
                    if filled != Some(layout.channels_last) {
                        layout.fill(g, [ay.out, ax.out], before, gpad);
                        filled = Some(layout.channels_last);
                    }
                    let k = self.c_out * kys.len() * kxs.len();
                    let (mut cols, mut offsets) = (vec![0; k], vec![0; k]);
                    for co in 0..self.c_out {
                        for (ty, &(ky, dy)) in kys.iter().enumerate() {
                            for (tx, &(kx, dxo)) in kxs.iter().enumerate() {
                                let at = classes.k_index(co, ty, tx);
                                cols[at] = layout.at(0, co, dy, dxo);
                                offsets[at] = co * self.c_in * t + ky * ax.kernel + kx;
                            }
                        }
                    }
                    let b = &mut b_all[..packed_len(k, self.c_in, block.width())];
                    pack(wt, &offsets, t, self.c_in, block, b);
                    let (mut rows, mut out_rows, mut runs) = (Vec::new(), Vec::new(), Vec::new());
                    for (iys, ixs, class_runs) in classes.iter() {
                        let before = rows.len();
                        for n in 0..self.batch {
                            for &(iy, qy) in iys.iter().map(|&i| &ys[i]) {
                                for &(ix, qx) in ixs.iter().map(|&i| &xs[i]) {
                                    rows.push(layout.at(n, 0, qy, qx));
                                    out_rows.push(n * self.c_in * h * w + iy * w + ix);
                                }
                            }
                        }
                        runs.push((rows.len() - before, class_runs));
                    }
                    Gathered {
                        src: &*gpad,
                        rows: &rows,
                        cols: &cols,
                        b: Panels::Packed(b),
                        classes: &runs,
                        n: self.c_in,
                        out_rows: &out_rows,
                        out_stride: h * w,
                        block,
                    }
                    .run_into(out);
                }
            }
        });
        if covered {
            // SAFETY: every value was written: each input pixel lies in one phase,
            // which meets a tap (`covered`), whose classes cover its pixels once (a row
            // of a product), and `run_into` writes each row's value of every input
            // channel (a column).
            unsafe { dx.set_len(len) };
        }
        dx
    }
}

/// Where a zero-padded copy of `[B, channels, h, w]` values keeps each value: planes
/// of `plane` per channel (`[B, channels, hp, wp]`), or each pixel's channels in a row
/// (`[B, hp, wp, channels]`), where a run of a tap-major `K` (one tap's channels) reads
/// along memory.
struct Layout {
    channels: usize,
    plane: [usize; 2],
    channels_last: bool,
}

impl Layout {
    /// Values of `batch` samples.
    fn len(&self, batch: usize) -> usize {
        batch * self.channels * self.plane[0] * self.plane[1]
    }

    /// The offset of channel `c` of sample `n` at `(y, x)` of the padded plane; linear,
    /// so that offsets add.
    fn at(&self, n: usize, c: usize, y: usize, x: usize) -> usize {
        let [hp, wp] = self.plane;
        if self.channels_last {
            ((n * hp + y) * wp + x) * self.channels + c
        } else {
            ((n * self.channels + c) * hp + y) * wp + x
        }
    }

    /// `x [B, channels, h, w]` into `out` (every value written) at `(top, left)` of each
    /// padded plane, zeros around it (values that fall outside are left out).
    fn fill(&self, x: &[f32], [h, w]: [usize; 2], [top, left]: [usize; 2], out: &mut [f32]) {
        if !self.channels_last {
            return pad_planes(x, [h, w], self.plane, [top, left], out);
        }
        let [hp, wp] = self.plane;
        let c = self.channels;
        let (rows, cols) = (
            h.min(hp.saturating_sub(top)),
            w.min(wp.saturating_sub(left)),
        );
        out.par_chunks_mut(hp * wp * c)
            .zip(x.par_chunks(c * h * w))
            .for_each(|(dst, src)| {
                dst.fill(0.0);
                for (ci, plane) in src.chunks_exact(h * w).enumerate() {
                    for (y, row) in plane.chunks_exact(w).take(rows).enumerate() {
                        let at = ((y + top) * wp + left) * c + ci;
                        for (xx, &v) in row[..cols].iter().enumerate() {
                            dst[at + xx * c] = v;
                        }
                    }
                }
            });
    }
}

/// One axis's positions grouped by the range of taps that read inside the data there
/// (see [`Classes::of`]).
struct AxisClasses {
    /// Each group's positions (indices) and taps (a range of indices).
    groups: Vec<(Vec<usize>, Range<usize>)>,
    positions: usize,
    taps: usize,
}

impl AxisClasses {
    /// The share of this axis's reads (positions x taps) that land inside the data.
    fn share(&self) -> f64 {
        let inside: usize = self.groups.iter().map(|(p, t)| p.len() * t.len()).sum();
        inside as f64 / (self.positions * self.taps).max(1) as f64
    }
}

/// The output pixels of a forward pass (or the input pixels of an input gradient's
/// phase) in classes whose taps all read inside the data, and the order of `K` that
/// makes each class's taps a few runs of it: on small planes the taps that read the
/// zero padding are many (a 4 x 4 plane with 3 x 3 taps: 144 per channel pair, 44 on
/// padding), and a product over every tap multiplied them too.
///
/// A class is a group of rows times a group of columns of the plane; `K` runs over
/// `(ty, tx, c)` (tap-major: a class's taps on one row `ty` are one run of it) where
/// the classes are split, and over `(c, ty, tx)` (the weights' own order, which packs
/// from runs) where one class of every tap reads little padding (below
/// [`MIN_SKIPPED`]).
struct Classes {
    y: Vec<(Vec<usize>, Range<usize>)>,
    x: Vec<(Vec<usize>, Range<usize>)>,
    /// Taps along y and x.
    taps: [usize; 2],
    channels: usize,
    tap_major: bool,
}

impl Classes {
    /// Positions `bases` of one axis, read at `bases[i] + taps[t]`, grouped by the taps
    /// whose reads land in `inside`: a range of them, as reads move monotonically with
    /// the tap.
    fn of(bases: &[usize], taps: &[usize], inside: Range<usize>) -> AxisClasses {
        let mut groups: Vec<(Vec<usize>, Range<usize>)> = Vec::new();
        for (i, &base) in bases.iter().enumerate() {
            let valid = |t: &usize| inside.contains(&(base + taps[*t]));
            let range = match (0..taps.len()).find(valid) {
                Some(first) => first..(0..taps.len()).rev().find(valid).unwrap_or(first) + 1,
                None => 0..0,
            };
            match groups.iter_mut().find(|(_, r)| *r == range) {
                Some((positions, _)) => positions.push(i),
                None => groups.push((vec![i], range)),
            }
        }
        AxisClasses {
            groups,
            positions: bases.len(),
            taps: taps.len(),
        }
    }

    /// Split classes where they skip at least [`MIN_SKIPPED`] of the reads, one class
    /// of every position and tap otherwise.
    fn pick(y: AxisClasses, x: AxisClasses, channels: usize) -> Classes {
        let taps = [y.taps, x.taps];
        if 1.0 - y.share() * x.share() >= MIN_SKIPPED {
            return Classes {
                y: y.groups,
                x: x.groups,
                taps,
                channels,
                tap_major: true,
            };
        }
        let whole = |a: AxisClasses| vec![((0..a.positions).collect(), 0..a.taps)];
        Classes {
            y: whole(y),
            x: whole(x),
            taps,
            channels,
            tap_major: false,
        }
    }

    /// Where channel `c` of tap `(ty, tx)` lies in `K`.
    fn k_index(&self, c: usize, ty: usize, tx: usize) -> usize {
        let [ny, nx] = self.taps;
        if self.tap_major {
            (ty * nx + tx) * self.channels + c
        } else {
            (c * ny + ty) * nx + tx
        }
    }

    /// Each class: its positions along y and x (indices), and the runs of `K` of its
    /// taps.
    fn iter(&self) -> impl Iterator<Item = (&[usize], &[usize], Vec<Range<usize>>)> {
        self.y.iter().flat_map(move |(ys, ty)| {
            self.x.iter().map(move |(xs, tx)| {
                let runs: Vec<Range<usize>> = if ty.is_empty() || tx.is_empty() {
                    Vec::new()
                } else if !self.tap_major {
                    // One class of every tap: all of `K`.
                    std::iter::once(0..self.channels * self.taps[0] * self.taps[1]).collect()
                } else {
                    // A run per row of taps, adjacent runs joined.
                    let mut runs: Vec<Range<usize>> = Vec::new();
                    for row in ty.clone() {
                        let run = self.k_index(0, row, tx.start)..self.k_index(0, row, tx.end);
                        match runs.last_mut() {
                            Some(last) if last.end == run.start => last.end = run.end,
                            _ => runs.push(run),
                        }
                    }
                    runs
                };
                (ys.as_slice(), xs.as_slice(), runs)
            })
        })
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

    /// `c [rows, panels * NV * LANES] (+)= A[rows] x B`, block `i` of `MR` rows summing
    /// over the runs `runs[i]` of `K`, in passes of [`KC`] values of `K`: per pass and
    /// panel, each block accumulates its runs' part of the pass into its block of `c`
    /// (zeros for a block without any run), added to `c`'s values where `accumulate`.
    ///
    /// # Safety
    /// `S`'s instructions; `src[rows[i] + cols[k]]` inside `src` for every `i`, `k`;
    /// `rows` a whole number of blocks, one `runs` each, inside `0..cols.len()`; `b` and
    /// `c` of their sizes.
    #[inline(always)]
    pub unsafe fn task<S: Simd, const MR: usize, const NV: usize>(
        src: &[f32],
        rows: &[usize],
        cols: &[usize],
        runs: &[&[Range<usize>]],
        b: &[f32],
        c: &mut [f32],
        accumulate: bool,
    ) {
        let width = NV * S::LANES;
        let k_len = cols.len();
        let panels = b.len() / (k_len * width).max(1);
        let ldc = panels * width;
        debug_assert!(rows.len() == runs.len() * MR && c.len() == rows.len() * ldc);
        // Whether each block's columns of each panel hold partial sums yet.
        let mut started = vec![accumulate; runs.len() * panels];
        let from = runs.iter().flat_map(|r| r.iter()).map(|r| r.start).min();
        let to = runs.iter().flat_map(|r| r.iter()).map(|r| r.end).max();
        for k0 in (from.unwrap_or(0)..to.unwrap_or(0)).step_by(KC) {
            let pass = k0..(k0 + KC).min(to.unwrap_or(0));
            for panel in 0..panels {
                let bp = &b[panel * k_len * width..][..k_len * width];
                for (block, block_rows) in rows.chunks_exact(MR).enumerate() {
                    for run in runs[block] {
                        let ks = run.start.max(pass.start)..run.end.min(pass.end);
                        if ks.is_empty() {
                            continue;
                        }
                        // SAFETY: as the caller promises; the block of `c` lies inside it.
                        unsafe {
                            tile::<S, MR, NV>(
                                src.as_ptr(),
                                block_rows,
                                &cols[ks.clone()],
                                bp[ks.start * width..].as_ptr(),
                                c.as_mut_ptr().add(block * MR * ldc + panel * width),
                                ldc,
                                started[block * panels + panel],
                            )
                        }
                        started[block * panels + panel] = true;
                    }
                }
            }
        }
        for (block, started) in started.chunks_exact(panels.max(1)).enumerate() {
            if !started.iter().all(|&s| s) {
                c[block * MR * ldc..][..MR * ldc].fill(0.0);
            }
        }
    }

    /// `out[k * width + j] = src[offsets[k] + j * stride]` for every `k` and `j` below
    /// `vectors * LANES`: `LANES` rows whose offsets follow each other as one block of
    /// `LANES` loads along memory, transposed in registers, other rows a gathered vector
    /// of `j` at a time (a lane per load: a forward pass's weights, `stride` a whole
    /// filter apart, touched a page per lane, and packing them took a tenth of
    /// ResNet-18's last layers).
    ///
    /// # Safety
    /// `S`'s instructions; every read inside `src`'s buffer, `(LANES - 1) * stride` in
    /// 32 bits; `out` holds `offsets.len()` rows of `width >= vectors * LANES`.
    #[inline(always)]
    pub unsafe fn gather_rows<S: Simd>(
        src: *const f32,
        offsets: &[usize],
        stride: usize,
        vectors: usize,
        out: *mut f32,
        width: usize,
    ) {
        let lanes = S::LANES;
        let rows: [usize; 16] = std::array::from_fn(|i| i * width);
        let mut k = 0;
        while k < offsets.len() {
            let off = offsets[k];
            let run = offsets[k..].len() >= lanes && (1..lanes).all(|i| offsets[k + i] == off + i);
            if run {
                for v in 0..vectors {
                    // SAFETY: as the caller promises: the block's reads are rows
                    // `k..k + LANES`'s, its writes their vectors `v`.
                    unsafe {
                        S::transpose(
                            src.add(off + v * lanes * stride),
                            stride,
                            out.add(k * width + v * lanes),
                            &rows[..lanes],
                        )
                    }
                }
                k += lanes;
                continue;
            }
            for v in 0..vectors {
                // SAFETY: as the caller promises.
                unsafe {
                    let x = S::gather(src.add(off + v * lanes * stride), stride);
                    S::store(out.add(k * width + v * lanes), x);
                }
            }
            k += 1;
        }
    }

    /// `out[out_rows[i] + j * out_stride] = c[i * ldc + j]` for each row `i` of `c` and
    /// `j < n`, `LANES` rows at a time: a column's values of those rows are gathered
    /// into one vector and stored by runs of consecutive outputs (mostly one run: the
    /// rows are adjacent pixels of a plane), where one store per value took a third of
    /// ResNet-18's stem.
    ///
    /// # Safety
    /// `S`'s instructions; every `out_rows[i] + j * out_stride` inside `out`'s buffer;
    /// `c` holds `out_rows.len()` rows of `ldc >= n` values.
    #[inline(always)]
    pub unsafe fn scatter<S: Simd>(
        c: &[f32],
        ldc: usize,
        n: usize,
        out_rows: &[usize],
        out_stride: usize,
        out: *mut f32,
    ) {
        debug_assert!(c.len() >= out_rows.len() * ldc && n <= ldc);
        let mut chunks = out_rows.chunks_exact(S::LANES);
        for (chunk, rows) in chunks.by_ref().enumerate() {
            // Runs of lanes whose outputs follow each other.
            let mut runs = [(0, 0); 16];
            let mut count = 0;
            let mut start = 0;
            for i in 1..=S::LANES {
                if i == S::LANES || rows[i] != rows[i - 1] + 1 {
                    runs[count] = (start, i);
                    count += 1;
                    start = i;
                }
            }
            let block = c[chunk * S::LANES * ldc..].as_ptr();
            for j in 0..n {
                // SAFETY: lane `i` reads `c[(chunk * LANES + i) * ldc + j]`, a row of
                // `c`; each run's lanes write their own outputs, inside `out`.
                unsafe {
                    let v = S::gather(block.add(j), ldc);
                    for &(from, to) in &runs[..count] {
                        let at = out.wrapping_add(rows[from] + j * out_stride);
                        S::store_lanes(at.wrapping_sub(from), v, from..to);
                    }
                }
            }
        }
        let rest = chunks.remainder();
        let first = out_rows.len() - rest.len();
        for j in 0..n {
            for (i, &at) in rest.iter().enumerate() {
                // SAFETY: as above.
                unsafe { *out.add(at + j * out_stride) = c[(first + i) * ldc + j] };
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
    // `kernel::task`'s operands and the block that picks its instance.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn task(
        block: Block,
        src: &[f32],
        rows: &[usize],
        cols: &[usize],
        runs: &[&[Range<usize>]],
        b: &[f32],
        c: &mut [f32],
        accumulate: bool,
    ) {
        let acc = accumulate;
        unsafe {
            match (block.isa, block.mr, block.nv) {
                (Isa::Avx512, 6, 4) => avx512_6x4(src, rows, cols, runs, b, c, acc),
                (Isa::Avx512, 8, 2) => avx512_8x2(src, rows, cols, runs, b, c, acc),
                (Isa::Avx512, 12, 1) => avx512_12x1(src, rows, cols, runs, b, c, acc),
                (Isa::Avx2, 6, 2) => avx2_6x2(src, rows, cols, runs, b, c, acc),
                (Isa::Avx2, 12, 1) => avx2_12x1(src, rows, cols, runs, b, c, acc),
                _ => unreachable!("no kernel for {block:?}"),
            }
        }
    }

    /// # Safety
    /// As `kernel::scatter`; the CPU has the block's instruction set.
    pub unsafe fn scatter(
        block: Block,
        c: &[f32],
        ldc: usize,
        n: usize,
        out_rows: &[usize],
        out_stride: usize,
        out: *mut f32,
    ) {
        unsafe {
            match block.isa {
                Isa::Avx512 => scatter_avx512(c, ldc, n, out_rows, out_stride, out),
                Isa::Avx2 => scatter_avx2(c, ldc, n, out_rows, out_stride, out),
            }
        }
    }

    /// # Safety
    /// As `kernel::gather_rows`; the CPU has `isa`.
    pub unsafe fn gather_rows(
        isa: Isa,
        src: *const f32,
        offsets: &[usize],
        stride: usize,
        vectors: usize,
        out: *mut f32,
        width: usize,
    ) {
        unsafe {
            match isa {
                Isa::Avx512 => gather_rows_avx512(src, offsets, stride, vectors, out, width),
                Isa::Avx2 => gather_rows_avx2(src, offsets, stride, vectors, out, width),
            }
        }
    }

    /// `kernel::$kernel` compiled for AVX-512 (as `$avx512`) and for AVX2 + FMA (as
    /// `$avx2`), with the parameters listed.
    macro_rules! per_isa {
        ($kernel:ident, $avx512:ident, $avx2:ident, ($($arg:ident: $ty:ty),*)) => {
            #[target_feature(enable = "avx512f,avx2,fma")]
            unsafe fn $avx512($($arg: $ty),*) {
                unsafe { kernel::$kernel::<Avx512>($($arg),*) }
            }
            #[target_feature(enable = "avx2,fma")]
            unsafe fn $avx2($($arg: $ty),*) {
                unsafe { kernel::$kernel::<Avx2>($($arg),*) }
            }
        };
    }

    per_isa!(
        scatter,
        scatter_avx512,
        scatter_avx2,
        (
            c: &[f32],
            ldc: usize,
            n: usize,
            out_rows: &[usize],
            out_stride: usize,
            out: *mut f32
        )
    );
    per_isa!(
        gather_rows,
        gather_rows_avx512,
        gather_rows_avx2,
        (
            src: *const f32,
            offsets: &[usize],
            stride: usize,
            vectors: usize,
            out: *mut f32,
            width: usize
        )
    );

    macro_rules! instance {
        ($name:ident, $simd:ty, $features:literal, $mr:literal, $nv:literal) => {
            #[target_feature(enable = $features)]
            unsafe fn $name(
                src: &[f32],
                rows: &[usize],
                cols: &[usize],
                runs: &[&[Range<usize>]],
                b: &[f32],
                c: &mut [f32],
                accumulate: bool,
            ) {
                unsafe { kernel::task::<$simd, $mr, $nv>(src, rows, cols, runs, b, c, accumulate) }
            }
        };
    }

    instance!(avx512_6x4, Avx512, "avx512f,avx2,fma", 6, 4);
    instance!(avx512_8x2, Avx512, "avx512f,avx2,fma", 8, 2);
    instance!(avx512_12x1, Avx512, "avx512f,avx2,fma", 12, 1);
    instance!(avx2_6x2, Avx2, "avx2,fma", 6, 2);
    instance!(avx2_12x1, Avx2, "avx2,fma", 12, 1);
}
