//! The web site a model exports to (`mla::site`): the zip holds the page, the model,
//! the widget and the encoder files the model needs; the page names the model's
//! classes and inputs safely; anything missing or wrong is refused by name.

mod common;

use std::collections::HashMap;

use common::*;
use mla::config::RunConfig;
use mla::data::formats::wav::encode_wav;
use mla::data::formats::zip::read_zip;
use mla::data::{Manifest, ManifestConfig, from_manifest, sources::shapes::shapes};
use mla::io::{ModelHeader, model_file};
use mla::model::pretrained::{MobilenetV2Config, Net, sha256_hex};
use mla::model::{EncoderConfig, ModelSpec};
use mla::rng::Rng;
use mla::site::{MODEL_FILE, WIDGET_FILES, site_zip, snippet};

/// A model file (header and stand-in weights: the site never decodes them) for the
/// manifest `manifest` over `files`, its class names changed by `rename`.
fn model_for(
    manifest: &Manifest,
    files: &HashMap<String, Vec<u8>>,
    rename: impl Fn(&str) -> String,
) -> (ModelHeader, Vec<u8>) {
    let options = ManifestConfig {
        image_size: 16,
        ..Default::default()
    };
    let read = |p: &str| files.get(p).cloned().ok_or_else(|| "missing".to_string());
    let data = from_manifest(manifest, read, &options).unwrap();
    let config = RunConfig::default();
    let spec = ModelSpec::for_data(&data.splits.train, &config.model, Default::default()).unwrap();
    let mut preprocess = data.preprocess;
    for c in &mut preprocess.classes {
        *c = rename(c);
    }
    let header = ModelHeader::new(spec, config.train.fusion, Some(preprocess));
    let bytes = model_file(&header, b"stand-in weights").unwrap();
    (header, bytes)
}

fn widget() -> Vec<(String, Vec<u8>)> {
    WIDGET_FILES
        .iter()
        .chain(&["mla_widget.d.ts"])
        .map(|n| (n.to_string(), format!("contents of {n}").into_bytes()))
        .collect()
}

fn entries(zip: &[u8]) -> HashMap<String, Vec<u8>> {
    read_zip(zip).unwrap().into_iter().collect()
}

#[test]
fn the_site_holds_the_page_the_model_and_the_widget() {
    let (manifest, files) = shapes(60, 16, 0).unwrap();
    let (header, model) = model_for(&manifest, &files, |c| format!("{c} <b>&</b>"));
    let zip = site_zip(&model, &widget(), &[]).unwrap();
    let got = entries(&zip);
    let mut names: Vec<_> = got.keys().cloned().collect();
    names.sort();
    let mut want: Vec<String> = ["index.html", MODEL_FILE, "mla_widget.d.ts"]
        .iter()
        .chain(&WIDGET_FILES)
        .map(|s| s.to_string())
        .collect();
    want.sort();
    assert_eq!(names, want);
    assert_eq!(got[MODEL_FILE], model);
    for (name, bytes) in widget() {
        assert_eq!(got[&name], bytes, "{name}");
    }
    let page = String::from_utf8(got["index.html"].clone()).unwrap();
    // The two lines to paste, shown escaped; the element itself, live.
    let shown = snippet(MODEL_FILE)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    assert!(page.contains(&shown), "{page}");
    assert!(page.contains("<mla-classifier model=\"model.mla\"></mla-classifier>"));
    assert!(page.contains("<script type=\"module\" src=\"mla-classifier.js\"></script>"));
    // Class names are the user's data: escaped, never markup.
    let classes = header.preprocess.as_ref().unwrap().classes.clone();
    assert!(!page.contains("<b>"), "{page}");
    assert!(
        page.contains(
            &classes[0]
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        )
    );
    // Image and text, no audio: the API example asks for what the model takes.
    assert!(page.contains("clf.predict({ image, text })"), "{page}");
    assert!(!page.contains("{{"), "a placeholder is left: {page}");
}

#[test]
fn an_audio_model_s_page_asks_for_a_clip() {
    let mut rng = Rng::new(3);
    let mut files = HashMap::new();
    let mut csv = String::from("voice:audio,caption:text,label\n");
    for i in 0..12 {
        let name = format!("{i}.wav");
        let hz = 300.0 + 500.0 * (i % 2) as f64;
        files.insert(
            name.clone(),
            encode_wav(&tone(hz, 8000, 0.3, 100.0, &mut rng), 8000),
        );
        csv.push_str(&format!("{name},a clip,c{}\n", i % 2));
    }
    let manifest = Manifest::parse("tones.csv", csv.as_bytes()).unwrap();
    let (_, model) = model_for(&manifest, &files, str::to_string);
    let page = String::from_utf8(
        entries(&site_zip(&model, &widget(), &[]).unwrap())["index.html"].clone(),
    )
    .unwrap();
    assert!(page.contains("clf.predict({ text, audio })"), "{page}");
    assert!(page.contains("a text and a WAV clip;"), "{page}");
}

#[test]
fn a_site_needs_every_widget_file_and_plain_names() {
    let (manifest, files) = shapes(60, 16, 0).unwrap();
    let (_, model) = model_for(&manifest, &files, str::to_string);
    for missing in WIDGET_FILES {
        let partial: Vec<_> = widget().into_iter().filter(|(n, _)| n != missing).collect();
        let e = site_zip(&model, &partial, &[]).unwrap_err().to_string();
        assert!(e.contains(missing), "{e}");
    }
    for bad in [
        "../evil.js",
        "sub/file.js",
        ".hidden",
        "",
        "index.html",
        MODEL_FILE,
    ] {
        let mut w = widget();
        w.push((bad.to_string(), b"x".to_vec()));
        let e = site_zip(&model, &w, &[]).unwrap_err().to_string();
        assert!(e.contains("not a plain file name"), "{bad}: {e}");
    }
    // The model file is checked: a damaged one is refused, not exported.
    let mut damaged = model.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 1;
    let e = site_zip(&damaged, &widget(), &[]).unwrap_err().to_string();
    assert!(e.contains("SHA-256"), "{e}");
}

#[test]
fn a_frozen_encoder_s_file_comes_along_checked() {
    let (manifest, files) = shapes(60, 16, 0).unwrap();
    let (mut header, _) = model_for(&manifest, &files, str::to_string);
    let encoder_file = b"an encoder file's bytes".to_vec();
    let image = header
        .spec
        .modalities
        .iter()
        .position(|m| m == "image")
        .unwrap();
    header.spec.encoders[image] = EncoderConfig::MobilenetV2(MobilenetV2Config {
        image_size: 32,
        sha256: Some(sha256_hex(&encoder_file)),
        ..Default::default()
    });
    header.spec.inputs[image] = header.spec.encoders[image]
        .pretrained()
        .unwrap()
        .feature_kind();
    let model = model_file(&header, b"stand-in weights").unwrap();
    let name = Net::MobilenetV2.file_name();
    let e = site_zip(&model, &widget(), &[]).unwrap_err().to_string();
    assert!(e.contains("mobilenet_v2") && e.contains("not given"), "{e}");
    let other = (Net::MobilenetV2, b"another file".to_vec());
    let e = site_zip(&model, &widget(), &[other])
        .unwrap_err()
        .to_string();
    assert!(e.contains(&name) && e.contains("SHA-256"), "{e}");
    let zip = site_zip(
        &model,
        &widget(),
        &[(Net::MobilenetV2, encoder_file.clone())],
    )
    .unwrap();
    let got = entries(&zip);
    assert_eq!(got[&name], encoder_file);
    assert!(!got.contains_key(&Net::MinilmL6.file_name()));
}
