//! A web site for a model: what the page's "Export for a web site" zips. The widget's
//! files (a `widget/build.sh` build), the model, the files of the frozen pretrained
//! networks it needs (the widget fetches them from next to the model) and an
//! `index.html` that shows the model in the `<mla-classifier>` element, with the two
//! lines a host page pastes.

use crate::data::formats::zip::write_zip;
use crate::error::{MlaError, Result};
use crate::io::{ModelHeader, read_header};
use crate::model::pretrained::{Net, sha256_hex};
use crate::predict::input_kinds;

/// The model's file name in the site.
pub const MODEL_FILE: &str = "model.mla";

/// The files of a widget build the site cannot work without: the element, its worker,
/// the wasm-bindgen glue and the wasm module.
pub const WIDGET_FILES: [&str; 4] = [
    "mla-classifier.js",
    "mla-worker.js",
    "mla_widget.js",
    "mla_widget_bg.wasm",
];

/// The example page; `{{…}}` are filled in per model.
const TEMPLATE: &str = include_str!("site/index.html");

/// At most this many class names in the page's title; the rest are counted.
const TITLE_CLASSES: usize = 5;

/// What a host page needs to show the model at the URL `model`: the widget's module
/// and the element.
pub fn snippet(model: &str) -> String {
    format!(
        "<script type=\"module\" src=\"mla-classifier.js\"></script>\n\
         <mla-classifier model=\"{}\"></mla-classifier>",
        escape(model)
    )
}

/// `text` safe inside HTML text and double-quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// `a`, `a and b`, `a, b and c`.
fn listed(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The site's `index.html` for the model `header` describes.
pub fn index_html(header: &ModelHeader) -> Result<String> {
    let takes = input_kinds(header)?;
    let classes = header
        .preprocess
        .as_ref()
        .map(|p| p.classes.clone())
        .unwrap_or_default();
    let mut title = classes
        .iter()
        .take(TITLE_CLASSES)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if classes.len() > TITLE_CLASSES {
        title.push_str(&format!(" and {} more", classes.len() - TITLE_CLASSES));
    }
    let inputs: Vec<(&str, &str)> = [
        (takes.image, "an image", "image"),
        (takes.text, "a text", "text"),
        (takes.audio, "a WAV clip", "audio"),
    ]
    .into_iter()
    .filter(|t| t.0)
    .map(|(_, what, key)| (what, key))
    .collect();
    let modalities = header
        .spec
        .modalities
        .iter()
        .map(|m| format!("<code>{}</code>", escape(m)))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(TEMPLATE
        .replace("{{title}}", &escape(&title))
        .replace("{{classes}}", &escape(&classes.join(", ")))
        .replace("{{modalities}}", &modalities)
        .replace(
            "{{inputs}}",
            &listed(&inputs.iter().map(|i| i.0).collect::<Vec<_>>()),
        )
        .replace(
            "{{keys}}",
            &inputs.iter().map(|i| i.1).collect::<Vec<_>>().join(", "),
        )
        .replace("{{written_by}}", &escape(&header.written_by))
        .replace("{{snippet}}", &escape(&snippet(MODEL_FILE))))
}

/// The site as a zip: `index.html`, the model file `model` (checked, its header
/// read), the `widget` files (name, bytes: every one of [`WIDGET_FILES`], more may come
/// along) and the encoder `files` (network, bytes) of the frozen networks the model
/// needs, each checked against the SHA-256 the model was trained with.
pub fn site_zip(
    model: &[u8],
    widget: &[(String, Vec<u8>)],
    files: &[(Net, Vec<u8>)],
) -> Result<Vec<u8>> {
    let bad = |why: String| MlaError::Model(format!("the site for this model: {why}"));
    for need in WIDGET_FILES {
        if !widget.iter().any(|(n, _)| n == need) {
            return Err(bad(format!("the widget's `{need}` is missing")));
        }
    }
    let header = &read_header(model)?;
    let index = index_html(header)?;
    let mut entries: Vec<(String, &[u8])> = vec![
        ("index.html".into(), index.as_bytes()),
        (MODEL_FILE.into(), model),
    ];
    for (name, bytes) in widget {
        let plain = !name.is_empty()
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !plain || entries.iter().any(|(n, _)| n == name) {
            return Err(bad(format!(
                "`{name}` is not a plain file name, or named twice"
            )));
        }
        entries.push((name.clone(), bytes));
    }
    let frozen = header.spec.frozen_networks();
    for p in header
        .spec
        .encoders
        .iter()
        .filter_map(|e| e.pretrained())
        .filter(|p| frozen.contains(&p.net))
    {
        let name = p.net.file_name();
        if entries.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let (_, bytes) = files.iter().find(|(n, _)| *n == p.net).ok_or_else(|| {
            bad(format!(
                "the pretrained encoder `{}` ({name}) is needed and was not given",
                p.net.name()
            ))
        })?;
        if let Some(want) = &p.sha256 {
            let got = sha256_hex(bytes);
            if &got != want {
                return Err(bad(format!(
                    "{name} has SHA-256 {got}, but the model was trained with {want}"
                )));
            }
        }
        entries.push((name, bytes));
    }
    write_zip(&entries).map_err(bad)
}
