//! A set of uploaded files (a folder or a handful of files) holding one manifest and
//! the images it names: the browser's view of a data set on disk.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::data::manifest::build::{
    ManifestConfig, ManifestData, from_manifest_with, image_setting,
};
use crate::data::manifest::preprocess::Preprocessor;
use crate::data::manifest::table::{ColumnKind, Manifest};
use crate::error::{MlaError, Result};

/// The most bytes an upload may hold in all; a browser tab keeps every file in memory.
pub const MAX_UPLOAD_BYTES: u64 = 512 * 1024 * 1024;

/// What a page's engine may use to build a data set: WebAssembly addresses 4 GiB, and
/// the module, the uploaded files, the model and the features need the rest.
pub const PAGE_MEMORY_BUDGET: u64 = 3 << 30;

/// Bytes per decoded input value while a data set is built: `f32` values held about 3.5
/// times over (the decoded cell, the data set, the copies on the way), as measured
/// natively (1.1 MB per 160 px image).
const BYTES_PER_VALUE: u64 = 14;

/// Uploaded files by path (`/`-separated, relative to what was picked). The bytes are
/// shared: a set made from another (captured samples joining an upload) holds no second
/// copy of its files.
#[derive(Clone, Debug, Default)]
pub struct FileSet {
    files: BTreeMap<String, Arc<Vec<u8>>>,
}

/// Checks the sizes of files about to be read (`(name, bytes)`) before reading them.
pub fn check_upload_size<'a>(files: impl IntoIterator<Item = (&'a str, u64)>) -> Result<()> {
    let (mut total, mut count) = (0u64, 0usize);
    for (_, size) in files {
        total += size;
        count += 1;
    }
    if count == 0 {
        return Err(MlaError::Data(
            "no files: pick a folder (or files) with a manifest and its images".into(),
        ));
    }
    if total > MAX_UPLOAD_BYTES {
        return Err(MlaError::Data(format!(
            "the upload holds {} MiB in {count} files; the limit is {} MiB",
            total.div_ceil(1024 * 1024),
            MAX_UPLOAD_BYTES / (1024 * 1024)
        )));
    }
    Ok(())
}

/// `a/./b/../c` -> `a/c`, backslashes as slashes; `None` when it leaves the root.
pub(crate) fn normalise(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

fn is_manifest(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.ends_with(".csv") || lower.ends_with(".jsonl")
}

impl FileSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bytes of every file together.
    pub fn total_bytes(&self) -> u64 {
        self.files.values().map(|f| f.len() as u64).sum()
    }

    /// Adds a file under its relative path.
    pub fn insert(&mut self, path: &str, bytes: Vec<u8>) {
        let key = normalise(path).unwrap_or_else(|| path.to_string());
        self.files.insert(key, Arc::new(bytes));
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether there are no files.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The one manifest (`.csv` or `.jsonl`) among the files: its path and bytes.
    pub fn manifest(&self) -> Result<(&str, &[u8])> {
        let found: Vec<(&String, &Arc<Vec<u8>>)> =
            self.files.iter().filter(|(p, _)| is_manifest(p)).collect();
        match found.as_slice() {
            [(path, bytes)] => Ok((path.as_str(), bytes.as_slice())),
            [] => Err(MlaError::Data(format!(
                "no manifest among the {} files: add one `.csv` or `.jsonl` file with the columns image, text, label",
                self.files.len()
            ))),
            many => Err(MlaError::Data(format!(
                "{} manifests ({}); keep exactly one `.csv` or `.jsonl` file",
                many.len(),
                many.iter()
                    .map(|(p, _)| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Looks up a path as a manifest at `manifest` names it: relative to the manifest's
    /// folder, or else the only file with that file name (files picked one by one
    /// arrive without their folders).
    pub fn resolve(&self, manifest: &str, path: &str) -> std::result::Result<&[u8], String> {
        let dir = manifest.rsplit_once('/').map_or("", |(d, _)| d);
        let joined = normalise(&format!("{dir}/{path}"));
        if let Some(bytes) = joined.as_ref().and_then(|p| self.files.get(p)) {
            return Ok(bytes.as_slice());
        }
        let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
        let mut same_name = self
            .files
            .iter()
            .filter(|(p, _)| p.rsplit('/').next() == Some(name));
        match (same_name.next(), same_name.next()) {
            (Some((_, bytes)), None) => Ok(bytes.as_slice()),
            (Some((a, _)), Some((b, _))) => Err(format!(
                "not among the uploaded files as `{}`, and several files are named `{name}` ({a}, {b}, ...)",
                joined.unwrap_or_default()
            )),
            _ => Err("not among the uploaded files".into()),
        }
    }
}

/// A manifest with the files it names, ready to become a data set (with any image
/// size or split seed) and to hand out single samples for prediction.
#[derive(Clone, Debug)]
pub struct Upload {
    /// Path of the manifest within the files.
    pub manifest_path: String,
    pub manifest: Manifest,
    pub files: FileSet,
}

impl Upload {
    /// Finds and parses the one manifest among `files`.
    pub fn new(files: FileSet) -> Result<Self> {
        let (path, bytes) = files.manifest()?;
        let manifest = Manifest::parse(path, bytes)?;
        Ok(Self {
            manifest_path: path.to_string(),
            manifest,
            files,
        })
    }

    /// The built-in sample ([`crate::data::sources::shapes::shapes`]) as if it had been uploaded.
    pub fn sample(n: usize, seed: u64) -> Result<Self> {
        let (manifest, files) = crate::data::sources::shapes::shapes(n, SAMPLE_IMAGE_SIDE, seed)?;
        Ok(Self {
            manifest_path: manifest.name.clone(),
            manifest,
            files: files.into_iter().collect(),
        })
    }

    /// The bytes of an image path as the manifest writes it.
    pub fn read(&self, path: &str) -> std::result::Result<&[u8], String> {
        self.files.resolve(&self.manifest_path, path)
    }

    /// About how many bytes building the data set takes: the files, and each sample's
    /// decoded images (at their column's side: `fixed`, else `config.image_size`) and
    /// filterbanks. An image column `c` with `streamed[c] = Some(dim)` keeps `dim`
    /// features per sample instead of its pixels (see
    /// [`crate::data::manifest::build::StreamFeatures`]).
    pub fn memory_needed(
        &self,
        config: &ManifestConfig,
        fixed: &[Option<Preprocessor>],
        streamed: &[Option<usize>],
    ) -> u64 {
        let values: u64 = self
            .manifest
            .columns
            .iter()
            .enumerate()
            .map(|(c, column)| match column.kind {
                ColumnKind::Image if streamed.get(c).copied().flatten().is_some() => {
                    streamed[c].expect("checked") as u64
                }
                ColumnKind::Image => {
                    let side = image_setting(config, fixed.get(c).and_then(Option::as_ref)).0;
                    3 * (side * side) as u64
                }
                ColumnKind::Audio => (config.fbank.frames * config.fbank.mel_bins) as u64,
                _ => 0,
            })
            .sum();
        self.files.total_bytes() + self.manifest.rows.len() as u64 * values * BYTES_PER_VALUE
    }

    /// `Err` saying why, before any file is decoded, when building the data set would
    /// not fit [`PAGE_MEMORY_BUDGET`] (a page's engine that runs out of memory dies).
    /// `streamed` as for [`Upload::memory_needed`].
    pub fn check_memory(
        &self,
        config: &ManifestConfig,
        fixed: &[Option<Preprocessor>],
        streamed: &[Option<usize>],
    ) -> Result<()> {
        let gb = |b: u64| b as f64 / 1e9;
        let needed = self.memory_needed(config, fixed, streamed);
        if needed <= PAGE_MEMORY_BUDGET {
            return Ok(());
        }
        let images = self
            .manifest
            .columns
            .iter()
            .any(|c| c.kind == ColumnKind::Image);
        let at = |side: usize| {
            let fixed: Vec<Option<Preprocessor>> = fixed
                .iter()
                .map(|p| match p {
                    Some(Preprocessor::Image { norm, .. }) => Some(Preprocessor::Image {
                        size: side,
                        norm: *norm,
                    }),
                    other => other.clone(),
                })
                .collect();
            let config = ManifestConfig {
                image_size: side,
                ..config.clone()
            };
            self.memory_needed(&config, &fixed, streamed)
        };
        let smaller = [224, 160, 128, 96, 64, 48, 32]
            .into_iter()
            .filter(|_| images)
            .map(|side| (side, at(side)))
            .find(|&(_, bytes)| bytes <= PAGE_MEMORY_BUDGET && bytes < needed)
            .map(|(side, bytes)| {
                format!(
                    "an image size of {side} px needs about {:.1} GB; ",
                    gb(bytes)
                )
            })
            .unwrap_or_default();
        Err(MlaError::Data(format!(
            "{}: building this data set would take about {:.1} GB ({} samples{}), more than \
             the {:.1} GB a page's engine can hold: {smaller}fewer samples need less, and \
             `mla-native train --manifest` has no such limit",
            self.manifest_path,
            gb(needed),
            self.manifest.rows.len(),
            if images {
                let first = self
                    .manifest
                    .columns
                    .iter()
                    .position(|c| c.kind == ColumnKind::Image);
                let side = image_setting(config, first.and_then(|c| fixed.get(c)?.as_ref())).0;
                format!(" with images at {side} px")
            } else {
                String::new()
            },
            gb(PAGE_MEMORY_BUDGET),
        )))
    }

    /// The data set: every image decoded and resized, text tokenised, split.
    pub fn build(&self, config: &ManifestConfig) -> Result<ManifestData> {
        self.build_with(config, &[])
    }

    /// [`Upload::build`] with some columns' preprocessing fixed (pretrained encoders:
    /// see [`from_manifest_with`]).
    pub fn build_with(
        &self,
        config: &ManifestConfig,
        fixed: &[Option<Preprocessor>],
    ) -> Result<ManifestData> {
        self.check_memory(config, fixed, &[])?;
        from_manifest_with(
            &self.manifest,
            |p: &str| self.read(p).map(<[u8]>::to_vec),
            config,
            fixed,
        )
    }
}

/// Side of the built-in sample's PNG files (models resize to their own size).
pub const SAMPLE_IMAGE_SIDE: u32 = 32;

/// The files as `(path, bytes)`, in path order (bytes still shared with another set
/// are copied).
impl IntoIterator for FileSet {
    type Item = (String, Vec<u8>);
    type IntoIter = std::iter::Map<
        std::collections::btree_map::IntoIter<String, Arc<Vec<u8>>>,
        fn((String, Arc<Vec<u8>>)) -> (String, Vec<u8>),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.files
            .into_iter()
            .map(|(path, bytes)| (path, Arc::unwrap_or_clone(bytes)))
    }
}

impl<S: AsRef<str>> FromIterator<(S, Vec<u8>)> for FileSet {
    fn from_iter<I: IntoIterator<Item = (S, Vec<u8>)>>(iter: I) -> Self {
        let mut set = FileSet::new();
        for (path, bytes) in iter {
            set.insert(path.as_ref(), bytes);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(paths: &[&str]) -> FileSet {
        paths.iter().map(|p| (*p, p.as_bytes().to_vec())).collect()
    }

    #[test]
    fn paths_resolve_relative_to_the_manifest() {
        let s = set(&[
            "data/m.csv",
            "data/images/a.png",
            "data/b.png",
            "other/a.png",
        ]);
        assert_eq!(s.manifest().unwrap().0, "data/m.csv");
        assert_eq!(
            s.resolve("data/m.csv", "images/a.png").unwrap(),
            b"data/images/a.png"
        );
        assert_eq!(
            s.resolve("data/m.csv", "./images/../b.png").unwrap(),
            b"data/b.png"
        );
        assert_eq!(
            s.resolve("data/m.csv", "images\\a.png").unwrap(),
            b"data/images/a.png"
        );
        // Not there, and two files share the name: say so rather than guess.
        let e = s.resolve("data/m.csv", "x/a.png").unwrap_err();
        assert!(e.contains("several files") && e.contains("a.png"), "{e}");
        assert!(s.resolve("data/m.csv", "zzz.png").is_err());
    }

    #[test]
    fn files_picked_one_by_one_match_by_name() {
        let s = set(&["m.jsonl", "a.png"]);
        assert_eq!(s.resolve("m.jsonl", "images/a.png").unwrap(), b"a.png");
    }

    #[test]
    fn exactly_one_manifest() {
        let e = set(&["a.png"]).manifest().unwrap_err().to_string();
        assert!(e.contains("no manifest"), "{e}");
        let e = set(&["a.csv", "b.JSONL"])
            .manifest()
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 manifests") && e.contains("a.csv"), "{e}");
    }

    #[test]
    fn upload_limits_are_stated() {
        assert!(check_upload_size([("a", 10)]).is_ok());
        let e = check_upload_size([("a", MAX_UPLOAD_BYTES), ("b", 1)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("limit is 512 MiB"), "{e}");
        let e = check_upload_size([]).unwrap_err().to_string();
        assert!(e.contains("no files"), "{e}");
    }

    /// The photo catalogue of issue 25 (3,380 photos): at 160 px the page's engine ran
    /// out of memory 20 s into decoding and died without a word; at 96 px it trained.
    #[test]
    fn a_data_set_that_cannot_fit_the_page_is_refused_before_decoding() {
        let rows: String = (0..3380)
            .map(|i| format!("p{i}.jpg,title {i},c{}\n", i % 23))
            .collect();
        let text = format!("photo:image,title:text,label\n{rows}");
        let upload = Upload {
            manifest_path: "shop/m.csv".into(),
            manifest: Manifest::parse("m.csv", text.as_bytes()).unwrap(),
            files: set(&["shop/m.csv"]),
        };
        let at = |side: usize| ManifestConfig {
            image_size: side,
            ..Default::default()
        };
        let e = upload.build(&at(160)).unwrap_err().to_string();
        assert!(
            e.contains("shop/m.csv")
                && e.contains("3380 samples with images at 160 px")
                && e.contains("an image size of 128 px needs about 2.3 GB"),
            "{e}"
        );
        assert!(upload.memory_needed(&at(96), &[], &[]) <= PAGE_MEMORY_BUDGET);
        // Images turned into features as they are decoded (a frozen MobileNetV2's 1280)
        // fit at any side.
        let fixed = [Some(Preprocessor::Image {
            size: 224,
            norm: crate::data::ImageNorm::Imagenet,
        })];
        let needed = upload.memory_needed(&at(224), &fixed, &[Some(1280)]);
        assert!(needed < PAGE_MEMORY_BUDGET / 10, "{needed}");
        assert!(upload.check_memory(&at(224), &fixed, &[Some(1280)]).is_ok());
        assert!(upload.check_memory(&at(224), &fixed, &[]).is_err());
        // Within the budget the files themselves are read (and here, missing).
        let e = upload.build(&at(96)).unwrap_err().to_string();
        assert!(e.contains("p0.jpg") && !e.contains("GB"), "{e}");
    }
}
