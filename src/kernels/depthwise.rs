//! The forward pass of a depthwise 2-D convolution (one input channel per group) on
//! the CPU backend, vectorised along whole planes rather than rows.
//!
//! Burn's CPU kernel runs each tap over each output row; in MobileNetV2's late layers
//! the rows are 3 to 12 values long, too short for SIMD. Here each input plane is split
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
use super::math;

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
    let [hq, wq] = g.phase_dims(1);
    let [sy, sx] = g.stride;
    math::written(
        batch * c_out,
        oh * ow,
        || (vec![0.0f32; sy * sx * hq * wq], vec![0.0f32; oh * wq]),
        |(phases, acc), plane, out| {
            let (b, co) = (plane / c_out, plane % c_out);
            let ci = co / multiplier;
            let xp = &x[(b * c_in + ci) * h * w..][..h * w];
            let wp = &weight[co * taps..][..taps];
            math::vectorized(
                #[inline(always)]
                || output_plane(g, xp, wp, phases, acc, out),
            );
        },
    )
}

/// One output plane `out [OH, OW]` from its input plane `xp [H, W]` and taps `wp`.
#[inline(always)]
fn output_plane(
    g: &Geometry,
    xp: &[f32],
    wp: &[f32],
    phases: &mut [f32],
    acc: &mut [f32],
    out: &mut [MaybeUninit<f32>],
) {
    let dims = g.phase_dims(1);
    g.fill_phases(xp, dims, phases);
    acc.fill(0.0);
    let n = g.oh * dims[1];
    for ky in 0..g.kh {
        for kx in 0..g.kw {
            let q = &phases[g.phase_offset(ky, kx, dims)..][..n];
            let tap = wp[ky * g.kw + kx];
            for (o, &v) in acc.iter_mut().zip(q) {
                *o += tap * v;
            }
        }
    }
    // Every value of `out` (`OH` rows of `OW`).
    for (row, wide) in out.chunks_mut(g.ow.max(1)).zip(acc.chunks(dims[1])) {
        for (o, &v) in row.iter_mut().zip(&wide[..g.ow]) {
            o.write(v);
        }
    }
}
