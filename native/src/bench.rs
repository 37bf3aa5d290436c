//! `mla-native bench`: methods x seeds on one data source, each a `train` run of its
//! own (in parallel with `--jobs`), resumed where a grid was interrupted, then the
//! paper's Table 1 layout (rows per modality and Multi, columns per method, mean ± std
//! over seeds, best in bold) as Markdown and JSON.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use mla::EvalReport;
use mla::config::Method;
use serde::Serialize;

use crate::run_dir::{self, CHECKPOINT, METRICS, TEST};

/// One column of the table: a method, with MLA's ablation switches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    pub method: Method,
    /// MLA only: head gradient modification on.
    pub hgm: bool,
    /// MLA only: dynamic (entropy) fusion on; off = equal weights.
    pub dynamic: bool,
}

impl Variant {
    fn of(method: Method) -> Self {
        Self {
            method,
            hgm: true,
            dynamic: true,
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
        }
        n
    }

    /// The column heading.
    pub fn title(&self) -> String {
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
        f
    }

    /// The four MLA configurations of the ablation: HGM x dynamic fusion.
    pub fn ablation() -> Vec<Variant> {
        [(false, false), (true, false), (false, true), (true, true)]
            .map(|(hgm, dynamic)| Variant {
                method: Method::Mla,
                hgm,
                dynamic,
            })
            .into()
    }
}

/// Parses `--methods`: `all`, or names separated by commas.
pub fn parse_methods(list: &str) -> Result<Vec<Variant>> {
    if list.trim() == "all" {
        return Ok(Method::ALL.into_iter().map(Variant::of).collect());
    }
    list.split(',')
        .map(|s| Ok(Variant::of(s.parse::<Method>()?)))
        .collect()
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
}

/// The Markdown table: a row per modality and `Multi` (accuracy %, mean ± std over
/// seeds, the best mean of each row in bold), and seconds per epoch.
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
        for s in &stats {
            out += &match s {
                Some((m, sd)) if (m - best).abs() < 1e-9 => format!(" **{m:.2} ± {sd:.2}** |"),
                Some((m, sd)) => format!(" {m:.2} ± {sd:.2} |"),
                None => " – |".into(),
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
    out + "\n"
}

/// What `bench` runs.
pub struct Grid {
    pub data: String,
    /// The main table's columns.
    pub variants: Vec<Variant>,
    /// Also MLA's ablation (its own table, `ablation.md`).
    pub ablation: bool,
    pub seeds: Vec<u64>,
    pub jobs: usize,
    pub out: PathBuf,
    /// More `train` flags, the same for every run.
    pub extra: Vec<String>,
}

fn run_dir_of(out: &Path, v: &Variant, seed: u64) -> PathBuf {
    out.join("runs").join(format!("{}-seed{seed}", v.name()))
}

/// Runs one grid cell: skipped when finished, resumed when checkpointed.
fn run_one(grid: &Grid, v: &Variant, seed: u64) -> Result<String> {
    let dir = run_dir_of(&grid.out, v, seed);
    if dir.join(TEST).exists() {
        return Ok("already done".into());
    }
    let exe = std::env::current_exe().context("finding mla-native itself")?;
    let mut cmd = Command::new(exe);
    cmd.arg("train").arg("--quiet");
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

/// Reads a finished run: its test report and mean seconds per epoch.
fn read_run(dir: &Path) -> Result<Option<(EvalReport, f64)>> {
    let Ok(bytes) = run_dir::read(dir, TEST) else {
        return Ok(None);
    };
    let test: EvalReport = serde_json::from_slice(&bytes)
        .with_context(|| format!("parsing {}", dir.join(TEST).display()))?;
    let metrics = String::from_utf8_lossy(&run_dir::read(dir, METRICS)?).to_string();
    let seconds: Vec<f64> = metrics
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["seconds"].as_f64())
        .collect();
    Ok(Some((test, mean_std(&seconds).0)))
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

/// Runs the grid (`jobs` at a time), then writes `table.md` (and `ablation.md`) and
/// `results.json` into `out` and returns the tables.
pub fn run(grid: &Grid) -> Result<String> {
    let variants = all_variants(grid);
    let cells: Vec<(Variant, u64)> = variants
        .iter()
        .flat_map(|v| grid.seeds.iter().map(move |&s| (v.clone(), s)))
        .collect();
    let total = cells.len();
    let queue = Mutex::new(cells.into_iter().enumerate());
    let failures = Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..grid.jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().expect("queue").next();
                    let Some((i, (v, seed))) = next else { break };
                    let t = Instant::now();
                    match run_one(grid, &v, seed) {
                        Ok(how) => eprintln!(
                            "[{}/{total}] {} seed {seed}: {how} in {:.0} s ({:.0} s so far)",
                            i + 1,
                            v.name(),
                            t.elapsed().as_secs_f64(),
                            started.elapsed().as_secs_f64()
                        ),
                        Err(e) => {
                            eprintln!(
                                "[{}/{total}] {} seed {seed}: FAILED: {e:#}",
                                i + 1,
                                v.name()
                            );
                            failures.lock().expect("failures").push(format!("{e:#}"));
                        }
                    }
                }
            });
        }
    });
    let mut columns = Vec::new();
    for v in &variants {
        let mut column = Column {
            name: v.name(),
            title: v.title(),
            seeds: Vec::new(),
            tests: Vec::new(),
            seconds_per_epoch: Vec::new(),
        };
        for &seed in &grid.seeds {
            if let Some((test, seconds)) = read_run(&run_dir_of(&grid.out, v, seed))? {
                column.seeds.push(seed);
                column.tests.push(test);
                column.seconds_per_epoch.push(seconds);
            }
        }
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
    let json = serde_json::json!({ "data": grid.data, "seeds": grid.seeds, "columns": columns });
    run_dir::write_atomic(
        &grid.out,
        "results.json",
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )?;
    let failed = failures.into_inner().expect("failures");
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
            tests,
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
    }
}
