//! Our CPU kernels against Burn's operations and autodiff, on random inputs.
//!
//! The convolution (`mla::kernels::conv2d`: Burn's forward, our weight and input
//! gradients) on random shapes: strides, asymmetric padding, dilation, groups,
//! depthwise layers, a channel multiplier, batch 1; outputs and the gradients of the
//! input, the weight and the bias agree to 1e-5 relative. GELU (`mla::kernels::gelu`,
//! a vectorised normal CDF) and its gradient agree with Burn's (libm's `erff`) to 1e-5.

mod common;

use common::{cpu, host};
use mla::burn::backend::ops::ConvOptions;
use mla::burn::nn::PaddingConfig2d;
use mla::burn::nn::conv::Conv2dConfig;
use mla::burn::tensor::{Distribution, Tensor};
use mla::rng::Rng;

/// `max |a - b| / max(1, max |b|)`.
fn relative(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
        / scale
}

struct Case {
    batch: usize,
    c_in: usize,
    c_out: usize,
    size: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [(usize, usize); 2],
    dilation: [usize; 2],
    groups: usize,
    bias: bool,
}

/// Output, then gradients of x, weight and bias of `sum(out * probe)`.
fn run(case: &Case, ours: bool, seed: u64) -> Vec<Vec<f32>> {
    let device = cpu().autodiff();
    let c = case;
    // Seeded values on the host, so both runs see the same numbers.
    let mut rng = Rng::derive(seed, 1);
    let mut values = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.normal() as f32).collect() };
    let x_shape = [c.batch, c.c_in, c.size[0], c.size[1]];
    let w_shape = [c.c_out, c.c_in / c.groups, c.kernel[0], c.kernel[1]];
    let x = Tensor::<4>::from_data(
        mla::burn::tensor::TensorData::new(values(x_shape.iter().product()), x_shape),
        &device,
    )
    .require_grad();
    let w = Tensor::<4>::from_data(
        mla::burn::tensor::TensorData::new(values(w_shape.iter().product()), w_shape),
        &device,
    )
    .require_grad();
    let b = c.bias.then(|| {
        Tensor::<1>::from_data(
            mla::burn::tensor::TensorData::new(values(c.c_out), [c.c_out]),
            &device,
        )
        .require_grad()
    });
    let options = ConvOptions::new_with_padding(c.stride, c.padding, c.dilation, c.groups);
    let out = if ours {
        mla::kernels::conv2d(x.clone(), w.clone(), b.clone(), options)
    } else {
        mla::burn::tensor::module::conv2d(x.clone(), w.clone(), b.clone(), options)
    };
    let dims = out.dims();
    let n: usize = dims.iter().product();
    let probe =
        Tensor::<4>::from_data(mla::burn::tensor::TensorData::new(values(n), dims), &device);
    let grads = (out.clone() * probe).sum().backward();
    let mut result = vec![
        host(out.detach()),
        host(x.grad(&grads).unwrap()),
        host(w.grad(&grads).unwrap()),
    ];
    if let Some(b) = b {
        result.push(host(b.grad(&grads).unwrap()));
    }
    result
}

#[test]
fn our_convolution_and_its_gradients_match_burns() {
    let mut rng = Rng::derive(17, 2);
    let mut cases = vec![
        // The shapes of our encoders: a CNN layer, ResNet's stem and a strided block,
        // MobileNetV2's depthwise and pointwise layers; batch 1 too.
        Case {
            batch: 3,
            c_in: 1,
            c_out: 8,
            size: [20, 16],
            kernel: [3, 3],
            stride: [1, 1],
            padding: [(1, 1), (1, 1)],
            dilation: [1, 1],
            groups: 1,
            bias: true,
        },
        Case {
            batch: 2,
            c_in: 3,
            c_out: 8,
            size: [17, 17],
            kernel: [7, 7],
            stride: [2, 2],
            padding: [(3, 3), (3, 3)],
            dilation: [1, 1],
            groups: 1,
            bias: false,
        },
        Case {
            batch: 1,
            c_in: 8,
            c_out: 16,
            size: [9, 9],
            kernel: [3, 3],
            stride: [2, 2],
            padding: [(1, 1), (1, 1)],
            dilation: [1, 1],
            groups: 1,
            bias: false,
        },
        Case {
            batch: 2,
            c_in: 12,
            c_out: 12,
            size: [10, 10],
            kernel: [3, 3],
            stride: [2, 2],
            padding: [(1, 1), (1, 1)],
            dilation: [1, 1],
            groups: 12,
            bias: false,
        },
        Case {
            batch: 2,
            c_in: 12,
            c_out: 24,
            size: [7, 6],
            kernel: [1, 1],
            stride: [1, 1],
            padding: [(0, 0), (0, 0)],
            dilation: [1, 1],
            groups: 1,
            bias: true,
        },
        // A channel multiplier, grouped, dilated and asymmetrically padded layers.
        Case {
            batch: 2,
            c_in: 4,
            c_out: 8,
            size: [8, 9],
            kernel: [3, 2],
            stride: [1, 2],
            padding: [(2, 0), (0, 1)],
            dilation: [1, 1],
            groups: 4,
            bias: true,
        },
        Case {
            batch: 3,
            c_in: 6,
            c_out: 9,
            size: [11, 8],
            kernel: [3, 3],
            stride: [1, 1],
            padding: [(0, 2), (1, 0)],
            dilation: [2, 1],
            groups: 3,
            bias: true,
        },
        Case {
            batch: 1,
            c_in: 2,
            c_out: 3,
            size: [5, 5],
            kernel: [5, 5],
            stride: [3, 3],
            padding: [(0, 0), (0, 0)],
            dilation: [1, 1],
            groups: 1,
            bias: false,
        },
        // Planes large enough to run one sample per task (>= 256 outputs): plain,
        // strided, grouped, dilated, asymmetrically padded.
        Case {
            batch: 2,
            c_in: 32,
            c_out: 8,
            size: [31, 29],
            kernel: [3, 3],
            stride: [1, 1],
            padding: [(1, 1), (1, 1)],
            dilation: [1, 1],
            groups: 1,
            bias: true,
        },
        Case {
            batch: 3,
            c_in: 6,
            c_out: 4,
            size: [45, 38],
            kernel: [3, 3],
            stride: [2, 2],
            padding: [(1, 0), (2, 1)],
            dilation: [1, 2],
            groups: 2,
            bias: false,
        },
        Case {
            batch: 2,
            c_in: 6,
            c_out: 9,
            size: [24, 20],
            kernel: [3, 3],
            stride: [1, 1],
            padding: [(0, 2), (1, 0)],
            dilation: [2, 1],
            groups: 3,
            bias: false,
        },
        Case {
            batch: 1,
            c_in: 3,
            c_out: 5,
            size: [20, 18],
            kernel: [3, 2],
            stride: [1, 1],
            padding: [(3, 1), (0, 2)],
            dilation: [1, 1],
            groups: 1,
            bias: true,
        },
    ];
    // And random ones, some with large planes.
    for _ in 0..12 {
        let groups = [1, 1, 2, 3][rng.below(4)];
        let depthwise = rng.below(4) == 0;
        let c_in = if depthwise {
            groups * (1 + rng.below(4))
        } else {
            groups * (1 + rng.below(3))
        };
        let groups = if depthwise { c_in } else { groups };
        let c_out = groups * (1 + rng.below(3));
        let kernel = [1 + rng.below(4), 1 + rng.below(4)];
        let dilation = [1 + rng.below(2), 1 + rng.below(2)];
        let padding = [(rng.below(3), rng.below(3)), (rng.below(3), rng.below(3))];
        let reach = |a: usize| (kernel[a] - 1) * dilation[a] + 1;
        let large = if rng.below(3) == 0 { 16 } else { 0 };
        let size = [
            reach(0) + rng.below(9) + large,
            reach(1) + rng.below(9) + large,
        ];
        cases.push(Case {
            batch: 1 + rng.below(4),
            c_in,
            c_out,
            size,
            kernel,
            stride: [1 + rng.below(3), 1 + rng.below(3)],
            padding,
            dilation,
            groups,
            bias: rng.below(2) == 0,
        });
    }
    for (i, case) in cases.iter().enumerate() {
        assert_matches_burn(case, i as u64);
    }
}

/// `case` through ours and through Burn (inputs drawn from `seed`): output and the
/// gradients of x, weight and bias to 1e-5 relative.
fn assert_matches_burn(case: &Case, seed: u64) {
    let (ours, burns) = (run(case, true, seed), run(case, false, seed));
    for (what, (a, b)) in ["output", "dx", "dweight", "dbias"]
        .iter()
        .zip(ours.iter().zip(&burns))
    {
        let r = relative(a, b);
        assert!(
            r <= 1e-5,
            "case of seed {seed} ({} -> {}, {:?} input, {:?} kernel, stride {:?}, padding {:?}, dilation {:?}, groups {}): {what} differs by {r:e}",
            case.c_in,
            case.c_out,
            case.size,
            case.kernel,
            case.stride,
            case.padding,
            case.dilation,
            case.groups
        );
    }
}

/// Depthwise layers (one output channel per input channel): stride-1 planes up to 12 x
/// 12 and every strided layer interleave blocks of 16 channels into lanes, larger
/// stride-1 planes run whole-plane runs. Channel counts that fill no block, one, or
/// several and part of one (blocks never cross samples), tiny and large planes,
/// strides 1 to 3, dilation, asymmetric padding, kernels 1x1 to 5x5, batch 1 to 3;
/// each case in AVX2, then AVX-512 where the CPU has it.
#[test]
fn depthwise_convolution_and_its_gradients_match_burns() {
    let mut rng = Rng::derive(29, 6);
    // Columns that read only padding (left padding past every column a stride-3 output
    // reads): no input column lands in the interleaved block.
    assert_matches_burn_on_each_isa(
        &Case {
            batch: 2,
            c_in: 3,
            c_out: 3,
            size: [3, 1],
            kernel: [3, 1],
            stride: [1, 3],
            padding: [(0, 0), (2, 0)],
            dilation: [1, 1],
            groups: 3,
            bias: false,
        },
        99,
    );
    let channels = [1, 3, 16, 20, 33, 48];
    for i in 0..18 {
        let c = channels[i % channels.len()];
        let kernel = [1 + rng.below(5), 1 + rng.below(5)];
        let dilation = [1 + rng.below(2), 1 + rng.below(2)];
        let reach = |a: usize| (kernel[a] - 1) * dilation[a] + 1;
        // Mostly MobileNetV2's 3 x 3 to 14 x 14 planes, sometimes 20 to 30.
        let extra = if rng.below(4) == 0 { 20 } else { 1 };
        let size = [
            reach(0) + rng.below(12) + extra,
            reach(1) + rng.below(12) + extra,
        ];
        let case = Case {
            batch: 1 + rng.below(3),
            c_in: c,
            c_out: c,
            size,
            kernel,
            stride: [[1, 1, 2, 3][rng.below(4)], [1, 1, 2, 3][rng.below(4)]],
            padding: [(rng.below(3), rng.below(3)), (rng.below(3), rng.below(3))],
            dilation,
            groups: c,
            bias: rng.below(2) == 0,
        };
        assert_matches_burn_on_each_isa(&case, 100 + i as u64);
    }
}

/// [`assert_matches_burn`] with the direct kernel in AVX2, then in AVX-512 where the CPU
/// has it.
fn assert_matches_burn_on_each_isa(case: &Case, seed: u64) {
    for avx512 in [false, true] {
        mla::kernels::direct::set_avx512(avx512);
        assert_matches_burn(case, seed);
    }
}

/// Stride 1, no dilation, one group, output planes at least 12 wide: the direct kernel
/// (on CPUs with AVX2 + FMA; each case through AVX2 and, where the CPU has it, AVX-512)
/// for the output and the input gradient, with every kernel size up to 5x5, padding
/// beyond the kernel (the input gradient then falls back), output channels that fill
/// no whole block (6 for AVX2, 12 for AVX-512) or several, widths that end mid-step
/// (steps of 16 or 32 columns).
#[test]
fn direct_convolution_and_its_gradients_match_burns() {
    let mut rng = Rng::derive(23, 4);
    for i in 0..24 {
        let kernel = [1 + rng.below(5), 1 + rng.below(5)];
        let padding = [
            (rng.below(kernel[0] + 1), rng.below(kernel[0] + 1)),
            (rng.below(kernel[1] + 1), rng.below(kernel[1] + 1)),
        ];
        let width = 12 + rng.below(40);
        let case = Case {
            batch: 1 + rng.below(3),
            c_in: 1 + rng.below(9),
            c_out: 1 + rng.below(27),
            size: [
                kernel[0] + rng.below(20),
                width + kernel[1] - 1 - padding[1].0 - padding[1].1 + kernel[1],
            ],
            kernel,
            stride: [1, 1],
            padding,
            dilation: [1, 1],
            groups: 1,
            bias: rng.below(2) == 0,
        };
        assert_matches_burn_on_each_isa(&case, 100 + i);
    }
}

/// Strided layers whose phase form (space to depth: `s * s` channels per input
/// channel, `ceil(k / s)` taps) costs at most a third more taps, such as ResNet-18's
/// 7x7 stride-2 stem: the direct kernel runs them as stride-1 convolutions (output
/// planes at least 12 wide, at most 32 phase channels), output and both gradients,
/// with padding before and after, non-square kernels, strides 2 and 3.
#[test]
fn strided_convolutions_through_their_phases_match_burns() {
    let mut rng = Rng::derive(23, 5);
    for i in 0..16 {
        let s = 2 + rng.below(2);
        let sizes: &[usize] = if s == 2 { &[4, 6, 7, 8] } else { &[6, 8, 9] };
        let kernel = [sizes[rng.below(sizes.len())], sizes[rng.below(sizes.len())]];
        let padding = [
            (rng.below(kernel[0]), rng.below(kernel[0])),
            (rng.below(kernel[1]), rng.below(kernel[1])),
        ];
        let width = 12 + rng.below(30);
        let case = Case {
            batch: 1 + rng.below(3),
            c_in: 1 + rng.below(if s == 2 { 8 } else { 3 }),
            c_out: 4 + rng.below(20),
            size: [
                kernel[0] + s * rng.below(12),
                kernel[1] + s * (width - 1) - padding[1].0 - padding[1].1 + rng.below(s),
            ],
            kernel,
            stride: [s, s],
            padding,
            dilation: [1, 1],
            groups: 1,
            bias: rng.below(2) == 0,
        };
        assert_matches_burn_on_each_isa(&case, 200 + i);
    }
}

/// Every convolution of one group through the implicit kernel (vectors across
/// channels, `mla::kernels::implicit`; on CPUs with AVX2 + FMA, each case through AVX2
/// and, where the CPU has it, AVX-512): output, input gradient (one product per stride
/// phase) and weight gradient, with strides 1-3, dilation 1-2, padding before and
/// after, kernels up to 5x5 not square, channels from 1 to 70 (blocks of 1, 2 and 4
/// vectors, several panels, the last one partly filled), planes down to one pixel,
/// batch 1 too, a batch whose weight gradient is split into several products, and
/// padding wider than the kernel.
#[test]
fn implicit_convolution_and_its_gradients_match_burns() {
    mla::kernels::implicit::set_forced(true);
    let mut rng = Rng::derive(23, 6);
    for i in 0..24 {
        let kernel = [1 + rng.below(5), 1 + rng.below(5)];
        let dilation = [1 + rng.below(2), 1 + rng.below(2)];
        let span = |a: usize| dilation[a] * (kernel[a] - 1) + 1;
        let padding = [
            (rng.below(kernel[0]), rng.below(kernel[0])),
            (rng.below(kernel[1]), rng.below(kernel[1])),
        ];
        let channels = [1, 3, 8, 16, 17, 33, 64, 70];
        let case = Case {
            batch: 1 + rng.below(3),
            c_in: channels[rng.below(channels.len())],
            c_out: channels[rng.below(channels.len())],
            size: [span(0) + rng.below(9), span(1) + rng.below(9)],
            kernel,
            stride: [1 + rng.below(3), 1 + rng.below(3)],
            padding,
            dilation,
            groups: 1,
            bias: rng.below(2) == 0,
        };
        assert_matches_burn_on_each_isa(&case, 300 + i);
    }
    // A batch whose weight gradient runs as several products (its packed output
    // gradient past 32 MiB: two samples of 250 x 254 pixels, then one), their sums
    // added; each splits its pixels across tasks, which pack them in pieces, some
    // across two samples.
    let large = Case {
        batch: 3,
        c_in: 2,
        c_out: 33,
        size: [250, 254],
        kernel: [3, 3],
        stride: [1, 1],
        padding: [(1, 1), (1, 1)],
        dilation: [1, 1],
        groups: 1,
        bias: false,
    };
    assert_matches_burn_on_each_isa(&large, 399);
    // Padding wider than the kernel's span: the border outputs read only zeros (a
    // class of pixels without a tap inside the input), the small plane's classes split.
    let wide = Case {
        batch: 2,
        c_in: 64,
        c_out: 70,
        size: [3, 4],
        kernel: [2, 3],
        stride: [1, 1],
        padding: [(3, 2), (4, 1)],
        dilation: [1, 1],
        groups: 1,
        bias: true,
    };
    assert_matches_burn_on_each_isa(&wide, 398);
    mla::kernels::implicit::set_forced(false);
}

#[test]
fn a_conv2d_module_forwards_the_same_through_ours() {
    let device = cpu();
    for (padding, stride, groups) in [
        (PaddingConfig2d::Same, [1, 1], 1),
        (PaddingConfig2d::Same, [2, 2], 2),
        (PaddingConfig2d::Valid, [1, 2], 1),
        (PaddingConfig2d::Explicit(1, 0, 2, 1), [2, 1], 4),
    ] {
        let conv = Conv2dConfig::new([4, 8], [3, 3])
            .with_stride(stride)
            .with_groups(groups)
            .with_padding(padding.clone())
            .init(&device);
        let x = Tensor::<4>::random([2, 4, 9, 10], Distribution::Normal(0.0, 1.0), &device);
        let a = host(mla::kernels::conv2d_forward(&conv, x.clone()));
        let b = host(conv.forward(x));
        assert!(relative(&a, &b) <= 1e-6, "{padding:?}");
    }
}

/// `gelu` through ours or Burn's, on the CPU backend with autodiff: the output and the
/// gradient of `sum(gelu(x) * probe)`, for `x [3, 7, 1000]` (normal, times 4: both
/// tails) viewed through a swap of its axes (not contiguous).
fn gelu_run(ours: bool) -> (Vec<f32>, Vec<f32>) {
    let device = cpu().autodiff();
    let mut rng = Rng::derive(7, 2);
    let n = 3 * 7 * 1000;
    let mut values =
        |scale: f32| -> Vec<f32> { (0..n).map(|_| rng.normal() as f32 * scale).collect() };
    let x = Tensor::<3>::from_data(
        mla::burn::tensor::TensorData::new(values(4.0), [3, 1000, 7]),
        &device,
    )
    .require_grad();
    let probe = Tensor::<3>::from_data(
        mla::burn::tensor::TensorData::new(values(1.0), [3, 7, 1000]),
        &device,
    );
    let input = x.clone().swap_dims(1, 2);
    let y = if ours {
        mla::kernels::gelu(input)
    } else {
        mla::burn::tensor::activation::gelu(input)
    };
    let grads = (y.clone() * probe).sum().backward();
    let dx = x.grad(&grads).expect("x has a gradient");
    (host(y.inner()), host(dx))
}

#[test]
fn our_gelu_and_its_gradient_match_burns() {
    let (ours, ours_dx) = gelu_run(true);
    let (burns, burns_dx) = gelu_run(false);
    assert!(
        relative(&ours, &burns) < 1e-5,
        "GELU: {}",
        relative(&ours, &burns)
    );
    assert!(
        relative(&ours_dx, &burns_dx) < 1e-5,
        "GELU gradient: {}",
        relative(&ours_dx, &burns_dx)
    );
}

#[test]
fn gelu_in_place_leaves_shared_inputs_alone() {
    // Ours writes in place when it holds the only reference; a tensor still in use
    // elsewhere must come out unchanged, on the plain CPU backend as in inference.
    let device = cpu();
    let values: Vec<f32> = (0..5000).map(|i| (i as f32 * 0.013).sin() * 6.0).collect();
    let x = Tensor::<2>::from_data(
        mla::burn::tensor::TensorData::new(values.clone(), [50, 100]),
        &device,
    );
    let y = mla::kernels::gelu(x.clone());
    assert_eq!(host(x), values);
    let fresh = mla::kernels::gelu(Tensor::<2>::from_data(
        mla::burn::tensor::TensorData::new(values.clone(), [50, 100]),
        &device,
    ));
    let (y, fresh) = (host(y), host(fresh));
    assert_eq!(y, fresh);
    let burns = host(mla::burn::tensor::activation::gelu(Tensor::<2>::from_data(
        mla::burn::tensor::TensorData::new(values, [50, 100]),
        &device,
    )));
    assert!(relative(&y, &burns) < 1e-5);
}

/// Seeded normal values, times `scale`, plus `shift`.
fn normals(seed: u64, n: usize, scale: f32, shift: f32) -> Vec<f32> {
    let mut rng = Rng::derive(seed, 3);
    (0..n)
        .map(|_| rng.normal() as f32 * scale + shift)
        .collect()
}

#[test]
fn our_inference_batch_norm_with_its_activation_matches_burns() {
    use mla::burn::module::{Param, RunningState};
    use mla::burn::nn::BatchNormConfig;
    use mla::burn::tensor::activation::{relu, relu6};
    use mla::kernels::{Activation, batch_norm};
    let device = cpu();
    let c = 6;
    let vector = |seed, scale, shift| {
        Tensor::<1>::from_data(
            mla::burn::tensor::TensorData::new(normals(seed, c, scale, shift), [c]),
            &device,
        )
    };
    let mut bn = BatchNormConfig::new(c).init(&device);
    bn.gamma = Param::from_tensor(vector(1, 1.0, 0.5));
    bn.beta = Param::from_tensor(vector(2, 1.0, 0.0));
    bn.running_mean = RunningState::new(vector(3, 2.0, 0.0));
    bn.running_var = RunningState::new(vector(4, 0.3, 1.0).abs());
    let shape = [4, 7, c, 5];
    let values = normals(5, shape.iter().product(), 3.0, 0.0);
    // [4, c, 7, 5] viewed through a swap of axes: not contiguous.
    let x = || {
        Tensor::<4>::from_data(
            mla::burn::tensor::TensorData::new(values.clone(), shape),
            &device,
        )
        .swap_dims(1, 2)
    };
    for activation in [Activation::None, Activation::Relu, Activation::Relu6] {
        let burns = bn.forward(x());
        let burns = host(match activation {
            Activation::None => burns,
            Activation::Relu => relu(burns),
            Activation::Relu6 => relu6(burns),
        });
        let ours = host(batch_norm(&bn, x(), activation));
        assert!(
            relative(&ours, &burns) < 1e-5,
            "{activation:?}: {}",
            relative(&ours, &burns)
        );
        // Contiguous and unshared (in place), and shared (the input stays as it was).
        let contiguous = Tensor::<4>::from_data(x().into_data(), &device);
        let contiguous = host(batch_norm(&bn, contiguous, activation));
        assert!(relative(&contiguous, &burns) < 1e-5);
        let kept = x();
        let shared = host(batch_norm(&bn, kept.clone(), activation));
        assert!(relative(&shared, &burns) < 1e-5);
        assert_eq!(host(kept.swap_dims(1, 2)), values);
    }
}

#[test]
fn our_training_batch_norm_and_its_gradients_match_burns() {
    use mla::burn::module::Param;
    use mla::burn::nn::BatchNormConfig;
    use mla::kernels::{Activation, batch_norm};
    let device = cpu().autodiff();
    let c = 5;
    let shape = [3, c, 6, 7];
    let n: usize = shape.iter().product();
    // Burn's, then ours, from the same parameters and inputs; alone and with the ReLU
    // that ours runs inside the batch norm (Burn's after it).
    for activation in [Activation::None, Activation::Relu] {
        let run = |ours: bool| {
            let mut bn = BatchNormConfig::new(c).init(&device);
            let vector = |seed, shift| {
                Tensor::<1>::from_data(
                    mla::burn::tensor::TensorData::new(normals(seed, c, 1.0, shift), [c]),
                    &device,
                )
            };
            bn.gamma = Param::from_tensor(vector(11, 1.0));
            bn.beta = Param::from_tensor(vector(12, 0.0));
            let x = Tensor::<4>::from_data(
                mla::burn::tensor::TensorData::new(normals(13, n, 2.0, 0.7), shape),
                &device,
            )
            .require_grad();
            let probe = Tensor::<4>::from_data(
                mla::burn::tensor::TensorData::new(normals(14, n, 1.0, 0.3), shape),
                &device,
            );
            let y = if ours {
                batch_norm(&bn, x.clone(), activation)
            } else if activation == Activation::Relu {
                mla::burn::tensor::activation::relu(bn.forward(x.clone()))
            } else {
                bn.forward(x.clone())
            };
            let grads = (y.clone() * probe).sum().backward();
            vec![
                host(y.inner()),
                host(x.grad(&grads).unwrap()),
                host(bn.gamma.val().grad(&grads).unwrap()),
                host(bn.beta.val().grad(&grads).unwrap()),
                host(bn.running_mean.value().inner()),
                host(bn.running_var.value().inner()),
            ]
        };
        let (burns, ours) = (run(false), run(true));
        for (what, (a, b)) in [
            "output",
            "dx",
            "dgamma",
            "dbeta",
            "running mean",
            "running var",
        ]
        .iter()
        .zip(ours.iter().zip(&burns))
        {
            assert!(
                relative(a, b) < 1e-5,
                "{activation:?}, {what}: {}",
                relative(a, b)
            );
        }
        if activation == Activation::Relu {
            // The ReLU masked something: the probe's gradient is not the unmasked one.
            assert!(ours[0].iter().filter(|&&v| v == 0.0).count() > n / 10);
        }
    }
}

#[test]
fn our_adaptive_average_pool_and_its_gradient_match_burns() {
    use mla::burn::nn::pool::AdaptiveAvgPool2dConfig;
    let device = cpu().autodiff();
    // Sizes that divide, that do not (overlapping windows), and a grid larger than
    // the input along one axis.
    for (shape, grid) in [
        ([2, 3, 8, 12], [4, 4]),
        ([3, 2, 50, 32], [4, 4]),
        ([1, 4, 7, 5], [3, 6]),
        ([2, 1, 9, 9], [1, 1]),
    ] {
        let pool = AdaptiveAvgPool2dConfig::new(grid).init();
        let n: usize = shape.iter().product();
        let run = |ours: bool| {
            let x = Tensor::<4>::from_data(
                mla::burn::tensor::TensorData::new(normals(21, n, 1.0, 0.0), shape),
                &device,
            )
            .require_grad();
            let y = if ours {
                mla::kernels::adaptive_avg_pool2d(&pool, x.clone())
            } else {
                pool.forward(x.clone())
            };
            let m: usize = y.dims().iter().product();
            let probe = Tensor::<4>::from_data(
                mla::burn::tensor::TensorData::new(normals(22, m, 1.0, 0.0), y.dims()),
                &device,
            );
            let grads = (y.clone() * probe).sum().backward();
            (host(y.inner()), host(x.grad(&grads).unwrap()))
        };
        let ((y, dx), (y_burn, dx_burn)) = (run(true), run(false));
        assert!(
            relative(&y, &y_burn) < 1e-5,
            "{shape:?} -> {grid:?}: output"
        );
        assert!(
            relative(&dx, &dx_burn) < 1e-5,
            "{shape:?} -> {grid:?}: gradient"
        );
    }
}

#[test]
fn our_max_pool_and_its_gradient_match_burns() {
    use mla::burn::nn::PaddingConfig2d;
    use mla::burn::nn::pool::MaxPool2dConfig;
    let device = cpu().autodiff();
    // The CNN's 2x2 stride 2, ResNet-18's 3x3 stride 2 padding 1, `Same` (asymmetric
    // padding), a 3x2 kernel with stride 1, on odd sizes; values rounded to a tenth so
    // that windows hold ties (the first maximum takes the gradient, as in Burn).
    let cases = [
        (
            MaxPool2dConfig::new([2, 2]).with_strides([2, 2]),
            [3, 2, 9, 8],
        ),
        (
            MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)),
            [2, 3, 11, 10],
        ),
        (
            MaxPool2dConfig::new([2, 2])
                .with_strides([1, 1])
                .with_padding(PaddingConfig2d::Same),
            [1, 2, 6, 7],
        ),
        (
            MaxPool2dConfig::new([3, 2]).with_strides([1, 2]),
            [2, 2, 7, 9],
        ),
    ];
    for (i, (config, shape)) in cases.into_iter().enumerate() {
        let pool = config.init();
        let n: usize = shape.iter().product();
        let values: Vec<f32> = normals(31 + i as u64, n, 1.0, 0.0)
            .iter()
            .map(|v| (v * 10.0).round() / 10.0)
            .collect();
        let run = |ours: bool| {
            let x = Tensor::<4>::from_data(
                mla::burn::tensor::TensorData::new(values.clone(), shape),
                &device,
            )
            .require_grad();
            let y = if ours {
                mla::kernels::max_pool2d(&pool, x.clone())
            } else {
                pool.forward(x.clone())
            };
            let m: usize = y.dims().iter().product();
            let probe = Tensor::<4>::from_data(
                mla::burn::tensor::TensorData::new(normals(41, m, 1.0, 0.0), y.dims()),
                &device,
            );
            let grads = (y.clone() * probe).sum().backward();
            (y.dims(), host(y.inner()), host(x.grad(&grads).unwrap()))
        };
        let ((dims, y, dx), (dims_burn, y_burn, dx_burn)) = (run(true), run(false));
        assert_eq!(dims, dims_burn, "case {i}: output dims");
        assert_eq!(y, y_burn, "case {i}: output");
        assert!(relative(&dx, &dx_burn) < 1e-6, "case {i}: gradient");
    }
}

/// A window's maximum and its gradient, the plain way: every window scanned in
/// row-major order, the first maximum (a NaN counting as the maximum) taking it.
fn max_pool_reference(
    x: &[f32],
    [planes, h, w]: [usize; 3],
    [kh, kw]: [usize; 2],
    [sy, sx]: [usize; 2],
    [py, px]: [usize; 2],
    probe: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    let (oh, ow) = ((h + 2 * py - kh) / sy + 1, (w + 2 * px - kw) / sx + 1);
    let (mut y, mut dx) = (Vec::new(), vec![0.0; x.len()]);
    for p in 0..planes {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut best: Option<(f32, usize)> = None;
                for ky in 0..kh {
                    for kx in 0..kw {
                        let (r, c) = (
                            (oy * sy + ky) as isize - py as isize,
                            (ox * sx + kx) as isize - px as isize,
                        );
                        if r < 0 || c < 0 || r >= h as isize || c >= w as isize {
                            continue;
                        }
                        let at = p * h * w + r as usize * w + c as usize;
                        let v = x[at];
                        let better = match best {
                            None => true,
                            Some((b, _)) => v > b || (v.is_nan() && !b.is_nan()),
                        };
                        if better {
                            best = Some((v, at));
                        }
                    }
                }
                let (v, at) = best.expect("a window inside the plane");
                dx[at] += probe[y.len()];
                y.push(v);
            }
        }
    }
    (y, dx)
}

#[test]
fn our_max_pool_takes_the_first_maximum_of_each_window_with_nan_and_infinities() {
    use mla::burn::nn::PaddingConfig2d;
    use mla::burn::nn::pool::MaxPool2dConfig;
    let device = cpu().autodiff();
    // Planes wider than a vector (and not a multiple of one) and narrow ones; windows of
    // 1 to 5 columns and rows (more than three takes the kernel's general path);
    // values rounded to halves so that windows hold ties, a few NaN and infinities.
    let cases = [
        ([3, 3], [2, 2], [1, 1], [2, 3, 56, 56]),
        ([3, 3], [2, 2], [1, 1], [1, 2, 37, 21]),
        ([2, 2], [2, 2], [0, 0], [2, 2, 9, 40]),
        ([5, 4], [1, 3], [2, 2], [1, 3, 11, 35]),
        ([1, 3], [1, 1], [0, 1], [1, 2, 5, 18]),
    ];
    for (i, (kernel, stride, pad, shape)) in cases.into_iter().enumerate() {
        let pool = MaxPool2dConfig::new(kernel)
            .with_strides(stride)
            .with_padding(PaddingConfig2d::Explicit(pad[0], pad[1], pad[0], pad[1]))
            .init();
        let n: usize = shape.iter().product();
        let mut values: Vec<f32> = normals(51 + i as u64, n, 2.0, 0.0)
            .iter()
            .map(|v| (v * 2.0).round() / 2.0)
            .collect();
        for (j, v) in values.iter_mut().enumerate() {
            match (j * 7919 + i) % 97 {
                0 => *v = f32::NAN,
                1 => *v = f32::INFINITY,
                2..=4 => *v = f32::NEG_INFINITY,
                _ => {}
            }
        }
        // One plane all -inf: each window's argmax is its first position inside; one a
        // third NaN: windows hold several, the first taking the gradient.
        let plane = shape[2] * shape[3];
        values[..plane].fill(f32::NEG_INFINITY);
        for (j, v) in values[plane..2 * plane].iter_mut().enumerate() {
            if (j * 7 + j / 5) % 3 == 0 {
                *v = f32::NAN;
            }
        }
        let x = Tensor::<4>::from_data(
            mla::burn::tensor::TensorData::new(values.clone(), shape),
            &device,
        )
        .require_grad();
        let y = mla::kernels::max_pool2d(&pool, x.clone());
        let m: usize = y.dims().iter().product();
        let probe_values = normals(61, m, 1.0, 0.0);
        let probe = Tensor::<4>::from_data(
            mla::burn::tensor::TensorData::new(probe_values.clone(), y.dims()),
            &device,
        );
        let grads = (y.clone() * probe).sum().backward();
        let (got, dx) = (host(y.inner()), host(x.grad(&grads).unwrap()));
        let (want, dx_want) = max_pool_reference(
            &values,
            [shape[0] * shape[1], shape[2], shape[3]],
            kernel,
            stride,
            pad,
            &probe_values,
        );
        assert_eq!(got.len(), want.len(), "case {i}: outputs");
        for (j, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                g == w || (g.is_nan() && w.is_nan()),
                "case {i}, output {j}: {g} against {w}"
            );
        }
        for (j, (g, w)) in dx.iter().zip(&dx_want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-6,
                "case {i}, gradient {j}: {g} against {w}"
            );
        }
    }
}

fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> Tensor<D> {
    Tensor::from_data(mla::burn::tensor::TensorData::new(values, shape), &cpu())
}

#[test]
fn our_linear_layer_matches_burns() {
    use mla::burn::nn::LinearConfig;
    use mla::kernels::linear;
    let device = cpu();
    for bias in [true, false] {
        let layer = LinearConfig::new(7, 5).with_bias(bias).init(&device);
        // 3-D (rows a multiple of 32, which Burn runs as one product per sample) and 2-D.
        let x3 = tensor(normals(11, 3 * 32 * 7, 1.0, 0.0), [3, 32, 7]);
        let burns = host(layer.forward(x3.clone()));
        let ours = host(linear(&layer, x3.clone()));
        assert!(
            relative(&ours, &burns) < 1e-5,
            "{}",
            relative(&ours, &burns)
        );
        assert_eq!(linear(&layer, x3.clone()).dims(), [3, 32, 5]);
        let x2 = x3.reshape([96, 7]).slice([10..20, 0..7]);
        let burns = host(layer.forward(x2.clone()));
        assert!(relative(&host(linear(&layer, x2)), &burns) < 1e-5);
    }
}

/// Multi-head attention in f64 loops, `q, k, v [B * L, H]`, `mask [B, L]`: an
/// independent reference.
fn attention64(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    mask: &[f32],
    [b, l, h, heads]: [usize; 4],
) -> Vec<f32> {
    let d = h / heads;
    let mut out = vec![0.0f32; b * l * h];
    for s in 0..b {
        for head in 0..heads {
            let at = |row: usize, c: usize| (s * l + row) * h + head * d + c;
            for i in 0..l {
                let scores: Vec<f64> = (0..l)
                    .map(|j| {
                        let dot: f64 = (0..d)
                            .map(|c| q[at(i, c)] as f64 * k[at(j, c)] as f64)
                            .sum();
                        dot / (d as f64).sqrt() + mask[s * l + j] as f64
                    })
                    .collect();
                let top = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let weights: Vec<f64> = scores.iter().map(|x| (x - top).exp()).collect();
                let total: f64 = weights.iter().sum();
                for c in 0..d {
                    let sum: f64 = (0..l).map(|j| weights[j] * v[at(j, c)] as f64).sum();
                    out[at(i, c)] = (sum / total) as f32;
                }
            }
        }
    }
    out
}

#[test]
fn our_attention_matches_a_reference_and_burns_and_drops_masked_keys() {
    use mla::kernels::attention;
    // (samples, tokens, width, heads): one head, several, tokens not a multiple of 8,
    // one token, MiniLM's head width.
    for (case, [b, l, h, heads]) in [[2, 5, 12, 3], [3, 37, 8, 1], [1, 1, 6, 2], [2, 17, 384, 12]]
        .into_iter()
        .enumerate()
    {
        let n = b * l * h;
        let [q, k, v] = [0, 1, 2].map(|i| normals(20 + 3 * case as u64 + i, n, 1.5, 0.0));
        // The last sample leaves out its last third of keys (at least one is kept).
        let masked = |s: usize, j: usize| s == b - 1 && j > 0 && j >= l - l / 3;
        let mask: Vec<f32> = (0..b * l)
            .map(|i| if masked(i / l, i % l) { -1e30 } else { 0.0 })
            .collect();
        let expected = attention64(&q, &k, &v, &mask, [b, l, h, heads]);
        let run = |v: &[f32], device: &mla::burn::tensor::Device| {
            let t = |x: &[f32]| {
                Tensor::<2>::from_data(
                    mla::burn::tensor::TensorData::new(x.to_vec(), [b * l, h]),
                    device,
                )
            };
            let m = Tensor::<2>::from_data(
                mla::burn::tensor::TensorData::new(mask.clone(), [b, l]),
                device,
            );
            host(attention(t(&q), t(&k), t(v), m, heads))
        };
        let ours = run(&v, &cpu());
        let burns = run(&v, &cpu().autodiff());
        assert!(
            relative(&ours, &expected) < 1e-5,
            "case {case}: {}",
            relative(&ours, &expected)
        );
        assert!(
            relative(&burns, &expected) < 1e-5,
            "case {case}: Burn's path"
        );
        // Values of the left-out keys change nothing.
        let mut other = v.clone();
        for (i, x) in other.iter_mut().enumerate() {
            if masked(i / h / l, i / h % l) {
                *x += 100.0;
            }
        }
        assert_eq!(
            run(&other, &cpu()),
            ours,
            "case {case}: a masked key's value leaked"
        );
    }
}

#[test]
fn our_residual_layer_norm_matches_burns() {
    use mla::burn::module::Param;
    use mla::burn::nn::LayerNormConfig;
    use mla::kernels::add_layer_norm;
    let device = cpu();
    let d = 24;
    for (epsilon, bias) in [(1e-12, true), (1e-5, false)] {
        let mut norm = LayerNormConfig::new(d)
            .with_epsilon(epsilon)
            .with_bias(bias)
            .init(&device);
        norm.gamma = Param::from_tensor(tensor(normals(13, d, 0.5, 1.0), [d]));
        if bias {
            norm.beta = Some(Param::from_tensor(tensor(normals(14, d, 1.0, 0.0), [d])));
        }
        // Rows with a large common offset: a one-pass variance would lose them.
        let x = || tensor(normals(15, 5 * 3 * d, 2.0, 100.0), [5, 3, d]);
        let r = tensor(normals(16, 5 * 3 * d, 1.0, 0.0), [5, 3, d]);
        let burns = host(norm.forward(x() + r.clone()));
        let kept = x();
        let ours = host(add_layer_norm(&norm, epsilon, kept.clone(), r.clone()));
        assert!(
            relative(&ours, &burns) < 1e-5,
            "{}",
            relative(&ours, &burns)
        );
        assert_eq!(host(kept), host(x()));
        let fresh = host(add_layer_norm(&norm, epsilon, x() * 1.0, r));
        assert!(relative(&fresh, &burns) < 1e-5);
    }
}

/// Output, then the gradients of x and bias of `sum(relu(x + bias) * probe)`, through
/// ours or Burn's.
fn bias_relu_run(ours: bool) -> Vec<Vec<f32>> {
    use mla::burn::tensor::activation::relu;
    let device = cpu().autodiff();
    let shape = [3, 5, 4, 6];
    let n: usize = shape.iter().product();
    let mut values = normals(17, n, 1.0, 0.0);
    values[7] = f32::NAN;
    let x = Tensor::<4>::from_data(mla::burn::tensor::TensorData::new(values, shape), &device)
        .require_grad();
    let b = Tensor::<1>::from_data(
        mla::burn::tensor::TensorData::new(normals(18, 5, 0.5, 0.0), [5]),
        &device,
    )
    .require_grad();
    let probe = Tensor::<4>::from_data(
        mla::burn::tensor::TensorData::new(normals(19, n, 1.0, 0.0), shape),
        &device,
    );
    let y = if ours {
        mla::kernels::relu(mla::kernels::add_channel_bias(x.clone(), b.clone()))
    } else {
        relu(x.clone() + b.clone().reshape([1, 5, 1, 1]))
    };
    let grads = (y.clone() * probe).sum().backward();
    vec![
        host(y.inner()),
        host(x.grad(&grads).unwrap()),
        host(b.grad(&grads).unwrap()),
    ]
}

#[test]
fn our_relu_and_channel_bias_and_their_gradients_match_burns() {
    let (ours, burns) = (bias_relu_run(true), bias_relu_run(false));
    for (name, (a, b)) in ["output", "dx", "dbias"]
        .iter()
        .zip(ours.iter().zip(&burns))
    {
        // The NaN input stays NaN (and its gradient passes), as in Burn's.
        assert_eq!(
            a.iter().map(|v| v.is_nan()).collect::<Vec<_>>(),
            b.iter().map(|v| v.is_nan()).collect::<Vec<_>>(),
            "{name}: NaNs differ"
        );
        let finite = |v: &[f32]| {
            v.iter()
                .map(|x| if x.is_nan() { 0.0 } else { *x })
                .collect::<Vec<_>>()
        };
        assert!(
            relative(&finite(a), &finite(b)) < 1e-5,
            "{name}: {}",
            relative(&finite(a), &finite(b))
        );
    }
    // In place only when unshared: a kept input is left as it was.
    let kept = tensor(normals(20, 40, 1.0, 0.0), [2, 4, 5]);
    let before = host(kept.clone());
    let y = host(mla::kernels::relu(kept.clone()));
    assert_eq!(host(kept), before);
    assert!(y.iter().zip(&before).all(|(y, x)| *y == x.max(0.0)));
}

/// A residual block's end, `relu(a + b)` in one pass, against Burn's addition and ReLU:
/// the output and both terms' gradients (a NaN passes as in Burn's, zeros where the sum
/// is negative); a term still held elsewhere keeps its values.
#[test]
fn our_add_relu_and_its_gradients_match_burns() {
    let device = cpu().autodiff();
    let shape = [3, 4, 5, 7];
    let n: usize = shape.iter().product();
    let mut a_values = normals(71, n, 1.0, 0.0);
    a_values[17] = f32::NAN;
    let run = |ours: bool| {
        let a = Tensor::<4>::from_data(
            mla::burn::tensor::TensorData::new(a_values.clone(), shape),
            &device,
        )
        .require_grad();
        let b = Tensor::<4>::from_data(
            mla::burn::tensor::TensorData::new(normals(72, n, 1.0, 0.2), shape),
            &device,
        )
        .require_grad();
        // `a` through an operation first, as a batch norm's output reaches it.
        let a2 = a.clone() * 1.5;
        let y = if ours {
            mla::kernels::add_relu(a2, b.clone())
        } else {
            mla::burn::tensor::activation::relu(a2 + b.clone())
        };
        let probe = Tensor::<4>::from_data(
            mla::burn::tensor::TensorData::new(normals(73, n, 1.0, 0.0), shape),
            &device,
        );
        let grads = (y.clone() * probe).sum().backward();
        [
            host(y.inner()),
            host(a.grad(&grads).unwrap()),
            host(b.grad(&grads).unwrap()),
        ]
    };
    let (ours, burns) = (run(true), run(false));
    for (name, (a, b)) in ["output", "da", "db"].iter().zip(ours.iter().zip(&burns)) {
        let finite = |v: &[f32]| {
            v.iter()
                .map(|x| if x.is_nan() { 0.0 } else { *x })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            a.iter().map(|v| v.is_nan()).collect::<Vec<_>>(),
            b.iter().map(|v| v.is_nan()).collect::<Vec<_>>(),
            "{name}: NaNs differ"
        );
        assert!(
            relative(&finite(a), &finite(b)) < 1e-6,
            "{name}: {}",
            relative(&finite(a), &finite(b))
        );
    }
    assert!(ours[0].iter().filter(|&&v| v == 0.0).count() > n / 5);
    // A term held elsewhere is left as it was.
    let kept = tensor(normals(74, 40, 1.0, 0.0), [2, 4, 5]);
    let other = tensor(normals(75, 40, 1.0, 0.0), [2, 4, 5]);
    let before = host(kept.clone());
    let y = host(mla::kernels::add_relu(kept.clone(), other.clone()));
    assert_eq!(host(kept), before);
    let other = host(other);
    assert!(
        y.iter()
            .zip(before.iter().zip(&other))
            .all(|(y, (a, b))| *y == (a + b).max(0.0))
    );
}

/// Our SGD (`mla::train::build_optimizer`, two passes per parameter) against Burn's
/// `Sgd` of the same configuration, on a linear layer (parameters of rank 2 and 1) and a
/// convolution (rank 4): the same parameters, bit for bit, after five steps, with and
/// without momentum and weight decay; a parameter still held elsewhere (a copy taken
/// before the step) keeps its values; and ours resumes from Burn's record (the velocity
/// under Burn's names) where Burn's own optimizer goes on.
#[test]
fn our_sgd_steps_as_burns_and_resumes_from_its_record() {
    use mla::burn::module::Module;
    use mla::burn::nn::LinearConfig;
    use mla::burn::optim::decay::WeightDecayConfig;
    use mla::burn::optim::momentum::MomentumConfig;
    use mla::burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
    use mla::train::{OptimizerConfig, build_optimizer};

    let device = cpu().autodiff();
    let burns = |config: &OptimizerConfig| {
        SgdConfig::new()
            .with_momentum((config.momentum > 0.0).then_some(MomentumConfig {
                momentum: config.momentum,
                dampening: 0.0,
                nesterov: false,
            }))
            .with_weight_decay(
                (config.weight_decay > 0.0)
                    .then(|| WeightDecayConfig::new(config.weight_decay as f32)),
            )
            .init()
    };
    // `steps` steps of `optim` from `model`, each on its own random input.
    fn train<M: Module + Clone>(
        mut model: M,
        optim: &mut ModuleOptimizer,
        loss: &dyn Fn(&M, u64) -> Tensor<1>,
        first: u64,
        steps: u64,
    ) -> M {
        for step in first..first + steps {
            let grads = GradientsParams::from_grads(loss(&model, step).backward(), &model);
            model = optim.step(0.05, model, grads);
        }
        model
    }
    fn check<M: Module + Clone>(
        model: M,
        params: &dyn Fn(&M) -> Vec<Vec<f32>>,
        loss: &dyn Fn(&M, u64) -> Tensor<1>,
        burns: &dyn Fn(&OptimizerConfig) -> ModuleOptimizer,
    ) {
        for (momentum, weight_decay) in [(0.9, 1e-2), (0.9, 0.0), (0.0, 1e-2), (0.0, 0.0)] {
            let config = OptimizerConfig {
                momentum,
                weight_decay,
                ..OptimizerConfig::default()
            };
            let what = format!("momentum {momentum}, weight decay {weight_decay}");
            let before = params(&model);
            let mut ours = build_optimizer(&config);
            let mut theirs = burns(&config);
            let a = train(model.clone(), &mut ours, loss, 0, 5);
            let b = train(model.clone(), &mut theirs, loss, 0, 5);
            assert_eq!(params(&a), params(&b), "{what}: parameters differ");
            assert_ne!(params(&a), before, "{what}: nothing moved");
            assert_eq!(params(&model), before, "{what}: a shared parameter changed");
            // Burn's record into ours: both go on from the same state.
            let resumed = build_optimizer(&config).load_record(theirs.to_record());
            let mut resumed = resumed;
            let a = train(b.clone(), &mut resumed, loss, 5, 3);
            let b = train(b, &mut theirs, loss, 5, 3);
            assert_eq!(params(&a), params(&b), "{what}: resumed from Burn's record");
        }
    }

    let input = |step: u64, shape: [usize; 4]| {
        let mut rng = Rng::derive(41, step);
        let n = shape.iter().product();
        let values: Vec<f32> = (0..n).map(|_| rng.uniform() as f32 - 0.5).collect();
        Tensor::<4>::from_data(mla::burn::tensor::TensorData::new(values, shape), &device)
    };
    let linear = LinearConfig::new(6, 5).init(&device);
    check(
        linear,
        &|m| vec![host(m.weight.val()), host(m.bias.as_ref().unwrap().val())],
        &|m, step| {
            let x = input(step, [1, 1, 7, 6]).reshape([7, 6]);
            m.forward(x).powf_scalar(2.0).mean()
        },
        &burns,
    );
    let conv = Conv2dConfig::new([3, 4], [3, 3]).init(&device);
    check(
        conv,
        &|m| vec![host(m.weight.val())],
        &|m, step| m.forward(input(step, [2, 3, 6, 5])).powf_scalar(2.0).mean(),
        &burns,
    );
}
