//! The device of a browser page or worker: WebGPU or Burn's CPU backend compiled to
//! wasm, chosen as the page asks (`auto`: WebGPU on a hardware adapter, the CPU where
//! WebGPU is missing or runs in software), and fetching files there.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::Backend;
use crate::error::{MlaError, Result};

/// Runs the module's static constructors (Burn's kernel registry, `inventory`): what a
/// browser module's start function calls first, once (nothing elsewhere).
///
/// wasm-ld wraps *every* export of a module that never calls `__wasm_call_ctors` itself
/// in a call to it — a `cdylib` too — so each call from JavaScript into the module (each
/// future poll, message, table slot) re-ran hundreds of constructors: 8-10% of the
/// training worker's time in a profile (`web/e2e/profile.mjs`). One explicit call turns
/// the wrapping off.
pub fn run_static_constructors() {
    #[cfg(target_arch = "wasm32")]
    {
        unsafe extern "C" {
            fn __wasm_call_ctors();
        }
        // SAFETY: the linker's synthetic function, which takes nothing and returns
        // nothing; called from the start function before the module's other code.
        unsafe { __wasm_call_ctors() }
    }
}

/// Which backend a page or widget asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// WebGPU on a hardware adapter; the CPU where WebGPU is missing, fails, or is a
    /// software adapter (SwiftShader, llvmpipe, WARP: many times slower than the CPU
    /// backend for these models, BENCHMARKS.md).
    #[default]
    Auto,
    /// WebGPU, even in software (still the CPU, with the reason, when WebGPU fails).
    Webgpu,
    /// The CPU backend.
    Cpu,
}

impl BackendChoice {
    /// `auto`, `webgpu` (or `gpu`), `cpu`; case and surrounding space ignored.
    pub fn parse(name: &str) -> Result<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(BackendChoice::Auto),
            "webgpu" | "gpu" => Ok(BackendChoice::Webgpu),
            "cpu" => Ok(BackendChoice::Cpu),
            other => Err(MlaError::config(
                "backend",
                format!("`{other}` is not one of auto, webgpu, cpu"),
            )),
        }
    }
}

/// Whether an adapter that describes itself this way (`GPUAdapterInfo`'s vendor,
/// architecture, device and description, and `isFallbackAdapter`) computes in software.
pub fn is_software_adapter(fallback: bool, info: &[&str]) -> bool {
    const SOFTWARE: [&str; 5] = [
        "swiftshader",
        "llvmpipe",
        "lavapipe",
        "softpipe",
        "basic render",
    ];
    fallback
        || info.iter().any(|field| {
            let field = field.to_ascii_lowercase();
            SOFTWARE.iter().any(|name| field.contains(name))
        })
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

    /// Starts the backend `choice` asks for: WebGPU, or the CPU backend when WebGPU is
    /// missing, fails, is not wanted, or (`auto`) is a software adapter. Never fails:
    /// the CPU is always there; `fallback` says why it runs. WebGPU is started once per
    /// page or worker and then shared.
    #[cfg(all(target_arch = "wasm32", feature = "webgpu"))]
    pub async fn start(choice: BackendChoice) -> Self {
        let on_cpu = |why: String| BrowserDevice {
            device: Device::flex(),
            backend: Backend::Cpu,
            fallback: Some(why),
        };
        if choice == BackendChoice::Cpu {
            return on_cpu("the CPU backend was asked for (backend `cpu`)".into());
        }
        if !has_webgpu() {
            return on_cpu(
                "WebGPU is not available here (`navigator.gpu` is missing; some browsers \
                 offer it to pages but not to workers, or only behind a flag)"
                    .into(),
            );
        }
        if choice == BackendChoice::Auto
            && let Some(adapter) = software_adapter().await
        {
            return on_cpu(format!(
                "WebGPU here runs on a software adapter ({adapter}), which is slower than \
                 the CPU backend; backend `webgpu` uses it anyway"
            ));
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

/// The adapter WebGPU would use, described, when it computes in software; `None` for a
/// hardware adapter or when none can be had (starting WebGPU then fails and says why).
#[cfg(all(target_arch = "wasm32", feature = "webgpu"))]
async fn software_adapter() -> Option<String> {
    use js_sys::{Function, Promise, Reflect};
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;
    let get = |target: &JsValue, key: &str| Reflect::get(target, &JsValue::from_str(key)).ok();
    let navigator = get(&js_sys::global().into(), "navigator")?;
    let gpu = get(&navigator, "gpu")?;
    let request: Function = get(&gpu, "requestAdapter")?.dyn_into().ok()?;
    let adapter: Promise = request.call0(&gpu).ok()?.dyn_into().ok()?;
    let adapter = JsFuture::from(adapter).await.ok()?;
    if adapter.is_null() || adapter.is_undefined() {
        return None;
    }
    let info = get(&adapter, "info").filter(|i| !i.is_undefined())?;
    let flag = |target: &JsValue| get(target, "isFallbackAdapter").and_then(|f| f.as_bool());
    // `isFallbackAdapter` moved from the adapter to its info in 2024's spec.
    let fallback = flag(&info).or_else(|| flag(&adapter)).unwrap_or(false);
    let fields: Vec<String> = ["vendor", "architecture", "device", "description"]
        .into_iter()
        .filter_map(|k| get(&info, k).and_then(|v| v.as_string()))
        .filter(|v| !v.is_empty())
        .collect();
    let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
    is_software_adapter(fallback, &fields).then(|| match fields.is_empty() {
        true => "a fallback adapter".to_string(),
        false => fields.join(", "),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_choices_and_rejects_others() {
        assert_eq!(BackendChoice::parse("").unwrap(), BackendChoice::Auto);
        assert_eq!(
            BackendChoice::parse(" GPU ").unwrap(),
            BackendChoice::Webgpu
        );
        assert_eq!(BackendChoice::parse("cpu").unwrap(), BackendChoice::Cpu);
        let err = BackendChoice::parse("tpu").unwrap_err().to_string();
        assert!(
            err.contains("tpu") && err.contains("auto, webgpu, cpu"),
            "{err}"
        );
    }

    #[test]
    fn software_adapters_are_recognised() {
        // What Chromium reports for SwiftShader, Mesa for llvmpipe, Windows for WARP.
        assert!(is_software_adapter(false, &["google", "swiftshader"]));
        assert!(is_software_adapter(
            false,
            &["mesa", "llvmpipe (LLVM 15.0.6, 256 bits)"]
        ));
        assert!(is_software_adapter(
            false,
            &["Microsoft Basic Render Driver"]
        ));
        assert!(is_software_adapter(true, &["some vendor"]));
        assert!(!is_software_adapter(false, &["nvidia", "ampere"]));
        assert!(!is_software_adapter(false, &["apple", "metal-3"]));
        assert!(!is_software_adapter(false, &[]));
    }
}
