//! What the page holds besides its signals: the device, the uploaded data, the model.
//! Kept in one thread-local (the page has one thread) because Burn values are not
//! reactive and need not be `Send`.

use std::cell::RefCell;

use mla::burn::tensor::Device;
use mla::data::Upload;
use mla::io::ModelHeader;
use mla::model::MultimodalModel;

use crate::backend::PageBackend;

/// A model ready to predict: trained here or imported.
#[derive(Clone)]
pub struct ReadyModel {
    pub header: ModelHeader,
    pub model: MultimodalModel,
}

#[derive(Default)]
struct Session {
    backend: Option<PageBackend>,
    data: Option<Upload>,
    model: Option<ReadyModel>,
}

thread_local! {
    static SESSION: RefCell<Session> = RefCell::new(Session::default());
}

pub fn set_backend(b: PageBackend) {
    SESSION.with_borrow_mut(|s| s.backend = Some(b));
}

/// The page's device (the CPU until the backend has started).
pub fn device() -> Device {
    SESSION.with_borrow(|s| {
        s.backend
            .as_ref()
            .map_or_else(Device::flex, |b| b.device.clone())
    })
}

pub fn set_data(d: Upload) {
    SESSION.with_borrow_mut(|s| s.data = Some(d));
}

/// Runs `f` on the loaded data without copying it.
pub fn with_data<T>(f: impl FnOnce(Option<&Upload>) -> T) -> T {
    SESSION.with_borrow(|s| f(s.data.as_ref()))
}

pub fn set_model(m: ReadyModel) {
    SESSION.with_borrow_mut(|s| s.model = Some(m));
}

pub fn model() -> Option<ReadyModel> {
    SESSION.with_borrow(|s| s.model.clone())
}
