//! Exporting the page's model as a file and importing one (the core's format, shared
//! with `mla-native`).

use leptos::prelude::*;
use leptos::task::spawn_local;
use web_sys::HtmlInputElement;

use crate::app::Ui;
use crate::protocol::{Reply, Request};
use crate::{browser, client};

fn export(error: RwSignal<Option<String>>) {
    client::download(Request::Export, "model.mla", move |e| error.set(e));
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
            {move || error.get().map(|e| view! { <p class="error" data-testid="model-error">{e}</p> })}
        </section>
    }
}
