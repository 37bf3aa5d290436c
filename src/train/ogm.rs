//! OGM-GE (Peng et al., CVPR 2022): Concat training in which the dominant modality's
//! encoder gradients are scaled down on the fly, plus Gaussian noise on every encoder's
//! gradients for generalisation.
//!
//! Per batch, modality `m`'s score is `s_m = Σ_i softmax(h_m W_m + b / M)_i[y_i]` over
//! the samples that have it (its share of the Concat head), its discrepancy ratio
//! `ρ_m = s_m / mean_{j≠m} s_j` (for two modalities: `s_a / s_v`), and its encoder's
//! gradients are multiplied by `k_m = 1 - tanh(α ρ_m)` when `ρ_m > 1`, else 1. With
//! noise on, `N(0, std(g))` is added to each encoder parameter's gradient `g`.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::activation::softmax;
use burn::tensor::{Distribution, Tensor};
use serde::{Deserialize, Serialize};

use super::settings::invalid;
use super::strategy::{Strategy, TrainBatch, mean_ce};
use crate::data::Batch;
use crate::error::Result;
use crate::model::head::ConcatHead;
use crate::model::{HeadLayout, MultimodalModel};

/// OGM-GE's on-the-fly gradient modulation (Peng et al., CVPR 2022).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OgmConfig {
    /// `α` of the coefficient `1 - tanh(α ρ)`.
    pub alpha: f64,
    /// First epoch (1-based) with modulation.
    pub start_epoch: usize,
    /// Last epoch (1-based, inclusive) with modulation.
    pub end_epoch: usize,
    /// Generalisation enhancement: add `N(0, std(g))` noise to every encoder gradient.
    pub noise: bool,
}

impl Default for OgmConfig {
    fn default() -> Self {
        // OGM-GE tunes α per data set; 0.5 is a middle value. Modulation from the first
        // epoch to the 50th.
        Self {
            alpha: 0.5,
            start_epoch: 1,
            end_epoch: 50,
            noise: true,
        }
    }
}

impl OgmConfig {
    /// Checks every field; errors name the field.
    pub fn validate(&self) -> Result<()> {
        if !(self.alpha.is_finite() && self.alpha >= 0.0) {
            return invalid("ogm.alpha", "must be a finite number >= 0");
        }
        if self.start_epoch == 0 || self.end_epoch < self.start_epoch {
            return invalid(
                "ogm.start_epoch/end_epoch",
                "need 1 <= start_epoch <= end_epoch",
            );
        }
        Ok(())
    }
}

pub struct OgmGe {
    config: OgmConfig,
}

impl OgmGe {
    pub fn new(config: &OgmConfig) -> Self {
        Self {
            config: config.clone(),
        }
    }
}

/// Each modality's score `s_m` on a batch: `M x [B, s]` features (detached) of a Concat
/// model -> `[M]`.
pub fn scores(head: &ConcatHead, features: &[Tensor<2>], b: &Batch) -> Tensor<1> {
    let m = features.len();
    let [_, n] = b.present.dims();
    let w = head.linear.weight.val().detach(); // [M*s, C]
    let bias = head.linear.bias.as_ref().map(|p| p.val().detach());
    let per: Vec<Tensor<1>> = features
        .iter()
        .enumerate()
        .map(|(k, h)| {
            let s = h.dims()[1];
            let mut out = h.clone().detach().matmul(w.clone().narrow(0, k * s, s));
            if let Some(bias) = &bias {
                out = out + bias.clone().div_scalar(m as f32).unsqueeze_dim(0);
            }
            let p_true = softmax(out, 1)
                .gather(1, b.labels.clone().reshape([n, 1]))
                .reshape([n]);
            (p_true * b.present.clone().narrow(0, k, 1).reshape([n])).sum()
        })
        .collect();
    Tensor::cat(per, 0)
}

/// The coefficients `k_m` from the scores `[M]` -> `[M]`.
pub fn coefficients(scores: Tensor<1>, alpha: f64) -> Tensor<1> {
    let [m] = scores.dims();
    let others = (scores.clone().sum() - scores.clone()).div_scalar((m - 1) as f32);
    let rho = scores / others.clamp_min(1e-12);
    let dominant = rho.clone().greater_elem(1.0).float();
    (rho.mul_scalar(alpha).tanh() * dominant)
        .neg()
        .add_scalar(1.0)
}

/// Multiplies the gradients of one module's parameters by `k` (`[1]`) and adds noise.
struct Modulate<'a> {
    grads: &'a mut GradientsParams,
    k: Tensor<1>,
    noise: bool,
}

impl ModuleVisitor for Modulate<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some(g) = self.grads.remove::<D>(param.id) else {
            return;
        };
        let mut g = g * self.k.clone().unsqueeze::<D>();
        if self.noise {
            let n = g.shape().num_elements();
            let flat = g.clone().reshape([n]);
            let centred = flat.clone() - flat.mean();
            let std = (centred.clone() * centred).mean().sqrt().add_scalar(1e-8);
            let unit = Tensor::<D>::random(g.shape(), Distribution::Normal(0.0, 1.0), &g.device());
            g = g + unit * std.unsqueeze::<D>();
        }
        self.grads.register(param.id, g);
    }
}

impl Strategy for OgmGe {
    fn head_layout(&self) -> HeadLayout {
        HeadLayout::Concat
    }

    fn loss_names(&self, _modalities: &[String]) -> Vec<String> {
        vec!["joint".into()]
    }

    fn train_batch(
        &mut self,
        model: MultimodalModel,
        batch: &TrainBatch<'_>,
        optimizer: &mut ModuleOptimizer,
        lr: f64,
    ) -> Result<(MultimodalModel, Vec<Option<Tensor<1>>>)> {
        let b = Batch::gather(batch.data, batch.indices, batch.device);
        let features = model.all_features(&b)?;
        let logits = model.head.fused_logits(features.clone(), &b.present);
        let loss = mean_ce(logits, b.labels.clone(), batch.label_smoothing);
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        let epoch = batch.epoch + 1;
        if (self.config.start_epoch..=self.config.end_epoch).contains(&epoch) {
            let k = coefficients(
                scores(model.head.concat("OGM-GE")?, &features, &b),
                self.config.alpha,
            )
            .inner();
            for (m, encoder) in model.encoders.iter().enumerate() {
                encoder.visit(&mut Modulate {
                    grads: &mut grads,
                    k: k.clone().narrow(0, m, 1),
                    noise: self.config.noise,
                });
            }
        }
        let model = optimizer.step(lr, model, grads);
        Ok((model, vec![Some(loss.detach().inner())]))
    }
}
