//! Loading data: the built-in sample, a picked folder or files, or a drop.

use std::cell::RefCell;

use leptos::prelude::*;
use leptos::task::spawn_local;
use mla::data::MAX_UPLOAD_BYTES;
use web_sys::{DragEvent, HtmlInputElement};

use crate::app::Ui;
use crate::browser::{self, PathFile};
use crate::capture::Capture;
use crate::client;
use crate::protocol::{DataSummary, Reply, Request};

/// Samples in the built-in sample.
const SAMPLE_SIZE: usize = 480;

thread_local! {
    /// The request that loaded the engine's data, with its files (handles to the
    /// user's files, not copies), so that a restarted engine can load it again.
    static LOADED: RefCell<Option<(Request, Vec<PathFile>)>> = const { RefCell::new(None) };
}

/// Asks the engine to load data; it builds the data set at once, so every file is
/// checked now, not at training time.
pub(crate) fn request(
    ui: Ui,
    make: impl FnOnce(mla::data::ManifestConfig) -> Request,
    files: Vec<PathFile>,
) {
    let config = match ui.settings.with_untracked(|s| s.data_config()) {
        Ok(c) => c,
        Err(e) => return ui.data_error.set(Some(e.to_string())),
    };
    send(ui, make(config), files);
}

fn send(ui: Ui, request: Request, files: Vec<PathFile>) {
    ui.data_busy.set(Some("checking the data…".into()));
    let again = (request.clone(), files.clone());
    client::send(request, files, None, move |reply, _| {
        match reply {
            Reply::Busy(m) => return ui.data_busy.set(Some(m)),
            Reply::Data(summary) => {
                ui.data.set(Some(summary));
                ui.data_error.set(None);
                LOADED.set(Some(again.clone()));
            }
            Reply::Error(e) => ui.data_error.set(Some(e)),
            _ => {}
        }
        ui.data_busy.set(None);
    });
}

/// Loads the data of the last successful load again (into a restarted engine).
pub fn reload(ui: Ui) {
    ui.data.set(None);
    if let Some((request, files)) = LOADED.with_borrow(Clone::clone) {
        send(ui, request, files);
    }
}

fn load_sample(ui: Ui) {
    request(
        ui,
        |data| Request::LoadSample {
            samples: SAMPLE_SIZE,
            data,
        },
        Vec::new(),
    );
}

/// Hands picked or dropped files to the engine, which reads and checks them.
async fn load(ui: Ui, files: impl Future<Output = Result<Vec<PathFile>, String>>) {
    ui.data_busy.set(Some("finding files…".into()));
    match files.await {
        Ok(files) => request(ui, |data| Request::LoadFiles { data }, files),
        Err(e) => {
            ui.data_busy.set(None);
            ui.data_error.set(Some(e));
        }
    }
}

/// Downloads the loaded data set as a zip, with the run the current settings make.
fn export_data(ui: Ui) {
    let run = match ui.settings.with_untracked(|s| s.run_settings()) {
        Ok(r) => r,
        Err(e) => return ui.data_export_error.set(Some(e.to_string())),
    };
    client::download(Request::ExportData(Box::new(run)), "data.zip", move |e| {
        ui.data_export_error.set(e)
    });
}

fn load_picked(ui: Ui, ev: &leptos::ev::Event) {
    let input: HtmlInputElement = event_target(ev);
    let files = input
        .files()
        .map(|l| browser::picked_files(&l))
        .unwrap_or_default();
    // Picking the same files again must fire `change` again.
    input.set_value("");
    spawn_local(load(ui, async { Ok(files) }));
}

#[component]
pub fn DataPanel() -> impl IntoView {
    let ui = expect_context::<Ui>();
    let dragging = RwSignal::new(false);
    let running = Signal::derive(move || ui.run.with(|r| r.is_running()));
    let on_drop = move |ev: DragEvent| {
        ev.prevent_default();
        dragging.set(false);
        if running.get_untracked() {
            return;
        }
        let Some(transfer) = ev.data_transfer() else {
            return;
        };
        let entries = browser::dropped_entries(&transfer);
        if entries.is_empty() {
            // No file-system entries (a synthetic drop): take its plain file list.
            let files = transfer
                .files()
                .map(|l| browser::picked_files(&l))
                .unwrap_or_default();
            spawn_local(load(ui, async { Ok(files) }));
        } else {
            spawn_local(load(ui, browser::walk_entries(entries)));
        }
    };
    let table = move || ui.data.get().map(summary);
    let export_error = ui.data_export_error;
    view! {
        <section class="panel" id="data">
            <h2>"1. Data"</h2>
            <div
                class="dropzone"
                class:dragging=move || dragging.get()
                data-testid="dropzone"
                on:dragover=move |ev: DragEvent| { ev.prevent_default(); dragging.set(true); }
                on:dragleave=move |_| dragging.set(false)
                on:drop=on_drop
            >
                <p>
                    "Drop a folder, or a manifest (" <code>".csv"</code> " or " <code>".jsonl"</code>
                    " with a " <code>"label"</code> " column and modality columns such as "
                    <code>"image"</code> ", " <code>"text"</code> ", " <code>"voice:audio"</code> ", "
                    <code>"feat:vector"</code> ") and its files, or a " <code>".zip"</code>
                    " of them (as " <em>"Export data"</em> " makes it) here, or:"
                </p>
                <div class="buttons">
                    <button data-testid="use-sample" disabled=move || running.get() on:click=move |_| load_sample(ui)>
                        "Use the built-in sample"
                    </button>
                    <label class="button">
                        "Choose folder"
                        <input type="file" data-testid="pick-folder" prop:webkitdirectory=true multiple
                            disabled=move || running.get() on:change=move |ev| load_picked(ui, &ev) />
                    </label>
                    <label class="button">
                        "Choose files"
                        <input type="file" data-testid="pick-files" multiple
                            accept=".csv,.jsonl,image/png,image/jpeg,image/webp,.wav,audio/wav,.npy,.zip"
                            disabled=move || running.get() on:change=move |ev| load_picked(ui, &ev) />
                    </label>
                </div>
                <p class="hint">
                    "Paths are relative to the manifest; an empty cell means "
                    "that modality is missing. Uploads up to "
                    {MAX_UPLOAD_BYTES / (1024 * 1024)} " MiB; files stay in this page."
                </p>
            </div>
            <Capture />
            {move || ui.data_busy.get().map(|m| view! { <p class="busy">{m}</p> })}
            {move || ui.data_error.get().map(|e| view! { <p class="error" data-testid="data-error">{e}</p> })}
            {table}
            <Show when=move || ui.data.with(|d| d.is_some())>
                <div class="buttons">
                    <button data-testid="export-data" disabled=move || running.get()
                        on:click=move |_| export_data(ui)>
                        "Export data (zip)"
                    </button>
                    <span class="hint">
                        "the manifest, its files and " <code>"config.json"</code>
                        ": unpacked, " <code>"mla-native train --config config.json"</code>
                        " trains as this page does"
                    </span>
                </div>
            </Show>
            {move || export_error.get().map(|e| view! { <p class="error" data-testid="export-data-error">{e}</p> })}
        </section>
    }
}

/// The loaded data's name, size and missing cells, and its samples per class and split.
fn summary(d: DataSummary) -> impl IntoView {
    let rows = d
        .classes
        .iter()
        .enumerate()
        .map(|(c, name)| {
            view! {
                <tr>
                    <td>{name.clone()}</td>
                    <td>{d.counts[0][c]}</td>
                    <td>{d.counts[1][c]}</td>
                    <td>{d.counts[2][c]}</td>
                </tr>
            }
        })
        .collect_view();
    let total = |k: usize| d.counts[k].iter().sum::<usize>();
    view! {
        <p data-testid="data-name">
            <strong>{d.name.clone()}</strong> ": " {d.samples} " samples, "
            {d.classes.len()} " classes; missing: "
            {d.missing.iter().map(|(m, n)| format!("{m} {n}")).collect::<Vec<_>>().join(", ")} "."
        </p>
        <table class="counts" data-testid="split-counts">
            <thead><tr><th>"class"</th><th>"train"</th><th>"validation"</th><th>"test"</th></tr></thead>
            <tbody>{rows}</tbody>
            <tfoot><tr><th>"all"</th><th>{total(0)}</th><th>{total(1)}</th><th>{total(2)}</th></tr></tfoot>
        </table>
    }
}
