//! The `train` and `eval` commands.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mla::io::{ModelHeader, load_model, save_model};
use mla::{Backend, Fusion, Method, OptimizerKind, RunConfig, Trainer};
use serde_json::json;

use crate::report::{epoch_line, table};
use crate::run_dir::{self, CONFIG, METRICS, MODEL, TEST};
use crate::{EvalArgs, FusionArg, MethodArg, OptimizerArg, TrainArgs};

/// The run configuration the flags ask for, on top of the defaults.
fn run_config(args: &TrainArgs) -> RunConfig {
    let mut config = RunConfig::default();
    config.data.seed = args.data_seed;
    let train = &mut config.train;
    train.method = match args.method {
        MethodArg::Mla => Method::Mla,
        MethodArg::Joint => Method::Joint,
    };
    train.seed = args.seed;
    if let Some(e) = args.epochs {
        train.epochs = e;
    }
    if let Some(b) = args.batch_size {
        train.batch_size = b;
    }
    if let Some(o) = args.optimizer {
        train.optimizer.kind = match o {
            OptimizerArg::Sgd => OptimizerKind::Sgd,
            OptimizerArg::Adam => OptimizerKind::Adam,
            OptimizerArg::Adamw => OptimizerKind::Adamw,
        };
    }
    if let Some(lr) = args.lr {
        train.optimizer.lr = lr;
    }
    if let Some(a) = args.alpha {
        train.hgm.alpha = a;
    }
    if args.no_hgm {
        train.hgm.enabled = false;
    }
    if let Some(f) = args.fusion {
        train.fusion = match f {
            FusionArg::Entropy => Fusion::Entropy,
            FusionArg::Mean => Fusion::Mean,
            FusionArg::BatchEntropy => Fusion::BatchEntropy,
        };
    }
    config
}

pub fn train(args: TrainArgs) -> Result<()> {
    let config = run_config(&args);
    config.validate()?;
    let backend: Backend = args.device.parse()?;
    let device = backend.device()?;
    let splits = config.data.generate()?;
    let mut trainer = Trainer::new(&config.model, &config.train, splits, &device)?;

    let dir = args.out.clone().unwrap_or_else(run_dir::default_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    run_dir::write_atomic(
        &dir,
        CONFIG,
        serde_json::to_string_pretty(&config)?.as_bytes(),
    )?;
    let s = trainer.splits();
    eprintln!(
        "mla-native: {} on {backend}, {} modalities ({}), {} classes, {} train / {} valid / {} test, {} epochs -> {}",
        config.train.method.name(),
        s.train.num_modalities(),
        s.train.names().join(", "),
        s.train.num_classes,
        s.train.len(),
        s.valid.len(),
        s.test.len(),
        config.train.epochs,
        dir.display()
    );

    let mut metrics_log = String::new();
    let epochs = config.train.epochs;
    while !trainer.is_finished() {
        let started = Instant::now();
        let bar = ProgressBar::new(trainer.steps_per_epoch() as u64);
        if args.quiet {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        bar.set_style(
            ProgressStyle::with_template(
                "epoch {prefix} [{bar:30}] {pos}/{len} batches {elapsed_precise} eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(format!("{}/{epochs}", trainer.epochs_done() + 1));
        while !trainer.step()? {
            bar.inc(1);
        }
        bar.finish_and_clear();
        let m = pollster::block_on(trainer.end_epoch())?;
        let seconds = started.elapsed().as_secs_f64();
        println!("{}", epoch_line(&m, epochs, seconds));
        let mut line = serde_json::to_value(&m)?;
        line["seconds"] = json!(seconds);
        metrics_log += &format!("{line}\n");
        // Rewritten whole each epoch so the file on disk is always complete.
        run_dir::write_atomic(&dir, METRICS, metrics_log.as_bytes())?;
    }

    let (model, best_epoch) = trainer.best_model();
    let header = ModelHeader {
        spec: trainer.spec().clone(),
        fusion: config.train.fusion,
        written_by: format!("mla {}", env!("CARGO_PKG_VERSION")),
    };
    run_dir::write_atomic(&dir, MODEL, &save_model(&header, &model)?)?;
    let test = pollster::block_on(trainer.test())?;
    metrics_log += &format!("{}\n", json!({ "test": test, "best_epoch": best_epoch }));
    run_dir::write_atomic(&dir, METRICS, metrics_log.as_bytes())?;
    run_dir::write_atomic(&dir, TEST, serde_json::to_string_pretty(&test)?.as_bytes())?;
    println!(
        "\n{}",
        table(
            &format!(
                "test ({} samples, best validation epoch {best_epoch} of {epochs})",
                test.samples
            ),
            &test
        )
    );
    println!("saved {}", dir.display());
    Ok(())
}

pub fn eval(args: EvalArgs) -> Result<()> {
    let dir = &args.model;
    let config: RunConfig = serde_json::from_slice(&run_dir::read(dir, CONFIG)?)
        .with_context(|| format!("parsing {}", dir.join(CONFIG).display()))?;
    config
        .validate()
        .with_context(|| format!("checking {}", dir.join(CONFIG).display()))?;
    let backend: Backend = args.device.parse()?;
    let device = backend.device()?;
    let (header, model) = load_model(&run_dir::read(dir, MODEL)?, &device)
        .with_context(|| format!("loading {}", dir.join(MODEL).display()))?;
    let splits = config.data.generate()?;
    if splits.test.names() != header.spec.modalities {
        bail!(
            "the model's modalities {:?} do not match the data's {:?}",
            header.spec.modalities,
            splits.test.names()
        );
    }
    let report = pollster::block_on(mla::eval::evaluate(
        &model,
        header.fusion,
        &splits.test,
        config.train.batch_size,
        &device,
    ))?;
    println!(
        "{}",
        table(&format!("test ({} samples)", report.samples), &report)
    );
    if let Ok(saved) = run_dir::read(dir, TEST) {
        let saved: mla::EvalReport = serde_json::from_slice(&saved)
            .with_context(|| format!("parsing {}", dir.join(TEST).display()))?;
        if saved == report {
            println!("matches the saved test result exactly");
        } else {
            bail!("differs from the saved test result {saved:?}");
        }
    }
    Ok(())
}
