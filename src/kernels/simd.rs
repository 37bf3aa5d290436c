//! The x86-64 vector instruction sets our kernels run on, picked once per layer at run
//! time (the widest the CPU has), and the small vector trait the kernels are written
//! over: each kernel is generic over [`Simd`] and instantiated inside a function
//! compiled for that set (`#[target_feature]`), where the trait's calls inline.

use std::sync::atomic::{AtomicBool, Ordering};

/// The vector instructions a kernel runs on: the widest the CPU has (unless
/// [`set_avx512`] turned AVX-512 off).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// 16 registers of 8 lanes.
    Avx2,
    /// 32 registers of 16 lanes.
    Avx512,
}

impl Isa {
    /// Values per vector.
    pub const fn lanes(self) -> usize {
        match self {
            Isa::Avx2 => 8,
            Isa::Avx512 => 16,
        }
    }

    /// Whether this CPU has the instructions.
    pub fn on_this_cpu(self) -> bool {
        match self {
            Isa::Avx2 => cpu_has_avx2(),
            Isa::Avx512 => cpu_has_avx512(),
        }
    }

    /// The instruction set a new kernel runs on, `None` without AVX2 + FMA (other
    /// architectures, wasm32, old CPUs).
    pub fn best() -> Option<Isa> {
        if AVX512.load(Ordering::Relaxed) && cpu_has_avx512() {
            Some(Isa::Avx512)
        } else {
            cpu_has_avx2().then_some(Isa::Avx2)
        }
    }
}

/// Whether AVX-512 may be used where the CPU has it (see [`set_avx512`]).
static AVX512: AtomicBool = AtomicBool::new(true);

/// Lets the kernels use AVX-512 where the CPU has it (the default) or not, so that
/// tests and benchmarks reach the AVX2 kernels on such a CPU too.
pub fn set_avx512(on: bool) {
    AVX512.store(on, Ordering::Relaxed);
}

/// Whether the CPU has AVX2 and FMA (detected once by the standard library).
fn cpu_has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the CPU has AVX-512F (and so AVX2 and FMA).
fn cpu_has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        cpu_has_avx2() && std::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
pub use vector::{Avx2, Avx512, Simd};

#[cfg(target_arch = "x86_64")]
mod vector {
    use std::arch::x86_64::*;

    /// A vector of `LANES` f32s and the operations the kernels use.
    ///
    /// # Safety
    /// Each method needs the CPU to have the instruction set, and the pointers to hold
    /// `LANES` values.
    pub trait Simd {
        const LANES: usize;
        type V: Copy;
        unsafe fn zero() -> Self::V;
        unsafe fn load(p: *const f32) -> Self::V;
        unsafe fn store(p: *mut f32, v: Self::V);
        unsafe fn splat(p: *const f32) -> Self::V;
        unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
        /// `a * b + c`.
        unsafe fn fmadd(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
        /// Lane `i` from `p + i * stride` (`stride * LANES` below `2^31`).
        unsafe fn gather(p: *const f32, stride: usize) -> Self::V;
        /// Lanes `lanes` of `v` to `p + lane`; other lanes' addresses are not touched.
        unsafe fn store_lanes(p: *mut f32, v: Self::V, lanes: std::ops::Range<usize>);
        /// A `LANES x LANES` block transposed: row `j` read at `src + j * stride` (its
        /// `LANES` values along memory), column `i` written as a vector at `dst +
        /// rows[i]` (`rows` of `LANES` positions), in registers.
        unsafe fn transpose(src: *const f32, stride: usize, dst: *mut f32, rows: &[usize]);
    }

    pub struct Avx2;
    pub struct Avx512;

    impl Simd for Avx2 {
        const LANES: usize = 8;
        type V = __m256;
        #[inline(always)]
        unsafe fn zero() -> __m256 {
            unsafe { _mm256_setzero_ps() }
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> __m256 {
            unsafe { _mm256_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: __m256) {
            unsafe { _mm256_storeu_ps(p, v) }
        }
        #[inline(always)]
        unsafe fn splat(p: *const f32) -> __m256 {
            unsafe { _mm256_broadcast_ss(&*p) }
        }
        #[inline(always)]
        unsafe fn add(a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_add_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn fmadd(a: __m256, b: __m256, c: __m256) -> __m256 {
            unsafe { _mm256_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        unsafe fn gather(p: *const f32, stride: usize) -> __m256 {
            unsafe {
                let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                let at = _mm256_mullo_epi32(lanes, _mm256_set1_epi32(stride as i32));
                _mm256_i32gather_ps::<4>(p, at)
            }
        }
        #[inline(always)]
        unsafe fn store_lanes(p: *mut f32, v: __m256, lanes: std::ops::Range<usize>) {
            unsafe {
                let index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                let from = _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes.start as i32), index);
                let to = _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes.end as i32), index);
                _mm256_maskstore_ps(p, _mm256_andnot_si256(from, to), v)
            }
        }
        #[inline(always)]
        unsafe fn transpose(src: *const f32, stride: usize, dst: *mut f32, rows: &[usize]) {
            debug_assert_eq!(rows.len(), 8);
            // Plain loops, not closures (`array::from_fn`): a closure left out of line
            // is compiled without the instruction set, each intrinsic then a call.
            unsafe {
                let mut r = [_mm256_setzero_ps(); 8];
                for (j, r) in r.iter_mut().enumerate() {
                    *r = _mm256_loadu_ps(src.add(j * stride));
                }
                // Pairs of rows interleaved, then each 128-bit lane's four columns of
                // four rows, then the lanes of rows 0-3 and 4-7 joined.
                let mut a = r;
                for i in 0..4 {
                    a[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
                    a[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
                }
                let mut b = a;
                for g in [0, 4] {
                    b[g] = _mm256_shuffle_ps::<0x44>(a[g], a[g + 2]);
                    b[g + 1] = _mm256_shuffle_ps::<0xEE>(a[g], a[g + 2]);
                    b[g + 2] = _mm256_shuffle_ps::<0x44>(a[g + 1], a[g + 3]);
                    b[g + 3] = _mm256_shuffle_ps::<0xEE>(a[g + 1], a[g + 3]);
                }
                for c in 0..4 {
                    let low = _mm256_permute2f128_ps::<0x20>(b[c], b[4 + c]);
                    let high = _mm256_permute2f128_ps::<0x31>(b[c], b[4 + c]);
                    _mm256_storeu_ps(dst.add(rows[c]), low);
                    _mm256_storeu_ps(dst.add(rows[4 + c]), high);
                }
            }
        }
    }

    impl Simd for Avx512 {
        const LANES: usize = 16;
        type V = __m512;
        #[inline(always)]
        unsafe fn zero() -> __m512 {
            unsafe { _mm512_setzero_ps() }
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> __m512 {
            unsafe { _mm512_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: __m512) {
            unsafe { _mm512_storeu_ps(p, v) }
        }
        #[inline(always)]
        unsafe fn splat(p: *const f32) -> __m512 {
            unsafe { _mm512_set1_ps(*p) }
        }
        #[inline(always)]
        unsafe fn add(a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_add_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn fmadd(a: __m512, b: __m512, c: __m512) -> __m512 {
            unsafe { _mm512_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        unsafe fn gather(p: *const f32, stride: usize) -> __m512 {
            unsafe {
                let lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
                let at = _mm512_mullo_epi32(lanes, _mm512_set1_epi32(stride as i32));
                _mm512_i32gather_ps::<4>(at, p)
            }
        }
        #[inline(always)]
        unsafe fn store_lanes(p: *mut f32, v: __m512, lanes: std::ops::Range<usize>) {
            let mask = ((1u32 << lanes.end) - (1u32 << lanes.start)) as u16;
            unsafe { _mm512_mask_storeu_ps(p, mask, v) }
        }
        #[inline(always)]
        unsafe fn transpose(src: *const f32, stride: usize, dst: *mut f32, rows: &[usize]) {
            debug_assert_eq!(rows.len(), 16);
            // Plain loops, as AVX2's.
            unsafe {
                let mut r = [_mm512_setzero_ps(); 16];
                for (j, r) in r.iter_mut().enumerate() {
                    *r = _mm512_loadu_ps(src.add(j * stride));
                }
                // As AVX2's within each 128-bit lane (four columns of each group of four
                // rows), then the four groups' lanes transposed as 4 x 4 blocks.
                let mut a = r;
                for i in 0..8 {
                    a[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
                    a[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
                }
                let mut b = a;
                for g in [0, 4, 8, 12] {
                    b[g] = _mm512_shuffle_ps::<0x44>(a[g], a[g + 2]);
                    b[g + 1] = _mm512_shuffle_ps::<0xEE>(a[g], a[g + 2]);
                    b[g + 2] = _mm512_shuffle_ps::<0x44>(a[g + 1], a[g + 3]);
                    b[g + 3] = _mm512_shuffle_ps::<0xEE>(a[g + 1], a[g + 3]);
                }
                // b[4g + c], lane L: column 4L + c of rows 4g..4g + 4.
                for c in 0..4 {
                    let x0 = _mm512_shuffle_f32x4::<0x88>(b[c], b[4 + c]);
                    let x1 = _mm512_shuffle_f32x4::<0xDD>(b[c], b[4 + c]);
                    let x2 = _mm512_shuffle_f32x4::<0x88>(b[8 + c], b[12 + c]);
                    let x3 = _mm512_shuffle_f32x4::<0xDD>(b[8 + c], b[12 + c]);
                    _mm512_storeu_ps(dst.add(rows[c]), _mm512_shuffle_f32x4::<0x88>(x0, x2));
                    _mm512_storeu_ps(dst.add(rows[4 + c]), _mm512_shuffle_f32x4::<0x88>(x1, x3));
                    _mm512_storeu_ps(dst.add(rows[8 + c]), _mm512_shuffle_f32x4::<0xDD>(x0, x2));
                    _mm512_storeu_ps(dst.add(rows[12 + c]), _mm512_shuffle_f32x4::<0xDD>(x1, x3));
                }
            }
        }
    }
}
