//! File formats read from bytes (no file system here): images, WAV audio, NumPy
//! arrays and MNIST's IDX files.

pub mod idx;
pub mod image;
pub mod npy;
pub mod wav;
pub mod zip;
