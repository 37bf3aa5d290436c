//! Predicting one sample from raw inputs: per-modality probabilities, entropies,
//! fusion weights and the fused class.

use burn::tensor::{Device, Tensor, activation::softmax};
use serde::{Deserialize, Serialize};

pub use crate::data::RawInput;
use crate::data::{Batch, ColumnKind, Dataset, Manifest, ManifestRow, ModalityData, Preprocess};
use crate::device::read_floats;
use crate::error::{MlaError, Result};
use crate::eval::predict;
use crate::io::ModelHeader;
use crate::model::MultimodalModel;

/// What one modality says about a sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModalityPrediction {
    pub name: String,
    /// Whether the sample had this modality.
    pub present: bool,
    /// Class probabilities `softmax(f_m)` (empty when absent).
    pub probabilities: Vec<f32>,
    /// Entropy of those probabilities (0 when absent).
    pub entropy: f32,
    /// Fusion weight `λ_m` (0 when absent).
    pub weight: f32,
}

/// The prediction for one sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamplePrediction {
    /// Class names.
    pub classes: Vec<String>,
    /// Per modality, in model order.
    pub modalities: Vec<ModalityPrediction>,
    /// Fused class probabilities.
    pub probabilities: Vec<f32>,
    /// Index of the fused class.
    pub class: usize,
}

impl SamplePrediction {
    /// Name of the fused class.
    pub fn class_name(&self) -> &str {
        &self.classes[self.class]
    }
}

fn preprocess_of(header: &ModelHeader) -> Result<&Preprocess> {
    header.preprocess.as_ref().ok_or_else(|| {
        MlaError::Model(
            "this model was trained on numeric features and has no preprocessing for raw \
             inputs (images, text, audio files): train it on a manifest to predict from files"
                .into(),
        )
    })
}

/// The model's modalities with their input kinds, for messages: `image: image, caption: text`.
fn modality_list(header: &ModelHeader, prep: &Preprocess) -> String {
    header
        .spec
        .modalities
        .iter()
        .zip(&prep.modalities)
        .map(|(n, p)| format!("{n}: {}", p.kind()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which raw inputs a model takes, by kind: what a front end that predicts from an
/// image, a text and an audio clip (the page, the widget) offers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Takes {
    pub image: bool,
    pub text: bool,
    pub audio: bool,
}

/// The inputs of one sample as such a front end gives them (each may be missing).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SampleInputs {
    /// Image file bytes, or pixels.
    pub image: Option<RawInput>,
    pub text: Option<String>,
    /// WAV file bytes.
    pub audio: Option<Vec<u8>>,
}

/// The kinds a front end offers, in the order of their fields in [`SampleInputs`].
const OFFERED: [ColumnKind; 3] = [ColumnKind::Image, ColumnKind::Text, ColumnKind::Audio];

/// Which of an image, a text and an audio clip the model takes; an error when it takes
/// none of them (only feature vectors) or has no preprocessing for raw inputs.
pub fn input_kinds(header: &ModelHeader) -> Result<Takes> {
    let prep = preprocess_of(header)?;
    let takes = |kind| prep.modalities.iter().any(|p| p.kind() == kind);
    let [image, text, audio] = OFFERED.map(takes);
    if !(image || text || audio) {
        return Err(MlaError::Model(format!(
            "this model takes no image, text or audio ({}): predict with `mla-native predict`",
            modality_list(header, prep)
        )));
    }
    Ok(Takes { image, text, audio })
}

/// The sample rate a model's audio modality was trained at, which its clips must have
/// (a front end that records resamples to it); `None` for a model without audio.
pub fn audio_rate(header: &ModelHeader) -> Option<u32> {
    header
        .preprocess
        .as_ref()?
        .modalities
        .iter()
        .find_map(|p| match p {
            crate::data::Preprocessor::Audio(a) => Some(a.sample_rate),
            _ => None,
        })
}

/// Puts an image, a text and an audio clip (any may be missing) where the model's
/// modalities take them, by each modality's kind (other modalities are missing): what
/// `predict_sample` expects. An input the model has no modality for is an error naming
/// the model's modalities.
pub fn sample_inputs(header: &ModelHeader, inputs: SampleInputs) -> Result<Vec<Option<RawInput>>> {
    let takes = input_kinds(header)?;
    let prep = preprocess_of(header)?;
    if let Some(raw) = inputs
        .image
        .as_ref()
        .filter(|r| r.kind() != ColumnKind::Image)
    {
        return Err(MlaError::Data(format!(
            "the image input holds {} input, not an image",
            raw.kind()
        )));
    }
    let SampleInputs { image, text, audio } = inputs;
    let given = [image, text.map(RawInput::Text), audio.map(RawInput::Audio)];
    for ((given, takes), kind) in given
        .iter()
        .zip([takes.image, takes.text, takes.audio])
        .zip(OFFERED)
    {
        if given.is_some() && !takes {
            return Err(MlaError::Data(format!(
                "this model takes no {kind} ({}): leave it out",
                modality_list(header, prep)
            )));
        }
    }
    Ok(prep
        .modalities
        .iter()
        .map(|p| {
            OFFERED
                .iter()
                .position(|&k| k == p.kind())
                .and_then(|i| given[i].clone())
        })
        .collect())
}

/// Which column of `manifest` feeds each of the model's modalities (matched by name;
/// `None`: the manifest lacks it, so it is missing for every row). A column the model
/// does not know, or of another kind, is an error.
pub fn manifest_columns(header: &ModelHeader, manifest: &Manifest) -> Result<Vec<Option<usize>>> {
    let prep = preprocess_of(header)?;
    let names = &header.spec.modalities;
    if let Some(c) = manifest.columns.iter().find(|c| !names.contains(&c.name)) {
        return Err(MlaError::Data(format!(
            "{}: column `{}` is not one of the model's modalities ({})",
            manifest.name,
            c.header(),
            names.join(", ")
        )));
    }
    names
        .iter()
        .zip(&prep.modalities)
        .map(|(name, p)| {
            let Some(i) = manifest.column(name) else {
                return Ok(None);
            };
            let kind = manifest.columns[i].kind;
            if kind != p.kind() {
                return Err(MlaError::Data(format!(
                    "{}: column `{name}` holds {kind}, the model's `{name}` takes {}",
                    manifest.name,
                    p.kind()
                )));
            }
            Ok(Some(i))
        })
        .collect()
}

/// The raw inputs of one manifest row for the model (`columns` from
/// [`manifest_columns`]); `read(path)` returns a file's bytes. Errors name the line.
pub fn row_inputs(
    manifest: &Manifest,
    row: &ManifestRow,
    columns: &[Option<usize>],
    read: &mut dyn FnMut(&str) -> std::result::Result<Vec<u8>, String>,
) -> Result<Vec<Option<RawInput>>> {
    columns
        .iter()
        .map(|c| {
            let Some(i) = *c else { return Ok(None) };
            let Some(cell) = row.cells[i].as_deref() else {
                return Ok(None);
            };
            let column = &manifest.columns[i];
            crate::data::manifest::preprocess::read_cell(&column.name, column.kind, cell, read)
                .map(Some)
                .map_err(|why| {
                    MlaError::Data(format!("{} line {}: {why}", manifest.name, row.line))
                })
        })
        .collect()
}

/// Preprocesses raw inputs (one `Option` per modality, `None` = missing) into a
/// one-sample data set, as the model's header says.
pub fn sample_dataset(header: &ModelHeader, inputs: &[Option<RawInput>]) -> Result<Dataset> {
    let prep = preprocess_of(header)?;
    let spec = &header.spec;
    if inputs.len() != spec.modalities.len() {
        return Err(MlaError::Data(format!(
            "the model has {} modalities ({}), got {} inputs",
            spec.modalities.len(),
            spec.modalities.join(", "),
            inputs.len()
        )));
    }
    if inputs.iter().all(Option::is_none) {
        return Err(MlaError::Data(format!(
            "give at least one input ({})",
            modality_list(header, prep)
        )));
    }
    let modalities = spec
        .modalities
        .iter()
        .zip(&spec.inputs)
        .zip(prep.modalities.iter().zip(inputs))
        .map(|((name, kind), (p, input))| {
            let values = match input {
                None => vec![0.0; kind.item_len()],
                Some(raw) => p.apply(name, raw)?,
            };
            Ok(ModalityData {
                name: name.clone(),
                kind: kind.clone(),
                values: values.into(),
                present: vec![input.is_some()],
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Dataset::new(modalities, vec![0], spec.num_classes)
}

/// Predicts one sample (model without autodiff on `device`). One asynchronous read.
pub async fn predict_sample(
    model: &MultimodalModel,
    header: &ModelHeader,
    inputs: &[Option<RawInput>],
    device: &Device,
) -> Result<SamplePrediction> {
    let data = sample_dataset(header, inputs)?;
    let batch = Batch::gather(&data, &[0], device);
    let out = predict(model, header.fusion, &batch)?;
    let [m, _, c] = out.unimodal.dims();
    let probs = softmax(out.unimodal.clone(), 2).reshape([m * c]);
    let entropy = crate::fusion::entropy(out.unimodal).reshape([m]);
    let fused = softmax(out.fused, 1).reshape([c]);
    let all = Tensor::cat(vec![probs, entropy, out.weights.reshape([m]), fused], 0);
    let values = read_floats(all).await?;
    let classes = preprocess_of(header)?.classes.clone();
    let modalities = (0..m)
        .map(|k| {
            let present = data.modalities[k].present[0];
            ModalityPrediction {
                name: data.modalities[k].name.clone(),
                present,
                probabilities: if present {
                    values[k * c..(k + 1) * c].to_vec()
                } else {
                    Vec::new()
                },
                entropy: if present { values[m * c + k] } else { 0.0 },
                weight: values[m * c + m + k],
            }
        })
        .collect();
    let probabilities = values[m * c + 2 * m..].to_vec();
    let class =
        probabilities.iter().enumerate().fold(
            0,
            |best, (i, p)| if *p > probabilities[best] { i } else { best },
        );
    Ok(SamplePrediction {
        classes,
        modalities,
        probabilities,
        class,
    })
}
