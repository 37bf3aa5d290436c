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

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

/// Which of the three networks an [`ImputationHead`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Imputer {
    /// AE: one plain autoencoder.
    Autoencoder,
    /// CRA: residual autoencoders in cascade.
    Cascade,
    /// MMIN: a forward and a backward cascade; the head reads the codes.
    Imagination,
}

/// One block: `E` (`n -> hidden`) and `D` (`hidden -> n`).
#[derive(Module, Debug)]
pub struct Autoencoder {
    pub encoder: Linear,
    pub decoder: Linear,
}

/// An imputation network and the classifier after it.
#[derive(Module, Debug)]
pub struct ImputationHead {
    /// `M*s -> C` (AE, CRA) or `blocks*hidden -> C` (MMIN).
    pub head: Linear,
    /// The forward cascade (one block for AE).
    pub blocks: Vec<Autoencoder>,
    /// MMIN's backward cascade (empty for AE and CRA).
    pub backward: Vec<Autoencoder>,
    #[module(skip)]
    pub imputer: Imputer,
    #[module(skip)]
    pub modalities: usize,
}

/// What an imputation network makes of `[B, M*s]` features.
#[derive(Clone, Debug)]
pub struct Imputed {
    /// `[B, M*s]`: every modality reconstructed or imagined.
    pub reconstructed: Tensor<2>,
    /// `[B, hidden]` per block: the code of each autoencoder.
    pub codes: Vec<Tensor<2>>,
}

impl ImputationHead {
    /// The network of `imputer` over `m` modalities of `s` features, with `blocks`
    /// autoencoders of `hidden` units (AE: 1), and its head for `c` classes.
    pub fn new(
        imputer: Imputer,
        m: usize,
        s: usize,
        blocks: usize,
        hidden: usize,
        c: usize,
        device: &Device,
    ) -> Self {
        let n = m * s;
        let cascade = |count: usize| -> Vec<Autoencoder> {
            (0..count)
                .map(|_| Autoencoder {
                    encoder: LinearConfig::new(n, hidden).init(device),
                    decoder: LinearConfig::new(hidden, n).init(device),
                })
                .collect()
        };
        let head_in = match imputer {
            Imputer::Imagination => blocks * hidden,
            _ => n,
        };
        Self {
            head: LinearConfig::new(head_in, c).init(device),
            blocks: cascade(blocks),
            backward: cascade(if imputer == Imputer::Imagination {
                blocks
            } else {
                0
            }),
            imputer,
            modalities: m,
        }
    }

    /// The forward imputation network on `[B, M*s]` features with absent modalities
    /// zero.
    pub fn impute(&self, x: Tensor<2>) -> Imputed {
        cascade(&self.blocks, x, self.imputer != Imputer::Autoencoder)
    }

    /// MMIN's backward cascade: from the imagined modalities (present ones zero) back
    /// to the present ones. `[B, M*s] -> [B, M*s]`.
    pub fn imagine_back(&self, imagined: Tensor<2>) -> Tensor<2> {
        cascade(&self.backward, imagined, true).reconstructed
    }

    /// The head's logits given `x` (`[B, M*s]`, absent modalities zero), what is
    /// present in it (`keep`, `[B, M*s]`) and the network's output on it.
    pub fn classify(&self, x: Tensor<2>, keep: Tensor<2>, out: &Imputed) -> Tensor<2> {
        match self.imputer {
            Imputer::Imagination => self.head.forward(Tensor::cat(out.codes.clone(), 1)),
            _ => self
                .head
                .forward(complete(x, keep, out.reconstructed.clone())),
        }
    }

    /// Fused logits: `M x [B, s]` features (absent ones already zero) and `[M, B]`
    /// presence `-> [B, C]`.
    pub fn forward(&self, masked: Vec<Tensor<2>>, present: &Tensor<2>) -> Tensor<2> {
        let s = masked[0].dims()[1];
        let x = Tensor::cat(masked, 1);
        let keep = feature_mask(present, s);
        let out = self.impute(x.clone());
        self.classify(x, keep, &out)
    }
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

/// A cascade of autoencoders: with `residual`, `x_{k+1} = x_k + D_k(relu(E_k(x_k)))`;
/// without, `x_{k+1} = D_k(relu(E_k(x_k)))`. `[B, n] -> [B, n]`.
pub fn cascade(blocks: &[Autoencoder], x: Tensor<2>, residual: bool) -> Imputed {
    let mut x = x;
    let mut codes = Vec::with_capacity(blocks.len());
    for block in blocks {
        let code = relu(block.encoder.forward(x.clone()));
        let out = block.decoder.forward(code.clone());
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
