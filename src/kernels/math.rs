//! Branch-free `exp` and normal CDF for `f32`, written so that the compiler vectorises
//! a loop over them (libm's are scalar calls with branches: the GELU of a transformer
//! spent more time in `erff` than in its matrix products), and [`vectorized`], which
//! compiles a loop for AVX2 + FMA where the CPU has them.

use std::mem::MaybeUninit;

use rayon::prelude::*;

/// Elements per parallel task of an element-wise kernel.
pub(super) const TASK: usize = 1 << 14;

/// Values per straight-line block of a map: several vectors whose long dependency
/// chains (a polynomial, a division, an exponential) the CPU overlaps, where one vector
/// per loop turn waited on its own chain.
const BLOCK: usize = 64;

/// `e^x` to about 2 ulp; inputs above 88 give `e^88` (no infinity), below -87.3 give
/// `e^-87.3` (no subnormals).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that `n * LN2_HI` is exact for |n| < 2^9.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding then subtracting 1.5 * 2^23 rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.0);
    // `rounded`'s low mantissa bits hold n = round(x / ln 2) (offset by ROUND's bits):
    // integer arithmetic on them vectorises, where `as i32` (saturating) does not.
    let rounded = fma(x, LOG2E, ROUND);
    let n = rounded - ROUND;
    let r = fma(-n, LN2_LO, fma(-n, LN2_HI, x)); // |r| <= ln 2 / 2
    // Taylor series to r^7: truncation below 5e-9 relative on |r| <= 0.347.
    let p = horner(
        r,
        &[
            1.0,
            1.0,
            0.5,
            1.0 / 6.0,
            1.0 / 24.0,
            1.0 / 120.0,
            1.0 / 720.0,
            1.0 / 5040.0,
        ],
    );
    // 2^n: the biased exponent n + 127 in the exponent field.
    p * f32::from_bits(rounded.to_bits().wrapping_sub(ROUND.to_bits() - 127) << 23)
}

/// `Φ(x)`, the standard normal CDF, `½ erfc(-x / √2)`: Numerical Recipes' Chebyshev
/// fit of `erfc` (fractional error below 1.2e-7 for every argument), so the lower tail
/// keeps its relative precision where `½ (1 + erf)` would cancel: 2 parts in 10^6
/// down to x = -5, a few in 10^5 at -12 (the f32 rounding of `z²` in the exponential).
#[inline(always)]
pub fn normal_cdf(x: f32) -> f32 {
    let z = x.abs() * std::f32::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = horner(
        t,
        &[
            -1.265_512_2,
            1.000_023_7,
            0.374_091_96,
            0.096_784_18,
            -0.186_288_06,
            0.278_868_07,
            -1.135_204,
            1.488_515_9,
            -0.822_152_23,
            0.170_872_77,
        ],
    );
    // erfc(z) for z >= 0; the upper tail of the normal is half of it.
    let tail = 0.5 * t * exp(fma(-z, z, poly));
    if x >= 0.0 { 1.0 - tail } else { tail }
}

/// `c[0] + x (c[1] + x (c[2] + ...))`, one fused multiply-add per coefficient.
#[inline(always)]
fn horner<const N: usize>(x: f32, c: &[f32; N]) -> f32 {
    let (&last, rest) = c.split_last().expect("at least one coefficient");
    rest.iter().rev().fold(last, |acc, &c| fma(acc, x, c))
}

/// `K` sums over `i` of `f(a[i], b[i])` (the shorter of the two), in 64 lanes while
/// they last (independent sums: four AVX-512 vectors, eight AVX2 ones; one vector of
/// eight lanes was a chain of dependent additions, a value per cycle at best), then
/// eight, then one value at a time; each lane's partial sum is of fewer values, so the
/// result is if anything more accurate than one running sum.
#[inline(always)]
pub fn lane_sums<const K: usize>(
    a: &[f32],
    b: &[f32],
    f: impl Fn(f32, f32) -> [f32; K],
) -> [f32; K] {
    const WIDE: usize = 64;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let (aw, bw) = (a.chunks_exact(WIDE), b.chunks_exact(WIDE));
    let (ar, br) = (aw.remainder(), bw.remainder());
    let mut narrow = [[0.0f32; 8]; K];
    // Short runs (a row of a small plane) skip the wide lanes and their fold.
    if n >= WIDE {
        let mut wide = [[0.0f32; WIDE]; K];
        for (x, y) in aw.zip(bw) {
            for l in 0..WIDE {
                let v = f(x[l], y[l]);
                for k in 0..K {
                    wide[k][l] += v[k];
                }
            }
        }
        for k in 0..K {
            for l in 0..WIDE {
                narrow[k][l % 8] += wide[k][l];
            }
        }
    }
    let (an, bn) = (ar.chunks_exact(8), br.chunks_exact(8));
    let (at, bt) = (an.remainder(), bn.remainder());
    for (x, y) in an.zip(bn) {
        for l in 0..8 {
            let v = f(x[l], y[l]);
            for k in 0..K {
                narrow[k][l] += v[k];
            }
        }
    }
    let mut out = [0.0f32; K];
    for (x, y) in at.iter().zip(bt) {
        let v = f(*x, *y);
        for k in 0..K {
            out[k] += v[k];
        }
    }
    for k in 0..K {
        out[k] += narrow[k].iter().sum::<f32>();
    }
    out
}

/// `Σ a[i] b[i]` over the shorter of the two (see [`lane_sums`]).
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    lane_sums(a, b, |x, y| [x * y])[0]
}

/// `Σ a[i]` (see [`lane_sums`]).
#[inline(always)]
pub fn sum(a: &[f32]) -> f32 {
    lane_sums(a, a, |x, _| [x])[0]
}

/// The largest of `a` (`-inf` when empty; NaNs are passed over), in eight lanes.
#[inline(always)]
pub fn max(a: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 8];
    let chunks = a.chunks_exact(8);
    let tail = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
    for x in chunks {
        for l in 0..8 {
            lanes[l] = if x[l] > lanes[l] { x[l] } else { lanes[l] };
        }
    }
    lanes.iter().fold(tail, |m, &v| if v > m { v } else { m })
}

/// Runs `body`, compiled for AVX-512 or for AVX2 + FMA, the widest the CPU has (and
/// [`super::simd::set_avx512`] allows), the loops inside it inlined into that copy; as
/// it is elsewhere (wasm32 builds enable SIMD for the whole crate).
#[inline(always)]
pub fn vectorized<R>(body: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        use super::simd::Isa;
        #[target_feature(enable = "avx2,fma")]
        fn avx2<R>(body: impl FnOnce() -> R) -> R {
            body()
        }
        #[target_feature(enable = "avx512f,avx2,fma")]
        fn avx512<R>(body: impl FnOnce() -> R) -> R {
            body()
        }
        match Isa::best() {
            // SAFETY: `Isa::best` names only instruction sets this CPU has.
            Some(Isa::Avx512) => return unsafe { avx512(body) },
            Some(Isa::Avx2) => return unsafe { avx2(body) },
            None => {}
        }
    }
    body()
}

/// `a * b + c`, fused into one rounding on x86-64 (inside [`vectorized`] one instruction;
/// the compiler never fuses `a * b + c` by itself), two roundings elsewhere (wasm32 has
/// no fused multiply-add: `mul_add` would be a call into libm).
#[inline(always)]
pub fn fma(a: f32, b: f32, c: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        a.mul_add(b, c)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        a * b + c
    }
}

/// `f(i, plane_i)` for each `plane`-long run of `values` (the last may be shorter),
/// planes grouped into parallel tasks of at least [`TASK`] values, each task's loop
/// vectorised once (small planes, such as a late layer's 7x7, paid the dispatch per
/// plane).
pub fn for_planes(values: &mut [f32], plane: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    let plane = plane.max(1);
    let per_task = (TASK / plane).max(1);
    values
        .par_chunks_mut(per_task * plane)
        .enumerate()
        .for_each(|(t, chunk)| {
            vectorized(
                #[inline(always)]
                || {
                    for (k, p) in chunk.chunks_mut(plane).enumerate() {
                        f(t * per_task + k, p);
                    }
                },
            )
        });
}

/// `f(i, plane_i)` as [`for_planes`] does, on a new vector of `values`' values: each
/// task copies its own planes just before `f` runs on them, in cache, so that the pass
/// reads and writes memory once each (a whole copy first, then `f` in place, did twice).
pub fn copied_planes(
    values: &[f32],
    plane: usize,
    f: impl Fn(usize, &mut [f32]) + Sync + Send,
) -> Vec<f32> {
    let plane = plane.max(1);
    let per_task = (TASK / plane).max(1);
    let mut out = Vec::with_capacity(values.len());
    out.spare_capacity_mut()[..values.len()]
        .par_chunks_mut(per_task * plane)
        .zip(values.par_chunks(per_task * plane))
        .enumerate()
        .for_each(|(t, (chunk, src))| {
            let chunk = copy_into(chunk, src);
            vectorized(
                #[inline(always)]
                || {
                    for (k, p) in chunk.chunks_mut(plane).enumerate() {
                        f(t * per_task + k, p);
                    }
                },
            )
        });
    // SAFETY: every task copied its chunk of the first `values.len()` values in full.
    unsafe { out.set_len(values.len()) };
    out
}

/// `src` written into `out` (of its length), which is then initialised.
fn copy_into<'a>(out: &'a mut [MaybeUninit<f32>], src: &[f32]) -> &'a mut [f32] {
    assert_eq!(out.len(), src.len(), "copy_into: lengths differ");
    out.write_copy_of_slice(src);
    // SAFETY: every value was just written; `MaybeUninit<f32>` has `f32`'s layout.
    unsafe { &mut *(out as *mut [MaybeUninit<f32>] as *mut [f32]) }
}

/// A new vector of `n` values, each task of [`TASK`] values written by `fill(first
/// index, values)`, which must write every one of its values; in parallel, without the
/// single-threaded memset (or page faults on one thread) of `vec![0.0; n]`, which on
/// two threads was a serial tenth of the small CNN's step.
fn filled<T: Send + Sync>(
    n: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<T>]) + Sync + Send,
) -> Vec<T> {
    let mut out = Vec::with_capacity(n);
    out.spare_capacity_mut()[..n]
        .par_chunks_mut(TASK)
        .enumerate()
        .for_each(|(t, chunk)| fill(t * TASK, chunk));
    // SAFETY: the first `n` values were all written above (`fill`'s contract), and
    // `Vec::with_capacity(n)` holds at least `n`.
    unsafe { out.set_len(n) };
    out
}

/// A new vector of `chunks` runs of `len` values, written in parallel tasks of
/// `per_task` runs (the last task may have fewer): `write(state, i, runs)` writes runs
/// `i, i + 1, ...` (`state` from `init`, one per task), and must write every value of
/// them: outputs that a kernel writes in full, without zeros written first. Several
/// small runs per task keep rayon's and a kernel's per-task costs off each run.
pub fn written<S>(
    chunks: usize,
    len: usize,
    per_task: usize,
    init: impl Fn() -> S + Sync + Send,
    write: impl Fn(&mut S, usize, &mut [MaybeUninit<f32>]) + Sync + Send,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(chunks * len);
    let per_task = per_task.max(1);
    out.spare_capacity_mut()[..chunks * len]
        .par_chunks_mut((per_task * len).max(1))
        .enumerate()
        .for_each_init(init, |state, (t, runs)| write(state, t * per_task, runs));
    // SAFETY: every run of the first `chunks * len` values was written in full above
    // (`write`'s contract).
    unsafe { out.set_len(chunks * len) };
    out
}

/// `times` copies of `row`, one after the other, written in parallel tasks (a linear
/// layer's bias under each of its rows, before the product adds to them).
pub fn repeated(row: &[f32], times: usize) -> Vec<f32> {
    written(
        times,
        row.len(),
        TASK / row.len().max(1),
        || (),
        |_, _, copies| {
            for copy in copies.chunks_mut(row.len().max(1)) {
                for (o, &v) in copy.iter_mut().zip(row) {
                    o.write(v);
                }
            }
        },
    )
}

/// `n` zeros (or `T::default()`), written in parallel.
pub fn zeros<T: Default + Copy + Send + Sync>(n: usize) -> Vec<T> {
    filled(n, |_, chunk| {
        for v in chunk {
            v.write(T::default());
        }
    })
}

/// `f(a[i])` for each value, a new vector, in parallel tasks, each loop vectorised.
pub fn map(a: &[f32], f: impl Fn(f32) -> f32 + Sync + Send + Copy) -> Vec<f32> {
    filled(a.len(), |first, o| {
        vectorized(
            #[inline(always)]
            || {
                for (o, &a) in o.iter_mut().zip(&a[first..]) {
                    o.write(f(a));
                }
            },
        )
    })
}

/// `a[i] = f(a[i], b[i])` (`b` at least as long as `a`; `b[i] = 0` without `b`), in
/// straight-line blocks of [`BLOCK`] values; to be inlined into a [`vectorized`] loop.
#[inline(always)]
pub fn blocked(a: &mut [f32], b: Option<&[f32]>, f: impl Fn(f32, f32) -> f32) {
    let whole = a.len() / BLOCK * BLOCK;
    let (head, tail) = a.split_at_mut(whole);
    match b {
        Some(b) => {
            let (b_head, b_tail) = b[..whole + tail.len()].split_at(whole);
            for (a, b) in head.chunks_exact_mut(BLOCK).zip(b_head.chunks_exact(BLOCK)) {
                let (a, b): (&mut [f32; BLOCK], &[f32; BLOCK]) = (
                    a.try_into().expect("a block"),
                    b.try_into().expect("a block"),
                );
                for (a, &b) in a.iter_mut().zip(b) {
                    *a = f(*a, b);
                }
            }
            for (a, &b) in tail.iter_mut().zip(b_tail) {
                *a = f(*a, b);
            }
        }
        None => {
            for a in head.chunks_exact_mut(BLOCK) {
                let a: &mut [f32; BLOCK] = a.try_into().expect("a block");
                for a in a.iter_mut() {
                    *a = f(*a, 0.0);
                }
            }
            for a in tail {
                *a = f(*a, 0.0);
            }
        }
    }
}

/// `a[i] = f(a[i])` in place, in parallel tasks, each loop vectorised.
pub fn map_in_place(a: &mut [f32], f: impl Fn(f32) -> f32 + Sync + Send + Copy) {
    a.par_chunks_mut(TASK).for_each(|a| {
        vectorized(
            #[inline(always)]
            || blocked(a, None, |a, _| f(a)),
        )
    });
}

/// `a[i] = f(a[i], b[i], c[i])` in place (`b` and `c` as long as `a`), in parallel
/// tasks, each loop vectorised.
pub fn zip_in_place(
    a: &mut [f32],
    b: &[f32],
    c: &[f32],
    f: impl Fn(f32, f32, f32) -> f32 + Sync + Send + Copy,
) {
    assert!(
        b.len() == a.len() && c.len() == a.len(),
        "zip_in_place: lengths differ"
    );
    a.par_chunks_mut(TASK)
        .zip(b.par_chunks(TASK).zip(c.par_chunks(TASK)))
        .for_each(|(a, (b, c))| {
            vectorized(
                #[inline(always)]
                || {
                    for ((a, &b), &c) in a.iter_mut().zip(b).zip(c) {
                        *a = f(*a, b, c);
                    }
                },
            )
        });
}

/// `f(a[i], b[i])` for each pair (`a` and `b` of one length), a new vector, in
/// parallel tasks, each loop vectorised.
pub fn zip_map(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync + Send + Copy) -> Vec<f32> {
    assert_eq!(a.len(), b.len(), "zip_map: lengths differ");
    filled(a.len(), |first, o| {
        vectorized(
            #[inline(always)]
            || {
                for ((o, &a), &b) in o.iter_mut().zip(&a[first..]).zip(&b[first..]) {
                    o.write(f(a, b));
                }
            },
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `erfc` in f64 by its continued fraction (z >= 2) or the Taylor series of erf
    /// (0 <= z < 2), by symmetry below 0: an independent reference.
    fn erfc64(z: f64) -> f64 {
        if z < 0.0 {
            2.0 - erfc64(-z)
        } else if z < 2.0 {
            // erf z = 2/√π Σ (-1)^n z^(2n+1) / (n! (2n+1))
            let (mut term, mut sum) = (z, z);
            for n in 1..80 {
                term *= -z * z / n as f64;
                sum += term / (2 * n + 1) as f64;
            }
            1.0 - sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // Lentz-free backward evaluation of the continued fraction.
            let mut f = 0.0;
            for k in (1..200).rev() {
                f = (k as f64 / 2.0) / (z + f);
            }
            (-z * z).exp() / std::f64::consts::PI.sqrt() / (z + f)
        }
    }

    #[test]
    fn exp_matches_f64_exp_to_a_few_ulp() {
        let mut worst = 0.0f64;
        for i in 0..200_001 {
            let x = -87.0 + 175.0 * i as f64 / 200_000.0;
            let x = x as f32;
            let ours = exp(x) as f64;
            let exact = (x as f64).exp();
            worst = worst.max((ours - exact).abs() / exact);
        }
        assert!(worst < 4.0 * f32::EPSILON as f64, "relative error {worst}");
        assert_eq!(exp(-1000.0), exp(-87.3));
        assert!(exp(1000.0).is_finite());
    }

    #[test]
    fn normal_cdf_keeps_relative_precision_on_both_tails() {
        // Relative error on [-5, 12], and on the far lower tail, where the f32 rounding
        // of z^2 inside the exponential grows with z.
        let (mut near, mut far) = (0.0f64, 0.0f64);
        for i in 0..40_001 {
            let x = -12.0 + 24.0 * i as f64 / 40_000.0;
            let x32 = x as f32;
            let exact = 0.5 * erfc64(-(x32 as f64) / std::f64::consts::SQRT_2);
            let error = (normal_cdf(x32) as f64 - exact).abs() / exact;
            if x < -5.0 {
                far = far.max(error);
            } else {
                near = near.max(error);
            }
        }
        assert!(near < 3e-6, "relative error {near} on [-5, 12]");
        assert!(far < 5e-5, "relative error {far} below -5");
        assert_eq!(normal_cdf(f32::INFINITY), 1.0);
        assert_eq!(normal_cdf(f32::NEG_INFINITY), 0.0);
    }

    #[test]
    fn the_parallel_maps_apply_their_function_everywhere() {
        let a: Vec<f32> = (0..50_000).map(|i| (i as f32 * 0.37).sin() * 5.0).collect();
        let b: Vec<f32> = (0..50_000).map(|i| (i as f32 * 0.11).cos()).collect();
        let out = map(&a, |x| x * 2.0 + 1.0);
        assert_eq!(out.len(), a.len());
        assert!(out.iter().zip(&a).all(|(o, a)| *o == a * 2.0 + 1.0));
        let out = zip_map(&a, &b, |x, y| x * y);
        assert_eq!(out.len(), a.len());
        assert!(
            out.iter()
                .zip(a.iter().zip(&b))
                .all(|(o, (a, b))| *o == a * b)
        );
        assert!(zeros::<f32>(50_000).iter().all(|v| *v == 0.0));
        for (n, times) in [(384, 100), (7, 5_000), (0, 10), (5, 0)] {
            let row: Vec<f32> = a[..n].to_vec();
            let out = repeated(&row, times);
            assert_eq!(out.len(), n * times);
            assert!(out.chunks(n.max(1)).all(|c| c == row.as_slice()));
        }
        assert_eq!(zeros::<i64>(3), vec![0, 0, 0]);
        for n in [0, 1, 7, 8, 9, 100, 50_000] {
            let exact: f64 = a[..n].iter().map(|x| *x as f64).sum();
            assert!((sum(&a[..n]) as f64 - exact).abs() <= 1e-3 * (1.0 + exact.abs()));
            let top = a[..n].iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v));
            assert_eq!(max(&a[..n]), top);
        }
        assert_eq!(max(&[1.0, f32::NAN, 3.0, -2.0]), 3.0);
        let mut c = a.clone();
        map_in_place(&mut c, exp);
        assert!(c.iter().zip(&a).all(|(c, a)| *c == exp(*a)));
        // Planes of 7, 49 and 20_000 values (several per task, one per task, one task
        // over several): each value sees its own plane's index.
        for plane in [7, 49, 20_000] {
            let mut v = vec![0.0f32; 50_000];
            for_planes(&mut v, plane, |i, p| {
                p.iter_mut().for_each(|x| *x = i as f32)
            });
            assert!(v.iter().enumerate().all(|(k, x)| *x == (k / plane) as f32));
        }
        for n in [0, 1, 7, 8, 9, 100, 50_000] {
            let exact: f64 = a[..n]
                .iter()
                .zip(&b)
                .map(|(x, y)| *x as f64 * *y as f64)
                .sum();
            let ours = dot(&a[..n], &b[..n]) as f64;
            assert!(
                (ours - exact).abs() <= 1e-4 * (1.0 + exact.abs()),
                "{n}: {ours} vs {exact}"
            );
        }
    }
}
