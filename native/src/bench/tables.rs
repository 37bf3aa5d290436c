//! The tables' layouts: Table 1 (rows per modality and Multi, a column per method)
//! and Table 2 (a row per method, a column per missing rate), in Markdown.

use mla::EvalReport;
use serde::Serialize;

use super::runs::Run;

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
    pub(super) fn new(name: String, title: String) -> Self {
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

    pub(super) fn push(&mut self, run: Run) {
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
pub(super) fn diverged_list(runs: &[(u64, usize)]) -> String {
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
