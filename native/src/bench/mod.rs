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

use crate::run_dir::{CHECKPOINT, TEST};

mod reports;
mod runs;
mod tables;
mod variants;

use reports::{write_isolation, write_lr_grid, write_table1, write_table2};
use runs::diverged_epoch;
pub use variants::{Variant, parse_methods};

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

#[cfg(test)]
mod tests {
    use mla::EvalReport;
    use mla::config::Method;

    use super::tables::{Column, missing_table, table};
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
