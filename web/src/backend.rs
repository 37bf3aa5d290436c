//! Choosing the page's compute backend: WebGPU when the browser offers an adapter,
//! otherwise Burn's CPU backend compiled to wasm, with the reason shown.

use mla::Backend;
use mla::burn::tensor::Device;
use wasm_bindgen::JsValue;

/// The backend the page runs on.
#[derive(Clone, Debug)]
pub struct PageBackend {
    pub device: Device,
    pub backend: Backend,
    /// Why the page is not on WebGPU (none when it is).
    pub fallback: Option<String>,
}

fn query_backend() -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    search
        .trim_start_matches('?')
        .split('&')
        .find_map(|kv| kv.strip_prefix("backend=").map(str::to_ascii_lowercase))
}

fn has_webgpu() -> bool {
    web_sys::window()
        .map(|w| w.navigator())
        .and_then(|n| js_sys::Reflect::get(&n, &JsValue::from_str("gpu")).ok())
        .is_some_and(|gpu| !gpu.is_undefined() && !gpu.is_null())
}

/// Starts WebGPU, or the CPU backend when WebGPU is missing, fails, or `?backend=cpu`
/// asks for it.
pub async fn start() -> PageBackend {
    let cpu = |why: String| PageBackend {
        device: Device::flex(),
        backend: Backend::Cpu,
        fallback: Some(why),
    };
    if query_backend().as_deref() == Some("cpu") {
        return cpu("the address asks for the CPU (`?backend=cpu`)".into());
    }
    if !has_webgpu() {
        return cpu("this browser has no WebGPU (`navigator.gpu` is missing)".into());
    }
    match Backend::Webgpu.init_async().await {
        Ok(device) => PageBackend {
            device,
            backend: Backend::Webgpu,
            fallback: None,
        },
        Err(e) => cpu(e.to_string()),
    }
}
