//! Alternation (Eq. 1-2): a modality's step changes only its encoder and the head; the
//! head options of MLA's ablation (issue 16) do what they say.

mod common;

use common::*;
use mla::burn::module::Module;
use mla::config::{HgmConfig, MlaConfig, OptimizerConfig};
use mla::data::{SyntheticConfig, SyntheticKind, SyntheticModality};
use mla::model::{HeadLayout, MultimodalModel};
use mla::train::{Alternating, Strategy, TrainBatch, build_optimizer};

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
    let mut model = trainable_model(&data, 16, HeadLayout::Shared, 0);
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
                label_smoothing: 0.0,
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

/// Two modalities of plain features, a shared-head model and a batch of all samples.
fn setup(head_per_modality: bool) -> (mla::data::Dataset, MultimodalModel) {
    let data = SyntheticConfig {
        train: 64,
        valid: 4,
        test: 4,
        ..SyntheticConfig::default()
    }
    .generate()
    .unwrap()
    .train;
    let layout = if head_per_modality {
        HeadLayout::Unshared
    } else {
        HeadLayout::Shared
    };
    let model = trainable_model(&data, 8, layout, 1);
    (data, model)
}

fn floats(l: &mla::burn::nn::Linear) -> Vec<f32> {
    let mut v = host(
        l.weight
            .val()
            .reshape([l.weight.val().shape().num_elements()]),
    );
    v.extend(host(l.bias.as_ref().unwrap().val()));
    v
}

fn step(
    mla: &mut Alternating,
    model: MultimodalModel,
    m: usize,
    data: &mla::data::Dataset,
    optimizer: &mut mla::burn::optim::ModuleOptimizer,
    lr: f64,
) -> MultimodalModel {
    let ad = cpu().autodiff();
    let idx: Vec<usize> = (0..data.len()).collect();
    let batch = TrainBatch {
        data,
        indices: &idx,
        device: &ad,
        epoch: 0,
        label_smoothing: 0.0,
    };
    mla.modality_step(model, m, &batch, optimizer, lr)
        .unwrap()
        .0
}

#[test]
fn per_modality_head_state_carries_no_momentum_between_modalities() {
    let (data, model) = setup(false);
    let no_hgm = HgmConfig {
        enabled: false,
        ..HgmConfig::default()
    };
    let opt = OptimizerConfig {
        lr: 0.1,
        ..Default::default()
    };
    assert!(opt.momentum > 0.0);
    let run = |options: &MlaConfig| {
        let mut mla = Alternating::with_options(vec![0, 1], &no_hgm, options, &opt, 8, &cpu());
        let mut optimizer = build_optimizer(&opt);
        let after0 = step(&mut mla, model.clone(), 0, &data, &mut optimizer, opt.lr);
        let after1 = step(&mut mla, after0.clone(), 1, &data, &mut optimizer, opt.lr);
        // Modality 1's step alone, from the same model, with optimizers that never
        // saw modality 0.
        let mut fresh = Alternating::with_options(vec![0, 1], &no_hgm, options, &opt, 8, &cpu());
        let mut fresh_optimizer = build_optimizer(&opt);
        let alone = step(&mut fresh, after0, 1, &data, &mut fresh_optimizer, opt.lr);
        (
            floats(&shared(&after1).linear),
            floats(&shared(&alone).linear),
        )
    };
    let per_modality = MlaConfig {
        head_state_per_modality: true,
        ..MlaConfig::default()
    };
    let (after, alone) = run(&per_modality);
    assert!(
        after == alone,
        "modality 0's step left momentum in modality 1's"
    );
    // The paper's single optimizer does carry it: the option changes something.
    let (after, alone) = run(&MlaConfig::default());
    assert!(
        after != alone,
        "one optimizer should mix the modalities' momentum"
    );
}

#[test]
fn divided_head_learning_rate_moves_the_head_by_a_mth_and_encoders_as_before() {
    let (data, model) = setup(false);
    let opt = OptimizerConfig {
        lr: 0.1,
        momentum: 0.0,
        weight_decay: 0.0,
        ..Default::default()
    };
    let run = |options: MlaConfig| {
        let mut mla =
            Alternating::with_options(vec![0, 1], &HgmConfig::default(), &options, &opt, 8, &cpu());
        let mut optimizer = build_optimizer(&opt);
        step(&mut mla, model.clone(), 1, &data, &mut optimizer, opt.lr)
    };
    let plain = run(MlaConfig::default());
    let divided = run(MlaConfig {
        head_lr_divided: true,
        ..MlaConfig::default()
    });
    let before = floats(&shared(&model).linear);
    for ((b, p), d) in before
        .iter()
        .zip(floats(&shared(&plain).linear))
        .zip(floats(&shared(&divided).linear))
    {
        // Plain SGD: the step is lr x gradient, so half the lr moves half as far (M = 2).
        assert!(((d - b) - (p - b) / 2.0).abs() < 1e-6, "{b} {p} {d}");
    }
    assert!(floats(&shared(&plain).linear) != before);
    assert_eq!(bytes(&plain.encoders[1]), bytes(&divided.encoders[1]));
}

#[test]
fn a_head_per_modality_trains_only_its_own_head_and_fuses_like_mla() {
    let (data, model) = setup(true);
    let options = MlaConfig {
        head_per_modality: true,
        ..MlaConfig::default()
    };
    let opt = OptimizerConfig::default();
    let mut mla =
        Alternating::with_options(vec![0, 1], &HgmConfig::default(), &options, &opt, 8, &cpu());
    assert_eq!(mla.head_layout(), HeadLayout::Unshared);
    assert!(mla.hgm().is_none(), "HGM has no shared head to protect");
    let mut optimizer = build_optimizer(&opt);
    let after = step(&mut mla, model.clone(), 1, &data, &mut optimizer, 0.1);
    assert_eq!(bytes(&heads(&after)[0]), bytes(&heads(&model)[0]));
    assert_ne!(bytes(&heads(&after)[1]), bytes(&heads(&model)[1]));
    assert_eq!(bytes(&after.encoders[0]), bytes(&model.encoders[0]));
    // Evaluation fuses the heads' predictions with MLA's entropy fusion.
    let batch = mla::data::Batch::gather(&data, &[0, 1, 2, 3], &cpu());
    let plain = after.valid();
    let out = mla::eval::predict(&plain, mla::Fusion::Entropy, &batch).unwrap();
    let want = mla::Fusion::Entropy.fuse(out.unimodal.clone(), batch.present.clone());
    assert_eq!(host(out.fused), host(want.logits));
    let k1 = host(plain.unimodal_logits(1, plain.all_features(&batch).unwrap()[1].clone()));
    let own = host(heads(&plain)[1].forward(plain.all_features(&batch).unwrap()[1].clone()));
    assert_eq!(k1, own, "a modality's prediction is its own head's");
}

#[test]
fn a_bias_per_modality_shares_the_weight_and_moves_only_the_stepping_modality_bias() {
    let (data, _) = setup(false);
    let model = trainable_model(&data, 8, HeadLayout::SharedWeight, 1);
    assert!(shared(&model).linear.bias.is_none());
    let options = MlaConfig {
        bias_per_modality: true,
        ..MlaConfig::default()
    };
    let opt = OptimizerConfig::default();
    let mut mla =
        Alternating::with_options(vec![0, 1], &HgmConfig::default(), &options, &opt, 8, &cpu());
    assert_eq!(mla.head_layout(), HeadLayout::SharedWeight);
    let mut optimizer = build_optimizer(&opt);
    let after = step(&mut mla, model.clone(), 1, &data, &mut optimizer, 0.1);
    let bias = |m: &MultimodalModel, k: usize| host(shared(m).biases[k].val());
    assert_eq!(bias(&after, 0), bias(&model, 0));
    assert_ne!(bias(&after, 1), bias(&model, 1));
    assert_ne!(bytes(&shared(&after).linear), bytes(&shared(&model).linear));
    // Modality k's logits: the shared weight, then its own bias.
    let plain = after.valid();
    let batch = mla::data::Batch::gather(&data, &[0, 1, 2], &cpu());
    let h = plain.all_features(&batch).unwrap()[0].clone();
    let got = host(plain.unimodal_logits(0, h.clone()));
    let w = host(shared(&plain).linear.weight.val());
    let (hs, b0) = (host(h), bias(&plain, 0));
    let c = b0.len();
    for i in 0..3 {
        for j in 0..c {
            let want: f32 = b0[j] + (0..8).map(|k| hs[i * 8 + k] * w[k * c + j]).sum::<f32>();
            assert!((got[i * c + j] - want).abs() < 1e-5);
        }
    }
}
