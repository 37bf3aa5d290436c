//! One convolution layer at a time on the CPU backend: forward, input gradient and
//! weight gradient (each gradient timed as forward + it, less the forward), through
//! the direct kernel and through im2col + GEMM in turn (rounds interleaved, best of
//! each), on ResNet-18's stride-1 layers and the CNN's (BENCHMARKS,
//! issue 26). `bench/conv_layers.py` times PyTorch on the same shapes.
//!
//!   RAYON_NUM_THREADS=1 cargo run --release --example conv_layers [ROUNDS]

use std::time::Instant;

use mla::burn::backend::ops::ConvOptions;
use mla::burn::tensor::{Device, Distribution, Tensor};
use mla::kernels::{conv2d, direct};

/// (batch, c_in, c_out, side, kernel, padding).
const LAYERS: [(usize, usize, usize, usize, usize, usize); 7] = [
    (48, 32, 32, 28, 3, 1),
    (48, 64, 64, 14, 3, 1),
    (16, 32, 32, 56, 3, 1),
    (16, 64, 64, 28, 3, 1),
    (16, 128, 128, 14, 3, 1),
    (64, 1, 16, 28, 3, 1),
    (64, 16, 32, 14, 3, 1),
];

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(5, |r| r.parse().expect("ROUNDS"));
    let device = Device::flex();
    let train = device.clone().autodiff();
    println!("| layer | path | forward ms | input gradient ms | weight gradient ms |");
    println!("|---|---|---:|---:|---:|");
    for (b, ci, co, side, k, p) in LAYERS {
        let options = ConvOptions::new([1, 1], [p, p], [1, 1], 1);
        let dist = Distribution::Normal(0.0, 1.0);
        let x = Tensor::<4>::random([b, ci, side, side], dist, &device);
        let w = Tensor::<4>::random([co, ci, k, k], dist, &device);
        // A pass with the input or the weight tracked: forward + that gradient.
        let pass = |track_x: bool| {
            let xt = Tensor::<4>::from_data(x.to_data(), &train);
            let wt = Tensor::<4>::from_data(w.to_data(), &train);
            let (xt, wt) = if track_x {
                (xt.require_grad(), wt)
            } else {
                (xt, wt.require_grad())
            };
            let t = Instant::now();
            let grads = conv2d(xt.clone(), wt.clone(), None, options.clone())
                .sum()
                .backward();
            let g = if track_x {
                xt.grad(&grads)
            } else {
                wt.grad(&grads)
            };
            let _ = g.expect("a gradient").into_data();
            t.elapsed().as_secs_f64()
        };
        // best[path] = [forward, forward + dx, forward + dw]
        let mut best = [[f64::MAX; 3]; 2];
        for _ in 0..rounds {
            for (path, on) in [true, false].into_iter().enumerate() {
                direct::set_enabled(on);
                let t = Instant::now();
                let _ = conv2d(x.clone(), w.clone(), None, options.clone()).into_data();
                let times = [t.elapsed().as_secs_f64(), pass(true), pass(false)];
                for (b, t) in best[path].iter_mut().zip(times) {
                    *b = b.min(t);
                }
            }
        }
        direct::set_enabled(true);
        for (path, name) in ["direct", "im2col + GEMM"].into_iter().enumerate() {
            let [f, fx, fw] = best[path].map(|t| t * 1e3);
            println!(
                "| {b} x {ci}->{co}, {side}x{side}, {k}x{k} | {name} | {f:.2} | {:.2} | {:.2} |",
                fx - f,
                fw - f
            );
        }
    }
}
