//! A linear layer at inference on the CPU backend: one product over every row, the bias
//! already in the output.
//!
//! `y [.., d_out] = x [.., d_in] W [d_in, d_out] + b`. Burn folds the leading dims of
//! `x` into the rows only when the rows per batch do not fill its tiles, so a
//! transformer's `[texts, tokens, d]` at 64 tokens ran as one small product per text
//! (each packing the whole weight again), then the bias as a broadcast pass. Here the
//! output starts as the bias, row after row, and one product over all rows adds `x W`
//! to it. [`linear_gelu`] instead writes the product once and adds the bias in its GELU
//! pass (a transformer's widest output: filling it with the bias first cost as much
//! memory traffic as the product's own writes). Training (autodiff) and other devices
//! run Burn's `Linear`.

use burn::backend::ops::{FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::nn::Linear;
use burn::tensor::{DType, Tensor, TensorData};

use super::gelu::{self, GeluKernels};
use super::gemm::{matmul, matmul_new};
use super::{math, ours};

/// The linear map with its bias, as one product.
#[backend_extension(Flex)]
pub trait LinearKernels: Backend {
    /// `x [.., d_in]`, `weight [d_in, d_out]`, `bias [d_out]` -> `[.., d_out]` (a layer
    /// without a bias passes zeros: the extension's operations take tensors, not options).
    fn linear_ours(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::linear(x, weight, Some(bias))
    }

    /// `GELU(x W + b)`, shapes as [`LinearKernels::linear_ours`].
    fn linear_gelu(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::gelu(Self::linear(x, weight, Some(bias)))
    }
}

impl LinearKernels for Flex {
    fn linear_ours(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let [x, weight, bias] = [x, weight, bias].map(|t| t.to_contiguous());
        let Some(((xv, wv, b), [rows, d_in, d_out], dims)) = operands(&x, &weight, &bias) else {
            return Self::linear(x, weight, Some(bias));
        };
        // The bias row after row (no zeros written first); the product adds `x W`.
        let mut out = math::repeated(b, rows);
        matmul(
            (&mut out, rows, d_out, [d_out, 1]),
            true,
            (xv, [d_in, 1]),
            (wv, [d_out, 1]),
            d_in,
        );
        Flex::float_from_data(TensorData::new(out, dims), &Default::default())
    }

    fn linear_gelu(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let [x, weight, bias] = [x, weight, bias].map(|t| t.to_contiguous());
        let Some(((xv, wv, b), [rows, d_in, d_out], dims)) = operands(&x, &weight, &bias) else {
            return Self::gelu_ours(Self::linear(x, weight, Some(bias)));
        };
        let mut out = matmul_new(rows, d_out, (xv, [d_in, 1]), (wv, [d_out, 1]), d_in);
        math::for_planes(
            &mut out,
            d_out,
            #[inline(always)]
            |_, row| math::blocked(row, Some(b), |v, b| gelu::value(v + b)),
        );
        Flex::float_from_data(TensorData::new(out, dims), &Default::default())
    }
}

/// The values of `x [.., d_in]`, `weight [d_in, d_out]` and `bias [d_out]`, `[rows, d_in,
/// d_out]` and the output's dims, when all three are contiguous `f32` of those shapes
/// (`to_contiguous` made them so where it could).
#[allow(clippy::type_complexity)]
fn operands<'a>(
    x: &'a FloatTensor<Flex>,
    weight: &'a FloatTensor<Flex>,
    bias: &'a FloatTensor<Flex>,
) -> Option<((&'a [f32], &'a [f32], &'a [f32]), [usize; 3], Vec<usize>)> {
    let mut dims: Vec<usize> = x.shape().iter().copied().collect();
    let (d_in, [w_in, d_out]) = (dims.last().copied().unwrap_or(0), dims2(weight));
    let (xv, wv, b) = (values(x)?, values(weight)?, values(bias)?);
    if w_in != d_in || d_in == 0 || b.len() != d_out {
        return None;
    }
    *dims.last_mut()? = d_out;
    Some(((xv, wv, b), [xv.len() / d_in, d_in, d_out], dims))
}

/// A tensor's values when it is contiguous `f32`.
fn values(t: &FloatTensor<Flex>) -> Option<&[f32]> {
    t.as_slice::<f32>().filter(|_| t.dtype() == DType::F32)
}

/// Dims of a 2-D tensor (`[0, 0]` for another rank, which no check above accepts).
fn dims2(t: &FloatTensor<Flex>) -> [usize; 2] {
    let s = t.shape();
    match s.num_dims() {
        2 => [s[0], s[1]],
        _ => [0, 0],
    }
}

/// `layer.forward(x)`: ours at inference on the CPU backend, Burn's elsewhere (the same
/// values to float rounding).
pub fn linear<const D: usize>(layer: &Linear, x: Tensor<D>) -> Tensor<D> {
    if !ours(&x.device()) || x.device().is_autodiff() {
        return layer.forward(x);
    }
    let [x, weight, bias] = dispatch_operands(layer, x);
    Tensor::from_dispatch(<Dispatch as LinearKernels>::linear_ours(x, weight, bias))
}

/// `GELU(layer.forward(x))`, the exact GELU: one pass after the product on the CPU
/// backend at inference, Burn's operations elsewhere (the same values to float
/// rounding).
pub fn linear_gelu<const D: usize>(layer: &Linear, x: Tensor<D>) -> Tensor<D> {
    if !ours(&x.device()) || x.device().is_autodiff() {
        return gelu::gelu(layer.forward(x));
    }
    let [x, weight, bias] = dispatch_operands(layer, x);
    Tensor::from_dispatch(<Dispatch as LinearKernels>::linear_gelu(x, weight, bias))
}

/// `x`, the layer's weight and its bias (zeros for a layer without one: the extension's
/// operations take tensors, not options).
fn dispatch_operands<const D: usize>(layer: &Linear, x: Tensor<D>) -> [FloatTensor<Dispatch>; 3] {
    let bias = match &layer.bias {
        Some(b) => b.val(),
        None => Tensor::<1>::zeros([layer.weight.dims()[1]], &x.device()),
    };
    [
        x.into_dispatch(),
        layer.weight.val().into_dispatch(),
        bias.into_dispatch(),
    ]
}
