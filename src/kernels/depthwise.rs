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

use rayon::prelude::*;

use super::math;

/// A depthwise convolution's sizes.
pub struct Depthwise {
    /// Input planes `[H, W]`, output planes `[OH, OW]`, kernel `[KH, KW]`.
    pub input: [usize; 2],
    pub output: [usize; 2],
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// Padding before the first row and column.
    pub pad: [usize; 2],
}

impl Depthwise {
    /// The largest phase offset a tap reads along `axis`.
    fn reach(&self, axis: usize) -> usize {
        (self.kernel[axis] - 1) * self.dilation[axis] / self.stride[axis]
    }

    /// Phase planes' `[rows, columns]`: every tap's run stays inside (one spare row
    /// for the discarded columns of the last output row).
    fn phase_dims(&self) -> [usize; 2] {
        [
            self.output[0] + self.reach(0) + 1,
            self.output[1] + self.reach(1),
        ]
    }

    /// `x [B, C_in, H, W]` through `weight [C_out, 1, KH, KW]` (`C_out` a multiple of
    /// `C_in`: output channel `co` reads input channel `co / (C_out / C_in)`)
    /// `-> [B, C_out, OH, OW]`, without bias.
    pub fn forward(
        &self,
        x: &[f32],
        [batch, c_in]: [usize; 2],
        weight: &[f32],
        c_out: usize,
    ) -> Vec<f32> {
        let [h, w] = self.input;
        let [oh, ow] = self.output;
        let taps = self.kernel[0] * self.kernel[1];
        let multiplier = c_out / c_in.max(1);
        let [hq, wq] = self.phase_dims();
        let [sy, sx] = self.stride;
        let mut out = vec![0.0f32; batch * c_out * oh * ow];
        out.par_chunks_mut((oh * ow).max(1))
            .enumerate()
            .for_each_init(
                || (vec![0.0f32; sy * sx * hq * wq], vec![0.0f32; oh * wq]),
                |(phases, acc), (plane, out)| {
                    let (b, co) = (plane / c_out, plane % c_out);
                    let ci = co / multiplier;
                    let xp = &x[(b * c_in + ci) * h * w..][..h * w];
                    let wp = &weight[co * taps..][..taps];
                    math::vectorized(
                        #[inline(always)]
                        || self.plane(xp, wp, phases, acc, out),
                    );
                },
            );
        out
    }

    /// One output plane `out [OH, OW]` from its input plane `xp [H, W]` and taps `wp`.
    #[inline(always)]
    fn plane(&self, xp: &[f32], wp: &[f32], phases: &mut [f32], acc: &mut [f32], out: &mut [f32]) {
        let [h, w] = self.input;
        let [oh, ow] = self.output;
        let [hq, wq] = self.phase_dims();
        let [sy, sx] = self.stride;
        let [py, px] = self.pad;
        // Phases, zero where they read padding.
        for (phase, q) in phases.chunks_mut(hq * wq).enumerate() {
            let (a, b) = (phase / sx, phase % sx);
            for (i, row) in q.chunks_mut(wq).enumerate() {
                let y = (i * sy + a).wrapping_sub(py);
                if y >= h {
                    row.fill(0.0);
                    continue;
                }
                let line = &xp[y * w..][..w];
                for (j, v) in row.iter_mut().enumerate() {
                    let x = (j * sx + b).wrapping_sub(px);
                    *v = if x < w { line[x] } else { 0.0 };
                }
            }
        }
        acc.fill(0.0);
        let n = oh * wq;
        for ky in 0..self.kernel[0] {
            let (a, qh) = ((ky * self.dilation[0]) % sy, ky * self.dilation[0] / sy);
            for kx in 0..self.kernel[1] {
                let (b, qw) = ((kx * self.dilation[1]) % sx, kx * self.dilation[1] / sx);
                let q = &phases[(a * sx + b) * hq * wq + qh * wq + qw..][..n];
                let tap = wp[ky * self.kernel[1] + kx];
                for (o, &v) in acc.iter_mut().zip(q) {
                    *o += tap * v;
                }
            }
        }
        for (row, wide) in out.chunks_mut(ow.max(1)).zip(acc.chunks(wq)) {
            row.copy_from_slice(&wide[..ow]);
        }
    }
}
