//! Loading a run's data: the built-in generator, or a manifest and its files on disk.

use std::path::Path;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mla::burn::tensor::Device;
use mla::config::DataConfig;
use mla::data::sources::{Files, Loading};
use mla::data::{Manifest, ManifestConfig, Preprocess, Splits};
use mla::model::ModelConfig;
use mla::model::pretrained::{self, EncoderFiles, ExtractProgress};

use crate::encoders::DiskCache;
use crate::files::Disk;

/// Reads and parses a manifest file.
pub fn read_manifest(path: &Path) -> Result<Manifest> {
    let bytes = crate::files::read(path).with_context(|| format!("reading {}", path.display()))?;
    let name = path.display().to_string();
    Ok(Manifest::parse(&name, &bytes)?)
}

/// Reads a path named in a manifest, relative to the manifest's folder.
pub fn file_reader(manifest: &Path) -> impl FnMut(&str) -> Result<Vec<u8>, String> + use<> {
    dir_reader(manifest.parent().unwrap_or(Path::new("")))
}

/// Reads a path relative to `dir`, or says why it cannot (the core's file callback),
/// as the data sources read the disk ([`crate::files::Disk`]).
fn dir_reader(dir: &Path) -> impl FnMut(&str) -> Result<Vec<u8>, String> + use<> {
    let base = dir.to_path_buf();
    move |rel: &str| Disk.read(&base.join(rel).display().to_string())
}

/// A run's data: the splits, the preprocessing of raw data, what was wrong with each
/// sample left out (`--skip-bad`), and the pretrained encoders' files it used.
pub struct Loaded {
    pub splits: Splits,
    pub preprocess: Option<Preprocess>,
    pub skipped: Vec<String>,
    pub files: EncoderFiles,
    /// For manifests: the manifest line of each train, validation and test sample.
    pub lines: Option<[Vec<usize>; 3]>,
}

/// Where a run finds pretrained encoders and computes their features.
pub struct Pretrained<'a> {
    /// The encoder directory.
    pub dir: &'a Path,
    /// Where frozen encoders' features are computed.
    pub device: &'a Device,
    /// No progress bar.
    pub quiet: bool,
}

/// Loads and checks a run's data. For manifests (and emoji), resolves `model`'s
/// encoders per column, with the SHA-256 of each pretrained encoder's file pinned,
/// and replaces frozen pretrained encoders' inputs by their features.
pub fn load(data: &DataConfig, model: &mut ModelConfig, pretrained: &Pretrained) -> Result<Loaded> {
    match data.source().load(&Disk)? {
        Loading::Manifest {
            manifest,
            dir,
            options,
        } => load_manifest(
            &manifest,
            dir_reader(Path::new(&dir)),
            &options,
            model,
            pretrained,
        ),
        Loading::Built { splits, skipped } => Ok(Loaded {
            splits,
            preprocess: None,
            skipped,
            files: EncoderFiles::default(),
            lines: None,
        }),
    }
}

fn load_manifest(
    manifest: &Manifest,
    read: impl FnMut(&str) -> Result<Vec<u8>, String>,
    options: &ManifestConfig,
    model: &mut ModelConfig,
    pretrained: &Pretrained,
) -> Result<Loaded> {
    let kinds: Vec<_> = manifest.columns.iter().map(|c| c.kind).collect();
    let encoders = model.for_columns(&kinds)?;
    let nets = pretrained::networks(&encoders);
    let files = crate::encoders::load(pretrained.dir, &nets)?;
    let bar = ProgressBar::new(0);
    if pretrained.quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} features [{bar:30}] {pos}/{len} {per_sec} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let started = std::time::Instant::now();
    let mut report = |p: &ExtractProgress| {
        if bar.prefix() != p.modality {
            bar.reset();
            bar.set_prefix(p.modality.clone());
            bar.set_length(p.total as u64);
        }
        bar.set_position(p.done as u64);
    };
    // Images are decoded and turned into features a chunk at a time: memory holds the
    // features, not every decoded image.
    let (data, encoders) = pollster::block_on(pretrained::manifest_for_encoders(
        manifest,
        read,
        options,
        encoders,
        |_: &[_], _: &[_]| std::future::ready(Ok(())),
        pretrained::Extraction {
            files: &files,
            device: pretrained.device,
            cache: &mut DiskCache(pretrained.dir.join("features")),
            progress: &mut report,
        },
    ))?;
    bar.finish_and_clear();
    if !nets.is_empty() && !pretrained.quiet {
        eprintln!(
            "mla-native: pretrained encoders' features ready in {:.1} s ({})",
            started.elapsed().as_secs_f64(),
            nets.iter().map(|n| n.name()).collect::<Vec<_>>().join(", ")
        );
    }
    model.encoders = encoders;
    Ok(Loaded {
        splits: data.splits,
        preprocess: Some(data.preprocess),
        skipped: data.skipped,
        files,
        lines: Some(data.lines),
    })
}
