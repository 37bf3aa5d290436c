//! Where each tap of a 2-D convolution reads its input plane: the valid output range
//! of a tap, im2col rows and their transpose, and the input split into its stride
//! phases (so that a strided tap reads contiguous runs).

use burn::backend::ops::ConvOptions;

use super::math;

/// Where a kernel tap reads the input, for one convolution's sizes.
pub struct Geometry {
    pub h: usize,
    pub w: usize,
    pub oh: usize,
    pub ow: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// Padding before the first row and column.
    pub pad: [usize; 2],
}

impl Geometry {
    pub fn new(
        input: [usize; 2],
        output: [usize; 2],
        kernel: [usize; 2],
        o: &ConvOptions<2>,
    ) -> Self {
        Self {
            h: input[0],
            w: input[1],
            oh: output[0],
            ow: output[1],
            kh: kernel[0],
            kw: kernel[1],
            stride: o.stride,
            dilation: o.dilation,
            pad: [o.padding[0].0, o.padding[1].0],
        }
    }

    /// Adds the patch row of tap `(ky, kx)`, `row [OH, OW]`, back into the input plane
    /// `xp [H, W]` where the tap read it (the transpose of [`Geometry::patch_row`]).
    pub fn add_patch_row(&self, row: &[f32], ky: usize, kx: usize, xp: &mut [f32]) {
        let (y0, y1) = self.valid(0, ky, self.h, self.oh);
        let (x0, x1) = self.valid(1, kx, self.w, self.ow);
        let [sy, sx] = self.stride;
        let (dy, dx) = (ky * self.dilation[0], kx * self.dilation[1]);
        for oy in y0..y1 {
            let iy = oy * sy + dy - self.pad[0];
            let line = &mut xp[iy * self.w..][..self.w];
            let src = &row[oy * self.ow..][..self.ow];
            if sx == 1 {
                let ix = x0 + dx - self.pad[1];
                for (d, v) in line[ix..ix + (x1 - x0)].iter_mut().zip(&src[x0..x1]) {
                    *d += v;
                }
            } else if x1 > x0 {
                let first = x0 * sx + dx - self.pad[1];
                let dst = &mut line[first..=first + (x1 - x0 - 1) * sx];
                for (d, v) in dst.iter_mut().step_by(sx).zip(&src[x0..x1]) {
                    *d += v;
                }
            }
        }
    }

    /// `xp [H, W] +=` the output gradient plane `gp [OH, OW]` sent back through each
    /// tap of `taps [KH * KW]` (one depthwise output channel).
    pub fn scatter(&self, gp: &[f32], taps: &[f32], xp: &mut [f32]) {
        let mut row = vec![0.0f32; gp.len()];
        for (tap, &weight) in taps.iter().enumerate() {
            for (r, v) in row.iter_mut().zip(gp) {
                *r = v * weight;
            }
            self.add_patch_row(&row, tap / self.kw, tap % self.kw, xp);
        }
    }

    /// The output positions `o` whose input index `o * stride + tap * dilation - pad`
    /// falls inside `0..len`, as a range, for axis `axis`.
    fn valid(&self, axis: usize, tap: usize, len: usize, out_len: usize) -> (usize, usize) {
        let (s, offset) = (self.stride[axis], tap * self.dilation[axis]);
        let pad = self.pad[axis];
        // o * s + offset >= pad  and  o * s + offset - pad < len
        let lo = pad.saturating_sub(offset).div_ceil(s);
        let hi = if len + pad > offset {
            (len + pad - offset).div_ceil(s).min(out_len)
        } else {
            0
        };
        (lo.min(hi), hi)
    }

    /// One sample's im2col row for tap `(ky, kx)` of the input plane `xp [H, W]`:
    /// `out [OH, OW]`, zeros where the tap reads padding.
    pub fn patch_row(&self, xp: &[f32], ky: usize, kx: usize, out: &mut [f32]) {
        let (y0, y1) = self.valid(0, ky, self.h, self.oh);
        let (x0, x1) = self.valid(1, kx, self.w, self.ow);
        let [sy, sx] = self.stride;
        let (dy, dx) = (ky * self.dilation[0], kx * self.dilation[1]);
        for (oy, row) in out.chunks_mut(self.ow).enumerate() {
            if oy < y0 || oy >= y1 {
                row.fill(0.0);
                continue;
            }
            let iy = oy * sy + dy - self.pad[0];
            let line = &xp[iy * self.w..][..self.w];
            row[..x0].fill(0.0);
            row[x1..].fill(0.0);
            if sx == 1 {
                let ix = x0 + dx - self.pad[1];
                row[x0..x1].copy_from_slice(&line[ix..ix + (x1 - x0)]);
            } else if x1 > x0 {
                // Every `sx`-th value from the first one read: one slice, no bounds
                // checks in the loop.
                let first = x0 * sx + dx - self.pad[1];
                let src = &line[first..=first + (x1 - x0 - 1) * sx];
                for (v, &s) in row[x0..x1].iter_mut().zip(src.iter().step_by(sx)) {
                    *v = s;
                }
            }
        }
    }

    /// `out [KH * KW] += ` each tap's sum of `gp [OH, OW]` times the input plane
    /// `xp [H, W]` it reads.
    #[inline(always)]
    pub fn accumulate(&self, xp: &[f32], gp: &[f32], out: &mut [f32]) {
        let [sy, sx] = self.stride;
        for ky in 0..self.kh {
            let (y0, y1) = self.valid(0, ky, self.h, self.oh);
            for kx in 0..self.kw {
                let (x0, x1) = self.valid(1, kx, self.w, self.ow);
                let (dy, dx) = (ky * self.dilation[0], kx * self.dilation[1]);
                let mut sum = 0.0f32;
                for oy in y0..y1 {
                    let iy = oy * sy + dy - self.pad[0];
                    let line = &xp[iy * self.w..][..self.w];
                    let grow = &gp[oy * self.ow..][..self.ow];
                    if sx == 1 {
                        let ix = x0 + dx - self.pad[1];
                        sum += math::dot(&grow[x0..x1], &line[ix..ix + (x1 - x0)]);
                    } else {
                        for ox in x0..x1 {
                            sum += grow[ox] * line[ox * sx + dx - self.pad[1]];
                        }
                    }
                }
                out[ky * self.kw + kx] += sum;
            }
        }
    }

    /// The largest phase offset a tap reads along `axis` (rows 0, columns 1).
    fn reach(&self, axis: usize) -> usize {
        let kernel = [self.kh, self.kw][axis];
        (kernel.max(1) - 1) * self.dilation[axis] / self.stride[axis]
    }

    /// One phase plane's `[rows, columns]`, `extra_rows` beyond what the taps reach
    /// (a whole-plane run over the discarded columns of the last row needs one).
    pub fn phase_dims(&self, extra_rows: usize) -> [usize; 2] {
        [
            self.oh + self.reach(0) + extra_rows,
            self.ow + self.reach(1),
        ]
    }

    /// The input plane `xp [H, W]` split into its `stride[0] * stride[1]` phases, each
    /// `[rows, columns]` of `phase_dims`, zero where they read padding:
    /// `Q_ab[i][j] = X[i * sy + a - pad_y][j * sx + b - pad_x]`.
    #[inline(always)]
    pub fn fill_phases(&self, xp: &[f32], [hq, wq]: [usize; 2], phases: &mut [f32]) {
        let [sy, sx] = self.stride;
        let [py, px] = self.pad;
        for (phase, q) in phases.chunks_mut(hq * wq).enumerate() {
            let (a, b) = (phase / sx, phase % sx);
            // Columns `j` that read the input: `0 <= j * sx + b - px < w`.
            let first = px.saturating_sub(b).div_ceil(sx).min(wq);
            let end = (self.w + px)
                .saturating_sub(b)
                .div_ceil(sx)
                .clamp(first, wq);
            for (i, row) in q.chunks_mut(wq).enumerate() {
                let y = (i * sy + a).wrapping_sub(py);
                if y >= self.h {
                    row.fill(0.0);
                    continue;
                }
                let (left, rest) = row.split_at_mut(first);
                let (inside, right) = rest.split_at_mut(end - first);
                left.fill(0.0);
                right.fill(0.0);
                if !inside.is_empty() {
                    let line = &xp[y * self.w + first * sx + b - px..(y + 1) * self.w];
                    every_nth(line, sx, inside);
                }
            }
        }
    }

    /// Where tap `(ky, kx)` starts in the phases of [`Geometry::fill_phases`]: the
    /// offset of its first value; output `(oy, ox)` then reads `offset + oy * wq + ox`.
    pub fn phase_offset(&self, ky: usize, kx: usize, [hq, wq]: [usize; 2]) -> usize {
        let [sy, sx] = self.stride;
        let (dy, dx) = (ky * self.dilation[0], kx * self.dilation[1]);
        let phase = (dy % sy) * sx + dx % sx;
        phase * hq * wq + (dy / sy) * wq + dx / sx
    }
}

/// `dst[j] = src[j * step]` for every `j` of `dst` (`src` long enough): a copy for step
/// 1, pairs of values for 2 (stride-2 layers), one value at a time beyond.
#[inline(always)]
fn every_nth(src: &[f32], step: usize, dst: &mut [f32]) {
    let n = dst.len();
    match step {
        1 => dst.copy_from_slice(&src[..n]),
        2 if n > 0 => {
            // The last value may have no partner in `src`.
            for (d, pair) in dst[..n - 1].iter_mut().zip(src.chunks_exact(2)) {
                *d = pair[0];
            }
            dst[n - 1] = src[2 * (n - 1)];
        }
        _ => {
            for (d, &v) in dst.iter_mut().zip(src.iter().step_by(step.max(1))) {
                *d = v;
            }
        }
    }
}

/// `src [h, w]` at `(top, left)` of `dst [hp, wp]`, zeros everywhere else: the rows
/// that fit and the first `cols` columns (`cols <= w`, and `left + cols <= wp`); the
/// rest of the plane falls outside or is left out on purpose (see the callers).
pub fn pad_plane(
    src: &[f32],
    [h, w]: [usize; 2],
    dst: &mut [f32],
    [hp, wp]: [usize; 2],
    [top, left]: [usize; 2],
    cols: usize,
) {
    let rows = h.min(hp.saturating_sub(top));
    // Zeros where no input lands, written once (the copied values are not).
    let (above, rest) = dst[..hp * wp].split_at_mut(top.min(hp) * wp);
    above.fill(0.0);
    let (middle, below) = rest.split_at_mut(rows * wp);
    below.fill(0.0);
    for (d, s) in middle.chunks_exact_mut(wp).zip(src.chunks_exact(w)) {
        let (l, r) = d.split_at_mut(left.min(wp));
        l.fill(0.0);
        r[..cols].copy_from_slice(&s[..cols]);
        r[cols..].fill(0.0);
    }
}
