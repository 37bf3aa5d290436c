//! The same run on another backend gives the same numbers as on the CPU.

mod common;

#[cfg(feature = "wgpu")]
use common::wgpu;

#[cfg(feature = "wgpu")]
#[test]
fn wgpu_training_matches_cpu() {
    use mla::{RunConfig, Trainer};

    let Some(wgpu) = wgpu() else { return };
    let mut config = RunConfig::default();
    config.train.epochs = 2;
    config.train.optimizer.lr = 0.01;
    common::synth(&mut config).train = 384;
    common::synth(&mut config).valid = 200;
    // Masks come from the data's own generator, so both backends train on the same
    // cells: were they drawn differently, the losses would differ.
    config.missing = mla::data::MissingConfig::everywhere(0.2);
    let run = |device| {
        let mut splits = common::splits_of(&config);
        config
            .missing
            .apply(&mut splits, config.train.seed)
            .unwrap();
        let mut trainer = Trainer::new(&config.model, &config.train, splits, &device).unwrap();
        while !trainer.is_finished() {
            pollster::block_on(trainer.end_epoch()).unwrap();
        }
        trainer.history().to_vec()
    };
    let cpu = run(mla::burn::tensor::Device::flex());
    let gpu = run(wgpu);
    for (c, g) in cpu.iter().zip(&gpu) {
        for (lc, lg) in c.train_loss.iter().zip(&g.train_loss) {
            assert!(
                (lc - lg).abs() < 1e-3 * lc.abs().max(1.0),
                "epoch {}: loss {lc} (cpu) vs {lg} (wgpu)",
                c.epoch
            );
        }
        for (ac, ag) in c.valid.unimodal.iter().zip(&g.valid.unimodal) {
            assert!(
                (ac - ag).abs() <= 0.01,
                "epoch {}: accuracy {ac} (cpu) vs {ag} (wgpu)",
                c.epoch
            );
        }
    }
    println!(
        "cpu {:?}\nwgpu {:?}",
        cpu.last().unwrap().train_loss,
        gpu.last().unwrap().train_loss
    );
}

/// Saving reads the weights back asynchronously (what a browser GPU needs): a model
/// on wgpu comes back to the host, and through a model file, with the same weights as
/// the same model on the CPU.
#[cfg(feature = "wgpu")]
#[test]
fn wgpu_model_comes_back_to_the_host_unchanged() {
    use mla::RunConfig;
    use mla::io::{ModelHeader, load_model, save_model, to_host};
    use mla::model::HeadLayout;

    let Some(wgpu) = wgpu() else { return };
    let config = RunConfig::default();
    let splits = common::splits_of(&config);
    let spec =
        mla::model::ModelSpec::for_data(&splits.train, &config.model, HeadLayout::Shared).unwrap();
    let header = ModelHeader::new(spec.clone(), config.train.fusion, None);
    let cpu = common::params(&spec.init(3, &common::cpu()).unwrap());
    let on_gpu = spec.init(3, &wgpu).unwrap();
    let host = pollster::block_on(to_host(&on_gpu)).unwrap();
    assert!(!cpu.is_empty() && common::params(&host) == cpu);
    let bytes = pollster::block_on(save_model(&header, &on_gpu)).unwrap();
    let (_, back) = pollster::block_on(load_model(&bytes, &wgpu)).unwrap();
    let back = pollster::block_on(to_host(&back)).unwrap();
    assert!(
        common::params(&back) == cpu,
        "weights changed through a model file"
    );
}

/// A ResNet-18 (batch norm) trained on wgpu with a checkpoint after every epoch — each
/// one copies the weights and running statistics to the host — trains as on the CPU.
#[cfg(feature = "wgpu")]
#[test]
fn wgpu_resnet_with_checkpoints_matches_cpu() {
    use mla::data::{InputKind, SyntheticKind};
    use mla::model::{EncoderConfig, Resnet18Config};
    use mla::{RunConfig, Trainer};

    let Some(wgpu) = wgpu() else { return };
    let mut config = RunConfig::default();
    config.train.epochs = 3;
    config.train.optimizer.lr = 0.01;
    config.model.feature_dim = 16;
    let data = common::synth(&mut config);
    data.train = 128;
    data.valid = 64;
    data.modalities[0].kind = SyntheticKind::Image { size: 12 };
    let image = InputKind::Image {
        channels: 1,
        height: 12,
        width: 12,
    };
    let weak = common::splits_of(&config).train.kinds()[1].clone();
    config.model.encoders = vec![
        EncoderConfig::Resnet18(Resnet18Config {
            width: 4,
            frames: 1,
        }),
        EncoderConfig::default_for(&weak),
    ];
    assert_eq!(common::splits_of(&config).train.kinds()[0], image);
    let run = |device, checkpoints: bool| {
        let splits = common::splits_of(&config);
        let mut trainer = Trainer::new(&config.model, &config.train, splits, &device).unwrap();
        while !trainer.is_finished() {
            pollster::block_on(trainer.end_epoch()).unwrap();
            if checkpoints {
                pollster::block_on(trainer.checkpoint()).unwrap();
            }
        }
        trainer.history().to_vec()
    };
    let cpu = run(mla::burn::tensor::Device::flex(), false);
    let gpu = run(wgpu, true);
    for (c, g) in cpu.iter().zip(&gpu) {
        for (a, b) in c.train_loss.iter().zip(&g.train_loss) {
            assert!(
                (a - b).abs() < 1e-3,
                "epoch {}: loss {a} on cpu, {b} on wgpu",
                c.epoch
            );
        }
    }
}
