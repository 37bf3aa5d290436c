//! Working memory reused across kernel calls, for buffers every call overwrites (the
//! im2col patches, gathered gradients, products before their copy out).
//!
//! A fresh zeroed buffer per call cost a memset as large as the patches (9 times a 3x3
//! layer's input) plus page faults: glibc hands back freed heap memory for large blocks
//! once its mmap threshold has grown, and `calloc` must then clear it.

use std::cell::RefCell;

thread_local! {
    /// The outermost call's buffer and one nested call's (a weight gradient packs its
    /// output gradient inside the call that holds its padded input).
    static SCRATCH: [RefCell<Vec<f32>>; 2] = const { [RefCell::new(Vec::new()), RefCell::new(Vec::new())] };
}

/// `f32` values per 64 bytes, a cache line and an AVX-512 vector.
const LINE: usize = 16;

/// Runs `f` with two buffers of `a` and `b` values, holding stale values of earlier
/// calls: `f` must write every value before it reads it. The calling thread's first
/// free kept buffer, grown as needed, or (nested deeper) a fresh one. Both start on a
/// 64-byte boundary: a kernel's vectors of packed panels then never straddle two cache
/// lines (at the allocator's 16-byte alignment most AVX-512 loads of them did).
pub fn with_two<R>(a: usize, b: usize, f: impl FnOnce(&mut [f32], &mut [f32]) -> R) -> R {
    let gap = a.next_multiple_of(LINE);
    let len = gap + b + LINE;
    let split = |values: &mut [f32]| {
        let start = values.as_ptr().align_offset(64).min(LINE);
        let (x, y) = values[start..start + gap + b].split_at_mut(gap);
        f(&mut x[..a], y)
    };
    SCRATCH.with(
        |cells| match cells.iter().find_map(|cell| cell.try_borrow_mut().ok()) {
            Some(mut kept) => {
                if kept.len() < len {
                    kept.resize(len, 0.0);
                }
                split(&mut kept)
            }
            None => split(&mut vec![0.0f32; len]),
        },
    )
}
