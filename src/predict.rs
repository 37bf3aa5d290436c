//! Predicting one sample from raw inputs: per-modality probabilities, entropies,
//! fusion weights and the fused class.

use burn::tensor::{Device, Tensor, activation::softmax};
use serde::{Deserialize, Serialize};

use crate::data::{Batch, Dataset, ModalityData, Preprocess, Preprocessor, image};
use crate::error::{MlaError, Result};
use crate::eval::{predict, read_floats};
use crate::io::ModelHeader;
use crate::model::MultimodalModel;

/// A raw input of one modality.
#[derive(Clone, Debug)]
pub enum RawInput {
    /// Image file bytes (PNG, JPEG, WebP).
    Image(Vec<u8>),
    /// A caption.
    Text(String),
}

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
    header
        .preprocess
        .as_ref()
        .ok_or_else(|| MlaError::Model("this model has no preprocessing for raw inputs".into()))
}

/// Puts an image and a caption (either may be missing) where the model's modalities
/// take them, by each modality's preprocessor: what `predict_sample` expects.
pub fn image_text_inputs(
    header: &ModelHeader,
    image: Option<Vec<u8>>,
    text: Option<String>,
) -> Result<Vec<Option<RawInput>>> {
    Ok(preprocess_of(header)?
        .modalities
        .iter()
        .map(|p| match p {
            Preprocessor::Image { .. } => image.clone().map(RawInput::Image),
            Preprocessor::Text(_) => text.clone().map(RawInput::Text),
        })
        .collect())
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
        return Err(MlaError::Data(
            "give at least one input (an image or a text)".into(),
        ));
    }
    let modalities = spec
        .modalities
        .iter()
        .zip(&spec.inputs)
        .zip(prep.modalities.iter().zip(inputs))
        .map(|((name, kind), (p, input))| {
            let len = kind.item_len();
            let values = match (p, input) {
                (_, None) => vec![0.0; len],
                (Preprocessor::Image { size }, Some(RawInput::Image(bytes))) => {
                    image::preprocess(name, bytes, *size)?
                }
                (Preprocessor::Text(t), Some(RawInput::Text(text))) => t.encoder().encode(text),
                (_, Some(_)) => {
                    return Err(MlaError::Data(format!(
                        "modality `{name}` does not take that kind of input"
                    )));
                }
            };
            Ok(ModalityData {
                name: name.clone(),
                kind: kind.clone(),
                values,
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
