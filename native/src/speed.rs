//! `mla-native speed`: seconds per training step of one method on one model, on data of
//! the model's shapes (or per epoch on a real data set), optionally against a second
//! method timed round for round in the same process. `bench/pytorch_reference.py`
//! builds the same models and steps in PyTorch, and `bench/speed.sh` runs both side by
//! side.

use anyhow::{Result, bail};
use clap::ValueEnum;
use mla::burn::tensor::Device;
use mla::config::{Method, RunConfig, TrainConfig};
use mla::data::{Dataset, InputKind, ModalityData};
use mla::model::{CnnEncoderConfig, EncoderConfig, MlpEncoderConfig, ModelConfig, Resnet18Config};
use mla::{Backend, Trainer};
use serde::Serialize;

/// The models of the speed comparison (the same names in `bench/pytorch_reference.py`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpeedModel {
    /// AV-digits: CNNs on 1x100x64 filterbanks and 1x28x28 images, 10 classes.
    AvCnn,
    /// mfeat: 3-layer MLPs on the six views (76, 216, 64, 240, 47, 6 features), 10 classes.
    MfeatMlp,
    /// CREMA-D shapes: ResNet-18 of width 32 on 1x100x64 filterbanks and on 3 stacked
    /// RGB 112x112 frames, 6 classes.
    Resnet18W32,
    /// The same with width 64 (the standard ResNet-18).
    Resnet18W64,
}

impl SpeedModel {
    /// Each modality's name, input shape and encoder, and the number of classes.
    fn modalities(self) -> (Vec<(&'static str, InputKind, EncoderConfig)>, usize) {
        let image = |channels, height, width| InputKind::Image {
            channels,
            height,
            width,
        };
        match self {
            SpeedModel::AvCnn => {
                let cnn = EncoderConfig::Cnn(CnnEncoderConfig::default());
                (
                    vec![
                        ("audio", image(1, 100, 64), cnn.clone()),
                        ("image", image(1, 28, 28), cnn),
                    ],
                    10,
                )
            }
            SpeedModel::MfeatMlp => {
                let views = [("fou", 76), ("fac", 216), ("kar", 64), ("pix", 240)];
                let more = [("zer", 47), ("mor", 6)];
                let mlp = EncoderConfig::Mlp(MlpEncoderConfig::default());
                let modalities = views
                    .into_iter()
                    .chain(more)
                    .map(|(name, dim)| (name, InputKind::Features { dim }, mlp.clone()))
                    .collect();
                (modalities, 10)
            }
            SpeedModel::Resnet18W32 | SpeedModel::Resnet18W64 => {
                let width = if self == SpeedModel::Resnet18W32 {
                    32
                } else {
                    64
                };
                let resnet = |frames| EncoderConfig::Resnet18(Resnet18Config { width, frames });
                (
                    vec![
                        ("audio", image(1, 100, 64), resnet(1)),
                        ("visual", image(9, 112, 112), resnet(3)),
                    ],
                    6,
                )
            }
        }
    }
}

/// What one timing measured (one JSON line).
#[derive(Debug, Serialize)]
pub struct SpeedReport {
    pub framework: &'static str,
    /// The model's name, or with `--data` the data source (its default model).
    pub model: String,
    pub method: String,
    pub device: String,
    pub threads: usize,
    pub batch: usize,
    /// What a round times: `step` (`steps` training steps) or `epoch` (one epoch's
    /// steps and its validation pass).
    pub per: &'static str,
    /// Training steps per round.
    pub steps: usize,
    pub rounds: usize,
    /// The median round's seconds over its steps.
    pub seconds_per_step: f64,
    /// The fastest round's.
    pub min_seconds_per_step: f64,
    /// With `--data`: the median epoch's seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_per_epoch: Option<f64>,
    /// With `--against`: the other method's times, and the median over the rounds of
    /// this method's time over the other's in the same round.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub against: Option<Against>,
}

/// The other method of a paired timing.
#[derive(Debug, Serialize)]
pub struct Against {
    pub method: String,
    pub seconds_per_step: f64,
    pub min_seconds_per_step: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_per_epoch: Option<f64>,
    pub ratio: f64,
}

/// Settings of one timing.
#[derive(clap::Args, Debug)]
pub struct SpeedArgs {
    /// Model (on data of its shapes).
    #[arg(long, value_enum, default_value = "av-cnn")]
    model: SpeedModel,
    /// Time whole epochs on this data set instead (as `train --data` takes it), with
    /// its default model: a round is one epoch, its batches and its validation pass,
    /// after one untimed epoch.
    #[arg(long, conflicts_with = "model")]
    data: Option<String>,
    /// Method, as `train --method` takes it.
    #[arg(long, value_parser = crate::parse_method, default_value = "mla")]
    method: Method,
    /// Device: cpu, or wgpu / cuda when compiled in.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Batch size.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Untimed steps first (kernels, allocations).
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Timed steps per round (not with --data).
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Timed rounds; the report gives the median and the fastest.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// A second method timed in the same process, round for round with the first
    /// (which goes first alternates): a slow spell of the machine hits both alike,
    /// so their ratio is steadier than two separate runs'.
    #[arg(long, value_parser = crate::parse_method)]
    against: Option<Method>,
    /// MLA without head gradient modification (what HGM costs).
    #[arg(long)]
    no_hgm: bool,
    /// Print the result as one JSON line.
    #[arg(long)]
    json: bool,
}

/// Times and prints (a line, or JSON with `--json`).
pub fn run(args: &SpeedArgs, threads: usize) -> Result<()> {
    let report = speed(args, threads)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    let epoch = |s: Option<f64>| s.map_or(String::new(), |s| format!(", {s:.4} s per epoch"));
    println!(
        "{} {} on {} ({} threads, batch {}): {:.4} s per step{} (median of {} rounds of {}; fastest {:.4} s per step)",
        report.method,
        report.model,
        report.device,
        report.threads,
        report.batch,
        report.seconds_per_step,
        epoch(report.seconds_per_epoch),
        report.rounds,
        if report.per == "epoch" {
            "one epoch".to_string()
        } else {
            format!("{} steps", report.steps)
        },
        report.min_seconds_per_step,
    );
    if let Some(other) = &report.against {
        println!(
            "{}: {:.4} s per step{} (fastest {:.4}); {} / {}, round for round: {:.3} (median)",
            other.method,
            other.seconds_per_step,
            epoch(other.seconds_per_epoch),
            other.min_seconds_per_step,
            report.method,
            other.method,
            other.ratio
        );
    }
    Ok(())
}

/// Trains the warm-up, then times `rounds` rounds (waiting for the device at both ends
/// of each), alternating with `--against`'s trainer when given.
pub fn speed(args: &SpeedArgs, threads: usize) -> Result<SpeedReport> {
    if args.batch == 0 || args.steps == 0 || args.rounds == 0 {
        bail!("--batch, --steps and --rounds must be at least 1");
    }
    let backend: Backend = args.device.parse()?;
    let device = backend.device()?;
    let methods: Vec<Method> = std::iter::once(args.method).chain(args.against).collect();
    let mut trainers = match &args.data {
        None => methods
            .iter()
            .map(|&method| synthetic_trainer(args, method, &device))
            .collect::<Result<Vec<_>>>()?,
        Some(spec) => data_trainers(args, spec, &methods, &device)?,
    };
    let per_epoch = args.data.is_some();
    for trainer in &mut trainers {
        if per_epoch {
            round(trainer, None)?;
        } else {
            for _ in 0..args.warmup {
                trainer.step()?;
            }
            pollster::block_on(trainer.sync())?;
        }
    }
    let steps = (!per_epoch).then_some(args.steps);
    // times[k][r]: trainer k's (seconds, steps) in round r.
    let mut times = vec![Vec::with_capacity(args.rounds); trainers.len()];
    for r in 0..args.rounds {
        for i in 0..trainers.len() {
            let k = (i + r) % trainers.len();
            times[k].push(round(&mut trainers[k], steps)?);
        }
    }
    let per_step: Vec<Vec<f64>> = times
        .iter()
        .map(|t| t.iter().map(|&(s, n)| s / n as f64).collect())
        .collect();
    let fastest = |k: usize| per_step[k].iter().copied().fold(f64::INFINITY, f64::min);
    let per_epoch_median =
        |k: usize| per_epoch.then(|| median(&times[k].iter().map(|&(s, _)| s).collect::<Vec<_>>()));
    let against = args.against.map(|method| {
        let ratios: Vec<f64> = times[0]
            .iter()
            .zip(&times[1])
            .map(|(a, b)| a.0 / b.0)
            .collect();
        Against {
            method: method.name().into(),
            seconds_per_step: median(&per_step[1]),
            min_seconds_per_step: fastest(1),
            seconds_per_epoch: per_epoch_median(1),
            ratio: median(&ratios),
        }
    });
    let model = match &args.data {
        Some(spec) => spec.clone(),
        None => args
            .model
            .to_possible_value()
            .map_or_else(String::new, |v| v.get_name().to_string()),
    };
    Ok(SpeedReport {
        framework: "mla",
        model,
        method: args.method.name().into(),
        device: backend.to_string(),
        threads,
        batch: args.batch,
        per: if per_epoch { "epoch" } else { "step" },
        steps: times[0].first().map_or(0, |&(_, n)| n),
        rounds: args.rounds,
        seconds_per_step: median(&per_step[0]),
        min_seconds_per_step: fastest(0),
        seconds_per_epoch: per_epoch_median(0),
        against,
    })
}

/// `steps` steps, or (`None`) the rest of the epoch and its end (validation), timed:
/// the seconds and the steps taken.
fn round(trainer: &mut Trainer, steps: Option<usize>) -> Result<(f64, usize)> {
    let start = std::time::Instant::now();
    let taken = match steps {
        Some(n) => {
            for _ in 0..n {
                trainer.step()?;
            }
            pollster::block_on(trainer.sync())?;
            n
        }
        None => {
            let mut taken = 1;
            while !trainer.step()? {
                taken += 1;
            }
            pollster::block_on(trainer.end_epoch())?;
            taken
        }
    };
    Ok((start.elapsed().as_secs_f64(), taken))
}

/// The run configuration `speed` trains with: `method`, the batch size and HGM as asked.
fn train_config(args: &SpeedArgs, method: Method, epochs: usize) -> TrainConfig {
    let mut config = TrainConfig {
        method,
        batch_size: args.batch,
        epochs,
        ..TrainConfig::default()
    };
    config.hgm.enabled = !args.no_hgm;
    config
}

/// A trainer of `method` on data of the model's shapes, enough for every step.
fn synthetic_trainer(args: &SpeedArgs, method: Method, device: &Device) -> Result<Trainer> {
    let (modalities, classes) = args.model.modalities();
    let n = args.batch * (args.warmup + args.steps * args.rounds);
    let data = Dataset::new(
        modalities
            .iter()
            .map(|(name, kind, _)| ModalityData {
                name: (*name).into(),
                kind: kind.clone(),
                values: (0..n * kind.item_len())
                    .map(|k| ((k * 7919) % 255) as f32 / 255.0 - 0.5)
                    .collect::<Vec<f32>>()
                    .into(),
                present: vec![true; n],
            })
            .collect(),
        (0..n).map(|i| i % classes).collect(),
        classes,
    )?;
    let few: Vec<usize> = (0..classes).collect();
    let all: Vec<usize> = (0..n).collect();
    let splits = data.split(&all, &few, &few)?;
    let model = ModelConfig {
        encoders: modalities.into_iter().map(|(_, _, e)| e).collect(),
        ..ModelConfig::default()
    };
    Ok(Trainer::new(
        &model,
        &train_config(args, method, 1),
        splits,
        device,
    )?)
}

/// A trainer per method on the data set `spec` (loaded once), with its default model,
/// for the warm-up epoch and every round.
fn data_trainers(
    args: &SpeedArgs,
    spec: &str,
    methods: &[Method],
    device: &Device,
) -> Result<Vec<Trainer>> {
    let data = crate::spec::parse(spec, 0)?;
    let mut config = RunConfig {
        model: crate::spec::default_model(&data),
        data,
        ..RunConfig::default()
    };
    let encoders = crate::encoders::dir(None);
    let pretrained = crate::data::Pretrained {
        dir: &encoders,
        device,
        quiet: true,
    };
    let loaded = crate::data::load(&config.data, &mut config.model, &pretrained)?;
    methods
        .iter()
        .map(|&method| {
            let train = train_config(args, method, args.rounds + 1);
            Ok(pollster::block_on(Trainer::with_encoders(
                &config.model,
                &train,
                loaded.splits.clone(),
                &loaded.files,
                device,
            ))?)
        })
        .collect()
}

/// The median of `values` (not empty).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}
