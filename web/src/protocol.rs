//! What the page and its engine (a Web Worker, see `engine.rs`) say to each other.
//!
//! A message is a plain object `{id, json, files?, bytes?}`: `json` is a [`Request`] or
//! a [`Reply`] as JSON, `files` an array of `[path, File]` pairs (an upload, never
//! copied on the page's thread) and `bytes` a `Uint8Array` (an image, a model file).
//! Replies carry the id of the request they answer; id 0 is the engine itself.

use js_sys::{Array, Object, Reflect, Uint8Array};
use mla::data::{Captured, ManifestConfig, MissingConfig, MissingReport};
use mla::device::BackendChoice;
use mla::io::ModelHeader;
use mla::predict::{SamplePrediction, Takes, audio_rate, input_kinds};
use mla::{EpochMetrics, EvalReport, TrainConfig};
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::File;

use crate::browser::PathFile;

/// What the page asks of the engine.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Request {
    /// Start the backend `backend` asks for (the CPU where WebGPU is missing, fails
    /// or, for `auto`, runs in software); look for pretrained encoders' files in the
    /// folder at the URL `encoders`, and for the widget's files (what a web site
    /// export holds) in the folder at the URL `widget`.
    Start {
        backend: BackendChoice,
        encoders: String,
        widget: String,
    },
    /// Load the core's built-in sample.
    LoadSample {
        samples: usize,
        data: ManifestConfig,
    },
    /// Load the attached files (a manifest and its images).
    LoadFiles { data: ManifestConfig },
    /// Load samples captured in the page (their frames and clips attached), on their
    /// own or, with `join`, added to the last upload (or the built-in sample).
    LoadCaptured {
        data: ManifestConfig,
        samples: Vec<Captured>,
        join: bool,
    },
    /// Train on the loaded data; the best epoch's model becomes the engine's model.
    Train(Box<RunSettings>),
    /// The loaded data set as a zip (attached to the reply): its manifest, its files
    /// and `config.json`, the run these settings make, for `mla-native train --config`.
    ExportData(Box<RunSettings>),
    /// Stop training after the current step (no reply of its own).
    Stop,
    /// Predict from the attached image and audio clip (either may be missing) and this
    /// caption.
    Predict { text: Option<String> },
    /// A random row of the loaded data, its image attached.
    TakeSample,
    /// The model as a file (attached to the reply).
    Export,
    /// The model as a web site, a zip (attached to the reply): the widget, the model,
    /// its encoder files and an example page (`mla::site`).
    ExportSite,
    /// Load the attached model file.
    Import { name: String },
}

/// A training run on the loaded data, as the page's settings make it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunSettings {
    pub train: TrainConfig,
    pub data: ManifestConfig,
    /// The image and text columns use the pretrained encoders, images at this size.
    pub pretrained: Option<usize>,
    /// Modalities masked at a rate on top of the data's own missing cells.
    pub missing: MissingConfig,
}

/// What the engine answers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Reply {
    /// A request failed; the message is for the user.
    Error(String),
    /// The engine broke (a panic); it answers nothing more.
    Crashed(String),
    /// Progress of a slow request.
    Busy(String),
    Ready {
        name: String,
        fallback: Option<String>,
        /// The pretrained encoders served with the page, or why there are none.
        encoders: Result<Vec<EncoderInfo>, String>,
        /// The widget's size in bytes, served with the page for web site exports, or
        /// why it is not.
        site: Result<u64, String>,
    },
    Data(DataSummary),
    /// What the missing-modality masks did, per split.
    Masked(Vec<MissingReport>),
    /// Pretrained features being computed: `done` of `total` samples of `modality`.
    Extracting {
        modality: String,
        done: usize,
        total: usize,
        per_second: f64,
    },
    Step {
        epoch: usize,
        epochs: usize,
        step: usize,
        steps: usize,
    },
    Epoch {
        metrics: EpochMetrics,
        step_seconds: f64,
    },
    /// Training ended; `test` and `model` are there when an epoch was completed.
    Finished {
        epochs: usize,
        stopped: bool,
        test: Option<EvalReport>,
        model: Option<ModelInfo>,
    },
    Prediction(SamplePrediction),
    Sample {
        image: Option<String>,
        text: String,
        label: String,
    },
    Exported,
    Model(ModelInfo),
}

impl Reply {
    /// Whether no more replies follow for the same request.
    pub fn is_last(&self) -> bool {
        !matches!(
            self,
            Reply::Busy(_)
                | Reply::Masked(_)
                | Reply::Extracting { .. }
                | Reply::Step { .. }
                | Reply::Epoch { .. }
        )
    }
}

/// A pretrained encoder's file served with the page (`encoders/index.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EncoderInfo {
    pub name: String,
    pub file: String,
    pub size: u64,
    pub sha256: String,
}

/// A file of the widget served with the page (`widget/index.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WidgetFile {
    pub file: String,
    pub size: u64,
    pub sha256: String,
}

/// What the page shows about loaded data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataSummary {
    pub name: String,
    pub samples: usize,
    pub classes: Vec<String>,
    /// Per split (train, validation, test): samples per class.
    pub counts: [Vec<usize>; 3],
    /// Per modality: its name and how many samples lack it.
    pub missing: Vec<(String, usize)>,
}

/// What the page shows about its model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub origin: String,
    pub modalities: Vec<String>,
    pub classes: Vec<String>,
    pub written_by: String,
    /// Which of an image, a text and an audio clip it predicts from.
    pub takes: Takes,
    /// The sample rate its audio clips must have (recorded clips are resampled to it).
    pub audio_rate: Option<u32>,
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
            takes: input_kinds(header).unwrap_or_default(),
            audio_rate: audio_rate(header),
        }
    }
}

/// One message, either way.
pub struct Message<T> {
    pub id: u32,
    pub body: T,
    pub files: Vec<PathFile>,
    pub bytes: Option<Vec<u8>>,
    /// A second buffer: a prediction's audio clip.
    pub audio: Option<Vec<u8>>,
}

impl<T> Message<T> {
    pub fn new(id: u32, body: T) -> Self {
        Self {
            id,
            body,
            files: Vec::new(),
            bytes: None,
            audio: None,
        }
    }

    pub fn with_bytes(mut self, bytes: Option<Vec<u8>>) -> Self {
        self.bytes = bytes;
        self
    }

    pub fn with_audio(mut self, audio: Option<Vec<u8>>) -> Self {
        self.audio = audio;
        self
    }

    pub fn with_files(mut self, files: Vec<PathFile>) -> Self {
        self.files = files;
        self
    }
}

impl<T: Serialize> Message<T> {
    /// The object to post and the buffers to transfer with it.
    pub fn to_js(&self) -> (JsValue, Array) {
        let object = Object::new();
        let set = |k: &str, v: &JsValue| {
            let _ = Reflect::set(&object, &JsValue::from_str(k), v);
        };
        let json = serde_json::to_string(&self.body).unwrap_or_default();
        set("id", &JsValue::from(self.id));
        set("json", &JsValue::from_str(&json));
        let transfer = Array::new();
        if !self.files.is_empty() {
            let files: Array = self
                .files
                .iter()
                .map(|(p, f)| Array::of2(&JsValue::from_str(p), f))
                .collect();
            set("files", &files);
        }
        for (key, buffer) in [("bytes", &self.bytes), ("audio", &self.audio)] {
            if let Some(b) = buffer {
                let array = Uint8Array::from(b.as_slice());
                transfer.push(&array.buffer());
                set(key, &array);
            }
        }
        (object.into(), transfer)
    }
}

impl<T: for<'de> Deserialize<'de>> Message<T> {
    pub fn from_js(value: &JsValue) -> Result<Self, String> {
        let get = |k: &str| Reflect::get(value, &JsValue::from_str(k)).unwrap_or_default();
        let id = get("id").as_f64().ok_or("a message without an id")? as u32;
        let json = get("json").as_string().ok_or("a message without a body")?;
        let body = serde_json::from_str(&json).map_err(|e| format!("a bad message: {e}"))?;
        let files = get("files")
            .dyn_into::<Array>()
            .map(|a| {
                a.iter()
                    .filter_map(|pair| {
                        let pair: Array = pair.dyn_into().ok()?;
                        Some((
                            pair.get(0).as_string()?,
                            pair.get(1).dyn_into::<File>().ok()?,
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let buffer = |key: &str| get(key).dyn_into::<Uint8Array>().ok().map(|a| a.to_vec());
        Ok(Self {
            id,
            body,
            files,
            bytes: buffer("bytes"),
            audio: buffer("audio"),
        })
    }
}
