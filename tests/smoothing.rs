//! Label smoothing: the loss against an independent computation, what it does to a
//! trained model's confidence, and its automatic setting.

mod common;

use common::*;
use mla::Trainer;
use mla::burn::module::Module;
use mla::burn::tensor::{Int, Tensor, TensorData, activation::softmax};
use mla::config::TEXT_LABEL_SMOOTHING;
use mla::config::{HgmConfig, OptimizerConfig, TrainConfig};
use mla::data::{Batch, SyntheticConfig, SyntheticKind, SyntheticModality};
use mla::model::ModelConfig;
use mla::train::{Alternating, Late, Strategy, TrainBatch, build_optimizer, per_sample_ce};

#[test]
fn smoothed_cross_entropy_matches_the_smoothed_target() {
    let logits = [[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]];
    let labels = [0usize, 2];
    let t = tensor2(&logits.concat(), 2, 3, &cpu());
    let y = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 2], [2]), &cpu());
    for alpha in [0.0, 0.1, 0.5] {
        let got = host(per_sample_ce(t.clone(), y.clone(), alpha));
        for (row, (l, &label)) in logits.iter().zip(&labels).enumerate() {
            // -sum_c q_c log p_c with q = (1 - alpha) onehot + alpha / C, in f64.
            let lse = l.iter().map(|x: &f64| x.exp()).sum::<f64>().ln();
            let want: f64 = (0..3)
                .map(|c| {
                    let q = alpha / 3.0 + if c == label { 1.0 - alpha } else { 0.0 };
                    -q * (l[c] - lse)
                })
                .sum();
            assert!(
                (got[row] as f64 - want).abs() < 1e-5,
                "alpha {alpha}, row {row}: {} vs {want}",
                got[row]
            );
        }
    }
}

/// Trains `strategy` on separable data with its losses smoothed by `alpha` and
/// returns each modality's mean probability of the label on the training samples.
fn confidence_after_training(strategy: &mut dyn Strategy, alpha: f64) -> [f64; 2] {
    let device = cpu();
    let ad = device.clone().autodiff();
    let modality = |name: &str| SyntheticModality {
        name: name.into(),
        kind: SyntheticKind::Features { dim: 16 },
        separation: 6.0,
        noise: 1.0,
        keyword_rate: 0.5,
        informative_classes: 4,
    };
    let data = SyntheticConfig {
        modalities: vec![modality("a"), modality("b")],
        num_classes: 4,
        train: 64,
        valid: 4,
        test: 4,
        missing_rate: 0.0,
        seed: 1,
    }
    .generate()
    .unwrap()
    .train;
    let mut model = trainable_model(&data, 8, strategy.head_layout(), 0);
    let opt = OptimizerConfig {
        lr: 0.1,
        ..Default::default()
    };
    let mut optimizer = build_optimizer(&opt);
    let idx: Vec<usize> = (0..data.len()).collect();
    for epoch in 0..150 {
        let batch = TrainBatch {
            data: &data,
            indices: &idx,
            device: &ad,
            epoch,
            label_smoothing: alpha,
        };
        model = strategy
            .train_batch(model, &batch, &mut optimizer, opt.lr)
            .unwrap()
            .0;
    }
    let b = Batch::gather(&data, &idx, &device);
    let model = model.valid();
    let features = model.all_features(&b).unwrap();
    let n = idx.len();
    let labels: Vec<i64> = b
        .labels
        .into_data()
        .convert::<i64>()
        .try_into_vec()
        .unwrap();
    let mut out = [0.0; 2];
    for (m, h) in features.into_iter().enumerate() {
        let p = host(softmax(model.unimodal_logits(m, h), 1));
        let c = p.len() / n;
        out[m] = (0..n)
            .map(|i| p[i * c + labels[i] as usize] as f64)
            .sum::<f64>()
            / n as f64;
    }
    out
}

#[test]
fn smoothing_stops_the_confidence_at_the_smoothed_target() {
    // With C = 4 classes and alpha = 0.4 the smoothed target gives the label 0.7: a
    // fitted model stops near there; without smoothing it goes on towards 1.
    let no_hgm = HgmConfig {
        enabled: false,
        ..HgmConfig::default()
    };
    for alpha in [0.0, 0.4] {
        let mut mla = Alternating::new(vec![0, 1], &no_hgm, 8, &cpu());
        let mut late = Late::new();
        for (name, strategy) in [
            ("mla", &mut mla as &mut dyn Strategy),
            ("late", &mut late as &mut dyn Strategy),
        ] {
            for (m, p) in confidence_after_training(strategy, alpha)
                .into_iter()
                .enumerate()
            {
                if alpha == 0.0 {
                    assert!(p > 0.9, "{name}, modality {m}, unsmoothed: {p}");
                } else {
                    assert!(
                        (0.55..0.8).contains(&p),
                        "{name}, modality {m}, smoothed by {alpha}: {p}"
                    );
                }
            }
        }
    }
}

/// Synthetic splits whose second modality is text when `text`.
fn splits(text: bool) -> mla::data::Splits {
    let mut config = mla::RunConfig::default();
    let s = synth(&mut config);
    if text {
        s.modalities[1].kind = SyntheticKind::Tokens { len: 6, vocab: 30 };
    }
    s.train = 32;
    splits_of(&config)
}

#[test]
fn the_scratch_text_encoder_turns_smoothing_on_unless_it_is_set() {
    let model = ModelConfig {
        feature_dim: 8,
        ..Default::default()
    };
    let smoothing = |text: bool, set: Option<f64>| {
        let train = TrainConfig {
            label_smoothing: set,
            ..Default::default()
        };
        Trainer::new(&model, &train, splits(text), &cpu())
            .unwrap()
            .label_smoothing()
    };
    assert_eq!(smoothing(true, None), TEXT_LABEL_SMOOTHING);
    assert_eq!(smoothing(false, None), 0.0);
    assert_eq!(smoothing(true, Some(0.0)), 0.0);
    assert_eq!(smoothing(false, Some(0.3)), 0.3);
    for bad in [1.0, -0.1, f64::NAN] {
        let train = TrainConfig {
            label_smoothing: Some(bad),
            ..Default::default()
        };
        let err = Trainer::new(&model, &train, splits(false), &cpu())
            .err()
            .expect("refused");
        assert!(
            err.to_string().contains("train.label_smoothing"),
            "{bad}: {err}"
        );
    }
}
