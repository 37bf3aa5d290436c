//! Applying head gradient modification (Eq. 3-5) to the shared head's gradients.

use burn::nn::Linear;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::settings::invalid;
use crate::error::Result;
use crate::projection::Projection;

/// When the projection matrix is updated relative to projecting the gradient.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProjectWith {
    /// Algorithm 1: update `P` with this batch's mean feature, then project with it.
    #[default]
    Updated,
    /// Project with `P_{t-1}`, then update `P` with this batch's mean feature.
    Previous,
}

/// Head gradient modification (Eq. 3-5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HgmConfig {
    /// Project the head's gradient at all.
    pub enabled: bool,
    /// `α > 0` of Eq. 5: smaller locks seen directions harder.
    pub alpha: f64,
    /// Order of projection and update.
    pub project_with: ProjectWith,
    /// Also project the head's bias (as the weight of a constant input 1).
    pub project_bias: bool,
}

impl Default for HgmConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            alpha: 0.1,
            project_with: ProjectWith::Updated,
            project_bias: false,
        }
    }
}

impl HgmConfig {
    /// Checks every field; errors name the field.
    pub fn validate(&self) -> Result<()> {
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return invalid("hgm.alpha", "must be a finite number > 0");
        }
        Ok(())
    }
}

/// Keeps the projection matrix of one shared head and projects its gradients.
#[derive(Clone, Debug)]
pub struct HeadGradientModifier {
    projection: Projection,
    project_with: ProjectWith,
    project_bias: bool,
    steps: usize,
}

impl HeadGradientModifier {
    /// For a head reading `feature_dim` features; `P` lives on the plain `device`.
    pub fn new(config: &HgmConfig, feature_dim: usize, device: &Device) -> Self {
        let dim = feature_dim + usize::from(config.project_bias);
        Self {
            projection: Projection::new(dim, config.alpha as f32, device),
            project_with: config.project_with,
            project_bias: config.project_bias,
            steps: 0,
        }
    }

    /// The projection (for inspection and tests).
    pub fn projection(&self) -> &Projection {
        &self.projection
    }

    /// Steps taken so far (the first projects nothing).
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Continues from a checkpoint's `P` and step count.
    pub fn restore(&mut self, p: Tensor<2>, steps: usize) -> crate::error::Result<()> {
        self.projection.set_matrix(p)?;
        self.steps = steps;
        Ok(())
    }

    /// One step: update `P` with the batch-mean feature `h_mean` (`[s]`, no autodiff)
    /// and replace the head's weight gradient `[s, C]` by `P · ∇W` (and the bias
    /// gradient too when configured). The first step uses the plain gradient (Eq. 3).
    pub fn apply(&mut self, grads: &mut GradientsParams, head: &Linear, h_mean: Tensor<1>) {
        let h = if self.project_bias {
            let one = Tensor::<1>::ones([1], &h_mean.device());
            Tensor::cat(vec![h_mean, one], 0)
        } else {
            h_mean
        };
        let first = self.steps == 0;
        self.steps += 1;
        match self.project_with {
            ProjectWith::Updated => {
                self.projection.update(h);
                if !first {
                    self.project(grads, head);
                }
            }
            ProjectWith::Previous => {
                if !first {
                    self.project(grads, head);
                }
                self.projection.update(h);
            }
        }
    }

    fn project(&self, grads: &mut GradientsParams, head: &Linear) {
        let Some(gw) = grads.remove::<2>(head.weight.id) else {
            return;
        };
        let bias = head.bias.as_ref().filter(|_| self.project_bias);
        match bias.and_then(|b| grads.remove::<1>(b.id).map(|gb| (b.id, gb))) {
            Some((bias_id, gb)) => {
                let [s, c] = gw.dims();
                let joint = Tensor::cat(vec![gw, gb.reshape([1, c])], 0); // [s + 1, C]
                let projected = self.projection.project(joint);
                grads.register(head.weight.id, projected.clone().narrow(0, 0, s));
                grads.register(bias_id, projected.narrow(0, s, 1).reshape([c]));
            }
            None => grads.register(head.weight.id, self.projection.project(gw)),
        }
    }
}
