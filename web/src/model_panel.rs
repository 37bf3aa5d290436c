//! Exporting the page's model as a file and importing one (the core's format, shared
//! with `mla-native`).

use leptos::prelude::*;
use leptos::task::spawn_local;
use mla::io::{ModelHeader, load_model, save_model};
use web_sys::HtmlInputElement;

use crate::app::Ui;
use crate::browser;
use crate::session::{self, ReadyModel};

/// What the page shows about its model.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    pub origin: String,
    pub modalities: Vec<String>,
    pub classes: Vec<String>,
    pub written_by: String,
}

impl ModelInfo {
    pub fn of(header: &ModelHeader, origin: String) -> Self {
        Self {
            origin,
            modalities: header.spec.modalities.clone(),
            classes: header
                .preprocess
                .as_ref()
                .map(|p| p.classes.clone())
                .unwrap_or_default(),
            written_by: header.written_by.clone(),
        }
    }
}

async fn export() -> Result<(), String> {
    let m = session::model().ok_or("no model yet: train one or import one")?;
    let bytes = save_model(&m.header, &m.model)
        .await
        .map_err(|e| e.to_string())?;
    browser::download(&bytes, "model.mla")
}

async fn import(ui: Ui, file: web_sys::File) -> Result<(), String> {
    let bytes = browser::read_file(&file).await?;
    let name = file.name();
    let (header, model) =
        load_model(&bytes, &session::device()).map_err(|e| format!("{name}: {e}"))?;
    if header.preprocess.is_none() {
        return Err(format!(
            "{name}: this model was trained on numeric features (the native built-in data); \
             the page predicts from images and text, so it needs a model trained on a manifest"
        ));
    }
    ui.model.set(Some(ModelInfo::of(
        &header,
        format!("imported from {name}"),
    )));
    session::set_model(ReadyModel { header, model });
    Ok(())
}

#[component]
pub fn ModelPanel() -> impl IntoView {
    let ui = expect_context::<Ui>();
    let error = RwSignal::new(None::<String>);
    let has_model = move || ui.model.with(|m| m.is_some());
    let running = move || ui.run.with(|r| r.is_running());
    let on_export = move |_| {
        spawn_local(async move {
            error.set(export().await.err());
        })
    };
    let on_import = move |ev: leptos::ev::Event| {
        let input: HtmlInputElement = event_target(&ev);
        let Some(file) = input.files().and_then(|l| l.get(0)) else {
            return;
        };
        input.set_value("");
        spawn_local(async move {
            error.set(import(ui, file).await.err());
        });
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
