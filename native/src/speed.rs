//! `mla-native speed`: seconds per training step of one method on one model, on data of
//! the model's shapes. `bench/pytorch_reference.py` builds the same models and steps in
//! PyTorch, and `bench/speed.sh` runs both side by side.

use anyhow::{Result, bail};
use clap::ValueEnum;
use mla::config::{Method, TrainConfig};
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
    pub model: SpeedModel,
    pub method: String,
    pub device: String,
    pub threads: usize,
    pub batch: usize,
    pub steps: usize,
    pub seconds_per_step: f64,
}

/// Settings of one timing.
#[derive(clap::Args, Debug)]
pub struct SpeedArgs {
    /// Model.
    #[arg(long, value_enum, default_value = "av-cnn")]
    model: SpeedModel,
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
    /// Timed steps.
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Print the result as one JSON line.
    #[arg(long)]
    json: bool,
}

/// Times and prints (a line, or JSON with `--json`).
pub fn run(args: &SpeedArgs, threads: usize) -> Result<()> {
    let report = speed(args, threads)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{} {:?} on {} ({} threads, batch {}): {:.4} s per step ({} steps)",
            report.method,
            report.model,
            report.device,
            report.threads,
            report.batch,
            report.seconds_per_step,
            report.steps
        );
    }
    Ok(())
}

/// Trains `warmup` steps, then times `steps` more (waiting for the device at both ends).
/// The values do not matter for the speed: a fixed pattern, labels cycling over classes.
pub fn speed(args: &SpeedArgs, threads: usize) -> Result<SpeedReport> {
    if args.batch == 0 || args.steps == 0 {
        bail!("--batch and --steps must be at least 1");
    }
    let backend: Backend = args.device.parse()?;
    let device = backend.device()?;
    let (modalities, classes) = args.model.modalities();
    let n = args.batch * (args.warmup + args.steps);
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
    let config = TrainConfig {
        method: args.method,
        batch_size: args.batch,
        epochs: 1,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(&model, &config, splits, &device)?;
    for _ in 0..args.warmup {
        trainer.step()?;
    }
    pollster::block_on(trainer.sync())?;
    let start = std::time::Instant::now();
    for _ in 0..args.steps {
        trainer.step()?;
    }
    pollster::block_on(trainer.sync())?;
    Ok(SpeedReport {
        framework: "mla",
        model: args.model,
        method: args.method.name().into(),
        device: backend.to_string(),
        threads,
        batch: args.batch,
        steps: args.steps,
        seconds_per_step: start.elapsed().as_secs_f64() / args.steps as f64,
    })
}
