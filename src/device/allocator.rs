//! The process's allocator settings for the CPU backend.

/// Keeps freed memory in the process (glibc on Linux; elsewhere nothing changes). Call
/// it first thing in `main`, before any other thread exists.
///
/// A training step allocates and frees the same large buffers over and over. glibc's
/// defaults give buffers above 128 KiB back to the kernel on every free (`munmap`, heap
/// trimming), so each step faults its memory in afresh: a third of the time of an
/// AV-digits epoch went to the kernel that way (BENCHMARKS.md, "Speed").
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // From glibc's malloc.h.
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_MMAP_MAX: i32 = -4;
        const M_ARENA_MAX: i32 = -8;
        unsafe extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        // SAFETY: mallopt only changes allocator tunables; the caller runs it before
        // any other thread exists.
        unsafe {
            // Large buffers come from the heap too, and its free top is kept (up to 2 GiB).
            mallopt(M_MMAP_MAX, 0);
            mallopt(M_TRIM_THRESHOLD, i32::MAX);
            // One heap for every thread: the pool's threads allocate most buffers (the
            // commands run on them), and a thread's own arena is a heap of its own that
            // gives memory back and faults it in again.
            mallopt(M_ARENA_MAX, 1);
        }
    }
}
