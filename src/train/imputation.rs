//! Training of the missing-modality baselines (AE, CRA, MMIN; networks in
//! [`crate::model::head::imputation`]).
//!
//! With missing data in training too, the features of an absent modality are not
//! there to learn from. Each batch therefore also hides some present modalities from
//! the network (each with probability `hide`, one always left), and the network learns
//! to fill in what it can be checked against: the reconstruction loss is taken on
//! cells that are present (targets detached, so encoders cannot make it trivial by
//! shrinking their features), the classifier loss on the head's reading of what the
//! network saw.

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Int, Tensor};
use serde::{Deserialize, Serialize};

use super::settings::invalid;
use super::strategy::{Strategy, TrainBatch, mean_ce};
use crate::data::{Batch, flags_tensor};
use crate::error::Result;
use crate::model::head::imputation::{ImputationHead, Imputer, feature_mask};
use crate::model::{HeadLayout, MultimodalModel};
use crate::rng::Rng;

/// The imputation networks of the missing-modality baselines (AE, CRA, MMIN). They
/// work on the concatenated features `[h_1 .. h_M]` (`M*s` values, an absent
/// modality's zero).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImputeConfig {
    /// Width of each autoencoder's code; 0 = the feature size `s`.
    pub hidden: usize,
    /// Residual autoencoders in the cascade (CRA, and each of MMIN's two).
    pub blocks: usize,
    /// Weight of the reconstruction loss (MMIN: the forward imagination loss).
    pub recon_weight: f64,
    /// MMIN: weight of the backward imagination (cycle) loss.
    pub cycle_weight: f64,
    /// In training, each present modality of a sample is also hidden from the network
    /// with this probability (one always stays), so that it learns to fill in what it
    /// can check against.
    pub hide: f64,
}

impl Default for ImputeConfig {
    fn default() -> Self {
        Self {
            hidden: 0,
            blocks: 2,
            recon_weight: 1.0,
            cycle_weight: 1.0,
            hide: 0.5,
        }
    }
}

impl ImputeConfig {
    /// Checks every field; errors name the field.
    pub fn validate(&self) -> Result<()> {
        if self.blocks == 0 {
            return invalid("impute.blocks", "must be at least 1");
        }
        for (field, w) in [
            ("recon_weight", self.recon_weight),
            ("cycle_weight", self.cycle_weight),
        ] {
            if !(w.is_finite() && w >= 0.0) {
                return invalid(&format!("impute.{field}"), "must be a finite number >= 0");
            }
        }
        if !(0.0..1.0).contains(&self.hide) {
            return invalid("impute.hide", "must be in [0, 1)");
        }
        Ok(())
    }
}

/// One batch's losses.
#[derive(Clone, Debug)]
pub struct ImputationLosses {
    /// Cross-entropy of the head on what the network saw.
    pub ce: Tensor<1>,
    /// AE, CRA: mean squared error of the reconstruction over every present cell.
    /// MMIN (forward imagination): over the present cells that were hidden.
    pub recon: Tensor<1>,
    /// MMIN only: the backward imagination's mean squared error over the cells shown.
    pub cycle: Option<Tensor<1>>,
}

/// `Σ mask ⊙ (a − b)² / Σ mask` (0 when the mask is empty).
fn masked_mse(a: Tensor<2>, b: Tensor<2>, mask: Tensor<2>) -> Tensor<1> {
    ((a - b).powi_scalar(2) * mask.clone()).sum() / mask.sum().clamp_min(1.0)
}

/// The losses of `model` (an imputation layout) on one batch: encoder features
/// `M x [B, s]`, `[M, B]` presence, the `[M, B]` part of it `shown` to the network,
/// and `[B]` labels, the classification loss with label `smoothing`.
pub fn imputation_losses(
    head: &ImputationHead,
    features: Vec<Tensor<2>>,
    present: &Tensor<2>,
    shown: &Tensor<2>,
    labels: Tensor<1, Int>,
    smoothing: f64,
) -> ImputationLosses {
    let s = features[0].dims()[1];
    let keep = feature_mask(present, s);
    let seen = feature_mask(shown, s);
    let x = Tensor::cat(features, 1) * keep.clone();
    let input = x.clone() * seen.clone();
    let out = head.impute(input.clone());
    let logits = head.classify(input.clone(), seen.clone(), &out);
    let ce = mean_ce(logits, labels, smoothing);
    let target = x.detach();
    match head.imputer {
        Imputer::Imagination => {
            let hidden = keep - seen.clone();
            let recon = masked_mse(out.reconstructed.clone(), target.clone(), hidden);
            let unseen = seen.clone().neg().add_scalar(1.0);
            let back = head.imagine_back(out.reconstructed * unseen);
            let cycle = masked_mse(back, target, seen);
            ImputationLosses {
                ce,
                recon,
                cycle: Some(cycle),
            }
        }
        _ => ImputationLosses {
            ce,
            recon: masked_mse(out.reconstructed, target, keep),
            cycle: None,
        },
    }
}

/// Which present modalities the network sees (`[M][B]`): each present one is hidden
/// with probability `hide`, and a sample that would see none sees one of its present
/// modalities (chosen at random). Draws depend only on the seed, the epoch and the
/// sample, so a resumed run hides the same ones.
pub fn shown_modalities(
    present: &[Vec<bool>],
    indices: &[usize],
    epoch: usize,
    seed: u64,
    hide: f64,
) -> Vec<Vec<bool>> {
    let m = present.len();
    let mut shown = vec![vec![false; indices.len()]; m];
    for (j, &i) in indices.iter().enumerate() {
        let mut rng = Rng::derive(seed ^ 0x1A7E_5EED, ((epoch as u64) << 40) ^ i as u64);
        let had: Vec<usize> = (0..m).filter(|&k| present[k][j]).collect();
        let draws: Vec<f64> = (0..m).map(|_| rng.uniform()).collect();
        let mut any = false;
        for &k in &had {
            shown[k][j] = draws[k] >= hide;
            any |= shown[k][j];
        }
        if !any && !had.is_empty() {
            shown[had[rng.below(had.len())]][j] = true;
        }
    }
    shown
}

/// AE, CRA or MMIN: encoders, imputation network and head trained together on the
/// classifier loss plus the weighted reconstruction (and cycle) losses.
pub struct Imputation {
    layout: HeadLayout,
    config: ImputeConfig,
    seed: u64,
}

impl Imputation {
    /// The method of `layout` (an imputation layout), hiding with draws from `seed`.
    pub fn new(layout: HeadLayout, config: &ImputeConfig, seed: u64) -> Self {
        Self {
            layout,
            config: config.clone(),
            seed,
        }
    }
}

impl Strategy for Imputation {
    fn head_layout(&self) -> HeadLayout {
        self.layout
    }

    fn loss_names(&self, _modalities: &[String]) -> Vec<String> {
        let mut names = vec!["joint".to_string(), "reconstruction".to_string()];
        if matches!(self.layout, HeadLayout::Imagination { .. }) {
            names.push("cycle".into());
        }
        names
    }

    fn train_batch(
        &mut self,
        model: MultimodalModel,
        batch: &TrainBatch<'_>,
        optimizer: &mut ModuleOptimizer,
        lr: f64,
    ) -> Result<(MultimodalModel, Vec<Option<Tensor<1>>>)> {
        let b = Batch::gather(batch.data, batch.indices, batch.device);
        let shown = shown_modalities(
            &b.present_host,
            batch.indices,
            batch.epoch,
            self.seed,
            self.config.hide,
        );
        let shown = flags_tensor(&shown, batch.device);
        let losses = imputation_losses(
            model.head.imputation("the imputation baselines")?,
            model.all_features(&b)?,
            &b.present,
            &shown,
            b.labels,
            batch.label_smoothing,
        );
        let mut total =
            losses.ce.clone() + losses.recon.clone().mul_scalar(self.config.recon_weight);
        if let Some(c) = &losses.cycle {
            total = total + c.clone().mul_scalar(self.config.cycle_weight);
        }
        let grads = GradientsParams::from_grads(total.backward(), &model);
        let model = optimizer.step(lr, model, grads);
        let mut reported = vec![
            Some(losses.ce.detach().inner()),
            Some(losses.recon.detach().inner()),
        ];
        if let Some(c) = losses.cycle {
            reported.push(Some(c.detach().inner()));
        }
        Ok((model, reported))
    }
}
