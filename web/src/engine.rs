//! The engine: everything that computes — the backend, the data, training, the model —
//! in a dedicated Web Worker, so the page's thread only renders. (Burn's WebGPU
//! dispatch alone kept the page's thread busy for about a step's time per step.)
//!
//! The page starts it with [`crate::client`]; it answers [`Request`]s with [`Reply`]s.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Array, Math};
use mla::burn::tensor::Device;
use mla::data::{ColumnKind, ManifestConfig, ManifestData, MissingConfig, Upload};
use mla::device::{BackendChoice, BrowserDevice, fetch_bytes};
use mla::io::{ModelHeader, load_model, save_model};
use mla::model::pretrained::{self, EncoderFiles, ExtractProgress, NoCache};
use mla::model::{EncoderConfig, ModelConfig, MultimodalModel, Networks};
use mla::predict::{RawInput, image_text_inputs, image_text_kinds, predict_sample};
use mla::{TrainConfig, Trainer};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use crate::browser;
use crate::protocol::{DataSummary, EncoderInfo, Message, ModelInfo, Reply, Request};

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
    model: Option<ReadyModel>,
    /// The pretrained encoders' files downloaded so far, and where they are served.
    encoders: EncoderFiles,
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
        Request::Start { backend, encoders } => start(id, backend, encoders).await,
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
        Request::Train {
            train,
            data,
            pretrained,
            missing,
        } => {
            idle()?;
            TRAINING.set(true);
            STOP.set(false);
            let result = train_loop(id, *train, data, pretrained, missing).await;
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
            let device = device()?;
            let (header, model) = load_model(&bytes, &device)
                .await
                .map_err(|e| format!("{name}: {e}"))?;
            // The page predicts from an image and/or a text.
            image_text_kinds(&header).map_err(|e| format!("{name}: {e}"))?;
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

/// Starts the backend the page asks for (see [`BrowserDevice::start`]) and looks for the pretrained encoders served with the page (`encoders/index.json`,
/// written when the page was built with encoder files at hand).
async fn start(id: u32, backend: BackendChoice, encoders: String) -> Result<(), String> {
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
    ENGINE.with_borrow_mut(|e| {
        e.device = Some(started.device);
        e.encoders = EncoderFiles::new(base);
    });
    reply(
        id,
        Reply::Ready {
            name,
            fallback: started.fallback,
            encoders: served,
        },
    );
    Ok(())
}

/// The engine's encoder files with those of `nets` downloaded (once per page).
async fn encoder_files(id: u32, nets: &[pretrained::Net]) -> Result<EncoderFiles, String> {
    let mut files = ENGINE.with_borrow(|e| e.encoders.clone());
    if nets.iter().any(|&n| !files.has(n)) {
        let names: Vec<_> = nets.iter().map(|n| n.name()).collect();
        reply(
            id,
            Reply::Busy(format!(
                "downloading the pretrained encoders ({})…",
                names.join(", ")
            )),
        );
        let base = files.location.clone();
        files
            .fetch(nets, |file| {
                let url = format!("{base}/{file}");
                async move { fetch_bytes(&url).await }
            })
            .await
            .map_err(|e| e.to_string())?;
        ENGINE.with_borrow_mut(|e| e.encoders = files.clone());
    }
    Ok(files)
}

/// `model` with the frozen pretrained networks its file leaves out, downloaded (once
/// per page) from where the page serves them.
async fn with_frozen_networks(
    id: u32,
    header: &ModelHeader,
    model: MultimodalModel,
    device: &Device,
) -> Result<MultimodalModel, String> {
    let nets = header.spec.frozen_networks();
    let files = encoder_files(id, &nets).await?;
    model
        .load_networks(&header.spec, &files, Networks::Frozen, device)
        .map_err(|e| e.to_string())
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
            upload: Rc::new(upload),
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

/// The data and model configuration for training with the pretrained encoders (images
/// at `image_size`): their files downloaded, the data built for them and each frozen
/// encoder's features computed, with progress.
async fn pretrained_data(
    id: u32,
    data: &ManifestConfig,
    image_size: usize,
    device: &Device,
) -> Result<(ManifestData, ModelConfig, EncoderFiles), String> {
    let upload = ENGINE
        .with_borrow(|e| e.data.as_ref().map(|d| Rc::clone(&d.upload)))
        .ok_or("load data first (the built-in sample or an upload)")?;
    let kinds: Vec<ColumnKind> = upload.manifest.columns.iter().map(|c| c.kind).collect();
    let mut model = ModelConfig {
        pretrained: true,
        ..ModelConfig::for_manifest()
    };
    let mut encoders = model.for_columns(&kinds).map_err(|e| e.to_string())?;
    for e in &mut encoders {
        if let EncoderConfig::MobilenetV2(c) = e {
            c.image_size = image_size;
        }
    }
    let nets: Vec<_> = encoders
        .iter()
        .filter_map(|e| e.pretrained().map(|p| p.net))
        .collect();
    let files = encoder_files(id, &nets).await?;
    let fixed = pretrained::prepare(&mut encoders, &files).map_err(|e| e.to_string())?;
    // Said before anything is decoded: a run that cannot fit the engine's memory.
    upload
        .check_memory(data, &fixed, &pretrained::frozen_dims(&encoders))
        .map_err(|e| e.to_string())?;
    reply(
        id,
        Reply::Busy("decoding the data for the pretrained encoders…".into()),
    );
    browser::yield_now().await;
    let mut last = (String::new(), 0.0);
    let mut report = |p: &ExtractProgress| {
        if last.0 != p.modality {
            last = (p.modality.clone(), browser::now_ms());
        }
        let seconds = ((browser::now_ms() - last.1) / 1000.0).max(1e-3);
        reply(
            id,
            Reply::Extracting {
                modality: p.modality.clone(),
                done: p.done,
                total: p.total,
                per_second: p.done as f64 / seconds,
            },
        );
    };
    // Images are decoded and turned into features a chunk at a time: the engine holds
    // the features, never every decoded image.
    let built = pretrained::from_manifest_extracting(
        &upload.manifest,
        |p: &str| upload.read(p).map(<[u8]>::to_vec),
        data,
        &fixed,
        pretrained::Extraction {
            encoders: &encoders,
            files: &files,
            device,
            cache: &mut NoCache,
            progress: &mut report,
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    model.encoders = encoders;
    Ok((built, model, files))
}

/// How long training may run between two turns of the worker's event loop: a Stop
/// waits at most this long (plus a step); each turn costs a clamped timer (~4 ms).
const YIELD_MS: f64 = 200.0;

/// Runs one epoch's steps, sending progress and yielding to the worker's event loop
/// every [`YIELD_MS`]; `Ok(true)` when a stop was asked for.
async fn epoch_steps(
    id: u32,
    trainer: &mut Trainer,
    epochs: usize,
    yielded: &mut f64,
) -> Result<bool, String> {
    let (epoch, steps) = (trainer.epochs_done() + 1, trainer.steps_per_epoch());
    for step in 0..steps {
        // A turn costs a few milliseconds (timers are clamped), as much as a small
        // model's step on the CPU backend: not one per step. Progress goes out at
        // each turn and each epoch's start, not per step: a message costs the
        // worker time too, and the page renders each one.
        let turn = browser::now_ms() - *yielded >= YIELD_MS;
        if turn || step == 0 {
            reply(
                id,
                Reply::Step {
                    epoch,
                    epochs,
                    step,
                    steps,
                },
            );
        }
        if turn {
            browser::yield_now().await;
            *yielded = browser::now_ms();
        }
        if STOP.get() {
            return Ok(true);
        }
        trainer.step().map_err(|e| e.to_string())?;
        // The device never runs more than a step ahead, so progress is real.
        trainer.sync().await.map_err(|e| e.to_string())?;
    }
    Ok(false)
}

/// Trains until done or stopped, giving the event loop a turn (a stop gets in) at least
/// every [`YIELD_MS`] milliseconds, then tests the best epoch's model and makes it the
/// engine's model.
async fn train_loop(
    id: u32,
    config: TrainConfig,
    data: ManifestConfig,
    pretrained: Option<usize>,
    missing: MissingConfig,
) -> Result<(), String> {
    let device = device()?;
    let (mut data, model_config, files) = match pretrained {
        Some(size) => pretrained_data(id, &data, size, &device).await?,
        None => (
            built(&data)?,
            ModelConfig::for_manifest(),
            EncoderFiles::default(),
        ),
    };
    if !missing.is_none() {
        let reports = missing
            .apply(&mut data.splits, config.seed)
            .map_err(|e| e.to_string())?;
        reply(id, Reply::Masked(reports));
    }
    let mut trainer = Trainer::with_encoders(&model_config, &config, data.splits, &files, &device)
        .await
        .map_err(|e| e.to_string())?;
    let steps = trainer.steps_per_epoch();
    let mut stopped = false;
    let mut yielded = f64::NEG_INFINITY;
    while !trainer.is_finished() && !stopped {
        let started = browser::now_ms();
        stopped = epoch_steps(id, &mut trainer, config.epochs, &mut yielded).await?;
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
        // Predictions start from raw files: the frozen networks join the model.
        let best = best
            .load_networks(&header.spec, &files, Networks::Frozen, &device)
            .map_err(|e| e.to_string())?;
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
