//! Damaged files are refused and training never diverges silently: 1,000 seeded random
//! corruptions each of a model file and of a checkpoint are all refused (the SHA-256 in
//! each file's header), valid files predict as before, a model with non-finite weights
//! does not load, and a run whose loss or weights stop being finite ends with an error
//! naming the method, epoch, step and loss, leaving its earlier epochs usable.

mod common;

use common::{cpu, splits_of};
use mla::burn::module::{Module, ModuleMapper, Param};
use mla::burn::tensor::Tensor;
use mla::eval::evaluate;
use mla::io::{ModelHeader, load_model, model_file, save_model, weights_to_bytes};
use mla::rng::Rng;
use mla::{Method, MlaError, RunConfig, Trainer};

fn trained(config: &RunConfig, epochs: usize) -> Trainer {
    let mut trainer =
        Trainer::new(&config.model, &config.train, splits_of(config), &cpu()).unwrap();
    for _ in 0..epochs {
        pollster::block_on(trainer.end_epoch()).unwrap();
    }
    trainer
}

fn header(trainer: &Trainer) -> ModelHeader {
    ModelHeader::new(trainer.spec().clone(), trainer.config().fusion, None)
}

/// `bytes` with 1-4 random bytes changed (each to a different value) or cut at a
/// random length: what a bad disk, a partial copy or a tampered file looks like.
fn corrupt(bytes: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = bytes.to_vec();
    if rng.below(8) == 0 {
        out.truncate(rng.below(bytes.len()));
        return out;
    }
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len());
        out[at] ^= 1 + rng.below(255) as u8;
    }
    out
}

#[test]
fn a_thousand_corruptions_of_a_model_file_are_all_refused() {
    let config = RunConfig::default();
    let trainer = trained(&config, 1);
    let (model, _) = trainer.best_model();
    let bytes = pollster::block_on(save_model(&header(&trainer), &model)).unwrap();
    let test = &trainer.splits().test;
    let report = |m: &mla::model::MultimodalModel| {
        pollster::block_on(evaluate(m, config.train.fusion, test, 64, &cpu())).unwrap()
    };
    let (_, loaded) = pollster::block_on(load_model(&bytes, &cpu())).unwrap();
    assert_eq!(
        report(&loaded),
        report(&model),
        "a valid file predicts as before"
    );
    assert_eq!(mla::io::checksum_note(&bytes), None);

    let mut rng = Rng::new(25);
    for i in 0..1000 {
        let bad = corrupt(&bytes, &mut rng);
        match pollster::block_on(load_model(&bad, &cpu())) {
            Ok(_) => panic!("corruption {i} was accepted"),
            Err(e) => assert!(matches!(e, MlaError::Model(_)), "corruption {i}: {e}"),
        }
    }
}

#[test]
fn a_thousand_corruptions_of_a_checkpoint_are_all_refused() {
    let mut config = RunConfig::default();
    config.train.epochs = 3;
    let trainer = trained(&config, 1);
    let bytes = pollster::block_on(trainer.checkpoint()).unwrap();
    let resume =
        |b: &[u8]| Trainer::resume(&config.model, &config.train, splits_of(&config), &cpu(), b);
    assert_eq!(resume(&bytes).unwrap().epochs_done(), 1);
    let mut rng = Rng::new(26);
    for i in 0..1000 {
        let bad = corrupt(&bytes, &mut rng);
        if let Ok(t) = resume(&bad) {
            panic!("corruption {i} resumed after epoch {}", t.epochs_done());
        }
    }
}

/// Sets every float parameter to `value`.
struct SetAll(f32);

impl ModuleMapper for SetAll {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let v = self.0;
        param.map(|t| t.zeros_like().add_scalar(v))
    }
}

/// A model file with a valid checksum holding whatever weights `model` has
/// (`save_model` itself refuses non-finite ones).
fn file_with(header: &ModelHeader, model: &mla::model::MultimodalModel) -> Vec<u8> {
    let weights = pollster::block_on(weights_to_bytes(model)).unwrap();
    model_file(header, &weights).unwrap()
}

#[test]
fn non_finite_weights_are_neither_saved_nor_loaded() {
    let trainer = trained(&RunConfig::default(), 1);
    let h = header(&trainer);
    let (model, _) = trainer.best_model();
    // With finite weights, the same bytes as save_model's.
    let good = file_with(&h, &model);
    assert_eq!(good, pollster::block_on(save_model(&h, &model)).unwrap());
    assert!(pollster::block_on(load_model(&good, &cpu())).is_ok());
    for value in [f32::NAN, f32::INFINITY] {
        let broken = model.clone().map(&mut SetAll(value));
        let e = pollster::block_on(save_model(&h, &broken)).unwrap_err();
        assert!(e.to_string().contains("not all finite"), "{e}");
        let e = pollster::block_on(load_model(&file_with(&h, &broken), &cpu()))
            .err()
            .map(|e| e.to_string());
        assert!(
            e.as_deref()
                .is_some_and(|e| e.contains("not all finite") && e.contains("lower learning rate")),
            "{value}: {e:?}"
        );
    }
}

#[test]
fn model_headers_that_contradict_themselves_are_refused() {
    let trainer = trained(&RunConfig::default(), 1);
    let (model, _) = trainer.best_model();
    let base = header(&trainer);
    let refused = |change: &dyn Fn(&mut ModelHeader), want: &str| {
        let mut h = base.clone();
        change(&mut h);
        let e = pollster::block_on(load_model(&file_with(&h, &model), &cpu()))
            .err()
            .map(|e| e.to_string());
        assert!(
            e.as_deref().is_some_and(|e| e.contains(want)),
            "{want}: {e:?}"
        );
    };
    let preprocess = |classes: usize| mla::data::Preprocess {
        classes: (0..classes).map(|c| format!("c{c}")).collect(),
        modalities: base
            .spec
            .inputs
            .iter()
            .map(|i| match i {
                mla::data::InputKind::Features { dim } => {
                    mla::data::Preprocessor::Vector(mla::data::Standardizer {
                        mean: vec![0.0; *dim],
                        std: vec![1.0; *dim],
                    })
                }
                other => panic!("synthetic data has vectors, not {other:?}"),
            })
            .collect(),
    };
    let classes = base.spec.num_classes;
    // One class name too few would mislabel (or, before, panic) at prediction time.
    refused(
        &|h| h.preprocess = Some(preprocess(classes - 1)),
        &format!("{} class names for {classes} classes", classes - 1),
    );
    refused(&|h| h.spec.num_classes = 1 << 40, "`num_classes`");
    refused(&|h| h.spec.feature_dim = 1 << 30, "`feature_dim`");
    refused(&|h| h.temperatures = vec![1.0], "temperatures");
    refused(
        &|h| {
            let mut p = preprocess(classes);
            p.modalities[0] = mla::data::Preprocessor::Image {
                size: 1 << 20,
                norm: Default::default(),
            };
            h.preprocess = Some(p);
        },
        "`image size` is 1048576, above the limit",
    );
    // The same preprocessing with the right class count loads.
    let mut h = base.clone();
    h.preprocess = Some(preprocess(classes));
    assert!(pollster::block_on(load_model(&file_with(&h, &model), &cpu())).is_ok());
}

/// Every method stops with an error naming itself, the epoch, the step and the loss
/// when its losses stop being finite; the epochs before stay as they were.
#[test]
fn divergence_stops_every_method_with_its_place() {
    for method in [
        Method::Mla,
        Method::Late,
        Method::Qmf,
        Method::Joint,
        Method::OgmGe,
    ] {
        let mut config = RunConfig::default();
        config.train.method = method;
        config.train.epochs = 3;
        let trainer = trained(&config, 1);
        let good = pollster::block_on(trainer.checkpoint()).unwrap();
        // Resumed with an absurd rate: the second epoch diverges.
        let mut wild = config.clone();
        wild.train.optimizer.lr = 1e30;
        let mut trainer2 =
            Trainer::resume(&wild.model, &wild.train, splits_of(&wild), &cpu(), &good).unwrap();
        let e = pollster::block_on(trainer2.end_epoch()).unwrap_err();
        let text = e.to_string();
        assert!(
            matches!(&e, MlaError::Diverged { epoch: 2, .. })
                && text.contains(method.name())
                && text.contains("in epoch 2")
                && (text.contains(", step ") || text.contains("weights"))
                && text.contains("at learning rate 1e30: train with a lower learning rate"),
            "{method:?}: {text}"
        );
        assert_eq!(trainer2.best_model().1, 1, "the best epoch is the good one");
        // The last good checkpoint resumes at a sane rate and finishes.
        let mut again = Trainer::resume(
            &config.model,
            &config.train,
            splits_of(&config),
            &cpu(),
            &good,
        )
        .unwrap();
        while !again.is_finished() {
            pollster::block_on(again.end_epoch()).unwrap();
        }
    }
}
