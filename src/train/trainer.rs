//! The training loop as a value the caller drives: `step` until the epoch ends, then
//! `end_epoch`. The browser yields between steps; the command line just loops.

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::tensor::{Bytes, Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::checkpoint::{Parts, Saved, decode, encode};
use super::settings::{Method, TrainConfig};
use super::{
    Alternating, Imputation, Joint, Late, OgmGe, Qmf, Strategy, StrategyState, TrainBatch,
    build_optimizer,
};
use crate::data::Splits;
use crate::device::read_floats;
use crate::error::{MlaError, Result};
use crate::eval::{EvalReport, evaluate};
use crate::io::{weights_from_bytes, weights_to_bytes};
use crate::model::pretrained::{EncoderFiles, TrainMode};
use crate::model::{HeadLayout, ModelConfig, ModelSpec, MultimodalModel, Networks};
use crate::rng::Rng;

/// What one epoch did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Learning rate used.
    pub lr: f64,
    /// Loss names (one per modality for MLA, `joint` for Concat).
    pub loss_names: Vec<String>,
    /// Mean training loss per name over the epoch's batches.
    pub train_loss: Vec<f64>,
    /// Validation accuracies after the epoch.
    pub valid: EvalReport,
    /// Whether this epoch is the best so far on validation (fused accuracy).
    pub best: bool,
}

struct Best {
    epoch: usize,
    fused: f64,
    model: MultimodalModel,
}

/// Trains one model on one data set.
pub struct Trainer {
    config: TrainConfig,
    spec: ModelSpec,
    splits: Splits,
    device: Device,
    autodiff: Device,
    model: MultimodalModel,
    optimizer: ModuleOptimizer,
    strategy: Box<dyn Strategy>,
    rng: Rng,
    epoch: usize,
    order: Vec<usize>,
    cursor: usize,
    /// Each loss's value at each step of the epoch so far (0-based step, `[1]`): read
    /// once at the epoch's end, for the mean and to find the step a divergence began.
    step_losses: Vec<Vec<(usize, Tensor<1>)>>,
    best: Option<Best>,
    history: Vec<EpochMetrics>,
}

impl Trainer {
    /// Validates the configuration against the data and builds the model on `device`
    /// (a plain device: autodiff is added here). A model with pretrained encoders that
    /// train needs their files: see [`Trainer::with_encoders`].
    pub fn new(
        model: &ModelConfig,
        config: &TrainConfig,
        splits: Splits,
        device: &Device,
    ) -> Result<Self> {
        let trainer = Self::build(model, config, splits, device)?;
        // Without files, a network that trains cannot start from its weights: an error
        // naming it, rather than training it from random ones.
        let no_files = EncoderFiles::default();
        (trainer.model.clone()).load_networks(
            &trainer.spec,
            &no_files,
            Networks::Trained,
            device,
        )?;
        Ok(trainer)
    }

    /// [`Trainer::new`], starting the pretrained networks that train (`train` other
    /// than `"frozen"`) from their weights in `files`, their features standardised with
    /// the training split's statistics (one pass over it). Frozen ones train on their
    /// cached features ([`crate::model::pretrained::extract_features`]).
    pub async fn with_encoders(
        model: &ModelConfig,
        config: &TrainConfig,
        splits: Splits,
        files: &EncoderFiles,
        device: &Device,
    ) -> Result<Self> {
        let mut trainer = Self::build(model, config, splits, device)?;
        trainer.model = trainer
            .model
            .clone()
            .load_networks(&trainer.spec, files, Networks::Trained, device)?
            .standardize_networks(&trainer.splits.train, device)
            .await?
            .train();
        Ok(trainer)
    }

    fn build(
        model: &ModelConfig,
        config: &TrainConfig,
        splits: Splits,
        device: &Device,
    ) -> Result<Self> {
        config.validate()?;
        splits.validate()?;
        let order = config.order(splits.train.num_modalities())?;
        let strategy: Box<dyn Strategy> = match config.method {
            Method::Mla => Box::new(Alternating::with_options(
                order,
                &config.hgm,
                &config.mla,
                &config.optimizer,
                model.feature_dim,
                device,
            )),
            Method::Joint => Box::new(Joint::new(HeadLayout::Concat)),
            Method::Sum => Box::new(Joint::new(HeadLayout::Sum)),
            Method::Film => Box::new(Joint::new(HeadLayout::Film {
                condition: config.condition_modality,
            })),
            Method::Bigated => Box::new(Joint::new(HeadLayout::Gated {
                gate: config.condition_modality,
            })),
            Method::Late => Box::new(Late::new()),
            Method::Ae | Method::Cra | Method::Mmin => {
                let i = &config.impute;
                let hidden = if i.hidden == 0 {
                    model.feature_dim
                } else {
                    i.hidden
                };
                let blocks = i.blocks;
                let layout = match config.method {
                    Method::Ae => HeadLayout::Autoencoder { hidden },
                    Method::Cra => HeadLayout::Cascade { blocks, hidden },
                    _ => HeadLayout::Imagination { blocks, hidden },
                };
                Box::new(Imputation::new(layout, i, config.seed))
            }
            Method::OgmGe => Box::new(OgmGe::new(&config.ogm)),
            Method::Qmf => Box::new(Qmf::new(
                &config.qmf,
                splits.train.num_modalities(),
                splits.train.len(),
                device,
            )),
        };
        let spec = ModelSpec::for_data(&splits.train, model, strategy.head_layout())?;
        // Sizes from the data (classes, vocabulary, input shapes) within bounds before
        // anything of their size is allocated.
        spec.validate()?;
        for ((name, encoder), data) in spec
            .modalities
            .iter()
            .zip(&spec.encoders)
            .zip(&splits.train.modalities)
        {
            if let Some(p) = encoder.pretrained()
                && p.train == TrainMode::Frozen
                && data.kind != p.feature_kind()
            {
                return Err(MlaError::Data(format!(
                    "modality `{name}`: its frozen `{}` encoder trains on the network's \
                     features; extract them first (`pretrained::extract_features`)",
                    encoder.name()
                )));
            }
        }
        let autodiff = device.clone().autodiff();
        // Built plain (identical on every backend), then given autodiff for training.
        let net = spec
            .init(config.seed, device)?
            .fit_statistics(&splits.train)
            .train();
        let losses = strategy.loss_names(&spec.modalities).len();
        let mut trainer = Self {
            optimizer: build_optimizer(&config.optimizer),
            config: config.clone(),
            spec,
            splits,
            device: device.clone(),
            autodiff,
            model: net,
            strategy,
            rng: Rng::derive(config.seed, 7),
            epoch: 0,
            order: Vec::new(),
            cursor: 0,
            step_losses: vec![Vec::new(); losses],
            best: None,
            history: Vec::new(),
        };
        trainer.shuffle();
        Ok(trainer)
    }

    fn shuffle(&mut self) {
        self.order = (0..self.splits.train.len()).collect();
        self.rng.shuffle(&mut self.order);
        self.cursor = 0;
    }

    /// The label smoothing the losses train with (`train.label_smoothing`, or what
    /// its automatic setting chose for the encoders).
    pub fn label_smoothing(&self) -> f64 {
        self.config.label_smoothing_for(&self.spec.encoders)
    }

    /// The architecture (saved with the weights).
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// The training configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The data.
    pub fn splits(&self) -> &Splits {
        &self.splits
    }

    /// The plain device evaluation runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Epochs completed so far.
    pub fn epochs_done(&self) -> usize {
        self.epoch
    }

    /// Whether all configured epochs are done.
    pub fn is_finished(&self) -> bool {
        self.epoch >= self.config.epochs
    }

    /// Batches per epoch.
    pub fn steps_per_epoch(&self) -> usize {
        self.splits.train.len().div_ceil(self.config.batch_size)
    }

    /// Batches done in the current epoch.
    pub fn steps_done(&self) -> usize {
        self.cursor.div_ceil(self.config.batch_size)
    }

    /// The model being trained (autodiff device).
    pub fn model(&self) -> &MultimodalModel {
        &self.model
    }

    /// Metrics of every finished epoch.
    pub fn history(&self) -> &[EpochMetrics] {
        &self.history
    }

    /// Trains on the next batch. Returns `true` when the epoch has no batch left (call
    /// [`Trainer::end_epoch`] then).
    pub fn step(&mut self) -> Result<bool> {
        if self.is_finished() {
            return Err(MlaError::config(
                "train.epochs",
                "training is already finished",
            ));
        }
        let n = self.order.len();
        if self.cursor < n {
            let step = self.steps_done();
            let end = (self.cursor + self.config.batch_size).min(n);
            let indices = self.order[self.cursor..end].to_vec();
            self.cursor = end;
            let batch = TrainBatch {
                data: &self.splits.train,
                indices: &indices,
                device: &self.autodiff,
                epoch: self.epoch,
                label_smoothing: self.label_smoothing(),
            };
            let lr = self.config.optimizer.lr_at(self.epoch);
            let model = self.model.clone();
            let (model, losses) =
                self.strategy
                    .train_batch(model, &batch, &mut self.optimizer, lr)?;
            self.model = model;
            for (k, loss) in losses.into_iter().enumerate() {
                if let Some(loss) = loss {
                    self.step_losses[k].push((step, loss));
                }
            }
        }
        Ok(self.cursor >= n)
    }

    /// Waits until the device has finished the steps taken so far (one tiny read).
    ///
    /// A GPU runs behind the caller; a page that awaits this after each step keeps the
    /// queue of pending work, and the memory it holds, to one step, and its progress
    /// shows steps done rather than steps queued.
    pub async fn sync(&self) -> Result<()> {
        if let Some((_, loss)) = self.step_losses.iter().flatten().last() {
            read_floats(loss.clone()).await?;
        }
        Ok(())
    }

    /// Finishes the epoch: mean losses, validation, best-epoch bookkeeping, reshuffle.
    /// Runs the rest of the epoch's batches first if some are left.
    pub async fn end_epoch(&mut self) -> Result<EpochMetrics> {
        while !self.step()? {}
        let lr = self.config.optimizer.lr_at(self.epoch);
        let names = self.strategy.loss_names(&self.spec.modalities);
        let mut train_loss = Vec::with_capacity(self.step_losses.len());
        // The first non-finite loss: (step, loss name, value).
        let mut diverged: Option<(usize, String, f32)> = None;
        for (k, steps) in self.step_losses.iter_mut().enumerate() {
            let steps = std::mem::take(steps);
            if steps.is_empty() {
                train_loss.push(f64::NAN);
                continue;
            }
            let (at, losses): (Vec<usize>, Vec<Tensor<1>>) = steps.into_iter().unzip();
            let values = read_floats(Tensor::cat(losses, 0)).await?;
            if let Some(i) = values.iter().position(|v| !v.is_finite())
                && diverged.as_ref().is_none_or(|(s, ..)| at[i] < *s)
            {
                diverged = Some((at[i], format!("loss `{}`", names[k]), values[i]));
            }
            let sum: f64 = values.iter().map(|&v| v as f64).sum();
            train_loss.push(sum / values.len() as f64);
        }
        let diverged = match diverged {
            Some((step, what, value)) => Some((
                what,
                value,
                format!(", step {} of {}", step + 1, self.steps_per_epoch()),
            )),
            // Finite losses with non-finite weights: the epoch's last updates overflowed.
            None if !crate::io::weights_finite(&self.model).await? => {
                Some(("weights".to_string(), f32::NAN, String::new()))
            }
            None => None,
        };
        if let Some((what, value, step)) = diverged {
            return Err(MlaError::Diverged {
                method: self.config.method.name().to_string(),
                what,
                value: value.to_string(),
                epoch: self.epoch + 1,
                step,
                lr,
            });
        }
        let mut valid_model = self.model.valid();
        if self.config.mla.calibrate {
            valid_model.temperatures = crate::calibration::calibrate(
                &valid_model,
                &self.splits.valid,
                self.config.batch_size,
                &self.device,
            )
            .await?;
        }
        let valid = evaluate(
            &valid_model,
            self.config.fusion,
            &self.splits.valid,
            self.config.batch_size,
            &self.device,
        )
        .await?;
        self.epoch += 1;
        let best = self.best.as_ref().is_none_or(|b| valid.fused > b.fused);
        if best {
            self.best = Some(Best {
                epoch: self.epoch,
                fused: valid.fused,
                model: valid_model,
            });
        }
        let metrics = EpochMetrics {
            epoch: self.epoch,
            lr,
            loss_names: names,
            train_loss,
            valid,
            best,
        };
        self.history.push(metrics.clone());
        self.shuffle();
        Ok(metrics)
    }

    /// The model of the best validation epoch (no autodiff), and that epoch; before
    /// any epoch ends, the current model.
    pub fn best_model(&self) -> (MultimodalModel, usize) {
        match &self.best {
            Some(b) => (b.model.clone(), b.epoch),
            None => (self.model.valid(), 0),
        }
    }

    /// Evaluates the best model on the test split (once, at the end of training).
    pub async fn test(&self) -> Result<EvalReport> {
        let (model, _) = self.best_model();
        evaluate(
            &model,
            self.config.fusion,
            &self.splits.test,
            self.config.batch_size,
            &self.device,
        )
        .await
    }

    /// Everything needed to go on after the last finished epoch as if training had
    /// never stopped ([`Trainer::resume`] reads it). Only between epochs, and not in
    /// a browser: Burn reads the optimizer's state synchronously.
    pub async fn checkpoint(&self) -> Result<Vec<u8>> {
        if self.cursor != 0 {
            return Err(MlaError::Checkpoint(
                "checkpoints are taken between epochs, not in the middle of one".into(),
            ));
        }
        let model = weights_to_bytes(&self.model).await?;
        let best = match &self.best {
            Some(b) => weights_to_bytes(&b.model).await?,
            None => Vec::new(),
        };
        let optimizer = self
            .optimizer
            .into_bytes()
            .map_err(|e| MlaError::Checkpoint(format!("optimizer: {e}")))?
            .to_vec();
        let state = self.strategy.state()?;
        let mut matrices = Vec::with_capacity(state.matrices.len());
        for m in state.matrices {
            let [rows, cols] = m.dims();
            matrices.push((rows, cols, read_floats(m).await?));
        }
        let saved = Saved {
            config: self.config.clone(),
            spec: self.spec.clone(),
            epoch: self.epoch,
            rng: self.rng.clone(),
            order: self.order.clone(),
            history: self.history.clone(),
            best: self.best.as_ref().map(|b| (b.epoch, b.fused)),
            best_temperatures: self
                .best
                .as_ref()
                .map(|b| b.model.temperatures.clone())
                .unwrap_or_default(),
            matrices,
            counters: state.counters,
            optimizers: state.optimizers,
        };
        encode(&Parts {
            saved,
            model,
            best,
            optimizer,
        })
    }

    /// A trainer continuing from [`Trainer::checkpoint`]'s bytes. The run must be the
    /// same: its training configuration (only `epochs` and the learning rate may
    /// differ), architecture and training split.
    pub fn resume(
        model: &ModelConfig,
        config: &TrainConfig,
        splits: Splits,
        device: &Device,
        checkpoint: &[u8],
    ) -> Result<Self> {
        let (
            Parts {
                saved,
                model: weights,
                best,
                optimizer,
            },
            format,
        ) = decode(checkpoint)?;
        // Every weight, pretrained networks that train included, comes from the checkpoint.
        let mut trainer = Self::build(model, config, splits, device)?;
        let differs = |what: &str| {
            MlaError::Checkpoint(format!("it was written by a run with another {what}"))
        };
        // Only the epoch count and the learning rate may change: to train longer, or to
        // go on with a lower rate after a divergence.
        let mut same_config = TrainConfig {
            epochs: config.epochs,
            ..saved.config.clone()
        };
        same_config.optimizer.lr = config.optimizer.lr;
        if same_config != *config {
            return Err(differs("training configuration"));
        }
        if saved.spec != trainer.spec {
            return Err(differs("architecture or data"));
        }
        let mut order = saved.order.clone();
        order.sort_unstable();
        if order != (0..trainer.splits.train.len()).collect::<Vec<_>>() {
            return Err(differs("training split"));
        }
        if saved.epoch > config.epochs {
            return Err(MlaError::Checkpoint(format!(
                "it has {} epochs done, more than the {} asked for",
                saved.epoch, config.epochs
            )));
        }
        trainer.model = weights_from_bytes(&trainer.spec, &weights, format, device)?.train();
        trainer.best = match saved.best {
            Some((epoch, fused)) => {
                let mut model = weights_from_bytes(&trainer.spec, &best, format, device)?;
                model.temperatures = saved.best_temperatures.clone();
                Some(Best {
                    epoch,
                    fused,
                    model,
                })
            }
            None => None,
        };
        trainer.optimizer = build_optimizer(&config.optimizer)
            .from_bytes(Bytes::from_bytes_vec(optimizer))
            .map_err(|e| MlaError::Checkpoint(format!("optimizer: {e}")))?;
        let matrices = saved
            .matrices
            .into_iter()
            .map(|(rows, cols, values)| {
                Tensor::from_data(TensorData::new(values, [rows, cols]), device)
            })
            .collect();
        trainer.strategy.restore(StrategyState {
            matrices,
            counters: saved.counters,
            optimizers: saved.optimizers,
        })?;
        trainer.rng = saved.rng;
        trainer.order = saved.order;
        trainer.cursor = 0;
        trainer.epoch = saved.epoch;
        trainer.history = saved.history;
        Ok(trainer)
    }
}
