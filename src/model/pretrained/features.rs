//! Frozen encoders' features, computed once per sample before training: an epoch then
//! costs only the projection and the head.

use burn::tensor::Device;

use super::{Backbone, EncoderFiles, TrainMode, sha256_hex};
use crate::data::{EncoderInput, InputKind, ModalityData, Splits};
use crate::error::Result;
use crate::eval::read_floats;
use crate::model::EncoderConfig;

/// Samples per forward pass of a network while extracting.
const CHUNK: usize = 32;

/// Where features computed earlier can be kept (a directory natively); keys name the
/// encoder file and every input value, so a hit is always the same computation.
pub trait FeatureCache {
    /// The features stored under `key`, if any.
    fn get(&mut self, key: &str) -> Option<Vec<f32>>;
    /// Stores features under `key` (failures are the cache's own business).
    fn put(&mut self, key: &str, features: &[f32]);
}

/// No cache: every run computes its features.
pub struct NoCache;

impl FeatureCache for NoCache {
    fn get(&mut self, _: &str) -> Option<Vec<f32>> {
        None
    }
    fn put(&mut self, _: &str, _: &[f32]) {}
}

/// How far extraction is.
#[derive(Clone, Debug, PartialEq)]
pub struct ExtractProgress {
    /// The modality being extracted.
    pub modality: String,
    /// Its samples done so far (present ones; absent samples cost nothing).
    pub done: usize,
    /// Its present samples in all splits.
    pub total: usize,
    /// Whether the last part came from the cache.
    pub cached: bool,
}

/// The cache key of one modality's inputs through the encoder file `sha256`.
fn cache_key(sha256: &str, data: &ModalityData) -> String {
    let mut bytes = Vec::with_capacity(64 + data.values.len() * 4 + data.present.len());
    bytes.extend_from_slice(sha256.as_bytes());
    bytes.extend_from_slice(format!("{:?}", data.kind).as_bytes());
    for v in data.values.iter() {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    bytes.extend(data.present.iter().map(|&p| u8::from(p)));
    sha256_hex(&bytes)
}

/// Runs `backbone` over the present samples of `data` (`CHUNK` at a time, one
/// asynchronous read each): a modality of kind `Features { dim }`, zeros where absent.
/// `progress(done)` after each chunk.
pub async fn extract_modality(
    data: &ModalityData,
    backbone: &Backbone,
    dim: usize,
    device: &Device,
    progress: &mut dyn FnMut(usize),
) -> Result<ModalityData> {
    let present: Vec<usize> = (0..data.present.len())
        .filter(|&i| data.present[i])
        .collect();
    let mut values = vec![0.0; data.present.len() * dim];
    let mut done = 0;
    for chunk in present.chunks(CHUNK) {
        let (kind, flat) = match data.kind {
            // Padding sits at the end of each text and the network leaves it out:
            // cutting the batch to its longest text gives the same features sooner.
            InputKind::Tokens { vocab, .. } => {
                let len = chunk
                    .iter()
                    .map(|&i| {
                        data.item(i)
                            .iter()
                            .rposition(|&t| t != 0.0)
                            .map_or(1, |p| p + 1)
                    })
                    .max()
                    .unwrap_or(1);
                let flat = chunk
                    .iter()
                    .flat_map(|&i| data.item(i)[..len].to_vec())
                    .collect();
                (InputKind::Tokens { len, vocab }, flat)
            }
            ref kind => (
                kind.clone(),
                chunk.iter().flat_map(|&i| data.item(i).to_vec()).collect(),
            ),
        };
        let input = EncoderInput::from_values(&kind, flat, chunk.len(), device);
        let features = read_floats(backbone.features(&input)?).await?;
        for (k, &i) in chunk.iter().enumerate() {
            values[i * dim..(i + 1) * dim].copy_from_slice(&features[k * dim..(k + 1) * dim]);
        }
        done += chunk.len();
        progress(done);
    }
    Ok(ModalityData {
        name: data.name.clone(),
        kind: InputKind::Features { dim },
        values: values.into(),
        present: data.present.clone(),
    })
}

/// Replaces, in every split, the inputs of each modality whose encoder is a frozen
/// pretrained one by that encoder's features (from `cache` when it has them). Other
/// modalities are left as they are. `encoders` are the resolved encoders, one per
/// modality; their files come from `files` (checked against the SHA-256 they name).
pub async fn extract_features(
    splits: &mut Splits,
    encoders: &[EncoderConfig],
    files: &EncoderFiles,
    device: &Device,
    cache: &mut dyn FeatureCache,
    progress: &mut dyn FnMut(&ExtractProgress),
) -> Result<()> {
    for (m, encoder) in encoders.iter().enumerate() {
        let Some(settings) = encoder.pretrained() else {
            continue;
        };
        if settings.train != TrainMode::Frozen {
            continue;
        }
        let file = files.get(settings.net, settings.sha256.as_deref())?;
        let dim = settings.net.feature_dim();
        let name = splits.train.modalities[m].name.clone();
        let parts = [&mut splits.train, &mut splits.valid, &mut splits.test];
        let total: usize = parts
            .iter()
            .map(|p| p.modalities[m].present.iter().filter(|&&x| x).count())
            .sum();
        let mut backbone = None;
        let mut before = 0;
        for part in parts {
            let data = &part.modalities[m];
            if data.kind == (InputKind::Features { dim }) {
                continue; // already extracted
            }
            let key = cache_key(&file.sha256, data);
            let here = data.present.iter().filter(|&&x| x).count();
            let report = |done, cached| ExtractProgress {
                modality: name.clone(),
                done,
                total,
                cached,
            };
            let extracted = match cache.get(&key) {
                Some(values) if values.len() == data.present.len() * dim => {
                    progress(&report(before + here, true));
                    ModalityData {
                        name: data.name.clone(),
                        kind: InputKind::Features { dim },
                        values: values.into(),
                        present: data.present.clone(),
                    }
                }
                _ => {
                    if backbone.is_none() {
                        backbone = Some(file.backbone(device)?);
                    }
                    let net = backbone.as_ref().expect("loaded above");
                    let out = extract_modality(data, net, dim, device, &mut |done| {
                        progress(&report(before + done, false))
                    })
                    .await?;
                    cache.put(&key, &out.values);
                    out
                }
            };
            before += here;
            part.modalities[m] = extracted;
        }
    }
    Ok(())
}
