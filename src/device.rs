//! Picking and initialising the Burn [`Device`] a run uses.
//!
//! Which backends exist is decided by Cargo features; which one runs is decided at run
//! time by name. GPU devices are initialised once per process and then reused.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::error::{MlaError, Result};

/// A compute backend by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Burn's pure-Rust CPU backend (`flex`); always compiled in.
    Cpu,
    /// Native wgpu (Vulkan, Metal, DX12), feature `wgpu`.
    Wgpu,
    /// The browser's WebGPU, feature `webgpu`.
    Webgpu,
    /// NVIDIA CUDA, feature `cuda`.
    Cuda,
}

impl Backend {
    /// All backends, compiled in or not.
    pub const ALL: [Backend; 4] = [Backend::Cpu, Backend::Wgpu, Backend::Webgpu, Backend::Cuda];

    /// The name used on the command line and in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Wgpu => "wgpu",
            Backend::Webgpu => "webgpu",
            Backend::Cuda => "cuda",
        }
    }

    /// Whether this build contains the backend.
    pub fn is_compiled(self) -> bool {
        match self {
            Backend::Cpu => true,
            Backend::Wgpu => cfg!(feature = "wgpu"),
            Backend::Webgpu => cfg!(feature = "webgpu"),
            Backend::Cuda => cfg!(feature = "cuda"),
        }
    }

    /// Names of the backends this build contains, comma separated.
    pub fn available() -> String {
        Self::ALL
            .iter()
            .filter(|b| b.is_compiled())
            .map(|b| b.name())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The (plain, non-autodiff) device for this backend, initialised on first use.
    ///
    /// Native wgpu is started eagerly so that a missing adapter is an error here rather
    /// than a panic at the first tensor. In the browser, WebGPU must be started with
    /// Burn's async initialisation first; this returns the lazily-bound device.
    pub fn device(self) -> Result<Device> {
        if !self.is_compiled() {
            return Err(MlaError::DeviceNotCompiled {
                name: self.name().into(),
                available: Self::available(),
            });
        }
        match self {
            Backend::Cpu => Ok(Device::flex()),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => wgpu_device(),
            #[cfg(feature = "webgpu")]
            Backend::Webgpu => Ok(Device::webgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[cfg(feature = "cuda")]
            Backend::Cuda => Ok(Device::cuda(0)),
            #[allow(unreachable_patterns)]
            _ => unreachable!("checked by is_compiled"),
        }
    }
}

impl Backend {
    /// Starts the backend without blocking: what a browser page must call for WebGPU
    /// before the first tensor. Later calls return the same device.
    pub async fn init_async(self) -> Result<Device> {
        match self {
            #[cfg(feature = "webgpu")]
            Backend::Webgpu => webgpu_device().await,
            _ => self.device(),
        }
    }
}

#[cfg(feature = "webgpu")]
async fn webgpu_device() -> Result<Device> {
    use burn::tensor::wgpu::WgpuBackend;
    use std::sync::OnceLock;
    // The browser gives one device per page; every later caller shares it.
    static WEBGPU: OnceLock<Device> = OnceLock::new();
    if let Some(device) = WEBGPU.get() {
        return Ok(device.clone());
    }
    let device = Device::wgpu_options()
        .graphics_api(WgpuBackend::WebGpu)
        .init_async()
        .await
        .map_err(|e| MlaError::DeviceInit {
            name: "webgpu".into(),
            reason: e.to_string(),
        })?;
    Ok(WEBGPU.get_or_init(|| device).clone())
}

/// A device started for a browser page or worker: WebGPU, or Burn's CPU backend
/// compiled to wasm with the reason it was used instead.
#[derive(Clone, Debug)]
pub struct BrowserDevice {
    pub device: Device,
    /// [`Backend::Webgpu`] or [`Backend::Cpu`].
    pub backend: Backend,
    /// Why the CPU runs (`None` on WebGPU).
    pub fallback: Option<String>,
}

impl BrowserDevice {
    /// How a page names the backend: `WebGPU` or `CPU (wasm)`.
    pub fn label(&self) -> &'static str {
        match self.backend {
            Backend::Webgpu => "WebGPU",
            _ => "CPU (wasm)",
        }
    }

    /// Starts WebGPU, or the CPU backend when WebGPU is missing, fails, or is not
    /// wanted (`cpu_because`: the reason the CPU was asked for). Never fails: the CPU
    /// is always there. WebGPU is started once per page or worker and then shared.
    #[cfg(all(target_arch = "wasm32", feature = "webgpu"))]
    pub async fn start(cpu_because: Option<String>) -> Self {
        let on_cpu = |why: String| BrowserDevice {
            device: Device::flex(),
            backend: Backend::Cpu,
            fallback: Some(why),
        };
        if let Some(why) = cpu_because {
            return on_cpu(why);
        }
        if !has_webgpu() {
            return on_cpu(
                "WebGPU is not available here (`navigator.gpu` is missing; some browsers \
                 offer it to pages but not to workers, or only behind a flag)"
                    .into(),
            );
        }
        match Backend::Webgpu.init_async().await {
            Ok(device) => BrowserDevice {
                device,
                backend: Backend::Webgpu,
                fallback: None,
            },
            Err(e) => on_cpu(e.to_string()),
        }
    }
}

/// Whether this page or worker offers WebGPU (`navigator.gpu`); starting Burn's WebGPU
/// backend without it panics instead of failing.
#[cfg(all(target_arch = "wasm32", feature = "webgpu"))]
fn has_webgpu() -> bool {
    use js_sys::Reflect;
    use wasm_bindgen::JsValue;
    Reflect::get(&js_sys::global(), &JsValue::from_str("navigator"))
        .and_then(|n| Reflect::get(&n, &JsValue::from_str("gpu")))
        .is_ok_and(|gpu| !gpu.is_undefined() && !gpu.is_null())
}

/// The bytes at `url`, fetched by the page or worker (the browser front ends' model
/// and encoder files); errors say what went wrong: the request, or the HTTP status.
#[cfg(target_arch = "wasm32")]
pub async fn fetch_bytes(url: &str) -> std::result::Result<Vec<u8>, String> {
    use js_sys::{Function, Promise, Reflect, Uint8Array};
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;
    let message = |e: JsValue| {
        e.dyn_ref::<js_sys::Error>()
            .map(|e| String::from(e.message()))
            .or_else(|| e.as_string())
            .unwrap_or_else(|| format!("{e:?}"))
    };
    let get = |target: &JsValue, key: &str| Reflect::get(target, &JsValue::from_str(key));
    let call = |target: &JsValue,
                key: &str,
                arg: Option<&JsValue>|
     -> std::result::Result<Promise, JsValue> {
        let f: Function = get(target, key)?.dyn_into()?;
        let out = match arg {
            Some(a) => f.call1(target, a)?,
            None => f.call0(target)?,
        };
        out.dyn_into()
    };
    let global: JsValue = js_sys::global().into();
    let request = call(&global, "fetch", Some(&JsValue::from_str(url)))
        .map_err(|e| format!("fetching failed: {}", message(e)))?;
    let response = JsFuture::from(request)
        .await
        .map_err(|e| format!("fetching failed: {}", message(e)))?;
    if get(&response, "ok").ok().and_then(|ok| ok.as_bool()) != Some(true) {
        let status = get(&response, "status")
            .ok()
            .and_then(|s| s.as_f64())
            .unwrap_or(0.0);
        let text = get(&response, "statusText")
            .ok()
            .and_then(|s| s.as_string())
            .unwrap_or_default();
        return Err(format!("the server answered {status} {text}"));
    }
    let body = call(&response, "arrayBuffer", None).map_err(message)?;
    let buffer = JsFuture::from(body)
        .await
        .map_err(|e| format!("reading failed: {}", message(e)))?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

#[cfg(feature = "wgpu")]
fn wgpu_device() -> Result<Device> {
    use std::sync::OnceLock;
    // One wgpu runtime per process: re-initialising is an error in Burn.
    static WGPU: OnceLock<std::result::Result<Device, String>> = OnceLock::new();
    WGPU.get_or_init(|| Device::wgpu_options().init().map_err(|e| e.to_string()))
        .clone()
        .map_err(|reason| MlaError::DeviceInit {
            name: "wgpu".into(),
            reason,
        })
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = MlaError;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|b| b.name() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| MlaError::UnknownDevice(s.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_names_and_rejects_others() {
        assert_eq!("CPU".parse::<Backend>().unwrap(), Backend::Cpu);
        assert_eq!("wgpu".parse::<Backend>().unwrap(), Backend::Wgpu);
        let err = "tpu".parse::<Backend>().unwrap_err().to_string();
        assert!(err.contains("tpu") && err.contains("cpu"), "{err}");
    }

    #[test]
    fn cpu_is_always_available() {
        assert!(Backend::Cpu.device().is_ok());
        assert!(Backend::available().starts_with("cpu"));
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn backend_not_compiled_is_a_clear_error() {
        let err = Backend::Cuda.device().unwrap_err().to_string();
        assert!(
            err.contains("cuda") && err.contains("not compiled"),
            "{err}"
        );
    }
}
