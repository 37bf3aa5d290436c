//! Frozen encoders' features, computed once per sample before training: an epoch then
//! costs only the projection and the head.

use std::collections::HashMap;

use burn::tensor::Device;

use super::{Backbone, EncoderFiles, Net, PretrainedSettings, TrainMode, sha256_hex};
use crate::data::{
    EncoderInput, InputKind, Manifest, ManifestConfig, ManifestData, ModalityData, Preprocessor,
    Splits, StreamFeatures, from_manifest_streaming,
};
use crate::device::read_floats;
use crate::error::Result;
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
    let present: Vec<u8> = data.present.iter().map(|&p| u8::from(p)).collect();
    inputs_key(sha256, &format!("{:?}", data.kind), &data.values, &present)
}

/// SHA-256 of the encoder file's hash, a description of the inputs, every input value
/// and `tail`: equal keys mean the same computation.
fn inputs_key(sha256: &str, label: &str, values: &[f32], tail: &[u8]) -> String {
    let mut bytes = Vec::with_capacity(sha256.len() + label.len() + values.len() * 4 + tail.len());
    bytes.extend_from_slice(sha256.as_bytes());
    bytes.extend_from_slice(label.as_bytes());
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    bytes.extend_from_slice(tail);
    sha256_hex(&bytes)
}

/// The settings of `encoder` when it is a frozen pretrained one (its features are
/// computed once, before training).
fn frozen(encoder: &EncoderConfig) -> Option<PretrainedSettings> {
    encoder
        .pretrained()
        .filter(|settings| settings.train == TrainMode::Frozen)
}

/// Per encoder, the size of its features when it is frozen and pretrained (its image
/// columns keep these instead of their pixels: [`from_manifest_extracting`]).
pub fn frozen_dims(encoders: &[EncoderConfig]) -> Vec<Option<usize>> {
    encoders
        .iter()
        .map(|e| frozen(e).map(|s| s.net.feature_dim()))
        .collect()
}

/// The network's features `[n, dim]` of `n` inputs of `kind` (`flat`, sample-major).
async fn features_of(
    backbone: &Backbone,
    kind: &InputKind,
    flat: Vec<f32>,
    n: usize,
    device: &Device,
) -> Result<Vec<f32>> {
    let input = EncoderInput::from_values(kind, flat, n, device);
    read_floats(backbone.features(&input)?).await
}

/// The items `rows` one after the other, copied once into a vector of their size.
fn gather<'a>(rows: &[usize], item: impl Fn(usize) -> &'a [f32]) -> Vec<f32> {
    let mut flat = Vec::with_capacity(rows.first().map_or(0, |&i| item(i).len()) * rows.len());
    for &i in rows {
        flat.extend_from_slice(item(i));
    }
    flat
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
                (
                    InputKind::Tokens { len, vocab },
                    gather(chunk, |i| &data.item(i)[..len]),
                )
            }
            ref kind => (kind.clone(), gather(chunk, |i| data.item(i))),
        };
        let features = features_of(backbone, &kind, flat, chunk.len(), device).await?;
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
        let Some(settings) = frozen(encoder) else {
            continue;
        };
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
                    // Where this stretch of work starts, so that a front end times it
                    // from here (a chunk can hold all of a small modality).
                    progress(&report(before, false));
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

/// What computing frozen pretrained encoders' features needs besides the encoders:
/// their files, the device, a cache and progress.
pub struct Extraction<'a> {
    pub files: &'a EncoderFiles,
    pub device: &'a Device,
    pub cache: &'a mut dyn FeatureCache,
    pub progress: &'a mut dyn FnMut(&ExtractProgress),
}

/// Builds the data set of `manifest` ([`from_manifest_streaming`]) and replaces each
/// column whose encoder is frozen and pretrained by its features: image columns while
/// they are decoded, a chunk at a time, so that memory holds the features and never
/// every decoded image; text columns (small token ids) after the split, as
/// [`extract_features`] does. `fixed` comes from [`super::prepare`] on `encoders`
/// (one per column).
pub async fn from_manifest_extracting(
    manifest: &Manifest,
    read: impl FnMut(&str) -> std::result::Result<Vec<u8>, String>,
    config: &ManifestConfig,
    fixed: &[Option<Preprocessor>],
    encoders: &[EncoderConfig],
    extraction: Extraction<'_>,
) -> Result<ManifestData> {
    let mut stream = Stream {
        encoders,
        extraction,
        columns: HashMap::new(),
    };
    let mut data = from_manifest_streaming(manifest, read, config, fixed, &mut stream).await?;
    let Extraction {
        files,
        device,
        cache,
        progress,
    } = stream.extraction;
    extract_features(&mut data.splits, encoders, files, device, cache, progress).await?;
    Ok(data)
}

/// The pretrained networks `encoders` use (one per pretrained encoder, in order): the
/// encoder files a front end gets before [`manifest_for_encoders`].
pub fn networks(encoders: &[EncoderConfig]) -> Vec<Net> {
    encoders
        .iter()
        .filter_map(|e| e.pretrained().map(|p| p.net))
        .collect()
}

/// A manifest's data set for `encoders` (one per column), what every front end trains
/// on: each pretrained encoder pinned to its file's SHA-256 ([`super::prepare`]);
/// `before` told each column's preprocessing and each frozen encoder's feature size
/// (where a front end checks that the build fits its memory and says what comes);
/// then the data built with the frozen encoders' features
/// ([`from_manifest_extracting`]). Returns the data and the pinned encoders.
pub async fn manifest_for_encoders<B, Fut>(
    manifest: &Manifest,
    read: impl FnMut(&str) -> std::result::Result<Vec<u8>, String>,
    config: &ManifestConfig,
    mut encoders: Vec<EncoderConfig>,
    before: B,
    extraction: Extraction<'_>,
) -> Result<(ManifestData, Vec<EncoderConfig>)>
where
    B: FnOnce(&[Option<Preprocessor>], &[Option<usize>]) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let fixed = super::prepare(&mut encoders, extraction.files)?;
    before(&fixed, &frozen_dims(&encoders)).await?;
    let data =
        from_manifest_extracting(manifest, read, config, &fixed, &encoders, extraction).await?;
    Ok((data, encoders))
}

/// [`from_manifest_extracting`]'s image columns, while they are decoded.
struct Stream<'e, 'x> {
    encoders: &'e [EncoderConfig],
    extraction: Extraction<'x>,
    /// Per streamed column: its progress so far, its input kind and its network
    /// (loaded at the first chunk the cache does not have).
    columns: HashMap<usize, StreamedColumn>,
}

struct StreamedColumn {
    progress: ExtractProgress,
    kind: InputKind,
    /// The frozen encoder's settings and its feature size.
    settings: PretrainedSettings,
    dim: usize,
    sha256: String,
    backbone: Option<Backbone>,
}

impl StreamFeatures for Stream<'_, '_> {
    fn start(
        &mut self,
        column: usize,
        name: &str,
        kind: &InputKind,
        cells: usize,
    ) -> Option<usize> {
        let settings = frozen(self.encoders.get(column)?)?;
        // A missing or different file is reported by `extract_features` later.
        let file = self
            .extraction
            .files
            .get(settings.net, settings.sha256.as_deref())
            .ok()?;
        let dim = settings.net.feature_dim();
        self.columns.insert(
            column,
            StreamedColumn {
                progress: ExtractProgress {
                    modality: name.to_string(),
                    done: 0,
                    total: cells,
                    cached: false,
                },
                kind: kind.clone(),
                dim,
                sha256: file.sha256.clone(),
                settings,
                backbone: None,
            },
        );
        // Where the column's work starts (see `extract_features`).
        (self.extraction.progress)(&self.columns[&column].progress);
        Some(dim)
    }

    async fn features(&mut self, column: usize, items: Vec<f32>, n: usize) -> Result<Vec<f32>> {
        let x = &mut self.extraction;
        let c = self
            .columns
            .get_mut(&column)
            .expect("`start` accepted the column");
        // The key names the encoder file and every value of the chunk, as
        // `cache_key` does for a whole split.
        let key = inputs_key(&c.sha256, &format!("{:?} x {n}", c.kind), &items, &[]);
        let (features, cached) = match x.cache.get(&key) {
            Some(values) if values.len() == n * c.dim => (values, true),
            _ => {
                if c.backbone.is_none() {
                    let file = x.files.get(c.settings.net, c.settings.sha256.as_deref())?;
                    c.backbone = Some(file.backbone(x.device)?);
                }
                let net = c.backbone.as_ref().expect("loaded above");
                let values = features_of(net, &c.kind, items, n, x.device).await?;
                x.cache.put(&key, &values);
                (values, false)
            }
        };
        c.progress.done += n;
        c.progress.cached = cached;
        (x.progress)(&c.progress);
        Ok(features)
    }
}
