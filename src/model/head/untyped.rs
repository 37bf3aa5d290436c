//! The weights format written before typed heads (model files `MLA1` and `MLA2`,
//! checkpoints of versions 1 and 2): the head's parameters were `head` and
//! `layers.<i>`, their meaning set by the layout. Per-modality layouts kept their heads
//! in `layers` and a 1x1 stand-in in `head`; MLA's bias per modality was `layers[m]`'s
//! bias (its 1xC weight unused); FiLM's layer was `layers[0]`, BiGated's hidden layers
//! `layers[k]`, the autoencoders `(encoder, decoder)` pairs, MMIN's backward cascade
//! after its forward one.
//!
//! Reading such weights builds this module tree, loads them into it, then moves each
//! layer into its typed head: parameter ids move with them, so a saved optimizer state
//! still finds its parameters.

use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::Device;

use super::{
    Autoencoder, ConcatHead, FilmHead, GatedHead, Head, HeadLayout, ImputationHead, Imputer,
    PerModalityHead, SharedHead, Weighting,
};
use crate::error::{MlaError, Result};
use crate::model::{Encoder, ModelSpec, MultimodalModel};

/// A model's module tree in the untyped format.
#[derive(Module, Debug)]
pub struct UntypedModel {
    pub encoders: Vec<Encoder>,
    pub head: Linear,
    pub layers: Vec<Linear>,
}

impl UntypedModel {
    /// The tree of `spec`'s architecture, with parameters to be loaded.
    pub fn build(spec: &ModelSpec, device: &Device) -> Result<Self> {
        let encoders = spec.build(device)?.encoders;
        let (m, s, c) = (spec.inputs.len(), spec.feature_dim, spec.num_classes);
        let linear = |i: usize, o: usize| LinearConfig::new(i, o).init(device);
        let autoencoders = |n: usize, hidden: usize| -> Vec<Linear> {
            (0..n)
                .flat_map(|_| [linear(m * s, hidden), linear(hidden, m * s)])
                .collect()
        };
        let (head, layers) = match spec.head {
            HeadLayout::Shared => (linear(s, c), Vec::new()),
            HeadLayout::SharedWeight => (
                LinearConfig::new(s, c).with_bias(false).init(device),
                (0..m)
                    .map(|_| {
                        LinearConfig::new(1, c)
                            .with_initializer(Initializer::Zeros)
                            .init(device)
                    })
                    .collect(),
            ),
            HeadLayout::Concat => (linear(m * s, c), Vec::new()),
            HeadLayout::Sum | HeadLayout::Late | HeadLayout::Energy | HeadLayout::Unshared => {
                (linear(1, 1), (0..m).map(|_| linear(s, c)).collect())
            }
            HeadLayout::Film { .. } => (linear((m - 1) * s, c), vec![linear(s, 2 * s)]),
            HeadLayout::Gated { .. } => (
                linear((m - 1) * s, c),
                (0..m).map(|_| linear(s, s)).collect(),
            ),
            HeadLayout::Autoencoder { hidden } => (linear(m * s, c), autoencoders(1, hidden)),
            HeadLayout::Cascade { blocks, hidden } => {
                (linear(m * s, c), autoencoders(blocks, hidden))
            }
            HeadLayout::Imagination { blocks, hidden } => {
                (linear(blocks * hidden, c), autoencoders(2 * blocks, hidden))
            }
        };
        Ok(Self {
            encoders,
            head,
            layers,
        })
    }

    /// The same weights in the model's typed tree.
    pub fn into_typed(self, spec: &ModelSpec) -> Result<MultimodalModel> {
        let Self {
            encoders,
            head,
            layers,
        } = self;
        let m = encoders.len();
        let per_modality = |weighting| {
            Head::PerModality(PerModalityHead {
                heads: layers.clone(),
                weighting,
            })
        };
        let typed = match spec.head {
            HeadLayout::Shared => Head::Shared(SharedHead {
                linear: head,
                biases: Vec::new(),
            }),
            HeadLayout::SharedWeight => Head::Shared(SharedHead {
                linear: head,
                biases: layers
                    .iter()
                    .map(|l| l.bias.clone())
                    .collect::<Option<_>>()
                    .ok_or_else(|| MlaError::Model("a per-modality bias is missing".into()))?,
            }),
            HeadLayout::Concat => Head::Concat(ConcatHead { linear: head }),
            HeadLayout::Sum | HeadLayout::Unshared => per_modality(Weighting::Sum),
            HeadLayout::Late => per_modality(Weighting::Mean),
            HeadLayout::Energy => per_modality(Weighting::Energy),
            HeadLayout::Film { condition } => Head::Film(FilmHead {
                head,
                film: layers[0].clone(),
                condition,
                modalities: m,
            }),
            HeadLayout::Gated { gate } => Head::Gated(GatedHead {
                head,
                hidden: layers,
                gate,
            }),
            HeadLayout::Autoencoder { .. } => imputation(head, &layers, 1, Imputer::Autoencoder, m),
            HeadLayout::Cascade { blocks, .. } => {
                imputation(head, &layers, blocks, Imputer::Cascade, m)
            }
            HeadLayout::Imagination { blocks, .. } => {
                imputation(head, &layers, blocks, Imputer::Imagination, m)
            }
        };
        Ok(MultimodalModel {
            encoders,
            head: typed,
            layout: spec.head,
            temperatures: Vec::new(),
        })
    }
}

/// An imputation head from `(encoder, decoder)` pairs, the first `blocks` of them the
/// forward cascade and any after it MMIN's backward one.
fn imputation(
    head: Linear,
    layers: &[Linear],
    blocks: usize,
    imputer: Imputer,
    modalities: usize,
) -> Head {
    let pairs: Vec<Autoencoder> = layers
        .chunks(2)
        .map(|pair| Autoencoder {
            encoder: pair[0].clone(),
            decoder: pair[1].clone(),
        })
        .collect();
    let (forward, backward) = pairs.split_at(blocks.min(pairs.len()));
    Head::Imputation(ImputationHead {
        head,
        blocks: forward.to_vec(),
        backward: backward.to_vec(),
        imputer,
        modalities,
    })
}
