//! One device for every classifier on the page: the first to load starts it (WebGPU,
//! else the CPU with the reason), every later one waits for that start and shares it.

use std::cell::{Cell, RefCell};

use js_sys::Promise;
use mla::Backend;
use mla::burn::tensor::Device;
use mla::device::BrowserDevice;
use serde::Serialize;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::{JsFuture, future_to_promise};

/// Which backend a classifier asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preference {
    /// WebGPU when the browser has it, else the CPU.
    Auto,
    /// WebGPU (still the CPU, with the reason, when WebGPU fails).
    Webgpu,
    Cpu,
}

impl Preference {
    pub fn parse(name: &str) -> Result<Self, String> {
        match name.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(Preference::Auto),
            "webgpu" | "gpu" => Ok(Preference::Webgpu),
            "cpu" => Ok(Preference::Cpu),
            other => Err(format!("backend `{other}` is not one of auto, webgpu, cpu")),
        }
    }
}

/// The shared device as the API reports it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendInfo {
    pub name: String,
    pub label: String,
    pub fallback: Option<String>,
    pub device_starts: u32,
}

struct Started {
    browser: BrowserDevice,
    /// What the classifier that started it asked for.
    asked: Preference,
}

thread_local! {
    /// Resolves once the device has started (shared by everyone who waits).
    static STARTING: RefCell<Option<Promise>> = const { RefCell::new(None) };
    static STARTED: RefCell<Option<Started>> = const { RefCell::new(None) };
    static STARTS: Cell<u32> = const { Cell::new(0) };
}

/// The page's device, started on first use as `preference` asks. A later classifier
/// that asks for a backend other than the one running is an error: there is one
/// device per page.
pub async fn shared(preference: Preference) -> Result<(Device, BackendInfo), String> {
    let starting = STARTING.with_borrow_mut(|s| {
        s.get_or_insert_with(|| {
            future_to_promise(async move {
                STARTS.set(STARTS.get() + 1);
                let cpu = (preference == Preference::Cpu)
                    .then(|| "the CPU was asked for (backend \"cpu\")".to_string());
                let browser = BrowserDevice::start(cpu).await;
                STARTED.set(Some(Started {
                    browser,
                    asked: preference,
                }));
                Ok(JsValue::UNDEFINED)
            })
        })
        .clone()
    });
    JsFuture::from(starting)
        .await
        .map_err(|e| format!("starting the device failed: {}", crate::message_of(&e)))?;
    STARTED.with_borrow(|s| {
        let s = s.as_ref().ok_or("the device did not start")?;
        let b = &s.browser;
        let on_webgpu = b.backend == Backend::Webgpu;
        let clash = match preference {
            Preference::Cpu => on_webgpu,
            // WebGPU that failed falls back on its own; one the page chose not to start
            // cannot be had.
            Preference::Webgpu => s.asked == Preference::Cpu,
            Preference::Auto => false,
        };
        if clash {
            return Err(format!(
                "the classifiers of a page share one device, and the first one started it \
                 on {}: give every classifier the same backend",
                b.label()
            ));
        }
        let info = BackendInfo {
            name: b.backend.name().to_string(),
            label: b.label().to_string(),
            fallback: b.fallback.clone(),
            device_starts: STARTS.get(),
        };
        Ok((b.device.clone(), info))
    })
}
