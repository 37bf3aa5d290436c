//! Features computed from decoded inputs: log-mel filterbanks for audio, standardisation
//! of numeric features with training statistics, and the word tokenizer for text.

pub mod fbank;
pub mod standardize;
pub mod tokenizer;
