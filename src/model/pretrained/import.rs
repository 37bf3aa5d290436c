//! Converting the registries' weight files into encoder files (native only: reading
//! PyTorch pickles and safetensors needs `burn-store`'s readers).

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::Module;
use burn::store::burn_pack::{self, Tensor as PackTensor};
use burn::store::{
    ModuleSnapshot, ModuleStore, PyTorchToBurnAdapter, PytorchStore, SafetensorsStore,
};
use burn::tensor::Device;

use super::{Backbone, BertConfig, EncoderFile, EncoderFileHeader, MobileNetV2, Net, WordPiece};
use super::{from_hugging_face, from_torchvision};
use crate::error::{MlaError, Result};

/// Renames `tensors` with `rename` (dropping those it has no name for) and applies
/// them to `module`; every parameter of the module must be filled.
fn apply<M: ModuleSnapshot>(
    module: &mut M,
    what: &str,
    tensors: &BTreeMap<String, PackTensor>,
    rename: fn(&str) -> Option<String>,
) -> Result<()> {
    let renamed: Vec<PackTensor> = tensors
        .iter()
        .filter_map(|(name, t)| {
            rename(name).map(|ours| {
                let mut t = t.clone();
                t.name = ours;
                t
            })
        })
        .collect();
    let result = module.apply(renamed, None, Some(Box::new(PyTorchToBurnAdapter)), true);
    if !result.errors.is_empty() || !result.missing.is_empty() || !result.unused.is_empty() {
        return Err(MlaError::Model(format!(
            "{what}: the weights do not fit the network: {result}"
        )));
    }
    Ok(())
}

/// The network's weights as a Burn record without parameter ids (which are drawn at
/// random): the same weights give the same bytes, so an encoder file's SHA-256 is the
/// same on every machine that imports it.
fn weights(backbone: Backbone) -> Result<Vec<u8>> {
    let bad = |e: String| MlaError::Model(format!("encoder weights: {e}"));
    let bytes = backbone
        .into_record()
        .into_bytes()
        .map_err(|e| bad(e.to_string()))?;
    let tensors = burn_pack::Reader::from_bytes(bytes)
        .and_then(|r| r.into_tensors())
        .map_err(|e| bad(e.to_string()))?
        .into_iter()
        .map(|t| {
            let (name, dtype, shape, _, bytes) = t.into_parts()?;
            Ok(PackTensor::new(name, dtype, shape, None, bytes))
        })
        .collect::<std::result::Result<Vec<_>, burn_pack::Error>>()
        .map_err(|e| bad(e.to_string()))?;
    Ok(burn_pack::Writer::new(tensors)
        .into_bytes()
        .map_err(|e| bad(e.to_string()))?
        .to_vec())
}

/// MobileNetV2's encoder file from torchvision's `mobilenet_v2-b0353104.pth`.
pub fn mobilenet_v2(pth: &Path) -> Result<Vec<u8>> {
    let what = pth.display().to_string();
    let mut store = PytorchStore::from_file(pth).map_indices_contiguous(false);
    let tensors = store
        .get_all_tensors()
        .map_err(|e| MlaError::Model(format!("{what}: {e}")))?
        .clone();
    let mut net = MobileNetV2::new(&Device::flex());
    apply(&mut net, &what, &tensors, from_torchvision)?;
    EncoderFile::encode(
        &EncoderFileHeader {
            net: Net::MobilenetV2,
            vocab: None,
            source: Net::MobilenetV2.source().into(),
            licence: Net::MobilenetV2.licence().into(),
        },
        &weights(Backbone::MobilenetV2(net))?,
    )
}

/// all-MiniLM-L6-v2's encoder file from its `model.safetensors` and `vocab.txt`.
pub fn minilm_l6(safetensors: &Path, vocab_txt: &Path) -> Result<Vec<u8>> {
    let what = safetensors.display().to_string();
    let vocab = std::fs::read_to_string(vocab_txt)
        .map_err(|e| MlaError::Model(format!("{}: {e}", vocab_txt.display())))?;
    let tokenizer = WordPiece::from_vocab_txt(&vocab, 2)?;
    let config = BertConfig::minilm_l6();
    if tokenizer.vocab.len() != config.vocab_size {
        return Err(MlaError::Model(format!(
            "{}: {} tokens, all-MiniLM-L6-v2 has {}",
            vocab_txt.display(),
            tokenizer.vocab.len(),
            config.vocab_size
        )));
    }
    let mut store = SafetensorsStore::from_file(safetensors);
    let tensors = store
        .get_all_tensors()
        .map_err(|e| MlaError::Model(format!("{what}: {e}")))?
        .clone();
    let mut net = config.init(&Device::flex());
    apply(&mut net, &what, &tensors, from_hugging_face)?;
    EncoderFile::encode(
        &EncoderFileHeader {
            net: Net::MinilmL6,
            vocab: Some(tokenizer.vocab),
            source: Net::MinilmL6.source().into(),
            licence: Net::MinilmL6.licence().into(),
        },
        &weights(Backbone::Bert(net))?,
    )
}
