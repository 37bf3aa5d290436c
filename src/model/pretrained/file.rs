//! Encoder files: a pretrained network's weights in this crate's own format.
//!
//! Layout: `b"MLAE"`, a little-endian `u32` length, that many bytes of JSON header
//! ([`EncoderFileHeader`]: the network, its vocabulary for text, where the weights
//! came from and their licence), then the weights as a Burn record (burnpack). A file
//! is known by the SHA-256 of all its bytes.

use std::collections::BTreeMap;
use std::sync::Arc;

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Backbone, Net, WordPiece};
use crate::error::{MlaError, Result};

const MAGIC: &[u8; 4] = b"MLAE";

/// What an encoder file says besides the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncoderFileHeader {
    /// The network.
    pub net: Net,
    /// The WordPiece vocabulary, for a text network (id = position).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vocab: Option<Vec<String>>,
    /// Where the weights come from.
    pub source: String,
    /// The weights' licence.
    pub licence: String,
}

/// SHA-256 of `bytes` as 64 lower-case hexadecimal digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A parsed encoder file (cheap to clone: the weights are shared).
#[derive(Clone, Debug)]
pub struct EncoderFile {
    pub header: EncoderFileHeader,
    /// SHA-256 of the whole file.
    pub sha256: String,
    /// Size of the whole file in bytes.
    pub size: usize,
    weights: Arc<[u8]>,
}

impl EncoderFile {
    /// Writes `header` and `weights` (a Burn record of the network, see
    /// `import`) into one buffer.
    pub fn encode(header: &EncoderFileHeader, weights: &[u8]) -> Result<Vec<u8>> {
        let json = serde_json::to_vec(header)?;
        let mut out = Vec::with_capacity(8 + json.len() + weights.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(&json);
        out.extend_from_slice(weights);
        Ok(out)
    }

    /// Parses an encoder file; `name` (a path or URL) appears in errors.
    pub fn decode(name: &str, bytes: Vec<u8>) -> Result<Self> {
        let bad = |why: String| MlaError::Model(format!("{name}: {why}"));
        if bytes.len() < 8 || &bytes[..4] != MAGIC {
            return Err(bad(
                "not an mla encoder file (bad magic bytes); make one with `mla-native encoders import`"
                    .into(),
            ));
        }
        let len = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
        crate::limits::within("header length", len, crate::limits::MAX_HEADER_BYTES)
            .map_err(bad)?;
        let json = bytes
            .get(8..8 + len)
            .ok_or_else(|| bad(format!("header of {len} bytes is cut short")))?;
        let header: EncoderFileHeader =
            serde_json::from_slice(json).map_err(|e| bad(format!("header: {e}")))?;
        if header.net == Net::MinilmL6 && header.vocab.is_none() {
            return Err(bad("a text encoder file without its vocabulary".into()));
        }
        if let Some(vocab) = &header.vocab {
            crate::limits::within("vocabulary", vocab.len(), crate::limits::MAX_VOCAB)
                .map_err(bad)?;
        }
        let sha256 = sha256_hex(&bytes);
        Ok(Self {
            header,
            sha256,
            size: bytes.len(),
            weights: Arc::from(&bytes[8 + len..]),
        })
    }

    /// The network with the file's weights, on `device`.
    pub fn backbone(&self, device: &Device) -> Result<Backbone> {
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(self.weights.to_vec()))
            .map_err(|e| MlaError::Model(format!("{}: weights: {e}", self.header.net.name())))?;
        Backbone::new(self.header.net, device)
            .try_load_record(record)
            .map_err(|e| {
                MlaError::Model(format!(
                    "{}: weights do not fit the network: {e}",
                    self.header.net.name()
                ))
            })
    }

    /// The file's WordPiece tokenizer with `max_len` ids per text.
    pub fn wordpiece(&self, max_len: usize) -> Result<WordPiece> {
        let vocab = self.header.vocab.clone().ok_or_else(|| {
            MlaError::Model(format!(
                "{} is not a text encoder (it has no vocabulary)",
                self.header.net.name()
            ))
        })?;
        let tokenizer = WordPiece { vocab, max_len };
        tokenizer.encoder()?;
        Ok(tokenizer)
    }
}

/// Encoder files by network, as a front end found them (a directory natively, URLs
/// next to a model in the browser).
#[derive(Clone, Debug, Default)]
pub struct EncoderFiles {
    files: BTreeMap<&'static str, EncoderFile>,
    /// Where they were looked for, for messages.
    pub location: String,
}

impl EncoderFiles {
    /// No files yet; `location` says where they are looked for.
    pub fn new(location: impl Into<String>) -> Self {
        Self {
            files: BTreeMap::new(),
            location: location.into(),
        }
    }

    /// Adds a parsed file (replacing one of the same network).
    pub fn insert(&mut self, file: EncoderFile) {
        self.files.insert(file.header.net.name(), file);
    }

    /// The file of `net`, checked against `sha256` when given; the error says where it
    /// was looked for and how to make it.
    pub fn get(&self, net: Net, sha256: Option<&str>) -> Result<&EncoderFile> {
        let file = self.files.get(net.name()).ok_or_else(|| {
            MlaError::Model(format!(
                "the pretrained encoder `{}` is needed but `{}` is not in {}; get it with \
                 `mla-native encoders import` (see the README, \"Pretrained encoders\")",
                net.name(),
                net.file_name(),
                if self.location.is_empty() {
                    "the encoder files given"
                } else {
                    &self.location
                }
            ))
        })?;
        if let Some(want) = sha256
            && want != file.sha256
        {
            return Err(MlaError::Model(format!(
                "the model was trained with the `{}` encoder file of SHA-256 {want}, but the one \
                 in {} has SHA-256 {}: use the file it was trained with",
                net.name(),
                self.location,
                file.sha256
            )));
        }
        Ok(file)
    }

    /// Whether the file of `net` is there.
    pub fn has(&self, net: Net) -> bool {
        self.files.contains_key(net.name())
    }

    /// Gets the files of `nets` that are not here yet with `fetch(file name)` (a
    /// front end's download from `location`, a URL next to a model, say), and keeps
    /// them. A failed download is an error naming the encoder and where it was looked
    /// for.
    pub async fn fetch<F, Fut>(&mut self, nets: &[Net], mut fetch: F) -> Result<()>
    where
        F: FnMut(String) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<Vec<u8>, String>>,
    {
        for &net in nets {
            if self.has(net) {
                continue;
            }
            let name = net.file_name();
            let at = format!("{}/{name}", self.location.trim_end_matches('/'));
            let bytes = fetch(name).await.map_err(|why| {
                MlaError::Model(format!(
                    "the pretrained encoder `{}` is needed and could not be read from {at}: {why}",
                    net.name()
                ))
            })?;
            self.insert(EncoderFile::decode(&at, bytes)?);
        }
        Ok(())
    }
}
