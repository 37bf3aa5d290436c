//! Picking and initialising the Burn [`Device`] a run uses.
//!
//! Which backends exist is decided by Cargo features; which one runs is decided at run
//! time by name. GPU devices are initialised once per process and then reused.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::error::{MlaError, Result};

mod allocator;
mod browser;
mod readback;

pub use allocator::keep_freed_memory;

#[cfg(target_arch = "wasm32")]
pub use browser::fetch_bytes;
pub use browser::{BackendChoice, BrowserDevice, is_software_adapter, run_static_constructors};
pub use readback::read_floats;

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
