//! SGD's update of one parameter on the CPU backend: the step's direction (gradient,
//! weight decay and momentum) in one parallel pass, written over the velocity, and the
//! parameter moved along it in another, each in place where its tensor is not shared.
//!
//! Burn's `Sgd` runs seven element-wise operations per parameter, each a new tensor
//! written on one thread: a ResNet-18-w32 step spent ~17 ms in them (perf, two
//! threads), all on the first thread. The values are the same: the same operations in
//! the same order, no fused multiply-adds. Other devices run Burn's operations.

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::{DType, Scalar, Tensor};

use super::{elementwise, math, ours};

/// The two passes of an SGD step.
#[backend_extension(Flex)]
pub trait SgdKernels: Backend {
    /// `(param * weight_decay + grad) + velocity * momentum` (Burn's `Sgd`'s order of
    /// operations) for tensors of one shape; a factor of 0 leaves its term out, and its
    /// tensor is not read.
    fn sgd_direction(
        grad: FloatTensor<Self>,
        param: FloatTensor<Self>,
        velocity: FloatTensor<Self>,
        weight_decay: f32,
        momentum: f32,
    ) -> FloatTensor<Self> {
        burns_direction::<Self>(grad, param, velocity, weight_decay, momentum)
    }

    /// `param - direction * lr`.
    fn sgd_apply(
        param: FloatTensor<Self>,
        direction: FloatTensor<Self>,
        lr: f32,
    ) -> FloatTensor<Self> {
        burns_apply::<Self>(param, direction, lr)
    }
}

/// Whether `ts` are all `f32` tensors of one shape.
fn usable(ts: &[&FloatTensor<Flex>]) -> bool {
    ts.iter()
        .all(|t| t.dtype() == DType::F32 && t.shape() == ts[0].shape())
}

impl SgdKernels for Flex {
    fn sgd_direction(
        grad: FloatTensor<Self>,
        param: FloatTensor<Self>,
        velocity: FloatTensor<Self>,
        weight_decay: f32,
        momentum: f32,
    ) -> FloatTensor<Self> {
        if !usable(&[&grad, &param, &velocity]) {
            return burns_direction::<Self>(grad, param, velocity, weight_decay, momentum);
        }
        let param = param.to_contiguous();
        let decay = |g: f32, p: f32| {
            if weight_decay != 0.0 {
                p * weight_decay + g
            } else {
                g
            }
        };
        let written = if momentum != 0.0 {
            let grad = grad.to_contiguous();
            let (Some(g), Some(p)) = (grad.as_slice::<f32>(), param.as_slice::<f32>()) else {
                return burns_direction::<Self>(grad, param, velocity, weight_decay, momentum);
            };
            elementwise::in_place_or_copy(velocity, |v| {
                math::zip_in_place(v, g, p, |v, g, p| decay(g, p) + v * momentum)
            })
        } else {
            let Some(p) = param.as_slice::<f32>() else {
                return burns_direction::<Self>(grad, param, velocity, weight_decay, momentum);
            };
            elementwise::in_place_or_copy(grad, |g| {
                math::zip_in_place(g, p, p, |g, p, _| decay(g, p))
            })
        };
        written.unwrap_or_else(|t| t)
    }

    fn sgd_apply(
        param: FloatTensor<Self>,
        direction: FloatTensor<Self>,
        lr: f32,
    ) -> FloatTensor<Self> {
        let direction = direction.to_contiguous();
        let Some(d) = direction
            .as_slice::<f32>()
            .filter(|_| usable(&[&param, &direction]))
        else {
            return burns_apply::<Self>(param, direction, lr);
        };
        elementwise::in_place_or_copy(param, |p| math::zip_in_place(p, d, d, |p, d, _| p - d * lr))
            .unwrap_or_else(|t| t)
    }
}

/// Burn's operations for [`SgdKernels::sgd_direction`].
fn burns_direction<B: Backend>(
    grad: FloatTensor<B>,
    param: FloatTensor<B>,
    velocity: FloatTensor<B>,
    weight_decay: f32,
    momentum: f32,
) -> FloatTensor<B> {
    let mut direction = grad;
    if weight_decay != 0.0 {
        let decay = B::float_mul_scalar(param, Scalar::Float(weight_decay.into()));
        direction = B::float_add(decay, direction);
    }
    if momentum != 0.0 {
        let carried = B::float_mul_scalar(velocity, Scalar::Float(momentum.into()));
        direction = B::float_add(direction, carried);
    }
    direction
}

/// Burn's operations for [`SgdKernels::sgd_apply`].
fn burns_apply<B: Backend>(
    param: FloatTensor<B>,
    direction: FloatTensor<B>,
    lr: f32,
) -> FloatTensor<B> {
    B::float_sub(
        param,
        B::float_mul_scalar(direction, Scalar::Float(lr.into())),
    )
}

/// The direction of an SGD step, `(param * weight_decay + grad) + velocity * momentum`
/// (a factor of 0 leaves its term out; `velocity` is not read then): one pass on the
/// CPU backend, Burn's operations elsewhere; the same values.
pub fn sgd_direction<const D: usize>(
    grad: Tensor<D>,
    param: &Tensor<D>,
    velocity: Option<Tensor<D>>,
    weight_decay: f32,
    momentum: f32,
) -> Tensor<D> {
    let momentum = if velocity.is_some() { momentum } else { 0.0 };
    // Without a velocity its tensor is not read: the parameter's, so that the gradient
    // stays unshared and is written in place.
    let velocity = velocity.unwrap_or_else(|| param.clone());
    let ours = ours(&param.device());
    let (grad, param, velocity) = (
        grad.into_dispatch(),
        param.clone().into_dispatch(),
        velocity.into_dispatch(),
    );
    Tensor::from_dispatch(if ours {
        <Dispatch as SgdKernels>::sgd_direction(grad, param, velocity, weight_decay, momentum)
    } else {
        burns_direction::<Dispatch>(grad, param, velocity, weight_decay, momentum)
    })
}

/// `param - direction * lr`: one pass on the CPU backend, in place where `param` is not
/// shared; Burn's operations elsewhere.
pub fn sgd_apply<const D: usize>(param: Tensor<D>, direction: Tensor<D>, lr: f32) -> Tensor<D> {
    let ours = ours(&param.device());
    let (param, direction) = (param.into_dispatch(), direction.into_dispatch());
    Tensor::from_dispatch(if ours {
        <Dispatch as SgdKernels>::sgd_apply(param, direction, lr)
    } else {
        burns_apply::<Dispatch>(param, direction, lr)
    })
}
