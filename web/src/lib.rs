//! The browser trainer: upload a manifest and its files (or use the built-in sample), train
//! MLA on WebGPU (or the CPU compiled to wasm), watch it learn, predict, export.
//!
//! Everything ML lives in the `mla` crate; this crate renders and drives it. The same
//! module runs twice: on the page's thread it renders (`app` and the panels), in a
//! Web Worker it computes (`engine`); they talk through `client` and `protocol`.

mod app;
mod browser;
mod capture;
mod chart;
mod client;
mod data_panel;
mod engine;
mod model_panel;
mod predict_panel;
mod protocol;
mod settings;
mod train_panel;

/// Entry point, run once when the module loads.
///
/// The page is a library (`cdylib`), and it runs the static constructors itself, once:
/// otherwise wasm-ld wraps every export in a call to them, and Burn's kernel registry
/// (`inventory`) has hundreds (see [`mla::device::run_static_constructors`]).
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    mla::device::run_static_constructors();
    // In the engine's worker there is no page: `engine::engine_main` takes over there.
    if web_sys::window().is_none() {
        return;
    }
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
