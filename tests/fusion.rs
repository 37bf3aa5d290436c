//! Entropy fusion (Eq. 6-8) against an independent f64 computation, and its properties.

mod common;

use common::*;
use mla::burn::tensor::{Tensor, TensorData};
use mla::fusion::Fusion;
use mla::rng::Rng;

fn logits3(values: &[f64], m: usize, b: usize, c: usize) -> Tensor<3> {
    let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
    Tensor::from_data(TensorData::new(v, [m, b, c]), &cpu())
}

/// Eq. 7-8 for one sample, with loops in f64.
fn reference_weights(logits: &[Vec<f64>], present: &[bool]) -> Vec<f64> {
    let entropy: Vec<f64> = logits
        .iter()
        .map(|l| {
            let max = l.iter().cloned().fold(f64::MIN, f64::max);
            let z: f64 = l.iter().map(|x| (x - max).exp()).sum();
            -l.iter()
                .map(|x| (x - max).exp() / z)
                .map(|p| p * p.ln())
                .sum::<f64>()
        })
        .collect();
    let emax = entropy
        .iter()
        .zip(present)
        .filter(|(_, p)| **p)
        .map(|(e, _)| *e)
        .fold(f64::MIN, f64::max);
    let num: Vec<f64> = entropy
        .iter()
        .zip(present)
        .map(|(e, p)| if *p { (emax - e).exp() } else { 0.0 })
        .collect();
    let total: f64 = num.iter().sum();
    num.into_iter().map(|x| x / total).collect()
}

#[test]
fn entropy_weights_match_eq8_and_sum_to_one() {
    let (m, b, c) = (3, 7, 5);
    let mut rng = Rng::new(4);
    let values = normals(&mut rng, m * b * c, 2.0);
    let present = vec![1.0f32; m * b];
    let fused = Fusion::Entropy.fuse(
        logits3(&values, m, b, c),
        Tensor::from_data(TensorData::new(present, [m, b]), &cpu()),
    );
    let w = host(fused.weights);
    let y = host(fused.logits);
    for r in 0..b {
        let per: Vec<Vec<f64>> = (0..m)
            .map(|k| values[(k * b + r) * c..(k * b + r + 1) * c].to_vec())
            .collect();
        let want = reference_weights(&per, &[true; 3]);
        let sum: f64 = (0..m).map(|k| w[k * b + r] as f64).sum();
        assert!((sum - 1.0).abs() < 1e-5, "sample {r}: weights sum to {sum}");
        for k in 0..m {
            assert!(
                (w[k * b + r] as f64 - want[k]).abs() < 1e-5,
                "sample {r} modality {k}"
            );
        }
        for j in 0..c {
            let expected: f64 = (0..m).map(|k| want[k] * per[k][j]).sum();
            assert!(
                (y[r * c + j] as f64 - expected).abs() < 1e-4,
                "fused logit {r},{j}"
            );
        }
    }
}

#[test]
fn weights_fall_as_entropy_rises() {
    // Modality 1 gets ever flatter logits (higher entropy) across samples.
    let (m, b, c) = (2, 6, 4);
    let mut values = Vec::new();
    for _ in 0..b {
        values.extend([3.0, 0.0, 0.0, 0.0]); // modality 0: fixed, confident
    }
    for r in 0..b {
        let sharp = 4.0 - r as f64 * 0.8;
        values.extend([sharp, 0.0, 0.0, 0.0]);
    }
    let fused = Fusion::Entropy.fuse(logits3(&values, m, b, c), Tensor::ones([m, b], &cpu()));
    let e = host(fused.entropy);
    let w = host(fused.weights);
    for r in 1..b {
        assert!(e[b + r] > e[b + r - 1], "entropy should rise");
        assert!(
            w[b + r] < w[b + r - 1],
            "weight should fall as entropy rises: {w:?}"
        );
    }
    // The more confident modality of a sample gets the larger weight.
    for r in 0..b {
        assert_eq!(e[r] < e[b + r], w[r] > w[b + r], "sample {r}");
    }
}

#[test]
fn masked_modality_gets_zero_weight_and_no_say() {
    let (m, b, c) = (3, 4, 3);
    let mut rng = Rng::new(8);
    let values = normals(&mut rng, m * b * c, 1.5);
    let mut present = vec![1.0f32; m * b];
    present[b + 1] = 0.0; // modality 1 missing for sample 1
    present[2 * b + 3] = 0.0; // modality 2 missing for sample 3
    let mask = || Tensor::from_data(TensorData::new(present.clone(), [m, b]), &cpu());
    let a = Fusion::Entropy.fuse(logits3(&values, m, b, c), mask());
    // Change the masked modalities' logits arbitrarily: nothing may change.
    let mut changed = values.clone();
    for j in 0..c {
        changed[(b + 1) * c + j] = 50.0 * (j as f64 + 1.0);
        changed[(2 * b + 3) * c + j] = -70.0 * j as f64;
    }
    let bb = Fusion::Entropy.fuse(logits3(&changed, m, b, c), mask());
    let (wa, wb) = (host(a.weights), host(bb.weights));
    assert_eq!(wa[b + 1], 0.0);
    assert_eq!(wa[2 * b + 3], 0.0);
    assert_eq!(wa, wb);
    assert_eq!(host(a.logits), host(bb.logits));
    // Present modalities of sample 1 still follow Eq. 8 among themselves.
    let per: Vec<Vec<f64>> = (0..m)
        .map(|k| values[(k * b + 1) * c..(k * b + 2) * c].to_vec())
        .collect();
    let want = reference_weights(&per, &[true, false, true]);
    for k in 0..m {
        assert!((wa[k * b + 1] as f64 - want[k]).abs() < 1e-5);
    }
}

#[test]
fn mean_and_batch_entropy_variants() {
    let (m, b, c) = (2, 5, 3);
    let mut rng = Rng::new(12);
    let values = normals(&mut rng, m * b * c, 1.0);
    let mean = Fusion::Mean.fuse(logits3(&values, m, b, c), Tensor::ones([m, b], &cpu()));
    assert!(host(mean.weights).iter().all(|w| (w - 0.5).abs() < 1e-6));
    let batch = Fusion::BatchEntropy.fuse(logits3(&values, m, b, c), Tensor::ones([m, b], &cpu()));
    let w = host(batch.weights);
    // One weight per modality for the whole batch, summing to one.
    for r in 1..b {
        assert!((w[r] - w[0]).abs() < 1e-6 && (w[b + r] - w[b]).abs() < 1e-6);
    }
    assert!((w[0] + w[b] - 1.0).abs() < 1e-6);
}
