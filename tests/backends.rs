//! The same run on another backend gives the same numbers as on the CPU.

mod common;

#[cfg(feature = "wgpu")]
#[test]
fn wgpu_training_matches_cpu() {
    use mla::{Backend, RunConfig, Trainer};

    let wgpu = match Backend::Wgpu.device() {
        Ok(device) => device,
        // CI installs a software Vulkan adapter and sets MLA_REQUIRE_WGPU=1, so there this
        // cannot pass by skipping.
        Err(e) if std::env::var_os("MLA_REQUIRE_WGPU").is_none() => {
            eprintln!("skipping: {e} (set MLA_REQUIRE_WGPU=1 to make this an error)");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let mut config = RunConfig::default();
    config.train.epochs = 2;
    config.train.optimizer.lr = 0.01;
    common::synth(&mut config).train = 384;
    common::synth(&mut config).valid = 200;
    let run = |device| {
        let splits = common::splits_of(&config);
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
