//! The forward pass of a depthwise 2-D convolution (one input channel per group) on
//! the CPU backend, vectorised along whole planes rather than rows, or across channels.
//!
//! Burn's CPU kernel runs each tap over each output row; in MobileNetV2's late layers
//! the rows are 3 to 12 values long, too short for SIMD. Strided layers and small planes
//! (one output channel per input channel) interleave 16 channels into vector lanes
//! ([`interleaved`]). Otherwise each input plane is split
//! once into its `stride²` phases, zero-padded (`Q_ab[i][j] = X[i s + a - pad][j s + b -
//! pad]`), so that every tap reads one contiguous run of a phase:
//!
//! ```text
//! acc[oh * Wq + ow] += w[ky, kx] * Q_ab[(oh + qh) * Wq + (ow + qw)],
//! (a, qh) = (ky * dilation) mod/div stride, (b, qw) likewise for kx
//! ```
//!
//! a run over the whole plane (`Wq - OW` columns of it discarded), then the valid
//! columns are copied out. A tap that reads padding adds `w * 0` (so a non-finite
//! weight gives NaN there, as a direct convolution over zero padding does).

use std::mem::MaybeUninit;

use super::geometry::Geometry;
use super::implicit::{as_uninit, gather_strided};
use super::math;

/// Outputs held in registers across every tap: 4 AVX-512 vectors (8 AVX2, 16 WebAssembly
/// SIMD), each tap then one load and one fused multiply-add per vector, not a pass over
/// an accumulator in memory.
const RUN: usize = 64;
/// The run of the plane's last values when fewer than [`RUN`] are left.
const TAIL: usize = 16;

/// `x [B, C_in, H, W]` through `weight [C_out, 1, KH, KW]` (`C_out` a multiple of
/// `C_in`: output channel `co` reads input channel `co / (C_out / C_in)`) `-> [B, C_out,
/// OH, OW]`, without bias.
pub fn forward(
    g: &Geometry,
    x: &[f32],
    [batch, c_in]: [usize; 2],
    weight: &[f32],
    c_out: usize,
) -> Vec<f32> {
    let (h, w, oh, ow) = (g.h, g.w, g.oh, g.ow);
    let taps = g.kh * g.kw;
    let multiplier = c_out / c_in.max(1);
    if multiplier == 1 && (g.stride != [1, 1] || oh * ow <= SMALL_PLANE) {
        return interleaved(g, x, [batch, c_in], weight);
    }
    let dims = g.phase_dims(1);
    let [sy, sx] = g.stride;
    // Where each tap's run starts in the phases, in the weights' (ky, kx) order.
    let offsets: Vec<usize> = (0..taps)
        .map(|t| g.phase_offset(t / g.kw, t % g.kw, dims))
        .collect();
    let n = oh * dims[1];
    // Room for the last run to read (and write) past the plane's end.
    let slack = n.next_multiple_of(TAIL) - n + RUN;
    let plane = oh * ow;
    math::written(
        batch * c_out,
        plane,
        math::TASK / plane.max(1),
        || {
            (
                vec![0.0f32; sy * sx * dims[0] * dims[1] + slack],
                vec![0.0f32; n + slack],
            )
        },
        |(phases, acc), first, outs| {
            math::vectorized(
                #[inline(always)]
                || {
                    for (k, out) in outs.chunks_mut(plane.max(1)).enumerate() {
                        let (b, co) = ((first + k) / c_out, (first + k) % c_out);
                        let ci = co / multiplier;
                        let xp = &x[(b * c_in + ci) * h * w..][..h * w];
                        let wp = &weight[co * taps..][..taps];
                        output_plane(g, xp, wp, &offsets, phases, acc, out);
                    }
                },
            );
        },
    )
}

/// One output plane `out [OH, OW]` from its input plane `xp [H, W]`, taps `wp` and
/// their `offsets` in the phases.
#[inline(always)]
fn output_plane(
    g: &Geometry,
    xp: &[f32],
    wp: &[f32],
    offsets: &[usize],
    phases: &mut [f32],
    acc: &mut [f32],
    out: &mut [MaybeUninit<f32>],
) {
    let dims = g.phase_dims(1);
    let [sy, sx] = g.stride;
    // The slack past the phases stays zero: it is never written.
    g.fill_phases(xp, dims, &mut phases[..sy * sx * dims[0] * dims[1]]);
    let n = g.oh * dims[1];
    let whole = n - n % RUN;
    for start in (0..whole).step_by(RUN) {
        run::<RUN>(phases, wp, offsets, start, acc);
    }
    for start in (whole..n).step_by(TAIL) {
        run::<TAIL>(phases, wp, offsets, start, acc);
    }
    // Every value of `out` (`OH` rows of `OW`).
    for (row, wide) in out.chunks_mut(g.ow.max(1)).zip(acc.chunks(dims[1])) {
        for (o, &v) in row.iter_mut().zip(&wide[..g.ow]) {
            o.write(v);
        }
    }
}

/// `acc[start..start + L] = sum over taps t of wp[t] * phases[offsets[t] + start..][..L]`,
/// the sums kept in registers (taps in order, as the tap-by-tap loop summed them).
#[inline(always)]
fn run<const L: usize>(
    phases: &[f32],
    wp: &[f32],
    offsets: &[usize],
    start: usize,
    acc: &mut [f32],
) {
    let mut sum = [0.0f32; L];
    for (&offset, &tap) in offsets.iter().zip(wp) {
        let q = &phases[offset + start..][..L];
        for (s, &v) in sum.iter_mut().zip(q) {
            *s = math::fma(tap, v, *s);
        }
    }
    acc[start..][..L].copy_from_slice(&sum);
}

/// Output planes up to this size (a stride-1 layer's 10 x 10 or 12 x 12) run
/// [`interleaved`], as every strided layer does; the runs over whole planes are faster
/// on larger ones (measured on MobileNetV2's layers, `examples/depthwise.rs`).
const SMALL_PLANE: usize = 144;

/// Channels a block interleaves: one AVX-512 vector (two of AVX2, four of WebAssembly).
const LANES: usize = 16;

/// The same convolution (one output channel per input channel) for small planes, where
/// a plane's fixed costs (its phases, a partly wasted run) outweigh its few outputs: the
/// planes of up to [`LANES`] channels of a sample are interleaved into one zero-padded
/// `[Hp, Wp, LANES]` block, each output position is then `taps` fused multiply-adds of
/// whole vectors (a lane per channel), and the `[OH, OW, LANES]` sums are split back
/// into planes; both transposes gather a vector at a time.
fn interleaved(g: &Geometry, x: &[f32], [batch, c]: [usize; 2], weight: &[f32]) -> Vec<f32> {
    let (h, w, oh, ow) = (g.h, g.w, g.oh, g.ow);
    let plane = oh * ow;
    if plane == 0 {
        return Vec::new();
    }
    let taps = g.kh * g.kw;
    let [sy, sx] = g.stride;
    let [dy, dx] = g.dilation;
    let [py, px] = g.pad;
    // Only what some tap reads: rows and columns past these are never used.
    let hp = (oh - 1) * sy + (g.kh.max(1) - 1) * dy + 1;
    let wp = (ow - 1) * sx + (g.kw.max(1) - 1) * dx + 1;
    let cols = w.min(wp.saturating_sub(px));
    // No input rows where no input column is read (padding past every tap's column).
    let rows = if cols == 0 {
        0
    } else {
        h.min(hp.saturating_sub(py))
    };
    // Where each tap reads, relative to its output's first tap, in values.
    let offsets: Vec<usize> = (0..taps)
        .map(|t| ((t / g.kw) * dy * wp + (t % g.kw) * dx) * LANES)
        .collect();
    let counting: Vec<usize> = (0..cols.max(LANES)).collect();
    let isa = super::simd::Isa::best();
    math::written(
        batch * c,
        plane,
        // Whole blocks of lanes per task, however large the planes.
        (math::TASK / plane).max(1).next_multiple_of(LANES),
        // The padding stays zero: only the `rows x cols` inside are ever written.
        || {
            (
                vec![0.0f32; hp * wp * LANES],
                vec![0.0f32; plane * LANES],
                vec![0.0f32; taps * LANES],
            )
        },
        |(padded, sums, taps_by_lane), first, outs| {
            math::vectorized(
                #[inline(always)]
                || {
                    let count = outs.len() / plane;
                    let mut p = 0;
                    while p < count {
                        let (b, c0) = ((first + p) / c, (first + p) % c);
                        // Lanes past `k` keep an earlier block's values, never written out.
                        let k = LANES.min(count - p).min(c - c0);
                        let block = &x[(b * c + c0) * h * w..];
                        for y in 0..rows {
                            let dst = as_uninit(
                                &mut padded[((y + py) * wp + px) * LANES..][..cols * LANES],
                            );
                            gather_strided(
                                isa,
                                &block[y * w..],
                                &counting[..cols],
                                h * w,
                                k,
                                dst,
                                LANES,
                            );
                        }
                        for l in 0..k {
                            for t in 0..taps {
                                taps_by_lane[t * LANES + l] = weight[(c0 + l) * taps + t];
                            }
                        }
                        for oy in 0..oh {
                            for ox in 0..ow {
                                let at = (oy * sy * wp + ox * sx) * LANES;
                                let mut sum = [0.0f32; LANES];
                                for (&o, wt) in offsets.iter().zip(taps_by_lane.chunks_exact(LANES))
                                {
                                    let v = &padded[at + o..][..LANES];
                                    for l in 0..LANES {
                                        sum[l] = math::fma(wt[l], v[l], sum[l]);
                                    }
                                }
                                sums[(oy * ow + ox) * LANES..][..LANES].copy_from_slice(&sum);
                            }
                        }
                        let out = &mut outs[p * plane..][..k * plane];
                        gather_strided(isa, sums, &counting[..k], LANES, plane, out, plane);
                        p += k;
                    }
                },
            );
        },
    )
}
