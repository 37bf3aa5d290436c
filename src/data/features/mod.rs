//! Features computed from decoded inputs: log-mel filterbanks for audio, standardisation
//! of numeric features with training statistics, and text's tokenizers: words over a
//! vocabulary learned from the training split, and BERT's WordPiece.

pub mod fbank;
pub mod standardize;
pub mod tokenizer;
pub mod wordpiece;
