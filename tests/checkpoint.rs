//! A run stopped after an epoch and resumed from its checkpoint ends exactly like the
//! same run never stopped: weights, optimizer momentum, HGM's `P`, batch order, best
//! epoch and history all carry over.

mod common;

use common::{cpu, splits_of};
use mla::burn::module::{Module, ModuleVisitor, Param};
use mla::burn::tensor::Tensor;
use mla::{Method, OptimizerKind, RunConfig, Trainer};

fn finish(trainer: &mut Trainer) {
    while !trainer.is_finished() {
        pollster::block_on(trainer.end_epoch()).unwrap();
    }
}

/// Every weight of the best model, in traversal order.
fn weights(trainer: &Trainer) -> Vec<f32> {
    struct Collect(Vec<f32>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.extend(common::host(param.val()));
        }
    }
    let mut all = Collect(Vec::new());
    trainer.best_model().0.visit(&mut all);
    all.0
}

fn check_resume(config: &RunConfig, stop_after: usize) {
    let device = cpu();
    let mut whole = Trainer::new(&config.model, &config.train, splits_of(config), &device).unwrap();
    finish(&mut whole);

    let mut first = Trainer::new(&config.model, &config.train, splits_of(config), &device).unwrap();
    for _ in 0..stop_after {
        pollster::block_on(first.end_epoch()).unwrap();
    }
    let bytes = pollster::block_on(first.checkpoint()).unwrap();
    // Half an epoch more is lost with the process, as when it is killed.
    first.step().unwrap();
    assert!(
        pollster::block_on(first.checkpoint()).is_err(),
        "no checkpoint mid-epoch"
    );
    drop(first);

    let mut resumed = Trainer::resume(
        &config.model,
        &config.train,
        splits_of(config),
        &device,
        &bytes,
    )
    .unwrap();
    assert_eq!(resumed.epochs_done(), stop_after);
    finish(&mut resumed);

    assert_eq!(
        resumed.history(),
        whole.history(),
        "every epoch's losses and accuracies"
    );
    assert_eq!(resumed.best_model().1, whole.best_model().1, "best epoch");
    assert_eq!(
        weights(&resumed),
        weights(&whole),
        "best weights, bit for bit"
    );
    let (a, b) = (
        pollster::block_on(resumed.test()).unwrap(),
        pollster::block_on(whole.test()).unwrap(),
    );
    assert_eq!(a, b, "test report");
}

#[test]
fn mla_with_hgm_and_momentum_resumes_exactly() {
    let mut config = RunConfig::default();
    config.train.epochs = 4;
    config.train.optimizer.kind = OptimizerKind::Sgd;
    assert!(config.train.optimizer.momentum > 0.0 && config.train.hgm.enabled);
    check_resume(&config, 2);
    // With the head's momentum kept per modality, those optimizers resume too.
    config.train.mla.head_state_per_modality = true;
    config.train.mla.head_lr_divided = true;
    check_resume(&config, 2);
}

#[test]
fn joint_with_adam_resumes_exactly() {
    let mut config = RunConfig::default();
    config.train.epochs = 3;
    config.train.method = Method::Joint;
    config.train.optimizer.kind = OptimizerKind::Adam;
    config.train.optimizer.lr = 1e-3;
    check_resume(&config, 1);
}

/// QMF carries its per-sample loss history across the checkpoint (its ranking loss
/// reads it); OGM-GE's modulation depends on the epoch. Both without random noise, so
/// that the two runs can match bit for bit. MMIN hides modalities by epoch and sample,
/// with missing-modality masks on.
#[test]
fn qmf_ogm_ge_and_mmin_resume_exactly() {
    for method in [Method::Qmf, Method::OgmGe, Method::Mmin] {
        let mut config = RunConfig::default();
        config.train.epochs = 3;
        config.train.method = method;
        config.train.ogm.noise = false;
        config.train.ogm.end_epoch = 2;
        config.missing = mla::data::MissingConfig::everywhere(0.3);
        check_resume(&config, 1);
    }
}

#[test]
fn a_checkpoint_of_another_run_is_refused() {
    let mut config = RunConfig::default();
    config.train.epochs = 2;
    let device = cpu();
    let mut t = Trainer::new(&config.model, &config.train, splits_of(&config), &device).unwrap();
    pollster::block_on(t.end_epoch()).unwrap();
    let bytes = pollster::block_on(t.checkpoint()).unwrap();

    let mut other = config.clone();
    other.train.optimizer.momentum = 0.5;
    let err = Trainer::resume(
        &other.model,
        &other.train,
        splits_of(&other),
        &device,
        &bytes,
    )
    .err()
    .map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("checkpoint: it was written by a run with another training configuration")
    );
    // The learning rate may change (to go on more slowly after a divergence).
    let mut slower = config.clone();
    slower.train.optimizer.lr /= 10.0;
    let t = Trainer::resume(
        &slower.model,
        &slower.train,
        splits_of(&slower),
        &device,
        &bytes,
    );
    assert_eq!(t.map(|t| t.epochs_done()).ok(), Some(1));
    let mut longer = config.clone();
    longer.train.epochs = 5;
    let t = Trainer::resume(
        &longer.model,
        &longer.train,
        splits_of(&longer),
        &device,
        &bytes,
    )
    .unwrap();
    assert_eq!(
        (t.epochs_done(), t.is_finished()),
        (1, false),
        "training longer is allowed"
    );
    let cut = Trainer::resume(
        &config.model,
        &config.train,
        splits_of(&config),
        &device,
        &bytes[..100],
    );
    // The checksum catches the cut before any section is read.
    assert!(cut.is_err_and(|e| e.to_string().contains("damaged")));
}
