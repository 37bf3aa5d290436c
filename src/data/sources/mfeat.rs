//! The UCI Multiple Features data set: 2,000 handwritten digits described by six
//! views (`fou`, `fac`, `kar`, `pix`, `zer`, `mor`), any subset of them as modalities.
//!
//! Files `mfeat-<view>.csv`: a header row, then one row per sample, the last column the
//! label 0-9; row `i` of every file is the same sample.

use serde::{Deserialize, Serialize};

use crate::data::dataset::{Dataset, InputKind, ModalityData, Splits};
use crate::data::features::standardize::Standardizer;
use crate::data::sources::{DataSource, Files, Loading, SourceEntry, from_json, join};
use crate::data::transform::split::stratified_split;
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
    /// Leave out samples with a bad row in any view (returned with the splits) instead
    /// of failing.
    pub skip_bad: bool,
}

impl Default for MfeatConfig {
    fn default() -> Self {
        Self {
            views: VIEWS.iter().map(|v| v.to_string()).collect(),
            valid_fraction: 0.15,
            test_fraction: 0.15,
            seed: 0,
            skip_bad: false,
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
        crate::data::transform::split::check_fractions(self.valid_fraction, self.test_fraction)
    }
}

/// One parsed view file: per row, its features and label, or what is wrong with it.
struct View {
    dim: usize,
    rows: Vec<std::result::Result<(Vec<f32>, usize), String>>,
}

/// One row's features and label; errors name the line and column.
fn parse_row(
    name: &str,
    at: usize,
    line: &str,
    columns: usize,
) -> std::result::Result<(Vec<f32>, usize), String> {
    let cells: Vec<&str> = line.split(',').collect();
    if cells.len() != columns {
        return Err(format!(
            "{name} line {at}: {} cells, the header has {columns}",
            cells.len()
        ));
    }
    let dim = columns - 1;
    let mut values = Vec::with_capacity(dim);
    for (c, cell) in cells[..dim].iter().enumerate() {
        let v: f32 = cell.trim().parse().map_err(|_| {
            format!(
                "{name} line {at} column {}: `{cell}` is not a number",
                c + 1
            )
        })?;
        if !v.is_finite() {
            return Err(format!(
                "{name} line {at} column {}: `{cell}` is not finite",
                c + 1
            ));
        }
        values.push(v);
    }
    let label = cells[dim].trim();
    let label = label
        .parse::<f64>()
        .ok()
        .filter(|l| l.fract() == 0.0 && (0.0..10.0).contains(l))
        .ok_or_else(|| format!("{name} line {at}: label `{label}` is not a digit 0-9"))?;
    Ok((values, label as usize))
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
    let rows: Vec<_> = lines
        .map(|(k, line)| parse_row(name, k + 1, line, columns))
        .collect();
    if rows.is_empty() {
        return Err(MlaError::Data(format!("{name}: no samples")));
    }
    Ok(View {
        dim: columns - 1,
        rows,
    })
}

/// Row `i` of a view, known to be good.
fn row(view: &View, i: usize) -> &(Vec<f32>, usize) {
    view.rows[i].as_ref().expect("a good row")
}

/// The data set from the view files; `read(file_name)` returns a file's bytes (e.g.
/// `mfeat-fou.csv`) or a message saying why it cannot. Every row of every view is
/// checked first; a sample with a bad row in any view is reported (all of them at
/// once), or left out of every view with `skip_bad` and returned.
pub fn mfeat(
    mut read: impl FnMut(&str) -> std::result::Result<Vec<u8>, String>,
    config: &MfeatConfig,
) -> Result<(Splits, Vec<String>)> {
    config.validate()?;
    let mut views = Vec::with_capacity(config.views.len());
    for v in &config.views {
        let file = format!("mfeat-{v}.csv");
        let bytes = read(&file).map_err(|why| MlaError::Data(format!("{file}: {why}")))?;
        views.push((v.clone(), file.clone(), parse_view(&file, &bytes)?));
    }
    let (_, first_file, first) = &views[0];
    let n = first.rows.len();
    if let Some((_, file, view)) = views[1..].iter().find(|(_, _, v)| v.rows.len() != n) {
        return Err(MlaError::Data(format!(
            "{file} has {} samples, {first_file} has {n}: row i of every view must be the same sample",
            view.rows.len()
        )));
    }
    // Per sample: every view's problem, and labels that disagree between views.
    let mut problems = Vec::new();
    let mut good = Vec::with_capacity(n);
    for i in 0..n {
        let mut found: Vec<String> = views
            .iter()
            .filter_map(|(_, _, v)| v.rows[i].as_ref().err().cloned())
            .collect();
        let labels: Vec<(&String, usize)> = views
            .iter()
            .filter_map(|(_, file, v)| v.rows[i].as_ref().ok().map(|r| (file, r.1)))
            .collect();
        if let Some((file, label)) = labels.iter().find(|(_, l)| *l != labels[0].1) {
            found.push(format!(
                "{file} line {}: label {label} but {} says {}",
                i + 2,
                labels[0].0,
                labels[0].1
            ));
        }
        match found.is_empty() {
            true => good.push(i),
            false => problems.push(found.join("; ")),
        }
    }
    let skipped = crate::data::dataset::triage::triage("mfeat", problems, config.skip_bad)?;
    let labels: Vec<usize> = good.iter().map(|&i| row(first, i).1).collect();
    let (train, valid, test) = stratified_split(
        &labels,
        10,
        config.valid_fraction,
        config.test_fraction,
        config.seed,
    )?;
    let n = labels.len();
    let modalities = views
        .iter()
        .map(|(name, _, view)| {
            let mut values: Vec<f32> = good.iter().flat_map(|&i| row(view, i).0.clone()).collect();
            Standardizer::fit(&values, view.dim, view.dim, &train).apply(&mut values);
            ModalityData {
                name: name.clone(),
                kind: InputKind::Features { dim: view.dim },
                values: values.into(),
                present: vec![true; n],
            }
        })
        .collect();
    let all = Dataset::new(modalities, labels, 10)?;
    Ok((all.split(&train, &valid, &test)?, skipped))
}

/// A folder of `mfeat-<view>.csv` files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfeatSource {
    pub dir: String,
    #[serde(default)]
    pub options: MfeatConfig,
}

/// `source = "mfeat"`, `--data mfeat:DIR[,views=fou+fac]`.
pub const ENTRY: SourceEntry = SourceEntry {
    name: "mfeat",
    spec: "mfeat",
    from_json: from_json::<MfeatSource>,
    from_spec: |spec| {
        let mut dir = None;
        let mut options = MfeatConfig {
            seed: spec.seed,
            ..Default::default()
        };
        for (k, v) in &spec.options {
            match k.as_str() {
                "dir" => dir = Some(spec.path(v)),
                "views" => options.views = v.split('+').map(str::to_string).collect(),
                _ => return Err(spec.unknown(k, "dir, views")),
            }
        }
        let dir =
            dir.ok_or_else(|| spec.missing("mfeat:DIR needs the folder of mfeat-*.csv files"))?;
        Ok(Box::new(MfeatSource { dir, options }))
    },
};

impl DataSource for MfeatSource {
    fn load(&self, files: &dyn Files) -> Result<Loading> {
        let read = |file: &str| files.read(&join(&self.dir, file));
        let (splits, skipped) = mfeat(read, &self.options)?;
        Ok(Loading::Built { splits, skipped })
    }

    crate::source_boilerplate!(options);
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
        let (s, _) = mfeat(files(&rows(60, 3), &rows(60, 5)), &two_views()).unwrap();
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
        let e = run("a,b,label\n1,2,0\n1,x,1\n", &rows(2, 2));
        assert!(
            e.contains("mfeat-fou.csv line 3 column 2") && e.contains("`x`"),
            "{e}"
        );
        let e = run("a,b,label\n1,NaN,0\n", &rows(1, 2));
        assert!(
            e.contains("line 2 column 2") && e.contains("not finite"),
            "{e}"
        );
        let e = run("a,b,label\n1,2\n", &rows(1, 2));
        assert!(e.contains("line 2: 2 cells, the header has 3"), "{e}");
        let e = run("a,b,label\n1,2,12\n", &rows(1, 2));
        assert!(e.contains("label `12`"), "{e}");
        // Every bad row at once, across views, and a label two views disagree on.
        let mut fou = rows(30, 2);
        fou = fou.replacen("\n0,1,0\n", "\n0,inf,0\n", 1);
        let mut fac = good.replacen("\n7,8,1\n", "\n7,8,2\n", 1);
        fac = fac.replacen("\n1,2,2\n", "\n1,x,2\n", 1);
        let e = run(&fou, &fac);
        assert!(e.contains("mfeat: 3 bad samples"), "{e}");
        assert!(
            e.contains("mfeat-fou.csv line 2 column 2: `inf` is not finite"),
            "{e}"
        );
        assert!(
            e.contains("mfeat-fac.csv line 3: label 2 but mfeat-fou.csv says 1"),
            "{e}"
        );
        assert!(e.contains("mfeat-fac.csv line 4 column 2: `x`"), "{e}");
        let skipping = MfeatConfig {
            skip_bad: true,
            ..two_views()
        };
        let (s, skipped) = mfeat(files(&fou, &fac), &skipping).unwrap();
        assert_eq!(skipped.len(), 3);
        assert_eq!(s.train.len() + s.valid.len() + s.test.len(), 27);
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
