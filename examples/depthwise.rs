//! MobileNetV2's depthwise 3x3 convolutions on the CPU backend, forward only (as
//! frozen-encoder extraction runs them): every distinct layer at one image size, batch
//! 32 (`mla-native encoders speed`), best of ROUNDS, and the sum over the network with
//! each layer's count. `bench/depthwise.py` times PyTorch on the same list (BENCHMARKS,
//! issue 26).
//!
//!   RAYON_NUM_THREADS=1 cargo run --release --example depthwise [ROUNDS [IMAGE_SIZE]]

use std::time::Instant;

use mla::burn::backend::ops::ConvOptions;
use mla::burn::tensor::{Device, Distribution, Tensor};
use mla::model::pretrained::MOBILENET_V2_STAGES;

/// Each distinct depthwise layer: (channels, input side, stride, count in the network).
/// The same walk is in `bench/depthwise.py`.
fn layers(size: usize) -> Vec<(usize, usize, usize, usize)> {
    let mut side = size.div_ceil(2); // after the stride-2 stem
    let mut c_in = 32;
    let mut out: Vec<(usize, usize, usize, usize)> = Vec::new();
    for (t, c, n, s) in MOBILENET_V2_STAGES {
        for k in 0..n {
            let stride = if k == 0 { s } else { 1 };
            let hidden = c_in * t;
            match out.last_mut() {
                Some(l) if (l.0, l.1, l.2) == (hidden, side, stride) => l.3 += 1,
                _ => out.push((hidden, side, stride, 1)),
            }
            side = (side - 1) / stride + 1;
            c_in = c;
        }
    }
    out
}

fn main() {
    // As `mla-native` runs: freed memory kept, on a thread of the CPU backend's pool.
    mla::device::keep_freed_memory();
    rayon::scope(|_| run());
}

fn run() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map_or(20, |r| r.parse().expect("ROUNDS"));
    let size: usize = args.next().map_or(96, |r| r.parse().expect("IMAGE_SIZE"));
    let device = Device::flex();
    println!("| channels | input | stride | count | forward ms |");
    println!("|---:|---|---:|---:|---:|");
    let mut total = 0.0;
    for (c, side, stride, count) in layers(size) {
        let x = Tensor::<4>::random([32, c, side, side], Distribution::Normal(0.0, 1.0), &device);
        let w = Tensor::<4>::random([c, 1, 3, 3], Distribution::Normal(0.0, 0.3), &device);
        let options = ConvOptions::new([stride; 2], [1, 1], [1, 1], c);
        let mut best = f64::MAX;
        for _ in 0..rounds {
            let t = Instant::now();
            let y = mla::kernels::conv2d(x.clone(), w.clone(), None, options.clone());
            best = best.min(t.elapsed().as_secs_f64());
            drop(y);
        }
        total += best * count as f64;
        println!(
            "| {c} | {side} x {side} | {stride} | {count} | {:.3} |",
            best * 1e3
        );
    }
    println!("| all | | | | {:.2} |", total * 1e3);
}
