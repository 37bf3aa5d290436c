//! The UCI Multiple Features data set: 2,000 handwritten digits described by six
//! views (`fou`, `fac`, `kar`, `pix`, `zer`, `mor`), any subset of them as modalities.
//!
//! Files `mfeat-<view>.csv`: a header row, then one row per sample, the last column the
//! label 0-9; row `i` of every file is the same sample.

use serde::{Deserialize, Serialize};

use super::dataset::{Dataset, InputKind, ModalityData, Splits};
use super::split::stratified_split;
use super::standardize::Standardizer;
use crate::error::{MlaError, Result};

/// The six views, in the data set's own order.
pub const VIEWS: [&str; 6] = ["fou", "fac", "kar", "pix", "zer", "mor"];

/// Which views, and how to split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MfeatConfig {
    /// Views used as modalities (at least 2), in this order.
    pub views: Vec<String>,
    /// Share of each class held out for validation.
    pub valid_fraction: f64,
    /// Share of each class held out for testing.
    pub test_fraction: f64,
    /// Seed of the split.
    pub seed: u64,
}

impl Default for MfeatConfig {
    fn default() -> Self {
        Self {
            views: VIEWS.iter().map(|v| v.to_string()).collect(),
            valid_fraction: 0.15,
            test_fraction: 0.15,
            seed: 0,
        }
    }
}

impl MfeatConfig {
    /// Checks every field; errors name the field.
    pub fn validate(&self) -> Result<()> {
        if self.views.len() < 2 {
            return Err(MlaError::config("data.views", "MLA needs at least 2 views"));
        }
        for (i, v) in self.views.iter().enumerate() {
            if !VIEWS.contains(&v.as_str()) {
                return Err(MlaError::config(
                    format!("data.views[{i}]"),
                    format!("unknown view `{v}` (expected one of {})", VIEWS.join(", ")),
                ));
            }
            if self.views[..i].contains(v) {
                return Err(MlaError::config(
                    format!("data.views[{i}]"),
                    format!("view `{v}` is listed twice"),
                ));
            }
        }
        super::split::check_fractions(self.valid_fraction, self.test_fraction)
    }
}

/// One parsed view file: features per row and labels.
struct View {
    dim: usize,
    values: Vec<f32>,
    labels: Vec<usize>,
}

fn parse_view(name: &str, bytes: &[u8]) -> Result<View> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| MlaError::Data(format!("{name}: not UTF-8 text ({e})")))?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines
        .next()
        .ok_or_else(|| MlaError::Data(format!("{name}: the file is empty")))?;
    let columns = header.split(',').count();
    if columns < 2 {
        return Err(MlaError::Data(format!(
            "{name} line 1: expected a header of feature columns and a label column"
        )));
    }
    let dim = columns - 1;
    let (mut values, mut labels) = (Vec::new(), Vec::new());
    for (k, line) in lines {
        let at = k + 1;
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != columns {
            return Err(MlaError::Data(format!(
                "{name} line {at}: {} cells, the header has {columns}",
                cells.len()
            )));
        }
        for (c, cell) in cells[..dim].iter().enumerate() {
            let v: f32 = cell.trim().parse().map_err(|_| {
                MlaError::Data(format!(
                    "{name} line {at} column {}: `{cell}` is not a number",
                    c + 1
                ))
            })?;
            if !v.is_finite() {
                return Err(MlaError::Data(format!(
                    "{name} line {at} column {}: `{cell}` is not finite",
                    c + 1
                )));
            }
            values.push(v);
        }
        let label = cells[dim].trim();
        let label = label
            .parse::<f64>()
            .ok()
            .filter(|l| l.fract() == 0.0 && (0.0..10.0).contains(l))
            .ok_or_else(|| {
                MlaError::Data(format!(
                    "{name} line {at}: label `{label}` is not a digit 0-9"
                ))
            })?;
        labels.push(label as usize);
    }
    if labels.is_empty() {
        return Err(MlaError::Data(format!("{name}: no samples")));
    }
    Ok(View {
        dim,
        values,
        labels,
    })
}

/// The data set from the view files; `read(file_name)` returns a file's bytes (e.g.
/// `mfeat-fou.csv`) or a message saying why it cannot.
pub fn mfeat(
    mut read: impl FnMut(&str) -> std::result::Result<Vec<u8>, String>,
    config: &MfeatConfig,
) -> Result<Splits> {
    config.validate()?;
    let mut views = Vec::with_capacity(config.views.len());
    for v in &config.views {
        let file = format!("mfeat-{v}.csv");
        let bytes = read(&file).map_err(|why| MlaError::Data(format!("{file}: {why}")))?;
        views.push((v.clone(), file.clone(), parse_view(&file, &bytes)?));
    }
    let (_, first_file, first) = &views[0];
    for (_, file, view) in &views[1..] {
        if view.labels.len() != first.labels.len() {
            return Err(MlaError::Data(format!(
                "{file} has {} samples, {first_file} has {}: row i of every view must be the same sample",
                view.labels.len(),
                first.labels.len()
            )));
        }
        if let Some(i) = (0..view.labels.len()).find(|&i| view.labels[i] != first.labels[i]) {
            return Err(MlaError::Data(format!(
                "{file} line {}: label {} but {first_file} says {}",
                i + 2,
                view.labels[i],
                first.labels[i]
            )));
        }
    }
    let labels = first.labels.clone();
    let (train, valid, test) = stratified_split(
        &labels,
        10,
        config.valid_fraction,
        config.test_fraction,
        config.seed,
    )?;
    let n = labels.len();
    let modalities = views
        .into_iter()
        .map(|(name, _, mut view)| {
            Standardizer::fit(&view.values, view.dim, view.dim, &train).apply(&mut view.values);
            ModalityData {
                name,
                kind: InputKind::Features { dim: view.dim },
                values: view.values,
                present: vec![true; n],
            }
        })
        .collect();
    let all = Dataset::new(modalities, labels, 10)?;
    all.split(&train, &valid, &test)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(fou: &str, fac: &str) -> impl FnMut(&str) -> std::result::Result<Vec<u8>, String> {
        let (fou, fac) = (fou.to_string(), fac.to_string());
        move |name: &str| match name {
            "mfeat-fou.csv" => Ok(fou.clone().into_bytes()),
            "mfeat-fac.csv" => Ok(fac.clone().into_bytes()),
            _ => Err("no such file".into()),
        }
    }

    fn two_views() -> MfeatConfig {
        MfeatConfig {
            views: vec!["fou".into(), "fac".into()],
            ..Default::default()
        }
    }

    fn rows(n: usize, dim: usize) -> String {
        let mut s = (0..=dim)
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(",")
            + "\n";
        for i in 0..n {
            let cells: Vec<String> = (0..dim).map(|d| format!("{}", (i * 7 + d) % 13)).collect();
            s += &format!("{},{}\n", cells.join(","), i % 10);
        }
        s
    }

    #[test]
    fn views_become_standardised_modalities() {
        let s = mfeat(files(&rows(60, 3), &rows(60, 5)), &two_views()).unwrap();
        assert_eq!(s.train.names(), vec!["fou", "fac"]);
        assert_eq!(s.train.kinds()[1], InputKind::Features { dim: 5 });
        assert_eq!(s.train.len() + s.valid.len() + s.test.len(), 60);
        // Training features have mean 0 and deviation 1 per column.
        let m = &s.train.modalities[0];
        for d in 0..3 {
            let col: Vec<f64> = (0..s.train.len()).map(|i| m.item(i)[d] as f64).collect();
            let mean = col.iter().sum::<f64>() / col.len() as f64;
            let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / col.len() as f64;
            assert!(
                mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4,
                "{mean} {var}"
            );
        }
    }

    #[test]
    fn bad_files_name_file_line_and_column() {
        let run = |fou: &str, fac: &str| {
            mfeat(files(fou, fac), &two_views())
                .unwrap_err()
                .to_string()
        };
        let good = rows(30, 2);
        let e = run("a,b,label\n1,2,3\n1,x,4\n", &good);
        assert!(
            e.contains("mfeat-fou.csv line 3 column 2") && e.contains("`x`"),
            "{e}"
        );
        let e = run("a,b,label\n1,NaN,3\n", &good);
        assert!(
            e.contains("line 2 column 2") && e.contains("not finite"),
            "{e}"
        );
        let e = run("a,b,label\n1,2\n", &good);
        assert!(e.contains("line 2: 2 cells, the header has 3"), "{e}");
        let e = run("a,b,label\n1,2,12\n", &good);
        assert!(e.contains("label `12`"), "{e}");
        let e = run(&rows(20, 2), &good);
        assert!(e.contains("30 samples") && e.contains("has 20"), "{e}");
        let e = mfeat(
            files(&good, &good),
            &MfeatConfig {
                views: vec!["fou".into(), "pix".into()],
                ..Default::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("mfeat-pix.csv") && e.contains("no such file"),
            "{e}"
        );
        let e = MfeatConfig {
            views: vec!["fou".into(), "abc".into()],
            ..Default::default()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(e.contains("data.views[1]") && e.contains("abc"), "{e}");
    }
}
