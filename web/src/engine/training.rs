//! The worker's training loop: epochs of steps, progress, stopping, the best model.

use super::*;

/// How long training may run between two turns of the worker's event loop: a Stop
/// waits at most this long (plus a step); each turn costs a clamped timer (~4 ms).
pub(super) const YIELD_MS: f64 = 200.0;

/// Runs one epoch's steps, sending progress and yielding to the worker's event loop
/// every [`YIELD_MS`]; `Ok(true)` when a stop was asked for.
pub(super) async fn epoch_steps(
    id: u32,
    trainer: &mut Trainer,
    epochs: usize,
    yielded: &mut f64,
) -> Result<bool, String> {
    let (epoch, steps) = (trainer.epochs_done() + 1, trainer.steps_per_epoch());
    for step in 0..steps {
        // A turn costs a few milliseconds (timers are clamped), as much as a small
        // model's step on the CPU backend: not one per step. Progress goes out at
        // each turn and each epoch's start, not per step: a message costs the
        // worker time too, and the page renders each one.
        let turn = browser::now_ms() - *yielded >= YIELD_MS;
        if turn || step == 0 {
            reply(
                id,
                Reply::Step {
                    epoch,
                    epochs,
                    step,
                    steps,
                },
            );
        }
        if turn {
            browser::yield_now().await;
            *yielded = browser::now_ms();
        }
        if STOP.get() {
            return Ok(true);
        }
        trainer.step().map_err(|e| e.to_string())?;
        // The device never runs more than a step ahead, so progress is real.
        trainer.sync().await.map_err(|e| e.to_string())?;
    }
    Ok(false)
}

/// Trains until done or stopped, giving the event loop a turn (a stop gets in) at least
/// every [`YIELD_MS`] milliseconds, then tests the best epoch's model and makes it the
/// engine's model.
pub(super) async fn train_loop(id: u32, run: RunSettings) -> Result<(), String> {
    let RunSettings {
        train: config,
        data,
        pretrained,
        missing,
    } = run;
    let device = device()?;
    let (mut data, model_config, files) = match pretrained {
        Some(size) => pretrained_data(id, &data, size, &device).await?,
        None => (
            built(&data)?,
            ModelConfig::for_manifest(),
            EncoderFiles::default(),
        ),
    };
    if !missing.is_none() {
        let reports = missing
            .apply(&mut data.splits, config.seed)
            .map_err(|e| e.to_string())?;
        reply(id, Reply::Masked(reports));
    }
    let mut trainer = Trainer::with_encoders(&model_config, &config, data.splits, &files, &device)
        .await
        .map_err(|e| e.to_string())?;
    let steps = trainer.steps_per_epoch();
    let mut stopped = false;
    let mut yielded = f64::NEG_INFINITY;
    while !trainer.is_finished() && !stopped {
        let started = browser::now_ms();
        stopped = epoch_steps(id, &mut trainer, config.epochs, &mut yielded).await?;
        if stopped {
            break;
        }
        // The epoch's reads wait for the device, so this time includes its work.
        let metrics = trainer.end_epoch().await.map_err(|e| e.to_string())?;
        let step_seconds = (browser::now_ms() - started) / 1000.0 / steps as f64;
        reply(
            id,
            Reply::Epoch {
                metrics,
                step_seconds,
            },
        );
    }
    let epochs = trainer.epochs_done();
    let (mut test, mut model) = (None, None);
    if epochs > 0 {
        test = Some(trainer.test().await.map_err(|e| e.to_string())?);
        let (best, best_epoch) = trainer.best_model();
        let header = ModelHeader::new(trainer.spec().clone(), config.fusion, Some(data.preprocess));
        // Predictions start from raw files: the frozen networks join the model.
        let best = best
            .load_networks(&header.spec, &files, Networks::Frozen, &device)
            .map_err(|e| e.to_string())?;
        let origin = format!("trained here (best validation epoch {best_epoch} of {epochs})");
        model = Some(ModelInfo::of(&header, origin));
        ENGINE.with_borrow_mut(|e| {
            e.model = Some(ReadyModel {
                header,
                model: best,
            })
        });
    }
    reply(
        id,
        Reply::Finished {
            epochs,
            stopped,
            test,
            model,
        },
    );
    Ok(())
}
