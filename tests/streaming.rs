//! Building a data set while a column's images are turned into features, a chunk at a
//! time: the features are those of the decoded images, and memory grows with the
//! features per sample, not with the decoded images. Allocations are counted by a
//! global allocator, so this file holds one test (nothing else allocates meanwhile).

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use mla::data::{
    ImageNorm, InputKind, Manifest, ManifestConfig, Preprocessor, StreamFeatures,
    from_manifest_streaming, from_manifest_with,
};

/// The system allocator, counting live bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as the new block before the old one goes, as a moving realloc holds both.
        grew(new_size);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Side the images are decoded at: 160 px, 307 kB of `f32` per image.
const SIDE: usize = 160;

/// A stand-in network: each image's three channel means (computed here, independently of
/// the builder, from the values it hands over).
struct ChannelMeans {
    started: Vec<(usize, String, usize)>,
    chunks: Vec<usize>,
}

fn channel_means(item: &[f32]) -> Vec<f32> {
    item.chunks(item.len() / 3)
        .map(|c| c.iter().sum::<f32>() / c.len() as f32)
        .collect()
}

impl StreamFeatures for ChannelMeans {
    fn start(
        &mut self,
        column: usize,
        name: &str,
        kind: &InputKind,
        cells: usize,
    ) -> Option<usize> {
        assert_eq!(kind.item_len(), 3 * SIDE * SIDE);
        self.started.push((column, name.to_string(), cells));
        Some(3)
    }

    async fn features(&mut self, _: usize, items: Vec<f32>, n: usize) -> mla::Result<Vec<f32>> {
        assert_eq!(items.len(), n * 3 * SIDE * SIDE);
        self.chunks.push(n);
        Ok(items
            .chunks(3 * SIDE * SIDE)
            .flat_map(channel_means)
            .collect())
    }
}

fn fixed() -> Vec<Option<Preprocessor>> {
    vec![
        Some(Preprocessor::Image {
            size: SIDE,
            norm: ImageNorm::Imagenet,
        }),
        None,
    ]
}

/// The built-in shapes at 64 px, `n` samples (about 90 % with an image).
fn shapes(n: usize) -> (Manifest, HashMap<String, Vec<u8>>) {
    mla::data::sources::shapes::shapes(n, 64, 7).unwrap()
}

/// Peak live bytes above those before, while building `n` samples' data set; keeps it
/// until the peak is read.
fn peak_growth(manifest: &Manifest, files: &HashMap<String, Vec<u8>>, stream: bool) -> usize {
    let read = |p: &str| files.get(p).cloned().ok_or_else(|| format!("no {p}"));
    let config = ManifestConfig::default();
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let data = if stream {
        let mut means = ChannelMeans {
            started: Vec::new(),
            chunks: Vec::new(),
        };
        pollster::block_on(from_manifest_streaming(
            manifest,
            read,
            &config,
            &fixed(),
            &mut means,
        ))
    } else {
        from_manifest_with(manifest, read, &config, &fixed())
    }
    .unwrap();
    let peak = PEAK.load(Ordering::Relaxed) - before;
    drop(data);
    peak
}

#[test]
fn streamed_features_are_the_images_and_memory_holds_only_features() {
    // The features: every present image's channel means, in the splits' order, the
    // absent ones zeros; everything else as without streaming.
    let (manifest, files) = shapes(200);
    let read = |p: &str| files.get(p).cloned().ok_or_else(|| format!("no {p}"));
    let config = ManifestConfig::default();
    let kept = from_manifest_with(&manifest, read, &config, &fixed()).unwrap();
    let mut means = ChannelMeans {
        started: Vec::new(),
        chunks: Vec::new(),
    };
    let streamed = pollster::block_on(from_manifest_streaming(
        &manifest,
        read,
        &config,
        &fixed(),
        &mut means,
    ))
    .unwrap();
    let images = manifest
        .rows
        .iter()
        .filter(|r| r.cells[0].is_some())
        .count();
    assert_eq!(means.started, vec![(0, "image".to_string(), images)]);
    assert_eq!(means.chunks.iter().sum::<usize>(), images);
    assert!(means.chunks.iter().all(|&n| n <= 32), "{:?}", means.chunks);
    assert_eq!(streamed.lines, kept.lines);
    assert_eq!(streamed.preprocess, kept.preprocess);
    for (a, b) in [
        (&kept.splits.train, &streamed.splits.train),
        (&kept.splits.valid, &streamed.splits.valid),
        (&kept.splits.test, &streamed.splits.test),
    ] {
        assert_eq!(a.labels, b.labels);
        let (image, features) = (&a.modalities[0], &b.modalities[0]);
        assert_eq!(features.kind, InputKind::Features { dim: 3 });
        assert_eq!(image.present, features.present);
        for i in 0..a.len() {
            let want = if image.present[i] {
                channel_means(image.item(i))
            } else {
                vec![0.0; 3]
            };
            assert_eq!(features.item(i), want, "sample {i}");
        }
        assert_eq!(a.modalities[1], b.modalities[1]);
    }
    drop((kept, streamed));

    // Memory: 300 more samples cost their features and bookkeeping when streamed, and
    // every decoded image (307 kB each) when not.
    let (small, small_files) = shapes(100);
    let (large, large_files) = shapes(400);
    let per_sample = |stream: bool| {
        let a = peak_growth(&small, &small_files, stream);
        let b = peak_growth(&large, &large_files, stream);
        b.saturating_sub(a) / 300
    };
    let streamed = per_sample(true);
    let decoded = per_sample(false);
    println!("peak growth per sample: {streamed} B streamed, {decoded} B decoded");
    assert!(decoded > 250_000, "{decoded}");
    assert!(streamed < 2_000, "{streamed}");
}
