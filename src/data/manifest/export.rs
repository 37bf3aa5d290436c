//! A data set as one zip file and back: the manifest with every file it names, as
//! the page exports it (to train natively, or to load again) and takes it.

use std::collections::BTreeMap;

use super::table::Manifest;
use super::upload::{FileSet, MAX_UPLOAD_BYTES, Upload, normalise};
use crate::data::formats::zip::{read_zip, write_zip};
use crate::error::{MlaError, Result};

/// Where a file a manifest names goes in the archive: its path made relative and
/// clean (`./a/../b.png` -> `b.png`, `/abs/c.wav` -> `abs/c.wav`), or under `files/`
/// when it climbs above the manifest's folder.
fn archive_path(cell: &str) -> String {
    let trimmed = cell.trim();
    match normalise(trimmed) {
        Some(p) if !trimmed.starts_with("..") && !p.is_empty() => p,
        _ => {
            let name = trimmed.rsplit(['/', '\\']).next().unwrap_or(trimmed);
            format!("files/{name}")
        }
    }
}

impl Upload {
    /// The manifest's name in [`Upload::to_zip`]'s archive: its file name, as CSV.
    pub fn archive_manifest(&self) -> String {
        let name = self.manifest_path.rsplit('/').next().unwrap_or_default();
        let stem = name
            .strip_suffix(".jsonl")
            .or_else(|| name.strip_suffix(".csv"))
            .filter(|s| !s.is_empty())
            .unwrap_or("data");
        format!("{stem}.csv")
    }

    /// The data set as a zip: the manifest as CSV at the top (its name kept, `.csv`)
    /// and every file its rows name, under the path the manifest in the archive gives
    /// it, so that the unpacked folder trains as it is (`mla-native train --manifest`);
    /// then `extra` files (such as the run configuration that trained on it). Errors
    /// name the line whose file is not in the upload.
    pub fn to_zip(&self, extra: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
        let mut manifest: Manifest = self.manifest.clone();
        let mut files: BTreeMap<String, &[u8]> = BTreeMap::new();
        for row in &mut manifest.rows {
            for (column, cell) in self.manifest.columns.iter().zip(&mut row.cells) {
                let Some(path) = cell.as_mut().filter(|c| column.kind.holds_path(c)) else {
                    continue;
                };
                let bytes = self.read(path).map_err(|why| {
                    MlaError::Data(format!(
                        "{} line {}: `{path}`: {why}",
                        self.manifest.name, row.line
                    ))
                })?;
                let mut target = archive_path(path);
                // Two different files that would land on one path: the second moves.
                if files.get(&target).is_some_and(|b| *b != bytes) {
                    target = format!("files/{}/{target}", row.line);
                }
                files.insert(target.clone(), bytes);
                *path = target;
            }
        }
        let csv = manifest.to_csv();
        let mut entries: Vec<(String, &[u8])> = vec![(self.archive_manifest(), csv.as_bytes())];
        entries.extend(files);
        entries.extend(extra.iter().map(|(n, b)| (n.clone(), b.as_slice())));
        write_zip(&entries).map_err(MlaError::Data)
    }
}

impl FileSet {
    /// Adds the files of the zip archive `bytes` (uploaded as `path`) under the
    /// archive's folder; refused when it is not a zip or holds more than an upload may.
    pub fn insert_zip(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        let entries = read_zip(bytes).map_err(|why| MlaError::Data(format!("{path}: {why}")))?;
        let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
        for (name, data) in entries {
            // Archives made by the system's tools carry their own metadata folders.
            if name.starts_with("__MACOSX/") {
                continue;
            }
            self.insert(&format!("{dir}/{name}"), data);
        }
        if self.total_bytes() > MAX_UPLOAD_BYTES {
            return Err(MlaError::Data(format!(
                "{path}: its files hold more than {} MiB, the limit of an upload",
                MAX_UPLOAD_BYTES >> 20
            )));
        }
        Ok(())
    }
}
