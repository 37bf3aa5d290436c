//! Image + text data from a manifest and files: building, training, predicting one
//! sample from raw inputs, and the errors a user meets.

mod common;

use std::collections::HashMap;

use common::*;
use mla::config::{Method, RunConfig};
use mla::data::{Manifest, ManifestConfig, from_manifest, sources::shapes::shapes};
use mla::data::{Preprocessor, Standardizer};
use mla::model::{Encoder, MultimodalModel};
use mla::predict::{RawInput, SampleInputs, Takes, input_kinds, predict_sample, sample_inputs};

fn reader(files: &HashMap<String, Vec<u8>>) -> impl FnMut(&str) -> Result<Vec<u8>, String> + '_ {
    |p: &str| {
        files
            .get(p)
            .cloned()
            .ok_or_else(|| "not among the uploaded files".to_string())
    }
}

#[test]
fn shapes_sample_trains_and_predicts_from_raw_inputs() {
    let (manifest, files) = shapes(480, 16, 0).unwrap();
    let options = ManifestConfig {
        image_size: 16,
        ..Default::default()
    };
    let data = from_manifest(&manifest, reader(&files), &options).unwrap();
    let counts = data.splits.train.class_counts();
    assert_eq!(counts.len(), 6);
    assert!(counts.iter().all(|&c| c >= 50), "{counts:?}");
    let mut config = RunConfig::default();
    config.model.feature_dim = 32;
    config.train.epochs = 12;
    config.train.batch_size = 32;
    config.train.optimizer.lr = 0.02;
    config.train.method = Method::Mla;
    let (trainer, test) = train_and_test(&config, data.splits.clone());
    // Text cannot separate red from blue circles: it tops out near 5/6.
    assert!(
        test.unimodal[1] > 0.6 && test.unimodal[1] < 0.9,
        "text {}",
        test.unimodal[1]
    );
    assert!(test.unimodal[0] > 0.5, "image {}", test.unimodal[0]);
    assert!(
        test.fused > test.unimodal[1],
        "fusion should resolve the circles: {test:?}"
    );

    // Save with preprocessing, reload, predict a raw sample.
    let (header, model) = reload(&trainer, Some(data.preprocess.clone()));
    // The text encoder's word weights (TF-IDF pooling, the default) were fitted on the
    // training split when training started and travel in the model file.
    let idf = |m: &MultimodalModel| match &m.encoders[1] {
        Encoder::Text(e) => {
            let w = e.idf.as_ref().expect("tf-idf pooling has weights").val();
            w.into_data().try_to_vec::<f32>().unwrap()
        }
        _ => panic!("modality 1 is text"),
    };
    let fitted = idf(trainer.model());
    assert_eq!(fitted, idf(&model));
    assert!(fitted.iter().any(|&w| w > 1.5), "{fitted:?}");
    let row = manifest
        .rows
        .iter()
        .find(|r| r.cells.iter().all(Option::is_some))
        .unwrap();
    let inputs = vec![
        Some(RawInput::Image(
            files[row.cell(&manifest, "image").unwrap()].clone(),
        )),
        Some(RawInput::Text(row.cell(&manifest, "text").unwrap().into())),
    ];
    let p = pollster::block_on(predict_sample(&model, &header, &inputs, &cpu())).unwrap();
    assert_eq!(p.classes.len(), 6);
    let total: f32 = p.probabilities.iter().sum();
    assert!((total - 1.0).abs() < 1e-4);
    let weights: f32 = p.modalities.iter().map(|m| m.weight).sum();
    assert!(
        (weights - 1.0).abs() < 1e-5,
        "fusion weights sum to {weights}"
    );
    for m in &p.modalities {
        assert!((m.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    }
    // Text only: the image gets no weight and no probabilities.
    let text_only = vec![None, Some(RawInput::Text("a blue square".into()))];
    let p = pollster::block_on(predict_sample(&model, &header, &text_only, &cpu())).unwrap();
    assert!(!p.modalities[0].present && p.modalities[0].weight == 0.0);
    assert!((p.modalities[1].weight - 1.0).abs() < 1e-6);
    assert_eq!(p.class_name(), "blue square");
    // Wrong input kinds and no input at all are errors, not panics.
    let swapped = vec![Some(RawInput::Text("x".into())), None];
    assert!(pollster::block_on(predict_sample(&model, &header, &swapped, &cpu())).is_err());
    assert!(pollster::block_on(predict_sample(&model, &header, &[None, None], &cpu())).is_err());
    let broken = vec![Some(RawInput::Image(b"GIF89a...".to_vec())), None];
    let e = pollster::block_on(predict_sample(&model, &header, &broken, &cpu())).unwrap_err();
    assert!(e.to_string().contains("not a readable"), "{e}");

    // Decoded pixels (what a browser canvas gives) predict what the file's bytes predict.
    let png = files[row.cell(&manifest, "image").unwrap()].clone();
    let rgba = image::load_from_memory(&png).unwrap().to_rgba8();
    let (width, height) = rgba.dimensions();
    let pixels = RawInput::Pixels {
        width,
        height,
        rgba: rgba.into_raw(),
    };
    let text = Some("something round".to_string());
    let inputs = |image: Option<RawInput>, text: Option<String>| SampleInputs {
        image,
        text,
        audio: None,
    };
    let by_bytes =
        sample_inputs(&header, inputs(Some(RawInput::Image(png)), text.clone())).unwrap();
    let by_pixels = sample_inputs(&header, inputs(Some(pixels), text.clone())).unwrap();
    let p = pollster::block_on(predict_sample(&model, &header, &by_bytes, &cpu())).unwrap();
    let q = pollster::block_on(predict_sample(&model, &header, &by_pixels, &cpu())).unwrap();
    assert_eq!(p, q);
    assert!(p.modalities.iter().all(|m| m.present));

    // An image front end meets models that take other inputs with errors naming them.
    let takes = |image, text| Takes {
        image,
        text,
        audio: false,
    };
    assert_eq!(input_kinds(&header).unwrap(), takes(true, true));
    let not_image = sample_inputs(&header, inputs(Some(RawInput::Text("x".into())), None));
    assert!(not_image.unwrap_err().to_string().contains("not an image"));
    let mut text_vector = header.clone();
    let prep = text_vector.preprocess.as_mut().unwrap();
    prep.modalities[0] = Preprocessor::Vector(Standardizer {
        mean: vec![0.0; 3],
        std: vec![1.0; 3],
    });
    assert_eq!(input_kinds(&text_vector).unwrap(), takes(false, true));
    let e = sample_inputs(
        &text_vector,
        inputs(Some(RawInput::Image(vec![1])), text.clone()),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("takes no image") && e.contains("image: vector, text: text"),
        "{e}"
    );
    assert_eq!(
        sample_inputs(&text_vector, inputs(None, text.clone())).unwrap()[1],
        Some(RawInput::Text("something round".into()))
    );
    let prep = text_vector.preprocess.as_mut().unwrap();
    prep.modalities[1] = prep.modalities[0].clone();
    let e = input_kinds(&text_vector).unwrap_err().to_string();
    assert!(e.contains("no image, text or audio"), "{e}");
    text_vector.preprocess = None;
    let e = input_kinds(&text_vector).unwrap_err().to_string();
    assert!(e.contains("numeric features"), "{e}");
}

#[test]
fn bad_uploads_are_clear_errors() {
    let (_, files) = shapes(12, 8, 1).unwrap();
    let png = files.values().next().unwrap().clone();
    let mut files = HashMap::new();
    files.insert("a.png".to_string(), png);
    files.insert("b.png".to_string(), b"not an image".to_vec());
    let options = ManifestConfig::default();
    let build = |csv: &str| {
        let m = Manifest::parse("up.csv", csv.as_bytes())?;
        from_manifest(&m, reader(&files), &options).map(|_| ())
    };
    let e = build("image,text,label\na.png,x,p\nmissing.png,y,q\na.png,z,q\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("up.csv line 3") && e.contains("missing.png") && e.contains("not among"),
        "{e}"
    );
    let e = build("image,text,label\na.png,x,p\nb.png,y,q\na.png,z,q\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("line 3") && e.contains("b.png") && e.contains("not a readable"),
        "{e}"
    );
    let e = build("image,text,label\na.png,x,p\na.png,y,p\na.png,z,p\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("at least 2 classes"), "{e}");
    let e = build("image,text,label\na.png,,p\na.png,,q\na.png,,q\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("no sample has a `text` cell"), "{e}");
    assert!(build("image,text,label\na.png,x,p\na.png,y,q\na.png,z,q\n").is_ok());
}

/// A folder upload as the browser gives it (paths under the picked folder) builds the
/// same data set as the manifest read with its files directly.
#[test]
fn uploaded_folder_builds_the_same_data_as_the_manifest() {
    use mla::data::{FileSet, Upload};

    let sample = Upload::sample(60, 2).unwrap();
    let mut files: FileSet = sample
        .files
        .clone()
        .into_iter()
        .map(|(p, b)| (format!("picked/{p}"), b))
        .collect();
    files.insert("picked/shapes.csv", sample.manifest.to_csv().into_bytes());
    let upload = Upload::new(files).unwrap();
    assert_eq!(upload.manifest_path, "picked/shapes.csv");
    let options = ManifestConfig {
        image_size: 8,
        ..Default::default()
    };
    let a = sample.build(&options).unwrap();
    let b = upload.build(&options).unwrap();
    assert_eq!(a.preprocess, b.preprocess);
    for (x, y) in [
        (&a.splits.train, &b.splits.train),
        (&a.splits.valid, &b.splits.valid),
        (&a.splits.test, &b.splits.test),
    ] {
        assert_eq!(x.labels, y.labels);
        for (mx, my) in x.modalities.iter().zip(&y.modalities) {
            assert_eq!(mx.values, my.values);
            assert_eq!(mx.present, my.present);
        }
    }
}

#[test]
fn every_bad_row_is_reported_at_once_or_skipped_and_counted() {
    let (manifest, files) = shapes(60, 8, 2).unwrap();
    let mut files = files.into_iter().collect::<HashMap<_, _>>();
    // Two rows break: one image is garbage, one is missing.
    let image = |r: &&mla::data::ManifestRow| r.cell(&manifest, "image").map(String::from);
    let with_image: Vec<_> = manifest
        .rows
        .iter()
        .filter(|r| image(r).is_some())
        .collect();
    let (broken, gone) = (with_image[3], with_image[7]);
    files.insert(image(&broken).unwrap(), b"garbage".to_vec());
    files.remove(&image(&gone).unwrap());
    let options = ManifestConfig {
        image_size: 8,
        ..Default::default()
    };
    let e = from_manifest(&manifest, reader(&files), &options)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains(": 2 bad samples"), "{e}");
    for row in [broken, gone] {
        assert!(e.contains(&format!("line {}", row.line)), "{e}");
    }
    let skipping = ManifestConfig {
        skip_bad: true,
        ..options
    };
    let data = from_manifest(&manifest, reader(&files), &skipping).unwrap();
    assert_eq!(data.skipped.len(), 2, "{:?}", data.skipped);
    let s = &data.splits;
    assert_eq!(
        s.train.len() + s.valid.len() + s.test.len(),
        manifest.rows.len() - 2
    );
}
