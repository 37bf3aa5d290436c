//! Manifests with typed columns of every kind (image, audio, text, vector inline and
//! `.npy`): building, training, predicting rows from raw files, and the errors.

mod common;

use std::collections::HashMap;

use common::*;
use mla::config::RunConfig;
use mla::data::formats::image::encode_png;
use mla::data::formats::wav::encode_wav;
use mla::data::transform::split::stratified_split;
use mla::data::{InputKind, Manifest, ManifestConfig, encode_npy, from_manifest};
use mla::predict::{
    RawInput, SampleInputs, manifest_columns, predict_sample, row_inputs, sample_inputs,
};
use mla::rng::Rng;

type Files = HashMap<String, Vec<u8>>;

fn reader(files: &Files) -> impl FnMut(&str) -> Result<Vec<u8>, String> + '_ {
    |p: &str| {
        files
            .get(p)
            .cloned()
            .ok_or_else(|| "no such file".to_string())
    }
}

const CLASSES: usize = 4;

/// `n` samples of 4 classes: a tone whose pitch tells the class (audio), a colour
/// (image) that tells it only in half the classes, a noisy 6-number vector (inline for
/// even rows, `.npy` for odd) and a caption that names the class for a third of the
/// rows. About a tenth of each modality's cells are empty.
fn typed(n: usize, seed: u64) -> (String, Files) {
    let mut rng = Rng::new(seed);
    let mut files = Files::new();
    let mut csv = String::from("voice:audio,photo:image,feat:vector,caption:text,label\n");
    for i in 0..n {
        let class = i % CLASSES;
        let keep = |rng: &mut Rng| rng.uniform() > 0.1;
        let voice = keep(&mut rng).then(|| {
            let path = format!("wav/{i}.wav");
            let hz = 300.0 + 500.0 * class as f64;
            files.insert(
                path.clone(),
                encode_wav(&tone(hz, 8000, 0.3, 2000.0, &mut rng), 8000),
            );
            path
        });
        let photo = keep(&mut rng).then(|| {
            let path = format!("img/{i}.png");
            let level = if class < 2 { 200 } else { 50 };
            let img = image::RgbImage::from_fn(8, 8, |_, _| {
                let j = (rng.normal() * 30.0) as i32;
                image::Rgb([(level + j).clamp(0, 255) as u8, 90, 90])
            });
            files.insert(path.clone(), encode_png(&img).unwrap());
            path
        });
        let feat = keep(&mut rng).then(|| {
            let v: Vec<f32> = (0..6)
                .map(|d| (if d == class { 3.0 } else { 0.0 }) + rng.normal() as f32 + 100.0)
                .collect();
            if i % 2 == 0 {
                v.iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            } else {
                let path = format!("npy/{i}.npy");
                files.insert(path.clone(), encode_npy(&[6], &v));
                path
            }
        });
        let caption = keep(&mut rng).then(|| match i % 3 {
            0 => format!("kind {class} here"),
            _ => "something".to_string(),
        });
        let cell = |c: Option<String>| c.unwrap_or_default();
        csv += &format!(
            "{},{},{},{},c{class}\n",
            cell(voice),
            cell(photo),
            cell(feat),
            cell(caption)
        );
    }
    (csv, files)
}

fn options() -> ManifestConfig {
    let mut o = ManifestConfig {
        image_size: 8,
        ..Default::default()
    };
    o.fbank.mel_bins = 16;
    o.fbank.frames = 20;
    o
}

#[test]
fn every_column_kind_builds_trains_and_predicts_rows() {
    let (csv, files) = typed(240, 1);
    let manifest = Manifest::parse("typed.csv", csv.as_bytes()).unwrap();
    let data = from_manifest(&manifest, reader(&files), &options()).unwrap();
    let kinds: Vec<_> = data
        .splits
        .train
        .modalities
        .iter()
        .map(|m| (m.name.as_str(), m.kind.clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            (
                "voice",
                InputKind::Image {
                    channels: 1,
                    height: 20,
                    width: 16
                }
            ),
            (
                "photo",
                InputKind::Image {
                    channels: 3,
                    height: 8,
                    width: 8
                }
            ),
            ("feat", InputKind::Features { dim: 6 }),
            ("caption", InputKind::Tokens { len: 16, vocab: 9 }), // kind, 0-3, here, something
        ]
    );
    // Vectors are standardised with the training split: mean ~0, deviation ~1, where
    // raw values are around 100.
    let feat = &data.splits.train.modalities[2];
    let present: Vec<f32> = (0..data.splits.train.len())
        .filter(|&i| feat.present[i])
        .flat_map(|i| feat.item(i).to_vec())
        .collect();
    let mean = present.iter().sum::<f32>() / present.len() as f32;
    assert!(mean.abs() < 1e-3, "{mean}");

    let mut config = RunConfig::default();
    config.model.feature_dim = 32;
    config.train.epochs = 10;
    config.train.batch_size = 16;
    config.train.optimizer.lr = 0.02;
    let (trainer, test) = train_and_test(&config, data.splits.clone());
    // Pitch alone tells the class; the colour only its half (~0.5).
    assert!(test.unimodal[0] > 0.8, "audio {test:?}");
    assert!(
        test.unimodal[1] > 0.35 && test.unimodal[1] < 0.7,
        "image {test:?}"
    );
    assert!(test.unimodal[2] > 0.6, "vector {test:?}");
    assert!(test.fused > 0.85, "{test:?}");

    // Through a model file, predicting rows of a manifest from their files gives the
    // same as the data set built for training (same preprocessing, same statistics).
    let (header, model) = reload(&trainer, Some(data.preprocess.clone()));
    // Columns in another order, one left out: matched by name.
    let mut reordered = String::from("feat:vector,voice:audio,label\n");
    for row in manifest.rows.iter().take(12) {
        let c = |name: &str| row.cell(&manifest, name).unwrap_or("").to_string();
        reordered += &format!(
            "{},{},{}\n",
            c("feat"),
            c("voice"),
            row.label.as_ref().unwrap()
        );
    }
    let subset = Manifest::parse("sub.csv", reordered.as_bytes()).unwrap();
    let columns = manifest_columns(&header, &subset).unwrap();
    assert_eq!(columns, [Some(1), None, Some(0), None]);
    let mut read = reader(&files);
    let mut right = 0;
    for row in &subset.rows {
        let inputs = row_inputs(&subset, row, &columns, &mut read).unwrap();
        let p = pollster::block_on(predict_sample(&model, &header, &inputs, &cpu())).unwrap();
        assert!(!p.modalities[1].present && !p.modalities[3].present);
        let weights: f32 = p.modalities.iter().map(|m| m.weight).sum();
        assert!((weights - 1.0).abs() < 1e-5);
        right += usize::from(Some(p.class_name()) == row.label.as_deref());
    }
    assert!(right >= 9, "{right} of 12 right from audio + vector");
    // The preprocessing a prediction applies equals training's, value for value.
    let one = Manifest::parse(
        "one.csv",
        csv.lines()
            .take(2)
            .collect::<Vec<_>>()
            .join("\n")
            .as_bytes(),
    )
    .unwrap();
    let cols = manifest_columns(&header, &one).unwrap();
    let inputs = row_inputs(&one, &one.rows[0], &cols, &mut read).unwrap();
    let sample = mla::predict::sample_dataset(&header, &inputs).unwrap();
    let labels: Vec<usize> = (0..manifest.rows.len()).map(|i| i % CLASSES).collect();
    let o = options();
    let (train, valid, test) =
        stratified_split(&labels, CLASSES, o.valid_fraction, o.test_fraction, o.seed).unwrap();
    let s = &data.splits;
    let (split, i) = [(&s.train, train), (&s.valid, valid), (&s.test, test)]
        .into_iter()
        .find_map(|(split, rows)| rows.iter().position(|&r| r == 0).map(|i| (split, i)))
        .expect("row 0 is in a split");
    for (m, (a, b)) in sample.modalities.iter().zip(&split.modalities).enumerate() {
        if a.present[0] {
            let diff = a
                .item(0)
                .iter()
                .zip(b.item(i))
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
            assert!(diff < 1e-5, "modality {m} differs by {diff}");
        }
    }
    // A page or widget gives an image, a caption and a WAV clip as they are: it
    // predicts what the manifest's row predicts from the same files (the vector
    // missing in both).
    let front = manifest_columns(&header, &manifest).unwrap();
    for row in manifest.rows.iter().take(12) {
        let mut from_row = row_inputs(&manifest, row, &front, &mut read).unwrap();
        from_row[2] = None;
        let file = |name: &str| row.cell(&manifest, name).map(|p| files[p].clone());
        let given = SampleInputs {
            image: file("photo").map(RawInput::Image),
            text: row.cell(&manifest, "caption").map(str::to_string),
            audio: file("voice"),
        };
        let by_kind = sample_inputs(&header, given).unwrap();
        assert_eq!(by_kind, from_row, "line {}", row.line);
        let a = pollster::block_on(predict_sample(&model, &header, &by_kind, &cpu())).unwrap();
        let b = pollster::block_on(predict_sample(&model, &header, &from_row, &cpu())).unwrap();
        assert_eq!(a, b);
    }
    // A column of another kind, or one the model lacks, is refused with its name.
    for (csv, says) in [
        (
            &b"feat:text\nhi\n"[..],
            "`feat` holds text, the model's `feat` takes vector",
        ),
        (
            b"image\na.png\n",
            "`image` is not one of the model's modalities",
        ),
    ] {
        let m = Manifest::parse("x.csv", csv).unwrap();
        let e = manifest_columns(&header, &m).unwrap_err().to_string();
        assert!(e.contains(says), "{e}");
    }
}

#[test]
fn bad_cells_of_every_kind_are_named_all_at_once_or_skipped() {
    let (csv, mut files) = typed(40, 2);
    let mut lines: Vec<String> = csv.lines().map(String::from).collect();
    // Line 2: a NaN in an inline vector; line 3: a vector of 5 numbers; line 4: a
    // corrupt WAV; line 5: a 16 kHz WAV among 8 kHz ones; line 6: no label; line 7: a
    // .npy of the wrong length; line 8: a missing image.
    let mut rng = Rng::new(9);
    files.insert("bad.wav".into(), b"RIFF....WAVEjunk".to_vec());
    files.insert(
        "fast.wav".into(),
        encode_wav(&tone(440.0, 16000, 0.3, 0.0, &mut rng), 16000),
    );
    files.insert("short.npy".into(), encode_npy(&[3], &[1.0, 2.0, 3.0]));
    lines[1] = "wav/0.wav,,1 2 NaN 4 5 6,,c0".into();
    lines[2] = "wav/0.wav,,1 2 3 4 5,,c1".into();
    lines[3] = "bad.wav,,,hello,c2".into();
    lines[4] = "fast.wav,,,hello,c3".into();
    lines[5] = "wav/0.wav,,,hello,".into();
    lines[6] = "wav/0.wav,,short.npy,,c1".into();
    lines[7] = "wav/0.wav,nope.png,,,c2".into();
    let text = lines.join("\n");
    let manifest = Manifest::parse("m.csv", text.as_bytes()).unwrap();
    let e = from_manifest(&manifest, reader(&files), &options())
        .err()
        .unwrap()
        .to_string();
    println!("{e}");
    assert!(e.contains("m.csv: 7 bad samples"), "{e}");
    for (line, words) in [
        (2, "value 3 is NaN"),
        (3, "5 values, most rows of the column have 6"),
        (4, "bad.wav"),
        (
            5,
            "`fast.wav`: 16000 Hz audio, most clips of the column are 8000 Hz",
        ),
        (6, "`label` cell is empty"),
        (7, "column `feat`: `short.npy`: 3 values"),
        (8, "column `photo`: `nope.png`: no such file"),
    ] {
        assert!(
            e.contains(&format!("m.csv line {line}: ")),
            "line {line}: {e}"
        );
        let at = e.find(&format!("m.csv line {line}: ")).unwrap();
        let rest = &e[at..];
        let end = rest.find('\n').unwrap_or(rest.len());
        assert!(
            rest[..end].contains(words),
            "line {line} should say {words}: {e}"
        );
    }
    let skipping = ManifestConfig {
        skip_bad: true,
        ..options()
    };
    let data = from_manifest(&manifest, reader(&files), &skipping).unwrap();
    assert_eq!(data.skipped.len(), 7);
    let s = &data.splits;
    assert_eq!(s.train.len() + s.valid.len() + s.test.len(), 40 - 7);

    // A manifest with one modality, or without labels, cannot train.
    let one = Manifest::parse("o.csv", b"feat:vector,label\n1 2,a\n3 4,b\n5 6,b\n").unwrap();
    let e = from_manifest(&one, reader(&files), &options())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("at least two"), "{e}");
    let unlabelled = Manifest::parse("u.csv", b"feat:vector,caption:text\n1 2,a\n").unwrap();
    let e = from_manifest(&unlabelled, reader(&files), &options())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("no `label` column"), "{e}");
}

/// A data set exported as a zip (the page's "Export data") holds its manifest and every
/// file, builds to the same data set once unpacked or uploaded again, and moves files
/// named from outside the manifest's folder inside the archive.
#[test]
fn a_data_set_exported_as_a_zip_builds_the_same_unpacked_or_uploaded_again() {
    use mla::data::formats::zip::read_zip;
    use mla::data::{FileSet, Upload};
    let (csv, files) = typed(48, 3);
    // Paths as people write them: `./`, a climb out of the folder, a backslash.
    let csv = csv
        .replacen("wav/0.wav", "./wav/0.wav", 1)
        .replacen("img/1.png", "../elsewhere/1.png", 1)
        .replacen("npy/3.npy", "npy\\3.npy", 1);
    let mut set = FileSet::new();
    set.insert("data/typed.csv", csv.into_bytes());
    for (path, bytes) in &files {
        let at = match path.as_str() {
            "img/1.png" => "elsewhere/1.png".to_string(),
            p => format!("data/{p}"),
        };
        set.insert(&at, bytes.clone());
    }
    let upload = Upload::new(set).unwrap();
    let want = upload.build(&options()).unwrap();
    let zip = upload
        .to_zip(&[("config.json".into(), b"{}".to_vec())])
        .unwrap();

    let entries = read_zip(&zip).unwrap();
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[0], "typed.csv");
    assert_eq!(names.last(), Some(&"config.json"));
    assert!(
        names.contains(&"files/1.png") && names.contains(&"wav/0.wav"),
        "{names:?}"
    );
    let manifest = Manifest::parse("typed.csv", &entries[0].1).unwrap();
    assert_eq!(manifest.rows.len(), 48, "every sample, with its class");
    assert!(
        manifest
            .rows
            .iter()
            .zip(&upload.manifest.rows)
            .all(|(a, b)| a.label == b.label)
    );

    // Unpacked: the manifest's paths name the archive's files.
    let unpacked: Files = entries.into_iter().collect();
    let data = from_manifest(&manifest, reader(&unpacked), &options()).unwrap();
    assert_eq!(data.splits, want.splits);
    assert_eq!(data.preprocess, want.preprocess);
    // Uploaded again as a zip.
    let mut again = FileSet::new();
    again.insert_zip("export/typed.zip", &zip).unwrap();
    let data = Upload::new(again).unwrap().build(&options()).unwrap();
    assert_eq!(data.splits, want.splits);

    // A damaged archive is refused by name.
    let mut bad = zip.clone();
    let at = bad.len() / 2;
    bad[at] ^= 0xff;
    let e = FileSet::new()
        .insert_zip("up/bad.zip", &bad)
        .unwrap_err()
        .to_string();
    assert!(e.contains("up/bad.zip") && e.contains("damaged"), "{e}");
}

/// Samples captured in the page, class by class: a data set of their own, or rows added
/// to an upload, where frames join its image column, captions its text column and clips
/// a new audio column; a sample without a clip has that modality missing.
#[test]
fn captured_samples_make_a_data_set_alone_or_join_an_upload() {
    use mla::data::{Captured, FileSet, Upload};
    let mut rng = Rng::new(5);
    let mut files = FileSet::new();
    let mut samples = Vec::new();
    for i in 0..24 {
        let class = i % 3;
        let level = [40u8, 140, 240][class];
        let img = image::RgbImage::from_fn(8, 8, |_, _| image::Rgb([level, 90, 255 - level]));
        files.insert(&format!("c{class}/f{i}.png"), encode_png(&img).unwrap());
        let clip = (i % 4 != 0).then(|| {
            let path = format!("c{class}/a{i}.wav");
            let hz = 300.0 + 500.0 * class as f64;
            files.insert(
                &path,
                encode_wav(&tone(hz, 8000, 0.3, 2000.0, &mut rng), 8000),
            );
            path
        });
        samples.push(Captured {
            label: format!("class {class}"),
            image: Some(format!("c{class}/f{i}.png")),
            audio: clip,
            caption: (i % 2 == 0).then(|| "held up to the camera".to_string()),
        });
    }
    let alone = Upload::with_captured(None, &samples, files.clone()).unwrap();
    let names: Vec<_> = alone.manifest.columns.iter().map(|c| c.header()).collect();
    assert_eq!(names, ["camera:image", "microphone:audio", "caption:text"]);
    let data = alone.build(&options()).unwrap();
    assert_eq!(data.preprocess.classes, ["class 0", "class 1", "class 2"]);
    let s = &data.splits;
    let missing_audio: usize = [&s.train, &s.valid, &s.test]
        .iter()
        .map(|d| d.modalities[1].present.iter().filter(|p| !**p).count())
        .sum();
    assert_eq!(missing_audio, 6, "every fourth sample has no clip");

    // Joined to an upload (the built-in sample: image and text columns).
    let base = Upload::sample(30, 2).unwrap();
    let joined = Upload::with_captured(Some(&base), &samples, files.clone()).unwrap();
    let names: Vec<_> = joined.manifest.columns.iter().map(|c| c.header()).collect();
    assert_eq!(names, ["image", "text", "microphone:audio"]);
    assert_eq!(joined.manifest.rows.len(), 30 + 24);
    // The upload's files are shared with the joined set, not copied (a page keeps both,
    // and an upload may be hundreds of MiB).
    for row in &base.manifest.rows {
        if let Some(path) = row.cell(&base.manifest, "image") {
            let (a, b) = (base.read(path).unwrap(), joined.read(path).unwrap());
            assert_eq!(a.as_ptr(), b.as_ptr(), "{path} was copied");
        }
    }
    let data = joined.build(&options()).unwrap();
    assert_eq!(data.preprocess.classes.len(), 6 + 3);
    // It exports and loads again like any upload.
    let zip = joined.to_zip(&[]).unwrap();
    let mut again = FileSet::new();
    again.insert_zip("j.zip", &zip).unwrap();
    assert_eq!(
        Upload::new(again)
            .unwrap()
            .build(&options())
            .unwrap()
            .splits,
        data.splits
    );

    // A page takes its exported captures back: every sample, its class and files.
    let back = alone.as_captured().unwrap();
    assert_eq!(back.len(), 24);
    for (b, s) in back.iter().zip(&samples) {
        assert_eq!(b.label, s.label);
        let file = |p: &Option<String>| p.as_ref().map(|p| files.resolve("", p).unwrap().to_vec());
        assert_eq!((&b.image, &b.audio), (&file(&s.image), &file(&s.audio)));
        assert_eq!(b.caption, s.caption);
    }

    let nameless = [Captured {
        label: " ".into(),
        ..samples[0].clone()
    }];
    let e = Upload::with_captured(None, &nameless, files)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no class name"), "{e}");
}
