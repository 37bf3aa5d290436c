//! A BERT encoder (Devlin et al., 2019) laid out as Hugging Face's `BertModel`, so
//! that sentence-transformers' all-MiniLM-L6-v2 loads as it is, and its sentence
//! embedding: the mean of the last hidden states over the real tokens, L2-normalised.

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};

use crate::kernels::{add_layer_norm, attention, linear, linear_gelu};

/// BERT's layer-norm epsilon (Hugging Face's `layer_norm_eps`).
const LAYER_NORM_EPSILON: f64 = 1e-12;

/// BERT's sizes (`config.json` of a Hugging Face model).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
}

impl BertConfig {
    /// all-MiniLM-L6-v2.
    pub fn minilm_l6() -> Self {
        Self {
            vocab_size: 30522,
            hidden_size: 384,
            num_hidden_layers: 6,
            num_attention_heads: 12,
            intermediate_size: 1536,
            max_position_embeddings: 512,
            type_vocab_size: 2,
        }
    }

    /// The architecture with fresh weights (to be loaded).
    pub fn init(&self, device: &Device) -> Bert {
        let h = self.hidden_size;
        let norm = || {
            LayerNormConfig::new(h)
                .with_epsilon(LAYER_NORM_EPSILON)
                .init(device)
        };
        let linear = |i, o| LinearConfig::new(i, o).init(device);
        Bert {
            word: EmbeddingConfig::new(self.vocab_size, h).init(device),
            position: EmbeddingConfig::new(self.max_position_embeddings, h).init(device),
            token_type: EmbeddingConfig::new(self.type_vocab_size, h).init(device),
            norm: norm(),
            layers: (0..self.num_hidden_layers)
                .map(|_| BertLayer {
                    query: linear(h, h),
                    key: linear(h, h),
                    value: linear(h, h),
                    attention_out: linear(h, h),
                    attention_norm: norm(),
                    intermediate: linear(h, self.intermediate_size),
                    output: linear(self.intermediate_size, h),
                    output_norm: norm(),
                })
                .collect(),
            heads: self.num_attention_heads,
        }
    }
}

/// One transformer layer (post-norm, GELU), as BERT has it.
#[derive(Module, Debug)]
pub struct BertLayer {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub attention_out: Linear,
    pub attention_norm: LayerNorm,
    pub intermediate: Linear,
    pub output: Linear,
    pub output_norm: LayerNorm,
}

impl BertLayer {
    /// `x`: `[B * L, H]` (the sequences' tokens one after the other), `mask_bias`:
    /// `[B, L]` (0 for real tokens, a large negative number for padding) `-> [B * L,
    /// H]`. Rows, not `[B, L, H]`: each linear layer is one product over all tokens.
    fn forward(&self, x: Tensor<2>, mask_bias: Tensor<2>, heads: usize) -> Tensor<2> {
        let context = attention(
            linear(&self.query, x.clone()),
            linear(&self.key, x.clone()),
            linear(&self.value, x.clone()),
            mask_bias,
            heads,
        );
        let attended = add_layer_norm(
            &self.attention_norm,
            LAYER_NORM_EPSILON,
            linear(&self.attention_out, context),
            x,
        );
        let inner = linear_gelu(&self.intermediate, attended.clone());
        add_layer_norm(
            &self.output_norm,
            LAYER_NORM_EPSILON,
            linear(&self.output, inner),
            attended,
        )
    }
}

/// BERT's embeddings and layers (no pooler: sentence-transformers does not use it).
#[derive(Module, Debug)]
pub struct Bert {
    pub word: Embedding,
    pub position: Embedding,
    pub token_type: Embedding,
    pub norm: LayerNorm,
    pub layers: Vec<BertLayer>,
    #[module(skip)]
    pub heads: usize,
}

/// Token id of padding, which the attention and the pooling leave out.
pub const PAD_ID: i64 = 0;

impl Bert {
    /// Last hidden states of token ids (`[CLS] ... [SEP]`, padded with 0):
    /// `[B, L] -> [B, L, H]`.
    pub fn hidden_states(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        let [b, l] = ids.dims();
        let device = ids.device();
        let positions = Tensor::<1, Int>::arange(0..l as i64, &device)
            .reshape([1, l])
            .repeat_dim(0, b);
        let types = Tensor::<2, Int>::zeros([b, l], &device);
        let x = self.norm.forward(
            self.word.forward(ids.clone())
                + self.position.forward(positions)
                + self.token_type.forward(types),
        );
        let h = x.dims()[2];
        // Hugging Face adds the dtype's lowest value; any value this low gives
        // padding a weight of exactly 0 after the softmax.
        let mask_bias = ids.equal_elem(PAD_ID).float().mul_scalar(-1e30);
        let mut x = x.reshape([b * l, h]);
        for layer in &self.layers {
            x = layer.forward(x, mask_bias.clone(), self.heads);
        }
        x.reshape([b, l, h])
    }

    /// Sentence embeddings: the mean of the last hidden states over the real tokens,
    /// L2-normalised (sentence-transformers' Pooling + Normalize): `[B, L] -> [B, H]`.
    pub fn sentence_embedding(&self, ids: Tensor<2, Int>) -> Tensor<2> {
        let [b, l] = ids.dims();
        let mask = ids
            .clone()
            .not_equal_elem(PAD_ID)
            .float()
            .reshape([b, l, 1]);
        let hidden = self.hidden_states(ids);
        let h = hidden.dims()[2];
        let count = mask.clone().sum_dim(1).clamp_min(1e-9); // [B, 1, 1]
        let mean = ((hidden * mask).sum_dim(1) / count).reshape([b, h]);
        let norm = mean
            .clone()
            .powi_scalar(2)
            .sum_dim(1)
            .sqrt()
            .clamp_min(1e-12); // [B, 1]
        mean / norm
    }

    /// Freezes the embeddings and every layer but the last `n`.
    pub fn freeze_all_but_last(self, n: usize) -> Self {
        let keep_from = self.layers.len().saturating_sub(n);
        Self {
            word: self.word.freeze(),
            position: self.position.freeze(),
            token_type: self.token_type.freeze(),
            norm: self.norm.freeze(),
            layers: self
                .layers
                .into_iter()
                .enumerate()
                .map(|(i, l)| if i < keep_from { l.freeze() } else { l })
                .collect(),
            heads: self.heads,
        }
    }
}

/// Our name for one of Hugging Face `BertModel`'s parameters, keeping its last segment
/// (`weight`, `bias`: the loader's adapter maps those); `None` for what we do not
/// keep (the pooler, `position_ids`).
pub fn from_hugging_face(name: &str) -> Option<String> {
    let (module, param) = name.rsplit_once('.')?;
    let parts: Vec<&str> = module.split('.').collect();
    let path = match parts.as_slice() {
        ["embeddings", "word_embeddings"] => "word".to_string(),
        ["embeddings", "position_embeddings"] => "position".to_string(),
        ["embeddings", "token_type_embeddings"] => "token_type".to_string(),
        ["embeddings", "LayerNorm"] => "norm".to_string(),
        ["encoder", "layer", i, rest @ ..] => {
            let i: usize = i.parse().ok()?;
            let part = match rest {
                ["attention", "self", "query"] => "query",
                ["attention", "self", "key"] => "key",
                ["attention", "self", "value"] => "value",
                ["attention", "output", "dense"] => "attention_out",
                ["attention", "output", "LayerNorm"] => "attention_norm",
                ["intermediate", "dense"] => "intermediate",
                ["output", "dense"] => "output",
                ["output", "LayerNorm"] => "output_norm",
                _ => return None,
            };
            format!("layers.{i}.{part}")
        }
        _ => return None,
    };
    Some(format!("{path}.{param}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hugging_face_names_map_to_ours() {
        let cases = [
            ("embeddings.word_embeddings.weight", "word.weight"),
            ("embeddings.LayerNorm.bias", "norm.bias"),
            (
                "encoder.layer.0.attention.self.query.weight",
                "layers.0.query.weight",
            ),
            (
                "encoder.layer.5.attention.output.LayerNorm.weight",
                "layers.5.attention_norm.weight",
            ),
            ("encoder.layer.3.output.dense.bias", "layers.3.output.bias"),
            (
                "encoder.layer.3.intermediate.dense.weight",
                "layers.3.intermediate.weight",
            ),
        ];
        for (theirs, ours) in cases {
            assert_eq!(from_hugging_face(theirs).as_deref(), Some(ours), "{theirs}");
        }
        assert_eq!(from_hugging_face("pooler.dense.weight"), None);
        assert_eq!(from_hugging_face("embeddings.position_ids"), None);
    }

    #[test]
    fn minilm_has_its_parameter_count() {
        // all-MiniLM-L6-v2 without its pooler (384 * 384 + 384 parameters): 22,713,216
        // in the Hugging Face model card's 22.7 M.
        let model = BertConfig::minilm_l6().init(&Device::flex());
        assert_eq!(model.num_params(), 22_713_216 - 384 * 384 - 384);
    }
}
