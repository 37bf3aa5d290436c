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
    if let Some(values) = values_mut(&mut x) {
        apply(values);
        return Ok(x);
    }
    Err(x)
}

/// The values of `x`, contiguous `f32` owned by no one else, to write; `None` otherwise.
pub fn values_mut(x: &mut FloatTensor<Flex>) -> Option<&mut [f32]> {
    let (start, end) = x.layout().contiguous_offsets()?;
    if x.dtype() != DType::F32 {
        return None;
    }
    x.try_storage_mut::<f32>()
        .map(|values| &mut values[start..end])
}

/// `x` as a contiguous `f32` tensor owned by no one else: itself, or a copy made in
/// parallel tasks; `Err(x)` for other element types.
pub fn unshared(mut x: FloatTensor<Flex>) -> Result<FloatTensor<Flex>, FloatTensor<Flex>> {
    if values_mut(&mut x).is_some() {
        return Ok(x);
    }
    let x = x.to_contiguous();
    let Some(values) = x.as_slice::<f32>() else {
        return Err(x);
    };
    let copy = math::map(values, |v| v);
    Ok(Flex::float_from_data(
        TensorData::new(copy, x.shape()),
        &Default::default(),
    ))
}

/// `f(i, plane_i)` on each `plane`-long run of `x`'s values (the last may be shorter),
/// as [`math::for_planes`]: in place when `x` is contiguous `f32` owned by no one else,
/// else on a copy of its own made a task at a time (a shared input is left as it was);
/// `Err(x)` for other element types.
pub fn in_place_or_copy(
    x: FloatTensor<Flex>,
    plane: usize,
    f: impl Fn(usize, &mut [f32]) + Sync + Send,
) -> Result<FloatTensor<Flex>, FloatTensor<Flex>> {
    if x.dtype() != DType::F32 {
        return Err(x);
    }
    let x = match in_place(x, |values| math::for_planes(values, plane, &f)) {
        Ok(y) => return Ok(y),
        // Shared: a copy, made in the same pass as `f` (a training batch norm's input,
        // which autodiff keeps; a parameter that the trainer's copy of the model
        // holds while the optimizer steps).
        Err(x) => x.to_contiguous(),
    };
    let Some(values) = x.as_slice::<f32>() else {
        return Err(x);
    };
    let out = math::copied_planes(values, plane, f);
    Ok(Flex::float_from_data(
        TensorData::new(out, x.shape()),
        &Default::default(),
    ))
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
