//! End to end on the built-in data: MLA against the joint baseline, model files,
//! determinism, and every encoder kind learning.

mod common;

use common::*;
use mla::config::{DataConfig, Method, RunConfig};
use mla::data::{SyntheticConfig, SyntheticKind, SyntheticModality};
use mla::eval::evaluate;
use mla::io::{ModelHeader, load_model, save_model};
use mla::{EvalReport, Trainer};

fn train(config: &RunConfig) -> (Trainer, EvalReport) {
    let splits = splits_of(config);
    let mut trainer = Trainer::new(&config.model, &config.train, splits, &cpu()).unwrap();
    while !trainer.is_finished() {
        let m = pollster::block_on(trainer.end_epoch()).unwrap();
        assert!(
            m.train_loss.iter().all(|l| l.is_finite()),
            "epoch {}: {:?}",
            m.epoch,
            m.train_loss
        );
    }
    let test = pollster::block_on(trainer.test()).unwrap();
    (trainer, test)
}

#[test]
fn mla_beats_joint_on_the_weak_modality_and_fusion_helps() {
    let mut config = RunConfig::default();
    let (_, mla) = train(&config);
    config.train.method = Method::Joint;
    let (_, joint) = train(&config);
    println!("MLA   test: {mla:?}\njoint test: {joint:?}");
    let weak = 1; // the default data's weak-but-informative modality
    assert!(
        mla.unimodal[weak] > joint.unimodal[weak] + 0.10,
        "MLA weak {:.3} vs joint weak {:.3}",
        mla.unimodal[weak],
        joint.unimodal[weak]
    );
    let (_, best) = mla.best_unimodal();
    assert!(
        mla.fused >= best,
        "MLA fused {:.3} < best unimodal {best:.3}",
        mla.fused
    );
    assert!(mla.fused > 0.9, "MLA fused {:.3}", mla.fused);
}

#[test]
fn saved_model_reproduces_test_numbers_and_rejects_garbage() {
    let mut config = RunConfig::default();
    config.train.epochs = 2;
    synth(&mut config).train = 256;
    let (trainer, test) = train(&config);
    let (model, _) = trainer.best_model();
    let header = ModelHeader {
        spec: trainer.spec().clone(),
        fusion: config.train.fusion,
        preprocess: None,
        written_by: "test".into(),
        temperatures: Vec::new(),
    };
    let bytes = pollster::block_on(save_model(&header, &model)).unwrap();
    let (loaded_header, loaded) = pollster::block_on(load_model(&bytes, &cpu())).unwrap();
    assert_eq!(loaded_header, header);
    let again = pollster::block_on(evaluate(
        &loaded,
        loaded_header.fusion,
        &trainer.splits().test,
        config.train.batch_size,
        &cpu(),
    ))
    .unwrap();
    assert_eq!(again, test);

    assert!(
        pollster::block_on(load_model(b"nonsense", &cpu()))
            .unwrap_err()
            .to_string()
            .contains("magic")
    );
    let cut = &bytes[..bytes.len() / 2];
    assert!(pollster::block_on(load_model(cut, &cpu())).is_err());
    let mut other = header.clone();
    other.spec.feature_dim = 7;
    let wrong = pollster::block_on(save_model(&other, &model)).unwrap();
    assert!(
        pollster::block_on(load_model(&wrong, &cpu()))
            .unwrap_err()
            .to_string()
            .contains("do not fit")
    );
}

#[test]
fn same_seed_same_run() {
    let mut config = RunConfig::default();
    config.train.epochs = 2;
    synth(&mut config).train = 256;
    let (a, ta) = train(&config);
    let (b, tb) = train(&config);
    assert_eq!(a.history(), b.history());
    assert_eq!(ta, tb);
    config.train.seed = 1;
    let (c, _) = train(&config);
    assert_ne!(a.history()[0].train_loss, c.history()[0].train_loss);
}

#[test]
fn image_and_text_encoders_learn_with_missing_modalities() {
    let data = SyntheticConfig {
        modalities: vec![
            SyntheticModality {
                name: "image".into(),
                kind: SyntheticKind::Image { size: 8 },
                separation: 6.0,
                noise: 1.0,
                keyword_rate: 0.5,
                informative_classes: 4,
            },
            SyntheticModality {
                name: "text".into(),
                kind: SyntheticKind::Tokens { len: 8, vocab: 40 },
                separation: 1.0,
                noise: 1.0,
                keyword_rate: 0.5,
                informative_classes: 4,
            },
        ],
        num_classes: 4,
        train: 400,
        valid: 100,
        test: 200,
        missing_rate: 0.3,
        seed: 1,
    };
    let mut config = RunConfig {
        data: DataConfig::new(data),
        ..Default::default()
    };
    config.model.feature_dim = 32;
    config.train.epochs = 8;
    config.train.batch_size = 32;
    config.train.optimizer.lr = 0.01;
    let (_, test) = train(&config);
    println!("{test:?}");
    for (name, acc) in test.modalities.iter().zip(&test.unimodal) {
        assert!(*acc > 0.5, "{name} accuracy {acc} (chance 0.25)");
    }
    assert!(test.fused > 0.6, "fused {}", test.fused);
}

#[test]
fn calibrated_mla_keeps_its_temperatures_in_the_model_file() {
    let mut config = RunConfig::default();
    config.train.epochs = 2;
    synth(&mut config).train = 256;
    config.train.mla.calibrate = true;
    let (trainer, test) = train(&config);
    let (model, _) = trainer.best_model();
    assert_eq!(model.temperatures.len(), 2);
    assert!(model.temperatures.iter().all(|t| t.is_finite() && *t > 0.0));
    // The model file keeps them, and the reloaded model tests the same.
    let (header, loaded) = reload(&trainer, None);
    assert_eq!(header.temperatures, model.temperatures);
    let again = pollster::block_on(evaluate(
        &loaded,
        header.fusion,
        &trainer.splits().test,
        64,
        &cpu(),
    ))
    .unwrap();
    assert_eq!(again, test);
    // Each is the NLL minimiser of its modality's validation logits.
    let valid = &trainer.splits().valid;
    let mut plain_model = model.clone();
    plain_model.temperatures.clear();
    let refit =
        pollster::block_on(mla::calibration::calibrate(&plain_model, valid, 64, &cpu())).unwrap();
    assert_eq!(refit, model.temperatures);
    // Without them each modality's argmax, so its accuracy, is the same.
    let uncalibrated = pollster::block_on(evaluate(
        &plain_model,
        header.fusion,
        &trainer.splits().test,
        64,
        &cpu(),
    ))
    .unwrap();
    assert_eq!(uncalibrated.unimodal, test.unimodal);
}
