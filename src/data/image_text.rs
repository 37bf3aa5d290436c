//! An image + text data set from a manifest and its files, split into train,
//! validation and test, with the preprocessing that predictions need later.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::bad::triage;
use super::dataset::{Dataset, InputKind, ModalityData, Splits};
use super::image::preprocess as preprocess_image;
use super::manifest::Manifest;
use super::split::{check_fractions, stratified_split};
use super::text::Tokenizer;
use crate::error::{MlaError, Result};

/// How raw inputs become model inputs, one entry per modality (saved with the model).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Preprocessor {
    /// Image bytes, resized to `size x size` RGB.
    Image { size: usize },
    /// Text, tokenised.
    Text(Tokenizer),
}

/// Class names and per-modality preprocessing of a model trained on raw data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preprocess {
    /// Class names; class `i` is `classes[i]`.
    pub classes: Vec<String>,
    /// One per modality, in model order.
    pub modalities: Vec<Preprocessor>,
}

/// Settings for building an image + text data set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImageTextConfig {
    /// Side of the square images fed to the model.
    pub image_size: usize,
    /// Tokens per caption.
    pub max_tokens: usize,
    /// Vocabulary size (most frequent training words).
    pub max_vocab: usize,
    /// Share of each class held out for validation.
    pub valid_fraction: f64,
    /// Share of each class held out for testing.
    pub test_fraction: f64,
    /// Seed of the split.
    pub seed: u64,
    /// Leave out samples whose image cannot be read or decoded (counted in
    /// [`ImageTextData::skipped`]) instead of failing.
    pub skip_bad: bool,
}

impl Default for ImageTextConfig {
    fn default() -> Self {
        Self {
            image_size: 32,
            max_tokens: 16,
            max_vocab: 2000,
            valid_fraction: 0.15,
            test_fraction: 0.15,
            seed: 0,
            skip_bad: false,
        }
    }
}

impl ImageTextConfig {
    /// Checks every field; errors name the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |f: &str, r: &str| Err(MlaError::config(format!("data.{f}"), r));
        if !(4..=256).contains(&self.image_size) {
            return bad("image_size", "must be in 4..=256");
        }
        if self.max_tokens == 0 || self.max_vocab == 0 {
            return bad("max_tokens/max_vocab", "must be at least 1");
        }
        check_fractions(self.valid_fraction, self.test_fraction)
    }
}

/// An image + text data set ready to train on.
#[derive(Clone, Debug)]
pub struct ImageTextData {
    pub splits: Splits,
    pub preprocess: Preprocess,
    /// What was wrong with each sample left out (`skip_bad`), naming file and line.
    pub skipped: Vec<String>,
}

/// Builds the data set of `manifest`. `read(path)` returns the bytes of an image path
/// as written in the manifest, or a message saying why it cannot.
pub fn from_manifest(
    manifest: &Manifest,
    mut read: impl FnMut(&str) -> std::result::Result<Vec<u8>, String>,
    config: &ImageTextConfig,
) -> Result<ImageTextData> {
    config.validate()?;
    let name = &manifest.name;
    // Every image read and decoded before anything else, so that all bad rows are
    // reported at once (or left out).
    let size = config.image_size;
    let mut problems = Vec::new();
    let mut images = Vec::with_capacity(manifest.rows.len());
    for row in &manifest.rows {
        let Some(path) = &row.image else {
            images.push(Some(None));
            continue;
        };
        let decoded = read(path)
            .map_err(|why| format!("{name} line {}: image `{path}`: {why}", row.line))
            .and_then(|bytes| {
                preprocess_image(path, &bytes, size)
                    .map_err(|e| format!("{name} line {}: {e}", row.line))
            });
        match decoded {
            Ok(values) => images.push(Some(Some(values))),
            Err(problem) => {
                problems.push(problem);
                images.push(None);
            }
        }
    }
    let skipped = triage(name, problems, config.skip_bad)?;
    let (rows, images): (Vec<_>, Vec<_>) = manifest
        .rows
        .iter()
        .zip(images)
        .filter_map(|(row, image)| image.map(|i| (row, i)))
        .unzip();
    let classes: Vec<String> = rows
        .iter()
        .map(|r| r.label.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if rows.is_empty() {
        return Err(MlaError::Data(format!(
            "{name}: no sample is left after skipping {} bad ones",
            skipped.len()
        )));
    }
    if classes.len() < 2 {
        return Err(MlaError::Data(format!(
            "{name}: every sample has the label `{}`; training needs at least 2 classes",
            classes.first().map(String::as_str).unwrap_or("")
        )));
    }
    if rows.iter().all(|r| r.image.is_none()) || rows.iter().all(|r| r.text.is_none()) {
        return Err(MlaError::Data(format!(
            "{name}: MLA needs both modalities; some samples must have an image and some a text"
        )));
    }
    let labels: Vec<usize> = rows
        .iter()
        .map(|r| {
            classes
                .binary_search(&r.label)
                .expect("label is in classes")
        })
        .collect();

    let plane = 3 * size * size;
    let mut pixels = Vec::with_capacity(rows.len() * plane);
    for image in &images {
        match image {
            Some(values) => pixels.extend_from_slice(values),
            None => pixels.extend(std::iter::repeat_n(0.0, plane)),
        }
    }

    let (train, valid, test) = stratified_split(
        &labels,
        classes.len(),
        config.valid_fraction,
        config.test_fraction,
        config.seed,
    )?;
    let tokenizer = Tokenizer::fit(
        train.iter().filter_map(|&i| rows[i].text.as_deref()),
        config.max_vocab,
        config.max_tokens,
    );
    let encoder = tokenizer.encoder();
    let tokens: Vec<f32> = rows
        .iter()
        .flat_map(|r| encoder.encode(r.text.as_deref().unwrap_or("")))
        .collect();
    let all = Dataset::new(
        vec![
            ModalityData {
                name: "image".into(),
                kind: InputKind::Image {
                    channels: 3,
                    height: size,
                    width: size,
                },
                values: pixels,
                present: rows.iter().map(|r| r.image.is_some()).collect(),
            },
            ModalityData {
                name: "text".into(),
                kind: InputKind::Tokens {
                    len: tokenizer.max_len,
                    vocab: tokenizer.vocab_size(),
                },
                values: tokens,
                present: rows.iter().map(|r| r.text.is_some()).collect(),
            },
        ],
        labels,
        classes.len(),
    )?;
    let splits = all.split(&train, &valid, &test)?;
    Ok(ImageTextData {
        splits,
        preprocess: Preprocess {
            classes,
            modalities: vec![Preprocessor::Image { size }, Preprocessor::Text(tokenizer)],
        },
        skipped,
    })
}
