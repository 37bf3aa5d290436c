//! The imputation networks of the missing-modality baselines, over the concatenated
//! features `x = [h_1 ⊙ p_1, .., h_M ⊙ p_M]` (`[B, M*s]`, an absent modality zero):
//!
//! - AE: one autoencoder, `x̂ = D(relu(E(x)))`; the head reads `x` where present and
//!   `x̂` where absent.
//! - CRA (Tran et al., CVPR 2017): a cascade of residual autoencoders,
//!   `x_{k+1} = x_k + D_k(relu(E_k(x_k)))`, `x̂ = x_K`; the head reads as for AE.
//! - MMIN (Zhao et al., ACL 2021): a forward cascade imagines the absent modalities;
//!   the head reads the concatenation of its blocks' codes `relu(E_k(x_k))`; in
//!   training a backward cascade maps the imagined modalities back to the present
//!   ones (cycle consistency).

use burn::nn::Linear;
use burn::tensor::Tensor;
use burn::tensor::activation::relu;

use super::{HeadLayout, MultimodalModel};

/// What an imputation network makes of `[B, M*s]` features.
#[derive(Clone, Debug)]
pub struct Imputed {
    /// `[B, M*s]`: every modality reconstructed or imagined.
    pub reconstructed: Tensor<2>,
    /// `[B, hidden]` per block: the code of each autoencoder.
    pub codes: Vec<Tensor<2>>,
}

/// `[M, B]` presence `->` `[B, M*s]`: each modality's flag repeated over its `s`
/// features.
pub fn feature_mask(present: &Tensor<2>, s: usize) -> Tensor<2> {
    let [m, b] = present.dims();
    present
        .clone()
        .transpose()
        .reshape([b, m, 1])
        .expand([b, m, s])
        .reshape([b, m * s])
}

/// A cascade of autoencoders, `layers` holding (encoder, decoder) pairs: with
/// `residual`, `x_{k+1} = x_k + D_k(relu(E_k(x_k)))`; without, `x_{k+1} =
/// D_k(relu(E_k(x_k)))`. `[B, n] -> [B, n]`.
pub fn cascade(layers: &[Linear], x: Tensor<2>, residual: bool) -> Imputed {
    let mut x = x;
    let mut codes = Vec::with_capacity(layers.len() / 2);
    for pair in layers.chunks(2) {
        let code = relu(pair[0].forward(x.clone()));
        let out = pair[1].forward(code.clone());
        x = if residual { x + out } else { out };
        codes.push(code);
    }
    Imputed {
        reconstructed: x,
        codes,
    }
}

/// `x` where `keep` is 1, `x̂` where it is 0.
pub fn complete(x: Tensor<2>, keep: Tensor<2>, reconstructed: Tensor<2>) -> Tensor<2> {
    let fill = keep.clone().neg().add_scalar(1.0);
    x * keep + reconstructed * fill
}

impl MultimodalModel {
    /// The forward imputation network of this model's layout on `[B, M*s]` features
    /// with absent modalities zero.
    pub(crate) fn impute(&self, x: Tensor<2>) -> Imputed {
        match self.layout {
            HeadLayout::Autoencoder { .. } => cascade(&self.layers, x, false),
            HeadLayout::Cascade { .. } => cascade(&self.layers, x, true),
            HeadLayout::Imagination { blocks, .. } => cascade(&self.layers[..2 * blocks], x, true),
            _ => panic!("impute() on a model without an imputation network"),
        }
    }

    /// MMIN's backward cascade: from the imagined modalities (present ones zero) back
    /// to the present ones. `[B, M*s] -> [B, M*s]`.
    pub(crate) fn imagine_back(&self, imagined: Tensor<2>) -> Tensor<2> {
        match self.layout {
            HeadLayout::Imagination { blocks, .. } => {
                cascade(&self.layers[2 * blocks..], imagined, true).reconstructed
            }
            _ => panic!("imagine_back() on a model other than MMIN"),
        }
    }

    /// The head's logits given `x` (`[B, M*s]`, absent modalities zero), what is
    /// present in it (`keep`, `[B, M*s]`) and the network's output on it.
    pub(crate) fn imputed_head(&self, x: Tensor<2>, keep: Tensor<2>, out: &Imputed) -> Tensor<2> {
        match self.layout {
            HeadLayout::Imagination { .. } => self.head.forward(Tensor::cat(out.codes.clone(), 1)),
            _ => self
                .head
                .forward(complete(x, keep, out.reconstructed.clone())),
        }
    }

    /// Fused logits of an imputation layout: `M x [B, s]` features (absent ones
    /// already zero) and `[M, B]` presence `-> [B, C]`.
    pub(crate) fn imputation_logits(
        &self,
        masked: Vec<Tensor<2>>,
        present: &Tensor<2>,
    ) -> Tensor<2> {
        let s = masked[0].dims()[1];
        let x = Tensor::cat(masked, 1);
        let keep = feature_mask(present, s);
        let out = self.impute(x.clone());
        self.imputed_head(x, keep, &out)
    }
}
