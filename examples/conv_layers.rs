//! One convolution layer at a time on the CPU backend: forward, input gradient and
//! weight gradient (each gradient timed as forward + it, less the forward), on every
//! convolution of a ResNet-18-w32 step at the CREMA-D shapes (`mla-native speed --model
//! resnet18-w32`: 48 frames of 112 px, 16 spectrograms of 100 x 64) and of the av-cnn
//! step (BENCHMARKS, issue 26). `bench/conv_layers.py` times PyTorch on the same list.
//!
//! Each layer runs through every path of [`PATHS`] in turn (the default; the same in
//! AVX2 on a CPU with AVX-512; without the implicit kernel, as before issue 26's sixth
//! step), rounds interleaved, best of each; the last lines sum each path's times, each
//! layer times its count in the step (a stem has no input gradient: its input is
//! data).
//!
//! `WIDTH=64` in the environment scales the ResNet layers' channels to ResNet-18-w64
//! (`--model resnet18-w64`; default 32).
//!
//!   RAYON_NUM_THREADS=1 cargo run --release --example conv_layers [ROUNDS [NAME [PATHS]]]

use std::time::Instant;

use mla::burn::backend::ops::ConvOptions;
use mla::burn::tensor::{Device, Distribution, Tensor};
use mla::kernels::{conv2d, direct, implicit};

/// A layer: (name, count in one step, batch, c_in, c_out, [h, w] input, kernel,
/// stride, padding). The same list is in `bench/conv_layers.py`.
type Layer = (
    &'static str,
    usize,
    usize,
    usize,
    usize,
    [usize; 2],
    usize,
    usize,
    usize,
);

const LAYERS: [Layer; 23] = [
    ("visual stem", 1, 48, 3, 32, [112, 112], 7, 2, 3),
    ("visual stage 1", 4, 48, 32, 32, [28, 28], 3, 1, 1),
    ("visual stage 2 in", 1, 48, 32, 64, [28, 28], 3, 2, 1),
    ("visual stage 2 shortcut", 1, 48, 32, 64, [28, 28], 1, 2, 0),
    ("visual stage 2", 3, 48, 64, 64, [14, 14], 3, 1, 1),
    ("visual stage 3 in", 1, 48, 64, 128, [14, 14], 3, 2, 1),
    ("visual stage 3 shortcut", 1, 48, 64, 128, [14, 14], 1, 2, 0),
    ("visual stage 3", 3, 48, 128, 128, [7, 7], 3, 1, 1),
    ("visual stage 4 in", 1, 48, 128, 256, [7, 7], 3, 2, 1),
    ("visual stage 4 shortcut", 1, 48, 128, 256, [7, 7], 1, 2, 0),
    ("visual stage 4", 3, 48, 256, 256, [4, 4], 3, 1, 1),
    ("audio stem", 1, 16, 1, 32, [100, 64], 7, 2, 3),
    ("audio stage 1", 4, 16, 32, 32, [25, 16], 3, 1, 1),
    ("audio stage 2 in", 1, 16, 32, 64, [25, 16], 3, 2, 1),
    ("audio stage 2 shortcut", 1, 16, 32, 64, [25, 16], 1, 2, 0),
    ("audio stage 2", 3, 16, 64, 64, [13, 8], 3, 1, 1),
    ("audio stage 3 in", 1, 16, 64, 128, [13, 8], 3, 2, 1),
    ("audio stage 3", 3, 16, 128, 128, [7, 4], 3, 1, 1),
    ("audio stage 4 in", 1, 16, 128, 256, [7, 4], 3, 2, 1),
    ("audio stage 4", 3, 16, 256, 256, [4, 2], 3, 1, 1),
    ("av-cnn audio 2", 1, 64, 16, 32, [50, 32], 3, 1, 1),
    ("av-cnn image 1", 1, 64, 1, 16, [28, 28], 3, 1, 1),
    ("av-cnn image 2", 1, 64, 16, 32, [14, 14], 3, 1, 1),
];

/// Paths a layer is timed on: (name, implicit kernel on, direct kernel on, AVX-512
/// allowed).
const PATHS: [(&str, bool, bool, bool); 3] = [
    ("default", true, true, true),
    ("default in AVX2", true, true, false),
    ("direct or im2col", false, true, true),
];

/// A ResNet layer's channels at `width` (the list is at 32); a stem keeps its input's
/// channels, the av-cnn layers their own.
fn scaled(name: &str, ci: usize, co: usize, width: usize) -> (usize, usize) {
    if name.starts_with("av-cnn") {
        return (ci, co);
    }
    let ci = if name.ends_with("stem") {
        ci
    } else {
        ci * width / 32
    };
    (ci, co * width / 32)
}

fn main() {
    // Freed buffers kept, as `mla-native` keeps them: else the timings of a layer
    // depended on the layers before it (whose buffers raised glibc's thresholds).
    mla::device::keep_freed_memory();
    // On a thread of the CPU backend's pool, as `mla-native` runs its commands: from the
    // main thread, the products ran there and the element-wise kernels on a pool thread.
    rayon::scope(|_| run());
}

fn run() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(5, |r| r.parse().expect("ROUNDS"));
    let device = Device::flex();
    let train = device.clone().autodiff();
    println!(
        "| layer | count | shape | path | forward ms | input gradient ms | weight gradient ms |"
    );
    println!("|---|---:|---|---|---:|---:|---:|");
    let mut total = vec![[0.0; 3]; PATHS.len()];
    // An optional second argument keeps the layers whose name contains it, a third
    // the first so many paths (1: the default only).
    let only = std::env::args().nth(2).unwrap_or_default();
    let paths: usize = std::env::args()
        .nth(3)
        .map_or(PATHS.len(), |n| n.parse().expect("PATHS"))
        .clamp(1, PATHS.len());
    let width: usize = std::env::var("WIDTH").map_or(32, |w| w.parse().expect("WIDTH"));
    for (name, count, b, ci, co, [h, w], k, s, p) in LAYERS {
        if !name.contains(only.as_str()) {
            continue;
        }
        let (ci, co) = scaled(name, ci, co, width);
        let options = ConvOptions::new([s, s], [p, p], [1, 1], 1);
        let stem = name.ends_with("stem");
        let dist = Distribution::Normal(0.0, 1.0);
        let x = Tensor::<4>::random([b, ci, h, w], dist, &device);
        let wt = Tensor::<4>::random([co, ci, k, k], dist, &device);
        // A pass with the input or the weight tracked: forward + that gradient.
        let pass = |track_x: bool| {
            let xt = Tensor::<4>::from_data(x.to_data(), &train);
            let wt = Tensor::<4>::from_data(wt.to_data(), &train);
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
            // The CPU backend runs eagerly: the gradient is computed here. Its values
            // are not read back in the timed span (a serial copy of them, which
            // PyTorch's side does not make, was half of a stride-2 layer's input
            // gradient on two threads).
            let elapsed = t.elapsed().as_secs_f64();
            drop(g.expect("a gradient"));
            elapsed
        };
        let paths = &PATHS[..paths];
        // best[path] = [forward, forward + dx, forward + dw]
        let mut best = vec![[f64::MAX; 3]; paths.len()];
        for _ in 0..rounds {
            for (path, &(_, implicit_on, direct_on, avx512)) in paths.iter().enumerate() {
                implicit::set_enabled(implicit_on);
                direct::set_enabled(direct_on);
                direct::set_avx512(avx512);
                let t = Instant::now();
                let y = conv2d(x.clone(), wt.clone(), None, options.clone());
                let forward = t.elapsed().as_secs_f64();
                drop(y);
                let dx = if stem { 0.0 } else { pass(true) };
                let times = [forward, dx, pass(false)];
                for (b, t) in best[path].iter_mut().zip(times) {
                    *b = b.min(t);
                }
            }
        }
        implicit::set_enabled(true);
        direct::set_enabled(true);
        direct::set_avx512(true);
        for (path, &(path_name, ..)) in paths.iter().enumerate() {
            let [f, fx, fw] = best[path].map(|t| t * 1e3);
            let (dx, dw) = (if stem { 0.0 } else { fx - f }, fw - f);
            for (t, v) in total[path].iter_mut().zip([f, dx, dw]) {
                *t += v * count as f64;
            }
            println!(
                "| {name} | {count} | {b} x {ci}->{co}, {h}x{w}, {k}x{k} /{s} | {path_name} | {f:.2} | {dx:.2} | {dw:.2} |"
            );
        }
    }
    for (&(path_name, ..), [f, dx, dw]) in PATHS.iter().zip(total) {
        println!("| all, times their counts | | | {path_name} | {f:.1} | {dx:.1} | {dw:.1} |");
    }
}
