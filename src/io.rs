//! Model files as bytes: the architecture, the fusion rule and the weights in one
//! buffer, shared by every front end (a model trained natively loads in the browser).
//!
//! Layout: `b"MLA1"`, a little-endian `u32` length, that many bytes of JSON header
//! ([`ModelHeader`]), then the weights as a Burn record (burnpack).

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device};
use serde::{Deserialize, Serialize};

use crate::data::Preprocess;
use crate::error::{MlaError, Result};
use crate::fusion::Fusion;
use crate::model::{ModelSpec, MultimodalModel};

const MAGIC: &[u8; 4] = b"MLA1";

/// What a model file says about its model, besides the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelHeader {
    /// The architecture.
    pub spec: ModelSpec,
    /// How unimodal predictions are fused.
    pub fusion: Fusion,
    /// Class names and how raw inputs are preprocessed; absent for models trained on
    /// already-numeric data (the built-in synthetic data).
    #[serde(default)]
    pub preprocess: Option<Preprocess>,
    /// Version of the crate that wrote the file.
    pub written_by: String,
}

/// Encodes `model` (any device) with its header into one buffer.
pub fn save_model(header: &ModelHeader, model: &MultimodalModel) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(header)?;
    let weights = model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| MlaError::Model(e.to_string()))?;
    let mut out = Vec::with_capacity(8 + json.len() + weights.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&weights);
    Ok(out)
}

/// Decodes a buffer written by [`save_model`] into its header and a model on `device`.
pub fn load_model(bytes: &[u8], device: &Device) -> Result<(ModelHeader, MultimodalModel)> {
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        return Err(MlaError::Model(
            "not an mla model file (bad magic bytes)".into(),
        ));
    }
    let len = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
    let json = bytes
        .get(8..8 + len)
        .ok_or_else(|| MlaError::Model(format!("header of {len} bytes is cut short")))?;
    let header: ModelHeader =
        serde_json::from_slice(json).map_err(|e| MlaError::Model(format!("header: {e}")))?;
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes[8 + len..].to_vec()))
        .map_err(|e| MlaError::Model(format!("weights: {e}")))?;
    let model = header
        .spec
        .build(device)?
        .try_load_record(record)
        .map_err(|e| MlaError::Model(format!("weights do not fit the architecture: {e}")))?;
    Ok((header, model))
}
