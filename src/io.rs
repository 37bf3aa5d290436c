//! Model files as bytes: the architecture, the fusion rule and the weights in one
//! buffer, shared by every front end (a model trained natively loads in the browser).
//!
//! Layout: `b"MLA3"`, a little-endian `u32` length, the SHA-256 of everything after it
//! (32 bytes), that many bytes of JSON header ([`ModelHeader`]), then the weights as a
//! Burn record (burnpack) of the model's module tree. Files of the earlier layouts
//! still load: `b"MLA2"` is the same with the head's weights untyped
//! ([`WeightsFormat::Untyped`]), `b"MLA1"` that without a checksum ([`checksum_note`]
//! says so).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::data::Preprocess;
use crate::device::read_floats;
use crate::error::{MlaError, Result};
use crate::fusion::Fusion;
use crate::limits::MAX_HEADER_BYTES;
use crate::model::head::untyped;
use crate::model::{ModelSpec, MultimodalModel, Networks};

const MAGIC: &[u8; 4] = b"MLA3";
/// The second layout: the head's weights untyped.
const MAGIC_V2: &[u8; 4] = b"MLA2";
/// The first layout: as the second, without a checksum.
const MAGIC_V1: &[u8; 4] = b"MLA1";

/// How a weights record names the head's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightsFormat {
    /// Written before typed heads (model files `MLA1` and `MLA2`, checkpoints of
    /// versions 1 and 2): `head` and `layers.<i>`, whose meaning depends on the layout
    /// ([`crate::model::head::untyped`]).
    Untyped,
    /// Each head's parameters by name ([`crate::model::Head`]).
    Typed,
}

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

    /// Checks the fields against each other and against [`crate::limits`] (a header
    /// is read from a file: nothing of the sizes it names is allocated before this).
    pub fn validate(&self) -> Result<()> {
        self.spec.validate()?;
        if let Some(p) = &self.preprocess {
            p.validate(self.spec.num_classes, self.spec.modalities.len())?;
        }
        let m = self.spec.modalities.len();
        if !self.temperatures.is_empty() && self.temperatures.len() != m {
            return Err(MlaError::Model(format!(
                "header: {} temperatures for {m} modalities",
                self.temperatures.len()
            )));
        }
        if let Some(t) = self
            .temperatures
            .iter()
            .find(|t| !(t.is_finite() && **t > 0.0))
        {
            return Err(MlaError::Model(format!(
                "header: temperature {t} is not a number > 0"
            )));
        }
        Ok(())
    }
}

/// Encodes `model` (any device) with its header into one buffer. Frozen pretrained
/// networks are left out: the header names each by its encoder file's SHA-256.
///
/// The weights come to the host with one asynchronous read first: Burn's record
/// writer reads tensors synchronously, which a browser's GPU cannot do. A model with a
/// non-finite weight is refused: it could only predict nonsense.
pub async fn save_model(header: &ModelHeader, model: &MultimodalModel) -> Result<Vec<u8>> {
    let header = ModelHeader {
        temperatures: model.temperatures.clone(),
        ..header.clone()
    };
    let model = model.clone().drop_networks(&header.spec, Networks::Frozen);
    if !weights_finite(&model).await? {
        return Err(MlaError::Model(
            "not saved: its weights are not all finite numbers (NaN or infinity)".into(),
        ));
    }
    model_file(&header, &weights_to_bytes(&model).await?)
}

/// The bytes of a model file: `header` and `weights` (a Burn record, as
/// [`weights_to_bytes`] makes) in the current layout, with their checksum. Writes what
/// it is given: [`save_model`] is the writer that checks the weights first.
pub fn model_file(header: &ModelHeader, weights: &[u8]) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(header)?;
    let mut out = Vec::with_capacity(40 + json.len() + weights.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(
        &Sha256::new()
            .chain_update(&json)
            .chain_update(weights)
            .finalize(),
    );
    out.extend_from_slice(&json);
    out.extend_from_slice(weights);
    Ok(out)
}

/// The header and the weights of a model file, its checksum verified where it has one,
/// and how its weights are named.
fn parts(bytes: &[u8]) -> Result<(&[u8], &[u8], WeightsFormat)> {
    let bad = |why: String| MlaError::Model(why);
    let magic = bytes.get(..4);
    let format = match magic {
        Some(m) if m == MAGIC => WeightsFormat::Typed,
        Some(m) if m == MAGIC_V2 || m == MAGIC_V1 => WeightsFormat::Untyped,
        Some(&[b'M', b'L', b'A', v]) if v.is_ascii_digit() => {
            return Err(bad(format!(
                "a model file of layout {}, newer than this build of mla reads (1 to 3): \
                 update mla",
                v as char
            )));
        }
        _ => return Err(bad("not an mla model file (bad magic bytes)".into())),
    };
    if bytes.len() < 8 {
        return Err(bad("not an mla model file (cut short)".into()));
    }
    let len = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
    if len > MAX_HEADER_BYTES {
        return Err(bad(format!(
            "a header of {len} bytes, above the limit of {MAX_HEADER_BYTES} (damaged file)"
        )));
    }
    let checked = magic != Some(MAGIC_V1);
    let rest = if checked {
        bytes
            .get(40..)
            .ok_or_else(|| bad("the checksum is cut short".into()))?
    } else {
        &bytes[8..]
    };
    if rest.len() < len {
        return Err(bad(format!("header of {len} bytes is cut short")));
    }
    if checked {
        verified(bytes).map_err(bad)?;
    }
    let (json, weights) = rest.split_at(len);
    Ok((json, weights, format))
}

/// What follows the 32-byte SHA-256 at bytes 8..40 of a model file or a checkpoint
/// (after their magic and a 4-byte field), when it matches; else why not.
pub(crate) fn verified(bytes: &[u8]) -> std::result::Result<&[u8], String> {
    let digest = bytes.get(8..40).ok_or("the checksum is cut short")?;
    if Sha256::digest(&bytes[40..]).as_slice() != digest {
        return Err(
            "the file is damaged: its SHA-256 does not match its contents (cut, \
                    changed or corrupted since it was written)"
                .into(),
        );
    }
    Ok(&bytes[40..])
}

/// A note for a model file whose damage cannot be detected (the first layout, written
/// before files carried a checksum); `None` for current files.
pub fn checksum_note(bytes: &[u8]) -> Option<&'static str> {
    (bytes.get(..4) == Some(MAGIC_V1)).then_some(
        "this model file was written before model files carried a checksum, so damage to it \
         cannot be detected; save it again (export it, or train again) to add one",
    )
}

/// The header of a model file, checked (its checksum, its fields and their bounds)
/// without decoding the weights: what a front end needs to describe a model it only
/// passes on.
pub fn read_header(bytes: &[u8]) -> Result<ModelHeader> {
    checked_parts(bytes).map(|(header, ..)| header)
}

/// The checked header of a model file, its weights and how they are named.
fn checked_parts(bytes: &[u8]) -> Result<(ModelHeader, &[u8], WeightsFormat)> {
    let (json, weights, format) = parts(bytes)?;
    let header: ModelHeader =
        serde_json::from_slice(json).map_err(|e| MlaError::Model(format!("header: {e}")))?;
    header.validate()?;
    Ok((header, weights, format))
}

/// Decodes a buffer written by [`save_model`] into its header and a model on `device`
/// (without its frozen pretrained networks: see [`MultimodalModel::load_networks`]).
///
/// Refused, with the reason: a file whose checksum does not match, a header whose
/// fields disagree or exceed [`crate::limits`], weights that do not fit the
/// architecture, and weights that are not all finite (one asynchronous read).
pub async fn load_model(bytes: &[u8], device: &Device) -> Result<(ModelHeader, MultimodalModel)> {
    let (header, weights, format) = checked_parts(bytes)?;
    let mut model = weights_from_bytes(&header.spec, weights, format, device)?;
    if !weights_finite(&model).await? {
        return Err(MlaError::Model(
            "its weights are not all finite numbers (NaN or infinity): the model diverged \
             in training; train it again with a lower learning rate"
                .into(),
        ));
    }
    model.temperatures = header.temperatures.clone();
    Ok((header, model))
}

/// Whether every weight of `model` is a finite number: one sum per parameter and one
/// read of them all (a NaN or infinity anywhere makes its sum non-finite).
pub async fn weights_finite(model: &MultimodalModel) -> Result<bool> {
    let mut sums = Sums(Vec::new());
    model.visit(&mut sums);
    if sums.0.is_empty() {
        return Ok(true);
    }
    let sums = read_floats(Tensor::cat(sums.0, 0)).await?;
    Ok(sums.iter().all(|s| s.is_finite()))
}

/// Each float parameter's sum of absolute values, `[1]`.
struct Sums(Vec<Tensor<1>>);

impl ModuleVisitor for Sums {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.val().abs().sum());
    }
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
/// of [`weights_to_bytes`], or of an earlier version's, named as `format` says.
pub fn weights_from_bytes(
    spec: &ModelSpec,
    bytes: &[u8],
    format: WeightsFormat,
    device: &Device,
) -> Result<MultimodalModel> {
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| MlaError::Model(format!("weights: {e}")))?;
    let unfit = |e| MlaError::Model(format!("weights do not fit the architecture: {e}"));
    match format {
        WeightsFormat::Typed => spec.build(device)?.try_load_record(record).map_err(unfit),
        WeightsFormat::Untyped => untyped::UntypedModel::build(spec, device)?
            .try_load_record(record)
            .map_err(unfit)?
            .into_typed(spec, device),
    }
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
