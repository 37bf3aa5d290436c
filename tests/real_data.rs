//! The real data sets in `../shared/data` (FSDD, MNIST, mfeat): loaders, splits,
//! pairing, and that MLA learns on them. Skipped where the folder is absent, unless
//! MLA_REQUIRE_DATA=1 (CI sets it).

use std::path::{Path, PathBuf};

use mla::data::{AvDigitsConfig, AvSplit, InputKind, MfeatConfig, av_digits, mfeat};

fn shared() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("MLA_REQUIRE_DATA").is_none(),
        "{} is missing and MLA_REQUIRE_DATA is set",
        dir.display()
    );
    eprintln!("skipping: {} is missing", dir.display());
    None
}

#[test]
fn mfeat_has_six_views_of_2000_digits() {
    let Some(data) = shared() else { return };
    let dir = data.join("mfeat");
    let read = |n: &str| std::fs::read(dir.join(n)).map_err(|e| e.to_string());
    let (s, skipped) = mfeat(read, &MfeatConfig::default()).unwrap();
    assert!(skipped.is_empty());
    assert_eq!(s.train.len() + s.valid.len() + s.test.len(), 2000);
    let dims: Vec<InputKind> = s.train.kinds();
    let expect = [76, 216, 64, 240, 47, 6].map(|dim| InputKind::Features { dim });
    assert_eq!(dims, expect.to_vec());
    assert!(s.test.class_counts().iter().all(|&c| c == 30));
}

fn load_av(split: AvSplit) -> Option<mla::data::Splits> {
    let data = shared()?;
    let mut recordings: Vec<(String, Vec<u8>)> = std::fs::read_dir(data.join("fsdd/recordings"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    recordings.sort();
    let mnist = data.join("mnist");
    let images = std::fs::read(mnist.join("t10k-images-idx3-ubyte.gz")).unwrap();
    let labels = std::fs::read(mnist.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let config = AvDigitsConfig {
        split,
        ..Default::default()
    };
    Some(av_digits(&recordings, &images, &labels, &config).unwrap().0)
}

#[test]
fn av_digits_official_and_speaker_splits() {
    let Some(s) = load_av(AvSplit::Official) else {
        return;
    };
    assert_eq!(s.test.len(), 300, "takes 0-4 of 6 speakers x 10 digits");
    assert_eq!(s.train.len() + s.valid.len(), 2700);
    assert_eq!(
        s.train.kinds(),
        vec![
            InputKind::Image {
                channels: 1,
                height: 100,
                width: 64
            },
            InputKind::Image {
                channels: 1,
                height: 28,
                width: 28
            },
        ]
    );
    // Training images and test images come from disjoint halves of MNIST: no test
    // image equals a training image.
    let img = |d: &mla::data::Dataset, i: usize| d.modalities[1].item(i).to_vec();
    let train: std::collections::HashSet<Vec<u32>> = (0..s.train.len())
        .map(|i| img(&s.train, i).iter().map(|v| v.to_bits()).collect())
        .collect();
    assert!((0..s.test.len()).all(|i| {
        !train.contains(
            &img(&s.test, i)
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>(),
        )
    }));
    let Some(s) = load_av(AvSplit::Speaker("theo".into())) else {
        return;
    };
    assert_eq!(s.test.len(), 500, "all of one speaker");
}

#[test]
fn a_corrupt_recording_is_named_or_skipped() {
    let Some(data) = shared() else { return };
    // Digits 0 and 1 of every speaker, one file replaced by garbage.
    let mut recordings: Vec<(String, Vec<u8>)> = std::fs::read_dir(data.join("fsdd/recordings"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
        .filter(|n| n.starts_with("0_") || n.starts_with("1_"))
        .map(|n| {
            let bytes = std::fs::read(data.join("fsdd/recordings").join(&n)).unwrap();
            (n, bytes)
        })
        .collect();
    recordings.sort();
    let corrupt = recordings[7].0.clone();
    recordings[7].1 = b"RIFF....not a wav".to_vec();
    let mnist = data.join("mnist");
    let images = std::fs::read(mnist.join("t10k-images-idx3-ubyte.gz")).unwrap();
    let labels = std::fs::read(mnist.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let config = AvDigitsConfig::default();
    let e = av_digits(&recordings, &images, &labels, &config)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains(&corrupt), "{e}");
    let skip = AvDigitsConfig {
        skip_bad: true,
        ..config
    };
    let (splits, skipped) = av_digits(&recordings, &images, &labels, &skip).unwrap();
    assert!(
        skipped.len() == 1 && skipped[0].contains(&corrupt),
        "{skipped:?}"
    );
    let total = splits.train.len() + splits.valid.len() + splits.test.len();
    assert_eq!(total, recordings.len() - 1);
}
