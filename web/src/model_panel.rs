//! Exporting the page's model as a file or as a web site (the widget with the model,
//! ready to host) and importing one (the core's format, shared with `mla-native`).

use leptos::prelude::*;
use leptos::task::spawn_local;
use mla::site::{MODEL_FILE, snippet};
use wasm_bindgen::JsCast;
use web_sys::HtmlInputElement;

use crate::app::Ui;
use crate::protocol::{Reply, Request};
use crate::{browser, client};

fn export(error: RwSignal<Option<String>>) {
    client::download(Request::Export, "model.mla", move |e| error.set(e));
}

/// Copies `text` to the clipboard (where the browser allows it); `done` hears how it
/// went.
fn copy(text: String, done: impl FnOnce(Result<(), String>) + 'static) {
    let write = || -> Result<js_sys::Promise, String> {
        let navigator = web_sys::window().ok_or("no window")?.navigator();
        let clipboard = js_sys::Reflect::get(&navigator, &"clipboard".into())
            .ok()
            .filter(|c| !c.is_undefined())
            .ok_or("this browser offers no clipboard here: select the text and copy it")?;
        let write: js_sys::Function = js_sys::Reflect::get(&clipboard, &"writeText".into())
            .map_err(browser::js_error)?
            .dyn_into()
            .map_err(|_| "the clipboard cannot write text".to_string())?;
        write
            .call1(&clipboard, &text.into())
            .map_err(browser::js_error)?
            .dyn_into()
            .map_err(|_| "the clipboard gave no promise".to_string())
    };
    match write() {
        Ok(promise) => spawn_local(async move {
            let result = wasm_bindgen_futures::JsFuture::from(promise).await;
            done(result.map(|_| ()).map_err(browser::js_error));
        }),
        Err(e) => done(Err(e)),
    }
}

/// "Export for a web site": the zip, and the two lines a host page pastes.
#[component]
fn SiteExport(error: RwSignal<Option<String>>) -> impl IntoView {
    let ui = expect_context::<Ui>();
    let exporting = RwSignal::new(false);
    let copied = RwSignal::new(None::<String>);
    let site = move || {
        ui.backend.with(|b| {
            b.as_ref()
                .map(|b| b.site.clone())
                .unwrap_or_else(|| Err("the engine is starting".into()))
        })
    };
    let disabled = move || {
        ui.model.with(|m| m.is_none())
            || ui.run.with(|r| r.is_running())
            || exporting.get()
            || site().is_err()
    };
    let on_export = move |_| {
        exporting.set(true);
        client::download(Request::ExportSite, "mla-site.zip", move |e| {
            exporting.set(false);
            error.set(e);
        });
    };
    let lines = snippet(MODEL_FILE);
    let to_copy = lines.clone();
    let on_copy = move |_| {
        copy(to_copy.clone(), move |r| {
            copied.set(Some(match r {
                Ok(()) => "copied".into(),
                Err(e) => e,
            }))
        })
    };
    let note = move || match site() {
        Ok(bytes) => format!(
            "The zip holds the widget ({:.1} MB), the model, the pretrained encoder files it              uses and an index.html showing it. Unpack it on any static web server and              paste these two lines where the classifier goes:",
            bytes as f64 / 1e6
        ),
        Err(why) => format!("No web site export: {why}"),
    };
    view! {
        <h3>"On a web site"</h3>
        <div class="buttons">
            <button data-testid="export-site" disabled=disabled on:click=on_export>
                {move || if exporting.get() { "Exporting…" } else { "Export for a web site" }}
            </button>
        </div>
        <p class="hint" data-testid="site-note">{note}</p>
        <pre class="snippet" data-testid="site-snippet">{lines}</pre>
        <button on:click=on_copy>"Copy the snippet"</button>
        <span class="hint" data-testid="site-copied">{move || copied.get()}</span>
    }
}

async fn import(ui: Ui, error: RwSignal<Option<String>>, file: web_sys::File) {
    let bytes = match browser::read_file(&file).await {
        Ok(b) => b,
        Err(e) => return error.set(Some(e)),
    };
    let name = file.name();
    client::send(
        Request::Import { name },
        Vec::new(),
        Some(bytes),
        move |reply, _| match reply {
            Reply::Model(info) => {
                ui.model.set(Some(info));
                error.set(None);
            }
            Reply::Error(e) => error.set(Some(e)),
            _ => {}
        },
    );
}

#[component]
pub fn ModelPanel() -> impl IntoView {
    let ui = expect_context::<Ui>();
    let error = RwSignal::new(None::<String>);
    let has_model = move || ui.model.with(|m| m.is_some());
    let running = move || ui.run.with(|r| r.is_running());
    let on_export = move |_| export(error);
    let on_import = move |ev: leptos::ev::Event| {
        let input: HtmlInputElement = event_target(&ev);
        let Some(file) = input.files().and_then(|l| l.get(0)) else {
            return;
        };
        input.set_value("");
        spawn_local(import(ui, error, file));
    };
    let info = move || {
        ui.model.get().map(|m| {
            view! {
                <p data-testid="model-info">
                    <strong>{m.origin}</strong> ": modalities " {m.modalities.join(", ")}
                    "; classes " {m.classes.join(", ")} " (" {m.written_by} ")"
                </p>
            }
        })
    };
    view! {
        <section class="panel" id="model">
            <h2>"4. Model file"</h2>
            {info}
            <div class="buttons">
                <button data-testid="export" disabled=move || !has_model() || running() on:click=on_export>
                    "Export model"
                </button>
                <label class="button">
                    "Import model"
                    <input type="file" data-testid="import" accept=".mla"
                        disabled=running on:change=on_import />
                </label>
            </div>
            <p class="hint">
                "Model files hold the architecture, the fusion rule, class names, "
                "preprocessing and weights; " <code>"mla-native predict --model"</code>
                " reads the same files."
            </p>
            <SiteExport error />
            {move || error.get().map(|e| view! { <p class="error" data-testid="model-error">{e}</p> })}
        </section>
    }
}
