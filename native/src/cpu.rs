//! Process-wide settings of the CPU backend: its thread pool and the allocator.

use anyhow::{Context, Result};

/// Runs the CPU backend's kernels on `threads` threads (Burn's `flex` uses rayon's
/// global pool) and keeps freed memory in the process
/// ([`mla::device::keep_freed_memory`]).
pub fn configure(threads: usize) -> Result<()> {
    mla::device::keep_freed_memory();
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        // The main thread's size: whole commands run on these threads (`on_a_worker`).
        .stack_size(8 << 20)
        .build_global()
        .context("starting the CPU threads")
}

/// Runs `work` on one of the CPU backend's threads (the caller waits), so that every
/// kernel runs on the pool's threads. Run from `main`, the products ran on the main
/// thread and the element-wise kernels on a pool thread, which the system may put on
/// another core: on one thread, each layer's output then crossed between the cores'
/// caches, and MiniLM's products ran a fifth slower than alone.
pub fn on_a_worker<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    let mut out = None;
    rayon::scope(|_| out = Some(work()));
    out.expect("the scope ran its closure")
}

/// The threads a run gets: `--threads` when given, else `RAYON_NUM_THREADS` (what
/// rayon itself reads, so that the variable means the same here as in any rayon
/// program), else every core.
pub fn threads(flag: Option<usize>) -> Result<usize> {
    if let Some(n) = flag {
        anyhow::ensure!(n >= 1, "--threads must be at least 1");
        return Ok(n);
    }
    match std::env::var("RAYON_NUM_THREADS") {
        Ok(v) if !v.trim().is_empty() => match v.trim().parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => anyhow::bail!("RAYON_NUM_THREADS is `{v}`; give a number of threads of 1 or more"),
        },
        _ => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}
