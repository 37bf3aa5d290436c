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
    Autoencoder, ConcatHead, FilmHead, GatedHead, Head, HeadLayout, ImputationHead,
    PerModalityHead, SharedHead,
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

    /// The same weights in the model's typed tree: the head `spec` builds, its
    /// parameters replaced by the loaded layers (the layout's other settings, such as
    /// a per-modality head's weighting, are the built head's).
    pub fn into_typed(self, spec: &ModelSpec, device: &Device) -> Result<MultimodalModel> {
        let Self {
            encoders,
            head,
            layers,
        } = self;
        let (m, s, c) = (spec.inputs.len(), spec.feature_dim, spec.num_classes);
        let missing = |what: &str| MlaError::Model(format!("weights: {what} is missing"));
        let typed = match spec.head.init(m, s, c, device) {
            Head::Shared(built) => Head::Shared(SharedHead {
                linear: head,
                // MLA's bias per modality was `layers[m]`'s bias.
                biases: if built.biases.is_empty() {
                    Vec::new()
                } else {
                    layers
                        .into_iter()
                        .map(|l| l.bias)
                        .collect::<Option<_>>()
                        .ok_or_else(|| missing("a per-modality bias"))?
                },
            }),
            Head::PerModality(built) => Head::PerModality(PerModalityHead {
                heads: layers,
                ..built
            }),
            Head::Concat(_) => Head::Concat(ConcatHead { linear: head }),
            Head::Film(built) => Head::Film(FilmHead {
                head,
                film: layers
                    .into_iter()
                    .next()
                    .ok_or_else(|| missing("FiLM's layer"))?,
                ..built
            }),
            Head::Gated(built) => Head::Gated(GatedHead {
                head,
                hidden: layers,
                ..built
            }),
            Head::Imputation(built) => {
                // `(encoder, decoder)` pairs: the forward cascade, then MMIN's backward one.
                let mut pairs = layers.into_iter();
                let mut cascade = |n: usize| -> Result<Vec<Autoencoder>> {
                    (0..n)
                        .map(|_| match (pairs.next(), pairs.next()) {
                            (Some(encoder), Some(decoder)) => Ok(Autoencoder { encoder, decoder }),
                            _ => Err(missing("an autoencoder's layer")),
                        })
                        .collect()
                };
                Head::Imputation(ImputationHead {
                    head,
                    blocks: cascade(built.blocks.len())?,
                    backward: cascade(built.backward.len())?,
                    ..built
                })
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
