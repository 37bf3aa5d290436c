//! A strided convolution as a stride-1 one over its input's stride phases (space to
//! depth), so that the direct kernel (`direct.rs`) runs it: with stride `s`, input
//! channel `ci` becomes `s * s` channels, phase `(py, px)` holding the values at rows
//! `s * r + py - pad` and columns `s * c + px - pad`, and the `kh x kw` kernel becomes
//! `ceil(kh / s) x ceil(kw / s)` taps per phase (zeros past the kernel). ResNet-18's
//! 7x7 stride-2 stem is the case: 64 taps computed for 49, through a kernel that reads
//! its input in place, where im2col wrote each input value 12 times (its forward and
//! weight gradient took twice PyTorch's time). Where the zero taps would cost more than
//! a third (3x3 stride 2: 16 for 9), the layer keeps im2col + GEMM.

use burn::backend::ops::ConvOptions;

/// The phase form of one strided convolution.
#[derive(Clone, Copy, Debug)]
pub struct Phases {
    stride: usize,
    c_in: usize,
    c_out: usize,
    /// Input plane `[h, w]`.
    input: [usize; 2],
    /// Padding before the rows and before the columns.
    pad: [usize; 2],
    kernel: [usize; 2],
    /// Taps per phase, `ceil(kernel / stride)`.
    taps: [usize; 2],
    output: [usize; 2],
}

impl Phases {
    /// The phase form of the convolution of `options` (input dims `xs`, weight dims
    /// `ws`, output plane `output`): equal strides of 2 or more, no dilation, one
    /// group, and at most a third more taps than the kernel has.
    pub fn new(
        xs: [usize; 4],
        ws: [usize; 4],
        options: &ConvOptions<2>,
        output: [usize; 2],
    ) -> Option<Self> {
        let s = options.stride[0];
        let [kh, kw] = [ws[2], ws[3]];
        let taps = [kh.div_ceil(s), kw.div_ceil(s)];
        let computed = taps[0] * taps[1] * s * s;
        (s >= 2
            && options.stride[1] == s
            && options.dilation == [1, 1]
            && options.groups == 1
            && 3 * computed <= 4 * kh * kw)
            .then_some(Phases {
                stride: s,
                c_in: xs[1],
                c_out: ws[0],
                input: [xs[2], xs[3]],
                pad: [options.padding[0].0, options.padding[1].0],
                kernel: [kh, kw],
                taps,
                output,
            })
    }

    /// Rows and columns of each phase plane: what the output reads, `output + taps - 1`.
    fn plane(&self) -> [usize; 2] {
        [
            self.output[0] + self.taps[0] - 1,
            self.output[1] + self.taps[1] - 1,
        ]
    }

    /// Dims of the phase input `[B, c_in * s * s, rows, cols]` for `batch` samples.
    pub fn input_dims(&self, batch: usize) -> [usize; 4] {
        let [r, c] = self.plane();
        [batch, self.c_in * self.stride * self.stride, r, c]
    }

    /// Dims of the phase weight `[c_out, c_in * s * s, taps_h, taps_w]`.
    pub fn weight_dims(&self) -> [usize; 4] {
        let s = self.stride;
        [self.c_out, self.c_in * s * s, self.taps[0], self.taps[1]]
    }

    /// The stride-1 convolution's options: no padding (the phases hold it).
    pub fn options() -> ConvOptions<2> {
        ConvOptions::new([1, 1], [0, 0], [1, 1], 1)
    }

    /// For each phase row `r` of phase `py` (and the same for columns), the input row
    /// it holds, if inside the plane.
    fn source(&self, axis: usize, phase: usize, r: usize) -> Option<usize> {
        (self.stride * r + phase)
            .checked_sub(self.pad[axis])
            .filter(|&i| i < self.input[axis])
    }

    /// `x [B, c_in, h, w]` as its phases `[B, c_in * s * s, rows, cols]`, zeros where a
    /// phase reads padding.
    pub fn input(&self, x: &[f32], batch: usize) -> Vec<f32> {
        let s = self.stride;
        let [h, w] = self.input;
        let [rows, cols] = self.plane();
        let mut out = vec![0.0; batch * self.c_in * s * s * rows * cols];
        for (plane, dst) in x
            .chunks_exact(h * w)
            .zip(out.chunks_exact_mut(s * s * rows * cols))
        {
            for (phase, dst) in dst.chunks_exact_mut(rows * cols).enumerate() {
                let (py, px) = (phase / s, phase % s);
                for (r, dst) in dst.chunks_exact_mut(cols).enumerate() {
                    let Some(iy) = self.source(0, py, r) else {
                        continue;
                    };
                    // The columns that read the plane: from the first at or past the
                    // padding, every s-th value.
                    let first = self.pad[1].saturating_sub(px).div_ceil(s);
                    let Some(ix) = self.source(1, px, first) else {
                        continue;
                    };
                    let src = plane[iy * w + ix..(iy + 1) * w].iter().step_by(s);
                    for (v, x) in dst[first..].iter_mut().zip(src) {
                        *v = *x;
                    }
                }
            }
        }
        out
    }

    /// `dx [B, c_in, h, w]` from the phase input's gradient: each input value is in
    /// exactly one phase, or in none where the convolution never reads it (gradient 0).
    pub fn input_grad(&self, dphases: &[f32], batch: usize) -> Vec<f32> {
        let s = self.stride;
        let [h, w] = self.input;
        let [rows, cols] = self.plane();
        let mut dx = vec![0.0; batch * self.c_in * h * w];
        for (plane, src) in dx
            .chunks_exact_mut(h * w)
            .zip(dphases.chunks_exact(s * s * rows * cols))
        {
            for (iy, dst) in plane.chunks_exact_mut(w).enumerate() {
                let (r, py) = ((iy + self.pad[0]) / s, (iy + self.pad[0]) % s);
                if r >= rows {
                    continue;
                }
                for (ix, v) in dst.iter_mut().enumerate() {
                    let (c, px) = ((ix + self.pad[1]) / s, (ix + self.pad[1]) % s);
                    if c < cols {
                        *v = src[((py * s + px) * rows + r) * cols + c];
                    }
                }
            }
        }
        dx
    }

    /// `wt [c_out, c_in, kh, kw]` as the phase weight [`Phases::weight_dims`]: tap
    /// `(qy, qx)` of phase `(py, px)` is `wt[.., s * qy + py, s * qx + px]`, zero past
    /// the kernel.
    pub fn weight(&self, wt: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0; self.weight_dims().iter().product()];
        self.each_tap(|from, to| out[to] = wt[from]);
        out
    }

    /// `dw [c_out, c_in, kh, kw]` from the phase weight's gradient.
    pub fn weight_grad(&self, dphases: &[f32]) -> Vec<f32> {
        let [kh, kw] = self.kernel;
        let mut dw = vec![0.0; self.c_out * self.c_in * kh * kw];
        self.each_tap(|from, to| dw[from] = dphases[to]);
        dw
    }

    /// `f(index in [c_out, c_in, kh, kw], index in the phase weight)` for every tap of
    /// the kernel.
    fn each_tap(&self, mut f: impl FnMut(usize, usize)) {
        let s = self.stride;
        let [kh, kw] = self.kernel;
        let [th, tw] = self.taps;
        for co in 0..self.c_out {
            for ci in 0..self.c_in {
                for ky in 0..kh {
                    for kx in 0..kw {
                        let phase = (ci * s + ky % s) * s + kx % s;
                        let to = ((co * self.c_in * s * s + phase) * th + ky / s) * tw + kx / s;
                        f(((co * self.c_in + ci) * kh + ky) * kw + kx, to);
                    }
                }
            }
        }
    }
}
