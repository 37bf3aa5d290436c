//! The page: header with the backend, then data, training, prediction and model panels.

use leptos::prelude::*;
use mla::{EpochMetrics, EvalReport};

use crate::data_panel::DataPanel;
use crate::model_panel::ModelPanel;
use crate::predict_panel::PredictPanel;
use crate::protocol::{DataSummary, EncoderInfo, ModelInfo, Reply, Request};
use crate::settings::Settings;
use crate::train_panel::TrainPanel;
use crate::{browser, client};

/// Where training stands.
#[derive(Clone, Debug, PartialEq)]
pub enum RunState {
    Idle,
    /// Preprocessing the data and building the model (what is being done).
    Preparing(String),
    /// Computing a pretrained encoder's features of every sample.
    Extracting {
        modality: String,
        done: usize,
        total: usize,
        per_second: f64,
    },
    Training {
        epoch: usize,
        epochs: usize,
        step: usize,
        steps: usize,
    },
    /// Training ended (all epochs, or stopped); the test split has been evaluated.
    Finished {
        epochs: usize,
        stopped: bool,
    },
}

impl RunState {
    pub fn is_running(&self) -> bool {
        matches!(
            self,
            RunState::Preparing(_) | RunState::Extracting { .. } | RunState::Training { .. }
        )
    }
}

/// The backend as the page shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct BackendInfo {
    pub name: String,
    pub fallback: Option<String>,
    /// Milliseconds from page start until the backend was ready (first interaction).
    pub ready_ms: f64,
    /// The pretrained encoders served with the page, or why there are none.
    pub encoders: Result<Vec<EncoderInfo>, String>,
    /// The widget's size in bytes, served for web site exports, or why it is not.
    pub site: Result<u64, String>,
}

/// An engine that stopped (a trap: out of memory, or a bug).
#[derive(Clone, Debug, PartialEq)]
pub struct EngineFailure {
    pub why: String,
    /// A fresh engine was started (with the data loaded again, where there was some).
    pub restarted: bool,
}

/// Engines restarted after a failure before the page gives up (a failure that comes
/// back at once would otherwise restart forever).
const RESTARTS: usize = 3;

/// Asks the engine to start its backend; the page shows it when ready.
fn start_backend(ui: Ui) {
    // A backend the address names wrongly is said (by the header), and `auto` runs.
    let backend = browser::backend_choice().unwrap_or_default();
    client::send(
        Request::Start {
            backend,
            encoders: browser::page_url("encoders/"),
            widget: browser::page_url("widget/"),
        },
        Vec::new(),
        None,
        move |reply, _| match reply {
            Reply::Ready {
                name,
                fallback,
                encoders,
                site,
            } => ui.backend.set(Some(BackendInfo {
                name,
                fallback,
                ready_ms: browser::now_ms(),
                encoders,
                site,
            })),
            Reply::Error(e) => ui.engine_error.set(Some(EngineFailure {
                why: e,
                restarted: false,
            })),
            _ => {}
        },
    );
}

/// After the engine failed: a fresh one, its backend started and the data loaded again;
/// what lived only in the old one (a trained or imported model, a run) is gone.
fn restart_engine(ui: Ui, why: String, restarts: &mut usize) {
    let restarted = *restarts < RESTARTS && client::restart().is_ok();
    ui.engine_error.set(Some(EngineFailure { why, restarted }));
    if ui.run.with_untracked(RunState::is_running) {
        ui.run.set(RunState::Idle);
    }
    if !restarted {
        return;
    }
    *restarts += 1;
    ui.backend.set(None);
    ui.model.set(None);
    start_backend(ui);
    crate::data_panel::reload(ui);
}

/// The page's shared reactive state (all handles are `Copy`).
#[derive(Clone, Copy)]
pub struct Ui {
    pub backend: RwSignal<Option<BackendInfo>>,
    pub data: RwSignal<Option<DataSummary>>,
    pub data_error: RwSignal<Option<String>>,
    pub data_busy: RwSignal<Option<String>>,
    /// Why the last data export failed.
    pub data_export_error: RwSignal<Option<String>>,
    /// Whether the camera is on (capture, live prediction).
    pub camera: RwSignal<bool>,
    /// The microphone's sample rate when it is on.
    pub microphone: RwSignal<Option<u32>>,
    /// Seconds per recorded clip: captured ones, and those Predict and Live record (a
    /// model hears clips as long as those it was trained on).
    pub clip_seconds: RwSignal<f64>,
    pub settings: RwSignal<Settings>,
    pub run: RwSignal<RunState>,
    pub history: RwSignal<Vec<EpochMetrics>>,
    /// Seconds per training step, measured over the last epoch.
    pub step_seconds: RwSignal<Option<f64>>,
    pub test: RwSignal<Option<EvalReport>>,
    pub train_error: RwSignal<Option<String>>,
    /// What the missing-modality masks of the current run did.
    pub masked: RwSignal<Option<String>>,
    pub model: RwSignal<Option<ModelInfo>>,
    /// The engine (the worker that computes) failed: why, and whether a fresh one took
    /// its place.
    pub engine_error: RwSignal<Option<EngineFailure>>,
}

impl Ui {
    fn new() -> Self {
        Self {
            backend: RwSignal::new(None),
            data: RwSignal::new(None),
            data_error: RwSignal::new(None),
            data_busy: RwSignal::new(None),
            data_export_error: RwSignal::new(None),
            camera: RwSignal::new(false),
            microphone: RwSignal::new(None),
            clip_seconds: RwSignal::new(1.0),
            settings: RwSignal::new(Settings::default()),
            run: RwSignal::new(RunState::Idle),
            history: RwSignal::new(Vec::new()),
            step_seconds: RwSignal::new(None),
            test: RwSignal::new(None),
            train_error: RwSignal::new(None),
            masked: RwSignal::new(None),
            model: RwSignal::new(None),
            engine_error: RwSignal::new(None),
        }
    }
}

#[component]
pub fn App() -> impl IntoView {
    let ui = Ui::new();
    provide_context(ui);
    let mut restarts = 0;
    let started = client::spawn(move |reply, _| match reply {
        Reply::Crashed(why) => restart_engine(ui, why, &mut restarts),
        Reply::Error(why) => ui.engine_error.set(Some(EngineFailure {
            why,
            restarted: false,
        })),
        _ => {}
    });
    let address_error = browser::backend_choice().err();
    match started {
        Ok(()) => start_backend(ui),
        Err(e) => ui.engine_error.set(Some(EngineFailure {
            why: format!("could not start the engine's worker: {e}"),
            restarted: false,
        })),
    }
    let badge = move || match ui.backend.get() {
        None => view! { <span class="badge" data-testid="backend">"starting…"</span> }.into_any(),
        Some(b) => view! {
            <span class="badge" data-testid="backend" data-ready-ms=format!("{:.0}", b.ready_ms)>
                {b.name.clone()}
            </span>
            {b.fallback.map(|why| view! {
                <p class="notice" data-testid="backend-notice">
                    "Running on the CPU backend compiled to WebAssembly: " {why}
                    ". Training works, only slower for large models."
                </p>
            })}
        }
        .into_any(),
    };
    view! {
        <header>
            <h1>"MLA in the browser"</h1>
            <p class="lede">
                "Multimodal Learning with Alternating Unimodal Adaptation (CVPR 2024): each "
                "modality trains its own encoder in turn through one shared head, and head "
                "gradient modification keeps one modality's steps from undoing another's. "
                "Everything runs in this page."
            </p>
            <div class="backend">"Backend: " {badge}</div>
            {address_error.map(|e| view! {
                <p class="error" data-testid="address-error">{e} "; `auto` runs instead."</p>
            })}
            {move || ui.engine_error.get().map(|e| view! {
                <p class="error" data-testid="engine-error" data-restarted=e.restarted.to_string()>
                    "The engine stopped: " {e.why} ". "
                    {if e.restarted {
                        "A fresh engine took its place, with the data loaded again; a model \
                         trained or imported before is gone (export models to keep them)."
                    } else {
                        "Reload the page to start again."
                    }}
                </p>
            })}
        </header>
        <main>
            <DataPanel />
            <TrainPanel />
            <PredictPanel />
            <ModelPanel />
        </main>
        <footer>
            "mla " {env!("CARGO_PKG_VERSION")} " · the same model files load in "
            <code>"mla-native"</code>
        </footer>
    }
}
