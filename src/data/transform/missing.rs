//! Missing-modality masks drawn at a rate (the paper's Section 4.2 and Fig. 2): each
//! modality of each sample is dropped with probability `η`, on top of the cells a data
//! set already lacks.
//!
//! The draws depend only on the seed, the split and the sample's position, never on
//! the data, the rates or the backend: the same seed masks the same cells everywhere,
//! and a cell masked at `η` is masked at every larger `η` (unless the rule below keeps
//! it). A sample whose every present modality would be dropped keeps one of them,
//! chosen uniformly at random, so no sample leaves the data set; the rates actually
//! reached are therefore a little lower than asked where every modality is masked
//! (with 2 modalities at `η = 0.7`, about 0.46), and [`MissingReport`] states them.

use serde::{Deserialize, Serialize};

use crate::data::dataset::{Dataset, Splits};
use crate::error::{MlaError, Result};
use crate::rng::Rng;

/// One rate for every modality, or one per modality (in the data's modality order).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MissingRates {
    All(f64),
    PerModality(Vec<f64>),
}

impl Default for MissingRates {
    fn default() -> Self {
        MissingRates::All(0.0)
    }
}

impl MissingRates {
    /// Whether nothing is masked.
    pub fn is_none(&self) -> bool {
        match self {
            MissingRates::All(r) => *r == 0.0,
            MissingRates::PerModality(r) => r.iter().all(|r| *r == 0.0),
        }
    }

    /// The rate of each of `m` modalities, checked; errors name `field`.
    pub fn per_modality(&self, m: usize, field: &str) -> Result<Vec<f64>> {
        let rates = match self {
            MissingRates::All(r) => vec![*r; m],
            MissingRates::PerModality(r) if r.len() == m => r.clone(),
            MissingRates::PerModality(r) => {
                return Err(MlaError::config(
                    field,
                    format!("{} rates for {m} modalities", r.len()),
                ));
            }
        };
        if let Some(r) = rates.iter().find(|r| !(0.0..=1.0).contains(*r)) {
            return Err(MlaError::config(
                field,
                format!("a missing rate must be in [0, 1], got {r}"),
            ));
        }
        Ok(rates)
    }
}

impl std::str::FromStr for MissingRates {
    type Err = String;

    /// `0.3` (every modality) or `0.5,0` (one per modality).
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let rates = s
            .split(',')
            .map(|r| {
                r.trim()
                    .parse::<f64>()
                    .map_err(|_| format!("`{r}` is not a rate (a number in [0, 1])"))
            })
            .collect::<std::result::Result<Vec<f64>, String>>()?;
        Ok(match rates[..] {
            [r] => MissingRates::All(r),
            _ => MissingRates::PerModality(rates),
        })
    }
}

/// Masks for the train, validation and test splits (`[missing]` in a run's
/// configuration). All zero by default.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MissingConfig {
    pub train: MissingRates,
    pub valid: MissingRates,
    pub test: MissingRates,
    /// Seed of the draws; absent: the run's training seed, so that every seed of a
    /// benchmark draws its own masks and every method of one seed the same ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// What masking did to one split: per modality, the cells present before and after,
/// and how many a sample kept because it would have lost every modality.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MissingReport {
    /// The split ("train", "valid", "test").
    pub split: String,
    pub modalities: Vec<String>,
    /// The rates asked, per modality.
    pub rates: Vec<f64>,
    pub samples: usize,
    pub present_before: Vec<usize>,
    pub present_after: Vec<usize>,
    /// Cells kept by the at-least-one-modality rule.
    pub kept: usize,
}

impl MissingReport {
    /// The fraction of each modality's cells missing after masking.
    pub fn missing_fraction(&self) -> Vec<f64> {
        self.present_after
            .iter()
            .map(|&p| 1.0 - p as f64 / self.samples.max(1) as f64)
            .collect()
    }
}

impl MissingConfig {
    /// Whether no split is masked.
    pub fn is_none(&self) -> bool {
        self.train.is_none() && self.valid.is_none() && self.test.is_none()
    }

    /// The same rate everywhere (the paper's Table 2).
    pub fn everywhere(rate: f64) -> Self {
        Self {
            train: MissingRates::All(rate),
            valid: MissingRates::All(rate),
            test: MissingRates::All(rate),
            seed: None,
        }
    }

    /// Checks the rates against `m` modalities.
    pub fn validate(&self, m: usize) -> Result<()> {
        self.train.per_modality(m, "missing.train")?;
        self.valid.per_modality(m, "missing.valid")?;
        self.test.per_modality(m, "missing.test")?;
        Ok(())
    }

    /// Masks the three splits in place (presence flags only: values stay where they
    /// are, unread). `train_seed` is used when `seed` is absent. One report per split.
    pub fn apply(&self, splits: &mut Splits, train_seed: u64) -> Result<Vec<MissingReport>> {
        let seed = self.seed.unwrap_or(train_seed);
        let m = splits.train.num_modalities();
        // All rates checked first, so that a bad one leaves every split as it was.
        self.validate(m)?;
        let parts = [
            ("train", &self.train, &mut splits.train, 1),
            ("valid", &self.valid, &mut splits.valid, 2),
            ("test", &self.test, &mut splits.test, 3),
        ];
        let mut reports = Vec::with_capacity(3);
        for (name, rates, data, stream) in parts {
            let rates = rates.per_modality(m, &format!("missing.{name}"))?;
            let mut report = mask(data, &rates, Rng::derive(seed, stream));
            report.split = name.into();
            reports.push(report);
        }
        Ok(reports)
    }
}

/// Masks `data` at `rates` with draws from `rng`: `M + 1` uniforms per sample, in
/// sample order, whatever the rates (so that masks nest as rates grow).
fn mask(data: &mut Dataset, rates: &[f64], mut rng: Rng) -> MissingReport {
    let m = data.num_modalities();
    let count = |data: &Dataset| -> Vec<usize> {
        data.modalities
            .iter()
            .map(|d| d.present.iter().filter(|p| **p).count())
            .collect()
    };
    let present_before = count(data);
    let mut kept = 0;
    let mut draws = vec![0.0; m];
    for i in 0..data.len() {
        draws.iter_mut().for_each(|u| *u = rng.uniform());
        let pick = rng.uniform();
        let had: Vec<usize> = (0..m).filter(|&k| data.modalities[k].present[i]).collect();
        let keeps: Vec<usize> = had
            .iter()
            .copied()
            .filter(|&k| draws[k] >= rates[k])
            .collect();
        let keeps = if keeps.is_empty() && !had.is_empty() {
            kept += 1;
            vec![had[((pick * had.len() as f64) as usize).min(had.len() - 1)]]
        } else {
            keeps
        };
        for &k in &had {
            data.modalities[k].present[i] = keeps.contains(&k);
        }
    }
    MissingReport {
        split: String::new(),
        modalities: data.names(),
        rates: rates.to_vec(),
        samples: data.len(),
        present_before,
        present_after: count(data),
        kept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{InputKind, ModalityData};

    fn data(n: usize, m: usize) -> Dataset {
        let modalities = (0..m)
            .map(|k| ModalityData {
                name: format!("m{k}"),
                kind: InputKind::Features { dim: 1 },
                values: vec![0.0; n].into(),
                present: vec![true; n],
            })
            .collect();
        Dataset::new(modalities, (0..n).map(|i| i % 2).collect(), 2).unwrap()
    }

    fn splits(n: usize, m: usize) -> Splits {
        Splits {
            train: data(n, m),
            valid: data(n, m),
            test: data(n, m),
        }
    }

    #[test]
    fn a_rate_where_one_modality_stays_is_met_within_sampling_error() {
        // Modality 1 is never masked, so the rule never intervenes: the fraction of
        // modality 0 masked is Binomial(n, 0.3) / n, sd 0.0046 at n = 10_000.
        let mut s = splits(10_000, 2);
        let config = MissingConfig {
            train: MissingRates::PerModality(vec![0.3, 0.0]),
            ..Default::default()
        };
        let reports = config.apply(&mut s, 7).unwrap();
        let f = reports[0].missing_fraction();
        assert!((f[0] - 0.3).abs() < 0.02, "{f:?}");
        assert_eq!(f[1], 0.0);
        assert_eq!(reports[0].kept, 0);
        // Validation and test are untouched.
        assert_eq!(reports[1].present_after, vec![10_000, 10_000]);
        assert!(s.test.modalities[0].present.iter().all(|p| *p));
        s.train.validate().unwrap();
    }

    #[test]
    fn every_sample_keeps_a_modality_and_the_reached_rate_follows_the_rule() {
        // Three modalities at 0.7: all three dropped with probability 0.343, and then
        // one of them is kept, so each is missing with probability 0.7 - 0.343 / 3.
        let mut s = splits(20_000, 3);
        let reports = MissingConfig::everywhere(0.7).apply(&mut s, 1).unwrap();
        for (r, part) in reports.iter().zip([&s.train, &s.valid, &s.test]) {
            part.validate().unwrap();
            for f in r.missing_fraction() {
                assert!((f - (0.7 - 0.343 / 3.0)).abs() < 0.015, "{f}");
            }
            let kept = r.kept as f64 / r.samples as f64;
            assert!((kept - 0.343).abs() < 0.015, "{kept}");
        }
    }

    #[test]
    fn masks_add_to_missing_cells_depend_on_the_seed_and_nest_as_rates_grow() {
        let mut base = splits(2_000, 2);
        for i in (0..2_000).step_by(5) {
            base.train.modalities[1].present[i] = false;
        }
        let run = |rate: f64, seed: u64| {
            let mut s = base.clone();
            MissingConfig::everywhere(rate).apply(&mut s, seed).unwrap();
            s
        };
        let (a, b, c) = (run(0.4, 3), run(0.4, 3), run(0.4, 4));
        assert_eq!(a.train.modalities, b.train.modalities);
        assert_ne!(a.train.modalities, c.train.modalities);
        // Cells missing before stay missing.
        for i in (0..2_000).step_by(5) {
            assert!(!a.train.modalities[1].present[i]);
        }
        // Splits draw from their own streams.
        assert_ne!(a.valid.modalities[0].present, a.test.modalities[0].present);
        // A sample that kept both at 0.4 and is still whole at 0.2 ... every cell
        // present at 0.4 is present at 0.2 unless the rule kept it at 0.4.
        let low = run(0.2, 3);
        for k in 0..2 {
            for i in 0..2_000 {
                let rescued = !a.train.modalities[1 - k].present[i];
                if a.train.modalities[k].present[i] && !rescued {
                    assert!(low.train.modalities[k].present[i], "cell {i} of {k}");
                }
            }
        }
    }

    #[test]
    fn bad_rates_name_their_field() {
        let mut s = splits(10, 2);
        let e = MissingConfig {
            valid: MissingRates::All(1.5),
            ..Default::default()
        }
        .apply(&mut s, 0)
        .unwrap_err()
        .to_string();
        assert!(e.contains("missing.valid") && e.contains("1.5"), "{e}");
        let e = MissingConfig {
            test: MissingRates::PerModality(vec![0.1, 0.2, 0.3]),
            ..Default::default()
        }
        .validate(2)
        .unwrap_err()
        .to_string();
        assert!(e.contains("missing.test") && e.contains("3 rates"), "{e}");
        assert_eq!(
            "0.5,0".parse(),
            Ok(MissingRates::PerModality(vec![0.5, 0.0]))
        );
        assert_eq!("0.25".parse(), Ok(MissingRates::All(0.25)));
        assert!("x".parse::<MissingRates>().is_err());
    }
}
