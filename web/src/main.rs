//! The browser trainer: upload image + text data (or use the built-in sample), train
//! MLA on WebGPU (or the CPU compiled to wasm), watch it learn, predict, export.
//!
//! Everything ML lives in the `mla` crate; this crate renders and drives it.

mod app;
mod backend;
mod browser;
mod chart;
mod data_panel;
mod model_panel;
mod predict_panel;
mod session;
mod settings;
mod train_panel;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
