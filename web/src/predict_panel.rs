//! Predicting one sample from an image, a caption and an audio clip (each may be
//! missing): each modality's probabilities, entropy and fusion weight, and the fused
//! class.

use leptos::prelude::*;
use leptos::task::spawn_local;
use mla::predict::SamplePrediction;
use web_sys::{DragEvent, HtmlInputElement, Url};

use crate::app::Ui;
use crate::protocol::{Message, Reply, Request};
use crate::{browser, capture, client};

/// A file chosen for prediction (an image or an audio clip): bytes and a URL to show
/// or play it.
#[derive(Clone, Debug, PartialEq)]
struct Picked {
    name: String,
    bytes: Vec<u8>,
    url: String,
}

fn pick(slot: RwSignal<Option<Picked>>, name: String, bytes: Vec<u8>, mime: &str) {
    let url = browser::object_url(&bytes, mime).unwrap_or_default();
    if let Some(old) = slot.get_untracked() {
        let _ = Url::revoke_object_url(&old.url);
    }
    slot.set(Some(Picked { name, bytes, url }));
}

fn pick_image(image: RwSignal<Option<Picked>>, name: String, bytes: Vec<u8>) {
    pick(image, name, bytes, "image/*");
}

fn bars(classes: &[String], probs: &[f32], testid: String) -> impl IntoView + use<> {
    let best = probs
        .iter()
        .enumerate()
        .fold(0, |b, (i, p)| if *p > probs[b] { i } else { b });
    let rows = classes
        .iter()
        .zip(probs)
        .enumerate()
        .map(|(i, (c, p))| {
            view! {
                <div class="bar" class:top=i == best>
                    <span class="bar-label">{c.clone()}</span>
                    <span class="bar-track"><span class="bar-fill" style:width=format!("{:.1}%", 100.0 * p)></span></span>
                    <span class="bar-value">{format!("{:.1}%", 100.0 * p)}</span>
                </div>
            }
        })
        .collect_view();
    view! { <div class="bars" data-testid=testid>{rows}</div> }
}

/// The result of the `run`-th prediction (the count lets a test wait for a new one).
fn show(run: u32, ms: f64, p: SamplePrediction) -> impl IntoView {
    let json = serde_json::to_string(&p).unwrap_or_default();
    let modalities = p
        .modalities
        .iter()
        .map(|m| {
            let body = if m.present {
                bars(&p.classes, &m.probabilities, format!("probs-{}", m.name)).into_any()
            } else {
                view! { <p class="hint">"missing: no weight in the fusion"</p> }.into_any()
            };
            view! {
                <div class="modality" data-testid=format!("modality-{}", m.name)>
                    <h4>
                        {m.name.clone()} " · λ = "
                        <span data-testid=format!("weight-{}", m.name)>{format!("{:.3}", m.weight)}</span>
                        {m.present.then(|| format!(" · entropy {:.3}", m.entropy))}
                    </h4>
                    {body}
                </div>
            }
        })
        .collect_view();
    view! {
        <div class="prediction" data-testid="prediction" data-run=run.to_string()>
            <p class="fused-class">
                "Fused prediction: " <strong data-testid="fused-class">{p.class_name().to_string()}</strong>
                <span class="hint" data-testid="predict-ms">{format!(" ({ms:.0} ms)")}</span>
            </p>
            {bars(&p.classes, &p.probabilities, "probs-fused".into())}
            <div class="modalities">{modalities}</div>
            <script type="application/json" data-testid="prediction-json">{json}</script>
        </div>
    }
}

#[component]
pub fn PredictPanel() -> impl IntoView {
    let ui = expect_context::<Ui>();
    let image = RwSignal::new(None::<Picked>);
    let audio = RwSignal::new(None::<Picked>);
    let text = RwSignal::new(String::new());
    let truth = RwSignal::new(None::<String>);
    let result = RwSignal::new(None::<(u32, f64, SamplePrediction)>);
    let runs = RwSignal::new(0u32);
    let error = RwSignal::new(None::<String>);
    let has_model = move || ui.model.with(|m| m.is_some());
    let shown = Shown {
        runs,
        result,
        error,
    };
    let live = RwSignal::new(false);
    let can_live = move || {
        has_model()
            && ui
                .model
                .with(|m| m.as_ref().is_some_and(|m| m.takes.image || m.takes.audio))
            && (ui.camera.get() || ui.microphone.get().is_some())
    };
    let try_sample = move |_| take_sample(image, text, truth, error);
    let takes_audio = move || ui.model.with(|m| m.as_ref().is_some_and(|m| m.takes.audio));
    let predict = move |_| request_prediction(image, audio, text, shown);
    let toggle_live = move |_| {
        if live.get_untracked() {
            live.set(false);
        } else {
            live.set(true);
            live_step(ui, live, text, shown);
        }
    };
    view! {
        <section class="panel" id="predict">
            <h2>"3. Predict"</h2>
            <div class="predict-inputs">
                <ImageDrop image truth error />
                <label class="field wide">
                    <span>"caption (may be empty)"</span>
                    <input type="text" data-testid="predict-text" placeholder="a small red square"
                        prop:value=move || text.get()
                        on:input=move |ev| text.set(event_target_value(&ev)) />
                </label>
                <Show when=takes_audio>
                    <AudioPick audio error />
                </Show>
            </div>
            <div class="buttons">
                <button data-testid="try-sample" disabled=move || ui.data.with(|d| d.is_none()) on:click=try_sample>
                    "Take a sample from the data"
                </button>
                <button data-testid="predict" disabled=move || !has_model() || live.get() on:click=predict>"Predict"</button>
                <button data-testid="live" disabled=move || !can_live() && !live.get() on:click=toggle_live
                    title="predict from the camera (and the microphone) again and again; start them under Data · Capture">
                    {move || if live.get() { "Stop live" } else { "Live (camera / microphone)" }}
                </button>
            </div>
            {move || truth.get().map(|t| view! { <p class="hint">"true label: " <strong>{t}</strong></p> })}
            {move || error.get().map(|e| view! { <p class="error" data-testid="predict-error">{e}</p> })}
            {move || result.get().map(|(n, ms, p)| show(n, ms, p))}
        </section>
    }
}

/// Asks the worker for a random row of the loaded data, exactly as its files are, and
/// shows it as the input.
fn take_sample(
    image: RwSignal<Option<Picked>>,
    text: RwSignal<String>,
    truth: RwSignal<Option<String>>,
    error: RwSignal<Option<String>>,
) {
    client::send(
        Request::TakeSample,
        Vec::new(),
        None,
        move |reply, bytes| match reply {
            Reply::Sample {
                image: name,
                text: caption,
                label,
            } => {
                match (name, bytes) {
                    (Some(name), Some(bytes)) => pick_image(image, name, bytes),
                    _ => image.set(None),
                }
                text.set(caption);
                truth.set(Some(label));
                error.set(None);
            }
            Reply::Error(e) => error.set(Some(e)),
            _ => {}
        },
    );
}

/// Where a prediction is shown: its count, result and error.
#[derive(Clone, Copy)]
struct Shown {
    runs: RwSignal<u32>,
    result: RwSignal<Option<(u32, f64, SamplePrediction)>>,
    error: RwSignal<Option<String>>,
}

/// Sends the chosen inputs to the worker and shows its prediction (numbered, timed).
fn request_prediction(
    image: RwSignal<Option<Picked>>,
    audio: RwSignal<Option<Picked>>,
    text: RwSignal<String>,
    shown: Shown,
) {
    let bytes = image.get_untracked().map(|p| p.bytes);
    let clip = audio.get_untracked().map(|p| p.bytes);
    send_prediction(bytes, clip, text.get_untracked(), shown, |_| {});
}

/// Asks the worker to predict from these inputs, shows the answer, then calls `then`
/// with whether it was a prediction.
fn send_prediction(
    image: Option<Vec<u8>>,
    clip: Option<Vec<u8>>,
    caption: String,
    shown: Shown,
    mut then: impl FnMut(bool) + 'static,
) {
    let caption = (!caption.trim().is_empty()).then_some(caption);
    let started = browser::now_ms();
    client::send_message(
        Message::new(0, Request::Predict { text: caption })
            .with_bytes(image)
            .with_audio(clip),
        move |reply, _| match reply {
            Reply::Prediction(p) => {
                shown.runs.update(|n| *n += 1);
                let ms = browser::now_ms() - started;
                shown.result.set(Some((shown.runs.get_untracked(), ms, p)));
                shown.error.set(None);
                then(true);
            }
            Reply::Error(e) => {
                shown.result.set(None);
                shown.error.set(Some(e));
                then(false);
            }
            _ => {}
        },
    );
}

/// Live prediction: a camera frame (and, with the microphone on and a model that
/// hears, a clip), predicted, shown, and again, until `live` is off or a step fails.
/// One prediction at a time: the rate is what the backend sustains.
fn live_step(ui: Ui, live: RwSignal<bool>, text: RwSignal<String>, shown: Shown) {
    spawn_local(async move {
        if !live.get_untracked() {
            return;
        }
        let takes = ui
            .model
            .with_untracked(|m| m.as_ref().map(|m| m.takes).unwrap_or_default());
        let frame = if takes.image && ui.camera.get_untracked() {
            Some(capture::grab_frame().await)
        } else {
            None
        };
        let clip = match ui.microphone.get_untracked().filter(|_| takes.audio) {
            Some(rate) => Some(record_for_model(ui, rate).await),
            None => None,
        };
        let (frame, clip) = match (frame.transpose(), clip.transpose()) {
            (Ok(f), Ok(c)) => (f, c),
            (Err(e), _) | (_, Err(e)) => {
                live.set(false);
                return shown.error.set(Some(e));
            }
        };
        send_prediction(frame, clip, text.get_untracked(), shown, move |ok| {
            if ok {
                live_step(ui, live, text, shown);
            } else {
                live.set(false);
            }
        });
    });
}

/// The image input: drop or choose a file, or clear it.
#[component]
fn ImageDrop(
    image: RwSignal<Option<Picked>>,
    truth: RwSignal<Option<String>>,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let load_image = move |file: web_sys::File| {
        spawn_local(async move {
            match browser::read_file(&file).await {
                Ok(bytes) => {
                    pick_image(image, file.name(), bytes);
                    truth.set(None);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let on_pick = move |ev: leptos::ev::Event| {
        let input: HtmlInputElement = event_target(&ev);
        if let Some(f) = input.files().and_then(|l| l.get(0)) {
            load_image(f);
        }
        input.set_value("");
    };
    let on_drop = move |ev: DragEvent| {
        ev.prevent_default();
        if let Some(f) = ev
            .data_transfer()
            .and_then(|d| d.files())
            .and_then(|l| l.get(0))
        {
            load_image(f);
        }
    };
    view! {
        <div class="dropzone small" data-testid="image-drop"
            on:dragover=move |ev: DragEvent| ev.prevent_default() on:drop=on_drop>
            {move || match image.get() {
                Some(p) => view! { <img src=p.url alt=p.name.clone() title=p.name /> }.into_any(),
                None => view! { <span>"drop an image"</span> }.into_any(),
            }}
            <label class="button">
                "Choose image"
                <input type="file" data-testid="predict-image" accept="image/png,image/jpeg,image/webp" on:change=on_pick />
            </label>
            <button on:click=move |_| image.set(None)>"No image"</button>
        </div>
    }
}

/// A clip from the microphone (on at `rate`) for the model: as long as the capture's
/// clips, resampled to the rate the model was trained at.
async fn record_for_model(ui: Ui, rate: u32) -> Result<Vec<u8>, String> {
    let model = ui
        .model
        .with_untracked(|m| m.as_ref().and_then(|m| m.audio_rate));
    let seconds = ui.clip_seconds.get_untracked();
    capture::record_wav(seconds, [rate, model.unwrap_or(rate)], |_| {}).await
}

/// The audio input of a model with an audio modality: choose a WAV clip or record one
/// from the microphone (played back here), or leave it out.
#[component]
fn AudioPick(audio: RwSignal<Option<Picked>>, error: RwSignal<Option<String>>) -> impl IntoView {
    let ui = expect_context::<Ui>();
    let recording = RwSignal::new(false);
    let on_record = move |_| {
        let Some(rate) = ui.microphone.get_untracked() else {
            return;
        };
        recording.set(true);
        spawn_local(async move {
            match record_for_model(ui, rate).await {
                Ok(bytes) => pick(audio, "recorded clip.wav".into(), bytes, "audio/wav"),
                Err(e) => error.set(Some(e)),
            }
            recording.set(false);
        });
    };
    let on_pick = move |ev: leptos::ev::Event| {
        let input: HtmlInputElement = event_target(&ev);
        if let Some(file) = input.files().and_then(|l| l.get(0)) {
            spawn_local(async move {
                match browser::read_file(&file).await {
                    Ok(bytes) => pick(audio, file.name(), bytes, "audio/wav"),
                    Err(e) => error.set(Some(e)),
                }
            });
        }
        input.set_value("");
    };
    view! {
        <div class="field wide audio-pick" data-testid="audio-pick">
            <span>"audio clip (WAV)"</span>
            {move || match audio.get() {
                Some(p) => view! {
                    <span data-testid="audio-name">{p.name.clone()}</span>
                    <audio controls src=p.url></audio>
                }.into_any(),
                None => view! { <span class="hint">"none: the audio modality is missing"</span> }.into_any(),
            }}
            <div class="buttons">
                <label class="button">
                    "Choose clip"
                    <input type="file" data-testid="predict-audio" accept="audio/wav,.wav" on:change=on_pick />
                </label>
                <button data-testid="record-audio"
                    disabled=move || ui.microphone.get().is_none() || recording.get()
                    title="start the microphone under Data · Capture (its clip length is this clip's)"
                    on:click=on_record>
                    {move || if recording.get() {
                        "recording…".to_string()
                    } else {
                        format!("Record {} s", ui.clip_seconds.get())
                    }}
                </button>
                <button on:click=move |_| audio.set(None)>"No audio"</button>
            </div>
        </div>
    }
}
