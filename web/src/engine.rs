//! The engine: everything that computes — the backend, the data, training, the model —
//! in a dedicated Web Worker, so the page's thread only renders. (Burn's WebGPU
//! dispatch alone kept the page's thread busy for about a step's time per step.)
//!
//! The page starts it with [`crate::client`]; it answers [`Request`]s with [`Reply`]s.

use std::cell::{Cell, RefCell};

use js_sys::{Array, Math};
use mla::burn::tensor::Device;
use mla::data::{ColumnKind, ManifestConfig, ManifestData, Upload};
use mla::device::BrowserDevice;
use mla::io::{ModelHeader, load_model, save_model};
use mla::model::{ModelConfig, MultimodalModel};
use mla::predict::{RawInput, image_text_inputs, image_text_kinds, predict_sample};
use mla::{TrainConfig, Trainer};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use crate::browser;
use crate::protocol::{DataSummary, Message, ModelInfo, Reply, Request};

/// A model ready to predict: trained here or imported.
struct ReadyModel {
    header: ModelHeader,
    model: MultimodalModel,
}

/// An upload with the data set last built from it (kept while its settings hold, so
/// training does not decode every image again).
struct Loaded {
    upload: Upload,
    built: Option<(ManifestConfig, ManifestData)>,
}

#[derive(Default)]
struct Engine {
    device: Option<Device>,
    data: Option<Loaded>,
    model: Option<ReadyModel>,
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
        Request::Start { cpu } => start(id, cpu).await,
        Request::LoadSample { samples, data } => {
            idle()?;
            let upload = Upload::sample(samples, 0).map_err(|e| e.to_string())?;
            let name = "built-in sample: coloured shapes with captions".to_string();
            accept(id, name, upload, data)
        }
        Request::LoadFiles { data } => {
            idle()?;
            reply(id, Reply::Busy(format!("reading {} files…", m.files.len())));
            let set = browser::read_upload(&m.files).await?;
            let n = set.len();
            let upload = Upload::new(set).map_err(|e| e.to_string())?;
            let name = format!("{} ({n} files)", upload.manifest_path);
            accept(id, name, upload, data)
        }
        Request::Train { train, data } => {
            idle()?;
            TRAINING.set(true);
            STOP.set(false);
            let result = train_loop(id, train, data).await;
            TRAINING.set(false);
            result
        }
        Request::Stop => Ok(()),
        Request::Predict { text } => predict(id, m.bytes, text).await,
        Request::TakeSample => take_sample(id),
        Request::Export => {
            let (header, model) = ready_model("no model yet: train one or import one")?;
            let bytes = save_model(&header, &model)
                .await
                .map_err(|e| e.to_string())?;
            post(Message::new(id, Reply::Exported).with_bytes(Some(bytes)));
            Ok(())
        }
        Request::Import { name } => {
            let bytes = m.bytes.ok_or("no model file attached")?;
            let (header, model) =
                load_model(&bytes, &device()?).map_err(|e| format!("{name}: {e}"))?;
            // The page predicts from an image and/or a text.
            image_text_kinds(&header).map_err(|e| format!("{name}: {e}"))?;
            let info = ModelInfo::of(&header, format!("imported from {name}"));
            ENGINE.with_borrow_mut(|e| e.model = Some(ReadyModel { header, model }));
            reply(id, Reply::Model(info));
            Ok(())
        }
    }
}

/// Starts WebGPU, or the CPU backend when WebGPU is missing, fails, or was not wanted.
async fn start(id: u32, cpu: bool) -> Result<(), String> {
    let wanted = cpu.then(|| "the address asks for the CPU (`?backend=cpu`)".to_string());
    let started = BrowserDevice::start(wanted).await;
    let name = started.label().to_string();
    ENGINE.with_borrow_mut(|e| e.device = Some(started.device));
    reply(
        id,
        Reply::Ready {
            name,
            fallback: started.fallback,
        },
    );
    Ok(())
}

fn summarize(name: String, data: &ManifestData) -> DataSummary {
    let s = &data.splits;
    let all = [&s.train, &s.valid, &s.test];
    let missing = |m: usize| {
        all.iter()
            .map(|d| d.modalities[m].present.iter().filter(|p| !**p).count())
            .sum()
    };
    DataSummary {
        name,
        samples: all.iter().map(|d| d.len()).sum(),
        classes: data.preprocess.classes.clone(),
        counts: [
            s.train.class_counts(),
            s.valid.class_counts(),
            s.test.class_counts(),
        ],
        missing: (0..s.train.modalities.len())
            .map(|m| (s.train.modalities[m].name.clone(), missing(m)))
            .collect(),
    }
}

/// Builds the data set now (every file checked before anyone trains) and keeps it.
fn accept(id: u32, name: String, upload: Upload, config: ManifestConfig) -> Result<(), String> {
    let data = upload.build(&config).map_err(|e| e.to_string())?;
    let summary = summarize(name, &data);
    ENGINE.with_borrow_mut(|e| {
        e.data = Some(Loaded {
            upload,
            built: Some((config, data)),
        })
    });
    reply(id, Reply::Data(summary));
    Ok(())
}

/// The loaded data set for `config`: the one built at load time when the settings
/// that shape it are unchanged, else built again.
fn built(config: &ManifestConfig) -> Result<ManifestData, String> {
    ENGINE.with_borrow_mut(|e| {
        let loaded = e
            .data
            .as_mut()
            .ok_or("load data first (the built-in sample or an upload)")?;
        match &loaded.built {
            Some((c, data)) if c == config => Ok(data.clone()),
            _ => {
                let data = loaded.upload.build(config).map_err(|e| e.to_string())?;
                loaded.built = Some((config.clone(), data.clone()));
                Ok(data)
            }
        }
    })
}

/// Trains until done or stopped, yielding after every step so that a stop gets in,
/// then tests the best epoch's model and makes it the engine's model.
async fn train_loop(id: u32, config: TrainConfig, data: ManifestConfig) -> Result<(), String> {
    let data = built(&data)?;
    let device = device()?;
    let mut trainer = Trainer::new(&ModelConfig::for_manifest(), &config, data.splits, &device)
        .map_err(|e| e.to_string())?;
    let steps = trainer.steps_per_epoch();
    let mut stopped = false;
    while !trainer.is_finished() && !stopped {
        let started = browser::now_ms();
        let epoch = trainer.epochs_done() + 1;
        for step in 0..steps {
            reply(
                id,
                Reply::Step {
                    epoch,
                    epochs: config.epochs,
                    step,
                    steps,
                },
            );
            browser::yield_now().await;
            if STOP.get() {
                stopped = true;
                break;
            }
            trainer.step().map_err(|e| e.to_string())?;
            // The device never runs more than a step ahead, so progress is real.
            trainer.sync().await.map_err(|e| e.to_string())?;
        }
        if stopped {
            break;
        }
        // The epoch's reads wait for the device, so this time includes its work.
        let metrics = trainer.end_epoch().await.map_err(|e| e.to_string())?;
        let step_seconds = (browser::now_ms() - started) / 1000.0 / steps as f64;
        reply(
            id,
            Reply::Epoch {
                metrics,
                step_seconds,
            },
        );
    }
    let epochs = trainer.epochs_done();
    let (mut test, mut model) = (None, None);
    if epochs > 0 {
        test = Some(trainer.test().await.map_err(|e| e.to_string())?);
        let (best, best_epoch) = trainer.best_model();
        let header = ModelHeader::new(trainer.spec().clone(), config.fusion, Some(data.preprocess));
        let origin = format!("trained here (best validation epoch {best_epoch} of {epochs})");
        model = Some(ModelInfo::of(&header, origin));
        ENGINE.with_borrow_mut(|e| {
            e.model = Some(ReadyModel {
                header,
                model: best,
            })
        });
    }
    reply(
        id,
        Reply::Finished {
            epochs,
            stopped,
            test,
            model,
        },
    );
    Ok(())
}

async fn predict(id: u32, image: Option<Vec<u8>>, text: Option<String>) -> Result<(), String> {
    let (header, model) = ready_model("no model yet: train one above or import one below")?;
    let inputs =
        image_text_inputs(&header, image.map(RawInput::Image), text).map_err(|e| e.to_string())?;
    let p = predict_sample(&model, &header, &inputs, &device()?)
        .await
        .map_err(|e| e.to_string())?;
    reply(id, Reply::Prediction(p));
    Ok(())
}

/// A random row of the loaded data, exactly as its files are.
fn take_sample(id: u32) -> Result<(), String> {
    let (reply_body, bytes) = ENGINE.with_borrow(|e| {
        let u = &e
            .data
            .as_ref()
            .ok_or("load data first to take a sample from it")?
            .upload;
        let n = u.manifest.rows.len();
        let i = (Math::random() * n as f64) as usize;
        let row = u
            .manifest
            .rows
            .get(i.min(n.saturating_sub(1)))
            .ok_or("the data has no rows")?;
        // The page shows an image and a text: the row's first of each.
        let first = |kind: ColumnKind| {
            let m = &u.manifest;
            m.columns
                .iter()
                .zip(&row.cells)
                .find(|(c, _)| c.kind == kind)
                .and_then(|(_, cell)| cell.clone())
        };
        let image = first(ColumnKind::Image);
        let bytes = match &image {
            Some(p) => Some(u.read(p)?.to_vec()),
            None => None,
        };
        let body = Reply::Sample {
            image,
            text: first(ColumnKind::Text).unwrap_or_default(),
            label: row.label.clone().unwrap_or_default(),
        };
        Ok::<_, String>((body, bytes))
    })?;
    post(Message::new(id, reply_body).with_bytes(bytes));
    Ok(())
}
