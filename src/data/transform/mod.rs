//! Operations on a built data set: stratified splits and missing-modality masks.

pub mod missing;
pub mod split;
