//! The modality gap (Liang et al., NeurIPS 2022), as the paper's Section 4.3.3 and
//! Fig. 3 use it: each modality's encoder features `h_m(x)` are L2-normalised, and the
//! gap between two modalities is the distance between the centres of their normalised
//! features over a split (each modality over the samples that have it). Also a 2-D
//! view of the same normalised features (their top two principal axes) for a plot.

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::data::{Batch, Dataset};
use crate::device::read_floats;
use crate::error::Result;
use crate::model::MultimodalModel;

/// The gap between two modalities.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairGap {
    pub a: String,
    pub b: String,
    /// `‖c_a − c_b‖`, with `c_m` the mean of modality `m`'s L2-normalised features.
    pub gap: f64,
}

/// Every pair's gap, and the normalised features projected to 2-D for a plot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GapReport {
    pub pairs: Vec<PairGap>,
    /// Per modality: `(x, y, label)` of each sample that has it, on the top two
    /// principal axes of all modalities' normalised features together.
    #[serde(skip)]
    pub points: Vec<Vec<(f64, f64, usize)>>,
    pub modalities: Vec<String>,
}

/// One modality's features: `rows` of `dim` values (samples that have it) and labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Features {
    pub dim: usize,
    pub values: Vec<f32>,
    pub labels: Vec<usize>,
}

/// The rows of `values` (`dim` each) scaled to unit length, in f64 (a zero row stays
/// zero).
fn normalised(values: &[f32], dim: usize) -> Vec<Vec<f64>> {
    values
        .chunks(dim)
        .map(|row| {
            let norm = row.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
            row.iter()
                .map(|&v| if norm > 0.0 { v as f64 / norm } else { 0.0 })
                .collect()
        })
        .collect()
}

/// The mean of `rows` (of `dim` values).
fn centre(rows: &[Vec<f64>], dim: usize) -> Vec<f64> {
    let mut c = vec![0.0; dim];
    for r in rows {
        c.iter_mut().zip(r).for_each(|(c, v)| *c += v);
    }
    c.iter_mut().for_each(|c| *c /= rows.len().max(1) as f64);
    c
}

/// The gap between two sets of features of the same size `dim`.
pub fn gap(a: &[f32], b: &[f32], dim: usize) -> f64 {
    let (ca, cb) = (
        centre(&normalised(a, dim), dim),
        centre(&normalised(b, dim), dim),
    );
    ca.iter()
        .zip(&cb)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// The top two principal axes of `rows` (centred), by power iteration with deflation
/// on their `dim x dim` covariance.
fn principal_axes(rows: &[&Vec<f64>], dim: usize) -> [Vec<f64>; 2] {
    let owned: Vec<Vec<f64>> = rows.iter().map(|r| (*r).clone()).collect();
    let mean = centre(&owned, dim);
    let mut cov = vec![vec![0.0; dim]; dim];
    for r in rows {
        let d: Vec<f64> = r.iter().zip(&mean).map(|(v, m)| v - m).collect();
        for i in 0..dim {
            for j in 0..dim {
                cov[i][j] += d[i] * d[j];
            }
        }
    }
    let mut axes: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for axis in &mut axes {
        // A fixed, uneven start so that the iteration is deterministic.
        let mut v: Vec<f64> = (0..dim).map(|i| 1.0 + (i as f64 * 0.37).sin()).collect();
        for _ in 0..200 {
            let mut w: Vec<f64> = cov
                .iter()
                .map(|row| row.iter().zip(&v).map(|(a, b)| a * b).sum())
                .collect();
            let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm == 0.0 {
                break;
            }
            w.iter_mut().for_each(|x| *x /= norm);
            v = w;
        }
        let lambda: f64 = cov
            .iter()
            .zip(&v)
            .map(|(row, vi)| vi * row.iter().zip(&v).map(|(a, b)| a * b).sum::<f64>())
            .sum();
        for i in 0..dim {
            for j in 0..dim {
                cov[i][j] -= lambda * v[i] * v[j];
            }
        }
        *axis = v;
    }
    axes
}

/// Gaps of every pair of modalities and the 2-D points of `features`.
pub fn report(modalities: &[String], features: &[Features]) -> GapReport {
    let mut pairs = Vec::new();
    for a in 0..features.len() {
        for b in a + 1..features.len() {
            pairs.push(PairGap {
                a: modalities[a].clone(),
                b: modalities[b].clone(),
                gap: gap(&features[a].values, &features[b].values, features[a].dim),
            });
        }
    }
    let dim = features.first().map_or(0, |f| f.dim);
    let rows: Vec<Vec<Vec<f64>>> = features
        .iter()
        .map(|f| normalised(&f.values, f.dim))
        .collect();
    let all: Vec<&Vec<f64>> = rows.iter().flatten().collect();
    let points = if all.is_empty() {
        vec![Vec::new(); features.len()]
    } else {
        let [x, y] = principal_axes(&all, dim);
        let dot = |r: &[f64], a: &[f64]| r.iter().zip(a).map(|(p, q)| p * q).sum::<f64>();
        rows.iter()
            .zip(features)
            .map(|(rows, f)| {
                rows.iter()
                    .zip(&f.labels)
                    .map(|(r, &label)| (dot(r, &x), dot(r, &y), label))
                    .collect()
            })
            .collect()
    };
    GapReport {
        pairs,
        points,
        modalities: modalities.to_vec(),
    }
}

/// Each modality's encoder features `h_m(x)` on the samples of `data` that have it,
/// computed in batches of `batch_size` (one asynchronous read per batch and modality).
pub async fn features(
    model: &MultimodalModel,
    data: &Dataset,
    batch_size: usize,
    device: &Device,
) -> Result<Vec<Features>> {
    let m = data.num_modalities();
    let mut out: Vec<Features> = (0..m)
        .map(|_| Features {
            dim: 0,
            values: Vec::new(),
            labels: Vec::new(),
        })
        .collect();
    let indices: Vec<usize> = (0..data.len()).collect();
    for chunk in indices.chunks(batch_size.max(1)) {
        let batch = Batch::gather(data, chunk, device);
        for (k, h) in model.all_features(&batch)?.into_iter().enumerate() {
            let [_, s] = h.dims();
            let rows: Vec<usize> = (0..chunk.len())
                .filter(|&j| batch.present_host[k][j])
                .collect();
            if rows.is_empty() {
                continue;
            }
            let picked: Tensor<2> = h.select(
                0,
                Tensor::from_data(
                    burn::tensor::TensorData::new(
                        rows.iter().map(|&j| j as i64).collect::<Vec<_>>(),
                        [rows.len()],
                    ),
                    device,
                ),
            );
            out[k].dim = s;
            out[k].values.extend(read_floats(picked).await?);
            out[k]
                .labels
                .extend(rows.iter().map(|&j| data.labels[chunk[j]]));
        }
    }
    Ok(out)
}

/// The modality gap of `model` on `data`: [`features`], then [`report`].
pub async fn modality_gap(
    model: &MultimodalModel,
    data: &Dataset,
    batch_size: usize,
    device: &Device,
) -> Result<GapReport> {
    let features = features(model, data, batch_size, device).await?;
    Ok(report(&data.names(), &features))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gap_matches_a_direct_f64_computation() {
        // Independent: normalise and average by hand over explicit rows.
        let a = [3.0f32, 4.0, 0.0, 2.0, -1.0, 1.0];
        let b = [0.0f32, 0.0, 1.0, 1.0, 1.0, 0.5];
        let rows_a = [
            [0.6, 0.8],
            [0.0, 1.0],
            [-1.0 / 2f64.sqrt(), 1.0 / 2f64.sqrt()],
        ];
        let n3 = (1.25f64).sqrt();
        let rows_b = [
            [0.0, 0.0],
            [1.0 / 2f64.sqrt(), 1.0 / 2f64.sqrt()],
            [1.0 / n3, 0.5 / n3],
        ];
        let mean =
            |rows: &[[f64; 2]; 3]| [0, 1].map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / 3.0);
        let (ca, cb) = (mean(&rows_a), mean(&rows_b));
        let want = ((ca[0] - cb[0]).powi(2) + (ca[1] - cb[1]).powi(2)).sqrt();
        assert!(
            (gap(&a, &b, 2) - want).abs() < 1e-12,
            "{} vs {want}",
            gap(&a, &b, 2)
        );
        // Scale does not matter; identical sets have no gap; opposite ones the most.
        let scaled: Vec<f32> = a.iter().map(|v| v * 7.0).collect();
        assert!((gap(&scaled, &b, 2) - want).abs() < 1e-6);
        assert_eq!(gap(&a, &a, 2), 0.0);
        assert!((gap(&[1.0, 0.0], &[-1.0, 0.0], 2) - 2.0).abs() < 1e-12);
    }

    #[test]
    fn the_projection_separates_modalities_placed_apart() {
        // Two clouds around opposite directions in 4-D: the first axis splits them.
        let mut rng = crate::rng::Rng::new(5);
        let cloud = |sign: f32, rng: &mut crate::rng::Rng| Features {
            dim: 4,
            values: (0..50)
                .flat_map(|_| {
                    let mut r: Vec<f32> = (0..4).map(|_| 0.1 * rng.normal() as f32).collect();
                    r[1] += sign;
                    r
                })
                .collect(),
            labels: vec![0; 50],
        };
        let f = [cloud(1.0, &mut rng), cloud(-1.0, &mut rng)];
        let r = report(&["a".into(), "b".into()], &f);
        assert_eq!(r.pairs.len(), 1);
        assert!(r.pairs[0].gap > 1.8, "{}", r.pairs[0].gap);
        let side = |k: usize| r.points[k].iter().map(|p| p.0.signum()).sum::<f64>();
        assert_eq!(side(0).abs(), 50.0);
        assert_eq!(side(0), -side(1));
    }
}
