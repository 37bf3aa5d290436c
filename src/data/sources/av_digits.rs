//! AV-digits (audio + image, like AV-MNIST): every Free Spoken Digit recording
//! (`{digit}_{speaker}_{take}.wav`) paired with an MNIST image of the same digit.
//!
//! Pairing is seeded; images for training and validation pairs come from the first
//! half of the MNIST file and images for test pairs from the second half, so no image
//! is seen in both. Audio becomes log-mel filterbanks (Kaldi-style), an image-like
//! `[1, frames, bins]` input; images are `[1, 28, 28]` in `[-1, 1]`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::data::dataset::triage::triage;
use crate::data::dataset::{Dataset, InputKind, ModalityData, Splits};
use crate::data::features::fbank::{FbankConfig, wav_fbank};
use crate::data::features::standardize::Standardizer;
use crate::data::formats::idx::parse_idx;
use crate::data::sources::{DataSource, Files, Loading, SourceEntry, from_json, join};
use crate::data::transform::split::hold_out;
use crate::error::{MlaError, Result};
use crate::rng::Rng;

/// Which recordings are for testing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AvSplit {
    /// FSDD's own split: takes 0-4 of every speaker and digit.
    Official,
    /// Every recording of one speaker (unseen voice at test time).
    Speaker(String),
}

impl fmt::Display for AvSplit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AvSplit::Official => f.write_str("official"),
            AvSplit::Speaker(s) => write!(f, "speaker:{s}"),
        }
    }
}

impl FromStr for AvSplit {
    type Err = MlaError;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().split_once(':') {
            None if s.trim() == "official" => Ok(AvSplit::Official),
            Some(("speaker", name)) if !name.trim().is_empty() => {
                Ok(AvSplit::Speaker(name.trim().to_string()))
            }
            _ => Err(MlaError::config(
                "data.split",
                format!("`{s}`: expected `official` or `speaker:<name>`"),
            )),
        }
    }
}

impl Serialize for AvSplit {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AvSplit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// How AV-digits is built.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AvDigitsConfig {
    pub split: AvSplit,
    /// Audio features. FSDD is 8 kHz: 64 filters (128 would leave many empty).
    pub fbank: FbankConfig,
    /// Share of each digit's training recordings held out for validation.
    pub valid_fraction: f64,
    /// Seed of the pairing and of the validation split.
    pub seed: u64,
    /// Leave out recordings that cannot be decoded (returned with [`av_digits`]'s
    /// splits) instead of failing.
    pub skip_bad: bool,
}

impl Default for AvDigitsConfig {
    fn default() -> Self {
        Self {
            split: AvSplit::Official,
            fbank: FbankConfig {
                mel_bins: 64,
                // 1 s at a 10 ms shift; FSDD clips are 0.2-2.3 s.
                frames: 100,
                ..FbankConfig::default()
            },
            valid_fraction: 0.1,
            seed: 0,
            skip_bad: false,
        }
    }
}

impl AvDigitsConfig {
    /// Checks what can be checked before the recordings are read; errors name the field.
    pub fn validate(&self) -> Result<()> {
        if !(self.valid_fraction > 0.0 && self.valid_fraction < 0.8) {
            return Err(MlaError::config(
                "data.valid_fraction",
                "must be in (0, 0.8)",
            ));
        }
        self.fbank.validate()
    }
}

/// One recording's name, parsed.
#[derive(Debug)]
struct Recording {
    digit: usize,
    speaker: String,
    take: usize,
}

fn parse_name(name: &str) -> Result<Recording> {
    let bad = || {
        MlaError::Data(format!(
            "{name}: expected a name `{{digit}}_{{speaker}}_{{take}}.wav`"
        ))
    };
    let stem = name.strip_suffix(".wav").ok_or_else(bad)?;
    let mut parts = stem.split('_');
    let (Some(d), Some(speaker), Some(t), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let digit: usize = d.parse().ok().filter(|d| *d < 10).ok_or_else(bad)?;
    let take: usize = t.parse().map_err(|_| bad())?;
    Ok(Recording {
        digit,
        speaker: speaker.to_string(),
        take,
    })
}

/// MNIST images of one digit from one half of the file, handed out in a seeded order
/// (reshuffled when used up).
struct Pool {
    indices: Vec<usize>,
    next: usize,
}

impl Pool {
    fn take(&mut self, rng: &mut Rng) -> usize {
        if self.next == self.indices.len() {
            rng.shuffle(&mut self.indices);
            self.next = 0;
        }
        self.next += 1;
        self.indices[self.next - 1]
    }
}

/// Builds AV-digits from the recordings (`(file name, bytes)`) and MNIST's image and
/// label IDX files (plain or gzipped). Also returns what was wrong with each recording
/// left out (`skip_bad`).
pub fn av_digits(
    recordings: &[(String, Vec<u8>)],
    mnist_images: &[u8],
    mnist_labels: &[u8],
    config: &AvDigitsConfig,
) -> Result<(Splits, Vec<String>)> {
    config.validate()?;
    if recordings.is_empty() {
        return Err(MlaError::Data("no recordings (`*.wav`)".into()));
    }
    // Every recording read once, here: name, audio, one sample rate, filterbank. All
    // bad ones are reported at once, or left out and returned.
    let mut problems = Vec::new();
    let mut rate: Option<u32> = None;
    let mut parsed = Vec::with_capacity(recordings.len());
    let mut audio = Vec::new();
    for (name, bytes) in recordings {
        let checked = (|| -> Result<(Recording, Vec<f32>)> {
            let recording = parse_name(name)?;
            let (this, features) = wav_fbank(name, bytes, &config.fbank)?;
            match rate {
                Some(first) if first != this => {
                    return Err(MlaError::Data(format!(
                        "{name}: {this} Hz, the other recordings are {first} Hz"
                    )));
                }
                _ => rate = Some(this),
            }
            Ok((recording, features))
        })();
        match checked {
            Ok((recording, features)) => {
                parsed.push(recording);
                audio.extend(features);
            }
            Err(e) => problems.push(e.to_string().trim_start_matches("data: ").to_string()),
        }
    }
    let skipped = triage("recordings", problems, config.skip_bad)?;
    if parsed.is_empty() {
        return Err(MlaError::Data("no recording could be read".into()));
    }
    let splits = pair(
        &parsed,
        audio,
        config.fbank.mel_bins,
        mnist_images,
        mnist_labels,
        config,
    )?;
    Ok((splits, skipped))
}

/// MNIST's images and labels, checked.
struct Mnist {
    images: Vec<u8>,
    labels: Vec<u8>,
    n: usize,
    side: usize,
}

impl Mnist {
    fn parse(mnist_images: &[u8], mnist_labels: &[u8]) -> Result<Self> {
        let images = parse_idx("MNIST images", mnist_images)?;
        let labels = parse_idx("MNIST labels", mnist_labels)?;
        let (n, side) = match images.dims.as_slice() {
            [n, h, w] if h == w => (*n, *h),
            d => {
                return Err(MlaError::Data(format!(
                    "MNIST images: dimensions {d:?}, expected [n, 28, 28]"
                )));
            }
        };
        if labels.dims != [n] || labels.values.iter().any(|&l| l > 9) {
            return Err(MlaError::Data(format!(
                "MNIST labels: {:?} do not match {n} images of digits 0-9",
                labels.dims
            )));
        }
        Ok(Self {
            images: images.values,
            labels: labels.values,
            n,
            side,
        })
    }

    /// An image of each recording's digit, `[-1, 1]`, drawn without replacement: from
    /// the first half of MNIST for training and validation recordings, from the second
    /// for test recordings, so no image is in two splits.
    fn draw(&self, parsed: &[Recording], is_test: &[bool], seed: u64) -> Result<Vec<f32>> {
        let (n, side, labels, images) = (self.n, self.side, &self.labels, &self.images);
        let mut rng = Rng::derive(seed, 31);
        let mut pools: Vec<[Pool; 2]> = (0..10)
            .map(|d| {
                [0..n / 2, n / 2..n].map(|range| {
                    let mut indices: Vec<usize> =
                        range.filter(|&i| labels[i] as usize == d).collect();
                    rng.shuffle(&mut indices);
                    Pool { indices, next: 0 }
                })
            })
            .collect();
        let plane = side * side;
        let mut pixels = Vec::with_capacity(parsed.len() * plane);
        for (r, &test) in parsed.iter().zip(is_test) {
            let pool = &mut pools[r.digit][usize::from(test)];
            if pool.indices.is_empty() {
                return Err(MlaError::Data(format!(
                    "MNIST has no image of digit {} in the {} half",
                    r.digit,
                    if test { "second" } else { "first" }
                )));
            }
            let i = pool.take(&mut rng);
            pixels.extend(
                images[i * plane..(i + 1) * plane]
                    .iter()
                    .map(|&p| p as f32 / 127.5 - 1.0),
            );
        }
        Ok(pixels)
    }
}

/// Which recordings are test recordings under `split`.
fn test_recordings(parsed: &[Recording], split: &AvSplit) -> Result<Vec<bool>> {
    Ok(match split {
        AvSplit::Official => parsed.iter().map(|r| r.take < 5).collect(),
        AvSplit::Speaker(s) => {
            if !parsed.iter().any(|r| &r.speaker == s) {
                let mut known: Vec<&str> = parsed.iter().map(|r| r.speaker.as_str()).collect();
                known.sort_unstable();
                known.dedup();
                return Err(MlaError::config(
                    "data.split",
                    format!(
                        "no recordings of speaker `{s}` (speakers: {})",
                        known.join(", ")
                    ),
                ));
            }
            parsed.iter().map(|r| &r.speaker == s).collect()
        }
    })
}

/// The recordings (`parsed`, their filterbanks `audio` of `bins` per frame) paired with
/// MNIST images and split.
fn pair(
    parsed: &[Recording],
    mut audio: Vec<f32>,
    bins: usize,
    mnist_images: &[u8],
    mnist_labels: &[u8],
    config: &AvDigitsConfig,
) -> Result<Splits> {
    let mnist = Mnist::parse(mnist_images, mnist_labels)?;
    let is_test = test_recordings(parsed, &config.split)?;
    let frames = audio.len() / (parsed.len() * bins);
    if config.fbank.frames == 0 && audio.len() != parsed.len() * frames * bins {
        return Err(MlaError::config(
            "data.fbank.frames",
            "recordings differ in length: set a frame count to pad or cut them to",
        ));
    }

    let pixels = mnist.draw(parsed, &is_test, config.seed)?;
    let side = mnist.side;
    let digits: Vec<usize> = parsed.iter().map(|r| r.digit).collect();
    let train_all: Vec<usize> = (0..parsed.len()).filter(|&i| !is_test[i]).collect();
    let test: Vec<usize> = (0..parsed.len()).filter(|&i| is_test[i]).collect();
    if train_all.is_empty() || test.is_empty() {
        return Err(MlaError::Data(format!(
            "split `{}` leaves {} training and {} test recordings",
            config.split,
            train_all.len(),
            test.len()
        )));
    }
    // Validation from the training recordings, per digit.
    let (train, valid) = hold_out(&train_all, &digits, 10, config.valid_fraction, config.seed)?;

    // Standardise the filterbanks with the training recordings' mean and deviation.
    Standardizer::fit(&audio, frames * bins, 1, &train).apply(&mut audio);

    let all = Dataset::new(
        vec![
            ModalityData {
                name: "audio".into(),
                kind: InputKind::Image {
                    channels: 1,
                    height: frames,
                    width: bins,
                },
                values: audio.into(),
                present: vec![true; parsed.len()],
            },
            ModalityData {
                name: "image".into(),
                kind: InputKind::Image {
                    channels: 1,
                    height: side,
                    width: side,
                },
                values: pixels.into(),
                present: vec![true; parsed.len()],
            },
        ],
        digits,
        10,
    )?;
    all.split(&train, &valid, &test)
}

/// FSDD's `recordings/` folder and a folder with MNIST's IDX files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AvDigitsSource {
    /// Folder of `{digit}_{speaker}_{take}.wav` files.
    pub fsdd: String,
    /// Folder with `*-images-idx3-ubyte[.gz]` and `*-labels-idx1-ubyte[.gz]`.
    pub mnist: String,
    #[serde(default)]
    pub options: AvDigitsConfig,
}

/// `source = "av_digits"`,
/// `--data av-digits:fsdd=DIR,mnist=DIR[,split=official|speaker:NAME][,mel-bins=N][,frames=N]`.
pub const ENTRY: SourceEntry = SourceEntry {
    name: "av_digits",
    spec: "av-digits",
    from_json: from_json::<AvDigitsSource>,
    from_spec: |spec| {
        let (mut fsdd, mut mnist) = (None, None);
        let mut options = AvDigitsConfig {
            seed: spec.seed,
            ..Default::default()
        };
        for (k, v) in &spec.options {
            match k.as_str() {
                "fsdd" => fsdd = Some(spec.path(v)),
                "mnist" => mnist = Some(spec.path(v)),
                "split" => options.split = v.parse()?,
                "mel-bins" => options.fbank.mel_bins = spec.number(k, v)?,
                "frames" => options.fbank.frames = spec.number(k, v)?,
                _ => return Err(spec.unknown(k, "fsdd, mnist, split, mel-bins, frames")),
            }
        }
        Ok(Box::new(AvDigitsSource {
            fsdd: fsdd
                .ok_or_else(|| spec.missing("av-digits: needs fsdd=DIR (FSDD's recordings/)"))?,
            mnist: mnist
                .ok_or_else(|| spec.missing("av-digits: needs mnist=DIR (MNIST's IDX files)"))?,
            options,
        }))
    },
};

impl DataSource for AvDigitsSource {
    fn load(&self, files: &dyn Files) -> Result<Loading> {
        let mut names = files.list(&self.fsdd).map_err(MlaError::Data)?;
        names.retain(|n| n.ends_with(".wav"));
        names.sort();
        if names.is_empty() {
            return Err(MlaError::Data(format!("no .wav files in {}", self.fsdd)));
        }
        let recordings = names
            .into_iter()
            .map(|name| {
                let bytes = files
                    .read(&join(&self.fsdd, &name))
                    .map_err(MlaError::Data)?;
                Ok((name, bytes))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut mnist = files.list(&self.mnist).map_err(MlaError::Data)?;
        mnist.sort();
        let find = |suffixes: [&str; 2]| -> Result<Vec<u8>> {
            let name = mnist
                .iter()
                .find(|n| suffixes.iter().any(|s| n.ends_with(s)))
                .ok_or_else(|| {
                    MlaError::Data(format!("no `*{}` file in {}", suffixes[0], self.mnist))
                })?;
            files.read(&join(&self.mnist, name)).map_err(MlaError::Data)
        };
        let images = find(["images-idx3-ubyte.gz", "images-idx3-ubyte"])?;
        let labels = find(["labels-idx1-ubyte.gz", "labels-idx1-ubyte"])?;
        let (splits, skipped) = av_digits(&recordings, &images, &labels, &self.options)?;
        Ok(Loading::Built { splits, skipped })
    }

    crate::source_boilerplate!(options);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_names_round_trip() {
        for s in ["official", "speaker:theo"] {
            assert_eq!(s.parse::<AvSplit>().unwrap().to_string(), s);
        }
        let e = "speaker:".parse::<AvSplit>().unwrap_err().to_string();
        assert!(e.contains("data.split"), "{e}");
    }

    #[test]
    fn recording_names_are_checked() {
        let r = parse_name("7_theo_12.wav").unwrap();
        assert_eq!((r.digit, r.speaker.as_str(), r.take), (7, "theo", 12));
        for bad in [
            "7_theo.wav",
            "x_theo_1.wav",
            "7_theo_1.mp3",
            "12_theo_1.wav",
        ] {
            let e = parse_name(bad).unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
    }
}
