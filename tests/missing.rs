//! Missing-modality masks (the paper's Section 4.2): every method trains and evaluates
//! with them, a masked cell is never read, and under MLA a modality absent from a batch
//! takes no step while the others do.

mod common;

use common::*;
use mla::burn::module::Module;
use mla::config::Method;
use mla::data::{MissingConfig, MissingRates, Splits};
use mla::model::MultimodalModel;
use mla::train::{Alternating, Strategy, TrainBatch, build_optimizer};
use mla::{HgmConfig, RunConfig};

/// The same splits with every masked cell's stored values replaced by large noise.
fn corrupt(splits: &Splits) -> Splits {
    let mut out = splits.clone();
    let mut rng = mla::rng::Rng::new(99);
    for part in [&mut out.train, &mut out.valid, &mut out.test] {
        for m in &mut part.modalities {
            let len = m.kind.item_len();
            let mut values = m.values.to_vec();
            for (i, present) in m.present.iter().enumerate() {
                if !present {
                    for v in &mut values[i * len..(i + 1) * len] {
                        // Token ids must stay valid ids: any id but padding.
                        *v = match m.kind {
                            mla::data::InputKind::Tokens { vocab, .. } => {
                                (1 + rng.below(vocab - 1)) as f32
                            }
                            _ => 50.0 * rng.normal() as f32,
                        };
                    }
                }
            }
            m.values = values.into();
        }
    }
    out
}

#[test]
fn every_method_learns_with_masks_and_never_reads_a_masked_cell() {
    let mut config = RunConfig::default();
    config.train.epochs = 6;
    config.train.optimizer.kind = mla::OptimizerKind::Adam;
    synth(&mut config).train = 400;
    config.missing = MissingConfig::everywhere(0.3);
    let splits = splits_of(&config);
    let masked = |d: &mla::data::Dataset| {
        d.modalities
            .iter()
            .map(|m| m.present.iter().filter(|p| !**p).count())
            .sum::<usize>()
    };
    assert!(masked(&splits.train) > 150 && masked(&splits.test) > 30);
    let noisy = corrupt(&splits);
    let chance = 1.0 / splits.train.num_classes as f64;
    for method in Method::ALL.into_iter().chain(Method::MISSING) {
        config.train.method = method;
        println!("{}:", method.name());
        let (a, test_a) = train_and_test(&config, splits.clone());
        let (b, test_b) = train_and_test(&config, noisy.clone());
        assert!(
            test_a.fused > chance + 0.2,
            "{}: fused {:.3} with 30% of cells masked",
            method.name(),
            test_a.fused
        );
        assert_eq!(
            test_a,
            test_b,
            "{}: masked values changed the test",
            method.name()
        );
        assert!(
            params(&a.best_model().0) == params(&b.best_model().0),
            "{}: masked values changed the weights",
            method.name()
        );
    }
}

fn bytes<M: Module>(m: &M) -> Vec<u8> {
    m.clone().into_record().into_bytes().unwrap().to_vec()
}

#[test]
fn under_mla_a_modality_missing_from_a_batch_takes_no_step_and_the_others_do() {
    let device = cpu();
    let ad = device.clone().autodiff();
    let mut config = RunConfig::default();
    synth(&mut config).train = 64;
    // Modality 0 gone from every training sample: only modality 1 can step.
    config.missing = MissingConfig {
        train: MissingRates::PerModality(vec![1.0, 0.0]),
        ..Default::default()
    };
    let splits = splits_of(&config);
    let data = &splits.train;
    assert!(data.modalities[0].present.iter().all(|p| !p));
    let spec = mla::model::ModelSpec::for_data(data, &config.model, mla::model::HeadLayout::Shared)
        .unwrap();
    let model: MultimodalModel = spec.init(0, &device).unwrap().train();
    let opt = config.train.optimizer.clone();
    let idx: Vec<usize> = (0..data.len()).collect();
    let batch = TrainBatch {
        data,
        indices: &idx,
        device: &ad,
        epoch: 0,
        label_smoothing: 0.0,
    };
    let feature_dim = config.model.feature_dim;
    let hgm = HgmConfig::default();

    let mut both = Alternating::new(vec![0, 1], &hgm, feature_dim, &device);
    let mut optimizer = build_optimizer(&opt);
    let (after, losses) = both
        .train_batch(model.clone(), &batch, &mut optimizer, opt.lr)
        .unwrap();
    assert!(losses[0].is_none() && losses[1].is_some());
    assert_eq!(bytes(&after.encoders[0]), bytes(&model.encoders[0]));
    assert_ne!(bytes(&after.encoders[1]), bytes(&model.encoders[1]));

    // Exactly the step modality 1 takes alone.
    let mut alone = Alternating::new(vec![0, 1], &hgm, feature_dim, &device);
    let mut optimizer = build_optimizer(&opt);
    let (only, _) = alone
        .modality_step(model.clone(), 1, &batch, &mut optimizer, opt.lr)
        .unwrap();
    assert!(
        params(&after) == params(&only),
        "not the step of modality 1 alone"
    );
}

#[test]
fn a_masked_image_never_reaches_batch_norm_statistics() {
    // Concat runs every sample through every encoder; ResNet's batch norm averages over
    // the batch, so a masked cell's stored pixels would shift what the present ones see.
    use mla::data::{SyntheticKind, SyntheticModality};
    use mla::model::{EncoderConfig, Resnet18Config};
    let mut config = RunConfig::default();
    config.train.epochs = 1;
    config.train.method = Method::Joint;
    let data = synth(&mut config);
    data.modalities[0] = SyntheticModality {
        kind: SyntheticKind::Image { size: 8 },
        ..data.modalities[0].clone()
    };
    data.train = 128;
    data.valid = 32;
    data.test = 32;
    config.model.feature_dim = 16;
    config.model.encoders = vec![
        EncoderConfig::Resnet18(Resnet18Config {
            width: 4,
            frames: 1,
        }),
        EncoderConfig::default_for(&mla::data::InputKind::Features { dim: 32 }),
    ];
    config.missing = MissingConfig::everywhere(0.4);
    let splits = splits_of(&config);
    let (a, test_a) = train_and_test(&config, splits.clone());
    let (b, test_b) = train_and_test(&config, corrupt(&splits));
    assert_eq!(test_a, test_b);
    assert!(
        params(&a.best_model().0) == params(&b.best_model().0),
        "masked pixels changed the weights"
    );
}
