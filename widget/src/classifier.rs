//! `Classifier`: a model file loaded on the page's shared device, predicting from an
//! image, a text and an audio clip (each may be missing).

use std::rc::Rc;

use js_sys::{Object, Promise, Reflect};
use mla::device::fetch_bytes;
use mla::io::{ModelHeader, load_model};
use mla::model::MultimodalModel;
use mla::model::pretrained::EncoderFiles;
use mla::predict::{SampleInputs, SamplePrediction, input_kinds, predict_sample, sample_inputs};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::device::{BackendInfo, shared};
use crate::input::{bytes, check_keys};
use crate::js_error;
use mla::device::BackendChoice;

/// What `info` tells about a loaded model.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ModelInfo {
    source: String,
    modalities: Vec<ModalityInfo>,
    classes: Vec<String>,
    fusion: mla::fusion::Fusion,
    takes_image: bool,
    takes_text: bool,
    takes_audio: bool,
    /// The sample rate its clips must have (the element resamples what it records).
    audio_rate: Option<u32>,
    backend: BackendInfo,
    written_by: String,
}

#[derive(Clone, Debug, Serialize)]
struct ModalityInfo {
    name: String,
    kind: String,
}

/// A prediction as JavaScript gets it: the core's, with the class's name and each
/// modality's kind.
#[derive(Serialize)]
struct Prediction<'a> {
    label: &'a str,
    class: usize,
    classes: &'a [String],
    probabilities: &'a [f32],
    modalities: Vec<ModalityPrediction<'a>>,
}

#[derive(Serialize)]
struct ModalityPrediction<'a> {
    name: &'a str,
    kind: &'a str,
    present: bool,
    probabilities: &'a [f32],
    entropy: f32,
    weight: f32,
}

struct Loaded {
    header: ModelHeader,
    model: MultimodalModel,
    device: mla::burn::tensor::Device,
    info: ModelInfo,
}

/// A trained MLA model, ready to predict on the page's shared device (WebGPU, or the
/// CPU when the browser has none).
///
/// ```js
/// const clf = await Classifier.fromUrl('model.mla');
/// const p = await clf.predict({ image: imgElement, text: 'a red circle' });
/// p.label; p.probabilities; p.modalities[0].weight;
/// ```
#[wasm_bindgen]
pub struct Classifier {
    inner: Rc<Loaded>,
}

/// Load options, checked.
struct LoadOptions {
    preference: BackendChoice,
    /// Names the model in messages.
    name: String,
    /// URL of the folder holding the pretrained encoders' files, if given.
    encoders: Option<String>,
}

/// Options as `{ backend, name, encoders }`; `default_name` when no name is given.
fn options(options: Option<Object>, default_name: &str) -> Result<LoadOptions, String> {
    let defaults = LoadOptions {
        preference: BackendChoice::Auto,
        name: default_name.into(),
        encoders: None,
    };
    // Imported types are not checked at the boundary: `options` may be any value.
    let Some(options) = options.map(JsValue::from) else {
        return Ok(defaults);
    };
    if options.is_undefined() || options.is_null() {
        return Ok(defaults);
    }
    let object = options
        .dyn_ref::<Object>()
        .ok_or("the options must be an object { backend, name, encoders }")?;
    check_keys(object, &["backend", "name", "encoders"], "option")?;
    let text = |key: &str| -> Result<Option<String>, String> {
        let v = Reflect::get(object, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED);
        if v.is_undefined() || v.is_null() {
            return Ok(None);
        }
        v.as_string()
            .map(Some)
            .ok_or_else(|| format!("option `{key}` must be a string"))
    };
    let preference = match text("backend")? {
        Some(b) => BackendChoice::parse(&b).map_err(|e| e.to_string())?,
        None => BackendChoice::Auto,
    };
    Ok(LoadOptions {
        preference,
        name: text("name")?.unwrap_or_else(|| default_name.into()),
        encoders: text("encoders")?,
    })
}

/// The folder of a URL (`https://x/y/model.mla` -> `https://x/y/`).
fn folder_of(url: &str) -> Option<String> {
    web_sys::Url::new_with_base(".", url).ok().map(|u| u.href())
}

async fn load(
    bytes: &[u8],
    options: LoadOptions,
    model_url: Option<&str>,
) -> Result<Classifier, String> {
    let LoadOptions {
        preference,
        name,
        encoders,
    } = options;
    let (device, backend) = shared(preference).await?;
    let (header, model) = load_model(bytes, &device)
        .await
        .map_err(|e| format!("{name}: {e}"))?;
    let takes = input_kinds(&header).map_err(|e| format!("{name}: {e}"))?;
    // Frozen pretrained networks are not in the model file: their encoder files are
    // fetched from `encoders`, or from next to the model.
    let nets = header.spec.frozen_networks();
    let folder = encoders.or_else(|| model_url.and_then(folder_of));
    let folder = match folder {
        Some(f) => f,
        None if nets.is_empty() => String::new(),
        None => {
            return Err(format!(
                "{name}: the model uses pretrained encoders ({}); give the `encoders` option, \
                 the URL of the folder with their files",
                nets.iter().map(|n| n.name()).collect::<Vec<_>>().join(", ")
            ));
        }
    };
    let base = folder.trim_end_matches('/').to_string();
    let mut files = EncoderFiles::new(base.clone());
    let model = model
        .with_frozen_networks(&header.spec, &mut files, &device, |file| {
            let url = format!("{base}/{file}");
            async move { fetch_bytes(&url).await }
        })
        .await
        .map_err(|e| format!("{name}: {e}"))?;
    let prep = header.preprocess.as_ref().expect("input_kinds checked it");
    let info = ModelInfo {
        source: name,
        modalities: header
            .spec
            .modalities
            .iter()
            .zip(&prep.modalities)
            .map(|(name, p)| ModalityInfo {
                name: name.clone(),
                kind: p.kind().to_string(),
            })
            .collect(),
        classes: prep.classes.clone(),
        fusion: header.fusion,
        takes_image: takes.image,
        takes_text: takes.text,
        takes_audio: takes.audio,
        audio_rate: mla::predict::audio_rate(&header),
        backend,
        written_by: header.written_by.clone(),
    };
    Ok(Classifier {
        inner: Rc::new(Loaded {
            header,
            model,
            device,
            info,
        }),
    })
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    let json = serde_json::to_string(value).map_err(|e| js_error(e.to_string()))?;
    js_sys::JSON::parse(&json)
}

#[wasm_bindgen]
impl Classifier {
    /// Loads a model file's bytes (`Uint8Array`, `ArrayBuffer` or `Blob`), as
    /// `mla-native train` writes it or the page exports it. Rejects with the reason when
    /// the bytes are not such a model or the model predicts from no image, text or audio.
    #[wasm_bindgen(js_name = fromBytes)]
    pub async fn from_bytes(
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | ArrayBuffer | Blob")] source: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "LoadOptions")] opts: Option<Object>,
    ) -> Result<Classifier, JsValue> {
        let options = options(opts, "bytes").map_err(js_error)?;
        let bytes = bytes(&source).await.map_err(js_error)?.ok_or_else(|| {
            js_error("fromBytes takes a Uint8Array, an ArrayBuffer or a Blob (for a URL: fromUrl)")
        })?;
        load(&bytes, options, None).await.map_err(js_error)
    }

    /// Fetches a model file and loads it (see `fromBytes`); errors name the URL.
    #[wasm_bindgen(js_name = fromUrl)]
    pub async fn from_url(
        url: String,
        #[wasm_bindgen(unchecked_optional_param_type = "LoadOptions")] opts: Option<Object>,
    ) -> Result<Classifier, JsValue> {
        let options = options(opts, &url).map_err(js_error)?;
        let bytes = fetch_bytes(&url)
            .await
            .map_err(|e| js_error(format!("{}: {e}", options.name)))?;
        load(&bytes, options, Some(&url)).await.map_err(js_error)
    }

    /// The model's modalities, classes, fusion rule and the device it runs on.
    #[wasm_bindgen(getter, unchecked_return_type = "ModelInfo")]
    pub fn info(&self) -> Result<JsValue, JsValue> {
        to_js(&self.inner.info)
    }

    /// Predicts from `{ image, text, audio }` (any may be missing): resolves to the fused
    /// class and probabilities and each modality's probabilities, entropy and fusion
    /// weight; rejects with the reason for inputs the model cannot take.
    #[wasm_bindgen(unchecked_return_type = "Promise<Prediction>")]
    pub fn predict(
        &self,
        #[wasm_bindgen(unchecked_param_type = "PredictInput")] input: JsValue,
    ) -> Promise {
        let loaded = self.inner.clone();
        future_to_promise(async move {
            let inputs = crate::input::sample_inputs(&input)
                .await
                .map_err(js_error)?;
            let p = predict(&loaded, inputs).await.map_err(js_error)?;
            let info = &loaded.info;
            to_js(&Prediction {
                label: p.class_name(),
                class: p.class,
                classes: &p.classes,
                probabilities: &p.probabilities,
                modalities: p
                    .modalities
                    .iter()
                    .zip(&info.modalities)
                    .map(|(m, i)| ModalityPrediction {
                        name: &m.name,
                        kind: &i.kind,
                        present: m.present,
                        probabilities: &m.probabilities,
                        entropy: m.entropy,
                        weight: m.weight,
                    })
                    .collect(),
            })
        })
    }
}

async fn predict(loaded: &Loaded, inputs: SampleInputs) -> Result<SamplePrediction, String> {
    let inputs = sample_inputs(&loaded.header, inputs).map_err(|e| e.to_string())?;
    predict_sample(&loaded.model, &loaded.header, &inputs, &loaded.device)
        .await
        .map_err(|e| e.to_string())
}
