//! Alternation (Eq. 1-2): a modality's step changes only its encoder and the head.

mod common;

use common::*;
use mla::burn::module::Module;
use mla::config::{HgmConfig, OptimizerConfig};
use mla::data::{SyntheticConfig, SyntheticKind, SyntheticModality};
use mla::model::{HeadLayout, ModelConfig, ModelSpec, MultimodalModel};
use mla::train::{Alternating, TrainBatch, build_optimizer};

fn bytes<M: Module>(m: &M) -> Vec<u8> {
    m.clone().into_record().into_bytes().unwrap().to_vec()
}

fn snapshot(model: &MultimodalModel) -> (Vec<Vec<u8>>, Vec<u8>) {
    (
        model.encoders.iter().map(bytes).collect(),
        bytes(&model.head),
    )
}

#[test]
fn modality_step_leaves_other_encoders_bit_identical() {
    let device = cpu();
    let ad = device.clone().autodiff();
    let modality = |name: &str, kind| SyntheticModality {
        name: name.into(),
        kind,
        separation: 3.0,
        noise: 1.0,
        keyword_rate: 0.6,
        informative_classes: 4,
    };
    // Three modalities of three kinds, so every encoder type is covered.
    let data = SyntheticConfig {
        modalities: vec![
            modality("vec", SyntheticKind::Features { dim: 10 }),
            modality("img", SyntheticKind::Image { size: 8 }),
            modality("txt", SyntheticKind::Tokens { len: 6, vocab: 30 }),
        ],
        num_classes: 4,
        train: 96,
        valid: 4,
        test: 4,
        missing_rate: 0.0,
        seed: 3,
    }
    .generate()
    .unwrap()
    .train;
    let config = ModelConfig {
        feature_dim: 16,
        ..Default::default()
    };
    let spec = ModelSpec::for_data(&data, &config, HeadLayout::Shared).unwrap();
    let mut model = spec.init(0, &device).unwrap().train();
    // Momentum and weight decay on: a drifting optimizer would change untouched encoders.
    let opt = OptimizerConfig {
        lr: 0.05,
        ..Default::default()
    };
    let mut optimizer = build_optimizer(&opt);
    let mut mla = Alternating::new(vec![0, 1, 2], &HgmConfig::default(), 16, &device);
    let idx: Vec<usize> = (0..data.len()).collect();
    for round in 0..2 {
        for m in 0..3 {
            let batch = TrainBatch {
                data: &data,
                indices: &idx[round * 48..(round + 1) * 48],
                device: &ad,
                epoch: 0,
            };
            let (encoders_before, head_before) = snapshot(&model);
            model = mla
                .modality_step(model, m, &batch, &mut optimizer, opt.lr)
                .unwrap()
                .0;
            let (encoders_after, head_after) = snapshot(&model);
            for k in 0..3 {
                if k == m {
                    assert_ne!(
                        encoders_before[k], encoders_after[k],
                        "round {round}: encoder {m} did not train"
                    );
                } else {
                    assert_eq!(
                        encoders_before[k], encoders_after[k],
                        "round {round}: step of {m} changed encoder {k}"
                    );
                }
            }
            assert_ne!(
                head_before, head_after,
                "the shared head must train in every step"
            );
        }
    }
}
