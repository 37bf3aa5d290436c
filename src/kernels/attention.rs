//! Multi-head attention at inference on the CPU backend, one sample at a time, where
//! its values lie.
//!
//! `context_h = softmax(q_h k_hᵀ · scale + mask) v_h` for each head `h`, with `q, k, v`
//! the rows of the linear layers' outputs, `[B * L, H]`, head `h` in columns
//! `h d .. (h + 1) d`. Burn's operations split the heads into `[B, heads, L, d]` copies,
//! wrote `B · heads` score matrices as one tensor for the softmax to read and write
//! again, and merged the heads back with another copy. Here each task takes one
//! sample: its scores for one head at a time (`L x L`, in cache), the softmax in place,
//! and the context written straight into its columns of the output; the products read
//! `q`, `k` and `v` through their strides. Training (autodiff) and other devices run
//! Burn's operations.

use std::mem::MaybeUninit;

use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, TensorMetadata, backend_extension};
use burn::tensor::{DType, Tensor, TensorData};

use super::{math, ours};

/// Scaled dot-product attention over heads packed side by side.
#[backend_extension(Flex)]
pub trait AttentionKernels: Backend {
    /// `q, k, v [B * L, H]`, `mask [B, L]` (added to the scaled scores of each key) ->
    /// `[B * L, H]`, `heads` dividing `H`.
    fn attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        mask: FloatTensor<Self>,
        heads: usize,
    ) -> FloatTensor<Self> {
        reference::<Self>(q, k, v, mask, heads)
    }
}

/// Burn's operations: the heads split into `[B, heads, L, d]`, two batched products
/// around the softmax, the heads merged back.
fn reference<B: Backend>(
    q: FloatTensor<B>,
    k: FloatTensor<B>,
    v: FloatTensor<B>,
    mask: FloatTensor<B>,
    heads: usize,
) -> FloatTensor<B> {
    let (shape, mask_shape) = (q.shape(), mask.shape());
    let ([rows, h], [b, l]) = ([shape[0], shape[1]], [mask_shape[0], mask_shape[1]]);
    let d = h / heads.max(1);
    let split =
        |t: FloatTensor<B>| B::float_swap_dims(B::float_reshape(t, [b, l, heads, d].into()), 1, 2);
    let (q, k, v) = (split(q), split(k), split(v));
    let scores = B::float_matmul(q, B::float_swap_dims(k, 2, 3));
    let scaled = B::float_mul_scalar(scores, (1.0 / (d as f32).sqrt()).into());
    let masked = B::float_add(scaled, B::float_reshape(mask, [b, 1, 1, l].into()));
    let context = B::float_matmul(B::softmax(masked, 3), v);
    B::float_reshape(B::float_swap_dims(context, 1, 2), [rows, h].into())
}

impl AttentionKernels for Flex {
    fn attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        mask: FloatTensor<Self>,
        heads: usize,
    ) -> FloatTensor<Self> {
        let [q, k, v, mask] = [q, k, v, mask].map(|t| t.to_contiguous());
        let (shape, mask_shape) = (q.shape(), mask.shape());
        let (Some(qv), Some(kv), Some(vv)) = (values(&q), values(&k), values(&v)) else {
            return reference::<Self>(q, k, v, mask, heads);
        };
        let ([rows, h], [b, l]) = ([shape[0], shape[1]], [mask_shape[0], mask_shape[1]]);
        let fits = [&k, &v].iter().all(|t| t.shape() == shape)
            && heads > 0
            && h % heads == 0
            && rows == b * l
            && rows > 0;
        let (Some(m), true) = (values(&mask), fits) else {
            return reference::<Self>(q, k, v, mask, heads);
        };
        let d = h / heads;
        let (lp, dp) = (l.next_multiple_of(COLUMNS), d.next_multiple_of(COLUMNS));
        let out = math::written(
            b,
            l * h,
            1,
            // A task's buffers, reused across its samples (see `one_sample`).
            || {
                let zeros = |n: usize| vec![0.0f32; n];
                [zeros(d * lp), zeros(l * dp), zeros(l * lp), zeros(l * dp)]
            },
            |buffers, s, out| {
                let at = s * l * h;
                let sample = [&qv[at..][..l * h], &kv[at..][..l * h], &vv[at..][..l * h]];
                math::vectorized(
                    #[inline(always)]
                    || one_sample(sample, &m[s * l..][..l], heads, buffers, out),
                )
            },
        );
        Flex::float_from_data(TensorData::new(out, [rows, h]), &Default::default())
    }
}

/// Columns of a product block: one vector of 16 (AVX-512), two of 8 (AVX2), four in
/// WebAssembly.
const COLUMNS: usize = 16;
/// Rows of a product block: 6 rows x 16 columns of sums stay in registers (12 of
/// AVX2's 16).
const ROWS: usize = 6;

/// One sample's attention, every head: `q, k, v [L, H]` -> every value of `out [L, H]`,
/// `keys [L]` the mask. `buffers` are `k_hᵀ [d, Lp]`, `v_h [L, dp]`, the scores (then
/// weights) `[L, Lp]` and the context `[L, dp]`, zeros at first, with `Lp` and `dp` the
/// whole blocks of columns that `L` and `d` round up to. Each head's `k_hᵀ` and `v_h`
/// are copied into the same positions of their buffers, so the padding stays zero
/// across heads and samples, and both products run on whole register blocks.
#[inline(always)]
fn one_sample(
    [q, k, v]: [&[f32]; 3],
    keys: &[f32],
    heads: usize,
    [kt, vp, p, context]: &mut [Vec<f32>; 4],
    out: &mut [MaybeUninit<f32>],
) {
    let l = keys.len();
    let h = q.len() / l;
    let d = h / heads;
    let scale = 1.0 / (d as f32).sqrt();
    let (lp, dp) = (l.next_multiple_of(COLUMNS), d.next_multiple_of(COLUMNS));
    for head in 0..heads {
        let col = head * d;
        for j in 0..l {
            for c in 0..d {
                kt[c * lp + j] = k[j * h + col + c];
            }
            vp[j * dp..][..d].copy_from_slice(&v[j * h + col..][..d]);
        }
        // Scores [L, Lp] = q_h [L, d] x k_hᵀ [d, Lp] (the padded columns stay 0).
        product((&q[col..], h, d), kt, lp, p);
        for row in p.chunks_exact_mut(lp) {
            softmax_row(&mut row[..l], scale, keys);
        }
        // Context [L, dp] = p [L, L] x v_h [L, dp], into the head's columns.
        product((p, lp, l), vp, dp, context);
        for (i, row) in context.chunks_exact(dp).enumerate() {
            for (o, &x) in out[i * h + col..][..d].iter_mut().zip(&row[..d]) {
                o.write(x);
            }
        }
    }
}

/// `dst [m, width] = A [m, n] x b [n, width]`, `A [i][k] = a[i * stride + k]`, `m =
/// dst.len() / width`, `width` a multiple of [`COLUMNS`]: blocks of [`ROWS`] rows, then
/// single rows.
#[inline(always)]
fn product((a, stride, n): (&[f32], usize, usize), b: &[f32], width: usize, dst: &mut [f32]) {
    let m = dst.len() / width;
    assert!(
        m == 0 || (a.len() >= (m - 1) * stride + n && b.len() >= n * width && n <= stride),
        "attention: a product's operands are too short"
    );
    let mut i = 0;
    while i + ROWS <= m {
        block::<ROWS>(
            &a[i * stride..],
            [stride, n],
            b,
            width,
            &mut dst[i * width..][..ROWS * width],
        );
        i += ROWS;
    }
    for i in i..m {
        block::<1>(
            &a[i * stride..],
            [stride, n],
            b,
            width,
            &mut dst[i * width..][..width],
        );
    }
}

/// `N` rows of a product: `dst[r][..width] = Σ_k a[r * stride + k] b[k][..width]`, the
/// sums of [`COLUMNS`] columns at a time kept in registers over the whole `k`.
#[inline(always)]
fn block<const N: usize>(
    a: &[f32],
    [stride, n]: [usize; 2],
    b: &[f32],
    width: usize,
    dst: &mut [f32],
) {
    assert!(a.len() >= (N - 1) * stride + n && n <= stride && b.len() >= n * width);
    for j in (0..width).step_by(COLUMNS) {
        let mut sums = [[0.0f32; COLUMNS]; N];
        for k in 0..n {
            let b: &[f32; COLUMNS] = b[k * width + j..][..COLUMNS]
                .try_into()
                .expect("a whole block");
            for (r, sums) in sums.iter_mut().enumerate() {
                // SAFETY: `r * stride + k <= (N - 1) * stride + n - 1 < a.len()`, asserted above.
                let x = unsafe { *a.get_unchecked(r * stride + k) };
                for (s, &b) in sums.iter_mut().zip(b) {
                    *s = math::fma(x, b, *s);
                }
            }
        }
        for (r, sums) in sums.iter().enumerate() {
            dst[r * width + j..][..COLUMNS].copy_from_slice(sums);
        }
    }
}

/// A tensor's values when it is contiguous `f32`.
fn values(t: &FloatTensor<Flex>) -> Option<&[f32]> {
    t.as_slice::<f32>().filter(|_| t.dtype() == DType::F32)
}

/// One row of scores: `p_j = exp(v_j - max v) / Σ exp(v - max v)`, `v_j = s_j * scale +
/// mask_j`; exactly 0 where `v_j - max v` is below `exp`'s range (a masked key).
#[inline(always)]
fn softmax_row(row: &mut [f32], scale: f32, mask: &[f32]) {
    for (v, &m) in row.iter_mut().zip(mask) {
        *v = math::fma(*v, scale, m);
    }
    let max = math::max(row);
    for v in row.iter_mut() {
        let d = *v - max;
        *v = if d < -87.0 { 0.0 } else { math::exp(d) };
    }
    let inv = 1.0 / math::sum(row);
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// Multi-head attention, `softmax(q_h k_hᵀ / √d + mask) v_h` for each of `heads` heads
/// of `d = H / heads` columns: `q, k, v [B * L, H]` (the `L` rows of each sample one
/// after the other), `mask [B, L]` (0 to keep a key, a large negative number to leave
/// it out) -> `[B * L, H]`. Ours at inference on the CPU backend, Burn's elsewhere.
pub fn attention(
    q: Tensor<2>,
    k: Tensor<2>,
    v: Tensor<2>,
    mask: Tensor<2>,
    heads: usize,
) -> Tensor<2> {
    let device = q.device();
    let [q, k, v, mask] = [q, k, v, mask].map(Tensor::into_dispatch);
    if !ours(&device) || device.is_autodiff() {
        return Tensor::from_dispatch(reference::<burn::backend::Dispatch>(q, k, v, mask, heads));
    }
    Tensor::from_dispatch(<burn::backend::Dispatch as AttentionKernels>::attention(
        q, k, v, mask, heads,
    ))
}
