//! Samples captured in the page (camera frames, microphone clips, captions), class by
//! class, as rows of a manifest: on their own, or added to an uploaded data set.

use serde::{Deserialize, Serialize};

use super::table::{Column, ColumnKind, Manifest, ManifestRow};
use super::upload::{FileSet, Upload};
use crate::error::{MlaError, Result};

/// One captured sample: its class and what was captured (each may be missing), the
/// image and the clip named by their paths among the capture's files.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Captured {
    pub label: String,
    /// A PNG frame.
    pub image: Option<String>,
    /// A WAV clip.
    pub audio: Option<String>,
    pub caption: Option<String>,
}

/// The columns captured samples fill when nothing was uploaded.
const OWN_COLUMNS: [(&str, ColumnKind); 3] = [
    ("camera", ColumnKind::Image),
    ("microphone", ColumnKind::Audio),
    ("caption", ColumnKind::Text),
];

impl Upload {
    /// The data set of `samples` (their files in `files`), added to `base` when one is
    /// given: a frame goes to the upload's first image column, a clip to its first
    /// audio column, a caption to its first text column, each a new column (`camera`,
    /// `microphone`, `caption`) where the upload has none. Cells a sample lacks are
    /// missing. Captured files go under `captured/`.
    pub fn with_captured(
        base: Option<&Upload>,
        samples: &[Captured],
        files: FileSet,
    ) -> Result<Upload> {
        if samples.is_empty() {
            return Err(MlaError::Data("nothing captured yet".into()));
        }
        let (mut manifest, mut set, manifest_path) = match base {
            Some(u) => (u.manifest.clone(), u.files.clone(), u.manifest_path.clone()),
            None => (
                Manifest {
                    name: "captured.csv".into(),
                    columns: Vec::new(),
                    has_labels: true,
                    rows: Vec::new(),
                },
                FileSet::new(),
                "captured.csv".to_string(),
            ),
        };
        let dir = manifest_path
            .rsplit_once('/')
            .map_or("", |(d, _)| d)
            .to_string();
        if !manifest.has_labels {
            return Err(MlaError::Data(format!(
                "{}: the upload has no label column, so captured classes cannot join it",
                manifest.name
            )));
        }
        // Where each kind of capture goes: an existing column of that kind, else a new one.
        let used = |kind: ColumnKind, s: &Captured| match kind {
            ColumnKind::Image => s.image.is_some(),
            ColumnKind::Audio => s.audio.is_some(),
            _ => s.caption.is_some(),
        };
        let mut target = [None; 3];
        for (k, (name, kind)) in OWN_COLUMNS.into_iter().enumerate() {
            if !samples.iter().any(|s| used(kind, s)) {
                continue;
            }
            let column = match manifest.columns.iter().position(|c| c.kind == kind) {
                Some(i) => i,
                None => {
                    let mut name = name.to_string();
                    while manifest.column(&name).is_some() {
                        name.push('_');
                    }
                    manifest.columns.push(Column { name, kind });
                    for row in &mut manifest.rows {
                        row.cells.push(None);
                    }
                    manifest.columns.len() - 1
                }
            };
            target[k] = Some(column);
        }
        let mut line = manifest.rows.iter().map(|r| r.line).max().unwrap_or(1);
        for (i, s) in samples.iter().enumerate() {
            if s.label.trim().is_empty() {
                return Err(MlaError::Data(format!(
                    "captured sample {} has no class name",
                    i + 1
                )));
            }
            let mut cells = vec![None; manifest.columns.len()];
            for (k, value) in [&s.image, &s.audio, &s.caption].into_iter().enumerate() {
                let (Some(column), Some(value)) = (target[k], value) else {
                    continue;
                };
                cells[column] = Some(if k == 2 {
                    value.clone()
                } else {
                    let path = format!("captured/{value}");
                    let bytes = files.resolve("", value).map_err(|why| {
                        MlaError::Data(format!("captured sample {}: `{value}`: {why}", i + 1))
                    })?;
                    set.insert(&join(&dir, &path), bytes.to_vec());
                    path
                });
            }
            line += 1;
            manifest.rows.push(ManifestRow {
                line,
                cells,
                label: Some(s.label.trim().to_string()),
            });
        }
        Ok(Upload {
            manifest_path,
            manifest,
            files: set,
        })
    }
}

fn join(dir: &str, path: &str) -> String {
    if dir.is_empty() {
        path.to_string()
    } else {
        format!("{dir}/{path}")
    }
}

/// A captured sample with its files' bytes, as a page holds it while capturing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CapturedFiles {
    pub label: String,
    pub image: Option<Vec<u8>>,
    pub audio: Option<Vec<u8>>,
    pub caption: Option<String>,
}

impl Upload {
    /// Every row as a captured sample: its label and its first image, audio and text
    /// cells, with the files' bytes (what the page's capture takes back from a zip it
    /// exported, to go on capturing). A row without a label is an error naming its
    /// line.
    pub fn as_captured(&self) -> Result<Vec<CapturedFiles>> {
        let first = |kind: ColumnKind| self.manifest.columns.iter().position(|c| c.kind == kind);
        let [image, audio, text] =
            [ColumnKind::Image, ColumnKind::Audio, ColumnKind::Text].map(first);
        let name = &self.manifest.name;
        self.manifest
            .rows
            .iter()
            .map(|row| {
                let cell = |c: Option<usize>| c.and_then(|i| row.cells[i].clone());
                let bytes = |c: Option<usize>| -> Result<Option<Vec<u8>>> {
                    let Some(path) = cell(c) else { return Ok(None) };
                    let b = self.read(&path).map_err(|why| {
                        MlaError::Data(format!("{name} line {}: `{path}`: {why}", row.line))
                    })?;
                    Ok(Some(b.to_vec()))
                };
                let label = row
                    .label
                    .clone()
                    .ok_or_else(|| MlaError::Data(format!("{name} line {}: no label", row.line)))?;
                Ok(CapturedFiles {
                    label,
                    image: bytes(image)?,
                    audio: bytes(audio)?,
                    caption: cell(text),
                })
            })
            .collect()
    }
}
