//! The training batch norm (batch statistics) and its ReLU on the CPU backend, forward
//! and backward (timed as forward + backward from a gradient of ones, less the
//! forward), on each shape of a
//! ResNet-18-w64 step at the CREMA-D shapes (`mla-native speed --model resnet18-w64`:
//! 48 frames of 112 px, 16 spectrograms of 100 x 64), best of ROUNDS, and the sum of
//! each shape times its count in the step. `bench/batch_norm.py` times PyTorch's
//! `BatchNorm2d` + `ReLU` on the same list (BENCHMARKS, issue 26).
//!
//!   RAYON_NUM_THREADS=1 cargo run --release --example batch_norm [ROUNDS]

use std::time::Instant;

use mla::burn::nn::BatchNormConfig;
use mla::burn::tensor::{Device, Distribution, Tensor};
use mla::kernels::{Activation, batch_norm};

/// (input shape, batch norms of that shape in one step). The same list is in
/// `bench/batch_norm.py`.
const SHAPES: [([usize; 4], usize); 10] = [
    ([48, 64, 56, 56], 1),
    ([48, 64, 28, 28], 4),
    ([48, 128, 14, 14], 5),
    ([48, 256, 7, 7], 5),
    ([48, 512, 4, 4], 5),
    ([16, 64, 50, 32], 1),
    ([16, 64, 25, 16], 4),
    ([16, 128, 13, 8], 5),
    ([16, 256, 7, 4], 5),
    ([16, 512, 4, 2], 5),
];

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
    let train = device.clone().autodiff();
    println!("| input | count | forward ms | backward ms |");
    println!("|---|---:|---:|---:|");
    let mut total = [0.0; 2];
    for (shape, count) in SHAPES {
        let bn = BatchNormConfig::new(shape[1]).init(&train);
        let x = Tensor::<4>::random(shape, Distribution::Normal(0.5, 2.0), &device);
        let mut best = [f64::MAX; 2];
        for _ in 0..rounds {
            let xt = Tensor::<4>::from_data(x.to_data(), &train).require_grad();
            let t = Instant::now();
            let y = batch_norm(&bn, xt.clone(), Activation::Relu);
            let forward = t.elapsed().as_secs_f64();
            drop(y);
            let t = Instant::now();
            // The output's gradient is ones (Burn's root gradient), not a sum's.
            let grads = batch_norm(&bn, xt.clone(), Activation::Relu).backward();
            let dx = xt.grad(&grads);
            let both = t.elapsed().as_secs_f64();
            drop(dx.expect("a gradient"));
            best = [best[0].min(forward), best[1].min(both - forward)];
        }
        let [f, b] = best.map(|t| t * 1e3);
        total[0] += f * count as f64;
        total[1] += b * count as f64;
        println!("| {shape:?} | {count} | {f:.2} | {b:.2} |");
    }
    println!(
        "| all, times their counts | | {:.1} | {:.1} |",
        total[0], total[1]
    );
}
