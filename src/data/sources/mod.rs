//! Data sources: where a run's data comes from. Each is one file here implementing
//! [`DataSource`] (its settings, its `--data` spec, its validation, its loading through
//! [`Files`]) and one line in [`BUILT_IN`]; a test or another crate adds its own with
//! [`register`]. Built in: synthetic data, a manifest, the emoji sample, UCI multiple
//! features, AV digits and CREMA-D (plus the generated shapes the tests and the sample
//! command use).

use std::any::Any;
use std::fmt::Debug;
use std::sync::{Mutex, MutexGuard};

use crate::data::{InputKind, Manifest};
use crate::data::{ManifestConfig, Splits};
use crate::error::{MlaError, Result};

pub mod av_digits;
pub mod crema_d;
pub mod emoji;
pub mod manifest_file;
pub mod mfeat;
pub mod shapes;
pub mod spec;
pub mod synthetic;

pub use spec::Spec;

/// The files a source reads: a folder on disk, an upload, a test's fixtures. Paths are
/// as the source's settings name them (a folder joined with a file name).
pub trait Files {
    /// The bytes of the file at `path`, or why they cannot be read.
    fn read(&self, path: &str) -> std::result::Result<Vec<u8>, String>;

    /// The names of the entries of folder `path` (any order), or why they cannot be
    /// listed.
    fn list(&self, path: &str) -> std::result::Result<Vec<String>, String>;
}

/// What loading a source gives.
#[derive(Debug)]
pub enum Loading {
    /// The data set, split, with what was wrong with each sample left out
    /// (`skip_bad`).
    Built {
        splits: Splits,
        skipped: Vec<String>,
    },
    /// A manifest, for the front end's manifest pipeline (preprocessing, pretrained
    /// features, streaming): its cells' paths are relative to `dir`.
    Manifest {
        manifest: Manifest,
        dir: String,
        options: ManifestConfig,
    },
}

/// One data source's settings as a run configuration holds them (`[data] source =
/// "<name>"` and the fields of its settings), and what a run does with them.
pub trait DataSource: Debug + Send + Sync + 'static {
    /// Its name in configuration files (`source = "..."`).
    fn name(&self) -> &'static str;

    /// The seed of the data's generation, pairing or split.
    fn seed_mut(&mut self) -> &mut u64;

    /// Whether unreadable samples are left out (`--skip-bad`); `None` for a source
    /// whose samples cannot be unreadable.
    fn skip_bad_mut(&mut self) -> Option<&mut bool> {
        None
    }

    /// The options of a source built from a manifest (image size, tokens, ...).
    fn manifest_options(&self) -> Option<&ManifestConfig> {
        None
    }

    /// [`DataSource::manifest_options`], to change them.
    fn manifest_options_mut(&mut self) -> Option<&mut ManifestConfig> {
        None
    }

    /// The modalities' inputs where they are known before loading (generated data),
    /// so that a run configuration is checked against them up front.
    fn input_kinds(&self) -> Option<Vec<InputKind>> {
        None
    }

    /// Checks the settings; errors name the field.
    fn validate(&self) -> Result<()>;

    /// Reads and builds the data.
    fn load(&self, files: &dyn Files) -> Result<Loading>;

    /// The settings' fields as JSON (without the `source` tag).
    fn to_json(&self) -> Result<serde_json::Value>;

    /// A boxed copy.
    fn clone_box(&self) -> Box<dyn DataSource>;

    /// For downcasting to the concrete settings.
    fn as_any(&self) -> &dyn Any;

    /// [`DataSource::as_any`], to change them.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// A registered source: how its settings are read from a configuration and from a
/// `--data` spec.
#[derive(Clone, Copy)]
pub struct SourceEntry {
    /// Its name in configuration files (`source = "..."`).
    pub name: &'static str,
    /// Its name in `--data` specs (`<spec>:...`).
    pub spec: &'static str,
    /// The settings from a configuration's `[data]` fields.
    pub from_json: fn(serde_json::Value) -> Result<Box<dyn DataSource>>,
    /// The settings from a `--data` spec.
    pub from_spec: fn(&Spec) -> Result<Box<dyn DataSource>>,
}

/// The built-in sources, one line each.
const BUILT_IN: [SourceEntry; 6] = [
    synthetic::ENTRY,
    manifest_file::ENTRY,
    emoji::ENTRY,
    mfeat::ENTRY,
    av_digits::ENTRY,
    crema_d::ENTRY,
];

static REGISTRY: Mutex<Vec<SourceEntry>> = Mutex::new(Vec::new());

fn registry() -> MutexGuard<'static, Vec<SourceEntry>> {
    let mut sources = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    if sources.is_empty() {
        sources.extend(BUILT_IN);
    }
    sources
}

/// Adds a source (a test's, another crate's); one already registered under the same
/// name or spec is replaced.
pub fn register(entry: SourceEntry) {
    let mut sources = registry();
    sources.retain(|s| s.name != entry.name && s.spec != entry.spec);
    sources.push(entry);
}

/// The registered source called `name` in configuration files.
pub fn by_name(name: &str) -> Option<SourceEntry> {
    registry().iter().find(|s| s.name == name).copied()
}

/// The registered source called `spec` in `--data` specs.
pub fn by_spec(spec: &str) -> Option<SourceEntry> {
    registry().iter().find(|s| s.spec == spec).copied()
}

/// The configuration names of the registered sources, for error messages.
pub fn names() -> Vec<&'static str> {
    registry().iter().map(|s| s.name).collect()
}

/// The `--data` names of the registered sources, for error messages.
pub fn spec_names() -> Vec<&'static str> {
    registry().iter().map(|s| s.spec).collect()
}

/// [`SourceEntry::from_json`] for settings `T` that deserialize themselves (the
/// `serde` derive): a configuration's `[data]` table without its `source` tag.
pub fn from_json<T: DataSource + serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<Box<dyn DataSource>> {
    let settings: T =
        serde_json::from_value(value).map_err(|e| MlaError::config("data", e.to_string()))?;
    Ok(Box::new(settings))
}

/// [`DataSource`]'s boilerplate, inside its `impl`: the name from the source's `ENTRY`
/// (which must be in scope), the JSON of settings that are `Clone + Serialize`, the
/// boxed copy and the downcasts. `source_boilerplate!(options)` also gives the seed,
/// `skip_bad` and validation of settings with an `options` field holding `seed`,
/// `skip_bad` and `validate()`; `source_boilerplate!(manifest)` those and the manifest
/// options of an `options: ManifestConfig`.
#[macro_export]
macro_rules! source_boilerplate {
    () => {
        fn name(&self) -> &'static str {
            ENTRY.name
        }

        fn to_json(&self) -> $crate::error::Result<serde_json::Value> {
            Ok(serde_json::to_value(self)?)
        }

        fn clone_box(&self) -> Box<dyn $crate::data::sources::DataSource> {
            Box::new(self.clone())
        }

        fn as_any(&self) -> &dyn std::any::Any {
            self
        }

        fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
            self
        }
    };
    (options) => {
        $crate::source_boilerplate!();

        fn seed_mut(&mut self) -> &mut u64 {
            &mut self.options.seed
        }

        fn skip_bad_mut(&mut self) -> Option<&mut bool> {
            Some(&mut self.options.skip_bad)
        }

        fn validate(&self) -> $crate::error::Result<()> {
            self.options.validate()
        }
    };
    (manifest) => {
        $crate::source_boilerplate!(options);

        fn manifest_options(&self) -> Option<&$crate::data::ManifestConfig> {
            Some(&self.options)
        }

        fn manifest_options_mut(&mut self) -> Option<&mut $crate::data::ManifestConfig> {
            Some(&mut self.options)
        }
    };
}

/// `dir` joined with `file` by `/` (what a native path and an upload's name both read).
pub fn join(dir: &str, file: &str) -> String {
    if dir.is_empty() {
        return file.to_string();
    }
    format!("{}/{file}", dir.trim_end_matches('/'))
}
