//! A set of uploaded files (a folder or a handful of files) holding one manifest and
//! the images it names: the browser's view of a data set on disk.

use std::collections::BTreeMap;

use super::manifest::Manifest;
use super::manifest_data::{ManifestConfig, ManifestData, from_manifest_with};
use super::preprocess::Preprocessor;
use crate::error::{MlaError, Result};

/// The most bytes an upload may hold in all; a browser tab keeps every file in memory.
pub const MAX_UPLOAD_BYTES: u64 = 512 * 1024 * 1024;

/// Uploaded files by path (`/`-separated, relative to what was picked).
#[derive(Clone, Debug, Default)]
pub struct FileSet {
    files: BTreeMap<String, Vec<u8>>,
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
fn normalise(path: &str) -> Option<String> {
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

    /// Adds a file under its relative path.
    pub fn insert(&mut self, path: &str, bytes: Vec<u8>) {
        let key = normalise(path).unwrap_or_else(|| path.to_string());
        self.files.insert(key, bytes);
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
        let found: Vec<(&String, &Vec<u8>)> =
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
            return Ok(bytes);
        }
        let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
        let mut same_name = self
            .files
            .iter()
            .filter(|(p, _)| p.rsplit('/').next() == Some(name));
        match (same_name.next(), same_name.next()) {
            (Some((_, bytes)), None) => Ok(bytes),
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

    /// The built-in sample ([`super::shapes::shapes`]) as if it had been uploaded.
    pub fn sample(n: usize, seed: u64) -> Result<Self> {
        let (manifest, files) = super::shapes::shapes(n, SAMPLE_IMAGE_SIDE, seed)?;
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

/// The files as `(path, bytes)`, in path order.
impl IntoIterator for FileSet {
    type Item = (String, Vec<u8>);
    type IntoIter = std::collections::btree_map::IntoIter<String, Vec<u8>>;

    fn into_iter(self) -> Self::IntoIter {
        self.files.into_iter()
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
}
