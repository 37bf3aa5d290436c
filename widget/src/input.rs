//! JavaScript values to the core's raw inputs: file bytes as they are, pictures the
//! browser already decoded (`ImageBitmap`, `<img>`, canvases) as RGBA pixels.

use js_sys::{ArrayBuffer, Object, Reflect, Uint8Array};
use mla::predict::{RawInput, SampleInputs};
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    Blob, HtmlCanvasElement, HtmlImageElement, ImageBitmap, ImageData, OffscreenCanvas,
    OffscreenCanvasRenderingContext2d,
};

use crate::message_of;

#[wasm_bindgen]
extern "C" {
    /// A 2D context seen through one method: `drawImage` with any `CanvasImageSource`
    /// (web-sys has one binding per source type).
    type AnySourceContext;
    #[wasm_bindgen(method, catch, js_name = drawImage)]
    fn draw_image(
        this: &AnySourceContext,
        source: &JsValue,
        dx: f64,
        dy: f64,
    ) -> Result<(), JsValue>;
}

const IMAGE_KINDS: &str = "file bytes (Uint8Array, ArrayBuffer), a Blob or File, an \
    ImageBitmap, an <img>, a canvas or ImageData";

/// What a value is, for messages: `a string`, `a number`, `an object (Foo)`.
fn describe(v: &JsValue) -> String {
    if v.is_string() {
        return "a string".into();
    }
    if let Some(o) = v.dyn_ref::<Object>() {
        if js_sys::Array::is_array(v) {
            return "an array".into();
        }
        return format!("an object ({})", String::from(o.constructor().name()));
    }
    format!("a {}", v.js_typeof().as_string().unwrap_or_default())
}

/// The image, the text and the audio clip of a `predict` call's argument
/// `{ image, text, audio }`; a missing, `null` or blank one is `None`. Other keys, or
/// values of other kinds, are errors.
pub async fn sample_inputs(input: &JsValue) -> Result<SampleInputs, String> {
    let Some(object) = input
        .dyn_ref::<Object>()
        .filter(|_| !js_sys::Array::is_array(input))
    else {
        return Err(format!(
            "predict takes an object {{ image, text, audio }}, got {}",
            describe(input)
        ));
    };
    check_keys(object, &["image", "text", "audio"], "input")?;
    let get = |key: &str| {
        Reflect::get(object, &JsValue::from_str(key))
            .ok()
            .filter(|v| !v.is_undefined() && !v.is_null())
    };
    let text = match get("text") {
        None => None,
        Some(t) => Some(
            t.as_string()
                .ok_or_else(|| format!("`text` must be a string, got {}", describe(&t)))?,
        ),
    }
    .filter(|t| !t.trim().is_empty());
    let image = match get("image") {
        None => None,
        Some(v) => Some(image(&v).await?),
    };
    let audio = match get("audio") {
        None => None,
        Some(v) => Some(bytes(&v).await?.ok_or_else(|| {
            format!(
                "`audio` must be WAV file bytes (Uint8Array, ArrayBuffer), a Blob or File; \
                 got {}",
                describe(&v)
            )
        })?),
    };
    Ok(SampleInputs { image, text, audio })
}

/// An error naming the first key of `object` that is not one of `known`.
pub fn check_keys(object: &Object, known: &[&str], what: &str) -> Result<(), String> {
    for key in Object::keys(object).iter() {
        let key = key.as_string().unwrap_or_default();
        if !known.contains(&key.as_str()) {
            return Err(format!(
                "unknown {what} `{key}` (the {what}s are {})",
                known.join(", ")
            ));
        }
    }
    Ok(())
}

/// The bytes of a `Uint8Array`, an `ArrayBuffer` or a `Blob`; `None` for other values.
pub async fn bytes(v: &JsValue) -> Result<Option<Vec<u8>>, String> {
    if let Some(a) = v.dyn_ref::<Uint8Array>() {
        return Ok(Some(a.to_vec()));
    }
    if let Some(b) = v.dyn_ref::<ArrayBuffer>() {
        return Ok(Some(Uint8Array::new(b).to_vec()));
    }
    if let Some(blob) = v.dyn_ref::<Blob>() {
        let buffer = JsFuture::from(blob.array_buffer())
            .await
            .map_err(|e| format!("reading the Blob failed: {}", message_of(&e)))?;
        return Ok(Some(Uint8Array::new(&buffer).to_vec()));
    }
    Ok(None)
}

async fn image(v: &JsValue) -> Result<RawInput, String> {
    if let Some(b) = bytes(v).await? {
        return Ok(RawInput::Image(b));
    }
    if let Some(d) = v.dyn_ref::<ImageData>() {
        return Ok(RawInput::Pixels {
            width: d.width(),
            height: d.height(),
            rgba: d.data().0,
        });
    }
    let (width, height) = if let Some(img) = v.dyn_ref::<HtmlImageElement>() {
        if !img.complete() || img.natural_width() == 0 {
            JsFuture::from(img.decode()).await.map_err(|e| {
                format!(
                    "the <img> ({}) has no picture to read: {}",
                    img.src(),
                    message_of(&e)
                )
            })?;
        }
        (img.natural_width(), img.natural_height())
    } else if let Some(b) = v.dyn_ref::<ImageBitmap>() {
        (b.width(), b.height())
    } else if let Some(c) = v.dyn_ref::<HtmlCanvasElement>() {
        (c.width(), c.height())
    } else if let Some(c) = v.dyn_ref::<OffscreenCanvas>() {
        (c.width(), c.height())
    } else if v.is_string() {
        return Err(format!(
            "`image` is a string: give the image itself, as {IMAGE_KINDS} (fetch a URL first)"
        ));
    } else {
        return Err(format!(
            "`image` must be {IMAGE_KINDS}; got {}",
            describe(v)
        ));
    };
    let rgba = pixels(v, width, height)?;
    Ok(RawInput::Pixels {
        width,
        height,
        rgba,
    })
}

/// Draws a decoded picture on a canvas of its size and reads the RGBA pixels back.
fn pixels(source: &JsValue, width: u32, height: u32) -> Result<Vec<u8>, String> {
    if width == 0 || height == 0 {
        return Err(format!("the image is {width}x{height}: it has no pixels"));
    }
    let fail = |what: &str, e: JsValue| format!("{what}: {}", message_of(&e));
    let canvas = OffscreenCanvas::new(width, height).map_err(|e| fail("canvas", e))?;
    let context: OffscreenCanvasRenderingContext2d = canvas
        .get_context("2d")
        .map_err(|e| fail("canvas", e))?
        .ok_or("the browser gave no 2D canvas context")?
        .unchecked_into();
    context
        .unchecked_ref::<AnySourceContext>()
        .draw_image(source, 0.0, 0.0)
        .map_err(|e| fail("drawing the image", e))?;
    let data = context
        .get_image_data(0.0, 0.0, width as f64, height as f64)
        .map_err(|e| {
            fail(
                "reading the image's pixels (an image from another origin needs CORS)",
                e,
            )
        })?;
    Ok(data.data().0)
}
