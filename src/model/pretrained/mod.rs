//! Pretrained encoders: MobileNetV2 with ImageNet weights for images and
//! all-MiniLM-L6-v2 for text, each followed by a trained projection to the feature
//! size.
//!
//! Their weights live in *encoder files* (`<name>.mlae`) that `mla-native encoders
//! import` converts once from the registries' packages; a trained model refers to its
//! encoder by name and SHA-256 and, when the encoder is frozen, stores only the
//! projection. A frozen encoder's features are computed once per sample
//! ([`extract_features`]) and training runs on them.

mod bert;
mod config;
mod encoder;
mod features;
mod file;
#[cfg(feature = "import")]
pub mod import;
mod mobilenet_v2;

pub use crate::data::features::wordpiece::{WordPiece, WordPieceEncoder, normalize, pre_tokenize};
pub use bert::{Bert, BertConfig, BertLayer, PAD_ID, from_hugging_face};
pub use config::{MinilmConfig, MobilenetV2Config, Net, PretrainedSettings, TrainMode, prepare};
pub use encoder::{Backbone, PretrainedEncoder};
pub use features::{
    ExtractProgress, Extraction, FeatureCache, NoCache, extract_features, extract_modality,
    from_manifest_extracting, frozen_dims, manifest_for_encoders, networks,
};
pub use file::{EncoderFile, EncoderFileHeader, EncoderFiles, sha256_hex};
pub use mobilenet_v2::{
    ConvBn, InvertedResidual, MOBILENET_V2_FEATURES, MOBILENET_V2_STAGES, MobileNetV2,
    from_torchvision,
};
