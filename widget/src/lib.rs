//! The embeddable MLA classifier: a JavaScript API (`Classifier`) generated with
//! wasm-bindgen. It predicts from an image, a text and an audio clip (any may be
//! missing) with a model file written by
//! `mla-native train` or exported by the page. `widget/js/mla-classifier.js` (the
//! `<mla-classifier>` element and `load`) runs this module in one worker per page
//! (`widget/js/mla-worker.js`), so predictions never block the page's thread.
//!
//! Everything ML lives in the `mla` crate: this crate turns JavaScript values into the
//! core's raw inputs and its predictions into plain objects.

mod classifier;
mod device;
mod input;

pub use classifier::Classifier;

use wasm_bindgen::prelude::*;

/// Runs once when the module loads: the static constructors, once (see
/// [`mla::device::run_static_constructors`]); panics go to the console with their message.
#[wasm_bindgen(start)]
pub fn start() {
    mla::device::run_static_constructors();
    console_error_panic_hook::set_once();
}

/// A WAV file (16-bit PCM, mono) at `to` Hz of `samples` (-1..1, as Web Audio records
/// them) at `from` Hz: what the element's *Record* turns a microphone clip into, for a
/// model trained at `to` Hz. The core's resampling and encoding (the page's too).
#[wasm_bindgen(js_name = encodeWav)]
pub fn encode_wav(samples: &[f32], from: u32, to: u32) -> Vec<u8> {
    use mla::data::formats::wav::{encode_wav_f32, resample};
    encode_wav_f32(&resample(samples, from, to), to)
}

/// A rejected promise's value: an `Error` whose `message` is `message`.
fn js_error(message: impl AsRef<str>) -> JsValue {
    js_sys::Error::new(message.as_ref()).into()
}

/// A JavaScript exception's message (an `Error`'s `message`, else the value as text).
fn message_of(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** What `predict` takes: an image, a text and an audio clip (a missing or empty one is
 * left out). */
export interface PredictInput {
  /** File bytes (PNG, JPEG, WebP), a Blob or File, or a picture the browser decoded. */
  image?: Uint8Array | ArrayBuffer | Blob | ImageBitmap | HTMLImageElement
    | HTMLCanvasElement | OffscreenCanvas | ImageData | null;
  /** WAV file bytes, a Blob or File (for a model with an audio modality). */
  audio?: Uint8Array | ArrayBuffer | Blob | null;
  text?: string | null;
}

/** What one modality says about the sample. */
export interface ModalityPrediction {
  name: string;
  /** `image`, `text`, `audio` or `vector`. */
  kind: string;
  /** Whether the input had this modality (then it has probabilities). */
  present: boolean;
  probabilities: number[];
  entropy: number;
  /** Fusion weight λ (0 when absent; the present ones sum to 1). */
  weight: number;
}

export interface Prediction {
  /** The fused class's name. */
  label: string;
  /** Its index in `classes`. */
  class: number;
  classes: string[];
  /** Fused class probabilities. */
  probabilities: number[];
  modalities: ModalityPrediction[];
}

export interface BackendInfo {
  /** `webgpu` or `cpu`. */
  name: string;
  /** `WebGPU` or `CPU (wasm)`. */
  label: string;
  /** Why the CPU runs, when it does. */
  fallback: string | null;
  /** How many times a device was started on this page (one: every classifier shares it). */
  deviceStarts: number;
}

export interface ModelInfo {
  /** Where the model came from (its URL, or `bytes`). */
  source: string;
  modalities: { name: string; kind: string }[];
  classes: string[];
  /** Test-time fusion rule: `entropy`, `mean` or `batch-entropy`. */
  fusion: string;
  takesImage: boolean;
  takesText: boolean;
  takesAudio: boolean;
  /** The sample rate (Hz) its audio clips must have; null without audio. */
  audioRate: number | null;
  backend: BackendInfo;
  writtenBy: string;
}

export interface LoadOptions {
  /** `auto` (default: WebGPU, else the CPU), `webgpu` or `cpu`. The first classifier
   * of a page starts the device every later one shares. */
  backend?: 'auto' | 'webgpu' | 'cpu';
  /** Shown in errors and `info.source` (default: the URL, or `bytes`). */
  name?: string;
  /** URL of the folder holding the encoder files (`mobilenet_v2.mlae`,
   * `minilm_l6.mlae`) of a model trained with pretrained encoders (default: the
   * model's folder, for `fromUrl`). */
  encoders?: string;
}
"#;
