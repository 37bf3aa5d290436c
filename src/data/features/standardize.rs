//! Standardising features with the training split's mean and deviation, so that inputs
//! of very different scales (pixel counts, moments, log energies) train with one
//! learning rate. The statistics are kept to treat new samples the same way.

use serde::{Deserialize, Serialize};

/// Per-feature mean and deviation. Feature `j` of an item is every value at a position
/// `p` with `p % dim == j` (`dim = 1`: one mean and deviation for all values).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Standardizer {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Standardizer {
    /// Fits to the items `rows` of `values` (`item` values each; `item % dim == 0`).
    pub fn fit(values: &[f32], item: usize, dim: usize, rows: &[usize]) -> Self {
        let count = (rows.len() * item / dim).max(1) as f64;
        let features = |i: usize| {
            values[i * item..(i + 1) * item]
                .iter()
                .enumerate()
                .map(move |(p, &v)| (p % dim, v as f64))
        };
        let mut mean = vec![0.0; dim];
        for &i in rows {
            for (j, v) in features(i) {
                mean[j] += v;
            }
        }
        mean.iter_mut().for_each(|m| *m /= count);
        let mut var = vec![0.0; dim];
        for &i in rows {
            for (j, v) in features(i) {
                var[j] += (v - mean[j]).powi(2);
            }
        }
        let std = var.iter().map(|v| (v / count).sqrt().max(1e-8)).collect();
        Self { mean, std }
    }

    /// Standardises one or more items in place.
    pub fn apply(&self, values: &mut [f32]) {
        let dim = self.mean.len();
        for (p, v) in values.iter_mut().enumerate() {
            let j = p % dim;
            *v = ((*v as f64 - self.mean[j]) / self.std[j]) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_on_the_given_rows_only_per_feature_or_overall() {
        // Three items of two features; row 2 is not in the fit.
        let values = [1.0, 10.0, 3.0, 30.0, 100.0, -5.0];
        let s = Standardizer::fit(&values, 2, 2, &[0, 1]);
        assert_eq!(s.mean, [2.0, 20.0]);
        assert_eq!(s.std, [1.0, 10.0]);
        let mut v = values;
        s.apply(&mut v);
        assert_eq!(v, [-1.0, -1.0, 1.0, 1.0, 98.0, -2.5]);
        // One statistic over all values of the rows.
        let s = Standardizer::fit(&values, 2, 1, &[0, 1]);
        assert_eq!(s.mean, [11.0]);
        let var: f64 = [1.0, 10.0, 3.0, 30.0]
            .iter()
            .map(|x: &f64| (x - 11.0).powi(2))
            .sum::<f64>()
            / 4.0;
        assert!((s.std[0] - var.sqrt()).abs() < 1e-12);
        // A constant feature does not divide by zero.
        let s = Standardizer::fit(&[5.0, 5.0], 1, 1, &[0, 1]);
        let mut v = [5.0f32, 6.0];
        s.apply(&mut v);
        assert!(v[0] == 0.0 && v[1].is_finite());
    }
}
