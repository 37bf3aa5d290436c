//! Training in the page: start/stop, progress, live charts, the final table.

use leptos::prelude::*;
use mla::EvalReport;
use mla::train::EpochMetrics;

use crate::app::{RunState, Ui};
use crate::chart::{LineChart, PALETTE, Series};
use crate::client;
use crate::protocol::{Reply, Request};
use crate::settings::SettingsForm;

/// Asks the engine to train on the loaded data and follows it: progress, a chart point
/// per epoch, then the test table and the new model.
fn start(ui: Ui) {
    let run = match ui.settings.with_untracked(|s| s.run_settings()) {
        Ok(c) => c,
        Err(e) => return ui.train_error.set(Some(e.to_string())),
    };
    ui.history.set(Vec::new());
    ui.test.set(None);
    ui.train_error.set(None);
    ui.step_seconds.set(None);
    ui.masked.set(None);
    ui.run.set(RunState::Preparing(
        "preparing the data and the model…".into(),
    ));
    client::send(
        Request::Train(Box::new(run)),
        Vec::new(),
        None,
        move |reply, _| match reply {
            Reply::Busy(what) => ui.run.set(RunState::Preparing(what)),
            Reply::Masked(reports) => ui.masked.set(Some(masked_summary(&reports))),
            Reply::Extracting {
                modality,
                done,
                total,
                per_second,
            } => ui.run.set(RunState::Extracting {
                modality,
                done,
                total,
                per_second,
            }),
            Reply::Step {
                epoch,
                epochs,
                step,
                steps,
            } => ui.run.set(RunState::Training {
                epoch,
                epochs,
                step,
                steps,
            }),
            Reply::Epoch {
                metrics,
                step_seconds,
            } => {
                ui.step_seconds.set(Some(step_seconds));
                ui.history.update(|h| h.push(metrics));
            }
            Reply::Finished {
                epochs,
                stopped,
                test,
                model,
            } => {
                if model.is_some() {
                    ui.model.set(model);
                }
                ui.test.set(test);
                ui.run.set(RunState::Finished { epochs, stopped });
            }
            Reply::Error(e) => {
                ui.train_error.set(Some(e));
                ui.run.set(RunState::Idle);
            }
            _ => {}
        },
    );
}

/// "missing after masking — train: image 31%, text 29% …" for the page.
fn masked_summary(reports: &[mla::data::MissingReport]) -> String {
    let parts: Vec<String> = reports
        .iter()
        .map(|r| {
            let cells: Vec<String> = r
                .modalities
                .iter()
                .zip(r.missing_fraction())
                .map(|(n, f)| format!("{n} {}", pct(f)))
                .collect();
            format!("{}: {}", r.split, cells.join(", "))
        })
        .collect();
    format!(
        "missing after masking (each sample keeps one modality) — {}",
        parts.join("; ")
    )
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

/// One series per modality: its training loss per epoch.
fn loss_series(h: &[EpochMetrics]) -> Vec<Series> {
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
}

/// One series per modality and one for the fused prediction: validation accuracy per
/// epoch.
fn accuracy_series(h: &[EpochMetrics]) -> Vec<Series> {
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
}

/// The progress bar's value (0 to 1) and the status line of a run's state.
fn progress_of(run: RunState) -> (f64, String) {
    match run {
        RunState::Idle => (0.0, String::new()),
        RunState::Preparing(what) => (0.0, what),
        RunState::Extracting {
            modality,
            done,
            total,
            per_second,
        } => (
            done as f64 / total.max(1) as f64,
            format!(
                "pretrained features of `{modality}`: {done}/{total} ({per_second:.1} per second)"
            ),
        ),
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
    }
}

#[component]
pub fn TrainPanel() -> impl IntoView {
    let ui = expect_context::<Ui>();
    let running = Signal::derive(move || ui.run.with(|r| r.is_running()));
    let can_start =
        move || !running.get() && ui.data.with(|d| d.is_some()) && ui.backend.with(|b| b.is_some());
    let losses = Signal::derive(move || ui.history.with(|h| loss_series(h)));
    let accuracy = Signal::derive(move || ui.history.with(|h| accuracy_series(h)));
    let progress = move || {
        let (value, text) = progress_of(ui.run.get());
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
            <SettingsForm settings=ui.settings disabled=running
                encoders=Signal::derive(move || ui.backend.with(|b| b.as_ref().map(|b| b.encoders.clone()))) />
            <div class="buttons">
                <button data-testid="start" disabled=move || !can_start() on:click=move |_| start(ui)>
                    "Start training"
                </button>
                <button data-testid="stop" disabled=move || !running.get() on:click=move |_| client::notify(Request::Stop)>
                    "Stop"
                </button>
            </div>
            <div class="progress">{progress}</div>
            {move || ui.masked.get().map(|m| view! { <p class="note" data-testid="masked">{m}</p> })}
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
