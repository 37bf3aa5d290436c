//! Text encoder over token ids: embedding, masked mean pooling, projection.

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor, activation::relu};
use serde::{Deserialize, Serialize};

/// Embedding of each token, mean over the non-padding tokens (id 0 is padding), and a
/// linear projection with ReLU to the feature size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextEncoderConfig {
    /// Embedding width.
    #[serde(default = "default_embed")]
    pub embed_dim: usize,
}

fn default_embed() -> usize {
    64
}

impl Default for TextEncoderConfig {
    fn default() -> Self {
        Self {
            embed_dim: default_embed(),
        }
    }
}

impl TextEncoderConfig {
    /// Builds the encoder for a vocabulary of `vocab` ids and `d_out` features.
    pub fn init(&self, vocab: usize, d_out: usize, device: &Device) -> TextEncoder {
        TextEncoder {
            embedding: EmbeddingConfig::new(vocab, self.embed_dim).init(device),
            proj: LinearConfig::new(self.embed_dim, d_out).init(device),
        }
    }
}

/// See [`TextEncoderConfig`].
#[derive(Module, Debug)]
pub struct TextEncoder {
    pub embedding: Embedding,
    pub proj: Linear,
}

impl TextEncoder {
    /// `[B, L]` token ids `-> [B, d_out]`.
    pub fn forward(&self, ids: Tensor<2, Int>) -> Tensor<2> {
        let [b, l] = ids.dims();
        let mask = ids.clone().not_equal_elem(0).float().reshape([b, l, 1]);
        let emb = self.embedding.forward(ids) * mask.clone();
        let count = mask.sum_dim(1).clamp_min(1.0); // [B, 1, 1]
        let pooled = (emb.sum_dim(1) / count).reshape([b, self.embedding.weight.dims()[1]]);
        relu(self.proj.forward(pooled))
    }
}
