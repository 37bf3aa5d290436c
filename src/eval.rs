//! Unimodal and fused accuracy.

use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};

use crate::data::{Batch, Dataset};
use crate::device::read_floats;
use crate::error::Result;
use crate::fusion::Fusion;
use crate::model::{HeadLayout, MultimodalModel};

/// Accuracy of each modality alone and of the fused prediction, on one split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Modality names.
    pub modalities: Vec<String>,
    /// Accuracy of `argmax f_m`, over the samples that have modality `m`.
    pub unimodal: Vec<f64>,
    /// Accuracy of the fused prediction over all samples.
    pub fused: f64,
    /// Number of samples.
    pub samples: usize,
}

impl EvalReport {
    /// Index and accuracy of the best single modality.
    pub fn best_unimodal(&self) -> (usize, f64) {
        self.unimodal
            .iter()
            .copied()
            .enumerate()
            .fold(
                (0, f64::MIN),
                |best, (i, a)| if a > best.1 { (i, a) } else { best },
            )
    }
}

/// Per-batch outputs of a model: unimodal logits, fused logits and fusion weights.
#[derive(Clone, Debug)]
pub struct Predictions {
    /// `[M, B, C]`
    pub unimodal: Tensor<3>,
    /// `[B, C]`
    pub fused: Tensor<2>,
    /// `[M, B]`: fusion weights `λ` (fused layouts: the presence mask over the count,
    /// or QMF's normalised confidences).
    pub weights: Tensor<2>,
}

/// Runs `model` (no autodiff) on one batch.
pub fn predict(model: &MultimodalModel, fusion: Fusion, batch: &Batch) -> Result<Predictions> {
    let features = model.all_features(batch)?;
    let unimodal: Tensor<3> = Tensor::stack(
        features
            .iter()
            .enumerate()
            .map(|(m, h)| model.unimodal_logits(m, h.clone()))
            .collect(),
        0,
    );
    // Calibrated MLA: each modality's logits over its temperature, before fusion.
    let unimodal = if model.temperatures.is_empty() {
        unimodal
    } else {
        let inverse: Vec<f32> = model.temperatures.iter().map(|t| 1.0 / t).collect();
        let m = inverse.len();
        let inverse = Tensor::<1>::from_floats(inverse.as_slice(), &unimodal.device());
        unimodal * inverse.reshape([m, 1, 1])
    };
    Ok(match model.layout {
        // MLA's heads, shared or not: test-time fusion of the unimodal predictions.
        HeadLayout::Shared | HeadLayout::SharedWeight | HeadLayout::Unshared => {
            let fused = fusion.fuse(unimodal.clone(), batch.present.clone());
            Predictions {
                unimodal,
                fused: fused.logits,
                weights: fused.weights,
            }
        }
        _ => {
            let (fused, weights) = model.head.fuse(features, &batch.present);
            Predictions {
                unimodal,
                fused,
                weights,
            }
        }
    })
}

/// Evaluates `model` (no autodiff) on `data` in batches of `batch_size`.
///
/// Counts stay on the device until one asynchronous read at the end, so this works in
/// the browser as well.
pub async fn evaluate(
    model: &MultimodalModel,
    fusion: Fusion,
    data: &Dataset,
    batch_size: usize,
    device: &Device,
) -> Result<EvalReport> {
    let m = data.num_modalities();
    let indices: Vec<usize> = (0..data.len()).collect();
    let mut correct = Tensor::<1>::zeros([m + 1], device);
    for chunk in indices.chunks(batch_size.max(1)) {
        let batch = Batch::gather(data, chunk, device);
        let out = predict(model, fusion, &batch)?;
        let b = chunk.len();
        let labels = batch.labels.clone();
        let uni = out.unimodal.argmax(2).reshape([m, b]);
        let hits_uni = uni
            .equal(labels.clone().reshape([1, b]).expand([m, b]))
            .float()
            * batch.present.clone();
        let hits_fused: Tensor<1, Int> = out.fused.argmax(1).reshape([b]);
        let hits_fused = hits_fused.equal(labels).float().sum();
        correct = correct + Tensor::cat(vec![hits_uni.sum_dim(1).reshape([m]), hits_fused], 0);
    }
    let counts = read_floats(correct).await?;
    let unimodal = (0..m)
        .map(|k| {
            let n = data.modalities[k].present.iter().filter(|p| **p).count();
            if n == 0 {
                0.0
            } else {
                counts[k] as f64 / n as f64
            }
        })
        .collect();
    Ok(EvalReport {
        modalities: data.names(),
        unimodal,
        fused: counts[m] as f64 / data.len().max(1) as f64,
        samples: data.len(),
    })
}
