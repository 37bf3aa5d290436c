//! Reading a grid's runs back: finished test reports, chosen epochs, divergences.

use std::path::Path;

use anyhow::{Context, Result};
use mla::EvalReport;

use super::tables::mean_std;
use super::{Condition, Grid, Variant, run_dir_of};
use crate::run_dir::{self, DIVERGED, METRICS, TEST};

/// A finished run, as the tables read it.
#[derive(Clone, Debug)]
pub(super) struct Run {
    pub(super) seed: u64,
    pub(super) test: EvalReport,
    /// Mean seconds per epoch.
    pub(super) seconds: f64,
    /// The epoch validation chose (1-based).
    pub(super) best_epoch: usize,
    /// Its fused validation accuracy.
    pub(super) valid_fused: f64,
}

/// Reads a finished run (`None` while it is not).
pub(super) fn read_run(dir: &Path, seed: u64) -> Result<Option<Run>> {
    let Ok(bytes) = run_dir::read(dir, TEST) else {
        return Ok(None);
    };
    let test: EvalReport = serde_json::from_slice(&bytes)
        .with_context(|| format!("parsing {}", dir.join(TEST).display()))?;
    let metrics = String::from_utf8_lossy(&run_dir::read(dir, METRICS)?).to_string();
    let lines: Vec<serde_json::Value> = metrics
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let seconds: Vec<f64> = lines.iter().filter_map(|v| v["seconds"].as_f64()).collect();
    let best_epoch = lines
        .iter()
        .find_map(|v| v["best_epoch"].as_u64())
        .unwrap_or(0) as usize;
    let valid_fused = lines
        .iter()
        .find(|v| v["epoch"].as_u64() == Some(best_epoch as u64))
        .and_then(|v| v["valid"]["fused"].as_f64())
        .unwrap_or(f64::NAN);
    Ok(Some(Run {
        seed,
        test,
        seconds: mean_std(&seconds).0,
        best_epoch,
        valid_fused,
    }))
}

/// The epoch a run diverged in (`train` wrote `diverged.json`), if it did.
pub(super) fn diverged_epoch(dir: &Path) -> Option<usize> {
    let bytes = run_dir::read(dir, DIVERGED).ok()?;
    let record: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    Some(record["epoch"].as_u64().unwrap_or(0) as usize)
}

/// The seeds of one cell whose runs diverged, with the epoch.
pub(super) fn diverged(grid: &Grid, v: &Variant, c: &Condition) -> Vec<(u64, usize)> {
    grid.seeds
        .iter()
        .filter_map(|&seed| diverged_epoch(&run_dir_of(&grid.out, v, c, seed)).map(|e| (seed, e)))
        .collect()
}

/// The finished seeds of one cell.
pub(super) fn reports(grid: &Grid, v: &Variant, c: &Condition) -> Result<Vec<Run>> {
    let mut out = Vec::new();
    for &seed in &grid.seeds {
        if let Some(run) = read_run(&run_dir_of(&grid.out, v, c, seed), seed)? {
            out.push(run);
        }
    }
    Ok(out)
}
