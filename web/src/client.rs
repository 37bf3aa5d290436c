//! The page's side of the engine: starts the worker and routes its replies.

use std::cell::RefCell;
use std::collections::HashMap;

use js_sys::Array;
use wasm_bindgen::prelude::*;
use web_sys::{Blob, BlobPropertyBag, MessageEvent, Url, Worker, WorkerOptions, WorkerType};

use crate::browser::{PathFile, js_error};
use crate::protocol::{Message, Reply, Request};

#[wasm_bindgen]
extern "C" {
    /// The URL of this module's JavaScript glue, which the worker imports too.
    #[wasm_bindgen(thread_local_v2, js_namespace = ["import", "meta"], js_name = url)]
    static GLUE_URL: String;
}

/// The worker's first script: it instantiates this same wasm module (sent as a compiled
/// `WebAssembly.Module`, so it is not fetched or compiled twice) and hands over to
/// [`crate::engine::engine_main`] with whatever arrived meanwhile.
const BOOT: &str = r#"
// A trap in the engine (out of memory: `RuntimeError: unreachable`) inside a task of
// its futures rejects a promise, which no `error` event reports: said here.
self.addEventListener('unhandledrejection', (event) => {
  self.postMessage({ id: 0, json: JSON.stringify({ Crashed: `the engine failed: ${event.reason}` }) });
});
const queued = [];
let booting = false;
self.onmessage = async (event) => {
  if (booting) { queued.push(event.data); return; }
  booting = true;
  try {
    const glue = await import(event.data.glue);
    await glue.default({ module_or_path: event.data.module });
    glue.engine_main(queued);
  } catch (e) {
    self.postMessage({ id: 0, json: JSON.stringify({ Crashed: `the engine did not start: ${e}` }) });
  }
};
"#;

type Handler = Box<dyn FnMut(Reply, Option<Vec<u8>>)>;

struct Client {
    worker: Worker,
    next_id: u32,
    handlers: HashMap<u32, Handler>,
    /// Told about replies to no request: the engine's crash.
    on_engine: Handler,
}

thread_local! {
    static CLIENT: RefCell<Option<Client>> = const { RefCell::new(None) };
}

fn boot_url() -> Result<String, String> {
    let parts = Array::of1(&JsValue::from_str(BOOT));
    let options = BlobPropertyBag::new();
    options.set_type("text/javascript");
    let blob = Blob::new_with_str_sequence_and_options(&parts, &options).map_err(js_error)?;
    Url::create_object_url_with_blob(&blob).map_err(js_error)
}

/// Starts the engine. `on_engine` hears what concerns no request (a crash).
pub fn spawn(on_engine: impl FnMut(Reply, Option<Vec<u8>>) + 'static) -> Result<(), String> {
    let worker = start_worker()?;
    CLIENT.set(Some(Client {
        worker,
        next_id: 1,
        handlers: HashMap::new(),
        on_engine: Box::new(on_engine),
    }));
    Ok(())
}

/// Replaces the engine by a fresh one (after a crash: its memory is gone with it). The
/// new engine knows nothing yet: start its backend and load the data again.
pub fn restart() -> Result<(), String> {
    let worker = start_worker()?;
    let old = CLIENT.with_borrow_mut(|c| {
        let c = c.as_mut()?;
        // Requests to the old engine hear nothing more.
        c.handlers.clear();
        Some(std::mem::replace(&mut c.worker, worker))
    });
    if let Some(old) = old {
        // Whatever it still posts (a second crash report) is not heard.
        old.set_onmessage(None);
        old.set_onerror(None);
        old.terminate();
    }
    Ok(())
}

/// A worker running [`BOOT`], its replies routed to the handlers.
fn start_worker() -> Result<Worker, String> {
    let options = WorkerOptions::new();
    options.set_type(WorkerType::Module);
    options.set_name("mla-engine");
    let url = boot_url()?;
    let worker = Worker::new_with_options(&url, &options).map_err(js_error)?;
    let _ = Url::revoke_object_url(&url);
    let on_message = Closure::<dyn Fn(MessageEvent)>::new(|ev: MessageEvent| route(ev.data()));
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    let on_error = Closure::<dyn Fn(web_sys::ErrorEvent)>::new(|ev: web_sys::ErrorEvent| {
        route_engine(Reply::Crashed(format!(
            "the engine failed: {}",
            ev.message()
        )));
    });
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    on_error.forget();
    let boot = js_sys::Object::new();
    let set = |k: &str, v: &JsValue| js_sys::Reflect::set(&boot, &JsValue::from_str(k), v);
    set("glue", &JsValue::from_str(&GLUE_URL.with(String::clone))).map_err(js_error)?;
    set("module", &wasm_bindgen::module()).map_err(js_error)?;
    worker.post_message(&boot).map_err(js_error)?;
    Ok(worker)
}

fn route_engine(reply: Reply) {
    // A dead engine answers nothing more: every request waiting for it hears why, so
    // no panel waits forever.
    if let Reply::Crashed(why) = &reply {
        let waiting: Vec<Handler> = CLIENT.with_borrow_mut(|c| {
            c.as_mut()
                .map(|c| c.handlers.drain().map(|(_, h)| h).collect())
                .unwrap_or_default()
        });
        for mut h in waiting {
            h(Reply::Error(format!("the engine stopped: {why}")), None);
        }
    }
    // Taken out while it runs, so it may send requests itself.
    let handler = CLIENT.with_borrow_mut(|c| {
        c.as_mut()
            .map(|c| std::mem::replace(&mut c.on_engine, Box::new(|_, _| {})))
    });
    if let Some(mut h) = handler {
        h(reply, None);
        CLIENT.with_borrow_mut(|c| {
            if let Some(c) = c.as_mut() {
                c.on_engine = h;
            }
        });
    }
}

fn route(data: JsValue) {
    let message = match Message::<Reply>::from_js(&data) {
        Ok(m) => m,
        Err(e) => return route_engine(Reply::Crashed(e)),
    };
    if message.id == 0 {
        return route_engine(message.body);
    }
    let last = message.body.is_last();
    let handler = CLIENT.with_borrow_mut(|c| c.as_mut()?.handlers.remove(&message.id));
    if let Some(mut h) = handler {
        h(message.body, message.bytes);
        if !last {
            CLIENT.with_borrow_mut(|c| {
                if let Some(c) = c.as_mut() {
                    c.handlers.insert(message.id, h);
                }
            });
        }
    }
}

/// Sends a request with its attachments; `on_reply` hears every reply to it.
pub fn send(
    request: Request,
    files: Vec<PathFile>,
    bytes: Option<Vec<u8>>,
    on_reply: impl FnMut(Reply, Option<Vec<u8>>) + 'static,
) {
    send_message(
        Message::new(0, request).with_files(files).with_bytes(bytes),
        on_reply,
    );
}

/// Sends a message (its id is set here); `on_reply` hears every reply to it.
pub fn send_message(
    message: Message<Request>,
    on_reply: impl FnMut(Reply, Option<Vec<u8>>) + 'static,
) {
    let mut handler = Some(Box::new(on_reply) as Handler);
    let sent = CLIENT.with_borrow_mut(|c| {
        let c = c.as_mut().ok_or("the engine has not started")?;
        let id = c.next_id;
        c.next_id += 1;
        let (value, transfer) = Message { id, ..message }.to_js();
        c.worker
            .post_message_with_transfer(&value, &transfer)
            .map_err(js_error)?;
        if let Some(h) = handler.take() {
            c.handlers.insert(id, h);
        }
        Ok::<_, String>(())
    });
    if let (Err(e), Some(mut h)) = (sent, handler) {
        h(Reply::Error(e), None);
    }
}

/// Sends a request whose reply attaches a file ([`Reply::Exported`]: a model, a data
/// set) and offers the file as a download named `name`; `done` hears why not, if it
/// fails (`None` when the file was offered).
pub fn download(
    request: Request,
    name: &'static str,
    mut done: impl FnMut(Option<String>) + 'static,
) {
    send(request, Vec::new(), None, move |reply, bytes| {
        // Progress: the file comes with the last reply.
        if !reply.is_last() {
            return;
        }
        let result = match (reply, bytes) {
            (Reply::Exported, Some(bytes)) => crate::browser::download(&bytes, name),
            (Reply::Error(e), _) => Err(e),
            _ => Err(format!("the engine sent no file for {name}")),
        };
        done(result.err());
    });
}

/// Sends a request that gets no reply (a stop).
pub fn notify(request: Request) {
    send(request, Vec::new(), None, |_, _| {});
    // No reply will come to remove it.
    CLIENT.with_borrow_mut(|c| {
        if let Some(c) = c.as_mut() {
            c.handlers.remove(&(c.next_id - 1));
        }
    });
}
