//! The files of a run directory, written atomically.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};

/// Model weights and architecture (the core's byte format).
pub const MODEL: &str = "model.mla";
/// The full resolved run configuration.
pub const CONFIG: &str = "config.json";
/// The same, as TOML: `train --config` takes it back.
pub const CONFIG_TOML: &str = "config.toml";
/// What was wrong with each sample `--skip-bad` left out.
pub const SKIPPED: &str = "skipped.txt";
/// Everything needed to continue after the last finished epoch (`train --resume`).
pub const CHECKPOINT: &str = "checkpoint.mlac";
/// One JSON object per epoch, then one for the test result.
pub const METRICS: &str = "metrics.jsonl";
/// The final test report.
pub const TEST: &str = "test.json";
/// Loss and validation accuracy per epoch, as an SVG plot.
pub const PLOT: &str = "plot.svg";
/// Written by `eval`: the modality gap of every pair of modalities on the test split.
pub const GAP: &str = "gap.json";
/// Written by `eval`: the test features of every modality in 2-D, as an SVG plot.
pub const EMBEDDINGS: &str = "embeddings.svg";
/// With missing-modality masks: the rates asked and reached per split and modality.
pub const MISSING: &str = "missing.json";
/// Written when a run diverged (the error and the epoch); removed when it finishes.
pub const DIVERGED: &str = "diverged.json";
/// For manifests: the manifest line of every sample and its split (`line,split`).
pub const SPLIT: &str = "split.csv";

/// `runs/<UTC timestamp>`, made unique if it exists.
pub fn default_dir() -> PathBuf {
    let stamp = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .replace(['-', ':'], "")
        .replace('T', "-")
        .trim_end_matches('Z')
        .to_string();
    let base = Path::new("runs").join(&stamp);
    let mut dir = base.clone();
    let mut k = 1;
    while dir.exists() {
        dir = Path::new("runs").join(format!("{stamp}-{k}"));
        k += 1;
    }
    dir
}

/// Writes `bytes` to `dir/name` through a temporary file and a rename, so a crash
/// never leaves a half-written file under the final name.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, &path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// Reads `dir/name`, naming the file in errors.
pub fn read(dir: &Path, name: &str) -> Result<Vec<u8>> {
    let path = dir.join(name);
    crate::files::read(&path).with_context(|| format!("reading {}", path.display()))
}
