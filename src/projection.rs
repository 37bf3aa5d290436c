//! Head gradient modification (HGM, Eq. 3-5): the recursive-least-squares projection.
//!
//! `P` starts as the identity. Each step, with the batch-mean feature `h̄`:
//!
//! ```text
//! q   = P h̄ / (α + h̄ᵀ P h̄)
//! P  ← P − q h̄ᵀ P          (= P − (P h̄)(P h̄)ᵀ / (α + h̄ᵀ P h̄), since P is symmetric)
//! ∇W ← P ∇W                 (Burn's `Linear` stores W as [s, C]: P acts on the input side)
//! ```
//!
//! Directions already seen are damped, so a later modality's update of the shared head
//! barely changes the head's output on earlier modalities' features. `P` lives on the
//! device; nothing is read back per step.

use burn::tensor::{Device, Tensor};

use crate::error::{MlaError, Result};

/// The RLS projection matrix `P ∈ R^{d×d}` (`d = s`, or `s + 1` when the bias is
/// projected along with the weight as the weight of a constant input 1).
#[derive(Clone, Debug)]
pub struct Projection {
    p: Tensor<2>,
    alpha: f32,
}

impl Projection {
    /// `P = I` of size `dim`; `alpha > 0` (validated by the caller's configuration).
    pub fn new(dim: usize, alpha: f32, device: &Device) -> Self {
        Self {
            p: Tensor::eye(dim, device),
            alpha,
        }
    }

    /// Size `d` of `P`.
    pub fn dim(&self) -> usize {
        self.p.dims()[0]
    }

    /// The current `P`: `[d, d]`.
    pub fn matrix(&self) -> &Tensor<2> {
        &self.p
    }

    /// Replaces `P` (a checkpoint's); it must be `[d, d]` like the current one.
    pub fn set_matrix(&mut self, p: Tensor<2>) -> Result<()> {
        let d = self.dim();
        if p.dims() != [d, d] {
            return Err(MlaError::Checkpoint(format!(
                "HGM's P is {:?}, the head needs [{d}, {d}]",
                p.dims()
            )));
        }
        self.p = p;
        Ok(())
    }

    /// The RLS update (Eq. 5) with the batch-mean feature `h̄`: `[d]`.
    pub fn update(&mut self, h_mean: Tensor<1>) {
        let d = self.dim();
        let h = h_mean.reshape([d, 1]);
        let ph = self.p.clone().matmul(h.clone()); // [d, 1]
        let denom = h.transpose().matmul(ph.clone()).add_scalar(self.alpha); // [1, 1]
        // The outer product as a broadcast product (each entry one multiplication, as in
        // a matmul of inner size 1): no GEMM packing for a rank-1 result.
        let update = (ph.clone() * ph.reshape([1, d])).div(denom); // [d, d], symmetric
        self.p = self.p.clone() - update;
    }

    /// `P · grad`: `[d, C] -> [d, C]`.
    pub fn project(&self, grad: Tensor<2>) -> Tensor<2> {
        self.p.clone().matmul(grad)
    }
}
