//! CREMA-D in the layout of the paper's released code: per-clip log-mel filterbanks as
//! `.npy`, per-clip folders of video frames, and split lists of `<clip>.flv <LABEL>`.
//!
//! ```text
//! ROOT/train.txt, ROOT/test.txt    lines `1001_DFA_ANG_XX.flv ANG`
//! ROOT/fbank/<clip>.npy             [frames, bins] (1024 x 128 in the paper)
//! ROOT/visual/<clip>/*.jpg          the clip's frames, in name order
//! ```

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::data::dataset::triage::triage;
use crate::data::dataset::values::Values;
#[cfg(not(target_arch = "wasm32"))]
use crate::data::dataset::values::ValuesWriter;
use crate::data::dataset::{Dataset, InputKind, ModalityData, Splits};
use crate::data::formats::image::{ImageNorm, preprocess as preprocess_image};
use crate::data::formats::npy::parse_npy;
use crate::data::sources::{DataSource, Files, Loading, SourceEntry, from_json, join};
use crate::data::transform::split::hold_out;
use crate::error::{MlaError, Result};
use crate::limits;

/// Where the parts are under the root, and what the model gets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CremaDConfig {
    /// Folder of `<clip>.npy` filterbanks.
    pub audio_dir: String,
    /// Folder of `<clip>/` frame folders.
    pub visual_dir: String,
    pub train_list: String,
    pub test_list: String,
    /// Filterbank frames per clip: shorter clips are padded with zeros, longer cut.
    pub audio_frames: usize,
    /// Video frames per clip, spread evenly over its frame folder (the paper: 3).
    pub frames: usize,
    /// Side of the square frames fed to the model (the paper: 224).
    pub image_size: usize,
    /// Share of each class of the training list held out for validation.
    pub valid_fraction: f64,
    /// Seed of the validation split.
    pub seed: u64,
    /// Leave out clips whose files are missing or unreadable instead of failing.
    pub skip_bad: bool,
    /// A folder for the decoded clips (native only): written clip by clip, then mapped
    /// from disk, so that a data set larger than memory loads and trains with bounded
    /// memory. `None`: in memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
}

impl Default for CremaDConfig {
    fn default() -> Self {
        Self {
            audio_dir: "fbank".into(),
            visual_dir: "visual".into(),
            train_list: "train.txt".into(),
            test_list: "test.txt".into(),
            audio_frames: 1024,
            frames: 3,
            image_size: 112,
            valid_fraction: 0.1,
            seed: 0,
            skip_bad: false,
            store: None,
        }
    }
}

impl CremaDConfig {
    /// Checks every field; errors name the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |f: &str, r: &str| Err(MlaError::config(format!("data.options.{f}"), r));
        if self.audio_frames == 0 || self.frames == 0 {
            return bad("audio_frames/frames", "must be at least 1");
        }
        for (field, value, max) in [
            ("audio_frames", self.audio_frames, limits::MAX_FRAMES),
            ("frames", self.frames, limits::MAX_CHANNELS / 3),
        ] {
            limits::within(field, value, max).or_else(|r| bad(field, &r))?;
        }
        if !(4..=512).contains(&self.image_size) {
            return bad("image_size", "must be in 4..=512");
        }
        if !(self.valid_fraction > 0.0 && self.valid_fraction < 0.8) {
            return bad("valid_fraction", "must be in (0, 0.8)");
        }
        Ok(())
    }
}

/// CREMA-D ready to train on.
#[derive(Clone, Debug)]
pub struct CremaD {
    /// Modalities `audio` (`[1, audio_frames, bins]`) and `visual` (`frames` RGB
    /// frames stacked on channels: `[3 * frames, size, size]`).
    pub splits: Splits,
    /// Class names (the training list's labels, sorted).
    pub classes: Vec<String>,
    /// What was wrong with each clip left out (`skip_bad`).
    pub skipped: Vec<String>,
}

/// One line of a split list.
struct Entry {
    clip: String,
    label: String,
    /// `list line N`, for messages.
    at: String,
}

fn parse_list(name: &str, text: &str) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = format!("{name} line {}", i + 1);
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts[..] {
            [] => {}
            [file, label] => entries.push(Entry {
                clip: file
                    .rsplit_once('.')
                    .map_or(file, |(stem, _)| stem)
                    .to_string(),
                label: label.to_string(),
                at,
            }),
            _ => {
                return Err(MlaError::Data(format!(
                    "{at}: expected `<clip>.flv <LABEL>`, found `{line}`"
                )));
            }
        }
    }
    if entries.is_empty() {
        return Err(MlaError::Data(format!("{name}: no clips listed")));
    }
    Ok(entries)
}

/// Indices of `count` frames spread evenly over `n` (repeating when `n < count`).
fn spread(n: usize, count: usize) -> Vec<usize> {
    (0..count).map(|k| (k * n + n / 2) / count).collect()
}

/// Reads and checks one clip: its label's index in `classes`, its filterbank (cut or
/// padded to `audio_frames`; every clip must have the `bins` of the first), and
/// `frames` of its video frames spread over the clip. Errors say what is wrong.
fn read_clip(
    e: &Entry,
    classes: &[String],
    config: &CremaDConfig,
    bins: &mut Option<usize>,
    read: &mut impl FnMut(&str) -> std::result::Result<Vec<u8>, String>,
    list: &mut impl FnMut(&str) -> std::result::Result<Vec<String>, String>,
) -> std::result::Result<(usize, Vec<f32>, Vec<f32>), String> {
    let size = config.image_size;
    let label = classes
        .binary_search(&e.label)
        .map_err(|_| format!("label `{}` is not in {}", e.label, config.train_list))?;
    let path = format!("{}/{}.npy", config.audio_dir, e.clip);
    let array = read(&path)
        .map_err(|why| format!("{path}: {why}"))
        .and_then(|b| parse_npy(&path, &b).map_err(|e| e.to_string()))?;
    let &[frames, b] = &array.shape[..] else {
        return Err(format!(
            "{path}: shape {:?}, expected [frames, bins]",
            array.shape
        ));
    };
    match *bins {
        Some(expected) if expected != b => {
            return Err(format!("{path}: {b} bins, the other clips have {expected}"));
        }
        _ => *bins = Some(b),
    }
    let mut audio = array.values;
    audio.resize(config.audio_frames.max(frames) * b, 0.0);
    audio.truncate(config.audio_frames * b);

    let dir = format!("{}/{}", config.visual_dir, e.clip);
    let mut names: Vec<String> = list(&dir)
        .map_err(|why| format!("{dir}: {why}"))?
        .into_iter()
        .filter(|n| {
            let n = n.to_ascii_lowercase();
            [".jpg", ".jpeg", ".png", ".webp"]
                .iter()
                .any(|x| n.ends_with(x))
        })
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(format!("{dir}: no frames (.jpg, .png or .webp)"));
    }
    let mut visual = Vec::with_capacity(config.frames * 3 * size * size);
    for k in spread(names.len(), config.frames) {
        let path = format!("{dir}/{}", names[k]);
        let bytes = read(&path).map_err(|why| format!("{path}: {why}"))?;
        let pixels = preprocess_image(&path, &bytes, size, ImageNorm::Symmetric)
            .map_err(|e| e.to_string())?;
        visual.extend(pixels);
    }
    Ok((label, audio, visual))
}

/// The data set of the clips read (`values`: audio, visual) split into train,
/// validation and test, in memory or (with `store`) in files.
fn assemble(
    config: &CremaDConfig,
    bins: usize,
    [audio, visual]: [Values; 2],
    labels: Vec<usize>,
    classes: usize,
    [train, valid, test]: [Vec<usize>; 3],
) -> Result<Splits> {
    let n = labels.len();
    let all = Dataset::new(
        vec![
            ModalityData {
                name: "audio".into(),
                kind: InputKind::Image {
                    channels: 1,
                    height: config.audio_frames,
                    width: bins,
                },
                values: audio,
                present: vec![true; n],
            },
            ModalityData {
                name: "visual".into(),
                kind: InputKind::Image {
                    channels: 3 * config.frames,
                    height: config.image_size,
                    width: config.image_size,
                },
                values: visual,
                present: vec![true; n],
            },
        ],
        labels,
        classes,
    )?;
    Ok(match &config.store {
        #[cfg(not(target_arch = "wasm32"))]
        Some(dir) => {
            let splits = all.split_to_files(&train, &valid, &test, std::path::Path::new(dir))?;
            drop(all);
            Sink::remove_all(dir);
            splits
        }
        _ => all.split(&train, &valid, &test)?,
    })
}

/// Builds CREMA-D. `read(path)` returns a file's bytes and `list(dir)` the file names
/// in a folder, both relative to the data set's root, or why they cannot.
pub fn crema_d(
    mut read: impl FnMut(&str) -> std::result::Result<Vec<u8>, String>,
    mut list: impl FnMut(&str) -> std::result::Result<Vec<String>, String>,
    config: &CremaDConfig,
) -> Result<CremaD> {
    config.validate()?;
    let text = |read: &mut dyn FnMut(&str) -> std::result::Result<Vec<u8>, String>, p: &str| {
        read(p)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|why| MlaError::Data(format!("{p}: {why}")))
    };
    let train_list = parse_list(&config.train_list, &text(&mut read, &config.train_list)?)?;
    let test_list = parse_list(&config.test_list, &text(&mut read, &config.test_list)?)?;
    let classes: Vec<String> = train_list
        .iter()
        .map(|e| e.label.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if classes.len() < 2 {
        return Err(MlaError::Data(format!(
            "{}: every clip has the label `{}`; training needs at least 2 classes",
            config.train_list, classes[0]
        )));
    }

    // Every clip read and checked first, so all problems are reported at once.
    let mut bins = None;
    let mut problems = Vec::new();
    // (is test, label) of each clip read; its values go to `sink`.
    let mut clips = Vec::new();
    let mut sink = Sink::new(config.store.as_deref())?;
    for (is_test, e) in train_list
        .iter()
        .map(|e| (false, e))
        .chain(test_list.iter().map(|e| (true, e)))
    {
        let checked = read_clip(e, &classes, config, &mut bins, &mut read, &mut list);
        match checked {
            Ok((label, audio, visual)) => {
                sink.push(&audio, &visual)?;
                clips.push((is_test, label));
            }
            Err(why) => problems.push(format!("{}: {}", e.at, why.trim_start_matches("data: "))),
        }
    }
    let skipped = triage("CREMA-D", problems, config.skip_bad)?;
    let bins = bins.ok_or_else(|| MlaError::Data("no clip could be read".into()))?;

    let labels: Vec<usize> = clips.iter().map(|c| c.1).collect();
    let train_all: Vec<usize> = (0..clips.len()).filter(|&i| !clips[i].0).collect();
    let test: Vec<usize> = (0..clips.len()).filter(|&i| clips[i].0).collect();
    if test.is_empty() {
        return Err(MlaError::Data(format!(
            "{}: no clip is left",
            config.test_list
        )));
    }
    let (train, valid) = hold_out(
        &train_all,
        &labels,
        classes.len(),
        config.valid_fraction,
        config.seed,
    )?;
    let (audio, visual) = sink.finish()?;
    let splits = assemble(
        config,
        bins,
        [audio, visual],
        labels,
        classes.len(),
        [train, valid, test],
    )?;
    Ok(CremaD {
        splits,
        classes,
        skipped,
    })
}

/// Where the decoded clips go, in reading order: memory, or two files (`store`).
enum Sink {
    Memory(Vec<f32>, Vec<f32>),
    #[cfg(not(target_arch = "wasm32"))]
    Files(ValuesWriter, ValuesWriter),
}

impl Sink {
    #[cfg(not(target_arch = "wasm32"))]
    const FILES: [&str; 2] = ["all-audio.f32", "all-visual.f32"];

    fn new(store: Option<&str>) -> Result<Self> {
        match store {
            None => Ok(Sink::Memory(Vec::new(), Vec::new())),
            #[cfg(not(target_arch = "wasm32"))]
            Some(dir) => {
                let path = |name: &str| std::path::Path::new(dir).join(name);
                let io = |e: std::io::Error| MlaError::Data(format!("sample store {dir}: {e}"));
                std::fs::create_dir_all(dir).map_err(io)?;
                Ok(Sink::Files(
                    ValuesWriter::create(&path(Self::FILES[0])).map_err(io)?,
                    ValuesWriter::create(&path(Self::FILES[1])).map_err(io)?,
                ))
            }
            #[cfg(target_arch = "wasm32")]
            Some(_) => Err(MlaError::config(
                "data.options.store",
                "a sample store on disk needs the native build",
            )),
        }
    }

    fn push(&mut self, audio: &[f32], visual: &[f32]) -> Result<()> {
        match self {
            Sink::Memory(a, v) => {
                a.extend_from_slice(audio);
                v.extend_from_slice(visual);
                Ok(())
            }
            #[cfg(not(target_arch = "wasm32"))]
            Sink::Files(a, v) => a
                .push(audio)
                .and_then(|()| v.push(visual))
                .map_err(|e| MlaError::Data(format!("writing the sample store: {e}"))),
        }
    }

    fn finish(self) -> Result<(Values, Values)> {
        match self {
            Sink::Memory(a, v) => Ok((a.into(), v.into())),
            #[cfg(not(target_arch = "wasm32"))]
            Sink::Files(a, v) => a
                .finish()
                .and_then(|a| Ok((a, v.finish()?)))
                .map_err(|e| MlaError::Data(format!("writing the sample store: {e}"))),
        }
    }

    /// Removes the reading-order files once the splits have their own.
    #[cfg(not(target_arch = "wasm32"))]
    fn remove_all(dir: &str) {
        for name in Self::FILES {
            let _ = std::fs::remove_file(std::path::Path::new(dir).join(name));
        }
    }
}

/// The root folder of CREMA-D prepared as the paper's released code expects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CremaDSource {
    pub dir: String,
    #[serde(default)]
    pub options: CremaDConfig,
}

/// `source = "crema_d"`,
/// `--data crema-d:DIR[,frames=N][,image-size=N][,audio-frames=N][,store=DIR]`.
pub const ENTRY: SourceEntry = SourceEntry {
    name: "crema_d",
    spec: "crema-d",
    from_json: from_json::<CremaDSource>,
    from_spec: |spec| {
        let mut dir = None;
        let mut options = CremaDConfig {
            seed: spec.seed,
            ..Default::default()
        };
        for (k, v) in &spec.options {
            match k.as_str() {
                "dir" => dir = Some(spec.path(v)),
                "frames" => options.frames = spec.number(k, v)?,
                "image-size" => options.image_size = spec.number(k, v)?,
                "audio-frames" => options.audio_frames = spec.number(k, v)?,
                // Made by the loader, so it need not exist yet.
                "store" => options.store = Some((spec.resolve)(v, true)),
                _ => return Err(spec.unknown(k, "dir, frames, image-size, audio-frames, store")),
            }
        }
        let dir =
            dir.ok_or_else(|| spec.missing("crema-d:DIR needs the data set's root folder"))?;
        Ok(Box::new(CremaDSource { dir, options }))
    },
};

impl DataSource for CremaDSource {
    fn load(&self, files: &dyn Files) -> Result<Loading> {
        let read = |rel: &str| files.read(&join(&self.dir, rel));
        let list = |rel: &str| files.list(&join(&self.dir, rel));
        let data = crema_d(read, list, &self.options)?;
        Ok(Loading::Built {
            splits: data.splits,
            skipped: data.skipped,
        })
    }

    crate::source_boilerplate!(options);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_spread_evenly() {
        assert_eq!(spread(9, 3), vec![1, 4, 7]);
        assert_eq!(spread(1, 3), vec![0, 0, 0]);
        assert_eq!(spread(2, 3), vec![0, 1, 1]);
    }

    #[test]
    fn list_lines_name_their_line() {
        let e = parse_list("train.txt", "a.flv ANG\nb.flv\n")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("train.txt line 2"), "{e}");
        let ok = parse_list("t", "1001_DFA_ANG_XX.flv ANG\n\n").unwrap();
        assert_eq!(
            (ok[0].clip.as_str(), ok[0].label.as_str()),
            ("1001_DFA_ANG_XX", "ANG")
        );
    }
}
