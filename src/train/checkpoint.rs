//! The byte layout of a training checkpoint: everything a [`super::Trainer`] needs to go
//! on from the end of an epoch exactly as if it had never stopped.
//!
//! Layout: `b"MLAC"`, a little-endian `u32` format version, then four sections, each a
//! little-endian `u64` length and its bytes: the JSON [`Saved`] state, the current
//! weights, the best epoch's weights (empty before the first epoch) — both Burn records
//! that keep parameter ids — and the optimizer's record, keyed by those ids.

use serde::{Deserialize, Serialize};

use super::EpochMetrics;
use crate::config::TrainConfig;
use crate::error::{MlaError, Result};
use crate::model::ModelSpec;
use crate::rng::Rng;

const MAGIC: &[u8; 4] = b"MLAC";
const VERSION: u32 = 1;

/// A matrix on the host: rows, columns, row-major values.
pub(super) type HostMatrix = (usize, usize, Vec<f32>);

/// The trainer's state besides tensors held as records.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Saved {
    pub config: TrainConfig,
    pub spec: ModelSpec,
    /// Epochs completed.
    pub epoch: usize,
    /// The batch-order generator, after the next epoch's order was drawn.
    pub rng: Rng,
    /// The next epoch's sample order.
    pub order: Vec<usize>,
    pub history: Vec<EpochMetrics>,
    /// The best epoch so far and its fused validation accuracy.
    pub best: Option<(usize, f64)>,
    /// The best model's temperatures (MLA with `calibrate`).
    #[serde(default)]
    pub best_temperatures: Vec<f32>,
    /// The method's state ([`super::StrategyState`]) on the host.
    pub matrices: Vec<HostMatrix>,
    pub counters: Vec<usize>,
    /// The method's own optimizers' records (absent in older checkpoints).
    #[serde(default)]
    pub optimizers: Vec<Vec<u8>>,
}

/// The four parts of a checkpoint.
pub(super) struct Parts {
    pub saved: Saved,
    pub model: Vec<u8>,
    pub best: Vec<u8>,
    pub optimizer: Vec<u8>,
}

pub(super) fn encode(parts: &Parts) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(&parts.saved)?;
    let sections = [&json, &parts.model, &parts.best, &parts.optimizer];
    let mut out = Vec::with_capacity(8 + sections.iter().map(|s| 8 + s.len()).sum::<usize>());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    for s in sections {
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(s);
    }
    Ok(out)
}

pub(super) fn decode(bytes: &[u8]) -> Result<Parts> {
    let bad = |why: String| MlaError::Checkpoint(why);
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        return Err(bad("not an mla checkpoint (bad magic bytes)".into()));
    }
    let version = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    if version != VERSION {
        return Err(bad(format!(
            "format version {version}; this build reads version {VERSION}"
        )));
    }
    let mut rest = &bytes[8..];
    let mut sections = Vec::with_capacity(4);
    for name in ["state", "weights", "best weights", "optimizer"] {
        let cut = || bad(format!("the {name} section is cut short"));
        let len: [u8; 8] = rest
            .get(..8)
            .ok_or_else(cut)?
            .try_into()
            .map_err(|_| cut())?;
        let len = usize::try_from(u64::from_le_bytes(len)).map_err(|_| cut())?;
        let body = rest.get(8..8 + len).ok_or_else(cut)?;
        sections.push(body.to_vec());
        rest = &rest[8 + len..];
    }
    if !rest.is_empty() {
        return Err(bad(format!("{} bytes after the last section", rest.len())));
    }
    let optimizer = sections.pop().unwrap_or_default();
    let best = sections.pop().unwrap_or_default();
    let model = sections.pop().unwrap_or_default();
    let saved = serde_json::from_slice(&sections.pop().unwrap_or_default())
        .map_err(|e| bad(format!("state: {e}")))?;
    Ok(Parts {
        saved,
        model,
        best,
        optimizer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> Parts {
        Parts {
            saved: Saved {
                config: TrainConfig::default(),
                spec: ModelSpec {
                    modalities: vec!["a".into()],
                    inputs: Vec::new(),
                    encoders: Vec::new(),
                    feature_dim: 4,
                    num_classes: 2,
                    head: crate::model::HeadLayout::Shared,
                },
                epoch: 3,
                rng: Rng::new(9),
                order: vec![2, 0, 1],
                history: Vec::new(),
                best: Some((2, 0.5)),
                best_temperatures: Vec::new(),
                matrices: vec![(1, 2, vec![0.25, -1.5])],
                counters: vec![7],
                optimizers: vec![vec![4, 5]],
            },
            model: vec![1, 2, 3],
            best: Vec::new(),
            optimizer: vec![9; 10],
        }
    }

    #[test]
    fn sections_round_trip_and_damage_is_named() {
        let bytes = encode(&parts()).expect("encodes");
        let back = decode(&bytes).expect("decodes");
        assert_eq!(back.saved.order, vec![2, 0, 1]);
        assert_eq!(back.saved.rng, Rng::new(9));
        assert_eq!(back.saved.matrices, vec![(1, 2, vec![0.25, -1.5])]);
        assert_eq!(
            (back.model, back.best, back.optimizer),
            (vec![1, 2, 3], vec![], vec![9; 10])
        );

        let cut = decode(&bytes[..bytes.len() - 3])
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            cut.as_deref(),
            Some("checkpoint: the optimizer section is cut short")
        );
        let mut other = bytes.clone();
        other[4] = 2;
        assert!(decode(&other).is_err_and(|e| e.to_string().contains("version 2")));
        assert!(decode(b"MLA1....").is_err_and(|e| e.to_string().contains("magic")));
    }
}
