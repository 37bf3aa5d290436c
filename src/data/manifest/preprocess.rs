//! How one raw input of a modality (image bytes, WAV bytes, text, numbers) becomes the
//! model's input values: the same code when a data set is built and when one sample is
//! predicted later, with the settings and statistics saved with the model.

use serde::{Deserialize, Serialize};

use crate::data::dataset::InputKind;
use crate::data::features::fbank::{FbankConfig, wav_fbank};
use crate::data::features::standardize::Standardizer;
use crate::data::features::tokenizer::Tokenizer;
use crate::data::features::wordpiece::WordPiece;
use crate::data::formats::image::{ImageNorm, from_rgba, preprocess as preprocess_image, to_input};
use crate::data::formats::npy::parse_npy;
use crate::data::manifest::table::ColumnKind;
use crate::error::{MlaError, Result};

/// A raw input of one modality.
#[derive(Clone, Debug, PartialEq)]
pub enum RawInput {
    /// Image file bytes (PNG, JPEG, WebP).
    Image(Vec<u8>),
    /// An image already decoded: RGBA pixels, row-major (a browser canvas's `ImageData`).
    Pixels {
        width: u32,
        height: u32,
        rgba: Vec<u8>,
    },
    /// WAV file bytes.
    Audio(Vec<u8>),
    /// A caption or any text.
    Text(String),
    /// A feature vector.
    Vector(Vec<f32>),
}

impl RawInput {
    /// The column kind this input fills.
    pub fn kind(&self) -> ColumnKind {
        match self {
            RawInput::Image(_) | RawInput::Pixels { .. } => ColumnKind::Image,
            RawInput::Audio(_) => ColumnKind::Audio,
            RawInput::Text(_) => ColumnKind::Text,
            RawInput::Vector(_) => ColumnKind::Vector,
        }
    }
}

/// Numbers separated by spaces, `;` or `,`, all finite.
pub fn parse_numbers(cell: &str) -> std::result::Result<Vec<f32>, String> {
    let values = cell
        .split(|c: char| c.is_whitespace() || c == ';' || c == ',')
        .filter(|s| !s.is_empty())
        .enumerate()
        .map(|(k, s)| match s.parse::<f32>() {
            Ok(v) if v.is_finite() => Ok(v),
            Ok(v) => Err(format!("value {} is {v}, not a finite number", k + 1)),
            Err(_) => Err(format!("value {} `{s}` is not a number", k + 1)),
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    if values.is_empty() {
        return Err("no numbers".into());
    }
    Ok(values)
}

/// The raw input a manifest cell of `kind` stands for; `read(path)` returns the bytes
/// of a path as written in the manifest. Errors name the column and the file.
pub fn read_cell(
    column: &str,
    kind: ColumnKind,
    cell: &str,
    read: &mut dyn FnMut(&str) -> std::result::Result<Vec<u8>, String>,
) -> std::result::Result<RawInput, String> {
    let mut file = || read(cell).map_err(|why| format!("column `{column}`: `{cell}`: {why}"));
    Ok(match kind {
        ColumnKind::Image => RawInput::Image(file()?),
        ColumnKind::Audio => RawInput::Audio(file()?),
        ColumnKind::Text => RawInput::Text(cell.to_string()),
        ColumnKind::Vector if kind.holds_path(cell) => {
            let array = parse_npy(cell, &file()?)
                .map_err(|e| format!("column `{column}`: {}", plain(&e)))?;
            RawInput::Vector(array.values)
        }
        ColumnKind::Vector => RawInput::Vector(
            parse_numbers(cell).map_err(|why| format!("column `{column}`: {why}"))?,
        ),
    })
}

/// An image input (file bytes or pixels) as `size x size` model input values.
pub(crate) fn image_values(
    name: &str,
    raw: &RawInput,
    size: usize,
    norm: ImageNorm,
) -> Result<Vec<f32>> {
    match raw {
        RawInput::Image(bytes) => preprocess_image(name, bytes, size, norm),
        RawInput::Pixels {
            width,
            height,
            rgba,
        } => Ok(to_input(
            &from_rgba(name, *width, *height, rgba)?,
            size,
            norm,
        )),
        other => Err(MlaError::Data(format!(
            "modality `{name}` takes image input, got {}",
            other.kind()
        ))),
    }
}

/// A data error's message without the error kind's prefix, to go inside another.
pub(crate) fn plain(e: &MlaError) -> String {
    e.to_string().trim_start_matches("data: ").to_string()
}

/// Audio settings and statistics of a modality.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudioPreprocess {
    /// Filterbank settings; every clip is padded or cut to `fbank.frames` (> 0).
    pub fbank: FbankConfig,
    /// The sample rate every clip had in training.
    pub sample_rate: u32,
    /// One mean and deviation over all training values.
    pub standardizer: Standardizer,
}

/// How raw inputs become model inputs, one entry per modality (saved with the model).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Preprocessor {
    /// Image bytes, resized to `size x size` RGB, normalised by `norm`.
    Image {
        size: usize,
        #[serde(default)]
        norm: ImageNorm,
    },
    /// Text, tokenised.
    Text(Tokenizer),
    /// Text, tokenised by a pretrained text encoder's WordPiece vocabulary.
    Wordpiece(WordPiece),
    /// WAV bytes, a log-mel filterbank `[1, frames, mel_bins]`, standardised.
    Audio(AudioPreprocess),
    /// Numbers, standardised per feature (`dim` = the statistics' length).
    Vector(Standardizer),
}

/// Class names and per-modality preprocessing of a model trained on raw data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preprocess {
    /// Class names; class `i` is `classes[i]`.
    pub classes: Vec<String>,
    /// One per modality, in model order.
    pub modalities: Vec<Preprocessor>,
}

impl Preprocess {
    /// Checks a model file's preprocessing against its architecture (`num_classes`
    /// names, one entry per modality) and every size against [`crate::limits`]: a name
    /// list shorter than the classes would mislabel or fail at prediction time.
    pub fn validate(&self, num_classes: usize, modalities: usize) -> Result<()> {
        use crate::limits::{
            MAX_INPUT_SIDE, MAX_SAMPLE_RATE, MAX_TOKENS, MAX_VECTOR_LEN, MAX_VOCAB, within,
        };
        let bad = |why: String| MlaError::Model(format!("preprocessing: {why}"));
        if self.classes.len() != num_classes {
            return Err(bad(format!(
                "{} class names for {num_classes} classes",
                self.classes.len()
            )));
        }
        if self.modalities.len() != modalities {
            return Err(bad(format!(
                "{} entries for {modalities} modalities",
                self.modalities.len()
            )));
        }
        for p in &self.modalities {
            let sizes = match p {
                Preprocessor::Image { size, .. } => vec![("image size", *size, MAX_INPUT_SIDE)],
                Preprocessor::Text(t) => vec![
                    ("max_tokens", t.max_len, MAX_TOKENS),
                    ("vocabulary", t.vocab.len(), MAX_VOCAB),
                ],
                Preprocessor::Wordpiece(t) => vec![
                    ("max_tokens", t.max_len, MAX_TOKENS),
                    ("vocabulary", t.vocab.len(), MAX_VOCAB),
                ],
                Preprocessor::Audio(a) => {
                    a.fbank.validate().map_err(|e| bad(e.to_string()))?;
                    vec![(
                        "sample rate",
                        a.sample_rate as usize,
                        MAX_SAMPLE_RATE as usize,
                    )]
                }
                Preprocessor::Vector(s) => {
                    if s.mean.len() != s.std.len() {
                        return Err(bad(format!(
                            "{} means and {} deviations",
                            s.mean.len(),
                            s.std.len()
                        )));
                    }
                    vec![("vector length", s.mean.len(), MAX_VECTOR_LEN)]
                }
            };
            for (field, value, max) in sizes {
                within(field, value, max).map_err(bad)?;
            }
        }
        Ok(())
    }
}

impl Preprocessor {
    /// The kind of raw input it takes.
    pub fn kind(&self) -> ColumnKind {
        match self {
            Preprocessor::Image { .. } => ColumnKind::Image,
            Preprocessor::Text(_) | Preprocessor::Wordpiece(_) => ColumnKind::Text,
            Preprocessor::Audio(_) => ColumnKind::Audio,
            Preprocessor::Vector(_) => ColumnKind::Vector,
        }
    }

    /// The shape of the values it makes.
    pub fn input_kind(&self) -> InputKind {
        match self {
            Preprocessor::Image { size, .. } => InputKind::Image {
                channels: 3,
                height: *size,
                width: *size,
            },
            Preprocessor::Text(t) => InputKind::Tokens {
                len: t.max_len,
                vocab: t.vocab_size(),
            },
            Preprocessor::Wordpiece(t) => InputKind::Tokens {
                len: t.max_len,
                vocab: t.vocab.len(),
            },
            Preprocessor::Audio(a) => InputKind::Image {
                channels: 1,
                height: a.fbank.frames,
                width: a.fbank.mel_bins,
            },
            Preprocessor::Vector(s) => InputKind::Features { dim: s.mean.len() },
        }
    }

    /// The model's input values for `raw`, the input of modality `name`.
    pub fn apply(&self, name: &str, raw: &RawInput) -> Result<Vec<f32>> {
        match (self, raw) {
            (
                Preprocessor::Image { size, norm },
                raw @ (RawInput::Image(_) | RawInput::Pixels { .. }),
            ) => image_values(name, raw, *size, *norm),
            (Preprocessor::Text(t), RawInput::Text(text)) => Ok(t.encoder().encode(text)),
            (Preprocessor::Wordpiece(t), RawInput::Text(text)) => Ok(t.encoder()?.encode(text)),
            (Preprocessor::Audio(a), RawInput::Audio(bytes)) => {
                let (rate, mut values) = wav_fbank(name, bytes, &a.fbank)?;
                if rate != a.sample_rate {
                    return Err(MlaError::Data(format!(
                        "{name}: {rate} Hz audio, the model was trained on {} Hz",
                        a.sample_rate
                    )));
                }
                check_len(
                    name,
                    "filterbank values",
                    values.len(),
                    a.fbank.frames * a.fbank.mel_bins,
                )?;
                a.standardizer.apply(&mut values);
                Ok(values)
            }
            (Preprocessor::Vector(s), RawInput::Vector(values)) => {
                check_len(name, "numbers", values.len(), s.mean.len())?;
                let mut values = values.clone();
                s.apply(&mut values);
                Ok(values)
            }
            (p, raw) => Err(MlaError::Data(format!(
                "modality `{name}` takes {} input, got {}",
                p.kind(),
                raw.kind()
            ))),
        }
    }
}

fn check_len(name: &str, what: &str, got: usize, want: usize) -> Result<()> {
    if got != want {
        return Err(MlaError::Data(format!(
            "{name}: {got} {what}, the model takes {want}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_inline_and_their_errors() {
        assert_eq!(
            parse_numbers(" 1, 2.5;-3  4e1 ").unwrap(),
            [1.0, 2.5, -3.0, 40.0]
        );
        let e = parse_numbers("1 x 3").unwrap_err();
        assert!(e.contains("value 2 `x`"), "{e}");
        let e = parse_numbers("1 NaN").unwrap_err();
        assert!(e.contains("value 2 is NaN"), "{e}");
        let e = parse_numbers("1 inf").unwrap_err();
        assert!(e.contains("value 2 is inf"), "{e}");
        assert!(parse_numbers(" ; ").is_err());
    }

    #[test]
    fn vector_standardised_and_checked_by_length() {
        let p = Preprocessor::Vector(Standardizer {
            mean: vec![1.0, 2.0],
            std: vec![2.0, 4.0],
        });
        assert_eq!(
            p.apply("v", &RawInput::Vector(vec![3.0, 0.0])).unwrap(),
            [1.0, -0.5]
        );
        let e = p
            .apply("v", &RawInput::Vector(vec![3.0]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("1 numbers") && e.contains("takes 2"), "{e}");
        let e = p
            .apply("v", &RawInput::Text("x".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`v` takes vector input, got text"), "{e}");
        assert_eq!(p.input_kind(), InputKind::Features { dim: 2 });
    }

    #[test]
    fn cells_read_files_by_kind() {
        let mut read = |p: &str| match p {
            "f.npy" => Ok(crate::data::formats::npy::encode_npy(&[2], &[1.0, 2.0])),
            "bad.npy" => Ok(b"nope".to_vec()),
            "a.wav" => Ok(b"RIFF".to_vec()),
            _ => Err("no such file".to_string()),
        };
        assert_eq!(
            read_cell("f", ColumnKind::Vector, "f.npy", &mut read).unwrap(),
            RawInput::Vector(vec![1.0, 2.0])
        );
        assert_eq!(
            read_cell("f", ColumnKind::Vector, "1;2", &mut read).unwrap(),
            RawInput::Vector(vec![1.0, 2.0])
        );
        assert_eq!(
            read_cell("v", ColumnKind::Audio, "a.wav", &mut read).unwrap(),
            RawInput::Audio(b"RIFF".to_vec())
        );
        let e = read_cell("f", ColumnKind::Vector, "bad.npy", &mut read).unwrap_err();
        assert!(e.contains("column `f`: bad.npy: not a .npy"), "{e}");
        let e = read_cell("p", ColumnKind::Image, "x.png", &mut read).unwrap_err();
        assert_eq!(e, "column `p`: `x.png`: no such file");
    }
}
