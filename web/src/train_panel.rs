//! Training in the page: start/stop, progress, live charts, the final table.

use leptos::prelude::*;
use leptos::task::spawn_local;
use mla::io::ModelHeader;
use mla::model::ModelConfig;
use mla::{EvalReport, Trainer};

use crate::app::{RunState, Ui};
use crate::browser;
use crate::chart::{LineChart, PALETTE, Series};
use crate::model_panel::ModelInfo;
use crate::session::{self, ReadyModel};
use crate::settings::SettingsForm;

/// Trains on the loaded data until done or stopped, yielding to the page after every
/// step, then tests the best epoch's model and makes it the page's model.
async fn train(ui: Ui) -> Result<(), String> {
    let settings = ui.settings.get_untracked();
    let config = settings.train_config().map_err(|e| e.to_string())?;
    let data_config = settings.data_config().map_err(|e| e.to_string())?;
    // Let the "preparing" state paint before the (synchronous) preprocessing.
    browser::yield_now().await;
    // Built in place: the upload's files are not copied.
    let data = session::with_data(|d| d.map(|u| u.build(&data_config)))
        .ok_or("load data first (the built-in sample or an upload)")?
        .map_err(|e| e.to_string())?;
    let device = session::device();
    let mut trainer = Trainer::new(&ModelConfig::image_text(), &config, data.splits, &device)
        .map_err(|e| e.to_string())?;
    let steps = trainer.steps_per_epoch();
    let mut stopped = false;
    while !trainer.is_finished() {
        if ui.stop.get_untracked() {
            stopped = true;
            break;
        }
        let started = browser::now_ms();
        let mut step = 0;
        loop {
            ui.run.set(RunState::Training {
                epoch: trainer.epochs_done() + 1,
                epochs: config.epochs,
                step,
                steps,
            });
            browser::yield_now().await;
            if ui.stop.get_untracked() {
                break;
            }
            step += 1;
            let last = trainer.step().map_err(|e| e.to_string())?;
            trainer.sync().await.map_err(|e| e.to_string())?;
            if last {
                break;
            }
        }
        if ui.stop.get_untracked() {
            stopped = true;
            break;
        }
        // The epoch's reads wait for the device, so this time includes the GPU's work.
        let metrics = trainer.end_epoch().await.map_err(|e| e.to_string())?;
        ui.step_seconds
            .set(Some((browser::now_ms() - started) / 1000.0 / steps as f64));
        ui.history.update(|h| h.push(metrics));
    }
    let epochs = trainer.epochs_done();
    if epochs > 0 {
        let test = trainer.test().await.map_err(|e| e.to_string())?;
        let (model, best_epoch) = trainer.best_model();
        let header = ModelHeader::new(trainer.spec().clone(), config.fusion, Some(data.preprocess));
        ui.model.set(Some(ModelInfo::of(
            &header,
            format!("trained here (best validation epoch {best_epoch} of {epochs})"),
        )));
        session::set_model(ReadyModel { header, model });
        ui.test.set(Some(test));
    }
    ui.run.set(RunState::Finished { epochs, stopped });
    Ok(())
}

fn start(ui: Ui) {
    ui.stop.set(false);
    ui.history.set(Vec::new());
    ui.test.set(None);
    ui.train_error.set(None);
    ui.step_seconds.set(None);
    ui.run.set(RunState::Preparing);
    spawn_local(async move {
        if let Err(e) = train(ui).await {
            ui.train_error.set(Some(e));
            ui.run.set(RunState::Idle);
        }
    });
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// The final table, as `mla-native` prints it.
fn results(r: EvalReport) -> impl IntoView {
    let rows = r
        .modalities
        .iter()
        .zip(&r.unimodal)
        .map(|(n, a)| view! { <tr><td>{n.clone()}</td><td data-testid=format!("test-{n}")>{pct(*a)}</td></tr> })
        .collect_view();
    view! {
        <table class="results" data-testid="results">
            <caption>"Test accuracy (" {r.samples} " samples, best validation epoch)"</caption>
            <thead><tr><th>"modality"</th><th>"accuracy"</th></tr></thead>
            <tbody>
                {rows}
                <tr class="fused"><td>"fused"</td><td data-testid="test-fused">{pct(r.fused)}</td></tr>
            </tbody>
        </table>
    }
}

#[component]
pub fn TrainPanel() -> impl IntoView {
    let ui = expect_context::<Ui>();
    let running = Signal::derive(move || ui.run.with(|r| r.is_running()));
    let can_start =
        move || !running.get() && ui.data.with(|d| d.is_some()) && ui.backend.with(|b| b.is_some());
    let losses = Signal::derive(move || {
        ui.history.with(|h| {
            let names = h.first().map(|m| m.loss_names.clone()).unwrap_or_default();
            names
                .iter()
                .enumerate()
                .map(|(k, n)| Series {
                    name: n.clone(),
                    color: PALETTE[k % PALETTE.len()],
                    values: h.iter().map(|m| m.train_loss[k]).collect(),
                })
                .collect()
        })
    });
    let accuracy = Signal::derive(move || {
        ui.history.with(|h| {
            let names = h
                .first()
                .map(|m| m.valid.modalities.clone())
                .unwrap_or_default();
            let mut series: Vec<Series> = names
                .iter()
                .enumerate()
                .map(|(k, n)| Series {
                    name: n.clone(),
                    color: PALETTE[k % PALETTE.len()],
                    values: h.iter().map(|m| m.valid.unimodal[k]).collect(),
                })
                .collect();
            if !h.is_empty() {
                series.push(Series {
                    name: "fused".into(),
                    color: "#222",
                    values: h.iter().map(|m| m.valid.fused).collect(),
                });
            }
            series
        })
    });
    let progress = move || {
        let (value, text) = match ui.run.get() {
            RunState::Idle => (0.0, String::new()),
            RunState::Preparing => (0.0, "preparing the data and the model…".into()),
            RunState::Training {
                epoch,
                epochs,
                step,
                steps,
            } => (
                ((epoch - 1) * steps + step) as f64 / (epochs * steps).max(1) as f64,
                format!("epoch {epoch}/{epochs}, batch {step}/{steps}"),
            ),
            RunState::Finished { epochs, stopped } => (
                1.0,
                format!(
                    "{} {epochs} epoch{}",
                    if stopped { "stopped after" } else { "finished" },
                    if epochs == 1 { "" } else { "s" }
                ),
            ),
        };
        let speed = ui
            .step_seconds
            .get()
            .map(|s| format!(" · {:.3} s per step", s))
            .unwrap_or_default();
        view! {
            <progress max="1" value=value data-testid="progress"></progress>
            <span class="status" data-testid="status">{text}{speed}</span>
        }
    };
    view! {
        <section class="panel" id="train">
            <h2>"2. Train"</h2>
            <SettingsForm settings=ui.settings disabled=running />
            <div class="buttons">
                <button data-testid="start" disabled=move || !can_start() on:click=move |_| start(ui)>
                    "Start training"
                </button>
                <button data-testid="stop" disabled=move || !running.get() on:click=move |_| ui.stop.set(true)>
                    "Stop"
                </button>
            </div>
            <div class="progress">{progress}</div>
            {move || ui.train_error.get().map(|e| view! { <p class="error" data-testid="train-error">{e}</p> })}
            <div class="charts">
                <LineChart title="Training loss per modality" id="loss-chart" series=losses />
                <LineChart title="Validation accuracy" id="accuracy-chart" series=accuracy
                    fixed_y=(0.0, 1.0) y_format="%" />
            </div>
            {move || ui.test.get().map(results)}
        </section>
    }
}
