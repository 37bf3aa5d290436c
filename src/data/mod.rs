//! Data: modalities, samples with missing-modality masks, splits, and batching.
//!
//! Data enters the core as in-memory values (no file system here), so the same code
//! serves the browser and the command line.

pub mod av_digits;
mod bad;
mod batch;
pub mod crema_d;
mod dataset;
mod emoji;
pub mod fbank;
pub mod idx;
pub mod image;
pub mod manifest;
pub mod manifest_data;
pub mod mfeat;
pub mod missing;
pub mod npy;
pub mod preprocess;
pub mod shapes;
pub mod split;
pub mod standardize;
pub mod synthetic;
pub mod text;
pub mod upload;
pub mod values;
pub mod wav;

pub use av_digits::{AvDigitsConfig, AvSplit, av_digits};
pub use bad::triage;
pub use batch::{Batch, EncoderInput, flags_tensor, labels};
pub use crema_d::{CremaD, CremaDConfig, crema_d};
pub use dataset::{Dataset, InputKind, ModalityData, Splits};
pub use emoji::{EMOJI_IMAGES, EmojiLabel, emoji_manifest};
pub use image::ImageNorm;
pub use manifest::{Column, ColumnKind, Manifest, ManifestRow};
pub use manifest_data::{
    KeepValues, ManifestConfig, ManifestData, StreamFeatures, from_manifest,
    from_manifest_streaming, from_manifest_with,
};
pub use mfeat::{MfeatConfig, mfeat};
pub use missing::{MissingConfig, MissingRates, MissingReport};
pub use npy::{NpyArray, encode_npy, parse_npy};
pub use preprocess::{AudioPreprocess, Preprocess, Preprocessor, RawInput};
pub use standardize::Standardizer;
pub use synthetic::{SyntheticConfig, SyntheticKind, SyntheticModality};
pub use upload::{FileSet, MAX_UPLOAD_BYTES, Upload, check_upload_size};
pub use values::Values;
#[cfg(not(target_arch = "wasm32"))]
pub use values::ValuesWriter;
