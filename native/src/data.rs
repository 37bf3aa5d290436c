//! Loading a run's data: the built-in generator, or a manifest and its files on disk.

use std::path::Path;

use anyhow::{Context, Result};
use mla::config::DataConfig;
use mla::data::{Manifest, Preprocess, Splits, from_manifest};

/// Reads and parses a manifest file.
pub fn read_manifest(path: &Path) -> Result<Manifest> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let name = path.display().to_string();
    Ok(Manifest::parse(&name, &bytes)?)
}

/// Reads a path named in a manifest, relative to the manifest's folder.
pub fn file_reader(manifest: &Path) -> impl FnMut(&str) -> Result<Vec<u8>, String> + use<> {
    let base = manifest.parent().map(Path::to_path_buf).unwrap_or_default();
    move |rel: &str| {
        let path = base.join(rel);
        std::fs::read(&path).map_err(|e| format!("cannot read {} ({e})", path.display()))
    }
}

/// The splits of a run and, for raw data, its preprocessing.
pub fn load(config: &DataConfig) -> Result<(Splits, Option<Preprocess>)> {
    match config {
        DataConfig::Synthetic(s) => Ok((s.generate()?, None)),
        DataConfig::Manifest(m) => {
            let path = Path::new(&m.path);
            let manifest = read_manifest(path)?;
            let data = from_manifest(&manifest, file_reader(path), &m.options)?;
            Ok((data.splits, Some(data.preprocess)))
        }
    }
}
