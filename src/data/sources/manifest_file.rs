//! A manifest (CSV or JSONL) and the files it names, as a data source: the manifest is
//! read here and built by the front end's manifest pipeline ([`Loading::Manifest`]).

use serde::{Deserialize, Serialize};

use crate::data::manifest::build::ManifestConfig;
use crate::data::manifest::table::Manifest;
use crate::data::sources::{DataSource, Files, Loading, SourceEntry, from_json};
use crate::error::{MlaError, Result};

/// A manifest on disk and how to build the data set from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestSource {
    /// Path of the manifest; image paths in it are relative to its folder.
    pub path: String,
    /// Image size, tokens, vocabulary, split.
    #[serde(default)]
    pub options: ManifestConfig,
}

/// `source = "manifest"`,
/// `--data manifest:PATH[,image-size=N][,max-tokens=N][,mel-bins=N][,frames=N]`.
pub const ENTRY: SourceEntry = SourceEntry {
    name: "manifest",
    spec: "manifest",
    from_json: from_json::<ManifestSource>,
    from_spec: |spec| {
        let mut path = None;
        let mut options = ManifestConfig {
            seed: spec.seed,
            ..Default::default()
        };
        for (k, v) in &spec.options {
            match k.as_str() {
                "dir" => path = Some(spec.path(v)),
                "image-size" => options.image_size = spec.number(k, v)?,
                "max-tokens" => options.max_tokens = spec.number(k, v)?,
                "mel-bins" => options.fbank.mel_bins = spec.number(k, v)?,
                "frames" => options.fbank.frames = spec.number(k, v)?,
                _ => {
                    return Err(spec.unknown(
                        k,
                        "image-size, max-tokens, mel-bins, frames; the rest in --config",
                    ));
                }
            }
        }
        let path = path.ok_or_else(|| spec.missing("manifest:PATH needs the manifest's path"))?;
        Ok(Box::new(ManifestSource { path, options }))
    },
};

impl ManifestSource {
    /// The folder the manifest's relative paths start from.
    pub fn dir(&self) -> String {
        match self.path.rfind(['/', '\\']) {
            Some(end) => self.path[..end].to_string(),
            None => String::new(),
        }
    }
}

impl DataSource for ManifestSource {
    fn load(&self, files: &dyn Files) -> Result<Loading> {
        // The message names the path already.
        let bytes = files.read(&self.path).map_err(MlaError::Data)?;
        Ok(Loading::Manifest {
            manifest: Manifest::parse(&self.path, &bytes)?,
            dir: self.dir(),
            options: self.options.clone(),
        })
    }

    crate::source_boilerplate!(manifest);
}
