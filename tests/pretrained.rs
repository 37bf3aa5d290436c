//! Pretrained encoders: the ports against the original frameworks' outputs
//! (`tests/pretrained/make_reference.py`), the tokenizer against Hugging Face's, and
//! frozen and fine-tuned encoders training on the real emoji set.
//!
//! Needs the encoder files (`mla-native encoders import`; `MLA_ENCODERS`, default
//! `~/.cache/mla/encoders`) and the emoji package (`MLA_EMOJI`, default
//! `~/.cache/mla/emoji/package`); skips without them unless MLA_REQUIRE_PRETRAINED is set.

mod common;

use std::path::{Path, PathBuf};

use common::{cached_dir, cpu, host};
use mla::burn::module::Module;
use mla::burn::tensor::{Device, Int, Tensor, TensorData};
use mla::config::TrainConfig;
use mla::data::formats::image::{IMAGENET_MEAN, IMAGENET_STD};
use mla::data::{EmojiLabel, RawInput, emoji_manifest, from_manifest_with};
use mla::model::pretrained::{
    self, Backbone, EncoderFile, EncoderFiles, MinilmConfig, MobilenetV2Config, Net, NoCache,
    TrainMode,
};
use mla::model::{EncoderConfig, ModelConfig, Networks};

fn encoder_files() -> Option<EncoderFiles> {
    let dir = cached_dir("MLA_ENCODERS", "encoders", "minilm_l6.mlae")?;
    let mut files = EncoderFiles::new(dir.display().to_string());
    for net in Net::ALL {
        let path = dir.join(net.file_name());
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        files.insert(EncoderFile::decode(&path.display().to_string(), bytes).unwrap());
    }
    Some(files)
}

fn emoji_dir() -> Option<PathBuf> {
    cached_dir("MLA_EMOJI", "emoji/package", "emoji.json")
}

fn reference(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/pretrained")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The acceptance measure: largest absolute difference over largest absolute value.
fn relative_error(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len());
    let diff = got
        .iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs() as f64)
        .fold(0.0, f64::max);
    let scale = want.iter().map(|w| w.abs() as f64).fold(0.0, f64::max);
    diff / scale
}

/// `[H, W, 3]` bytes -> `[3, H, W]` ImageNet-standardised values, in f32 as numpy does it.
fn standardise(rgb: &[u8], h: usize, w: usize) -> Vec<f32> {
    let mut out = vec![0.0; 3 * h * w];
    for (i, px) in rgb.chunks(3).enumerate() {
        for c in 0..3 {
            let v = px[c] as f32 / 255.0;
            out[c * h * w + i] = (v - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
        }
    }
    out
}

const EMOJI: [&str; 5] = [
    "1f34e.png",
    "1f436.png",
    "1f697.png",
    "1f34c.png",
    "26bd.png",
];

fn check_mobilenet(files: &EncoderFiles, emoji: &Path, device: &Device) {
    let Backbone::MobilenetV2(net) = files
        .get(Net::MobilenetV2, None)
        .unwrap()
        .backbone(device)
        .unwrap()
    else {
        panic!("not MobileNetV2")
    };
    // The five emoji as the reference read them: alpha dropped, no resizing.
    let values: Vec<f32> = EMOJI
        .iter()
        .flat_map(|f| {
            let bytes = std::fs::read(emoji.join("img/google/64").join(f)).unwrap();
            let img = image::load_from_memory(&bytes).unwrap().to_rgb8();
            standardise(img.as_raw(), 64, 64)
        })
        .collect();
    let x = Tensor::from_data(TensorData::new(values, [5, 3, 64, 64]), device);
    let want = mla::data::parse_npy("ref", &reference("mobilenet_v2_logits.npy")).unwrap();
    let err = relative_error(&host(net.logits(x)), &want.values);
    println!("MobileNetV2, 5 emoji: relative error {err:.2e}");
    assert!(err < 1e-4, "{err}");
    // A 224x224 test pattern, the reference's formula.
    let rgb: Vec<u8> = (0..224 * 224 * 3)
        .map(|k| {
            let (y, x, c) = (k / (224 * 3), (k / 3) % 224, k % 3);
            ((7 * x + 13 * y + 50 * c) % 256) as u8
        })
        .collect();
    let x = Tensor::from_data(
        TensorData::new(standardise(&rgb, 224, 224), [1, 3, 224, 224]),
        device,
    );
    let want = mla::data::parse_npy("ref", &reference("mobilenet_v2_pattern_logits.npy")).unwrap();
    let err = relative_error(&host(net.logits(x)), &want.values);
    println!("MobileNetV2, 224x224 pattern: relative error {err:.2e}");
    assert!(err < 1e-4, "{err}");
}

fn check_minilm(files: &EncoderFiles, device: &Device) {
    let file = files.get(Net::MinilmL6, None).unwrap();
    let tokens: serde_json::Value =
        serde_json::from_slice(&reference("minilm_tokens.json")).unwrap();
    let sentences: Vec<String> = serde_json::from_value(tokens["sentences"].clone()).unwrap();
    let ids: Vec<Vec<u32>> = serde_json::from_value(tokens["ids"].clone()).unwrap();
    let len = 64;
    let tokenizer = file.wordpiece(len).unwrap();
    let encoder = tokenizer.encoder().unwrap();
    let mut flat = Vec::new();
    for (s, want) in sentences.iter().zip(&ids) {
        let got = encoder.ids(s);
        let real: Vec<u32> = got.iter().copied().filter(|&t| t != 0).collect();
        assert_eq!(&real, want, "{s:?}");
        flat.extend(got.iter().map(|&t| t as i64));
    }
    let Backbone::Bert(bert) = file.backbone(device).unwrap() else {
        panic!("not BERT")
    };
    let ids = Tensor::<2, Int>::from_data(TensorData::new(flat, [sentences.len(), len]), device);
    let want = mla::data::parse_npy("ref", &reference("minilm_embeddings.npy")).unwrap();
    let err = relative_error(&host(bert.sentence_embedding(ids)), &want.values);
    println!("MiniLM, 10 sentences: relative error {err:.2e}");
    assert!(err < 1e-4, "{err}");
}

#[test]
fn mobilenet_v2_matches_torchvision_on_the_cpu() {
    let (Some(files), Some(emoji)) = (encoder_files(), emoji_dir()) else {
        return;
    };
    check_mobilenet(&files, &emoji, &cpu());
}

#[test]
fn minilm_matches_sentence_transformers_on_the_cpu() {
    let Some(files) = encoder_files() else { return };
    check_minilm(&files, &cpu());
}

#[cfg(feature = "wgpu")]
#[test]
fn pretrained_encoders_match_their_references_on_wgpu() {
    let (Some(files), Some(emoji)) = (encoder_files(), emoji_dir()) else {
        return;
    };
    let Some(device) = common::wgpu() else { return };
    check_mobilenet(&files, &emoji, &device);
    check_minilm(&files, &device);
}

/// Every third emoji (about 640), pictures at 64 px, names of up to 16 WordPiece ids.
fn emoji_splits(
    files: &EncoderFiles,
    emoji: &Path,
    encoders: &mut [EncoderConfig],
) -> (mla::data::ManifestData, mla::data::Manifest) {
    let json = std::fs::read(emoji.join("emoji.json")).unwrap();
    let mut manifest = emoji_manifest(&json, EmojiLabel::Category).unwrap();
    manifest.rows = manifest.rows.into_iter().step_by(3).collect();
    let fixed = pretrained::prepare(encoders, files).unwrap();
    let read = |p: &str| std::fs::read(emoji.join(p)).map_err(|e| e.to_string());
    let data = from_manifest_with(&manifest, read, &Default::default(), &fixed).unwrap();
    (data, manifest)
}

/// Every split with the frozen encoders' inputs replaced by their features.
fn extracted(
    mut splits: mla::data::Splits,
    encoders: &[EncoderConfig],
    files: &EncoderFiles,
    progress: &mut dyn FnMut(&pretrained::ExtractProgress),
) -> mla::data::Splits {
    pollster::block_on(pretrained::extract_features(
        &mut splits,
        encoders,
        files,
        &cpu(),
        &mut NoCache,
        progress,
    ))
    .unwrap();
    splits
}

/// Trains every epoch on the CPU and tests the best one.
fn train_and_test(
    model: &ModelConfig,
    config: &TrainConfig,
    splits: mla::data::Splits,
    files: &EncoderFiles,
) -> (mla::Trainer, mla::EvalReport) {
    let mut trainer = pollster::block_on(mla::Trainer::with_encoders(
        model,
        config,
        splits,
        files,
        &cpu(),
    ))
    .unwrap();
    while !trainer.is_finished() {
        pollster::block_on(trainer.end_epoch()).unwrap();
    }
    let test = pollster::block_on(trainer.test()).unwrap();
    (trainer, test)
}

fn pretrained_encoders(train: TrainMode) -> Vec<EncoderConfig> {
    vec![
        EncoderConfig::MobilenetV2(MobilenetV2Config {
            image_size: 64,
            ..Default::default()
        }),
        EncoderConfig::Minilm(MinilmConfig {
            max_tokens: 16,
            train,
            ..Default::default()
        }),
    ]
}

#[test]
fn frozen_encoders_learn_the_emoji_and_predict_from_raw_inputs() {
    let (Some(files), Some(emoji)) = (encoder_files(), emoji_dir()) else {
        return;
    };
    let device = cpu();
    let mut encoders = pretrained_encoders(TrainMode::Frozen);
    let (data, manifest) = emoji_splits(&files, &emoji, &mut encoders);
    assert!(
        encoders
            .iter()
            .all(|e| e.pretrained().unwrap().sha256.is_some())
    );
    let model = ModelConfig {
        feature_dim: 64,
        encoders: encoders.clone(),
        pretrained: false,
    };
    let mut config = TrainConfig {
        epochs: 12,
        batch_size: 32,
        ..Default::default()
    };
    config.optimizer.lr = 0.05;

    // Raw inputs with a frozen encoder: the trainer asks for the features.
    let e = mla::Trainer::new(&model, &config, data.splits.clone(), &device)
        .err()
        .expect("frozen encoders train on features")
        .to_string();
    assert!(e.contains("extract"), "{e}");

    let mut progress = Vec::new();
    let splits = extracted(data.splits.clone(), &encoders, &files, &mut |p| {
        progress.push(p.done)
    });
    assert_eq!(
        splits.train.modalities[0].kind,
        mla::data::InputKind::Features { dim: 1280 }
    );
    assert_eq!(
        splits.test.modalities[1].kind,
        mla::data::InputKind::Features { dim: 384 }
    );
    // Per modality, progress rises to the number of present samples.
    assert!(
        progress
            .iter()
            .filter(|&&d| d
                == data.splits.train.len() + data.splits.valid.len() + data.splits.test.len())
            .count()
            >= 1,
        "{progress:?}"
    );

    // Features computed while the images are decoded, a chunk at a time in manifest
    // order, are the features computed after the split (other batches: to rounding).
    let mut streamed_progress = Vec::new();
    let fixed = pretrained::prepare(&mut encoders.clone(), &files).unwrap();
    let streamed = pollster::block_on(pretrained::from_manifest_extracting(
        &manifest,
        |p: &str| std::fs::read(emoji.join(p)).map_err(|e| e.to_string()),
        &Default::default(),
        &fixed,
        &encoders,
        pretrained::Extraction {
            files: &files,
            device: &device,
            cache: &mut NoCache,
            progress: &mut |p| streamed_progress.push((p.modality.clone(), p.done, p.total)),
        },
    ))
    .unwrap();
    assert_eq!(streamed.lines, data.lines);
    for (a, b) in [
        (&splits.train, &streamed.splits.train),
        (&splits.valid, &streamed.splits.valid),
        (&splits.test, &streamed.splits.test),
    ] {
        assert_eq!(a.labels, b.labels);
        for (ma, mb) in a.modalities.iter().zip(&b.modalities) {
            assert_eq!((&ma.kind, &ma.present), (&mb.kind, &mb.present));
            let worst = ma
                .values
                .iter()
                .zip(mb.values.iter())
                .map(|(x, y)| (x - y).abs() / (1.0 + x.abs()))
                .fold(0.0f32, f32::max);
            assert!(worst < 1e-4, "{}: {worst}", ma.name);
        }
    }
    let images = manifest
        .rows
        .iter()
        .filter(|r| r.cells[0].is_some())
        .count();
    assert_eq!(
        streamed_progress.iter().find(|p| p.0 == "image").unwrap().2,
        images
    );
    assert!(streamed_progress.contains(&("image".into(), images, images)));
    // Each stretch of work is reported where it starts (a front end times it from
    // there), the first at 0.
    for (name, ..) in &streamed_progress {
        let first = streamed_progress.iter().find(|p| &p.0 == name).unwrap();
        assert_eq!(first.1, 0, "{streamed_progress:?}");
    }

    let (trainer, test) = train_and_test(&model, &config, splits.clone(), &files);
    println!("emoji, frozen MobileNetV2 + MiniLM, MLA: {test:?}");
    // 10 categories, the largest a fifth of the emoji.
    assert!(test.fused > 0.6, "{test:?}");
    assert!(test.unimodal.iter().all(|&a| a > 0.4), "{test:?}");

    // The model file leaves the frozen networks out and names them by hash.
    let (best, _) = trainer.best_model();
    let header = mla::io::ModelHeader::new(
        trainer.spec().clone(),
        config.fusion,
        Some(data.preprocess.clone()),
    );
    let bytes = pollster::block_on(mla::io::save_model(&header, &best)).unwrap();
    println!("model file: {} bytes", bytes.len());
    assert!(bytes.len() < 1_000_000, "{} bytes", bytes.len());
    let (header, loaded) = pollster::block_on(mla::io::load_model(&bytes, &device)).unwrap();
    assert_eq!(header.spec.frozen_networks().len(), 2);

    // A test sample, found by its name's ids (before extraction), and its raw files.
    let tokens = &data.splits.test.modalities[1];
    let mla::data::Preprocessor::Wordpiece(wordpiece) = &data.preprocess.modalities[1] else {
        panic!("the name column is tokenised by MiniLM's vocabulary")
    };
    let encoder = wordpiece.encoder().unwrap();
    let (row, k) = manifest
        .rows
        .iter()
        .find_map(|row| {
            let ids = encoder.encode(row.cells[1].as_deref()?);
            let hits: Vec<usize> = (0..tokens.present.len())
                .filter(|&i| tokens.present[i] && tokens.item(i) == ids.as_slice())
                .collect();
            (hits.len() == 1).then(|| (row, hits[0]))
        })
        .expect("a test sample with a name of its own");
    let raw = vec![
        Some(RawInput::Image(
            std::fs::read(emoji.join(row.cells[0].as_deref().unwrap())).unwrap(),
        )),
        Some(RawInput::Text(row.cells[1].clone().unwrap())),
    ];
    // Without the networks, raw inputs cannot be encoded.
    let e = pollster::block_on(mla::predict::predict_sample(
        &loaded, &header, &raw, &device,
    ))
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("mobilenet_v2") && e.contains("not loaded"),
        "{e}"
    );
    let loaded = loaded
        .load_networks(&header.spec, &files, Networks::Frozen, &device)
        .unwrap();
    // From the raw files, the prediction is the one the cached features give.
    let from_raw = pollster::block_on(mla::predict::predict_sample(
        &loaded, &header, &raw, &device,
    ))
    .unwrap();
    let batch = mla::data::Batch::gather(&splits.test, &[k], &device);
    let out = mla::eval::predict(&best, header.fusion, &batch).unwrap();
    let fused = host(mla::burn::tensor::activation::softmax(out.fused, 1));
    let err = relative_error(&from_raw.probabilities, &fused);
    println!("raw inputs vs cached features: relative error {err:.2e}");
    assert!(
        err < 1e-4,
        "raw {:?} vs features {fused:?}",
        from_raw.probabilities
    );

    // Another encoder file than the one trained with is refused, naming both hashes.
    let mut other = files.clone();
    let mut changed = std::fs::read(Path::new(&files.location).join("minilm_l6.mlae")).unwrap();
    let last = changed.len() - 1;
    changed[last] ^= 1;
    other.insert(EncoderFile::decode("changed.mlae", changed).unwrap());
    let (_, fresh) = pollster::block_on(mla::io::load_model(&bytes, &device)).unwrap();
    let e = fresh
        .load_networks(&header.spec, &other, Networks::Frozen, &device)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("SHA-256") && e.contains(&files.get(Net::MinilmL6, None).unwrap().sha256),
        "{e}"
    );
}

/// Every float parameter of a module on any device, flattened in traversal order.
fn values<M: Module>(module: &M) -> Vec<f32> {
    use mla::burn::module::{ModuleVisitor, Param};
    struct Collect(Vec<f32>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.extend(host(param.val()));
        }
    }
    let mut c = Collect(Vec::new());
    module.visit(&mut c);
    c.0
}

#[test]
fn fine_tuning_trains_only_the_last_blocks() {
    let (Some(files), Some(emoji)) = (encoder_files(), emoji_dir()) else {
        return;
    };
    let device = cpu();
    let mut encoders = pretrained_encoders(TrainMode::LastBlocks(1));
    let (data, _) = emoji_splits(&files, &emoji, &mut encoders);
    let mut splits = data.splits;
    // A small run: 64 training samples.
    let keep: Vec<usize> = (0..64.min(splits.train.len())).collect();
    splits.train = splits.train.subset(&keep);
    let splits = extracted(splits, &encoders, &files, &mut |_| {});
    // The frozen image encoder's inputs became features; the fine-tuned text encoder's
    // stayed WordPiece ids.
    assert_eq!(
        splits.train.modalities[0].kind,
        mla::data::InputKind::Features { dim: 1280 }
    );
    assert!(matches!(
        splits.train.modalities[1].kind,
        mla::data::InputKind::Tokens { len: 16, .. }
    ));
    let model = ModelConfig {
        feature_dim: 32,
        encoders,
        pretrained: false,
    };
    let config = TrainConfig {
        epochs: 1,
        batch_size: 16,
        ..Default::default()
    };
    // Without the file, a network that trains cannot start from its weights.
    let e = mla::Trainer::new(&model, &config, splits.clone(), &device)
        .err()
        .expect("fine-tuning needs the weights")
        .to_string();
    assert!(e.contains("minilm_l6"), "{e}");

    let mut trainer = pollster::block_on(mla::Trainer::with_encoders(
        &model, &config, splits, &files, &device,
    ))
    .unwrap();
    let Backbone::Bert(start) = files
        .get(Net::MinilmL6, None)
        .unwrap()
        .backbone(&device)
        .unwrap()
    else {
        panic!()
    };
    pollster::block_on(trainer.end_epoch()).unwrap();
    let mla::model::Encoder::Pretrained(text) = &trainer.model().encoders[1] else {
        panic!()
    };
    let Some(Backbone::Bert(trained)) = &text.backbone else {
        panic!("the network trains")
    };
    assert_eq!(
        values(&start.word),
        values(&trained.word),
        "embeddings are frozen"
    );
    for i in 0..5 {
        assert_eq!(
            values(&start.layers[i]),
            values(&trained.layers[i]),
            "layer {i} is frozen"
        );
    }
    // Its features were standardised with the training split's statistics at the start.
    let shift = host(text.shift.val());
    assert!(
        shift.iter().any(|&v| v != 0.0),
        "the network's features were standardised"
    );
    let before = values(&start.layers[5]);
    let after = values(&trained.layers[5]);
    let changed = before.iter().zip(&after).filter(|(a, b)| a != b).count();
    assert!(
        changed > before.len() / 2,
        "the last layer trains: {changed} of {} changed",
        before.len()
    );
}

#[test]
fn every_method_trains_on_frozen_pretrained_features() {
    let (Some(files), Some(emoji)) = (encoder_files(), emoji_dir()) else {
        return;
    };
    let mut encoders = pretrained_encoders(TrainMode::Frozen);
    let (data, _) = emoji_splits(&files, &emoji, &mut encoders);
    let splits = extracted(data.splits, &encoders, &files, &mut |_| {});
    let model = ModelConfig {
        feature_dim: 32,
        encoders,
        pretrained: false,
    };
    // 10 categories, the largest a fifth of the samples: every method learns well above.
    for method in mla::config::Method::ALL {
        let mut config = TrainConfig {
            method,
            epochs: 6,
            batch_size: 32,
            ..Default::default()
        };
        // FiLM's multiplicative conditioning (`γ ⊙ h + β`, γ unbounded) diverges at
        // 0.05 on these features in its sixth epoch (NaN loss, now an error): its rate
        // is lower.
        config.optimizer.lr = if method == mla::config::Method::Film {
            0.02
        } else {
            0.05
        };
        let (_, test) = train_and_test(&model, &config, splits.clone(), &files);
        println!("{}: {test:?}", method.name());
        assert!(test.fused > 0.45, "{}: {test:?}", method.name());
    }
}
