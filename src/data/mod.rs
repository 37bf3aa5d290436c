//! Data: modalities, samples with missing-modality masks, splits, and batching.
//!
//! Data enters the core as in-memory values (no file system here), so the same code
//! serves the browser and the command line.

pub mod dataset;
pub mod features;
pub mod formats;
pub mod manifest;
pub mod sources;
pub mod transform;

pub use dataset::batch::{Batch, EncoderInput, flags_tensor, labels};
pub use dataset::triage::triage;
pub use dataset::values::Values;
#[cfg(not(target_arch = "wasm32"))]
pub use dataset::values::ValuesWriter;
pub use dataset::{Dataset, InputKind, ModalityData, Splits};
pub use features::standardize::Standardizer;
pub use formats::image::ImageNorm;
pub use formats::npy::{NpyArray, encode_npy, parse_npy};
pub use manifest::build::{
    KeepValues, ManifestConfig, ManifestData, StreamFeatures, from_manifest,
    from_manifest_streaming, from_manifest_with,
};
pub use manifest::capture::{Captured, CapturedFiles};
pub use manifest::preprocess::{AudioPreprocess, Preprocess, Preprocessor, RawInput};
pub use manifest::table::{Column, ColumnKind, Manifest, ManifestRow};
pub use manifest::upload::{FileSet, MAX_UPLOAD_BYTES, Upload, check_upload_size};
pub use sources::av_digits::{AvDigitsConfig, AvSplit, av_digits};
pub use sources::crema_d::{CremaD, CremaDConfig, crema_d};
pub use sources::emoji::{EMOJI_IMAGES, EmojiLabel, emoji_manifest};
pub use sources::mfeat::{MfeatConfig, mfeat};
pub use sources::synthetic::{SyntheticConfig, SyntheticKind, SyntheticModality};
pub use transform::missing::{MissingConfig, MissingRates, MissingReport};
