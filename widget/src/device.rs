//! One device for every classifier on the page: the first to load starts it (WebGPU,
//! else the CPU with the reason), every later one waits for that start and shares it.

use std::cell::{Cell, RefCell};

use js_sys::Promise;
use mla::Backend;
use mla::burn::tensor::Device;
use mla::device::{BackendChoice, BrowserDevice};
use serde::Serialize;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::{JsFuture, future_to_promise};

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
    asked: BackendChoice,
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
pub async fn shared(preference: BackendChoice) -> Result<(Device, BackendInfo), String> {
    let starting = STARTING.with_borrow_mut(|s| {
        s.get_or_insert_with(|| {
            future_to_promise(async move {
                STARTS.set(STARTS.get() + 1);
                let browser = BrowserDevice::start(preference).await;
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
            BackendChoice::Cpu => on_webgpu,
            // WebGPU asked for and failed falls back on its own; one the first
            // classifier chose not to start (`cpu`, or `auto` on a software adapter)
            // cannot be had.
            BackendChoice::Webgpu => !on_webgpu && s.asked != BackendChoice::Webgpu,
            BackendChoice::Auto => false,
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
