//! Loading a run's data: the built-in generator, or a manifest and its files on disk.

use std::path::Path;

use anyhow::{Context, Result, bail};
use mla::config::{AvDigitsSource, DataConfig};
use mla::data::{Manifest, Preprocess, Splits, av_digits, crema_d, from_manifest, mfeat};

/// Reads and parses a manifest file.
pub fn read_manifest(path: &Path) -> Result<Manifest> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let name = path.display().to_string();
    Ok(Manifest::parse(&name, &bytes)?)
}

/// Reads a path named in a manifest, relative to the manifest's folder.
pub fn file_reader(manifest: &Path) -> impl FnMut(&str) -> Result<Vec<u8>, String> + use<> {
    dir_reader(manifest.parent().unwrap_or(Path::new("")))
}

/// Reads a path relative to `dir`, or says why it cannot (the core's file callback).
fn dir_reader(dir: &Path) -> impl FnMut(&str) -> Result<Vec<u8>, String> + use<> {
    let base = dir.to_path_buf();
    move |rel: &str| {
        let path = base.join(rel);
        std::fs::read(&path).map_err(|e| format!("cannot read {} ({e})", path.display()))
    }
}

/// A run's data: the splits, the preprocessing of raw data, and what was wrong with
/// each sample left out (`--skip-bad`).
pub struct Loaded {
    pub splits: Splits,
    pub preprocess: Option<Preprocess>,
    pub skipped: Vec<String>,
}

/// Loads and checks a run's data.
pub fn load(config: &DataConfig) -> Result<Loaded> {
    let (splits, preprocess, skipped) = match config {
        DataConfig::Manifest(m) => {
            let path = Path::new(&m.path);
            let manifest = read_manifest(path)?;
            let data = from_manifest(&manifest, file_reader(path), &m.options)?;
            (data.splits, Some(data.preprocess), data.skipped)
        }
        DataConfig::AvDigits(a) => {
            let (splits, skipped) = load_av_digits(a)?;
            (splits, None, skipped)
        }
        DataConfig::CremaD(c) => {
            let root = Path::new(&c.dir);
            let list = |rel: &str| {
                let path = root.join(rel);
                std::fs::read_dir(&path)
                    .map_err(|e| format!("cannot list {} ({e})", path.display()))
                    .map(|entries| {
                        entries
                            .filter_map(|e| e.ok())
                            .map(|e| e.file_name().to_string_lossy().into_owned())
                            .collect()
                    })
            };
            let data = crema_d(dir_reader(root), list, &c.options)?;
            (data.splits, None, data.skipped)
        }
        DataConfig::Synthetic(s) => (s.generate()?, None, Vec::new()),
        DataConfig::Mfeat(m) => {
            let (splits, skipped) = mfeat(dir_reader(Path::new(&m.dir)), &m.options)?;
            (splits, None, skipped)
        }
    };
    Ok(Loaded {
        splits,
        preprocess,
        skipped,
    })
}

/// The first file in `dir` whose name ends with one of `suffixes`.
fn find(dir: &Path, suffixes: &[&str]) -> Result<std::path::PathBuf> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    names.sort();
    names
        .into_iter()
        .find(|p| {
            let n = p
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            suffixes.iter().any(|s| n.ends_with(s))
        })
        .with_context(|| format!("no `*{}` file in {}", suffixes[0], dir.display()))
}

fn load_av_digits(a: &AvDigitsSource) -> Result<(Splits, Vec<String>)> {
    let fsdd = Path::new(&a.fsdd);
    let mut wavs: Vec<_> = std::fs::read_dir(fsdd)
        .with_context(|| format!("reading folder {}", fsdd.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wav"))
        .collect();
    wavs.sort();
    if wavs.is_empty() {
        bail!("no .wav files in {}", fsdd.display());
    }
    let recordings = wavs
        .iter()
        .map(|p| {
            let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            let name = p.file_name().expect("a file").to_string_lossy().to_string();
            Ok((name, bytes))
        })
        .collect::<Result<Vec<_>>>()?;
    let mnist = Path::new(&a.mnist);
    let images = find(mnist, &["images-idx3-ubyte.gz", "images-idx3-ubyte"])?;
    let labels = find(mnist, &["labels-idx1-ubyte.gz", "labels-idx1-ubyte"])?;
    let read = |p: &Path| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
    Ok(av_digits(
        &recordings,
        &read(&images)?,
        &read(&labels)?,
        &a.options,
    )?)
}
