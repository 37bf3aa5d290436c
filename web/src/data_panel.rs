//! Loading data: the built-in sample, a picked folder or files, or a drop.

use leptos::prelude::*;
use leptos::task::spawn_local;
use mla::data::{ImageTextData, MAX_UPLOAD_BYTES, Upload};
use web_sys::{DragEvent, HtmlInputElement};

use crate::app::Ui;
use crate::browser::{self, PathFile};
use crate::session;

/// Samples in the built-in sample.
const SAMPLE_SIZE: usize = 480;

/// What the page shows about loaded data.
#[derive(Clone, Debug, PartialEq)]
pub struct DataSummary {
    pub name: String,
    pub samples: usize,
    pub classes: Vec<String>,
    /// Per split (train, validation, test): samples per class.
    pub counts: [Vec<usize>; 3],
    /// Samples without an image, without a text.
    pub missing: [usize; 2],
}

fn summarize(name: &str, data: &ImageTextData) -> DataSummary {
    let s = &data.splits;
    let all = [&s.train, &s.valid, &s.test];
    let missing = |m: usize| {
        all.iter()
            .map(|d| d.modalities[m].present.iter().filter(|p| !**p).count())
            .sum()
    };
    DataSummary {
        name: name.to_string(),
        samples: all.iter().map(|d| d.len()).sum(),
        classes: data.preprocess.classes.clone(),
        counts: [
            s.train.class_counts(),
            s.valid.class_counts(),
            s.test.class_counts(),
        ],
        missing: [missing(0), missing(1)],
    }
}

/// Builds the data set once (to check every file now, not at training time) and
/// keeps the upload for training and predictions.
fn accept(ui: Ui, name: &str, upload: Upload) {
    let built = ui
        .settings
        .with_untracked(|s| s.data_config())
        .and_then(|c| upload.build(&c));
    match built {
        Ok(data) => {
            ui.data.set(Some(summarize(name, &data)));
            ui.data_error.set(None);
            session::set_data(upload);
        }
        Err(e) => ui.data_error.set(Some(e.to_string())),
    }
}

fn load_sample(ui: Ui) {
    match Upload::sample(SAMPLE_SIZE, 0) {
        Ok(u) => accept(ui, "built-in sample: coloured shapes with captions", u),
        Err(e) => ui.data_error.set(Some(e.to_string())),
    }
}

/// Reads and checks files (picked, or found under dropped entries).
async fn load(ui: Ui, files: impl Future<Output = Result<Vec<PathFile>, String>>) {
    ui.data_busy.set(Some("reading files…".into()));
    let result = match files.await {
        Ok(files) => {
            ui.data_busy
                .set(Some(format!("reading {} files…", files.len())));
            browser::read_upload(&files).await
        }
        Err(e) => Err(e),
    };
    let result = result.and_then(|set| {
        let n = set.len();
        Upload::new(set).map(|u| (n, u)).map_err(|e| e.to_string())
    });
    ui.data_busy.set(None);
    match result {
        Ok((n, upload)) => {
            let name = format!("{} ({n} files)", upload.manifest_path);
            accept(ui, &name, upload);
        }
        Err(e) => ui.data_error.set(Some(e)),
    }
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
    let table = move || {
        ui.data.get().map(|d| {
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
                    {d.classes.len()} " classes; " {d.missing[0]} " without an image, "
                    {d.missing[1]} " without a text."
                </p>
                <table class="counts" data-testid="split-counts">
                    <thead><tr><th>"class"</th><th>"train"</th><th>"validation"</th><th>"test"</th></tr></thead>
                    <tbody>{rows}</tbody>
                    <tfoot><tr><th>"all"</th><th>{total(0)}</th><th>{total(1)}</th><th>{total(2)}</th></tr></tfoot>
                </table>
            }
        })
    };
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
                    " with columns " <code>"image"</code> ", " <code>"text"</code> ", "
                    <code>"label"</code> ") and its images here, or:"
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
                            accept=".csv,.jsonl,image/png,image/jpeg,image/webp"
                            disabled=move || running.get() on:change=move |ev| load_picked(ui, &ev) />
                    </label>
                </div>
                <p class="hint">
                    "Image paths are relative to the manifest; an empty image or text cell means "
                    "that modality is missing. Uploads up to "
                    {MAX_UPLOAD_BYTES / (1024 * 1024)} " MiB; files stay in this page."
                </p>
            </div>
            {move || ui.data_busy.get().map(|m| view! { <p class="busy">{m}</p> })}
            {move || ui.data_error.get().map(|e| view! { <p class="error" data-testid="data-error">{e}</p> })}
            {table}
        </section>
    }
}
