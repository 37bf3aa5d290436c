//! A linear layer at inference on the CPU backend: one product over every row, the bias
//! already in the output.
//!
//! `y [.., d_out] = x [.., d_in] W [d_in, d_out] + b`. Burn folds the leading dims of
//! `x` into the rows only when the rows per batch do not fill its tiles, so a
//! transformer's `[texts, tokens, d]` at 64 tokens ran as one small product per text
//! (each packing the whole weight again), then the bias as a broadcast pass. Here the
//! output starts as the bias, row after row, and one product over all rows adds `x W`
//! to it. Training (autodiff) and other devices run Burn's `Linear`.

use burn::backend::ops::{FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, TensorMetadata, backend_extension};
use burn::nn::Linear;
use burn::tensor::{DType, Tensor, TensorData};

use super::gemm::matmul;
use super::ours;

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
}

impl LinearKernels for Flex {
    fn linear_ours(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let bias = Some(bias);
        let dims: Vec<usize> = x.shape().iter().copied().collect();
        let w_dims: Vec<usize> = weight.shape().iter().copied().collect();
        let all_f32 = [Some(&x), Some(&weight), bias.as_ref()]
            .iter()
            .flatten()
            .all(|t| t.dtype() == DType::F32);
        let (Some(&d_in), [w_in, d_out]) = (dims.last(), w_dims.as_slice()) else {
            return Self::linear(x, weight, bias);
        };
        let (d_in, d_out) = (d_in, *d_out);
        if !all_f32 || *w_in != d_in || d_in == 0 {
            return Self::linear(x, weight, bias);
        }
        let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
        let bias = bias.map(|b| b.to_contiguous());
        let readable = x.as_slice::<f32>().is_some()
            && weight.as_slice::<f32>().is_some()
            && bias
                .as_ref()
                .is_none_or(|b| b.as_slice::<f32>().is_some_and(|v| v.len() == d_out));
        if !readable {
            return Self::linear(x, weight, bias);
        }
        let (xv, wv) = (
            x.as_slice::<f32>().expect("checked"),
            weight.as_slice::<f32>().expect("checked"),
        );
        let bias_values = bias.as_ref().and_then(|b| b.as_slice::<f32>());
        let rows = xv.len() / d_in;
        // The bias row after row (no zeros written first), or zeros to overwrite.
        let mut out = Vec::with_capacity(rows * d_out);
        match bias_values {
            Some(b) => (0..rows).for_each(|_| out.extend_from_slice(b)),
            None => out.resize(rows * d_out, 0.0),
        }
        matmul(
            (&mut out, rows, d_out, [d_out, 1]),
            bias_values.is_some(),
            (xv, [d_in, 1]),
            (wv, [d_out, 1]),
            d_in,
        );
        let mut out_dims = dims;
        *out_dims.last_mut().expect("x has a last dim") = d_out;
        Flex::float_from_data(TensorData::new(out, out_dims), &Default::default())
    }
}

/// `layer.forward(x)`: ours at inference on the CPU backend, Burn's elsewhere (the same
/// values to float rounding).
pub fn linear<const D: usize>(layer: &Linear, x: Tensor<D>) -> Tensor<D> {
    let device = x.device();
    if !ours(&device) || device.is_autodiff() {
        return layer.forward(x);
    }
    Tensor::from_dispatch(<burn::backend::Dispatch as LinearKernels>::linear_ours(
        x.into_dispatch(),
        layer.weight.val().into_dispatch(),
        match &layer.bias {
            Some(b) => b.val().into_dispatch(),
            None => Tensor::<1>::zeros([layer.weight.dims()[1]], &device).into_dispatch(),
        },
    ))
}
