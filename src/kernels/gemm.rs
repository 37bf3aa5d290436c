//! Matrix products on slices through the `gemm` crate (what Burn's CPU backend uses),
//! for kernels whose operands are not tensors of their own: patches, gradients, a
//! product written into a buffer prefilled with a bias or into a new output not yet
//! written.

use std::mem::MaybeUninit;

/// `dst [m, n] = (dst if accumulate) + lhs [m, k] x rhs [k, n]`, each matrix given with
/// its `[row, column]` strides; the slices are exactly the elements those strides reach.
/// Over all threads.
pub fn matmul(
    (out, m, n, strides): (&mut [f32], usize, usize, [usize; 2]),
    accumulate: bool,
    lhs: (&[f32], [usize; 2]),
    rhs: (&[f32], [usize; 2]),
    k: usize,
) {
    let dst = (out.as_mut_ptr(), out.len());
    let parallelism = gemm::Parallelism::Rayon(0);
    product(dst, (m, n, strides), accumulate, lhs, rhs, k, parallelism);
}

/// `dst [m, n] = lhs [m, k] x rhs [k, n]` into memory not yet written (a new output's
/// spare capacity: no zeros written first), every value of `dst` that the strides reach
/// written; over all threads, or on the calling thread only when `serial`.
pub fn matmul_uninit(
    (out, m, n, strides): (&mut [MaybeUninit<f32>], usize, usize, [usize; 2]),
    lhs: (&[f32], [usize; 2]),
    rhs: (&[f32], [usize; 2]),
    k: usize,
    serial: bool,
) {
    let parallelism = if serial {
        gemm::Parallelism::None
    } else {
        gemm::Parallelism::Rayon(0)
    };
    let dst = (out.as_mut_ptr().cast::<f32>(), out.len());
    // Without `accumulate`, `gemm` reads none of `dst`.
    product(dst, (m, n, strides), false, lhs, rhs, k, parallelism);
}

/// `lhs [m, k] x rhs [k, n]` as a new row-major `[m, n]` vector, over all threads,
/// written once by the product (no zeros or bias written first: at a transformer's
/// sizes that pass cost as much memory traffic as the product's own).
pub fn matmul_new(
    m: usize,
    n: usize,
    lhs: (&[f32], [usize; 2]),
    rhs: (&[f32], [usize; 2]),
    k: usize,
) -> Vec<f32> {
    let mut out = Vec::<f32>::with_capacity(m * n);
    let dst = &mut out.spare_capacity_mut()[..m * n];
    matmul_uninit((dst, m, n, [n, 1]), lhs, rhs, k, false);
    // SAFETY: `gemm` without `accumulate` wrote every one of the `m x n` values at
    // strides `[n, 1]` (all `m * n` of them) and read none.
    unsafe { out.set_len(m * n) };
    out
}

/// The product into `dst`, `len` values from a pointer the caller holds exclusively
/// (initialised where `accumulate` reads them).
fn product(
    (out, len): (*mut f32, usize),
    (m, n, [drs, dcs]): (usize, usize, [usize; 2]),
    accumulate: bool,
    lhs: (&[f32], [usize; 2]),
    rhs: (&[f32], [usize; 2]),
    k: usize,
    parallelism: gemm::Parallelism,
) {
    let reach = |rows: usize, cols: usize, [rs, cs]: [usize; 2]| {
        (rows.max(1) - 1) * rs + (cols.max(1) - 1) * cs + 1
    };
    assert!(
        len >= reach(m, n, [drs, dcs])
            && lhs.0.len() >= reach(m, k, lhs.1)
            && rhs.0.len() >= reach(k, n, rhs.1),
        "matmul: a matrix's strides reach past its slice"
    );
    // SAFETY: checked above: every element the strides address lies inside its slice;
    // `dst` is held exclusively, so it aliases neither operand.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out,
            dcs as isize,
            drs as isize,
            accumulate,
            lhs.0.as_ptr(),
            lhs.1[1] as isize,
            lhs.1[0] as isize,
            rhs.0.as_ptr(),
            rhs.1[1] as isize,
            rhs.1[0] as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}
