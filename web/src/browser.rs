//! Small bridges to browser APIs: reading files, downloads, yielding, the clock.

use js_sys::{Array, Promise, Uint8Array};
use mla::data::{FileSet, check_upload_size};
use mla::device::BackendChoice;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    Blob, BlobPropertyBag, DataTransfer, File, FileList, FileSystemDirectoryEntry, FileSystemEntry,
    FileSystemFileEntry, HtmlAnchorElement, Url,
};

/// A message from a JavaScript error value.
pub fn js_error(e: JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

fn global(name: &str) -> JsValue {
    js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str(name)).unwrap_or_default()
}

/// Milliseconds since the page (or the worker) started.
pub fn now_ms() -> f64 {
    global("performance")
        .dyn_into::<web_sys::Performance>()
        .map_or(0.0, |p| p.now())
}

/// Gives the event loop a turn, so that messages (a stop) get in between training
/// steps. A zero-delay timer: a message to itself (`MessageChannel`) is quicker but
/// was seen to starve the worker's messages from the page in Chromium.
pub async fn yield_now() {
    let promise = Promise::new(&mut |resolve, _| {
        let set_timeout = global("setTimeout").dyn_into::<js_sys::Function>();
        let queued =
            set_timeout.and_then(|f| f.call2(&JsValue::UNDEFINED, &resolve, &JsValue::from(0)));
        if queued.is_err() {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    });
    let _ = JsFuture::from(promise).await;
}

/// `path` resolved against the page's address (for the worker, which has none).
pub fn page_url(path: &str) -> String {
    let href = web_sys::window()
        .and_then(|w| w.location().href().ok())
        .unwrap_or_default();
    Url::new_with_base(path, &href)
        .map(|u| u.href())
        .unwrap_or_else(|_| path.to_string())
}

/// The backend the page's address asks for (`?backend=auto|webgpu|cpu`; `auto` when
/// absent).
pub fn backend_choice() -> Result<BackendChoice, String> {
    let search = web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default();
    let value = search
        .trim_start_matches('?')
        .split('&')
        .find_map(|kv| kv.split_once('=').filter(|(k, _)| *k == "backend"))
        .map_or("", |(_, v)| v);
    BackendChoice::parse(value).map_err(|e| format!("the address's {e}"))
}

/// The bytes of one file.
pub async fn read_file(file: &File) -> Result<Vec<u8>, String> {
    let buffer = JsFuture::from(file.array_buffer())
        .await
        .map_err(|e| format!("{}: {}", file.name(), js_error(e)))?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// A file with its path inside what was picked or dropped.
pub type PathFile = (String, File);

/// A file's path inside what was picked: the folder-relative path for a folder pick,
/// else its name.
fn relative_path(file: &File) -> String {
    let rel = js_sys::Reflect::get(file, &JsValue::from_str("webkitRelativePath"))
        .ok()
        .and_then(|v| v.as_string())
        .unwrap_or_default();
    if rel.is_empty() { file.name() } else { rel }
}

/// The files of a file input, with their paths.
pub fn picked_files(list: &FileList) -> Vec<PathFile> {
    (0..list.length())
        .filter_map(|i| list.get(i))
        .map(|f| (relative_path(&f), f))
        .collect()
}

/// The entries of a drop; they must be taken while the drop event runs.
pub fn dropped_entries(transfer: &DataTransfer) -> Vec<FileSystemEntry> {
    let items = transfer.items();
    (0..items.length())
        .filter_map(|i| items.get(i))
        .filter_map(|item| item.webkit_get_as_entry().ok().flatten())
        .collect()
}

/// Every file under dropped entries, folders walked recursively.
pub async fn walk_entries(entries: Vec<FileSystemEntry>) -> Result<Vec<PathFile>, String> {
    let mut files = Vec::new();
    let mut stack = entries;
    while let Some(entry) = stack.pop() {
        let path = entry.full_path().trim_start_matches('/').to_string();
        if entry.is_file() {
            let entry: FileSystemFileEntry = entry.unchecked_into();
            let file =
                Promise::new(&mut |ok, err| entry.file_with_callback_and_callback(&ok, &err));
            let file = JsFuture::from(file)
                .await
                .map_err(|e| format!("{path}: {}", js_error(e)))?;
            files.push((path, file.unchecked_into()));
        } else if entry.is_directory() {
            let reader = entry
                .unchecked_into::<FileSystemDirectoryEntry>()
                .create_reader();
            // `readEntries` hands out a folder in batches until one comes back empty.
            loop {
                let batch = Promise::new(&mut |ok, err| {
                    if let Err(e) = reader.read_entries_with_callback_and_callback(&ok, &err) {
                        let _ = err.call1(&JsValue::NULL, &e);
                    }
                });
                let batch: Array = JsFuture::from(batch)
                    .await
                    .map_err(|e| format!("{path}: {}", js_error(e)))?
                    .unchecked_into();
                if batch.length() == 0 {
                    break;
                }
                stack.extend(batch.iter().map(JsCast::unchecked_into::<FileSystemEntry>));
            }
        }
    }
    Ok(files)
}

/// Reads picked or dropped files into a [`FileSet`], checking the size limit first.
pub async fn read_upload(files: &[PathFile]) -> Result<FileSet, String> {
    check_upload_size(files.iter().map(|(p, f)| (p.as_str(), f.size() as u64)))
        .map_err(|e| e.to_string())?;
    let mut set = FileSet::new();
    for (path, file) in files {
        let bytes = read_file(file).await?;
        if path.to_ascii_lowercase().ends_with(".zip") {
            set.insert_zip(path, &bytes).map_err(|e| e.to_string())?;
        } else {
            set.insert(path, bytes);
        }
    }
    Ok(set)
}

/// An object URL for bytes (revoke with [`Url::revoke_object_url`] when done).
pub fn object_url(bytes: &[u8], mime: &str) -> Result<String, String> {
    let parts = Array::of1(&Uint8Array::from(bytes));
    let options = BlobPropertyBag::new();
    options.set_type(mime);
    let blob = Blob::new_with_u8_array_sequence_and_options(&parts, &options).map_err(js_error)?;
    Url::create_object_url_with_blob(&blob).map_err(js_error)
}

/// Offers bytes as a download named `name`.
pub fn download(bytes: &[u8], name: &str) -> Result<(), String> {
    let url = object_url(bytes, "application/octet-stream")?;
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let a: HtmlAnchorElement = document
        .create_element("a")
        .map_err(js_error)?
        .dyn_into()
        .map_err(|_| "not an anchor".to_string())?;
    a.set_href(&url);
    a.set_download(name);
    a.click();
    Url::revoke_object_url(&url).map_err(js_error)
}
