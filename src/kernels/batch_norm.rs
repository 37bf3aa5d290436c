//! Batch norm on the CPU backend: at inference with an optional clamp (ReLU, ReLU6) as
//! one pass, and in training with batch statistics, forward and backward, per channel
//! over its planes.
//!
//! Burn's CPU backend runs an inference batch norm as four broadcast passes
//! (`(x - mean) / std * gamma + beta`, each a new tensor) and the activation as a fifth;
//! in MobileNetV2's feature extraction at 96 px these took more time than the
//! convolutions. Here each channel's affine map `x * scale + shift` (`scale = gamma /
//! √(var + ε)`, `shift = beta - mean * scale`) and the clamp are one vectorised pass, in
//! place when the input is unshared.
//!
//! In training, Burn's generic batch norm transposes the input to `[C, N * H * W]` twice
//! for its statistics and runs about a dozen broadcast passes forward and back. Here the
//! statistics are sums over each channel's planes (where they lie, no transpose) and
//!
//! ```text
//! y  = γ (x - μ) / σ + β,                 σ = √(var + ε), var biased
//! dβ = Σ g,   dγ = Σ g x̂,                 x̂ = (x - μ) / σ
//! dx = γ / σ (g - dβ / n - x̂ dγ / n),     n = N * H * W
//! ```
//!
//! one pass each way after the sums: forward, one pass over memory for the statistics
//! (each plane's moments while it is in cache, merged) and one for the output, with
//! the ReLU; backward, one for the sums and one for `dx`, both through the ReLU's mask
//! (no masked gradient written in between). Other devices run Burn's operations.

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::{ActivationOps, FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Backend, Flex, TensorMetadata, backend_extension};
use burn::nn::BatchNorm;
use burn::tensor::activation::relu6;
use burn::tensor::{DType, Tensor, TensorData};
use rayon::prelude::*;

use super::relu::{self, ReluKernels};
use super::{elementwise, math, ours};

/// Inference batch norm and clamp in one pass.
#[backend_extension(Flex)]
pub trait NormKernels: Backend {
    /// `x [N, C, ...]` normalised per channel with the running statistics `mean [C]`,
    /// `var [C]` and the affine `gamma [C]`, `beta [C]`, then clamped to `[low, high]`.
    #[allow(clippy::too_many_arguments)]
    fn batch_norm_clamp(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        var: FloatTensor<Self>,
        epsilon: f64,
        range: [f32; 2],
    ) -> FloatTensor<Self> {
        let y = Self::batch_norm(x, gamma, beta, mean, var, epsilon);
        Self::float_clamp(y, range[0].into(), range[1].into())
    }
}

impl NormKernels for Flex {
    fn batch_norm_clamp(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        var: FloatTensor<Self>,
        epsilon: f64,
        range: [f32; 2],
    ) -> FloatTensor<Self> {
        let [low, high] = range;
        let channels = x.shape()[1];
        let params = [gamma, beta, mean, var].map(|p| p.to_contiguous());
        // Other element types keep Burn's operations (and their dtype).
        let f32_input = x.dtype() == DType::F32;
        let read = |i: usize| {
            params[i]
                .as_slice::<f32>()
                .filter(|v| f32_input && v.len() == channels)
        };
        let (Some(g), Some(b), Some(m), Some(v)) = (read(0), read(1), read(2), read(3)) else {
            let [gamma, beta, mean, var] = params;
            let y = Self::batch_norm(x, gamma, beta, mean, var, epsilon);
            return Self::float_clamp(y, low.into(), high.into());
        };
        // Per channel in f64, as the reference formula's order of rounding matters
        // less than its exactness: x * scale + shift.
        let (scale, shift): (Vec<f32>, Vec<f32>) = (0..channels)
            .map(|c| {
                let s = g[c] as f64 / (v[c] as f64 + epsilon).sqrt();
                (s as f32, (b[c] as f64 - m[c] as f64 * s) as f32)
            })
            .unzip();
        affine_clamp(x, &scale, &shift, [low, high])
    }
}

/// Batch norm with the batch's own statistics, and its gradients.
#[backend_extension(Flex, Autodiff)]
pub trait NormTrainKernels: Backend {
    /// `x [N, C, ...]` normalised per channel with its own mean and biased variance,
    /// then `gamma [C]`, `beta [C]`, then a ReLU where `relu`: `(output [N, C, ...],
    /// mean [C], variance [C])`.
    fn batch_norm_train_ours(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let r = Self::batch_norm_train(x, gamma, beta, epsilon);
        let output = if relu { Self::relu(r.output) } else { r.output };
        (output, r.mean, r.variance)
    }

    /// The gradients `(dx, dgamma, dbeta)` of [`Self::batch_norm_train_ours`] without
    /// its ReLU, given its input, `gamma`, the statistics it returned and the output's
    /// gradient.
    fn batch_norm_train_grad(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let r = Self::batch_norm_train_backward(x, gamma, mean, variance, epsilon, grad);
        (r.x_grad, r.gamma_grad, r.beta_grad)
    }

    /// [`Self::batch_norm_train_grad`] of [`Self::batch_norm_train_ours`] with its ReLU,
    /// given the ReLU's `output` too: the gradient passes where the output is positive
    /// (or NaN).
    #[allow(clippy::too_many_arguments)]
    fn batch_norm_relu_train_grad(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        output: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let grad = Self::relu_backward(output, grad);
        Self::batch_norm_train_grad(x, gamma, mean, variance, epsilon, grad)
    }
}

/// A `[N, C, ...]` `f32` tensor, contiguous, and its `[N, C, plane]`.
fn planes(t: FloatTensor<Flex>) -> (FloatTensor<Flex>, [usize; 3]) {
    let shape = t.shape();
    let plane = shape.iter().skip(2).product();
    let t = t.to_contiguous();
    (t, [shape[0], shape[1], plane])
}

/// A `[C]` parameter as `f32` values.
fn channel_values(t: FloatTensor<Flex>) -> Vec<f32> {
    let t = Flex::float_cast(t, burn::tensor::FloatDType::F32).to_contiguous();
    t.as_slice::<f32>()
        .expect("contiguous f32 reads as a slice")
        .to_vec()
}

/// `[C]` values as a tensor.
pub(super) fn channel_tensor(values: Vec<f32>) -> FloatTensor<Flex> {
    let c = values.len();
    Flex::float_from_data(TensorData::new(values, [c]), &Default::default())
}

/// Per channel, `f(buffer, channel, offset of a plane)` summed (in f64) over the
/// channel's planes of a `[N, C, plane]` tensor, two sums at a time (`buffer`, empty
/// until `f` grows it, the task's own, for values `f` makes on the way); in parallel
/// over channels, each channel's loop vectorised (`f` inlined into it).
pub(super) fn channel_sums(
    [n, c, plane]: [usize; 3],
    f: impl Fn(&mut Vec<f32>, usize, usize) -> [f64; 2] + Sync + Send,
) -> Vec<[f64; 2]> {
    (0..c)
        .into_par_iter()
        .map_init(Vec::new, |buffer, ch| {
            math::vectorized(
                #[inline(always)]
                || {
                    // A plain loop: `Iterator::fold` was left out of line, compiled
                    // without the instruction set (SSE, half a training batch norm's
                    // forward in a perf profile).
                    let mut acc = [0.0; 2];
                    for b in 0..n {
                        let [s, t] = f(buffer, ch, (b * c + ch) * plane);
                        acc = [acc[0] + s, acc[1] + t];
                    }
                    acc
                },
            )
        })
        .collect()
}

/// Per channel of a `[N, C, plane]` tensor's values, the mean and the biased variance
/// over its planes: each plane's mean, then its squares about that mean (the plane
/// still in cache: one pass over memory, where the mean then the variance over the
/// whole channel took two), merged across planes (Chan et al.'s pairwise update, in
/// f64); in parallel over channels. Zeros for a channel without values.
fn channel_moments([n, c, plane]: [usize; 3], x: &[f32]) -> Vec<[f64; 2]> {
    if plane == 0 {
        return vec![[0.0; 2]; c];
    }
    (0..c)
        .into_par_iter()
        .map(|ch| {
            math::vectorized(
                #[inline(always)]
                || {
                    // (values so far, their mean, their sum of squares about it)
                    let (mut count, mut mean, mut m2) = (0.0f64, 0.0f64, 0.0f64);
                    for b in 0..n {
                        let values = &x[(b * c + ch) * plane..][..plane];
                        let k = plane as f64;
                        // The plane's squares about its mean as an f32, the mean
                        // merged below.
                        let m = (math::sum(values) as f64 / k) as f32;
                        let squares = squares_about(values, m);
                        let m = m as f64;
                        let total = count + k;
                        let delta = m - mean;
                        mean += delta * k / total;
                        m2 += squares + delta * delta * count * k / total;
                        count = total;
                    }
                    [mean, if count > 0.0 { m2 / count } else { 0.0 }]
                },
            )
        })
        .collect()
}

/// `Σ a[i]` and `Σ a[i] b[i]` of two equal-length runs.
#[inline(always)]
fn sum_and_dot(a: &[f32], b: &[f32]) -> [f64; 2] {
    math::lane_sums(a, b, |x, y| [x, x * y]).map(f64::from)
}

/// `Σ (a[i] - m)²`.
#[inline(always)]
fn squares_about(a: &[f32], m: f32) -> f64 {
    math::lane_sums(a, a, |x, _| [(x - m) * (x - m)])[0] as f64
}

impl NormTrainKernels for Flex {
    fn batch_norm_train_ours(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        if x.dtype() != DType::F32 {
            let r = Self::batch_norm_train(x, gamma, beta, epsilon);
            let output = if relu { Self::relu(r.output) } else { r.output };
            return (output, r.mean, r.variance);
        }
        let (x, dims) = planes(x);
        let c = dims[1];
        let xv = x
            .as_slice::<f32>()
            .expect("contiguous f32 reads as a slice");
        let (gamma, beta) = (channel_values(gamma), channel_values(beta));
        let (mean, variance): (Vec<f32>, Vec<f32>) = channel_moments(dims, xv)
            .into_iter()
            .map(|[m, v]| (m as f32, v as f32))
            .unzip();
        let (scale, shift): (Vec<f32>, Vec<f32>) = (0..c)
            .map(|ch| {
                let s = gamma[ch] as f64 / (variance[ch] as f64 + epsilon).sqrt();
                (s as f32, (beta[ch] as f64 - mean[ch] as f64 * s) as f32)
            })
            .unzip();
        // The ReLU as the clamp of the same pass (the same values as `relu` after it).
        let low = if relu { 0.0 } else { f32::NEG_INFINITY };
        let y = affine_clamp(x, &scale, &shift, [low, f32::INFINITY]);
        (y, channel_tensor(mean), channel_tensor(variance))
    }

    fn batch_norm_train_grad(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        train_grad(x, gamma, [mean, variance], epsilon, None, grad)
    }

    fn batch_norm_relu_train_grad(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        output: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        train_grad(x, gamma, [mean, variance], epsilon, Some(output), grad)
    }
}

/// The training batch norm's gradients `(dx, dgamma, dbeta)` on the CPU backend, after
/// its ReLU where the ReLU's `output` is given: the ReLU's mask taken in both passes,
/// where its own backward read and wrote a whole masked gradient first. `dx` is written
/// over the gradient where it is unshared.
fn train_grad(
    x: FloatTensor<Flex>,
    gamma: FloatTensor<Flex>,
    [mean, variance]: [FloatTensor<Flex>; 2],
    epsilon: f64,
    output: Option<FloatTensor<Flex>>,
    grad: FloatTensor<Flex>,
) -> (FloatTensor<Flex>, FloatTensor<Flex>, FloatTensor<Flex>) {
    let f32s = [Some(&x), Some(&grad), output.as_ref()]
        .iter()
        .flatten()
        .all(|t| t.dtype() == DType::F32);
    if !f32s || output.as_ref().is_some_and(|y| y.shape() != x.shape()) {
        let grad = match output {
            Some(y) => Flex::relu_grad(y, grad),
            None => grad,
        };
        let r = Flex::batch_norm_train_backward(x, gamma, mean, variance, epsilon, grad);
        return (r.x_grad, r.gamma_grad, r.beta_grad);
    }
    let ((x, dims), (grad, _)) = (planes(x), planes(grad));
    let output = output.map(|y| planes(y).0);
    let [_, c, plane] = dims;
    let count = (dims[0] * plane).max(1) as f64;
    fn values(t: &FloatTensor<Flex>) -> &[f32] {
        t.as_slice::<f32>()
            .expect("contiguous f32 reads as a slice")
    }
    let (xv, gv, yv) = (values(&x), values(&grad), output.as_ref().map(values));
    let (gamma, mean) = (channel_values(gamma), channel_values(mean));
    let inv_std: Vec<f64> = channel_values(variance)
        .iter()
        .map(|&v| 1.0 / (v as f64 + epsilon).sqrt())
        .collect();
    // Σ g and Σ g (x - μ) = Σ g x - μ Σ g per channel; Σ g x̂ = Σ g (x - μ) / σ; `g`
    // masked by the ReLU (a plane of it in the task's buffer, in cache).
    let sums = channel_sums(
        dims,
        #[inline(always)]
        |buffer, ch, at| {
            let (g, x) = (&gv[at..][..plane], &xv[at..][..plane]);
            let [s, gx] = match yv {
                Some(yv) => {
                    buffer.resize(plane, 0.0);
                    for ((b, &y), &g) in buffer.iter_mut().zip(&yv[at..][..plane]).zip(g) {
                        *b = if relu::passes(y) { g } else { 0.0 };
                    }
                    sum_and_dot(buffer, x)
                }
                None => sum_and_dot(g, x),
            };
            [s, gx - mean[ch] as f64 * s]
        },
    );
    let d_beta: Vec<f32> = sums.iter().map(|[s, _]| *s as f32).collect();
    let d_gamma: Vec<f32> = sums
        .iter()
        .zip(&inv_std)
        .map(|([_, centred], is)| (centred * is) as f32)
        .collect();
    // dx = k (g - dβ/n - x̂ dγ/n) = k g + a x + b per channel, with k = γ/σ,
    // a = -k dγ / (n σ), b = -k dβ / n - a μ.
    let coefficients: Vec<[f32; 3]> = (0..c)
        .map(|ch| {
            let k = gamma[ch] as f64 * inv_std[ch];
            let a = -k * d_gamma[ch] as f64 * inv_std[ch] / count;
            let b = -k * d_beta[ch] as f64 / count - a * mean[ch] as f64;
            [k as f32, a as f32, b as f32]
        })
        .collect();
    let dx = elementwise::in_place_or_copy(
        grad,
        plane,
        #[inline(always)]
        |i, g| {
            let [k, a, b] = coefficients[i % c];
            let xp = &xv[i * plane..][..plane];
            match yv {
                Some(yv) => {
                    for ((g, &x), &y) in g.iter_mut().zip(xp).zip(&yv[i * plane..][..plane]) {
                        let g_in = if relu::passes(y) { *g } else { 0.0 };
                        *g = k * g_in + a * x + b;
                    }
                }
                None => {
                    for (g, &x) in g.iter_mut().zip(xp) {
                        *g = k * *g + a * x + b;
                    }
                }
            }
        },
    )
    .expect("an f32 tensor");
    (dx, channel_tensor(d_gamma), channel_tensor(d_beta))
}

impl<B: Backend + NormTrainKernels + ReluKernels, C: CheckpointStrategy> NormTrainKernels
    for Autodiff<B, C>
{
    fn batch_norm_train_ours(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        #[derive(Debug)]
        struct Norm;

        impl<B: Backend + NormTrainKernels + ReluKernels> Backward<B, 3> for Norm {
            // The input and gamma are checkpointed; the batch statistics come along as
            // the forward pass computed them, and so does the output after a ReLU (the
            // gradient passes where it is positive).
            type State = (
                NodeId,
                NodeId,
                B::FloatTensorPrimitive,
                B::FloatTensorPrimitive,
                f64,
                Option<B::FloatTensorPrimitive>,
            );

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                checkpointer: &mut Checkpointer,
            ) {
                let [node_x, node_gamma, node_beta] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x_state, gamma_state, mean, variance, epsilon, relu_output) = ops.state;
                let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
                let gamma =
                    checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(gamma_state);
                // Through the ReLU too (its mask, as its own backward's).
                let (dx, d_gamma, d_beta) = match relu_output {
                    Some(output) => B::batch_norm_relu_train_grad(
                        x, gamma, mean, variance, epsilon, output, grad,
                    ),
                    None => B::batch_norm_train_grad(x, gamma, mean, variance, epsilon, grad),
                };
                for (node, g) in [(node_x, dx), (node_gamma, d_gamma), (node_beta, d_beta)] {
                    if let Some(node) = node {
                        grads.register::<B>(node.id, g);
                    }
                }
            }
        }

        let prep = Norm
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful();
        let untracked = |t| <Self as AutodiffBackend>::from_inner(t);
        match prep {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let gamma_state = prep.checkpoint(&gamma);
                let (y, mean, variance) = B::batch_norm_train_ours(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    epsilon,
                    relu,
                );
                let state = (
                    x_state,
                    gamma_state,
                    mean.clone(),
                    variance.clone(),
                    epsilon,
                    relu.then(|| y.clone()),
                );
                (prep.finish(state, y), untracked(mean), untracked(variance))
            }
            OpsKind::UnTracked(prep) => {
                let (y, mean, variance) = B::batch_norm_train_ours(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    epsilon,
                    relu,
                );
                (prep.finish(y), untracked(mean), untracked(variance))
            }
        }
    }
}

/// `x [N, C, ...]`: each element `(x * scale[c] + shift[c]).clamp(low, high)`, in place
/// when `x` is contiguous `f32` owned by no one else, else into a new tensor in the
/// same pass.
pub(super) fn affine_clamp(
    x: FloatTensor<Flex>,
    scale: &[f32],
    shift: &[f32],
    [low, high]: [f32; 2],
) -> FloatTensor<Flex> {
    let channels = scale.len();
    let plane: usize = x.shape().iter().skip(2).product();
    // Other element types are computed in f32 (callers pass f32; Burn's ops otherwise).
    let x = match x.dtype() {
        DType::F32 => x,
        _ => Flex::float_cast(x, burn::tensor::FloatDType::F32),
    };
    elementwise::in_place_or_copy(
        x,
        plane,
        #[inline(always)]
        |i, p| {
            let (s, t) = (scale[i % channels], shift[i % channels]);
            for v in p.iter_mut() {
                // Compares, not f32::max/min: a NaN stays NaN.
                let y = *v * s + t;
                let y = if y < low { low } else { y };
                *v = if y > high { high } else { y };
            }
        },
    )
    .expect("an f32 tensor")
}

/// What follows a batch norm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    None,
    Relu,
    Relu6,
}

impl Activation {
    /// The values it keeps, `[low, high]`.
    fn range(self) -> [f32; 2] {
        match self {
            Self::None => [f32::NEG_INFINITY, f32::INFINITY],
            Self::Relu => [0.0, f32::INFINITY],
            Self::Relu6 => [0.0, 6.0],
        }
    }

    /// Burn's activation (and its gradient, on an autodiff device).
    fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Self::None => x,
            Self::Relu => super::relu(x),
            Self::Relu6 => relu6(x),
        }
    }
}

/// `activation(bn(x))`, `x [N, C, ...] -> [N, C, ...]`, as `bn.forward` then the
/// activation compute it: at inference without autodiff (one pass of ours on the CPU
/// backend), with the batch's statistics on an autodiff device where `bn` trains (ours
/// on the CPU backend, running statistics updated as Burn does), else Burn's.
pub fn batch_norm<const D: usize>(
    bn: &BatchNorm,
    x: Tensor<D>,
    activation: Activation,
) -> Tensor<D> {
    let device = x.device();
    if !ours(&device) {
        return activation.apply(bn.forward(x));
    }
    if device.is_autodiff() {
        if !bn.training.is_enabled() {
            return activation.apply(bn.forward(x));
        }
        // A ReLU runs inside the batch norm's own pass, not as an operation of its own
        // (a read and a write of the whole map, and a map kept for its backward).
        return match activation {
            Activation::Relu => batch_norm_train(bn, x, true),
            _ => activation.apply(batch_norm_train(bn, x, false)),
        };
    }
    Tensor::from_dispatch(<burn::backend::Dispatch as NormKernels>::batch_norm_clamp(
        x.into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
        bn.running_mean.value().into_dispatch(),
        bn.running_var.value().into_dispatch(),
        bn.epsilon,
        activation.range(),
    ))
}

/// `bn` in training on the CPU backend with autodiff (then a ReLU where `relu`): ours,
/// and the running statistics moved toward the batch's by `bn.momentum`, as Burn's
/// `BatchNorm::forward` does.
fn batch_norm_train<const D: usize>(bn: &BatchNorm, x: Tensor<D>, relu: bool) -> Tensor<D> {
    let device = x.device();
    let (y, mean, variance) = <burn::backend::Dispatch as NormTrainKernels>::batch_norm_train_ours(
        x.into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
        bn.epsilon,
        relu,
    );
    let m = bn.momentum;
    let moved = |running: Tensor<1>, batch| {
        let batch: Tensor<1> = Tensor::from_dispatch(batch);
        running
            .to_device(&device)
            .mul_scalar(1.0 - m)
            .add(batch.detach().mul_scalar(m))
            .detach()
    };
    bn.running_mean
        .update(moved(bn.running_mean.value_sync(), mean));
    bn.running_var
        .update(moved(bn.running_var.value_sync(), variance));
    Tensor::from_dispatch(y)
}
