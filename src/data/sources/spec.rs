//! `--data` specs: `<source>:<first>[,key=value...]`, a bare first item being `dir`.
//! Each source reads its own options from a parsed [`Spec`].

use crate::error::{MlaError, Result};

/// A parsed `--data` spec.
pub struct Spec {
    /// The spec as written, for error messages.
    pub text: String,
    /// The source's `--data` name (before the first `:`).
    pub kind: String,
    /// `key=value` options in order; a bare first item is `("dir", item)`.
    pub options: Vec<(String, String)>,
    /// The seed of the data (split, pairing, generation).
    pub seed: u64,
    /// Makes a path given in the spec absolute on the front end's file system (`new`:
    /// it need not exist yet); the identity where there is none.
    pub resolve: fn(path: &str, new: bool) -> String,
}

impl Spec {
    /// Splits `text`; `resolve` as [`Spec::resolve`].
    pub fn parse(text: &str, seed: u64, resolve: fn(&str, bool) -> String) -> Result<Self> {
        let (kind, rest) = text.split_once(':').unwrap_or((text, ""));
        let options = rest
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .enumerate()
            .map(|(i, part)| match part.split_once('=') {
                Some((k, v)) => Ok((k.trim().to_string(), v.trim().to_string())),
                None if i == 0 => Ok(("dir".to_string(), part.trim().to_string())),
                None => Err(MlaError::DataSpec(format!(
                    "--data {text}: `{part}` is not key=value"
                ))),
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            text: text.to_string(),
            kind: kind.to_string(),
            options,
            seed,
            resolve,
        })
    }

    /// A path option's value, made absolute.
    pub fn path(&self, value: &str) -> String {
        (self.resolve)(value, false)
    }

    /// An option's value as a count, or an error naming the spec and the option.
    pub fn number(&self, key: &str, value: &str) -> Result<usize> {
        value.parse::<usize>().map_err(|_| {
            MlaError::DataSpec(format!(
                "--data {}: `{key}={value}` is not a number",
                self.text
            ))
        })
    }

    /// The error for an option this source does not take.
    pub fn unknown(&self, key: &str, allowed: &str) -> MlaError {
        MlaError::DataSpec(format!(
            "--data {}: unknown option `{key}` for {} (allowed: {allowed})",
            self.text, self.kind
        ))
    }

    /// The error for a missing required option; `what` says what to write.
    pub fn missing(&self, what: &str) -> MlaError {
        MlaError::DataSpec(format!("--data {what}"))
    }
}
