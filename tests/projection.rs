//! HGM's RLS projection (Eq. 5) against an independent f64 reference, and its
//! invariants over many updates.

mod common;

use common::*;
use mla::projection::Projection;
use mla::rng::Rng;

#[test]
fn projection_matches_f64_reference_over_60_updates() {
    let device = cpu();
    let (d, alpha) = (12, 0.3);
    let mut rng = Rng::new(11);
    let mut p = Projection::new(d, alpha as f32, &device);
    let mut reference = identity(d);
    let mut worst = 0.0f64;
    for step in 0..60 {
        // Non-negative features of varying scale, like pooled ReLU features.
        let scale = 0.2 + 2.0 * rng.uniform();
        let h: Vec<f64> = normals(&mut rng, d, scale)
            .into_iter()
            .map(f64::abs)
            .collect();
        p.update(tensor1(&h, &device));
        rls_update(&mut reference, &h, alpha);
        let got = host(p.matrix().clone());
        for (g, r) in got.iter().zip(&reference) {
            let err = (*g as f64 - r).abs();
            worst = worst.max(err);
            assert!(
                err < 1e-4,
                "step {step}: P differs from the f64 reference by {err}"
            );
        }
    }
    assert!(
        worst > 0.0,
        "a reference that never differs was not computed independently"
    );
}

#[test]
fn update_damps_the_seen_direction_as_stated() {
    // After the update, P_t h = α P_{t-1} h / (α + hᵀ P_{t-1} h).
    let device = cpu();
    let (d, alpha) = (5, 0.5);
    let mut rng = Rng::new(2);
    let mut p = Projection::new(d, alpha as f32, &device);
    p.update(tensor1(&normals(&mut rng, d, 1.0), &device));
    let before: Vec<f64> = host(p.matrix().clone())
        .into_iter()
        .map(f64::from)
        .collect();
    let h = normals(&mut rng, d, 1.0);
    p.update(tensor1(&h, &device));
    let after: Vec<f64> = host(p.matrix().clone())
        .into_iter()
        .map(f64::from)
        .collect();
    let ph_before = matmul(&before, &h, d, d, 1);
    let ph_after = matmul(&after, &h, d, d, 1);
    let hph: f64 = h.iter().zip(&ph_before).map(|(a, b)| a * b).sum();
    for i in 0..d {
        let expected = alpha * ph_before[i] / (alpha + hph);
        assert!(
            (ph_after[i] - expected).abs() < 1e-5,
            "{} vs {expected}",
            ph_after[i]
        );
    }
}

#[test]
fn projection_keeps_p_symmetric_psd_over_100k_updates() {
    let device = cpu();
    let (d, alpha) = (8, 0.1);
    let mut rng = Rng::new(5);
    let mut p = Projection::new(d, alpha as f32, &device);
    let mut last_trace = d as f64;
    for step in 1..=100_000usize {
        // Mix of scales and of repeated (already locked) and fresh directions.
        let scale = 10f64.powf(-1.0 + 2.0 * rng.uniform());
        let h = normals(&mut rng, d, scale);
        p.update(tensor1(&h, &device));
        if step % 10_000 == 0 {
            let m: Vec<f64> = host(p.matrix().clone())
                .into_iter()
                .map(f64::from)
                .collect();
            assert!(
                m.iter().all(|x| x.is_finite()),
                "step {step}: P has a non-finite entry"
            );
            let asym = (0..d)
                .flat_map(|i| (0..d).map(move |j| (i, j)))
                .map(|(i, j)| (m[i * d + j] - m[j * d + i]).abs())
                .fold(0.0, f64::max);
            assert!(
                asym < 1e-6,
                "step {step}: P is not symmetric (max |P - Pᵀ| = {asym})"
            );
            let eig = symmetric_eigenvalues(&m, d);
            let (lo, hi) = eig
                .iter()
                .fold((f64::MAX, f64::MIN), |(a, b), &e| (a.min(e), b.max(e)));
            assert!(lo >= -1e-6, "step {step}: P has a negative eigenvalue {lo}");
            assert!(
                hi <= 1.0 + 1e-6,
                "step {step}: P has an eigenvalue {hi} > 1"
            );
            let trace: f64 = (0..d).map(|i| m[i * d + i]).sum();
            assert!(
                trace <= last_trace + 1e-6,
                "step {step}: trace grew from {last_trace} to {trace}"
            );
            last_trace = trace;
        }
    }
}

#[test]
fn jacobi_reference_finds_known_eigenvalues() {
    // The helper itself must be right for the PSD test to mean anything.
    let a = [2.0, 1.0, 0.0, 1.0, 2.0, 0.0, 0.0, 0.0, -1.0];
    let mut e = symmetric_eigenvalues(&a, 3);
    e.sort_by(f64::total_cmp);
    for (g, w) in e.iter().zip([-1.0, 1.0, 3.0]) {
        assert!((g - w).abs() < 1e-9, "{e:?}");
    }
}
