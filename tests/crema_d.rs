//! The CREMA-D loader on a small fixture written here in the layout of the paper's
//! released code: split lists, per-clip `.npy` filterbanks, per-clip frame folders.

mod common;

use std::path::{Path, PathBuf};

use mla::data::{CremaDConfig, crema_d};
use mla::model::{EncoderConfig, Resnet18Config};
use mla::{RunConfig, Trainer};

/// A `[rows, cols]` float32 `.npy` file.
fn npy(rows: usize, cols: usize, value: impl Fn(usize, usize) -> f32) -> Vec<u8> {
    let values: Vec<f32> = (0..rows * cols)
        .map(|i| value(i / cols, i % cols))
        .collect();
    mla::data::encode_npy(&[rows, cols], &values)
}

fn png(colour: [u8; 3]) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(20, 20, image::Rgb(colour));
    mla::data::formats::image::encode_png(&img).unwrap()
}

const LABELS: [&str; 3] = ["ANG", "HAP", "NEU"];

/// 8 training and 3 test clips per class; audio and frames both carry the class.
/// Clip lengths vary (30..50 filterbank frames, 2..5 video frames).
fn fixture(name: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("mla-crema-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("fbank")).unwrap();
    let (mut train, mut test) = (String::new(), String::new());
    for (c, label) in LABELS.iter().enumerate() {
        for k in 0..11 {
            let clip = format!("10{c}{k:02}_IEO_{label}_HI");
            let line = format!("{clip}.flv {label}\n");
            if k < 8 {
                train += &line
            } else {
                test += &line
            }
            let frames = 30 + 2 * k;
            let bytes = npy(frames, 16, |r, b| {
                (c as f32) + 0.1 * ((r + b + k) % 5) as f32
            });
            std::fs::write(root.join(format!("fbank/{clip}.npy")), bytes).unwrap();
            let dir = root.join(format!("visual/{clip}"));
            std::fs::create_dir_all(&dir).unwrap();
            for f in 0..(2 + k % 4) {
                let mut colour = [40, 40, 40];
                colour[c] = 200 + (f as u8) * 10;
                std::fs::write(dir.join(format!("{f:05}.png")), png(colour)).unwrap();
            }
        }
    }
    std::fs::write(root.join("train.txt"), train).unwrap();
    std::fs::write(root.join("test.txt"), test).unwrap();
    root
}

fn load(root: &Path, config: &CremaDConfig) -> mla::Result<mla::data::CremaD> {
    let read = |rel: &str| std::fs::read(root.join(rel)).map_err(|e| e.to_string());
    let list = |rel: &str| {
        std::fs::read_dir(root.join(rel))
            .map_err(|e| e.to_string())
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
    };
    crema_d(read, list, config)
}

fn small() -> CremaDConfig {
    CremaDConfig {
        audio_frames: 40,
        frames: 2,
        image_size: 16,
        valid_fraction: 0.25,
        ..Default::default()
    }
}

#[test]
fn loads_the_released_layout_and_trains() {
    let root = fixture("ok");
    let data = load(&root, &small()).unwrap();
    assert_eq!(data.classes, LABELS.map(String::from).to_vec());
    let s = &data.splits;
    assert_eq!(s.test.len(), 9, "the test list");
    assert_eq!(s.train.len() + s.valid.len(), 24, "the training list");
    assert_eq!(
        s.valid.class_counts(),
        vec![2, 2, 2],
        "a quarter of each class"
    );
    let kinds = s.train.kinds();
    assert_eq!(
        kinds,
        vec![
            mla::data::InputKind::Image {
                channels: 1,
                height: 40,
                width: 16
            },
            mla::data::InputKind::Image {
                channels: 6,
                height: 16,
                width: 16
            },
        ]
    );
    // Padded with zeros past a clip's end, cut at 40 frames: of the training list's
    // clips, k = 0..4 (30..38 frames) end in zero rows, k = 5..7 (40..44) do not.
    let item = 40 * 16;
    let zero_tail = [&s.train, &s.valid]
        .iter()
        .flat_map(|d| d.modalities[0].values.chunks(item))
        .filter(|clip| clip[39 * 16..].iter().all(|&v| v == 0.0))
        .count();
    assert_eq!(zero_tail, 15);

    // ResNet-18 over the two stacked frames, a small CNN over the filterbank.
    let mut config = RunConfig::default();
    config.model.feature_dim = 16;
    config.model.encoders = vec![
        EncoderConfig::default_for(&kinds[0]),
        EncoderConfig::Resnet18(Resnet18Config {
            width: 4,
            frames: 2,
        }),
    ];
    config.train.epochs = 15;
    config.train.batch_size = 6;
    config.train.optimizer.lr = 0.05;
    let mut t = Trainer::new(&config.model, &config.train, data.splits, &common::cpu()).unwrap();
    while !t.is_finished() {
        pollster::block_on(t.end_epoch()).unwrap();
    }
    let test = pollster::block_on(t.test()).unwrap();
    assert!(test.fused > 0.5, "{test:?} (chance 1/3)");
    std::fs::remove_dir_all(root).ok();
}

#[test]
fn missing_files_are_listed_with_their_list_line_or_skipped() {
    let root = fixture("bad");
    let clip = |c: usize, k: usize| format!("10{c}{k:02}_IEO_{}_HI", LABELS[c]);
    std::fs::remove_file(root.join(format!("fbank/{}.npy", clip(1, 2)))).unwrap();
    std::fs::remove_dir_all(root.join(format!("visual/{}", clip(2, 9)))).unwrap();
    let e = load(&root, &small()).err().unwrap().to_string();
    assert!(e.contains("2 bad samples"), "{e}");
    // Lists hold classes in order: clip (1, 2) is train.txt line 8 + 3, clip (2, 9)
    // test.txt line 3 + 3 + 2.
    assert!(e.contains("train.txt line 11") && e.contains(".npy"), "{e}");
    assert!(
        e.contains("test.txt line 8") && e.contains("visual/"),
        "{e}"
    );
    let skip = CremaDConfig {
        skip_bad: true,
        ..small()
    };
    let data = load(&root, &skip).unwrap();
    assert_eq!(data.skipped.len(), 2);
    assert_eq!(data.splits.test.len(), 8);
    std::fs::remove_dir_all(root).ok();
}

/// Per-epoch losses and validation results of a short MLA run on `splits`.
fn short_run(splits: mla::data::Splits) -> Vec<String> {
    let mut config = RunConfig::default();
    config.model.feature_dim = 8;
    config.train.epochs = 2;
    config.train.batch_size = 6;
    let mut t = Trainer::new(&config.model, &config.train, splits, &common::cpu()).unwrap();
    let mut out = Vec::new();
    while !t.is_finished() {
        let m = pollster::block_on(t.end_epoch()).unwrap();
        out.push(format!("{:?} {:?}", m.train_loss, m.valid));
    }
    out
}

#[test]
fn a_store_on_disk_holds_the_same_splits_and_trains_the_same() {
    let root = fixture("store");
    let store = root.join("store");
    let on_disk = CremaDConfig {
        store: Some(store.display().to_string()),
        skip_bad: true,
        ..small()
    };
    // A broken clip is left out of the store as it is out of memory.
    std::fs::remove_file(root.join("fbank/10003_IEO_ANG_HI.npy")).unwrap();
    let memory = load(
        &root,
        &CremaDConfig {
            skip_bad: true,
            ..small()
        },
    )
    .unwrap();
    let mapped = load(&root, &on_disk).unwrap();
    for (a, b) in [
        (&memory.splits.train, &mapped.splits.train),
        (&memory.splits.valid, &mapped.splits.valid),
        (&memory.splits.test, &mapped.splits.test),
    ] {
        assert_eq!(a, b, "same samples, labels and values");
        assert!(b.modalities.iter().all(|m| m.values.is_mapped()));
        assert!(a.modalities.iter().all(|m| !m.values.is_mapped()));
    }
    // One file per split and modality, of the split's values; the reading-order files
    // are gone.
    let mut files: Vec<String> = std::fs::read_dir(&store)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "test-0.f32",
            "test-1.f32",
            "train-0.f32",
            "train-1.f32",
            "valid-0.f32",
            "valid-1.f32"
        ]
    );
    let train_audio = std::fs::metadata(store.join("train-0.f32")).unwrap().len() as usize;
    assert_eq!(
        train_audio,
        4 * mapped.splits.train.modalities[0].values.len()
    );
    assert_eq!(short_run(memory.splits), short_run(mapped.splits));
    std::fs::remove_dir_all(root).ok();
}
