//! Temperature scaling per modality (Guo et al., ICML 2017), an option of MLA
//! (`train.mla.calibrate`): before fusion, modality `m`'s logits are divided by a
//! temperature `T_m` fitted on the validation split to minimise that modality's
//! negative log-likelihood. Argmax, and so unimodal accuracy, is unchanged; the fused
//! prediction weighs better-calibrated probabilities.

use burn::tensor::{Device, Tensor};

use crate::data::{Batch, Dataset};
use crate::device::read_floats;
use crate::error::Result;
use crate::model::MultimodalModel;

/// The range searched, as `ln T`.
const LOG_T: (f64, f64) = (-4.0, 4.0);

/// Mean negative log-likelihood of `logits` (`rows x c`, row-major) at temperature `t`.
pub fn nll(logits: &[f32], labels: &[usize], c: usize, t: f64) -> f64 {
    let n = labels.len().max(1) as f64;
    logits
        .chunks(c)
        .zip(labels)
        .map(|(row, &y)| {
            let z: Vec<f64> = row.iter().map(|&v| v as f64 / t).collect();
            let max = z.iter().cloned().fold(f64::MIN, f64::max);
            let lse = max + z.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
            lse - z[y]
        })
        .sum::<f64>()
        / n
}

/// The temperature minimising [`nll`], by golden-section search on `ln T` (the NLL of
/// temperature scaling is unimodal in it); 1 without samples.
pub fn fit_temperature(logits: &[f32], labels: &[usize], c: usize) -> f64 {
    if labels.is_empty() {
        return 1.0;
    }
    let f = |u: f64| nll(logits, labels, c, u.exp());
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = LOG_T;
    let (mut x1, mut x2) = (b - g * (b - a), a + g * (b - a));
    let (mut f1, mut f2) = (f(x1), f(x2));
    for _ in 0..80 {
        if f1 <= f2 {
            b = x2;
            (x2, f2) = (x1, f1);
            x1 = b - g * (b - a);
            f1 = f(x1);
        } else {
            a = x1;
            (x1, f1) = (x2, f2);
            x2 = a + g * (b - a);
            f2 = f(x2);
        }
    }
    ((a + b) / 2.0).exp()
}

/// Each modality's temperature fitted on the samples of `data` that have it, with
/// `model`'s unimodal logits (one asynchronous read per batch).
pub async fn calibrate(
    model: &MultimodalModel,
    data: &Dataset,
    batch_size: usize,
    device: &Device,
) -> Result<Vec<f32>> {
    let m = data.num_modalities();
    let c = data.num_classes;
    let mut logits: Vec<Vec<f32>> = vec![Vec::new(); m];
    let mut labels: Vec<Vec<usize>> = vec![Vec::new(); m];
    let indices: Vec<usize> = (0..data.len()).collect();
    for chunk in indices.chunks(batch_size.max(1)) {
        let batch = Batch::gather(data, chunk, device);
        let all: Tensor<3> = model.all_unimodal_logits(&batch)?; // [M, B, C]
        let host = read_floats(all).await?;
        let b = chunk.len();
        for k in 0..m {
            for (j, &i) in chunk.iter().enumerate() {
                if batch.present_host[k][j] {
                    let at = (k * b + j) * c;
                    logits[k].extend_from_slice(&host[at..at + c]);
                    labels[k].push(data.labels[i]);
                }
            }
        }
    }
    Ok((0..m)
        .map(|k| fit_temperature(&logits[k], &labels[k], c) as f32)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fitted_temperature_minimises_the_nll_and_undoes_a_scaling() {
        // Logits of a calibrated model (temperature 1 for data drawn from its own
        // softmax), then scaled by 4: the fit must find about 4.
        let mut rng = crate::rng::Rng::new(3);
        let c = 5;
        let (mut logits, mut labels) = (Vec::new(), Vec::new());
        for _ in 0..4000 {
            let row: Vec<f64> = (0..c).map(|_| 1.5 * rng.normal()).collect();
            let sum: f64 = row.iter().map(|v| v.exp()).sum();
            let mut u = rng.uniform() * sum;
            let y = row
                .iter()
                .position(|v| {
                    u -= v.exp();
                    u <= 0.0
                })
                .unwrap_or(c - 1);
            logits.extend(row.iter().map(|v| (4.0 * v) as f32));
            labels.push(y);
        }
        let t = fit_temperature(&logits, &labels, c);
        assert!((t - 4.0).abs() < 0.4, "{t}");
        // A minimum: neighbours are no better.
        let best = nll(&logits, &labels, c, t);
        for dt in [0.9, 1.1] {
            assert!(nll(&logits, &labels, c, t * dt) >= best);
        }
        assert_eq!(fit_temperature(&[], &[], c), 1.0);
    }
}
