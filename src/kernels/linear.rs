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
        let dims: Vec<usize> = x.shape().iter().copied().collect();
        let (d_in, [w_in, d_out]) = (dims.last().copied().unwrap_or(0), dims2(&weight));
        let (x, weight, bias) = (
            x.to_contiguous(),
            weight.to_contiguous(),
            bias.to_contiguous(),
        );
        let (Some(xv), Some(wv), Some(b)) = (values(&x), values(&weight), values(&bias)) else {
            return Self::linear(x, weight, Some(bias));
        };
        if w_in != d_in || d_in == 0 || b.len() != d_out {
            return Self::linear(x, weight, Some(bias));
        }
        let rows = xv.len() / d_in;
        // The bias row after row (no zeros written first); the product adds `x W`.
        let mut out = Vec::with_capacity(rows * d_out);
        (0..rows).for_each(|_| out.extend_from_slice(b));
        matmul(
            (&mut out, rows, d_out, [d_out, 1]),
            true,
            (xv, [d_in, 1]),
            (wv, [d_out, 1]),
            d_in,
        );
        let mut out_dims = dims;
        *out_dims.last_mut().expect("x has a last dim") = d_out;
        Flex::float_from_data(TensorData::new(out, out_dims), &Default::default())
    }
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
