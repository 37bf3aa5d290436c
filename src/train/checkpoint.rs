//! The byte layout of a training checkpoint: everything a [`super::Trainer`] needs to go
//! on from the end of an epoch exactly as if it had never stopped.
//!
//! Layout: `b"MLAC"`, a little-endian `u32` format version (3), the SHA-256 of
//! everything after it (32 bytes), then four sections, each a little-endian `u64`
//! length and its bytes: the JSON [`Saved`] state, the current weights, the best
//! epoch's weights (empty before the first epoch) — both Burn records that keep
//! parameter ids — and the optimizer's record, keyed by those ids. Version 2 is the
//! same with the head's weights untyped ([`WeightsFormat::Untyped`]), version 1 that
//! without the checksum; both still load ([`checksum_note`]).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::EpochMetrics;
use super::settings::TrainConfig;
use crate::error::{MlaError, Result};
use crate::io::WeightsFormat;
use crate::model::ModelSpec;
use crate::rng::Rng;

const MAGIC: &[u8; 4] = b"MLAC";
const VERSION: u32 = 3;
/// The second version: the head's weights untyped.
const VERSION_V2: u32 = 2;
/// The first version: as the second, without a checksum.
const VERSION_V1: u32 = 1;

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

impl Saved {
    /// Checks the state's fields against each other: a checkpoint is read from a file,
    /// and a claim such as "best epoch 99" of a 3-epoch run must not be believed.
    fn validate(&self, has_best_weights: bool) -> Result<()> {
        let bad = |why: String| Err(MlaError::Checkpoint(format!("state: {why}")));
        self.spec
            .validate()
            .map_err(|e| MlaError::Checkpoint(format!("state: {e}")))?;
        if self.history.len() != self.epoch {
            return bad(format!(
                "{} epochs done but {} in its history",
                self.epoch,
                self.history.len()
            ));
        }
        if let Some((e, h)) = self
            .history
            .iter()
            .enumerate()
            .find(|(i, h)| h.epoch != i + 1)
        {
            return bad(format!("history entry {} is epoch {}", e + 1, h.epoch));
        }
        match self.best {
            Some((best, _)) if best == 0 || best > self.epoch => {
                return bad(format!("best epoch {best} of {} epochs done", self.epoch));
            }
            Some((_, fused)) if !(0.0..=1.0).contains(&fused) => {
                return bad(format!("best validation accuracy {fused} is not in [0, 1]"));
            }
            Some(_) if !has_best_weights => return bad("a best epoch without its weights".into()),
            None if has_best_weights || self.epoch > 0 => {
                return bad(format!("no best epoch after {} epochs", self.epoch));
            }
            _ => {}
        }
        for (i, (rows, cols, values)) in self.matrices.iter().enumerate() {
            if rows.checked_mul(*cols) != Some(values.len()) {
                return bad(format!(
                    "matrix {i} is {rows}x{cols} but holds {} values",
                    values.len()
                ));
            }
        }
        Ok(())
    }
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
    out.extend_from_slice(&[0; 32]);
    for s in sections {
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(s);
    }
    let digest = Sha256::digest(&out[40..]);
    out[8..40].copy_from_slice(&digest);
    Ok(out)
}

/// A note for a checkpoint whose damage cannot be detected (version 1, written before
/// checkpoints carried a checksum); `None` otherwise.
pub fn checksum_note(bytes: &[u8]) -> Option<&'static str> {
    (bytes.len() >= 8 && &bytes[..4] == MAGIC && bytes[4..8] == VERSION_V1.to_le_bytes()).then_some(
        "this checkpoint was written before checkpoints carried a checksum, so damage to \
             it cannot be detected",
    )
}

/// The parts of a checkpoint, and how its weights are named.
pub(super) fn decode(bytes: &[u8]) -> Result<(Parts, WeightsFormat)> {
    let bad = |why: String| MlaError::Checkpoint(why);
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        return Err(bad("not an mla checkpoint (bad magic bytes)".into()));
    }
    let version = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    let (mut rest, format) = match version {
        VERSION => (
            crate::io::verified(bytes).map_err(bad)?,
            WeightsFormat::Typed,
        ),
        VERSION_V2 => (
            crate::io::verified(bytes).map_err(bad)?,
            WeightsFormat::Untyped,
        ),
        VERSION_V1 => (&bytes[8..], WeightsFormat::Untyped),
        _ => {
            return Err(bad(format!(
                "format version {version}; this build reads versions {VERSION_V1} to {VERSION}"
            )));
        }
    };
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
    let saved: Saved = serde_json::from_slice(&sections.pop().unwrap_or_default())
        .map_err(|e| bad(format!("state: {e}")))?;
    saved.validate(!best.is_empty())?;
    let parts = Parts {
        saved,
        model,
        best,
        optimizer,
    };
    Ok((parts, format))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::InputKind;
    use crate::eval::EvalReport;
    use crate::model::{EncoderConfig, MlpEncoderConfig};

    fn epoch(e: usize) -> EpochMetrics {
        EpochMetrics {
            epoch: e,
            lr: 0.1,
            loss_names: vec!["a".into()],
            train_loss: vec![1.0],
            valid: EvalReport {
                modalities: vec!["a".into()],
                unimodal: vec![0.5],
                fused: 0.5,
                samples: 4,
            },
            best: e == 2,
        }
    }

    fn parts() -> Parts {
        Parts {
            saved: Saved {
                config: TrainConfig::default(),
                spec: ModelSpec {
                    modalities: vec!["a".into()],
                    inputs: vec![InputKind::Features { dim: 3 }],
                    encoders: vec![EncoderConfig::Mlp(MlpEncoderConfig::default())],
                    feature_dim: 4,
                    num_classes: 2,
                    head: crate::model::HeadLayout::Shared,
                },
                epoch: 3,
                rng: Rng::new(9),
                order: vec![2, 0, 1],
                history: (1..=3).map(epoch).collect(),
                best: Some((2, 0.5)),
                best_temperatures: Vec::new(),
                matrices: vec![(1, 2, vec![0.25, -1.5])],
                counters: vec![7],
                optimizers: vec![vec![4, 5]],
            },
            model: vec![1, 2, 3],
            best: vec![6],
            optimizer: vec![9; 10],
        }
    }

    #[test]
    fn sections_round_trip_and_damage_is_named() {
        let bytes = encode(&parts()).expect("encodes");
        let (back, format) = decode(&bytes).expect("decodes");
        assert_eq!(format, WeightsFormat::Typed);
        assert_eq!(back.saved.order, vec![2, 0, 1]);
        assert_eq!(back.saved.rng, Rng::new(9));
        assert_eq!(back.saved.matrices, vec![(1, 2, vec![0.25, -1.5])]);
        assert_eq!(
            (back.model, back.best, back.optimizer),
            (vec![1, 2, 3], vec![6], vec![9; 10])
        );
        assert_eq!(checksum_note(&bytes), None);

        let cut = decode(&bytes[..bytes.len() - 3])
            .err()
            .map(|e| e.to_string());
        assert!(
            cut.as_deref().is_some_and(|e| e.contains("damaged")),
            "{cut:?}"
        );
        let mut other = bytes.clone();
        other[4] = 4;
        assert!(decode(&other).is_err_and(|e| e.to_string().contains("version 4")));
        assert!(decode(b"MLA1....").is_err_and(|e| e.to_string().contains("magic")));
    }

    /// Version 1 (no checksum) of the same parts, as the previous release wrote it.
    fn version_1(parts: &Parts) -> Vec<u8> {
        let bytes = encode(parts).unwrap();
        let mut v1 = bytes[..8].to_vec();
        v1[4..8].copy_from_slice(&VERSION_V1.to_le_bytes());
        v1.extend_from_slice(&bytes[40..]);
        v1
    }

    #[test]
    fn version_1_loads_with_a_note_and_its_sections_are_still_checked() {
        let v1 = version_1(&parts());
        assert!(checksum_note(&v1).is_some());
        assert_eq!(decode(&v1).unwrap().0.saved.order, vec![2, 0, 1]);
        let cut = decode(&v1[..v1.len() - 3]).err().map(|e| e.to_string());
        assert_eq!(
            cut.as_deref(),
            Some("checkpoint: the optimizer section is cut short")
        );
    }

    #[test]
    fn state_that_contradicts_itself_is_refused() {
        let refused = |change: &dyn Fn(&mut Parts), want: &str| {
            let mut p = parts();
            change(&mut p);
            // Version 1 has no checksum to catch it first: the state's own checks must.
            let e = decode(&version_1(&p)).err().map(|e| e.to_string());
            assert!(
                e.as_deref().is_some_and(|e| e.contains(want)),
                "{want}: {e:?}"
            );
        };
        refused(&|p| p.saved.best = Some((99, 0.5)), "best epoch 99 of 3");
        refused(&|p| p.saved.best = Some((0, 0.5)), "best epoch 0 of 3");
        refused(&|p| p.saved.best = Some((2, 7.0)), "not in [0, 1]");
        refused(&|p| p.saved.best = None, "no best epoch after 3");
        refused(&|p| p.best.clear(), "without its weights");
        refused(&|p| p.saved.epoch = 5, "5 epochs done but 3");
        refused(&|p| p.saved.history[1].epoch = 7, "entry 2 is epoch 7");
        refused(
            &|p| p.saved.matrices[0].0 = 3,
            "matrix 0 is 3x2 but holds 2",
        );
        refused(
            &|p| p.saved.matrices[0] = (usize::MAX, 2, vec![]),
            "holds 0",
        );
        refused(&|p| p.saved.spec.num_classes = 1 << 40, "num_classes");
    }
}
