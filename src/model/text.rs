//! Text encoder over token ids: embedding, pooling over the known words, and
//! (optionally) a projection.
//!
//! Its defaults come from measuring it against a TF-IDF logistic regression on real
//! names and titles (BENCHMARKS.md, "The text encoder trained from scratch"): an
//! embedding table drawn at the usual `N(0, 1)` and updated by plain SGD learns each
//! word's row only in the few batches that hold the word, so rare words stay random
//! noise that outweighs what was learnt. Rows start small, move faster than the rest,
//! and unknown words are left out; each word is weighted by its inverse document
//! frequency in the training split (`pooling = "tf-idf"`), as the linear bag-of-words
//! model it is measured against weighs it; and the pooled vector is the feature vector
//! (`projection = "none"`): with the shared linear head, the model is that linear
//! model's family, factorised through the feature width. A ReLU projection cost about
//! a point against it.

use burn::module::{Module, Param};
use burn::nn::{Embedding, EmbeddingConfig, Initializer, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor, TensorData, activation::relu};
use serde::{Deserialize, Serialize};

use crate::data::features::tokenizer::{PAD, UNKNOWN};

/// How the word embeddings of a text become one vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TextPooling {
    /// Their mean.
    Mean,
    /// Their sum over `√n` (`n` words): a long text weighs a little more.
    SqrtMean,
    /// Each word weighted by its inverse document frequency in the training split,
    /// `ln((1 + N) / (1 + df)) + 1` (`N` texts, `df` of them with the word), the
    /// weighted sum divided by the weights' Euclidean norm: a TF-IDF vector of unit
    /// length, spanned by the embeddings. Common words weigh less from the first step
    /// instead of after they have been learnt to.
    TfIdf,
}

/// What maps a text's pooled embedding to the encoder's features.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TextProjection {
    /// A linear layer (`embed_dim -> d_out`) and ReLU.
    Relu,
    /// None: the embeddings are as wide as the features (`embed_dim` is not used) and
    /// the pooled vector is the feature vector, so that with the linear head the model
    /// is a linear function of the text's TF-IDF vector (fastText's design), the model
    /// family of the linear bag-of-words baseline.
    None,
}

/// Embedding of each token, pooled over the words (padding, and unknown words with
/// `skip_unknown` left out), then (with `projection = "relu"`) a linear projection with
/// ReLU to the feature size.
///
/// Fields missing from a configuration take the values of the first version of this
/// encoder, so that models trained with it load and predict as they did; new runs get
/// [`TextEncoderConfig::default`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextEncoderConfig {
    /// Embedding width.
    #[serde(default = "default_embed")]
    pub embed_dim: usize,
    /// Deviation of the embeddings' normal initialisation.
    #[serde(default = "one")]
    pub init_std: f64,
    /// The table is stored divided by this and multiplied back in the forward pass:
    /// under SGD its rows move `embedding_scale²` times faster than other weights
    /// (under Adam, `embedding_scale` times), for rows that see a gradient only when
    /// their word is in the batch.
    #[serde(default = "one")]
    pub embedding_scale: f64,
    /// Leave unknown words (id 1) out of the pooling, as padding is.
    #[serde(default)]
    pub skip_unknown: bool,
    /// How the words' embeddings are pooled.
    #[serde(default = "mean")]
    pub pooling: TextPooling,
    /// What maps the pooled vector to the features (the first versions: `Relu`).
    #[serde(default = "relu_projection")]
    pub projection: TextProjection,
}

fn relu_projection() -> TextProjection {
    TextProjection::Relu
}

fn default_embed() -> usize {
    64
}

fn one() -> f64 {
    1.0
}

fn mean() -> TextPooling {
    TextPooling::Mean
}

impl Default for TextEncoderConfig {
    fn default() -> Self {
        Self {
            embed_dim: default_embed(),
            init_std: 0.1,
            embedding_scale: 10.0,
            skip_unknown: true,
            pooling: TextPooling::TfIdf,
            projection: TextProjection::None,
        }
    }
}

impl TextEncoderConfig {
    /// Builds the encoder for a vocabulary of `vocab` ids and `d_out` features.
    pub fn init(&self, vocab: usize, d_out: usize, device: &Device) -> TextEncoder {
        let (width, proj) = match self.projection {
            TextProjection::None => (d_out, None),
            TextProjection::Relu => (
                self.embed_dim,
                Some(LinearConfig::new(self.embed_dim, d_out).init(device)),
            ),
        };
        TextEncoder {
            embedding: EmbeddingConfig::new(vocab, width)
                .with_initializer(Initializer::Normal {
                    mean: 0.0,
                    std: self.init_std / self.embedding_scale,
                })
                .init(device),
            proj,
            idf: (self.pooling == TextPooling::TfIdf)
                .then(|| Param::from_tensor(Tensor::ones([vocab], device)).set_require_grad(false)),
            scale: self.embedding_scale,
            skip_unknown: self.skip_unknown,
            pooling: self.pooling,
        }
    }
}

/// See [`TextEncoderConfig`].
#[derive(Module, Debug)]
pub struct TextEncoder {
    pub embedding: Embedding,
    pub proj: Option<Linear>,
    /// Each id's inverse document frequency (not trained; with `TfIdf` pooling only):
    /// fitted on the training split by [`TextEncoder::fit_idf`].
    pub idf: Option<Param<Tensor<1>>>,
    #[module(skip)]
    pub scale: f64,
    #[module(skip)]
    pub skip_unknown: bool,
    #[module(skip)]
    pub pooling: TextPooling,
}

impl TextEncoder {
    /// Sets the inverse document frequencies (with `TfIdf` pooling; otherwise does
    /// nothing) from the texts `rows` of `ids` (`len` ids per text, sample-major, as a
    /// data set stores them). Padding and unknown words keep weight 1; they are never
    /// pooled where they would matter (padding never, unknown words with
    /// `skip_unknown` off, weighed as a word seen once).
    pub fn fit_idf(&mut self, ids: &[f32], len: usize, rows: &[usize]) {
        let Some(idf) = &self.idf else {
            return;
        };
        let vocab = self.embedding.weight.dims()[0];
        let mut df = vec![0usize; vocab];
        let mut seen = vec![usize::MAX; vocab];
        for &row in rows {
            for &id in &ids[row * len..(row + 1) * len] {
                let id = id as usize;
                // Each text counts once per word, however often the word occurs in it.
                if id < vocab && seen[id] != row {
                    seen[id] = row;
                    df[id] += 1;
                }
            }
        }
        let n = rows.len() as f64;
        let weights: Vec<f32> = df
            .iter()
            .enumerate()
            .map(|(id, &d)| match id {
                PAD => 1.0,
                UNKNOWN => ((1.0 + n) / 2.0).ln() as f32 + 1.0,
                _ => ((1.0 + n) / (1.0 + d as f64)).ln() as f32 + 1.0,
            })
            .collect();
        let device = idf.device();
        self.idf = Some(
            Param::from_tensor(Tensor::from_data(
                TensorData::new(weights, [vocab]),
                &device,
            ))
            .set_require_grad(false),
        );
    }

    /// `[B, L]` token ids `-> [B, d_out]`.
    pub fn forward(&self, ids: Tensor<2, Int>) -> Tensor<2> {
        let [b, l] = ids.dims();
        let mut words = ids.clone().not_equal_elem(PAD as i64);
        if self.skip_unknown {
            words = words.bool_and(ids.clone().not_equal_elem(UNKNOWN as i64));
        }
        let mut mask = words.float().reshape([b, l, 1]);
        let norm = match (&self.idf, self.pooling) {
            (Some(idf), TextPooling::TfIdf) => {
                // Each word's weight: its idf where it is pooled, else 0.
                let weight = idf.val().select(0, ids.clone().reshape([b * l]));
                mask = mask * weight.reshape([b, l, 1]);
                mask.clone().square().sum_dim(1).sqrt().clamp_min(1e-6) // [B, 1, 1]
            }
            (_, TextPooling::SqrtMean) => mask.clone().sum_dim(1).clamp_min(1.0).sqrt(),
            // `Mean`, or `TfIdf` without weights (not reachable through `init`).
            _ => mask.clone().sum_dim(1).clamp_min(1.0),
        };
        let emb = self.embedding.forward(ids) * mask * self.scale;
        let pooled = (emb.sum_dim(1) / norm).reshape([b, self.embedding.weight.dims()[1]]);
        match &self.proj {
            Some(proj) => relu(proj.forward(pooled)),
            None => pooled,
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::TensorData;

    use super::*;

    fn ids(rows: &[&[i64]]) -> Tensor<2, Int> {
        let l = rows[0].len();
        let flat: Vec<i64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::from_data(TensorData::new(flat, [rows.len(), l]), &Device::flex())
    }

    fn host(t: Tensor<2>) -> Vec<f32> {
        t.into_data().try_into_vec().unwrap()
    }

    #[test]
    fn unknown_words_are_skipped_and_the_sum_is_scaled_by_the_root_of_the_count() {
        let device = Device::flex();
        let config = TextEncoderConfig {
            pooling: TextPooling::SqrtMean,
            projection: TextProjection::Relu,
            ..Default::default()
        };
        let mut e = crate::model::seeded(&device, 0, || config.init(6, 4, &device));
        // The identity as projection (no bias), so the output is the pooled embedding
        // through ReLU; embeddings set by hand: row k is k, k, k, k (stored / scale).
        let proj = e.proj.as_mut().unwrap();
        proj.weight = proj.weight.clone().map(|_| Tensor::eye(4, &device));
        proj.bias = None;
        let table: Vec<f32> = (0..6)
            .flat_map(|k| [k as f32 / config.embedding_scale as f32; 4])
            .collect();
        e.embedding.weight = e
            .embedding
            .weight
            .map(|_| Tensor::from_data(TensorData::new(table, [6, 4]), &device));
        // Words 2 and 3 with padding, and the same with an unknown word in between.
        let out = host(e.forward(ids(&[&[2, 3, 0, 0], &[2, 1, 3, 0]])));
        let want = (2.0 + 3.0) / 2f32.sqrt();
        for v in out {
            assert!((v - want).abs() < 1e-5, "{v} vs {want}");
        }
        // The first version: a plain mean over every non-padding token, unknown ones too.
        let old: TextEncoderConfig = serde_json::from_str(r#"{"embed_dim": 4}"#).unwrap();
        assert_eq!(old.pooling, TextPooling::Mean);
        assert_eq!(old.projection, TextProjection::Relu);
        assert!(!old.skip_unknown);
        assert_eq!(old.embedding_scale, 1.0);
        e.pooling = old.pooling;
        e.skip_unknown = old.skip_unknown;
        let out = host(e.forward(ids(&[&[2, 1, 3, 0]])));
        assert!((out[0] - 2.0).abs() < 1e-5, "{out:?}");
    }

    #[test]
    fn tf_idf_pooling_weighs_each_word_by_its_idf_over_the_norm_of_the_weights() {
        let device = Device::flex();
        let config = TextEncoderConfig::default();
        assert_eq!(config.pooling, TextPooling::TfIdf);
        assert_eq!(config.projection, TextProjection::None);
        // Without a projection the embeddings are as wide as the features (3), whatever
        // `embed_dim` says, and the output is the pooled vector itself.
        let mut e = crate::model::seeded(&device, 0, || config.init(5, 3, &device));
        assert!(e.proj.is_none());
        assert_eq!(e.embedding.weight.dims(), [5, 3]);
        // Row k of the effective table is one-hot on axis k % 3, times (k + 1), negated
        // for word 3: nothing clips negative features.
        let table: Vec<f32> = (0..5)
            .flat_map(|k| {
                let mut row = [0f32; 3];
                let sign = if k == 3 { -1.0 } else { 1.0 };
                row[k % 3] = sign * (k + 1) as f32 / config.embedding_scale as f32;
                row
            })
            .collect();
        e.embedding.weight = e
            .embedding
            .weight
            .map(|_| Tensor::from_data(TensorData::new(table, [5, 3]), &device));
        // Four training texts (ids; 0 pads); the third is absent from the split.
        let texts = [2.0, 3.0, 0.0, 2.0, 2.0, 4.0, 3.0, 3.0, 3.0, 2.0, 1.0, 0.0];
        e.fit_idf(&texts, 3, &[0, 1, 3]);
        // By hand: N = 3 texts; word 2 in all 3, word 3 in 1 (once per text, however
        // often), word 4 in 1; idf = ln((1 + N) / (1 + df)) + 1.
        let idf = |df: f64| ((4.0 / (1.0 + df)).ln() + 1.0) as f32;
        let got = host(e.idf.as_ref().unwrap().val().reshape([1, 5]));
        let want = [1.0, idf(1.0), idf(3.0), idf(1.0), idf(1.0)];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
        }
        // "2 2 3" (the unknown 1 is skipped): tf-idf weights 2·idf(3) on word 2 and
        // idf(1) on word 3, pooled as the weighted sum of rows over the weights' norm.
        let out = host(e.forward(ids(&[&[2, 1, 2, 3]])));
        let (w2, w3) = (2.0 * idf(3.0), idf(1.0));
        let norm = (idf(3.0).powi(2) * 2.0 + w3 * w3).sqrt();
        // Word 2's row is 3 on axis 2, word 3's is -4 on axis 0.
        let want = [-4.0 * w3 / norm, 0.0, 3.0 * w2 / norm];
        for (g, w) in out.iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "{out:?} vs {want:?}");
        }
    }

    #[test]
    fn embedding_scale_multiplies_the_sgd_step_of_the_rows_by_its_square() {
        use burn::optim::{GradientsParams, SgdConfig};
        let plain = Device::flex();
        let device = plain.clone().autodiff();
        // Fixed weights (no random draws: other tests draw from the same RNG at once):
        // the same effective table `v / scale * scale` for both scales.
        // Positive weights keep every output above ReLU's threshold.
        let table: Vec<f32> = (0..5 * 4)
            .map(|k| ((k * 7) % 11) as f32 / 10.0 + 0.1)
            .collect();
        let proj: Vec<f32> = (0..4 * 3)
            .map(|k| ((k * 5) % 7) as f32 / 7.0 + 0.1)
            .collect();
        let step = |scale: f64| {
            let config = TextEncoderConfig {
                embed_dim: 4,
                embedding_scale: scale,
                projection: TextProjection::Relu,
                ..Default::default()
            };
            // Held like every model's initialisation (the lazy weights draw from the
            // backend's RNG when first touched), so as not to disturb a seeded one.
            let e = crate::model::seeded(&plain, 0, || {
                let mut e = config.init(5, 3, &plain);
                let stored: Vec<f32> = table.iter().map(|v| v / scale as f32).collect();
                e.embedding.weight = e
                    .embedding
                    .weight
                    .map(|_| Tensor::from_data(TensorData::new(stored, [5, 4]), &plain));
                let p = e.proj.as_mut().unwrap();
                p.weight = p
                    .weight
                    .clone()
                    .map(|_| Tensor::from_data(TensorData::new(proj.clone(), [4, 3]), &plain));
                p.bias = None;
                e
            });
            let e = e.to_device(&device).train();
            let before = host(e.embedding.weight.val().mul_scalar(scale));
            let loss = e.forward(ids(&[&[2, 3]])).sum();
            let grads = GradientsParams::from_grads(loss.backward(), &e);
            let mut sgd = SgdConfig::new().init();
            let e = sgd.step(0.01, e, grads);
            let after = host(e.embedding.weight.val().mul_scalar(scale));
            (before, after)
        };
        let (b1, a1) = step(1.0);
        let (b4, a4) = step(4.0);
        // The same effective start, and the same direction, 16 times as far.
        for k in 0..b1.len() {
            assert!((b1[k] - b4[k]).abs() < 1e-5, "{} {}", b1[k], b4[k]);
            let (d1, d4) = (a1[k] - b1[k], a4[k] - b4[k]);
            assert!(
                (d4 - 16.0 * d1).abs() < 1e-4 * (1.0 + d4.abs()),
                "{d1} {d4}"
            );
        }
        assert!(
            a1.iter().zip(&b1).any(|(a, b)| a != b),
            "rows 2 and 3 moved"
        );
    }
}
