//! SGD with momentum and L2 weight decay, the paper's optimizer, Burn's `Sgd` step for
//! step (no dampening, no Nesterov) on our one pass per parameter
//! ([`crate::kernels::sgd`]).

use burn::optim::{LearningRate, Optimizer, RecordState, StateSink, StateSource, join_path};
use burn::tensor::{Device, Tensor};

use crate::kernels::sgd_step;

/// SGD: `d = (p * weight_decay + g) + v * momentum` (the first step without `v`), `v =
/// d`, `p = p - lr * d`.
#[derive(Clone, Debug)]
pub struct Sgd {
    /// 0 for none.
    pub momentum: f32,
    /// 0 for none.
    pub weight_decay: f32,
}

/// A parameter's velocity (with momentum), recorded under the names of Burn's
/// `SgdState` (`momentum.velocity`), so that checkpoints of either optimizer resume
/// with the other.
#[derive(Clone)]
pub struct SgdState<const D: usize> {
    velocity: Option<Tensor<D>>,
}

impl<const D: usize> RecordState for SgdState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        if let Some(v) = &self.velocity {
            out.push_tensor(
                &join_path(prefix, "momentum"),
                "velocity",
                v.clone().into_data(),
            );
        }
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let velocity = src
            .take_tensor(&join_path(prefix, "momentum"), "velocity")
            .map(|data| Tensor::from_data(data, device));
        Some(Self { velocity })
    }
}

impl Optimizer for Sgd {
    type State<const D: usize> = SgdState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let velocity = state.and_then(|s| s.velocity);
        let (tensor, velocity) = sgd_step(
            grad,
            tensor,
            velocity,
            self.weight_decay,
            self.momentum,
            lr as f32,
        );
        (tensor, Some(SgdState { velocity }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        SgdState {
            velocity: state.velocity.map(|v| v.to_device(device)),
        }
    }
}
