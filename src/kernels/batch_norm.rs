//! Batch norm at inference, with an optional clamp (ReLU, ReLU6), as one pass on the
//! CPU backend.
//!
//! Burn's CPU backend runs an inference batch norm as four broadcast passes
//! (`(x - mean) / std * gamma + beta`, each a new tensor) and the activation as a fifth;
//! in MobileNetV2's feature extraction at 96 px these took more time than the
//! convolutions. Here each channel's affine map `x * scale + shift` (`scale = gamma /
//! √(var + ε)`, `shift = beta - mean * scale`) and the clamp are one vectorised pass, in
//! place when the input is unshared. Only without autodiff (an autodiff device trains
//! with batch statistics, or tracks gradients through a frozen layer): there, and on
//! other devices, Burn's operations.

use burn::backend::ops::{FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, TensorMetadata, backend_extension};
use burn::nn::BatchNorm;
use burn::tensor::activation::{relu, relu6};
use burn::tensor::{DType, Tensor, TensorData};
use rayon::prelude::*;

use super::{math, ours};

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
        let read = |i: usize| params[i].as_slice::<f32>().filter(|v| v.len() == channels);
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

/// `x [N, C, ...]`: each element `(x * scale[c] + shift[c]).clamp(low, high)`, in place
/// when `x` is contiguous `f32` owned by no one else.
fn affine_clamp(
    mut x: FloatTensor<Flex>,
    scale: &[f32],
    shift: &[f32],
    [low, high]: [f32; 2],
) -> FloatTensor<Flex> {
    let channels = scale.len();
    let plane: usize = x.shape().iter().skip(2).product();
    let apply = |values: &mut [f32]| {
        values
            .par_chunks_mut(plane.max(1))
            .enumerate()
            .for_each(|(i, p)| {
                let (s, t) = (scale[i % channels], shift[i % channels]);
                math::vectorized(
                    #[inline(always)]
                    || {
                        for v in p.iter_mut() {
                            // Compares, not f32::max/min: a NaN stays NaN.
                            let y = *v * s + t;
                            let y = if y < low { low } else { y };
                            *v = if y > high { high } else { y };
                        }
                    },
                )
            });
    };
    if x.dtype() == DType::F32
        && let Some((start, end)) = x.layout().contiguous_offsets()
        && let Some(values) = x.try_storage_mut::<f32>()
    {
        apply(&mut values[start..end]);
        return x;
    }
    let x = Flex::float_cast(x, burn::tensor::FloatDType::F32).to_contiguous();
    let mut values = x
        .as_slice::<f32>()
        .expect("contiguous f32 reads as a slice")
        .to_vec();
    apply(&mut values);
    Flex::float_from_data(TensorData::new(values, x.shape()), &Default::default())
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
            Self::Relu => relu(x),
            Self::Relu6 => relu6(x),
        }
    }
}

/// `activation(bn(x))` with `bn` at inference: `x [N, C, ...] -> [N, C, ...]`. One pass
/// of ours on the CPU backend without autodiff; elsewhere `bn.forward(x)` then Burn's
/// activation (which is also what an autodiff device's training-mode batch norm needs).
pub fn batch_norm<const D: usize>(
    bn: &BatchNorm,
    x: Tensor<D>,
    activation: Activation,
) -> Tensor<D> {
    let device = x.device();
    if !ours(&device) || device.is_autodiff() {
        return activation.apply(bn.forward(x));
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
