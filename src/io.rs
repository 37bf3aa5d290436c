//! Model files as bytes: the architecture, the fusion rule and the weights in one
//! buffer, shared by every front end (a model trained natively loads in the browser).
//!
//! Layout: `b"MLA1"`, a little-endian `u32` length, that many bytes of JSON header
//! ([`ModelHeader`]), then the weights as a Burn record (burnpack).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::data::Preprocess;
use crate::error::{MlaError, Result};
use crate::eval::read_floats;
use crate::fusion::Fusion;
use crate::model::{ModelSpec, MultimodalModel, Networks};

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
    /// Each modality's temperature before fusion (MLA with `calibrate`; empty: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub temperatures: Vec<f32>,
}

impl ModelHeader {
    /// A header written by this version of the crate.
    pub fn new(spec: ModelSpec, fusion: Fusion, preprocess: Option<Preprocess>) -> Self {
        Self {
            spec,
            fusion,
            preprocess,
            written_by: format!("mla {}", env!("CARGO_PKG_VERSION")),
            temperatures: Vec::new(),
        }
    }
}

/// Encodes `model` (any device) with its header into one buffer. Frozen pretrained
/// networks are left out: the header names each by its encoder file's SHA-256.
///
/// The weights come to the host with one asynchronous read first: Burn's record
/// writer reads tensors synchronously, which a browser's GPU cannot do.
pub async fn save_model(header: &ModelHeader, model: &MultimodalModel) -> Result<Vec<u8>> {
    let header = ModelHeader {
        temperatures: model.temperatures.clone(),
        ..header.clone()
    };
    let json = serde_json::to_vec(&header)?;
    let model = model.clone().drop_networks(&header.spec, Networks::Frozen);
    let weights = weights_to_bytes(&model).await?;
    let mut out = Vec::with_capacity(8 + json.len() + weights.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&weights);
    Ok(out)
}

/// Decodes a buffer written by [`save_model`] into its header and a model on `device`
/// (without its frozen pretrained networks: see [`MultimodalModel::load_networks`]).
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
    let mut model = weights_from_bytes(&header.spec, &bytes[8 + len..], device)?;
    if !header.temperatures.is_empty() && header.temperatures.len() != header.spec.modalities.len()
    {
        return Err(MlaError::Model(format!(
            "header: {} temperatures for {} modalities",
            header.temperatures.len(),
            header.spec.modalities.len()
        )));
    }
    model.temperatures = header.temperatures.clone();
    Ok((header, model))
}

/// The weights of `model` (any device) as a Burn record (burnpack), which keeps each
/// parameter's id: an optimizer's saved state is keyed by them.
pub async fn weights_to_bytes(model: &MultimodalModel) -> Result<Vec<u8>> {
    Ok(to_host(model)
        .await?
        .into_record()
        .into_bytes()
        .map_err(|e| MlaError::Model(e.to_string()))?
        .to_vec())
}

/// A model of architecture `spec` on `device` holding the weights (and parameter ids)
/// of [`weights_to_bytes`].
pub fn weights_from_bytes(
    spec: &ModelSpec,
    bytes: &[u8],
    device: &Device,
) -> Result<MultimodalModel> {
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| MlaError::Model(format!("weights: {e}")))?;
    spec.build(device)?
        .try_load_record(record)
        .map_err(|e| MlaError::Model(format!("weights do not fit the architecture: {e}")))
}

/// Collects every float parameter, flattened, in traversal order.
struct Flatten(Vec<Tensor<1>>);

impl ModuleVisitor for Flatten {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        let n = value.shape().num_elements();
        self.0.push(value.reshape([n]));
    }
}

/// Replaces every float parameter, in the same traversal order, by host values.
struct Fill<'a> {
    values: &'a [f32],
    offset: usize,
    device: Device,
}

impl ModuleMapper for Fill<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|value| {
            let shape = value.shape();
            let n = shape.num_elements();
            let data = TensorData::new(self.values[self.offset..self.offset + n].to_vec(), shape);
            self.offset += n;
            Tensor::from_data(data, &self.device)
        })
    }
}

/// A copy of `model` on the CPU, read from its device with one asynchronous read.
pub async fn to_host(model: &MultimodalModel) -> Result<MultimodalModel> {
    let mut flat = Flatten(Vec::new());
    model.visit(&mut flat);
    let values = match flat.0.len() {
        0 => Vec::new(),
        _ => read_floats(Tensor::cat(flat.0, 0)).await?,
    };
    let mut fill = Fill {
        values: &values,
        offset: 0,
        device: Device::flex(),
    };
    // `valid()`, not `clone()`: a clone shares batch norm's running statistics with
    // `model`, and mapping it would move the training model's statistics to the host.
    let host = model.valid().map(&mut fill);
    if fill.offset != values.len() {
        return Err(MlaError::Model(format!(
            "copying weights to the host used {} of {} values",
            fill.offset,
            values.len()
        )));
    }
    Ok(host)
}
