//! Writing a grid's tables and `results.json` from its finished runs: Table 1 and the
//! ablation, Table 2, Fig. 2 and the learning-rate grid.

use anyhow::Result;

use super::runs::{Run, diverged, reports};
use super::tables::{Column, diverged_list, mean_std, missing_table, table};
use super::{Grid, Variant};
use crate::run_dir;

/// The seed, test report and chosen epoch of each run, for `results.json`.
pub(super) fn runs_json(runs: Vec<Run>) -> Vec<serde_json::Value> {
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
pub(super) fn write_results(grid: &Grid, mut rest: serde_json::Value) -> Result<()> {
    rest["data"] = serde_json::json!(grid.data);
    rest["seeds"] = serde_json::json!(grid.seeds);
    run_dir::write_atomic(
        &grid.out,
        "results.json",
        serde_json::to_string_pretty(&rest)?.as_bytes(),
    )
}

/// Table 2 from the finished runs: `missing.md` and `results.json`.
pub(super) fn write_table2(grid: &Grid, variants: &[Variant], rates: &[f64]) -> Result<String> {
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
pub(super) fn write_isolation(
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
pub(super) fn write_lr_grid(grid: &Grid, variants: &[Variant], lrs: &[f64]) -> Result<String> {
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
pub(super) fn write_table1(grid: &Grid, variants: &[Variant]) -> Result<String> {
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
