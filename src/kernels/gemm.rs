//! Matrix products on slices through the `gemm` crate (what Burn's CPU backend uses),
//! for kernels whose operands are not tensors of their own: patches, gradients, a
//! product written into a buffer prefilled with a bias.

/// `dst [m, n] = (dst if accumulate) + lhs [m, k] x rhs [k, n]`, each matrix given with
/// its `[row, column]` strides; the slices are exactly the elements those strides reach.
/// Over all threads.
pub fn matmul(
    dst: (&mut [f32], usize, usize, [usize; 2]),
    accumulate: bool,
    lhs: (&[f32], [usize; 2]),
    rhs: (&[f32], [usize; 2]),
    k: usize,
) {
    product(dst, accumulate, lhs, rhs, k, gemm::Parallelism::Rayon(0));
}

/// [`matmul`] on the calling thread only (for products that are themselves one of
/// many parallel tasks).
pub fn matmul_serial(
    dst: (&mut [f32], usize, usize, [usize; 2]),
    accumulate: bool,
    lhs: (&[f32], [usize; 2]),
    rhs: (&[f32], [usize; 2]),
    k: usize,
) {
    product(dst, accumulate, lhs, rhs, k, gemm::Parallelism::None);
}

fn product(
    dst: (&mut [f32], usize, usize, [usize; 2]),
    accumulate: bool,
    lhs: (&[f32], [usize; 2]),
    rhs: (&[f32], [usize; 2]),
    k: usize,
    parallelism: gemm::Parallelism,
) {
    let (out, m, n, [drs, dcs]) = dst;
    let reach = |rows: usize, cols: usize, [rs, cs]: [usize; 2]| {
        (rows.max(1) - 1) * rs + (cols.max(1) - 1) * cs + 1
    };
    assert!(
        out.len() >= reach(m, n, [drs, dcs])
            && lhs.0.len() >= reach(m, k, lhs.1)
            && rhs.0.len() >= reach(k, n, rhs.1),
        "matmul: a matrix's strides reach past its slice"
    );
    // SAFETY: checked above: every element the strides address lies inside its slice;
    // `dst` is borrowed mutably, so it aliases neither operand.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
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
