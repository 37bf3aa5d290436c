//! A seeded mutation fuzzer over every reader of untrusted bytes: manifests (CSV and
//! JSONL), WAV, `.npy`, IDX, images (PNG, JPEG, WebP), model files, checkpoints and
//! encoder files. Each target starts from real files it builds and mutates them (bit
//! flips, boundary integers, cuts, insertions, splices, text tokens). A failure is a
//! panic, an input that takes more than `SLOW` or one allocation above `ALLOC_CAP`;
//! the message names the target, the input's number and the seed to reproduce it.
//!
//! CI runs the smoke size (43,000 inputs, a few seconds). A longer run:
//! `MLA_FUZZ_SECONDS=3600 cargo test --release --test fuzz -- --nocapture`
//! (`MLA_FUZZ_SEED` picks another sequence).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{cpu, splits_of};
use mla::data::{Manifest, encode_npy, parse_npy};
use mla::io::{ModelHeader, load_model, save_model};
use mla::model::pretrained::{EncoderFile, EncoderFileHeader, Net};
use mla::rng::Rng;
use mla::{RunConfig, Trainer};

/// The largest single allocation any input may make.
const ALLOC_CAP: usize = 1 << 30;
/// The longest any input may take.
const SLOW: Duration = Duration::from_secs(10);

/// The system allocator, noting the largest request since the last reset.
struct Tracking;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // Refused rather than attempted: the test then fails with the input named.
        if layout.size() > ALLOC_CAP {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        if new_size > ALLOC_CAP {
            return std::ptr::null_mut();
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

/// Tokens that parsers of text formats treat specially.
const TOKENS: &[&str] = &[
    ",",
    "\"",
    "\n",
    "\r\n",
    "{",
    "}",
    "[",
    "]",
    ":",
    "'",
    "(",
    ")",
    "1e308",
    "-1",
    "0",
    "99999999999999999999",
    "4294967296",
    "NaN",
    "inf",
    "../",
    "/dev/zero",
    "\0",
    "é",
    "\u{feff}",
    "label",
    ":image",
    ":audio",
    ":text",
    ":vector",
    "True",
    "False",
];

/// Boundary values written over 2, 4 or 8 bytes.
const NUMBERS: &[u64] = &[
    0,
    1,
    2,
    0x7F,
    0x80,
    0xFF,
    0xFFFF,
    0x7FFF_FFFF,
    0xFFFF_FFFF,
    1 << 32,
    u64::MAX,
];

/// One to three mutations of `seed` (`others`: the target's seeds, for splicing).
fn mutate(seed: &[u8], others: &[Vec<u8>], rng: &mut Rng) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(3) {
        let n = b.len();
        match rng.below(9) {
            0 if n > 0 => {
                for _ in 0..1 + rng.below(8) {
                    let at = rng.below(n);
                    b[at] ^= 1 << rng.below(8);
                }
            }
            1 if n > 0 => {
                let at = rng.below(n);
                b[at] = [0u8, 1, 0x7F, 0x80, 0xFF][rng.below(5)];
            }
            2 if n > 0 => {
                let width = [2, 4, 8][rng.below(3)];
                let at = rng.below(n);
                let v = NUMBERS[rng.below(NUMBERS.len())].to_le_bytes();
                let v: Vec<u8> = if rng.below(2) == 0 {
                    v[..width].to_vec()
                } else {
                    v[8 - width..].iter().rev().copied().collect()
                };
                for (k, x) in v.into_iter().enumerate() {
                    if let Some(slot) = b.get_mut(at + k) {
                        *slot = x;
                    }
                }
            }
            3 => b.truncate(rng.below(n + 1)),
            4 => {
                let at = rng.below(n + 1);
                let extra: Vec<u8> = (0..1 + rng.below(16))
                    .map(|_| rng.below(256) as u8)
                    .collect();
                b.splice(at..at, extra);
            }
            5 if n > 0 => {
                let at = rng.below(n);
                let len = rng.below((n - at).min(64) + 1);
                b.drain(at..at + len);
            }
            6 if n > 0 => {
                let at = rng.below(n);
                let len = rng.below((n - at).min(256) + 1);
                let copy = b[at..at + len].to_vec();
                let to = rng.below(n + 1);
                b.splice(to..to, copy);
            }
            7 => {
                let other = &others[rng.below(others.len())];
                let cut = rng.below(n + 1);
                let from = rng.below(other.len() + 1);
                b.truncate(cut);
                b.extend_from_slice(&other[from..]);
            }
            _ => {
                let at = rng.below(n + 1);
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                b.splice(at..at, token.iter().copied());
            }
        }
    }
    b
}

/// What a target does with one input: reads it, whatever the outcome.
type Reader = Box<dyn Fn(&[u8])>;

/// A reader of untrusted bytes and the files it starts from.
struct Target {
    name: &'static str,
    seeds: Vec<Vec<u8>>,
    /// Relative cost: inputs per round.
    share: usize,
    run: Reader,
}

fn wav(rate: u32, n: usize) -> Vec<u8> {
    let samples: Vec<i16> = (0..n).map(|i| ((i * 37) % 2000) as i16 - 1000).collect();
    mla::data::formats::wav::encode_wav(&samples, rate)
}

fn picture(format: image::ImageFormat) -> Vec<u8> {
    let img = image::RgbImage::from_fn(9, 7, |x, y| {
        image::Rgb([(x * 25) as u8, (y * 30) as u8, 99])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn targets() -> Vec<Target> {
    let manifest_seeds = vec![
        b"photo:image,caption:text,label\na.png,a red circle,red\nb.png,\"blue, square\",blue\n".to_vec(),
        b"clip:audio,v:vector,label\nx.wav,1;2;3,yes\ny.wav,4 5 6,no\n".to_vec(),
        b"{\"photo:image\": \"a.png\", \"label\": \"red\"}\n{\"photo:image\": \"b.png\", \"caption:text\": \"x\", \"label\": \"blue\"}\n".to_vec(),
        b"{\"v:vector\": [1, 2.5, -3], \"label\": 1}\n{\"v:vector\": [0, 0, 0], \"label\": 2}\n".to_vec(),
    ];
    let idx_images = {
        let mut b = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 3];
        b.extend((0..18).map(|i| i as u8 * 9));
        b
    };
    let idx_gz = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&idx_images).unwrap();
        e.finish().unwrap()
    };

    // A small trained model, its file and a checkpoint of its run.
    let mut config = RunConfig::default();
    config.train.epochs = 2;
    let mut trainer =
        Trainer::new(&config.model, &config.train, splits_of(&config), &cpu()).unwrap();
    pollster::block_on(trainer.end_epoch()).unwrap();
    let header = ModelHeader::new(trainer.spec().clone(), config.train.fusion, None);
    let model_file = pollster::block_on(save_model(&header, &trainer.best_model().0)).unwrap();
    let checkpoint = pollster::block_on(trainer.checkpoint()).unwrap();
    let splits = splits_of(&config);
    let encoder_file = EncoderFile::encode(
        &EncoderFileHeader {
            net: Net::MinilmL6,
            vocab: Some(
                ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "##b"]
                    .map(String::from)
                    .into(),
            ),
            source: "test".into(),
            licence: "test".into(),
        },
        &model_file[40..],
    )
    .unwrap();

    let data_zip = mla::data::Upload::sample(12, 1)
        .unwrap()
        .to_zip(&[("config.json".into(), b"{}".to_vec())])
        .unwrap();

    vec![
        Target {
            name: "manifest (CSV, JSONL)",
            seeds: manifest_seeds,
            share: 8,
            run: Box::new(|b| {
                let _ = Manifest::parse("fuzz.csv", b);
                let _ = Manifest::parse("fuzz.jsonl", b);
            }),
        },
        Target {
            name: "WAV (and its filterbank)",
            seeds: vec![wav(8000, 400), wav(16000, 1000), wav(44100, 3)],
            share: 6,
            run: Box::new(|b| {
                let config = mla::data::features::fbank::FbankConfig {
                    frames: 50,
                    mel_bins: 40,
                    ..Default::default()
                };
                let _ = mla::data::features::fbank::wav_fbank("fuzz.wav", b, &config);
            }),
        },
        Target {
            name: ".npy",
            seeds: vec![
                encode_npy(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
                encode_npy(&[4], &[0.5; 4]),
            ],
            share: 8,
            run: Box::new(|b| {
                let _ = parse_npy("fuzz.npy", b);
            }),
        },
        Target {
            name: "IDX (plain, gzip)",
            seeds: vec![idx_images, idx_gz],
            share: 8,
            run: Box::new(|b| {
                let _ = mla::data::formats::idx::parse_idx("fuzz-idx3-ubyte", b);
            }),
        },
        Target {
            name: "image (PNG, JPEG, WebP)",
            seeds: vec![
                picture(image::ImageFormat::Png),
                picture(image::ImageFormat::Jpeg),
                picture(image::ImageFormat::WebP),
            ],
            share: 6,
            run: Box::new(|b| {
                let _ = mla::data::formats::image::preprocess("fuzz.img", b, 8, Default::default());
            }),
        },
        Target {
            name: "model file",
            seeds: vec![model_file],
            share: 3,
            run: Box::new(|b| {
                let _ = pollster::block_on(load_model(b, &cpu()));
            }),
        },
        Target {
            name: "checkpoint",
            seeds: vec![checkpoint],
            share: 1,
            run: Box::new(move |b| {
                let _ = Trainer::resume(&config.model, &config.train, splits.clone(), &cpu(), b);
            }),
        },
        Target {
            name: "zip (a data set)",
            seeds: vec![data_zip],
            share: 4,
            run: Box::new(|b| {
                let _ = mla::data::FileSet::new().insert_zip("fuzz.zip", b);
            }),
        },
        Target {
            name: "encoder file",
            seeds: vec![encoder_file],
            share: 3,
            run: Box::new(|b| {
                if let Ok(f) = EncoderFile::decode("fuzz.mlae", b.to_vec()) {
                    let _ = f.wordpiece(8);
                }
            }),
        },
    ]
}

#[test]
fn readers_of_untrusted_bytes_never_panic_hang_or_over_allocate() {
    let targets = targets();
    let seed: u64 = std::env::var("MLA_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let budget = std::env::var("MLA_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs);
    // Rounds of `share` inputs per target; the smoke run's 1,000 rounds are 43,000 inputs.
    let rounds = if budget.is_some() { usize::MAX } else { 1000 };
    let started = Instant::now();
    let mut rng = Rng::new(seed);
    let mut counts = vec![0usize; targets.len()];
    let mut slowest = (Duration::ZERO, "");
    let mut largest = (0, "");
    for _ in 0..rounds {
        if budget.is_some_and(|b| started.elapsed() > b) {
            break;
        }
        for (t, target) in targets.iter().enumerate() {
            for _ in 0..target.share {
                let from = &target.seeds[rng.below(target.seeds.len())];
                let input = mutate(from, &target.seeds, &mut rng);
                let i = counts[t];
                counts[t] += 1;
                LARGEST.store(0, Ordering::Relaxed);
                let began = Instant::now();
                let outcome = catch_unwind(AssertUnwindSafe(|| (target.run)(&input)));
                let took = began.elapsed();
                let alloc = LARGEST.load(Ordering::Relaxed);
                let place = format!(
                    "{}: input {i} (MLA_FUZZ_SEED={seed}), {} bytes",
                    target.name,
                    input.len()
                );
                assert!(outcome.is_ok(), "{place}: panicked");
                assert!(took < SLOW, "{place}: took {took:?}");
                assert!(
                    alloc <= ALLOC_CAP,
                    "{place}: allocated {alloc} bytes at once"
                );
                if took > slowest.0 {
                    slowest = (took, target.name);
                }
                if alloc > largest.0 {
                    largest = (alloc, target.name);
                }
            }
        }
    }
    let total: usize = counts.iter().sum();
    let per: Vec<String> = targets
        .iter()
        .zip(&counts)
        .map(|(t, n)| format!("{} {n}", t.name))
        .collect();
    println!(
        "fuzz: {total} inputs in {:.1} s ({}); slowest {:?} ({}), largest allocation {} bytes ({}); no panic, hang or allocation over {ALLOC_CAP}",
        started.elapsed().as_secs_f64(),
        per.join(", "),
        slowest.0,
        slowest.1,
        largest.0,
        largest.1
    );
    assert!(total >= 10_000 || budget.is_some(), "{total} inputs");
}
