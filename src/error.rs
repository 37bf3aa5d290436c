//! The one error type of the core.

use thiserror::Error;

/// Everything that can go wrong in the core. Messages name the field, modality or
/// file they are about, so that a front end can show them as they are.
#[derive(Debug, Error)]
pub enum MlaError {
    /// A configuration value is out of range or inconsistent.
    #[error("invalid configuration: `{field}`: {reason}")]
    Config { field: String, reason: String },

    /// The backend name is not one we know.
    #[error("unknown device `{0}` (expected one of: cpu, wgpu, webgpu, cuda)")]
    UnknownDevice(String),

    /// The backend exists but was not compiled into this build.
    #[error("device `{name}` is not compiled into this build (available: {available})")]
    DeviceNotCompiled { name: String, available: String },

    /// The backend is compiled in but could not be started (no adapter, driver error).
    #[error("device `{name}` could not be initialised: {reason}")]
    DeviceInit { name: String, reason: String },

    /// A data set is malformed (wrong sizes, labels out of range, empty splits ...).
    #[error("data: {0}")]
    Data(String),

    /// A `--data` spec that cannot be read (the message names the spec).
    #[error("{0}")]
    DataSpec(String),

    /// A model file or record could not be written or read.
    #[error("model file: {0}")]
    Model(String),

    /// A training checkpoint could not be written, read, or does not fit the run.
    #[error("checkpoint: {0}")]
    Checkpoint(String),

    /// Training produced a non-finite loss or weight: it stopped, keeping what the
    /// epochs before had made (the last checkpoint, the best model).
    #[error(
        "training diverged: {method}'s {what} became {value} in epoch {epoch}{step}, at \
         learning rate {}: train with a lower learning rate",
        short_number(.lr)
    )]
    Diverged {
        /// The method's name (`mla`, `qmf`, ...).
        method: String,
        /// What went non-finite: `loss \`audio\``, `weights`.
        what: String,
        /// The value seen (`NaN`, `inf`).
        value: String,
        /// 1-based epoch.
        epoch: usize,
        /// `", step 12 of 38"`, or empty when the step is not known.
        step: String,
        /// The learning rate of that epoch.
        lr: f64,
    },

    /// Reading a tensor back from the device failed.
    #[error("reading a tensor from the device failed: {0}")]
    Read(String),

    /// JSON (de)serialisation of a configuration or record.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

impl MlaError {
    /// Shorthand for a [`MlaError::Config`] error.
    pub fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Config {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// A number for a message: `0.05`, `1e30` (not thirty digits), `2.5e-7`.
pub fn short_number(v: &f64) -> String {
    if *v != 0.0 && !(1e-4..1e6).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// Result with [`MlaError`].
pub type Result<T> = std::result::Result<T, MlaError>;
