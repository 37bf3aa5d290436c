//! SGD's update of one parameter on the CPU backend: the step's direction (gradient,
//! weight decay and momentum), written over the velocity, and the parameter moved along
//! it, in one parallel pass (two on the first step, without a velocity), each in place
//! where its tensor is not shared.
//!
//! Burn's `Sgd` runs seven element-wise operations per parameter, each a new tensor
//! written on one thread: a ResNet-18-w32 step spent ~17 ms in them (perf, two
//! threads), all on the first thread. The values are the same: the same operations in
//! the same order, no fused multiply-adds. Other devices run Burn's operations.

use std::sync::{Mutex, PoisonError};

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::{DType, Scalar, Tensor};

use super::{elementwise, math, ours};

/// The passes of an SGD step.
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

    /// Both passes with a velocity: `(param - d * lr, d)` for `d =
    /// sgd_direction(grad, param, velocity, weight_decay, momentum)`.
    fn sgd_momentum_step(
        grad: FloatTensor<Self>,
        param: FloatTensor<Self>,
        velocity: FloatTensor<Self>,
        weight_decay: f32,
        momentum: f32,
        lr: f32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let step = Step {
            weight_decay,
            momentum,
            lr,
        };
        burns_step::<Self>(grad, param, velocity, step)
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
            elementwise::in_place_or_copy(velocity, math::TASK, |i, v| {
                let at = i * math::TASK;
                for ((v, &g), &p) in v.iter_mut().zip(&g[at..]).zip(&p[at..]) {
                    *v = decay(g, p) + *v * momentum;
                }
            })
        } else {
            let Some(p) = param.as_slice::<f32>() else {
                return burns_direction::<Self>(grad, param, velocity, weight_decay, momentum);
            };
            elementwise::in_place_or_copy(grad, math::TASK, |i, g| {
                for (g, &p) in g.iter_mut().zip(&p[i * math::TASK..]) {
                    *g = decay(*g, p);
                }
            })
        };
        written.unwrap_or_else(|t| t)
    }

    fn sgd_momentum_step(
        grad: FloatTensor<Self>,
        param: FloatTensor<Self>,
        velocity: FloatTensor<Self>,
        weight_decay: f32,
        momentum: f32,
        lr: f32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let step = Step {
            weight_decay,
            momentum,
            lr,
        };
        momentum_step(grad, param, velocity, step)
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
        elementwise::in_place_or_copy(param, math::TASK, |i, p| {
            for (p, &d) in p.iter_mut().zip(&d[i * math::TASK..]) {
                *p -= d * lr;
            }
        })
        .unwrap_or_else(|t| t)
    }
}

/// [`SgdKernels::sgd_momentum_step`] in one pass: each value of the gradient, the
/// parameter and the velocity read once, the velocity written in place (a copy of
/// its own where it is shared), the parameter in place where it is not shared, else
/// on a copy made a task at a time in the same pass (the trainer holds the model while
/// the optimizer steps; [`elementwise::in_place_or_copy`]). Two passes (direction, then
/// the move) read and wrote the direction twice more.
fn momentum_step(
    grad: FloatTensor<Flex>,
    param: FloatTensor<Flex>,
    velocity: FloatTensor<Flex>,
    step: Step,
) -> (FloatTensor<Flex>, FloatTensor<Flex>) {
    if !usable(&[&grad, &param, &velocity]) {
        return burns_step::<Flex>(grad, param, velocity, step);
    }
    let grad = grad.to_contiguous();
    let mut velocity = elementwise::unshared(velocity).expect("an f32 tensor");
    let (Some(g), Some(v)) = (
        grad.as_slice::<f32>(),
        elementwise::values_mut(&mut velocity),
    ) else {
        unreachable!("contiguous f32 tensors, the velocity unshared")
    };
    // The parameter's pass writes each task's run of the velocity too: one lock per
    // run, each taken by its own task only.
    let v: Vec<Mutex<&mut [f32]>> = v.chunks_mut(math::TASK).map(Mutex::new).collect();
    let param = elementwise::in_place_or_copy(param, math::TASK, |i, p| {
        let mut v = v[i].lock().unwrap_or_else(PoisonError::into_inner);
        for ((p, v), &g) in p.iter_mut().zip(v.iter_mut()).zip(&g[i * math::TASK..]) {
            *p = step.apply(g, *p, v);
        }
    })
    .expect("an f32 tensor");
    (param, velocity)
}

/// One value's SGD step with a velocity.
#[derive(Clone, Copy)]
struct Step {
    weight_decay: f32,
    momentum: f32,
    lr: f32,
}

impl Step {
    /// The velocity `v` becomes the direction; the moved parameter is returned. Burn's
    /// order of operations, as `sgd_direction` then `sgd_apply`.
    #[inline(always)]
    fn apply(self, g: f32, p: f32, v: &mut f32) -> f32 {
        let g = if self.weight_decay != 0.0 {
            p * self.weight_decay + g
        } else {
            g
        };
        *v = g + *v * self.momentum;
        p - *v * self.lr
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

/// Burn's operations for [`SgdKernels::sgd_momentum_step`].
fn burns_step<B: Backend>(
    grad: FloatTensor<B>,
    param: FloatTensor<B>,
    velocity: FloatTensor<B>,
    step: Step,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let d = burns_direction::<B>(
        grad,
        param.clone(),
        velocity,
        step.weight_decay,
        step.momentum,
    );
    (burns_apply::<B>(param, d.clone(), step.lr), d)
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

/// One SGD step of a parameter: the direction `d = (param * weight_decay + grad) +
/// velocity * momentum` (a factor of 0, or no velocity yet, leaves its term out), then
/// `(param - d * lr, d as the next velocity where momentum is on)`. On the CPU backend
/// one pass with a velocity (two on the first step), Burn's operations elsewhere; the
/// same values.
pub fn sgd_step<const D: usize>(
    grad: Tensor<D>,
    param: Tensor<D>,
    velocity: Option<Tensor<D>>,
    weight_decay: f32,
    momentum: f32,
    lr: f32,
) -> (Tensor<D>, Option<Tensor<D>>) {
    match velocity {
        Some(velocity) if momentum != 0.0 && ours(&param.device()) => {
            let (param, velocity) = <Dispatch as SgdKernels>::sgd_momentum_step(
                grad.into_dispatch(),
                param.into_dispatch(),
                velocity.into_dispatch(),
                weight_decay,
                momentum,
                lr,
            );
            (
                Tensor::from_dispatch(param),
                Some(Tensor::from_dispatch(velocity)),
            )
        }
        velocity => {
            let direction = sgd_direction(grad, &param, velocity, weight_decay, momentum);
            let velocity = (momentum != 0.0).then(|| direction.clone());
            (sgd_apply(param, direction, lr), velocity)
        }
    }
}

/// The direction of an SGD step, `(param * weight_decay + grad) + velocity * momentum`
/// (a factor of 0 leaves its term out; `velocity` is not read then): one pass on the
/// CPU backend, Burn's operations elsewhere; the same values.
fn sgd_direction<const D: usize>(
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
fn sgd_apply<const D: usize>(param: Tensor<D>, direction: Tensor<D>, lr: f32) -> Tensor<D> {
    let ours = ours(&param.device());
    let (param, direction) = (param.into_dispatch(), direction.into_dispatch());
    Tensor::from_dispatch(if ours {
        <Dispatch as SgdKernels>::sgd_apply(param, direction, lr)
    } else {
        burns_apply::<Dispatch>(param, direction, lr)
    })
}
