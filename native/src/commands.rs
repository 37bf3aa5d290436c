//! The `train`, `eval` and `predict` commands.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mla::config::TrainConfig;
use mla::data::Manifest;
use mla::data::manifest::table::{ManifestRow, csv_cell};
use mla::io::{ModelHeader, load_model, save_model};
use mla::model::ModelConfig;
use mla::model::pretrained::EncoderFiles;
use mla::predict::{SamplePrediction, manifest_columns, predict_sample, row_inputs};
use mla::{Backend, Fusion, OptimizerKind, RunConfig, Trainer};
use serde_json::json;

use crate::data::{Pretrained, file_reader, load, read_manifest};
use crate::report::{epoch_line, table};
use crate::run_dir::{
    self, CHECKPOINT, CONFIG, CONFIG_TOML, DIVERGED, EMBEDDINGS, GAP, METRICS, MISSING, MODEL,
    PLOT, SKIPPED, SPLIT, TEST,
};
use crate::{
    BenchArgs, EvalArgs, FusionArg, OptimizerArg, PredictArgs, PredictFormat, SampleArgs, TrainArgs,
};

/// A run configuration file: TOML, or JSON when it ends in `.json`.
fn read_config(path: &Path) -> Result<RunConfig> {
    let text = crate::files::read_to_string(path)
        .with_context(|| format!("reading {}", path.display()))?;
    let parsed = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(anyhow::Error::from)
    } else {
        toml::from_str(&text).map_err(anyhow::Error::from)
    };
    parsed.with_context(|| format!("parsing {}", path.display()))
}

/// The run configuration the flags ask for, on top of `--config` or the defaults.
fn run_config(args: &TrainArgs) -> Result<RunConfig> {
    let mut config = match &args.config {
        Some(path) => read_config(path)?,
        None => RunConfig::default(),
    };
    data_flags(args, &mut config)?;
    train_flags(args, &mut config.train);
    missing_flags(args, &mut config.missing);
    Ok(config)
}

/// The flags about the data (`--data`, `--manifest`, `--data-seed`, `--skip-bad`,
/// `--image-size`, `--pretrained`).
fn data_flags(args: &TrainArgs, config: &mut RunConfig) -> Result<()> {
    let seed = args.data_seed.unwrap_or(0);
    let data = match (&args.manifest, &args.data) {
        (Some(path), _) => Some(crate::spec::manifest(&path.to_string_lossy(), seed)),
        (None, Some(spec)) => Some(crate::spec::parse(spec, seed)?),
        (None, None) => None,
    };
    if let Some(data) = data {
        // The data source's default architecture, unless a config file sets one.
        if args.config.is_none() {
            config.model = crate::spec::default_model(&data);
        }
        config.data = data;
    } else if let Some(s) = args.data_seed {
        *config.data.seed_mut() = s;
    }
    if args.pretrained {
        if args.image_size.is_some() {
            bail!(
                "--image-size sets the size for encoders trained from scratch; a pretrained \
                 image encoder's is set in --config: [[model.encoders]] type = \"mobilenet_v2\", \
                 image_size = 224"
            );
        }
        if !config.model.encoders.is_empty() {
            bail!(
                "--pretrained sets every image and text encoder; the configuration names them already (model.encoders)"
            );
        }
        config.model.pretrained = true;
    }
    let source = config.data.source_mut();
    if let Some(options) = source.manifest_options_mut()
        && let Some(size) = args.image_size
    {
        options.image_size = size;
    }
    match source.skip_bad_mut() {
        Some(skip) => *skip |= args.skip_bad,
        None if args.skip_bad => {
            bail!("--skip-bad applies to manifest, mfeat, av-digits and crema-d data")
        }
        None => {}
    }
    if args.image_size.is_some() && config.data.manifest_options().is_none() {
        bail!("--image-size applies to manifest and emoji data only");
    }
    Ok(())
}

/// The flags about training (method, schedule, optimizer, HGM, fusion, MLA's head).
fn train_flags(args: &TrainArgs, train: &mut TrainConfig) {
    if let Some(m) = args.method {
        train.method = m;
    }
    if let Some(k) = args.condition_modality {
        train.condition_modality = k;
    }
    if let Some(s) = args.seed {
        train.seed = s;
    }
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
    if let Some(s) = args.label_smoothing {
        train.label_smoothing = Some(s);
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
    let mla = &mut train.mla;
    mla.head_state_per_modality |= args.head_state_per_modality;
    mla.head_lr_divided |= args.head_lr_divided;
    mla.bias_per_modality |= args.bias_per_modality;
    mla.head_per_modality |= args.head_per_modality;
    mla.calibrate |= args.calibrate;
}

/// The flags about missing modalities (`--missing*`).
fn missing_flags(args: &TrainArgs, missing: &mut mla::data::MissingConfig) {
    if let Some(r) = &args.missing {
        *missing = mla::data::MissingConfig {
            seed: missing.seed,
            ..mla::data::MissingConfig::default()
        };
        (missing.train, missing.valid, missing.test) = (r.clone(), r.clone(), r.clone());
    }
    for (rates, part) in [
        (&args.missing_train, &mut missing.train),
        (&args.missing_valid, &mut missing.valid),
        (&args.missing_test, &mut missing.test),
    ] {
        if let Some(r) = rates {
            *part = r.clone();
        }
    }
    if let Some(s) = args.missing_seed {
        missing.seed = Some(s);
    }
}

/// The saved configuration and checkpoint of an interrupted run.
fn resumed(args: &TrainArgs, dir: &Path) -> Result<(RunConfig, Vec<u8>)> {
    if run_dir::read(dir, TEST).is_ok() && args.epochs.is_none() {
        bail!(
            "{} is a finished run (it has {TEST}); give --epochs to train it longer",
            dir.display()
        );
    }
    let mut config: RunConfig = serde_json::from_slice(&run_dir::read(dir, CONFIG)?)
        .with_context(|| format!("parsing {}", dir.join(CONFIG).display()))?;
    if let Some(e) = args.epochs {
        config.train.epochs = e;
    }
    if let Some(lr) = args.lr {
        config.train.optimizer.lr = lr;
    }
    let checkpoint = run_dir::read(dir, CHECKPOINT).with_context(|| {
        format!(
            "{} has no checkpoint: the run ended before its first epoch did; start it again",
            dir.display()
        )
    })?;
    Ok((config, checkpoint))
}

/// The metrics lines of the epochs in `history`, keeping the seconds a previous
/// process measured for them (a resumed run's file may hold an epoch more than its
/// checkpoint when the process died between the two writes).
fn metrics_lines(history: &[mla::EpochMetrics], previous: &str) -> Result<String> {
    let old: Vec<serde_json::Value> = previous
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let mut out = String::new();
    for (i, m) in history.iter().enumerate() {
        let mut line = serde_json::to_value(m)?;
        if let Some(s) = old.get(i).and_then(|o| o.get("seconds")) {
            line["seconds"] = s.clone();
        }
        out += &format!("{line}\n");
    }
    Ok(out)
}

/// Masks `splits` as the run's `missing` section asks, and says what that did (`None`
/// when nothing is masked).
fn mask(
    config: &RunConfig,
    splits: &mut mla::data::Splits,
) -> Result<Option<Vec<mla::data::MissingReport>>> {
    if config.missing.is_none() {
        return Ok(None);
    }
    let reports = config.missing.apply(splits, config.train.seed)?;
    for r in &reports {
        let cells: Vec<String> = r
            .modalities
            .iter()
            .zip(r.missing_fraction())
            .zip(&r.rates)
            .map(|((name, f), rate)| format!("{name} {:.1}% (rate {rate})", 100.0 * f))
            .collect();
        eprintln!(
            "mla-native: missing in {}: {}; {} samples kept a modality they would have lost",
            r.split,
            cells.join(", "),
            r.kept
        );
    }
    Ok(Some(reports))
}

pub fn train(args: TrainArgs) -> Result<()> {
    let backend: Backend = args.device.parse()?;
    let (config, checkpoint, dir) = match &args.resume {
        Some(dir) => {
            let (config, checkpoint) = resumed(&args, dir)?;
            if let Some(note) = mla::train::checkpoint_checksum_note(&checkpoint) {
                eprintln!("note: {}: {note}", dir.join(CHECKPOINT).display());
            }
            (config, Some(checkpoint), dir.clone())
        }
        None => {
            let dir = args.out.clone().unwrap_or_else(run_dir::default_dir);
            (run_config(&args)?, None, dir)
        }
    };
    let mut config = config;
    config.validate()?;
    let device = backend.device()?;
    let encoder_dir = crate::encoders::dir(args.encoders.as_deref());
    let pretrained = Pretrained {
        dir: &encoder_dir,
        device: &device,
        quiet: args.quiet,
    };
    let mut data = load(&config.data, &mut config.model, &pretrained)?;
    let masked = mask(&config, &mut data.splits)?;
    let (splits, preprocess) = (data.splits, data.preprocess);
    let mut trainer = match &checkpoint {
        Some(bytes) => Trainer::resume(&config.model, &config.train, splits, &device, bytes)
            .with_context(|| format!("resuming from {}", dir.join(CHECKPOINT).display()))?,
        None => pollster::block_on(Trainer::with_encoders(
            &config.model,
            &config.train,
            splits,
            &data.files,
            &device,
        ))?,
    };

    write_setup(&dir, &config, &data.lines, &data.skipped)?;
    if checkpoint.is_some() {
        eprintln!(
            "mla-native: resuming {} after epoch {}",
            dir.display(),
            trainer.epochs_done()
        );
    }
    describe(&config, &trainer, preprocess.as_ref(), backend, &dir);
    if let Some(reports) = &masked {
        run_dir::write_atomic(
            &dir,
            MISSING,
            serde_json::to_string_pretty(reports)?.as_bytes(),
        )?;
    }

    let header = ModelHeader::new(trainer.spec().clone(), config.train.fusion, preprocess);
    let epochs = config.train.epochs;
    let metrics_log = train_epochs(&mut trainer, args.quiet, &header, &dir, epochs)?;
    finish(&mut trainer, &header, &dir, metrics_log, epochs)
}

/// Creates the run directory and writes what a run starts from: its configuration
/// (JSON and TOML), each manifest line's split, the samples left out (`--skip-bad`).
fn write_setup(
    dir: &Path,
    config: &RunConfig,
    lines: &Option<[Vec<usize>; 3]>,
    skipped: &[String],
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    run_dir::write_atomic(
        dir,
        CONFIG,
        serde_json::to_string_pretty(&config)?.as_bytes(),
    )?;
    run_dir::write_atomic(dir, CONFIG_TOML, toml::to_string(&config)?.as_bytes())?;
    if let Some(lines) = &lines {
        let mut csv = String::from("line,split\n");
        for (part, name) in lines.iter().zip(["train", "valid", "test"]) {
            for line in part {
                csv += &format!("{line},{name}\n");
            }
        }
        run_dir::write_atomic(dir, SPLIT, csv.as_bytes())?;
    }
    if !skipped.is_empty() {
        let list = skipped.join("\n") + "\n";
        run_dir::write_atomic(dir, SKIPPED, list.as_bytes())?;
        eprintln!(
            "mla-native: skipped {} bad samples (--skip-bad), listed in {}",
            skipped.len(),
            dir.join(SKIPPED).display()
        );
    }
    Ok(())
}

/// Says what is trained on what, and how many samples each class has in each split.
fn describe(
    config: &RunConfig,
    trainer: &Trainer,
    preprocess: Option<&mla::data::Preprocess>,
    backend: Backend,
    dir: &Path,
) {
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
    if trainer.label_smoothing() > 0.0 {
        let why = if config.train.label_smoothing.is_none() {
            " (the scratch text encoder's default; --label-smoothing 0 turns it off)"
        } else {
            ""
        };
        eprintln!(
            "mla-native: label smoothing {}{why}",
            trainer.label_smoothing()
        );
    }
    // Samples per class and split, so a skewed or tiny class shows before training.
    let names: Vec<String> = match preprocess {
        Some(p) => p.classes.clone(),
        None => (0..s.train.num_classes).map(|c| c.to_string()).collect(),
    };
    let counts = [
        s.train.class_counts(),
        s.valid.class_counts(),
        s.test.class_counts(),
    ];
    for (c, name) in names.iter().enumerate() {
        eprintln!(
            "  class {name:<16} train {:>5}  valid {:>5}  test {:>5}",
            counts[0][c], counts[1][c], counts[2][c]
        );
    }
}

/// Trains the remaining epochs with a progress bar, writing the metrics, the
/// checkpoint and the plot after each; returns the metrics log.
fn train_epochs(
    trainer: &mut Trainer,
    quiet: bool,
    header: &ModelHeader,
    dir: &Path,
    epochs: usize,
) -> Result<String> {
    let previous = run_dir::read(dir, METRICS).unwrap_or_default();
    let mut metrics_log = metrics_lines(trainer.history(), &String::from_utf8_lossy(&previous))?;
    while !trainer.is_finished() {
        let started = Instant::now();
        let bar = ProgressBar::new(trainer.steps_per_epoch() as u64);
        if quiet {
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
        let m = match pollster::block_on(trainer.end_epoch()) {
            Ok(m) => m,
            Err(e @ mla::MlaError::Diverged { .. }) => {
                return Err(diverged(e, trainer, header, dir));
            }
            Err(e) => return Err(e.into()),
        };
        let seconds = started.elapsed().as_secs_f64();
        println!("{}", epoch_line(&m, epochs, seconds));
        let mut line = serde_json::to_value(&m)?;
        line["seconds"] = json!(seconds);
        metrics_log += &format!("{line}\n");
        // Rewritten whole each epoch so the files on disk are always complete; the
        // checkpoint last, so a run resumed from it never lacks an epoch's metrics.
        run_dir::write_atomic(dir, METRICS, metrics_log.as_bytes())?;
        let checkpoint = pollster::block_on(trainer.checkpoint())?;
        run_dir::write_atomic(dir, CHECKPOINT, &checkpoint)?;
        run_dir::write_atomic(dir, PLOT, crate::plot::svg(trainer.history()).as_bytes())?;
    }

    Ok(metrics_log)
}

/// Writes the best epoch's model, tests it and writes the test result.
fn finish(
    trainer: &mut Trainer,
    header: &ModelHeader,
    dir: &Path,
    mut metrics_log: String,
    epochs: usize,
) -> Result<()> {
    let (model, best_epoch) = trainer.best_model();
    run_dir::write_atomic(dir, MODEL, &pollster::block_on(save_model(header, &model))?)?;
    let test = pollster::block_on(trainer.test())?;
    metrics_log += &format!("{}\n", json!({ "test": test, "best_epoch": best_epoch }));
    run_dir::write_atomic(dir, METRICS, metrics_log.as_bytes())?;
    run_dir::write_atomic(dir, TEST, serde_json::to_string_pretty(&test)?.as_bytes())?;
    // A run resumed after a divergence has now finished.
    let _ = std::fs::remove_file(dir.join(DIVERGED));
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

/// What to do after a run diverged: the best model so far is saved (its epochs were
/// finite), the last checkpoint is left as it was, and the error says how to go on.
fn diverged(
    error: mla::MlaError,
    trainer: &Trainer,
    header: &ModelHeader,
    dir: &Path,
) -> anyhow::Error {
    let (model, best_epoch) = trainer.best_model();
    let mut next = Vec::new();
    let epoch = match &error {
        mla::MlaError::Diverged { epoch, .. } => *epoch,
        _ => 0,
    };
    let record = json!({ "epoch": epoch, "error": error.to_string() });
    if let Err(e) = run_dir::write_atomic(dir, DIVERGED, record.to_string().as_bytes()) {
        next.push(format!("{DIVERGED} could not be written: {e:#}"));
    }
    if best_epoch > 0 {
        match pollster::block_on(save_model(header, &model))
            .map_err(anyhow::Error::from)
            .and_then(|bytes| run_dir::write_atomic(dir, MODEL, &bytes))
        {
            Ok(()) => next.push(format!(
                "the best model so far (epoch {best_epoch}) is in {}",
                dir.join(MODEL).display()
            )),
            Err(e) => next.push(format!("the best model could not be saved: {e:#}")),
        }
    }
    let lower = mla::error::short_number(&(trainer.config().optimizer.lr / 10.0));
    if trainer.epochs_done() > 0 {
        next.push(format!(
            "resume from its last finished epoch ({}) with a lower rate: mla-native train \
             --resume {} --lr {lower}",
            trainer.epochs_done(),
            dir.display()
        ));
    } else {
        next.push(format!(
            "no epoch finished before it: start again with a lower rate (--lr {lower})"
        ));
    }
    anyhow::anyhow!("{error}\n  {}", next.join("\n  "))
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
    let bytes = run_dir::read(dir, MODEL)?;
    if let Some(note) = mla::io::checksum_note(&bytes) {
        eprintln!("note: {}: {note}", dir.join(MODEL).display());
    }
    let (header, model) = pollster::block_on(load_model(&bytes, &device))
        .with_context(|| format!("loading {}", dir.join(MODEL).display()))?;
    let mut config = config;
    let encoder_dir = crate::encoders::dir(args.encoders.as_deref());
    let pretrained = Pretrained {
        dir: &encoder_dir,
        device: &device,
        quiet: false,
    };
    let mut splits = load(&config.data, &mut config.model, &pretrained)?.splits;
    mask(&config, &mut splits)?;
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
    let gap = pollster::block_on(mla::modality_gap::modality_gap(
        &model,
        &splits.test,
        config.train.batch_size,
        &device,
    ))?;
    for p in &gap.pairs {
        println!("modality gap {}–{}: {:.4}", p.a, p.b, p.gap);
    }
    run_dir::write_atomic(dir, GAP, serde_json::to_string_pretty(&gap)?.as_bytes())?;
    let title = format!(
        "{} — test features, first two principal axes",
        config.train.method.title()
    );
    run_dir::write_atomic(
        dir,
        EMBEDDINGS,
        crate::plot::embeddings_svg(&title, &gap).as_bytes(),
    )?;
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

pub fn predict(args: PredictArgs) -> Result<()> {
    let backend: Backend = args.device.parse()?;
    let device = backend.device()?;
    let dir = &args.model;
    // A run directory, or a model file on its own.
    let file = if dir.is_file() {
        dir.clone()
    } else {
        dir.join(MODEL)
    };
    let bytes = crate::files::read(&file).with_context(|| format!("reading {}", file.display()))?;
    if let Some(note) = mla::io::checksum_note(&bytes) {
        eprintln!("note: {}: {note}", file.display());
    }
    let (header, model) = pollster::block_on(load_model(&bytes, &device))
        .with_context(|| format!("loading {}", file.display()))?;
    if header.preprocess.is_none() {
        bail!(
            "{} was trained on the built-in data, not on a manifest: it has no preprocessing for raw inputs",
            file.display()
        );
    }
    let dir = crate::encoders::dir(args.encoders.as_deref());
    let mut files = EncoderFiles::new(dir.display().to_string());
    let model = pollster::block_on(model.with_frozen_networks(
        &header.spec,
        &mut files,
        &device,
        |name| {
            let path = dir.join(&name);
            async move {
                crate::files::read(&path).map_err(|e| {
                    format!("{e}; make it with `mla-native encoders import` (see the README)")
                })
            }
        },
    ))?;
    let manifest = read_manifest(&args.input)?;
    let mut read = file_reader(&args.input);
    let csv = match args.format {
        Some(f) => f == PredictFormat::Csv,
        None => args
            .output
            .as_ref()
            .is_some_and(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"))),
    };
    let columns = manifest_columns(&header, &manifest)?;
    for (name, c) in header.spec.modalities.iter().zip(&columns) {
        if c.is_none() {
            eprintln!(
                "note: {} has no `{name}` column; every sample is predicted without it",
                manifest.name
            );
        }
    }
    let mut out = String::new();
    for row in &manifest.rows {
        let inputs = row_inputs(&manifest, row, &columns, &mut read)?;
        let p = pollster::block_on(predict_sample(&model, &header, &inputs, &device))
            .map_err(|e| anyhow::anyhow!("{} line {}: {e}", manifest.name, row.line))?;
        if csv {
            if out.is_empty() {
                out = csv_header(&manifest, &p);
            }
            out += &csv_row(row, &p);
        } else {
            let mut line = serde_json::Map::new();
            line.insert("line".into(), json!(row.line));
            for (c, cell) in manifest.columns.iter().zip(&row.cells) {
                line.insert(c.header(), json!(cell));
            }
            line.insert("label".into(), json!(row.label));
            line.insert("predicted".into(), json!(p.class_name()));
            line.insert("prediction".into(), json!(p));
            out += &format!("{}\n", serde_json::Value::Object(line));
        }
    }
    match &args.output {
        Some(path) => {
            let parent = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let name = path
                .file_name()
                .context("--output needs a file name")?
                .to_string_lossy();
            run_dir::write_atomic(parent, &name, out.as_bytes())?;
        }
        None => print!("{out}"),
    }
    Ok(())
}

/// Columns of `predict`'s CSV: the sample, the fused class and probabilities, then
/// per modality whether it was present, its entropy, its weight and its probabilities.
fn csv_header(manifest: &Manifest, p: &SamplePrediction) -> String {
    let mut cols = vec!["line".to_string()];
    cols.extend(manifest.columns.iter().map(|c| c.header()));
    cols.extend(["label".into(), "predicted".into()]);
    cols.extend(p.classes.iter().map(|c| format!("p_{c}")));
    for m in &p.modalities {
        let n = &m.name;
        cols.extend([
            format!("{n}_present"),
            format!("{n}_entropy"),
            format!("{n}_lambda"),
        ]);
        cols.extend(p.classes.iter().map(|c| format!("{n}_p_{c}")));
    }
    let cols: Vec<String> = cols.iter().map(|c| csv_cell(c)).collect();
    cols.join(",") + "\n"
}

fn csv_row(row: &ManifestRow, p: &SamplePrediction) -> String {
    let mut cells = vec![row.line.to_string()];
    cells.extend(
        row.cells
            .iter()
            .map(|c| csv_cell(c.as_deref().unwrap_or(""))),
    );
    cells.extend([
        csv_cell(row.label.as_deref().unwrap_or("")),
        csv_cell(p.class_name()),
    ]);
    cells.extend(p.probabilities.iter().map(f32::to_string));
    for m in &p.modalities {
        cells.extend([
            m.present.to_string(),
            m.entropy.to_string(),
            m.weight.to_string(),
        ]);
        if m.present {
            cells.extend(m.probabilities.iter().map(f32::to_string));
        } else {
            cells.extend(p.classes.iter().map(|_| String::new()));
        }
    }
    cells.join(",") + "\n"
}

pub fn sample(args: SampleArgs) -> Result<()> {
    if let Some(package) = &args.emoji {
        return emoji_sample(package, &args.out);
    }
    if args.samples < 12 {
        bail!("--samples must be at least 12 (two per class)");
    }
    let (manifest, files) = mla::data::sources::shapes::shapes(args.samples, args.side, args.seed)?;
    let out = &args.out;
    std::fs::create_dir_all(out.join("images"))
        .with_context(|| format!("creating {}", out.join("images").display()))?;
    for (path, bytes) in &files {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        run_dir::write_atomic(&out.join(dir), name, bytes)?;
    }
    run_dir::write_atomic(out, &manifest.name, manifest.to_csv().as_bytes())?;
    println!(
        "wrote {} samples ({} images) to {}",
        manifest.rows.len(),
        files.len(),
        out.join(&manifest.name).display()
    );
    Ok(())
}

/// Writes the emoji set as a manifest (`emoji.csv`: image, name, label) and its
/// pictures (`images/`), for the page or any tool that takes manifests.
fn emoji_sample(package: &Path, out: &Path) -> Result<()> {
    let json = package.join("emoji.json");
    let bytes = crate::files::read(&json).with_context(|| format!("reading {}", json.display()))?;
    let mut manifest = mla::data::emoji_manifest(&bytes, Default::default())?;
    let images = out.join("images");
    std::fs::create_dir_all(&images).with_context(|| format!("creating {}", images.display()))?;
    for row in &mut manifest.rows {
        let path = row.cells[0]
            .take()
            .expect("every emoji row has its picture");
        let name = path.rsplit('/').next().expect("a file name").to_string();
        let from = package.join(&path);
        let png =
            crate::files::read(&from).with_context(|| format!("reading {}", from.display()))?;
        run_dir::write_atomic(&images, &name, &png)?;
        row.cells[0] = Some(format!("images/{name}"));
    }
    manifest.name = "emoji.csv".into();
    run_dir::write_atomic(out, &manifest.name, manifest.to_csv().as_bytes())?;
    println!(
        "wrote {} emoji to {}",
        manifest.rows.len(),
        out.join(&manifest.name).display()
    );
    Ok(())
}

pub fn bench(args: BenchArgs, threads: Option<usize>) -> Result<()> {
    let variants = crate::bench::parse_methods(&args.methods)?;
    if args.seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    for (flag, rates) in [
        ("--missing-rates", &args.missing_rates),
        ("--isolation", &args.isolation),
    ] {
        if let Some(r) = rates.iter().flatten().find(|r| !(0.0..=1.0).contains(*r)) {
            bail!("{flag}: {r} is not a rate in [0, 1]");
        }
    }
    if let Some(lr) = args
        .lr_grid
        .iter()
        .flatten()
        .find(|lr| !(lr.is_finite() && **lr > 0.0))
    {
        bail!("--lr-grid: {lr} is not a learning rate (a number > 0)");
    }
    if args.lr_grid.is_some() && args.train.iter().any(|a| a == "--lr") {
        bail!("--lr-grid sets each run's --lr; leave --lr out of the train flags");
    }
    let layout = match (
        &args.missing_rates,
        &args.isolation,
        args.ablation,
        &args.lr_grid,
    ) {
        (None, None, _, None) => crate::bench::Layout::Table1,
        (None, None, false, Some(lrs)) => crate::bench::Layout::LrGrid(lrs.clone()),
        (Some(rates), None, false, None) => crate::bench::Layout::Missing(rates.clone()),
        (None, Some(ratios), false, None) => {
            // The modalities' names, for the masks and the table: from the data itself.
            let data = crate::spec::parse(&args.data, 0)?;
            let mut model = ModelConfig::default();
            let device = Backend::Cpu.device()?;
            let dir = crate::encoders::dir(None);
            let pretrained = Pretrained {
                dir: &dir,
                device: &device,
                quiet: true,
            };
            let splits = load(&data, &mut model, &pretrained)?.splits;
            crate::bench::Layout::Isolation {
                modalities: splits.train.names(),
                ratios: ratios.clone(),
            }
        }
        _ => bail!(
            "--ablation, --missing-rates, --isolation and --lr-grid make different tables: run them as separate grids"
        ),
    };
    let file = match layout {
        crate::bench::Layout::Table1 => "table.md",
        crate::bench::Layout::LrGrid(_) => "lr.md",
        crate::bench::Layout::Missing(_) => "missing.md",
        crate::bench::Layout::Isolation { .. } => "isolation.md",
    };
    let grid = crate::bench::Grid {
        data: args.data,
        variants,
        ablation: args.ablation,
        seeds: (0..args.seeds).collect(),
        layout,
        threads: threads.unwrap_or_else(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            (cores / args.jobs.max(1)).max(1)
        }),
        jobs: args.jobs,
        out: args.out,
        extra: args.train,
    };
    let table = crate::bench::run(&grid)?;
    println!("{table}");
    println!("wrote {}", grid.out.join(file).display());
    Ok(())
}
