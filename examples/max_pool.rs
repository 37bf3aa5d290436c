//! The max pool of ResNet-18's stems on the CPU backend, forward (with its argmax):
//! 3x3, stride 2, padding 1 on the visual stem's 48 x 32 planes of 56 x 56 and the
//! audio stem's 16 x 32 of 50 x 32 (`mla-native speed --model resnet18-w32`), best of
//! ROUNDS. `bench/max_pool.py` times PyTorch's pool on the same shapes (BENCHMARKS,
//! issue 26).
//!
//!   RAYON_NUM_THREADS=1 cargo run --release --example max_pool [ROUNDS]

use std::time::Instant;

use mla::burn::nn::PaddingConfig2d;
use mla::burn::nn::pool::MaxPool2dConfig;
use mla::burn::tensor::{Device, Distribution, Tensor};

fn main() {
    // As `mla-native` and `examples/conv_layers` run: freed memory kept, on a thread of
    // the CPU backend's pool.
    mla::device::keep_freed_memory();
    rayon::scope(|_| run());
}

fn run() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(10, |r| r.parse().expect("ROUNDS"));
    let device = Device::flex();
    let pool = MaxPool2dConfig::new([3, 3])
        .with_strides([2, 2])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init();
    println!("| input | forward ms |");
    println!("|---|---:|");
    for shape in [[48, 32, 56, 56], [16, 32, 50, 32]] {
        let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
        let mut best = f64::MAX;
        for _ in 0..rounds {
            let t = Instant::now();
            let y = mla::kernels::max_pool2d(&pool, x.clone());
            best = best.min(t.elapsed().as_secs_f64());
            drop(y);
        }
        println!("| {shape:?} | {:.2} |", best * 1e3);
    }
}
