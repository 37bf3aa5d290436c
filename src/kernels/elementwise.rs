//! Element-wise kernels over the CPU backend's `f32` tensors, with [`math`]'s
//! vectorised loops.

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, TensorMetadata};
use burn::tensor::{DType, TensorData};

use super::math;

/// `apply` run on `x`'s values where they lie, when `x` is contiguous `f32` owned by no
/// one else (a tensor still in use elsewhere must not change); `Err(x)` otherwise.
pub fn in_place(
    mut x: FloatTensor<Flex>,
    apply: impl FnOnce(&mut [f32]),
) -> Result<FloatTensor<Flex>, FloatTensor<Flex>> {
    if x.dtype() == DType::F32
        && let Some((start, end)) = x.layout().contiguous_offsets()
        && let Some(values) = x.try_storage_mut::<f32>()
    {
        apply(&mut values[start..end]);
        return Ok(x);
    }
    Err(x)
}

/// `apply` on `x`'s values: in place when `x` is contiguous `f32` owned by no one else,
/// else on a contiguous copy of its own (a shared input is left as it was); `Err(x)` for
/// other element types.
pub fn in_place_or_copy(
    mut x: FloatTensor<Flex>,
    apply: impl FnOnce(&mut [f32]),
) -> Result<FloatTensor<Flex>, FloatTensor<Flex>> {
    if x.dtype() != DType::F32 {
        return Err(x);
    }
    let own = x.layout().contiguous_offsets().is_some() && x.try_storage_mut::<f32>().is_some();
    let x = if own {
        x
    } else {
        // A copy in parallel tasks: `into_data` copied the values twice on one thread
        // (its bytes, then again to align them), a serial tenth of a ResNet-18 step on
        // two threads (after each batch norm in training, whose input autodiff keeps).
        let x = x.to_contiguous();
        let Some(values) = x.as_slice::<f32>() else {
            return Err(x);
        };
        let copy = math::map(values, |v| v);
        Flex::float_from_data(TensorData::new(copy, x.shape()), &Default::default())
    };
    in_place(x, apply)
}

/// `f` applied to every element of `x`: in place when `x` is contiguous `f32` owned by
/// no one else, else into a new tensor; `Err(x)` for other element types.
pub fn unary(
    x: FloatTensor<Flex>,
    f: impl Fn(f32) -> f32 + Sync + Send + Copy,
) -> Result<FloatTensor<Flex>, FloatTensor<Flex>> {
    if x.dtype() != DType::F32 {
        return Err(x);
    }
    let x = match in_place(x, |values| math::map_in_place(values, f)) {
        Ok(y) => return Ok(y),
        Err(x) => x.to_contiguous(),
    };
    let Some(values) = x.as_slice::<f32>() else {
        return Err(x);
    };
    let out = math::map(values, f);
    Ok(Flex::float_from_data(
        TensorData::new(out, x.shape()),
        &Default::default(),
    ))
}

/// `f(a, b)` element by element for two `f32` tensors of one shape, into a new tensor;
/// `None` for other element types or shapes.
pub fn binary(
    a: &FloatTensor<Flex>,
    b: &FloatTensor<Flex>,
    f: impl Fn(f32, f32) -> f32 + Sync + Send + Copy,
) -> Option<FloatTensor<Flex>> {
    if a.dtype() != DType::F32 || b.dtype() != DType::F32 || a.shape() != b.shape() {
        return None;
    }
    let (a, b) = (a.to_contiguous(), b.to_contiguous());
    let (av, bv) = (a.as_slice::<f32>()?, b.as_slice::<f32>()?);
    let out = math::zip_map(av, bv, f);
    Some(Flex::float_from_data(
        TensorData::new(out, a.shape()),
        &Default::default(),
    ))
}

/// An element-wise operation on `Autodiff`: `forward` on the inner backend, and in the
/// backward pass `grad(x, dy)` from the checkpointed input `x` (GELU, ReLU).
pub fn unary_autodiff<B: Backend, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    forward: fn(FloatTensor<B>) -> FloatTensor<B>,
    grad: fn(FloatTensor<B>, FloatTensor<B>) -> FloatTensor<B>,
) -> FloatTensor<Autodiff<B, C>> {
    struct Unary<B: Backend> {
        grad: fn(FloatTensor<B>, FloatTensor<B>) -> FloatTensor<B>,
    }

    impl<B: Backend> std::fmt::Debug for Unary<B> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Unary")
        }
    }

    impl<B: Backend> Backward<B, 1> for Unary<B> {
        type State = NodeId;

        fn backward(
            self,
            ops: Ops<Self::State, 1>,
            grads: &mut Gradients,
            checkpointer: &mut Checkpointer,
        ) {
            let [node] = ops.parents;
            let dy = grads.consume::<B>(&ops.node);
            let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(ops.state);
            if let Some(node) = node {
                grads.register::<B>(node.id, (self.grad)(x, dy));
            }
        }
    }

    match (Unary { grad })
        .prepare::<C>([x.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let state = prep.checkpoint(&x);
            prep.finish(state, forward(x.into_primitive()))
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(x.into_primitive())),
    }
}
