//! A data set from a manifest and the files it names: every cell read and checked,
//! split into train, validation and test, and standardised or tokenised with the
//! training split's statistics, which are kept for predictions later.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::task::{Context, Poll, Waker};

use serde::{Deserialize, Serialize};

use crate::data::dataset::triage::triage;
use crate::data::dataset::{Dataset, InputKind, ModalityData, Splits};
use crate::data::features::fbank::{FbankConfig, wav_fbank};
use crate::data::features::standardize::Standardizer;
use crate::data::features::tokenizer::Tokenizer;
use crate::data::formats::image::ImageNorm;
use crate::data::manifest::preprocess::{
    AudioPreprocess, Preprocess, Preprocessor, RawInput, image_values, plain, read_cell,
};
use crate::data::manifest::table::{ColumnKind, Manifest};
use crate::data::transform::split::{check_fractions, stratified_split};
use crate::error::{MlaError, Result};
use crate::limits;

/// Settings for building a data set from a manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ManifestConfig {
    /// Side of the square images fed to the model.
    pub image_size: usize,
    /// Tokens per text.
    pub max_tokens: usize,
    /// Vocabulary size (most frequent training words).
    pub max_vocab: usize,
    /// Text columns also take each word's character n-grams.
    pub subwords: bool,
    /// Filterbank of audio columns; `frames` pads or cuts every clip to one length.
    pub fbank: FbankConfig,
    /// Share of each class held out for validation.
    pub valid_fraction: f64,
    /// Share of each class held out for testing.
    pub test_fraction: f64,
    /// Seed of the split.
    pub seed: u64,
    /// Leave out samples with a bad cell (listed in [`ManifestData::skipped`]) instead
    /// of failing.
    pub skip_bad: bool,
}

impl Default for ManifestConfig {
    fn default() -> Self {
        Self {
            image_size: 32,
            max_tokens: 16,
            max_vocab: 2000,
            subwords: false,
            fbank: FbankConfig {
                // 64 filters suit 8 kHz speech as well as 16 kHz and up; 1 s of frames.
                mel_bins: 64,
                frames: 100,
                ..FbankConfig::default()
            },
            valid_fraction: 0.15,
            test_fraction: 0.15,
            seed: 0,
            skip_bad: false,
        }
    }
}

impl ManifestConfig {
    /// Checks every field; errors name the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |f: &str, r: &str| Err(MlaError::config(format!("data.{f}"), r));
        if !(4..=256).contains(&self.image_size) {
            return bad("image_size", "must be in 4..=256");
        }
        if self.max_tokens == 0 || self.max_vocab == 0 {
            return bad("max_tokens/max_vocab", "must be at least 1");
        }
        for (field, value, max) in [
            ("max_tokens", self.max_tokens, limits::MAX_TOKENS),
            ("max_vocab", self.max_vocab, limits::MAX_VOCAB),
        ] {
            limits::within(field, value, max).or_else(|r| bad(field, &r))?;
        }
        self.fbank.validate()?;
        check_fractions(self.valid_fraction, self.test_fraction)
    }
}

/// A data set ready to train on.
#[derive(Clone, Debug)]
pub struct ManifestData {
    pub splits: Splits,
    pub preprocess: Preprocess,
    /// What was wrong with each sample left out (`skip_bad`), naming file and line.
    pub skipped: Vec<String>,
    /// The manifest line of each sample of the train, validation and test splits, in
    /// the splits' order (so that other tools can use the same split).
    pub lines: [Vec<usize>; 3],
}

/// One cell, read and decoded; statistics are fitted later on the training split.
enum Cell {
    /// Image pixels, a filterbank (with its sample rate) or a vector.
    Values {
        values: Vec<f32>,
        rate: u32,
    },
    Text(String),
    /// An image whose features (this many) are in its column's feature buffer.
    Streamed(usize),
}

impl Cell {
    /// Decodes a raw input; images become `image`'s size and normalisation.
    fn decode(
        name: &str,
        raw: RawInput,
        image: (usize, ImageNorm),
        config: &ManifestConfig,
    ) -> Result<Cell> {
        Ok(match raw {
            raw @ (RawInput::Image(_) | RawInput::Pixels { .. }) => Cell::Values {
                values: image_values(name, &raw, image.0, image.1)?,
                rate: 0,
            },
            RawInput::Audio(bytes) => {
                let (rate, values) = wav_fbank(name, &bytes, &config.fbank)?;
                Cell::Values { values, rate }
            }
            RawInput::Vector(values) => Cell::Values { values, rate: 0 },
            RawInput::Text(text) => Cell::Text(text),
        })
    }

    /// What must agree across a column: the sample rate and the number of values.
    fn shape(&self) -> Option<(u32, usize)> {
        match self {
            Cell::Values { values, rate } => Some((*rate, values.len())),
            Cell::Streamed(dim) => Some((0, *dim)),
            Cell::Text(_) => None,
        }
    }
}

/// The most common shape in a column (ties: the first seen).
fn column_shape(cells: &[&Cell]) -> Option<(u32, usize)> {
    let mut counts: HashMap<(u32, usize), (usize, usize)> = HashMap::new();
    for (k, shape) in cells.iter().filter_map(|c| c.shape()).enumerate() {
        counts.entry(shape).or_insert((0, k)).0 += 1;
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.0.cmp(&b.1.0).then(b.1.1.cmp(&a.1.1)))
        .map(|(shape, _)| shape)
}

fn shape_problem(kind: ColumnKind, got: (u32, usize), want: (u32, usize)) -> String {
    match kind {
        ColumnKind::Audio if got.0 != want.0 => format!(
            "{} Hz audio, most clips of the column are {} Hz",
            got.0, want.0
        ),
        ColumnKind::Audio => format!(
            "{} filterbank values, most clips of the column have {} (set `fbank.frames` to pad or cut every clip to one length)",
            got.1, want.1
        ),
        _ => format!("{} values, most rows of the column have {}", got.1, want.1),
    }
}

/// The side and normalisation a column's images are decoded at: its fixed
/// preprocessing's (a pretrained encoder), else `config.image_size`, symmetric.
pub(crate) fn image_setting(
    config: &ManifestConfig,
    fixed: Option<&Preprocessor>,
) -> (usize, ImageNorm) {
    match fixed {
        Some(Preprocessor::Image { size, norm }) => (*size, *norm),
        _ => (config.image_size, ImageNorm::Symmetric),
    }
}

/// Replaces image columns by features while a manifest is decoded, a chunk of images
/// at a time (a frozen pretrained encoder's): a data set of any size then holds its
/// features, never all its decoded images.
pub trait StreamFeatures {
    /// The feature size that column `c` (named `name`) becomes, or `None` to keep its
    /// values. `kind` is the shape of its decoded images; `cells`, how many rows have
    /// one. Asked once per image column, before any cell is read.
    fn start(&mut self, column: usize, name: &str, kind: &InputKind, cells: usize)
    -> Option<usize>;

    /// The features `[n, dim]` of `n` decoded images of column `c` (`items`:
    /// `[n, item_len]`, sample-major).
    fn features(
        &mut self,
        column: usize,
        items: Vec<f32>,
        n: usize,
    ) -> impl Future<Output = Result<Vec<f32>>>;
}

/// Keeps every column's values: no features are computed while building.
pub struct KeepValues;

impl StreamFeatures for KeepValues {
    fn start(&mut self, _: usize, _: &str, _: &InputKind, _: usize) -> Option<usize> {
        None
    }

    fn features(
        &mut self,
        _: usize,
        _: Vec<f32>,
        _: usize,
    ) -> impl Future<Output = Result<Vec<f32>>> {
        std::future::ready(Err(MlaError::Data(
            "no column streams features here".into(),
        )))
    }
}

/// Images decoded before their features are computed (one pass of the network).
const STREAM_CHUNK: usize = 32;

/// Builds the data set of `manifest`. `read(path)` returns the bytes of a path as
/// written in the manifest, or a message saying why it cannot. Every cell is read and
/// checked before anything else, so that all bad rows are reported at once (or left
/// out with `skip_bad`).
pub fn from_manifest(
    manifest: &Manifest,
    read: impl FnMut(&str) -> std::result::Result<Vec<u8>, String>,
    config: &ManifestConfig,
) -> Result<ManifestData> {
    from_manifest_with(manifest, read, config, &[])
}

/// [`from_manifest`], with the preprocessing of some columns fixed in advance (entry
/// `c` for column `c`; missing or `None`: fitted or set from `config` as usual): what
/// a pretrained encoder reading the column expects (its image size and
/// normalisation, its WordPiece vocabulary).
pub fn from_manifest_with(
    manifest: &Manifest,
    read: impl FnMut(&str) -> std::result::Result<Vec<u8>, String>,
    config: &ManifestConfig,
    fixed: &[Option<Preprocessor>],
) -> Result<ManifestData> {
    let mut keep = KeepValues;
    let build = from_manifest_streaming(manifest, read, config, fixed, &mut keep);
    // Nothing in it waits without a feature stream: one poll finishes it.
    match std::pin::pin!(build).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(data) => data,
        Poll::Pending => Err(MlaError::Data(
            "building the data set waited with no feature stream".into(),
        )),
    }
}

/// [`from_manifest_with`], where `stream` may replace image columns with a fixed
/// preprocessing by their features as they are decoded (see [`StreamFeatures`]): those
/// columns become `Features { dim }` modalities, zeros where absent, and memory holds
/// at most [`STREAM_CHUNK`] of their decoded images at a time.
pub async fn from_manifest_streaming(
    manifest: &Manifest,
    read: impl FnMut(&str) -> std::result::Result<Vec<u8>, String>,
    config: &ManifestConfig,
    fixed: &[Option<Preprocessor>],
    stream: &mut impl StreamFeatures,
) -> Result<ManifestData> {
    config.validate()?;
    let fixed = |c: usize| fixed.get(c).and_then(Option::as_ref);
    check_columns(manifest, &fixed)?;
    let columns = &manifest.columns;
    let images: Vec<(usize, ImageNorm)> = (0..columns.len())
        .map(|c| image_setting(config, fixed(c)))
        .collect();
    // Each streamed column's feature size.
    let streams: Vec<Option<usize>> = columns
        .iter()
        .enumerate()
        .map(|(c, column)| match fixed(c) {
            Some(p @ Preprocessor::Image { .. }) => {
                let cells = manifest.rows.iter().filter(|r| r.cells[c].is_some());
                stream.start(c, &column.name, &p.input_kind(), cells.count())
            }
            _ => None,
        })
        .collect();
    let decoded = decode_rows(manifest, read, config, &images, &streams, stream).await?;
    let Decoded {
        mut cells,
        mut problems,
        mut features,
    } = decoded;
    let shapes = check_shapes(manifest, &cells, &mut problems);
    let kept = keep_good_rows(manifest, &mut cells, &problems, config.skip_bad)?;
    let (train, valid, test) = stratified_split(
        &kept.labels,
        kept.classes.len(),
        config.valid_fraction,
        config.test_fraction,
        config.seed,
    )?;
    let mut modalities = Vec::with_capacity(columns.len());
    let mut preprocessors = Vec::with_capacity(columns.len());
    for (c, column) in columns.iter().enumerate() {
        let present: Vec<bool> = cells.iter().map(|r| r[c].is_some()).collect();
        let (preprocessor, values) = match streams[c] {
            Some(dim) => {
                let mut values = std::mem::take(&mut features[c]);
                keep_rows(&mut values, dim, &kept.rows);
                let preprocessor = fixed(c).expect("streamed columns are fixed").clone();
                (preprocessor, values)
            }
            None => {
                let train_present: Vec<usize> =
                    train.iter().copied().filter(|&i| present[i]).collect();
                let column = ColumnData {
                    c,
                    kind: column.kind,
                    cells: &cells,
                    present: &present,
                    train_present: &train_present,
                };
                column.preprocess(fixed(c), shapes[c], images[c], config)?
            }
        };
        let input = match streams[c] {
            Some(dim) => InputKind::Features { dim },
            None => preprocessor.input_kind(),
        };
        modalities.push(ModalityData {
            name: column.name.clone(),
            kind: input,
            values: values.into(),
            present,
        });
        preprocessors.push(preprocessor);
    }
    drop(cells);
    let all = Dataset::new(modalities, kept.labels, kept.classes.len())?;
    let splits = all.split_into(&train, &valid, &test)?;
    let line = |i: &usize| manifest.rows[kept.rows[*i]].line;
    let lines = [&train, &valid, &test].map(|part| part.iter().map(line).collect());
    Ok(ManifestData {
        lines,
        splits,
        preprocess: Preprocess {
            classes: kept.classes,
            modalities: preprocessors,
        },
        skipped: kept.skipped,
    })
}

/// Checks what a manifest must have before its cells are read: a label column, two
/// modality columns, and the kind each fixed preprocessing (`fixed(c)`) reads.
fn check_columns<'a>(
    manifest: &Manifest,
    fixed: &impl Fn(usize) -> Option<&'a Preprocessor>,
) -> Result<()> {
    let name = &manifest.name;
    if !manifest.has_labels {
        return Err(MlaError::Data(format!(
            "{name}: no `label` column; training needs one"
        )));
    }
    let columns = &manifest.columns;
    if columns.len() < 2 {
        return Err(MlaError::Data(format!(
            "{name}: one modality column (`{}`); MLA needs at least two",
            columns[0].header()
        )));
    }
    for (c, column) in columns.iter().enumerate() {
        if let Some(p) = fixed(c)
            && p.kind() != column.kind
        {
            return Err(MlaError::Data(format!(
                "{name}: column `{}` holds {}, but its encoder reads {}",
                column.header(),
                column.kind,
                p.kind()
            )));
        }
    }
    Ok(())
}

/// Every row's cells, read and decoded, with what was wrong with each row, and the
/// streamed columns' features (row by row, zeros where absent).
struct Decoded {
    cells: Vec<Vec<Option<Cell>>>,
    problems: Vec<Vec<String>>,
    features: Vec<Vec<f32>>,
}

/// Reads and decodes every cell; the images of streamed columns (`streams[c]`: their
/// feature size) go to `stream` a chunk at a time as they are decoded.
async fn decode_rows(
    manifest: &Manifest,
    mut read: impl FnMut(&str) -> std::result::Result<Vec<u8>, String>,
    config: &ManifestConfig,
    images: &[(usize, ImageNorm)],
    streams: &[Option<usize>],
    stream: &mut impl StreamFeatures,
) -> Result<Decoded> {
    let (columns, n) = (&manifest.columns, manifest.rows.len());
    let mut problems: Vec<Vec<String>> = vec![Vec::new(); n];
    let mut features: Vec<Vec<f32>> = streams
        .iter()
        .map(|dim| vec![0.0; dim.map_or(0, |d| n * d)])
        .collect();
    // The decoded images waiting for the next pass of the network, with their rows.
    let mut waiting: Vec<(Vec<f32>, Vec<usize>)> = vec![Default::default(); columns.len()];
    let mut cells: Vec<Vec<Option<Cell>>> = Vec::with_capacity(n);
    for (r, (row, found)) in manifest.rows.iter().zip(&mut problems).enumerate() {
        if row.label.is_none() {
            found.push("the `label` cell is empty".into());
        }
        let mut decoded = Vec::with_capacity(columns.len());
        for (c, ((column, cell), &image)) in columns.iter().zip(&row.cells).zip(images).enumerate()
        {
            let Some(cell) = cell.as_deref() else {
                decoded.push(None);
                continue;
            };
            let got = read_cell(&column.name, column.kind, cell, &mut read).and_then(|raw| {
                Cell::decode(cell, raw, image, config)
                    .map_err(|e| format!("column `{}`: {}", column.name, plain(&e)))
            });
            decoded.push(match (got, streams[c]) {
                (Ok(Cell::Values { values, .. }), Some(dim)) => {
                    waiting[c].0.extend_from_slice(&values);
                    waiting[c].1.push(r);
                    Some(Cell::Streamed(dim))
                }
                (Ok(cell), _) => Some(cell),
                (Err(why), _) => {
                    found.push(why);
                    None
                }
            });
        }
        cells.push(decoded);
        for c in 0..columns.len() {
            if waiting[c].1.len() >= STREAM_CHUNK || (r + 1 == n && !waiting[c].1.is_empty()) {
                let (items, at) = std::mem::take(&mut waiting[c]);
                let dim = streams[c].expect("only streamed columns wait");
                let got = stream.features(c, items, at.len()).await?;
                if got.len() != at.len() * dim {
                    return Err(MlaError::Data(format!(
                        "{}: column `{}`: {} feature values for {} images of {dim}",
                        manifest.name,
                        columns[c].name,
                        got.len(),
                        at.len()
                    )));
                }
                for (k, &row) in at.iter().enumerate() {
                    features[c][row * dim..(row + 1) * dim]
                        .copy_from_slice(&got[k * dim..(k + 1) * dim]);
                }
            }
        }
    }
    Ok(Decoded {
        cells,
        problems,
        features,
    })
}

/// Each column's shape (that of most of its cells), with every cell of another shape
/// added to its row's problems. The good rows left all have their column's shape, so
/// it is found once, here.
fn check_shapes(
    manifest: &Manifest,
    cells: &[Vec<Option<Cell>>],
    problems: &mut [Vec<String>],
) -> Vec<Option<(u32, usize)>> {
    let columns = &manifest.columns;
    let shapes: Vec<Option<(u32, usize)>> = (0..columns.len())
        .map(|c| {
            column_shape(
                &cells
                    .iter()
                    .filter_map(|r| r[c].as_ref())
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    for ((c, column), want) in columns.iter().enumerate().zip(&shapes) {
        let Some(want) = *want else {
            continue;
        };
        for ((row, found), written) in cells.iter().zip(problems.iter_mut()).zip(&manifest.rows) {
            if let Some(got) = row[c].as_ref().and_then(Cell::shape).filter(|&s| s != want) {
                // The file, where the cell names one.
                let file = written.cells[c]
                    .as_deref()
                    .filter(|cell| column.kind.holds_path(cell))
                    .map(|cell| format!("`{cell}`: "))
                    .unwrap_or_default();
                found.push(format!(
                    "column `{}`: {file}{}",
                    column.name,
                    shape_problem(column.kind, got, want)
                ));
            }
        }
    }
    shapes
}

/// The rows without problems, what was wrong with the others, and the classes.
struct Kept {
    /// Indices of the rows kept (ascending), into the manifest's rows.
    rows: Vec<usize>,
    /// One message per row left out (`skip_bad`).
    skipped: Vec<String>,
    /// The labels, sorted.
    classes: Vec<String>,
    /// Each kept row's class index.
    labels: Vec<usize>,
}

/// Reports the rows with problems (an error listing them, or, with `skip_bad`, leaves
/// them out of `cells`), then checks that what is left can be trained on.
fn keep_good_rows(
    manifest: &Manifest,
    cells: &mut Vec<Vec<Option<Cell>>>,
    problems: &[Vec<String>],
    skip_bad: bool,
) -> Result<Kept> {
    let name = &manifest.name;
    let bad: Vec<String> = manifest
        .rows
        .iter()
        .zip(problems)
        .filter(|(_, p)| !p.is_empty())
        .map(|(row, p)| format!("{name} line {}: {}", row.line, p.join("; ")))
        .collect();
    let skipped = triage(name, bad, skip_bad)?;
    let rows: Vec<usize> = (0..manifest.rows.len())
        .filter(|&r| problems[r].is_empty())
        .collect();
    let mut good = problems.iter().map(|p| p.is_empty());
    cells.retain(|_| good.next().unwrap_or(false));
    if rows.is_empty() {
        return Err(MlaError::Data(format!(
            "{name}: no sample is left after skipping {} bad ones",
            skipped.len()
        )));
    }
    let label = |r: &usize| manifest.rows[*r].label.clone().expect("checked above");
    let classes: Vec<String> = rows
        .iter()
        .map(label)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if classes.len() < 2 {
        return Err(MlaError::Data(format!(
            "{name}: every sample has the label `{}`; training needs at least 2 classes",
            classes[0]
        )));
    }
    if let Some(c) = (0..manifest.columns.len()).find(|&c| cells.iter().all(|r| r[c].is_none())) {
        return Err(MlaError::Data(format!(
            "{name}: no sample has a `{}` cell; every modality needs some",
            manifest.columns[c].name
        )));
    }
    let labels = rows
        .iter()
        .map(|r| {
            classes
                .binary_search(&label(r))
                .expect("label is in classes")
        })
        .collect();
    Ok(Kept {
        rows,
        skipped,
        classes,
        labels,
    })
}

/// One column of the kept rows' cells, about to become a modality.
struct ColumnData<'a> {
    c: usize,
    kind: ColumnKind,
    cells: &'a [Vec<Option<Cell>>],
    present: &'a [bool],
    /// The training samples that have this modality.
    train_present: &'a [usize],
}

impl ColumnData<'_> {
    /// The column's preprocessing (`fixed`, or fitted on the training samples) and its
    /// values, standardised or tokenised; `shape` and `image` as found and set for it.
    fn preprocess(
        &self,
        fixed: Option<&Preprocessor>,
        shape: Option<(u32, usize)>,
        (size, norm): (usize, ImageNorm),
        config: &ManifestConfig,
    ) -> Result<(Preprocessor, Vec<f32>)> {
        let (c, cells) = (self.c, self.cells);
        let texts = |encode: &dyn Fn(&str) -> Vec<f32>, empty: &[f32]| -> Vec<f32> {
            cells
                .iter()
                .flat_map(|r| match &r[c] {
                    Some(Cell::Text(text)) => encode(text),
                    _ => empty.to_vec(),
                })
                .collect()
        };
        match (self.kind, fixed) {
            (ColumnKind::Text, Some(preprocessor)) => {
                let empty = vec![0.0; preprocessor.input_kind().item_len()];
                let values = match preprocessor {
                    Preprocessor::Wordpiece(t) => {
                        let e = t.encoder()?;
                        texts(&|text| e.encode(text), &empty)
                    }
                    Preprocessor::Text(t) => {
                        let e = t.encoder();
                        texts(&|text| e.encode(text), &empty)
                    }
                    _ => unreachable!("the column's kind was checked against it: text"),
                };
                Ok((preprocessor.clone(), values))
            }
            (ColumnKind::Text, None) => {
                let tokenizer = Tokenizer::fit(
                    self.train_present
                        .iter()
                        .filter_map(|&i| match &cells[i][c] {
                            Some(Cell::Text(t)) => Some(t.as_str()),
                            _ => None,
                        }),
                    config.max_vocab,
                    config.max_tokens,
                    config.subwords,
                );
                let encoder = tokenizer.encoder();
                let values = texts(&|text| encoder.encode(text), &vec![0.0; tokenizer.max_len]);
                Ok((Preprocessor::Text(tokenizer), values))
            }
            (kind, _) => {
                let (rate, len) = shape.expect("the column has cells");
                let mut values = values_of(cells, c, len);
                // Statistics from the training samples that have this modality (all
                // present samples if the training split has none).
                let fit_rows = if self.train_present.is_empty() {
                    (0..cells.len()).filter(|&i| self.present[i]).collect()
                } else {
                    self.train_present.to_vec()
                };
                let preprocessor = match kind {
                    ColumnKind::Image => Preprocessor::Image { size, norm },
                    ColumnKind::Audio => {
                        let standardizer = Standardizer::fit(&values, len, 1, &fit_rows);
                        standardize_present(&mut values, len, self.present, &standardizer);
                        // Predictions pad or cut to the clips' length, even when
                        // training did not have to.
                        let fbank = FbankConfig {
                            frames: len / config.fbank.mel_bins,
                            ..config.fbank.clone()
                        };
                        Preprocessor::Audio(AudioPreprocess {
                            fbank,
                            sample_rate: rate,
                            standardizer,
                        })
                    }
                    _ => {
                        let standardizer = Standardizer::fit(&values, len, len, &fit_rows);
                        standardize_present(&mut values, len, self.present, &standardizer);
                        Preprocessor::Vector(standardizer)
                    }
                };
                Ok((preprocessor, values))
            }
        }
    }
}

/// Keeps the rows `kept` (ascending) of `values` (`len` values per row), in place.
fn keep_rows(values: &mut Vec<f32>, len: usize, kept: &[usize]) {
    for (k, &row) in kept.iter().enumerate() {
        values.copy_within(row * len..(row + 1) * len, k * len);
    }
    values.truncate(kept.len() * len);
    values.shrink_to_fit();
}

/// Column `c`'s values, `len` per sample, zeros where it is missing.
fn values_of(cells: &[Vec<Option<Cell>>], c: usize, len: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(cells.len() * len);
    for r in cells {
        match &r[c] {
            Some(Cell::Values { values, .. }) => out.extend_from_slice(values),
            _ => out.resize(out.len() + len, 0.0),
        }
    }
    out
}

/// Standardises the items (`len` values each) of the samples that are present; the
/// zeros of missing ones stay (the model ignores them).
fn standardize_present(values: &mut [f32], len: usize, present: &[bool], s: &Standardizer) {
    for (item, &here) in values.chunks_mut(len).zip(present) {
        if here {
            s.apply(item);
        }
    }
}
