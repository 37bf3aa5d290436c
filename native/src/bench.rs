//! `mla-native bench`: methods x seeds on one data source, each a `train` run of its
//! own (in parallel with `--jobs`), resumed where a grid was interrupted, then the
//! paper's Table 1 layout (rows per modality and Multi, columns per method, mean ± std
//! over seeds, best in bold) as Markdown and JSON; with missing rates, methods x rates
//! x seeds and the paper's Table 2 layout (a row per method, a column per rate).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use mla::EvalReport;
use mla::config::Method;
use serde::Serialize;

use crate::run_dir::{self, CHECKPOINT, DIVERGED, METRICS, TEST};

/// One column of the table: a method, with MLA's ablation switches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    pub method: Method,
    /// MLA only: head gradient modification on.
    pub hgm: bool,
    /// MLA only: dynamic (entropy) fusion on; off = equal weights.
    pub dynamic: bool,
    /// MLA only: one of the head options of the head ablation (issue 16).
    pub head: Option<HeadOption>,
}

/// MLA's head options (`train.mla`), one at a time in the head ablation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadOption {
    StatePerModality,
    LrDivided,
    BiasPerModality,
    PerModality,
    Calibrate,
}

impl HeadOption {
    pub const ALL: [HeadOption; 5] = [
        HeadOption::StatePerModality,
        HeadOption::LrDivided,
        HeadOption::BiasPerModality,
        HeadOption::PerModality,
        HeadOption::Calibrate,
    ];

    /// The `train` flag, which is also the run name's suffix.
    fn flag(self) -> &'static str {
        match self {
            HeadOption::StatePerModality => "head-state-per-modality",
            HeadOption::LrDivided => "head-lr-divided",
            HeadOption::BiasPerModality => "bias-per-modality",
            HeadOption::PerModality => "head-per-modality",
            HeadOption::Calibrate => "calibrate",
        }
    }

    fn title(self) -> &'static str {
        match self {
            HeadOption::StatePerModality => "head state per modality",
            HeadOption::LrDivided => "head lr / M",
            HeadOption::BiasPerModality => "bias per modality",
            HeadOption::PerModality => "a head per modality",
            HeadOption::Calibrate => "temperatures calibrated",
        }
    }
}

impl Variant {
    fn of(method: Method) -> Self {
        Self {
            method,
            hgm: true,
            dynamic: true,
            head: None,
        }
    }

    /// The run folder's name and the key in results.json.
    pub fn name(&self) -> String {
        let mut n = self.method.name().to_string();
        if self.method == Method::Mla {
            if !self.hgm {
                n += "-no-hgm";
            }
            if !self.dynamic {
                n += "-no-df";
            }
            if let Some(h) = self.head {
                n += &format!("-{}", h.flag());
            }
        }
        n
    }

    /// The column heading.
    pub fn title(&self) -> String {
        if let Some(h) = self.head {
            return format!("MLA ({})", h.title());
        }
        if self.method == Method::Mla && !(self.hgm && self.dynamic) {
            let mark = |on: bool| if on { "✓" } else { "✗" };
            format!("MLA (HGM {}, DF {})", mark(self.hgm), mark(self.dynamic))
        } else {
            self.method.title().to_string()
        }
    }

    /// The `train` flags that select it.
    fn flags(&self) -> Vec<String> {
        let mut f = vec!["--method".to_string(), self.method.name().to_string()];
        if !self.hgm {
            f.push("--no-hgm".into());
        }
        if !self.dynamic {
            f.extend(["--fusion".into(), "mean".into()]);
        }
        if let Some(h) = self.head {
            f.push(format!("--{}", h.flag()));
        }
        f
    }

    /// MLA's head ablation: the paper's MLA, without HGM, and each head option alone.
    pub fn head_ablation() -> Vec<Variant> {
        let mla = Variant::of(Method::Mla);
        let mut all = vec![
            mla.clone(),
            Variant {
                hgm: false,
                ..mla.clone()
            },
        ];
        all.extend(HeadOption::ALL.map(|h| Variant {
            head: Some(h),
            ..mla.clone()
        }));
        all
    }

    /// The four MLA configurations of the ablation: HGM x dynamic fusion.
    pub fn ablation() -> Vec<Variant> {
        [(false, false), (true, false), (false, true), (true, true)]
            .map(|(hgm, dynamic)| Variant {
                method: Method::Mla,
                hgm,
                dynamic,
                head: None,
            })
            .into()
    }
}

/// Parses `--methods`: `all`, `mla-heads` (MLA's head ablation, with Late fusion and
/// QMF beside it), or names separated by commas.
pub fn parse_methods(list: &str) -> Result<Vec<Variant>> {
    let mut out: Vec<Variant> = Vec::new();
    for item in list.split(',').map(str::trim) {
        let group = match item {
            "all" => Method::ALL.into_iter().map(Variant::of).collect(),
            "mla-heads" => {
                let mut v = Variant::head_ablation();
                v.extend([Method::Late, Method::Qmf].map(Variant::of));
                v
            }
            // A method, or one of MLA's variants by its run name (`mla-no-hgm`).
            one => match one.parse::<Method>() {
                Ok(method) => vec![Variant::of(method)],
                Err(e) => vec![
                    Variant::head_ablation()
                        .into_iter()
                        .chain(Variant::ablation())
                        .find(|v| v.name() == one)
                        .ok_or(e)?,
                ],
            },
        };
        // A method named twice (`mla-heads,late`) runs once.
        for v in group {
            if !out.iter().any(|o| o.name() == v.name()) {
                out.push(v);
            }
        }
    }
    Ok(out)
}

/// Mean and (sample) standard deviation.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n.max(1.0);
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// One method's results over the seeds.
#[derive(Clone, Debug, Serialize)]
pub struct Column {
    pub name: String,
    pub title: String,
    pub seeds: Vec<u64>,
    /// Per seed: the test report.
    pub tests: Vec<EvalReport>,
    /// Per seed: mean seconds per epoch.
    pub seconds_per_epoch: Vec<f64>,
    /// Per seed: the epoch validation chose.
    pub best_epochs: Vec<usize>,
    /// The seeds whose runs diverged, with the epoch (not in the numbers above).
    pub diverged: Vec<(u64, usize)>,
}

impl Column {
    fn new(name: String, title: String) -> Self {
        Self {
            name,
            title,
            seeds: Vec::new(),
            tests: Vec::new(),
            seconds_per_epoch: Vec::new(),
            best_epochs: Vec::new(),
            diverged: Vec::new(),
        }
    }

    fn push(&mut self, run: Run) {
        self.seeds.push(run.seed);
        self.tests.push(run.test);
        self.seconds_per_epoch.push(run.seconds);
        self.best_epochs.push(run.best_epoch);
    }
}

/// The Markdown table: a row per modality and `Multi` (accuracy %, mean ± std over
/// seeds, the best mean of each row in bold), seconds per epoch, and the epochs
/// validation chose (per seed).
pub fn table(columns: &[Column]) -> String {
    let Some(first) = columns.iter().find(|c| !c.tests.is_empty()) else {
        return "no finished runs\n".into();
    };
    let modalities = first.tests[0].modalities.clone();
    let mut out = String::from("| Data |");
    for c in columns {
        out += &format!(" {} |", c.title);
    }
    out += "\n|---|";
    out += &"---:|".repeat(columns.len());
    out += "\n";
    // A row per modality (`Some(k)`) and the fused one.
    let rows = modalities
        .iter()
        .enumerate()
        .map(|(k, name)| (name.clone(), Some(k)))
        .chain(std::iter::once(("Multi".to_string(), None)));
    let value = |r: &EvalReport, row: Option<usize>| row.map_or(r.fused, |k| r.unimodal[k]);
    for (label, row) in rows {
        let stats: Vec<Option<(f64, f64)>> = columns
            .iter()
            .map(|c| {
                let v: Vec<f64> = c.tests.iter().map(|r| 100.0 * value(r, row)).collect();
                (!v.is_empty()).then(|| mean_std(&v))
            })
            .collect();
        let best = stats.iter().flatten().map(|s| s.0).fold(f64::MIN, f64::max);
        out += &format!("| {label} |");
        for (s, c) in stats.iter().zip(columns) {
            out += &match s {
                Some((m, sd)) if (m - best).abs() < 1e-9 => format!(" **{m:.2} ± {sd:.2}** |"),
                Some((m, sd)) => format!(" {m:.2} ± {sd:.2} |"),
                None if !c.diverged.is_empty() => " diverged |".into(),
                None => " – |".into(),
            };
        }
        out += "\n";
    }
    if columns.iter().any(|c| !c.diverged.is_empty()) {
        out += "| diverged |";
        for c in columns {
            out += &if c.diverged.is_empty() {
                " – |".into()
            } else {
                format!(" {} |", diverged_list(&c.diverged))
            };
        }
        out += "\n";
    }
    out += "| s/epoch |";
    for c in columns {
        let (m, _) = mean_std(&c.seconds_per_epoch);
        out += &if c.seconds_per_epoch.is_empty() {
            " – |".into()
        } else {
            format!(" {m:.2} |")
        };
    }
    out += "\n| best epoch |";
    for c in columns {
        let epochs: Vec<String> = c.best_epochs.iter().map(|e| e.to_string()).collect();
        out += &if epochs.is_empty() {
            " – |".into()
        } else {
            format!(" {} |", epochs.join(", "))
        };
    }
    out + "\n"
}

/// `seed 0 (epoch 2), seed 3 (epoch 1)`.
fn diverged_list(runs: &[(u64, usize)]) -> String {
    let list: Vec<String> = runs
        .iter()
        .map(|(seed, epoch)| format!("seed {seed} (epoch {epoch})"))
        .collect();
    list.join(", ")
}

/// Table 2's layout: a row per method, a column per missing rate, the fused test
/// accuracy (%, mean ± std over seeds); per column the best mean in bold, the second
/// underlined. `rows`: the title and, per rate, the fused accuracies of the seeds.
pub fn missing_table(rates: &[f64], rows: &[(String, Vec<Vec<f64>>)]) -> String {
    let mut out = String::from("| Method |");
    for r in rates {
        out += &format!(" η = {r} |");
    }
    out += "\n|---|";
    out += &"---:|".repeat(rates.len());
    out += "\n";
    let stats: Vec<Vec<Option<(f64, f64)>>> = rows
        .iter()
        .map(|(_, cells)| {
            cells
                .iter()
                .map(|v| {
                    (!v.is_empty())
                        .then(|| mean_std(&v.iter().map(|a| 100.0 * a).collect::<Vec<_>>()))
                })
                .collect()
        })
        .collect();
    // Per column, the distinct means ranked (ties share a rank).
    let ranked: Vec<Vec<f64>> = (0..rates.len())
        .map(|j| {
            let mut means: Vec<f64> = stats.iter().filter_map(|r| r[j].map(|s| s.0)).collect();
            means.sort_by(|a, b| b.total_cmp(a));
            means.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
            means
        })
        .collect();
    for ((title, _), row) in rows.iter().zip(&stats) {
        out += &format!("| {title} |");
        for (j, cell) in row.iter().enumerate() {
            let rank = |m: f64| ranked[j].iter().position(|r| (r - m).abs() < 1e-9);
            out += &match cell {
                None => " – |".to_string(),
                Some((m, sd)) => match rank(*m) {
                    Some(0) => format!(" **{m:.2} ± {sd:.2}** |"),
                    Some(1) => format!(" <u>{m:.2} ± {sd:.2}</u> |"),
                    _ => format!(" {m:.2} ± {sd:.2} |"),
                },
            };
        }
        out += "\n";
    }
    out
}

/// Which table a grid makes, and so under which data conditions each run trains.
#[derive(Clone, Debug, PartialEq)]
pub enum Layout {
    /// Table 1: complete data as loaded.
    Table1,
    /// Table 2: each modality of each sample masked at each rate in every split.
    Missing(Vec<f64>),
    /// Fig. 2: one modality masked in training only, at each ratio.
    Isolation {
        modalities: Vec<String>,
        ratios: Vec<f64>,
    },
    /// Each method at each learning rate; Table 1 with each method at the rate whose
    /// mean fused validation accuracy is highest.
    LrGrid(Vec<f64>),
}

/// One data condition of a grid: the run folder's suffix and the `train` flags.
#[derive(Clone, Debug, PartialEq)]
struct Condition {
    key: String,
    flags: Vec<String>,
}

impl Layout {
    fn conditions(&self) -> Vec<Condition> {
        match self {
            Layout::Table1 => vec![Condition {
                key: String::new(),
                flags: Vec::new(),
            }],
            Layout::Missing(rates) => rates
                .iter()
                .map(|r| Condition {
                    key: format!("-missing{r}"),
                    flags: vec!["--missing".into(), r.to_string()],
                })
                .collect(),
            Layout::LrGrid(lrs) => lrs
                .iter()
                .map(|lr| Condition {
                    key: format!("-lr{lr}"),
                    flags: vec!["--lr".into(), lr.to_string()],
                })
                .collect(),
            Layout::Isolation { modalities, ratios } => (0..modalities.len())
                .flat_map(|k| ratios.iter().map(move |&r| (k, r)))
                .map(|(k, r)| {
                    // Nothing masked is the same run whichever modality it is for.
                    if r == 0.0 {
                        return Condition {
                            key: "-mask-none".into(),
                            flags: Vec::new(),
                        };
                    }
                    let rates: Vec<String> = (0..modalities.len())
                        .map(|j| if j == k { r.to_string() } else { "0".into() })
                        .collect();
                    Condition {
                        key: format!("-mask-{}{r}", modalities[k]),
                        flags: vec!["--missing-train".into(), rates.join(",")],
                    }
                })
                .collect(),
        }
    }
}

/// What `bench` runs.
pub struct Grid {
    pub data: String,
    /// The main table's columns.
    pub variants: Vec<Variant>,
    /// Also MLA's ablation (its own table, `ablation.md`).
    pub ablation: bool,
    pub seeds: Vec<u64>,
    pub layout: Layout,
    pub jobs: usize,
    /// Threads of each run.
    pub threads: usize,
    pub out: PathBuf,
    /// More `train` flags, the same for every run.
    pub extra: Vec<String>,
}

fn run_dir_of(out: &Path, v: &Variant, c: &Condition, seed: u64) -> PathBuf {
    out.join("runs")
        .join(format!("{}{}-seed{seed}", v.name(), c.key))
}

/// Runs one grid cell: skipped when finished, resumed when checkpointed.
fn run_one(grid: &Grid, v: &Variant, c: &Condition, seed: u64) -> Result<String> {
    let dir = run_dir_of(&grid.out, v, c, seed);
    if dir.join(TEST).exists() {
        return Ok("already done".into());
    }
    // A divergence is a result of the run, not a failure to retry: it would diverge
    // again at the same rate.
    if let Some(epoch) = diverged_epoch(&dir) {
        return Ok(format!("diverged in epoch {epoch} (earlier)"));
    }
    let exe = std::env::current_exe().context("finding mla-native itself")?;
    let mut cmd = Command::new(exe);
    cmd.args(["--threads", &grid.threads.to_string(), "train", "--quiet"]);
    let how = if dir.join(CHECKPOINT).exists() {
        cmd.arg("--resume").arg(&dir);
        // A resumed run keeps its saved settings; only the epoch count may follow.
        if let Some(i) = grid.extra.iter().position(|a| a == "--epochs") {
            cmd.args(&grid.extra[i..(i + 2).min(grid.extra.len())]);
        }
        "resumed"
    } else {
        cmd.args(["--data", &grid.data])
            .args(v.flags())
            .args(["--seed", &seed.to_string()])
            .args(&c.flags)
            .args(&grid.extra)
            .arg("--out")
            .arg(&dir);
        "trained"
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let log = std::fs::File::create(dir.join("log.txt"))?;
    let status = cmd
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .status()
        .context("starting a training run")?;
    if !status.success() {
        if let Some(epoch) = diverged_epoch(&dir) {
            return Ok(format!("diverged in epoch {epoch}"));
        }
        let log = std::fs::read_to_string(dir.join("log.txt")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(5).collect();
        bail!(
            "{} failed ({status}); last lines of {}:\n{}",
            dir.display(),
            dir.join("log.txt").display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(how.into())
}

/// A finished run, as the tables read it.
#[derive(Clone, Debug)]
struct Run {
    seed: u64,
    test: EvalReport,
    /// Mean seconds per epoch.
    seconds: f64,
    /// The epoch validation chose (1-based).
    best_epoch: usize,
    /// Its fused validation accuracy.
    valid_fused: f64,
}

/// Reads a finished run (`None` while it is not).
fn read_run(dir: &Path, seed: u64) -> Result<Option<Run>> {
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
fn diverged_epoch(dir: &Path) -> Option<usize> {
    let bytes = run_dir::read(dir, DIVERGED).ok()?;
    let record: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    Some(record["epoch"].as_u64().unwrap_or(0) as usize)
}

/// The seeds of one cell whose runs diverged, with the epoch.
fn diverged(grid: &Grid, v: &Variant, c: &Condition) -> Vec<(u64, usize)> {
    grid.seeds
        .iter()
        .filter_map(|&seed| diverged_epoch(&run_dir_of(&grid.out, v, c, seed)).map(|e| (seed, e)))
        .collect()
}

/// The finished seeds of one cell.
fn reports(grid: &Grid, v: &Variant, c: &Condition) -> Result<Vec<Run>> {
    let mut out = Vec::new();
    for &seed in &grid.seeds {
        if let Some(run) = read_run(&run_dir_of(&grid.out, v, c, seed), seed)? {
            out.push(run);
        }
    }
    Ok(out)
}

/// Every variant the grid runs, each once.
fn all_variants(grid: &Grid) -> Vec<Variant> {
    let mut all = grid.variants.clone();
    if grid.ablation {
        for v in Variant::ablation() {
            if !all.contains(&v) {
                all.push(v);
            }
        }
    }
    all
}

/// Runs the grid (`jobs` at a time), then writes its tables and `results.json` into
/// `out` and returns the Markdown.
pub fn run(grid: &Grid) -> Result<String> {
    let variants = all_variants(grid);
    let conditions = grid.layout.conditions();
    // Seed by seed: a grid stopped part way holds whole tables of fewer seeds.
    let mut cells: Vec<(Variant, Condition, u64)> = Vec::new();
    for &seed in &grid.seeds {
        for c in &conditions {
            for v in &variants {
                let cell = (v.clone(), c.clone(), seed);
                if !cells.contains(&cell) {
                    cells.push(cell);
                }
            }
        }
    }
    let total = cells.len();
    let queue = Mutex::new(cells.into_iter().enumerate());
    let failures = Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..grid.jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().expect("queue").next();
                    let Some((i, (v, c, seed))) = next else {
                        break;
                    };
                    let t = Instant::now();
                    let name = format!("{}{}", v.name(), c.key);
                    match run_one(grid, &v, &c, seed) {
                        Ok(how) => eprintln!(
                            "[{}/{total}] {name} seed {seed}: {how} in {:.0} s ({:.0} s so far)",
                            i + 1,
                            t.elapsed().as_secs_f64(),
                            started.elapsed().as_secs_f64()
                        ),
                        Err(e) => {
                            eprintln!("[{}/{total}] {name} seed {seed}: FAILED: {e:#}", i + 1);
                            failures.lock().expect("failures").push(format!("{e:#}"));
                        }
                    }
                }
            });
        }
    });
    let failed = failures.into_inner().expect("failures");
    let md = match &grid.layout {
        Layout::Table1 => write_table1(grid, &variants)?,
        Layout::Missing(rates) => write_table2(grid, &variants, rates)?,
        Layout::Isolation { modalities, ratios } => {
            write_isolation(grid, &variants, modalities, ratios)?
        }
        Layout::LrGrid(lrs) => write_lr_grid(grid, &variants, lrs)?,
    };
    if !failed.is_empty() {
        bail!(
            "{} of {total} runs failed (the table holds the others; rerun the same command to retry them):\n{}",
            failed.len(),
            failed.join("\n")
        );
    }
    Ok(md)
}

/// The seed, test report and chosen epoch of each run, for `results.json`.
fn runs_json(runs: Vec<Run>) -> Vec<serde_json::Value> {
    runs.into_iter()
        .map(|r| {
            serde_json::json!({
                "seed": r.seed, "test": r.test, "best_epoch": r.best_epoch,
                "valid_fused": r.valid_fused,
            })
        })
        .collect()
}

/// `results.json`: the grid's data and seeds, and the fields of `rest`.
fn write_results(grid: &Grid, mut rest: serde_json::Value) -> Result<()> {
    rest["data"] = serde_json::json!(grid.data);
    rest["seeds"] = serde_json::json!(grid.seeds);
    run_dir::write_atomic(
        &grid.out,
        "results.json",
        serde_json::to_string_pretty(&rest)?.as_bytes(),
    )
}

/// Table 2 from the finished runs: `missing.md` and `results.json`.
fn write_table2(grid: &Grid, variants: &[Variant], rates: &[f64]) -> Result<String> {
    let mut rows = Vec::new();
    let mut json = Vec::new();
    let conditions = grid.layout.conditions();
    for v in variants {
        let mut cells = Vec::new();
        for (c, rate) in conditions.iter().zip(rates) {
            let runs = reports(grid, v, c)?;
            cells.push(runs.iter().map(|r| r.test.fused).collect());
            let runs = runs_json(runs);
            json.push(serde_json::json!({
                "name": v.name(), "title": v.title(), "rate": rate, "runs": runs,
            }));
        }
        rows.push((v.title(), cells));
    }
    let md = missing_table(rates, &rows);
    run_dir::write_atomic(&grid.out, "missing.md", md.as_bytes())?;
    write_results(grid, serde_json::json!({ "rates": rates, "cells": json }))?;
    Ok(md)
}

/// Fig. 2 from the finished runs: per method and masked modality, each modality's test
/// accuracy (and the fused one) at each ratio: `isolation.md`, `isolation.svg` and
/// `results.json`.
fn write_isolation(
    grid: &Grid,
    variants: &[Variant],
    modalities: &[String],
    ratios: &[f64],
) -> Result<String> {
    let conditions = grid.layout.conditions();
    let mut md = String::from("| Method | masked in training | ratio |");
    for name in modalities {
        md += &format!(" {name} |");
    }
    md += " Multi |\n|---|---|---:|";
    md += &"---:|".repeat(modalities.len() + 1);
    md += "\n";
    let mut panels = Vec::new();
    let mut json = Vec::new();
    for v in variants {
        for (k, masked) in modalities.iter().enumerate() {
            // Per ratio: the mean accuracy of each modality and the fused one.
            let mut curves = vec![Vec::new(); modalities.len() + 1];
            for (j, &ratio) in ratios.iter().enumerate() {
                let runs = reports(grid, v, &conditions[k * ratios.len() + j])?;
                md += &format!("| {} | {masked} | {ratio} |", v.title());
                for (row, curve) in curves.iter_mut().enumerate() {
                    let values: Vec<f64> = runs
                        .iter()
                        .map(|r| 100.0 * r.test.unimodal.get(row).copied().unwrap_or(r.test.fused))
                        .collect();
                    let (mean, sd) = mean_std(&values);
                    curve.push(if values.is_empty() {
                        f64::NAN
                    } else {
                        mean / 100.0
                    });
                    md += &if values.is_empty() {
                        " – |".to_string()
                    } else {
                        format!(" {mean:.2} ± {sd:.2} |")
                    };
                }
                md += "\n";
                let runs = runs_json(runs);
                json.push(serde_json::json!({
                    "name": v.name(), "title": v.title(), "masked": masked, "ratio": ratio,
                    "runs": runs,
                }));
            }
            panels.push((
                format!("{}: {masked} masked in training", v.title()),
                curves,
            ));
        }
    }
    run_dir::write_atomic(&grid.out, "isolation.md", md.as_bytes())?;
    let svg = crate::plot::isolation_svg(&panels, modalities, ratios);
    run_dir::write_atomic(&grid.out, "isolation.svg", svg.as_bytes())?;
    write_results(grid, serde_json::json!({ "ratios": ratios, "cells": json }))?;
    Ok(md)
}

/// The learning-rate grid from the finished runs: `lr.md` (every method at every rate:
/// validation and test fused accuracy, the chosen rate marked), `table.md` (Table 1
/// with each method at its chosen rate) and `results.json`.
fn write_lr_grid(grid: &Grid, variants: &[Variant], lrs: &[f64]) -> Result<String> {
    let conditions = grid.layout.conditions();
    let mut md = String::from(
        "| Method | lr | valid fused | test fused | best epochs |\n|---|---:|---:|---:|---|\n",
    );
    let mut columns = Vec::new();
    let mut json = Vec::new();
    for v in variants {
        let cells: Vec<Vec<Run>> = conditions
            .iter()
            .map(|c| reports(grid, v, c))
            .collect::<Result<_>>()?;
        let diverged: Vec<Vec<(u64, usize)>> =
            conditions.iter().map(|c| diverged(grid, v, c)).collect();
        let valid = |runs: &[Run]| {
            let f: Vec<f64> = runs.iter().map(|r| 100.0 * r.valid_fused).collect();
            mean_std(&f)
        };
        // The first rate with the highest mean validation accuracy, among those where
        // no seed diverged.
        let chosen = (0..lrs.len())
            .filter(|&j| !cells[j].is_empty() && diverged[j].is_empty())
            .fold(None::<usize>, |best, j| match best {
                Some(b) if valid(&cells[b]).0 >= valid(&cells[j]).0 => Some(b),
                _ => Some(j),
            });
        for (j, runs) in cells.iter().enumerate() {
            if !diverged[j].is_empty() {
                md += &format!(
                    "| {} | {} | diverged: {} | – | – |\n",
                    v.title(),
                    lrs[j],
                    diverged_list(&diverged[j])
                );
            }
            if runs.is_empty() {
                continue;
            }
            let (vm, vs) = valid(runs);
            let test: Vec<f64> = runs.iter().map(|r| 100.0 * r.test.fused).collect();
            let (tm, ts) = mean_std(&test);
            let epochs: Vec<String> = runs.iter().map(|r| r.best_epoch.to_string()).collect();
            let mark = if chosen == Some(j) { " (chosen)" } else { "" };
            md += &format!(
                "| {} | {}{mark} | {vm:.2} ± {vs:.2} | {tm:.2} ± {ts:.2} | {} |\n",
                v.title(),
                lrs[j],
                epochs.join(", ")
            );
            json.push(serde_json::json!({
                "name": v.name(), "lr": lrs[j], "chosen": chosen == Some(j),
                "runs": runs_json(runs.clone()),
            }));
        }
        if let Some(j) = chosen {
            let mut column = Column::new(v.name(), format!("{} (lr {})", v.title(), lrs[j]));
            for run in cells[j].clone() {
                column.push(run);
            }
            columns.push(column);
        }
    }
    run_dir::write_atomic(&grid.out, "lr.md", md.as_bytes())?;
    let tuned = table(&columns);
    run_dir::write_atomic(&grid.out, "table.md", tuned.as_bytes())?;
    write_results(grid, serde_json::json!({ "lrs": lrs, "cells": json }))?;
    Ok(format!(
        "{md}\nEach method at its chosen learning rate:\n\n{tuned}"
    ))
}

/// Table 1 (and the ablation's) from the finished runs: `table.md`, `ablation.md`,
/// `results.json`.
fn write_table1(grid: &Grid, variants: &[Variant]) -> Result<String> {
    let mut columns = Vec::new();
    for v in variants {
        let mut column = Column::new(v.name(), v.title());
        let condition = &grid.layout.conditions()[0];
        for run in reports(grid, v, condition)? {
            column.push(run);
        }
        column.diverged = diverged(grid, v, condition);
        columns.push(column);
    }
    let pick = |wanted: &[Variant]| -> Vec<Column> {
        wanted
            .iter()
            .filter_map(|w| columns.iter().find(|c| c.name == w.name()).cloned())
            .collect()
    };
    let mut md = table(&pick(&grid.variants));
    run_dir::write_atomic(&grid.out, "table.md", md.as_bytes())?;
    if grid.ablation {
        let ablation = table(&pick(&Variant::ablation()));
        run_dir::write_atomic(&grid.out, "ablation.md", ablation.as_bytes())?;
        md += &format!(
            "\nAblation (HGM = head gradient modification, DF = dynamic fusion):\n\n{ablation}"
        );
    }
    write_results(grid, serde_json::json!({ "columns": columns }))?;
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(uni: [f64; 2], fused: f64) -> EvalReport {
        EvalReport {
            modalities: vec!["audio".into(), "image".into()],
            unimodal: uni.into(),
            fused,
            samples: 10,
        }
    }

    #[test]
    fn table_rows_per_modality_and_multi_best_in_bold() {
        let col = |name: &str, tests: Vec<EvalReport>| Column {
            name: name.into(),
            title: name.into(),
            seeds: (0..tests.len() as u64).collect(),
            seconds_per_epoch: vec![1.0; tests.len()],
            best_epochs: (1..=tests.len()).collect(),
            tests,
            diverged: Vec::new(),
        };
        let t = table(&[
            col("A", vec![report([0.5, 0.9], 0.9), report([0.7, 0.9], 0.92)]),
            col(
                "B",
                vec![report([0.8, 0.6], 0.95), report([0.8, 0.7], 0.97)],
            ),
            col("C", vec![]),
        ]);
        println!("{t}");
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "| Data | A | B | C |");
        // audio: A 60 ± 14.14, B 80 ± 0 (best).
        assert_eq!(lines[2], "| audio | 60.00 ± 14.14 | **80.00 ± 0.00** | – |");
        assert_eq!(lines[3], "| image | **90.00 ± 0.00** | 65.00 ± 7.07 | – |");
        assert_eq!(lines[4], "| Multi | 91.00 ± 1.41 | **96.00 ± 1.41** | – |");
        assert_eq!(lines[5], "| s/epoch | 1.00 | 1.00 | – |");
        assert_eq!(lines[6], "| best epoch | 1, 2 | 1, 2 | – |");

        // Diverged runs are named, not counted, and a method with none finished says so.
        let mut a = col("A", vec![report([0.5, 0.9], 0.9)]);
        a.diverged = vec![(1, 2)];
        let mut d = col("D", vec![]);
        d.diverged = vec![(0, 1), (1, 3)];
        let t = table(&[a, d]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[4], "| Multi | **90.00 ± 0.00** | diverged |", "{t}");
        assert_eq!(
            lines[5], "| diverged | seed 1 (epoch 2) | seed 0 (epoch 1), seed 1 (epoch 3) |",
            "{t}"
        );
    }

    #[test]
    fn missing_table_rows_per_method_best_bold_second_underlined() {
        let rows = vec![
            ("A".to_string(), vec![vec![0.9, 0.8], vec![0.5]]),
            ("B".to_string(), vec![vec![0.7], vec![0.6, 0.6]]),
            ("C".to_string(), vec![vec![0.95], vec![]]),
        ];
        let t = missing_table(&[0.1, 0.7], &rows);
        println!("{t}");
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "| Method | η = 0.1 | η = 0.7 |");
        assert_eq!(
            lines[2],
            "| A | <u>85.00 ± 7.07</u> | <u>50.00 ± 0.00</u> |"
        );
        assert_eq!(lines[3], "| B | 70.00 ± 0.00 | **60.00 ± 0.00** |");
        assert_eq!(lines[4], "| C | **95.00 ± 0.00** | – |");
    }

    #[test]
    fn methods_parse_and_ablation_names_differ() {
        let all = parse_methods("all").unwrap();
        assert_eq!(all.len(), 8);
        assert_eq!(all[1].title(), "Concat");
        let some = parse_methods("concat,ogm-ge").unwrap();
        assert_eq!(some[0].method, Method::Joint);
        assert!(parse_methods("mla,nope").is_err());
        let names: Vec<String> = Variant::ablation().iter().map(Variant::name).collect();
        assert_eq!(
            names,
            ["mla-no-hgm-no-df", "mla-no-df", "mla-no-hgm", "mla"]
        );
        assert_eq!(
            Variant::ablation()[0].flags(),
            ["--method", "mla", "--no-hgm", "--fusion", "mean"]
        );
        let heads = parse_methods("mla-heads").unwrap();
        let more: Vec<String> = parse_methods("mla-heads, concat,late")
            .unwrap()
            .iter()
            .map(Variant::name)
            .collect();
        assert_eq!(more.len(), heads.len() + 1);
        assert_eq!(more.last().map(String::as_str), Some("joint"));
        let picked: Vec<String> = parse_methods("mla,mla-no-hgm,late")
            .unwrap()
            .iter()
            .map(Variant::name)
            .collect();
        assert_eq!(picked, ["mla", "mla-no-hgm", "late"]);
        assert!(parse_methods("mla-no-such").is_err());
        let names: Vec<String> = heads.iter().map(Variant::name).collect();
        assert_eq!(
            names,
            [
                "mla",
                "mla-no-hgm",
                "mla-head-state-per-modality",
                "mla-head-lr-divided",
                "mla-bias-per-modality",
                "mla-head-per-modality",
                "mla-calibrate",
                "late",
                "qmf"
            ]
        );
        assert_eq!(heads[5].flags(), ["--method", "mla", "--head-per-modality"]);
        assert_eq!(heads[3].title(), "MLA (head lr / M)");
    }
}
