//! Capturing samples in the page: classes by name, camera frames and microphone clips
//! recorded while a button is held, a caption per class; then a data set of them, on
//! their own or added to the loaded upload. The camera and the microphone themselves
//! are `web/capture.js` (getUserMedia, Web Audio); the WAV files are the core's.

use js_sys::{Array, Float32Array, Uint8Array};
use leptos::prelude::*;
use leptos::task::spawn_local;
use mla::data::formats::wav::{encode_wav_f32, resample};
use mla::data::{Captured, FileSet, Upload};
use wasm_bindgen::prelude::*;
use web_sys::{File, Url};

use crate::app::Ui;
use crate::browser::{self, PathFile, js_error};
use crate::data_panel;
use crate::protocol::Request;

#[wasm_bindgen(module = "/capture.js")]
extern "C" {
    #[wasm_bindgen(catch, js_name = openCamera)]
    async fn open_camera_js(video_id: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = closeCamera)]
    fn close_camera();
    #[wasm_bindgen(catch, js_name = grabFrame)]
    async fn grab_frame_js(side: u32) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = openMicrophone)]
    async fn open_microphone_js() -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = closeMicrophone)]
    fn close_microphone();
    #[wasm_bindgen(catch, js_name = recordClip)]
    async fn record_clip_js(
        seconds: f64,
        on_level: &Closure<dyn FnMut(f64)>,
    ) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = sleep)]
    async fn sleep_js(ms: u32);
}

/// The side of a captured frame (the data set resizes it to its image size).
pub const FRAME_SIDE: u32 = 128;
/// Time between frames while the button is held.
const FRAME_MS: u32 = 150;
/// The id of the camera's preview, which frames are taken from.
const PREVIEW: &str = "camera-preview";

/// A PNG of the camera's picture ([`FRAME_SIDE`] square).
pub async fn grab_frame() -> Result<Vec<u8>, String> {
    let bytes = grab_frame_js(FRAME_SIDE)
        .await
        .map_err(|e| format!("camera: {}", js_error(e)))?;
    Ok(Uint8Array::new(&bytes).to_vec())
}

/// A WAV clip of `seconds` from the microphone (at its `rate`), resampled to `to` Hz
/// when given (a model takes clips at the rate it was trained at); `level` hears the
/// loudness (RMS, 0-1) as it records.
pub async fn record_wav(
    seconds: f64,
    [rate, to]: [u32; 2],
    level: impl FnMut(f64) + 'static,
) -> Result<Vec<u8>, String> {
    let on_level = Closure::<dyn FnMut(f64)>::new(level);
    let samples = record_clip_js(seconds, &on_level)
        .await
        .map_err(|e| format!("microphone: {}", js_error(e)))?;
    let samples = resample(&Float32Array::new(&samples).to_vec(), rate, to);
    Ok(encode_wav_f32(&samples, to))
}

/// A captured frame or clip: its bytes and a URL to show or play it.
#[derive(Clone, Debug, PartialEq)]
struct Shot {
    id: u32,
    bytes: Vec<u8>,
    url: String,
}

/// One class's captures.
#[derive(Clone, Debug, Default, PartialEq)]
struct Class {
    name: String,
    frames: Vec<Shot>,
    clips: Vec<Shot>,
    caption: String,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Frame,
    Clip,
}

/// The capture's state, shared by its controls.
#[derive(Clone, Copy)]
struct State {
    ui: Ui,
    classes: RwSignal<Vec<Class>>,
    /// What is being recorded while a button is held: class and kind.
    holding: RwSignal<Option<(usize, Kind)>>,
    level: RwSignal<f64>,
    clip_seconds: RwSignal<f64>,
    error: RwSignal<Option<String>>,
    next_id: RwSignal<u32>,
}

impl State {
    fn push(self, class: usize, kind: Kind, bytes: Vec<u8>) {
        let mime = if kind == Kind::Frame {
            "image/png"
        } else {
            "audio/wav"
        };
        let url = browser::object_url(&bytes, mime).unwrap_or_default();
        let id = self.next_id.get_untracked();
        self.next_id.set(id + 1);
        self.classes.update(|cs| {
            if let Some(c) = cs.get_mut(class) {
                let shot = Shot { id, bytes, url };
                match kind {
                    Kind::Frame => c.frames.push(shot),
                    Kind::Clip => c.clips.push(shot),
                }
            }
        });
    }

    fn remove(self, class: usize, kind: Kind, id: u32) {
        self.classes.update(|cs| {
            if let Some(c) = cs.get_mut(class) {
                let list = match kind {
                    Kind::Frame => &mut c.frames,
                    Kind::Clip => &mut c.clips,
                };
                if let Some(k) = list.iter().position(|s| s.id == id) {
                    let _ = Url::revoke_object_url(&list.remove(k).url);
                }
            }
        });
    }

    /// Records frames or clips into `class` for as long as its button is held (at
    /// least one).
    fn hold(self, class: usize, kind: Kind) {
        if self.holding.get_untracked().is_some() {
            return;
        }
        self.holding.set(Some((class, kind)));
        spawn_local(async move {
            loop {
                let shot = match kind {
                    Kind::Frame => grab_frame().await,
                    Kind::Clip => match self.ui.microphone.get_untracked() {
                        Some(rate) => {
                            let level = self.level;
                            record_wav(self.clip_seconds.get_untracked(), [rate, rate], move |l| {
                                level.set(l)
                            })
                            .await
                        }
                        None => Err("start the microphone first".into()),
                    },
                };
                match shot {
                    Ok(bytes) => self.push(class, kind, bytes),
                    Err(e) => {
                        self.error.set(Some(e));
                        break;
                    }
                }
                if kind == Kind::Frame {
                    sleep_js(FRAME_MS).await;
                }
                if self.holding.get_untracked() != Some((class, kind)) {
                    break;
                }
            }
            // A loop that ends on an error lets go; one that ended because the button
            // was let go must not clear the recording another button has started since.
            if self.holding.get_untracked() == Some((class, kind)) {
                self.holding.set(None);
            }
            self.level.set(0.0);
        });
    }

    /// The captures as samples (per class, the k-th frame with the k-th clip and the
    /// class's caption) and their files, by path.
    fn gather(self) -> (Vec<Captured>, Vec<(String, Vec<u8>)>) {
        let mut samples = Vec::new();
        let mut files = Vec::new();
        self.classes.with_untracked(|cs| {
            for (k, c) in cs.iter().enumerate() {
                for j in 0..c.frames.len().max(c.clips.len()) {
                    let mut sample = Captured {
                        label: c.name.clone(),
                        caption: (!c.caption.trim().is_empty()).then(|| c.caption.clone()),
                        ..Captured::default()
                    };
                    if let Some(s) = c.frames.get(j) {
                        let path = format!("class{k}/frame{}.png", s.id);
                        files.push((path.clone(), s.bytes.clone()));
                        sample.image = Some(path);
                    }
                    if let Some(s) = c.clips.get(j) {
                        let path = format!("class{k}/clip{}.wav", s.id);
                        files.push((path.clone(), s.bytes.clone()));
                        sample.audio = Some(path);
                    }
                    samples.push(sample);
                }
            }
        });
        (samples, files)
    }

    /// Hands the captures to the engine as a data set, alone or (`join`) added to the
    /// loaded upload.
    fn use_captured(self, join: bool) {
        let (samples, bytes) = self.gather();
        let files: Result<Vec<PathFile>, String> = bytes
            .into_iter()
            .map(|(path, bytes)| {
                let parts = Array::of1(&Uint8Array::from(bytes.as_slice()));
                let name = path.rsplit('/').next().unwrap_or(&path).to_string();
                let f = File::new_with_u8_array_sequence(&parts, &name).map_err(js_error)?;
                Ok((path, f))
            })
            .collect();
        let files = match files {
            Ok(f) => f,
            Err(e) => return self.error.set(Some(e)),
        };
        self.error.set(None);
        data_panel::request(
            self.ui,
            move |data| Request::LoadCaptured {
                data,
                samples,
                join,
            },
            files,
        );
    }

    /// Downloads the captures as a data-set zip (any number of classes), which
    /// [`State::load`] takes back to go on capturing, in this page or another.
    fn save(self) {
        let (samples, bytes) = self.gather();
        let mut files = FileSet::new();
        for (path, b) in bytes {
            files.insert(&path, b);
        }
        let zip = Upload::with_captured(None, &samples, files)
            .and_then(|u| u.to_zip(&[]))
            .map_err(|e| e.to_string())
            .and_then(|zip| browser::download(&zip, "captures.zip"));
        self.error.set(zip.err());
    }

    /// Adds the samples of a zip (as [`State::save`] or *Export data* writes it) to the
    /// captures, class by class.
    async fn load(self, file: File) {
        let loaded = async {
            let bytes = browser::read_file(&file).await?;
            let mut set = FileSet::new();
            set.insert_zip(&file.name(), &bytes)
                .and_then(|()| Upload::new(set))
                .and_then(|u| u.as_captured())
                .map_err(|e| e.to_string())
        };
        let samples = match loaded.await {
            Ok(s) => s,
            Err(e) => return self.error.set(Some(e)),
        };
        for s in samples {
            let k = match self
                .classes
                .with_untracked(|cs| cs.iter().position(|c| c.name == s.label))
            {
                Some(k) => k,
                None => {
                    self.classes.update(|cs| {
                        cs.push(Class {
                            name: s.label.clone(),
                            ..Class::default()
                        })
                    });
                    self.classes.with_untracked(Vec::len) - 1
                }
            };
            if let Some(caption) = s.caption {
                self.classes.update(|cs| {
                    if cs[k].caption.is_empty() {
                        cs[k].caption = caption;
                    }
                });
            }
            if let Some(b) = s.image {
                self.push(k, Kind::Frame, b);
            }
            if let Some(b) = s.audio {
                self.push(k, Kind::Clip, b);
            }
        }
        self.error.set(None);
    }
}

async fn start_camera(ui: Ui, error: RwSignal<Option<String>>) {
    match open_camera_js(PREVIEW).await {
        Ok(_) => {
            ui.camera.set(true);
            error.set(None);
        }
        Err(e) => error.set(Some(format!(
            "camera: {} (the rest of the page works without it)",
            js_error(e)
        ))),
    }
}

async fn start_microphone(ui: Ui, error: RwSignal<Option<String>>) {
    match open_microphone_js().await {
        Ok(rate) => {
            ui.microphone
                .set(Some(rate.as_f64().unwrap_or(48_000.0) as u32));
            error.set(None);
        }
        Err(e) => error.set(Some(format!(
            "microphone: {} (the rest of the page works without it)",
            js_error(e)
        ))),
    }
}

/// A class's row: its name, counts, hold-to-record buttons, caption and captures.
fn class_row(s: State, k: usize, c: &Class) -> impl IntoView + use<> {
    let ui = s.ui;
    let hold_button = move |kind: Kind, label: &'static str, testid: String| {
        let busy = move || s.holding.get().is_some_and(|h| h != (k, kind));
        let on = move || s.holding.get() == Some((k, kind));
        let ready = move || match kind {
            Kind::Frame => ui.camera.get(),
            Kind::Clip => ui.microphone.get().is_some(),
        };
        view! {
            <button data-testid=testid class:recording=on disabled=move || busy() || !ready()
                on:pointerdown=move |_| s.hold(k, kind)
                on:pointerup=move |_| s.holding.set(None)
                on:pointerleave=move |_| { if on() { s.holding.set(None) } }
                on:keydown=move |ev: leptos::ev::KeyboardEvent| { if ev.key() == " " || ev.key() == "Enter" { s.hold(k, kind) } }
                on:keyup=move |_| s.holding.set(None)>
                {label}
            </button>
        }
    };
    let shots = move |kind: Kind, list: &[Shot]| {
        list.iter()
            .map(|shot| {
                let id = shot.id;
                let body = match kind {
                    Kind::Frame => view! { <img src=shot.url.clone() alt="frame" /> }.into_any(),
                    Kind::Clip => view! { <audio controls src=shot.url.clone()></audio> }.into_any(),
                };
                view! {
                    <span class="shot">
                        {body}
                        <button class="remove" title="remove" on:click=move |_| s.remove(k, kind, id)>"×"</button>
                    </span>
                }
            })
            .collect_view()
    };
    view! {
        <div class="capture-class" data-testid=format!("capture-class-{}", c.name)>
            <h4>
                {c.name.clone()} " · "
                <span data-testid=format!("frames-{}", c.name)>{c.frames.len()}</span> " frames · "
                <span data-testid=format!("clips-{}", c.name)>{c.clips.len()}</span> " clips"
            </h4>
            <div class="buttons">
                {hold_button(Kind::Frame, "Hold to capture frames", format!("hold-frames-{}", c.name))}
                {hold_button(Kind::Clip, "Hold to record clips", format!("hold-clips-{}", c.name))}
                <input type="text" placeholder="caption for this class (optional)"
                    data-testid=format!("caption-{}", c.name) prop:value=c.caption.clone()
                    on:change=move |ev| {
                        let v = event_target_value(&ev);
                        s.classes.update(|cs| { if let Some(c) = cs.get_mut(k) { c.caption = v } });
                    } />
            </div>
            <div class="shots">{shots(Kind::Frame, &c.frames)}</div>
            <div class="shots">{shots(Kind::Clip, &c.clips)}</div>
        </div>
    }
}

/// Starting and stopping the camera and the microphone, the clip length and the level.
fn devices(s: State) -> impl IntoView {
    let ui = s.ui;
    view! {
        <div class="buttons">
            <button data-testid="start-camera" on:click=move |_| {
                if ui.camera.get_untracked() { close_camera(); ui.camera.set(false) }
                else { spawn_local(start_camera(ui, s.error)) }
            }>{move || if ui.camera.get() { "Stop camera" } else { "Start camera" }}</button>
            <button data-testid="start-microphone" on:click=move |_| {
                if ui.microphone.get_untracked().is_some() { close_microphone(); ui.microphone.set(None) }
                else { spawn_local(start_microphone(ui, s.error)) }
            }>{move || if ui.microphone.get().is_some() { "Stop microphone" } else { "Start microphone" }}</button>
            <label class="field">
                <span>"clip length (s)"</span>
                <input type="number" min="0.2" max="5" step="0.1" name="clip_seconds"
                    prop:value=move || s.clip_seconds.get().to_string()
                    on:change=move |ev| {
                        if let Ok(v) = event_target_value(&ev).parse::<f64>() {
                            s.clip_seconds.set(v.clamp(0.2, 5.0))
                        }
                    } />
            </label>
            <span class="level" title="microphone level">
                <span class="level-fill" style:width=move || format!("{:.0}%", (s.level.get() * 300.0).min(100.0))></span>
            </span>
        </div>
    }
}

/// The capture controls, in the data panel.
#[component]
pub fn Capture() -> impl IntoView {
    let ui = expect_context::<Ui>();
    let s = State {
        ui,
        classes: RwSignal::new(Vec::new()),
        holding: RwSignal::new(None),
        level: RwSignal::new(0.0),
        clip_seconds: ui.clip_seconds,
        error: RwSignal::new(None),
        next_id: RwSignal::new(0),
    };
    let name = RwSignal::new(String::new());
    let add = move || {
        let n = name.get_untracked().trim().to_string();
        if n.is_empty() {
            return s.error.set(Some("give the class a name".into()));
        }
        if s.classes
            .with_untracked(|cs| cs.iter().any(|c| c.name == n))
        {
            return s.error.set(Some(format!("there is a class `{n}` already")));
        }
        s.classes.update(|cs| {
            cs.push(Class {
                name: n,
                ..Class::default()
            })
        });
        name.set(String::new());
        s.error.set(None);
    };
    let running = move || ui.run.with(|r| r.is_running());
    let total = move || {
        s.classes.with(|cs| {
            cs.iter()
                .map(|c| c.frames.len().max(c.clips.len()))
                .sum::<usize>()
        })
    };
    let rows = move || {
        s.classes.with(|cs| {
            cs.iter()
                .enumerate()
                .map(|(k, c)| class_row(s, k, c))
                .collect_view()
        })
    };
    view! {
        <details class="capture" data-testid="capture">
            <summary>"Capture samples with the camera and the microphone"</summary>
            {devices(s)}
            <video id=PREVIEW class="preview" data-testid="camera-preview" autoplay playsinline muted
                hidden=move || !ui.camera.get()></video>
            {move || s.error.get().map(|e| view! { <p class="error" data-testid="capture-error">{e}</p> })}
            <div class="buttons">
                <input type="text" placeholder="class name" data-testid="class-name"
                    prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))
                    on:keydown=move |ev: leptos::ev::KeyboardEvent| { if ev.key() == "Enter" { add() } } />
                <button data-testid="add-class" on:click=move |_| add()>"Add class"</button>
            </div>
            {rows}
            <div class="buttons">
                <button data-testid="use-captured" disabled=move || running() || total() == 0
                    on:click=move |_| s.use_captured(false)>
                    {move || format!("Use the {} captured samples", total())}
                </button>
                <button data-testid="add-captured" disabled=move || running() || total() == 0 || ui.data.with(|d| d.is_none())
                    on:click=move |_| s.use_captured(true)>
                    "Add them to the loaded upload"
                </button>
                <button data-testid="save-captures" disabled=move || total() == 0 on:click=move |_| s.save()>
                    "Save captures (zip)"
                </button>
                <label class="button">
                    "Load captures (zip)"
                    <input type="file" data-testid="load-captures" accept=".zip"
                        on:change=move |ev| {
                            let input: web_sys::HtmlInputElement = event_target(&ev);
                            if let Some(f) = input.files().and_then(|l| l.get(0)) {
                                spawn_local(s.load(f));
                            }
                            input.set_value("");
                        } />
                </label>
            </div>
            <p class="hint">
                "A sample is a class's k-th frame with its k-th clip and its caption; a "
                "class with more frames than clips has samples without audio (missing, as "
                "in an upload). Frames are " {FRAME_SIDE} " px squares of the camera's centre."
            </p>
        </details>
    }
}
