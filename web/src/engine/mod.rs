//! The engine: everything that computes — the backend, the data, training, the model —
//! in a dedicated Web Worker, so the page's thread only renders. (Burn's WebGPU
//! dispatch alone kept the page's thread busy for about a step's time per step.)
//!
//! The page starts it with [`crate::client`]; it answers [`Request`]s with [`Reply`]s.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Array, Math};
use mla::Trainer;
use mla::burn::tensor::Device;
use mla::data::{ColumnKind, ManifestConfig, ManifestData, Upload};
use mla::device::{BackendChoice, BrowserDevice, fetch_bytes};
use mla::io::{ModelHeader, load_model, save_model};
use mla::model::pretrained::{self, EncoderFiles, ExtractProgress, NoCache};
use mla::model::{EncoderConfig, ModelConfig, MultimodalModel, Networks};
use mla::predict::{RawInput, SampleInputs, input_kinds, predict_sample, sample_inputs};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use crate::browser;
use crate::protocol::{DataSummary, EncoderInfo, Message, ModelInfo, Reply, Request, RunSettings};

mod data;
mod predicting;
mod site;
mod training;

use data::{accept, built, export_data, pretrained_data, with_frozen_networks};
use predicting::{predict, take_sample};
use site::{WidgetFiles, export_site};
use training::train_loop;

/// A model ready to predict: trained here or imported.
struct ReadyModel {
    header: ModelHeader,
    model: MultimodalModel,
}

/// An upload with the data set last built from it (kept while its settings hold, so
/// training does not decode every image again).
struct Loaded {
    /// Shared, so that building from it may wait (on feature extraction) without
    /// holding the engine borrowed.
    upload: Rc<Upload>,
    built: Option<(ManifestConfig, ManifestData)>,
}

#[derive(Default)]
struct Engine {
    device: Option<Device>,
    data: Option<Loaded>,
    /// The last upload (or the built-in sample) loaded, which captured samples may
    /// join.
    uploaded: Option<Rc<Upload>>,
    model: Option<ReadyModel>,
    /// The pretrained encoders' files downloaded so far, and where they are served.
    encoders: EncoderFiles,
    /// The widget's files served with the page, for web site exports.
    widget: Option<WidgetFiles>,
}

thread_local! {
    static ENGINE: RefCell<Engine> = RefCell::new(Engine::default());
    static TRAINING: Cell<bool> = const { Cell::new(false) };
    static STOP: Cell<bool> = const { Cell::new(false) };
}

fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

fn post(message: Message<Reply>) {
    let (value, transfer) = message.to_js();
    if let Err(e) = scope().post_message_with_transfer(&value, &transfer) {
        web_sys::console::error_1(&e);
    }
}

fn reply(id: u32, body: Reply) {
    post(Message::new(id, body));
}

/// Entry point of the worker, called by the boot script in `client.rs` once the
/// module is instantiated, with the messages that arrived meanwhile.
#[wasm_bindgen]
pub fn engine_main(queued: Array) {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        reply(0, Reply::Crashed(info.to_string()));
    }));
    let on_message = Closure::<dyn Fn(MessageEvent)>::new(|ev: MessageEvent| receive(ev.data()));
    scope().set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    for data in queued.iter() {
        receive(data);
    }
}

fn receive(data: JsValue) {
    let message = match Message::<Request>::from_js(&data) {
        Ok(m) => m,
        Err(e) => return reply(0, Reply::Error(e)),
    };
    // A stop must not wait behind the training it stops.
    if let Request::Stop = message.body {
        STOP.set(true);
        return;
    }
    wasm_bindgen_futures::spawn_local(async move {
        let id = message.id;
        let result = handle(message).await;
        if let Err(e) = result {
            reply(id, Reply::Error(e));
        }
    });
}

fn device() -> Result<Device, String> {
    ENGINE
        .with_borrow(|e| e.device.clone())
        .ok_or_else(|| "the backend has not started yet".into())
}

/// The engine's model (trained here or imported), or `missing` as the error.
fn ready_model(missing: &str) -> Result<(ModelHeader, MultimodalModel), String> {
    ENGINE
        .with_borrow(|e| {
            e.model
                .as_ref()
                .map(|m| (m.header.clone(), m.model.clone()))
        })
        .ok_or_else(|| missing.to_string())
}

fn idle() -> Result<(), String> {
    if TRAINING.get() {
        Err("training is running: stop it first".into())
    } else {
        Ok(())
    }
}

async fn handle(m: Message<Request>) -> Result<(), String> {
    let id = m.id;
    match m.body {
        Request::Start {
            backend,
            encoders,
            widget,
        } => start(id, backend, encoders, widget).await,
        Request::LoadSample { samples, data } => {
            idle()?;
            let upload = Upload::sample(samples, 0).map_err(|e| e.to_string())?;
            let name = "built-in sample: coloured shapes with captions".to_string();
            accept(id, name, Rc::new(upload), data, true)
        }
        Request::LoadFiles { data } => {
            idle()?;
            reply(id, Reply::Busy(format!("reading {} files…", m.files.len())));
            let set = browser::read_upload(&m.files).await?;
            let n = set.len();
            let upload = Upload::new(set).map_err(|e| e.to_string())?;
            let name = format!("{} ({n} files)", upload.manifest_path);
            accept(id, name, Rc::new(upload), data, true)
        }
        Request::LoadCaptured {
            data,
            samples,
            join,
        } => {
            idle()?;
            let files = browser::read_upload(&m.files).await?;
            let base = join
                .then(|| ENGINE.with_borrow(|e| e.uploaded.clone()))
                .flatten();
            let upload = Upload::with_captured(base.as_deref(), &samples, files)
                .map_err(|e| e.to_string())?;
            let name = match &base {
                Some(b) => format!("{} + {} captured", b.manifest_path, samples.len()),
                None => format!("{} captured samples", samples.len()),
            };
            accept(id, name, Rc::new(upload), data, false)
        }
        Request::Train(run) => {
            idle()?;
            TRAINING.set(true);
            STOP.set(false);
            let result = train_loop(id, *run).await;
            TRAINING.set(false);
            result
        }
        Request::Stop => Ok(()),
        Request::ExportData(run) => {
            let zip = export_data(*run)?;
            post(Message::new(id, Reply::Exported).with_bytes(Some(zip)));
            Ok(())
        }
        Request::Predict { text } => {
            let inputs = SampleInputs {
                image: m.bytes.map(RawInput::Image),
                text,
                audio: m.audio,
            };
            predict(id, inputs).await
        }
        Request::TakeSample => take_sample(id),
        Request::Export => {
            let (header, model) = ready_model("no model yet: train one or import one")?;
            let bytes = save_model(&header, &model)
                .await
                .map_err(|e| e.to_string())?;
            post(Message::new(id, Reply::Exported).with_bytes(Some(bytes)));
            Ok(())
        }
        Request::ExportSite => {
            let zip = export_site(id).await?;
            post(Message::new(id, Reply::Exported).with_bytes(Some(zip)));
            Ok(())
        }
        Request::Import { name } => {
            let bytes = m.bytes.ok_or("no model file attached")?;
            let device = device()?;
            let (header, model) = load_model(&bytes, &device)
                .await
                .map_err(|e| format!("{name}: {e}"))?;
            // The page predicts from an image, a text and an audio clip.
            input_kinds(&header).map_err(|e| format!("{name}: {e}"))?;
            let model = with_frozen_networks(id, &header, model, &device)
                .await
                .map_err(|e| format!("{name}: {e}"))?;
            let note = mla::io::checksum_note(&bytes)
                .map(|n| format!(" (note: {n})"))
                .unwrap_or_default();
            let info = ModelInfo::of(&header, format!("imported from {name}{note}"));
            ENGINE.with_borrow_mut(|e| e.model = Some(ReadyModel { header, model }));
            reply(id, Reply::Model(info));
            Ok(())
        }
    }
}

/// Starts the backend the page asks for (see [`BrowserDevice::start`]) and looks for
/// the pretrained encoders served with the page (`encoders/index.json`, written when
/// the page was built with encoder files at hand) and for the widget's files.
async fn start(
    id: u32,
    backend: BackendChoice,
    encoders: String,
    widget: String,
) -> Result<(), String> {
    let started = BrowserDevice::start(backend).await;
    let name = started.label().to_string();
    let base = encoders.trim_end_matches('/').to_string();
    let served = match fetch_bytes(&format!("{base}/index.json")).await {
        Ok(bytes) => serde_json::from_slice::<Vec<EncoderInfo>>(&bytes)
            .map_err(|e| format!("{base}/index.json: {e}")),
        Err(e) => Err(format!(
            "this page was built without encoder files ({base}/index.json: {e}); build it \
             after `mla-native encoders import`"
        )),
    };
    let widget = WidgetFiles::find(&widget).await;
    let site = widget.as_ref().map(WidgetFiles::size).map_err(Clone::clone);
    ENGINE.with_borrow_mut(|e| {
        e.device = Some(started.device);
        e.encoders = EncoderFiles::new(base);
        e.widget = widget.ok();
    });
    reply(
        id,
        Reply::Ready {
            name,
            fallback: started.fallback,
            encoders: served,
            site,
        },
    );
    Ok(())
}
