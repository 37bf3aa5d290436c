//! Built-in data sources: synthetic data, generated shapes, the emoji sample, and the
//! real data sets (UCI multiple features, AV digits, CREMA-D).

pub mod av_digits;
pub mod crema_d;
pub mod emoji;
pub mod mfeat;
pub mod shapes;
pub mod synthetic;
