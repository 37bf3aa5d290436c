//! The built-in image + text sample: coloured shapes with captions.
//!
//! Six classes. Captions name colour and shape for four of them, but say only
//! "round" for red and blue circles, so text alone cannot tell those two apart and the
//! image is needed; images are noisy, so text is the stronger modality elsewhere. The
//! sample is a manifest plus PNG files, exactly what a user would upload.

use std::collections::HashMap;

use crate::data::formats::image::encode_png;
use crate::data::manifest::table::{Column, ColumnKind, Manifest, ManifestRow};
use crate::error::Result;
use crate::rng::Rng;

/// Class names of the sample.
pub const CLASSES: [&str; 6] = [
    "red circle",
    "blue circle",
    "red square",
    "blue square",
    "green triangle",
    "yellow triangle",
];

const RGB: [(&str, [f64; 3]); 4] = [
    ("red", [220.0, 40.0, 40.0]),
    ("blue", [40.0, 60.0, 220.0]),
    ("green", [40.0, 180.0, 60.0]),
    ("yellow", [230.0, 210.0, 40.0]),
];

const FILLER: [&str; 8] = [
    "small", "big", "nice", "drawn", "simple", "little", "shape", "here",
];

/// `n` samples of the shapes sample (side `size` pixels), seeded: the manifest and
/// the PNG files it names.
pub fn shapes(n: usize, size: u32, seed: u64) -> Result<(Manifest, HashMap<String, Vec<u8>>)> {
    let mut rng = Rng::derive(seed, 21);
    let mut files = HashMap::new();
    let mut rows = Vec::with_capacity(n);
    for i in 0..n {
        let class = i % CLASSES.len();
        let (colour, shape) = CLASSES[class].split_once(' ').expect("two words");
        let missing = rng.uniform();
        let has_image = missing >= 0.1;
        let has_text = !(0.1..0.2).contains(&missing);
        let image = if has_image {
            let path = format!("images/{i:04}.png");
            files.insert(
                path.clone(),
                encode_png(&draw(shape, colour, size, &mut rng))?,
            );
            Some(path)
        } else {
            None
        };
        let text = has_text.then(|| caption(class, colour, shape, &mut rng));
        rows.push(ManifestRow {
            line: i + 2,
            cells: vec![image, text],
            label: Some(CLASSES[class].to_string()),
        });
    }
    Ok((
        Manifest {
            name: "shapes.csv".into(),
            columns: [ColumnKind::Image, ColumnKind::Text]
                .map(|kind| Column {
                    name: kind.name().into(),
                    kind,
                })
                .into(),
            has_labels: true,
            rows,
        },
        files,
    ))
}

fn caption(class: usize, colour: &str, shape: &str, rng: &mut Rng) -> String {
    let mut words: Vec<String> = if class < 2 {
        let options = ["a round thing", "something round", "round", "a round one"];
        options[rng.below(options.len())]
            .split(' ')
            .map(String::from)
            .collect()
    } else {
        let options = [
            format!("a {colour} {shape}"),
            format!("{shape} in {colour}"),
            format!("this {shape} is {colour}"),
            format!("picture of a {colour} {shape}"),
        ];
        options[rng.below(options.len())]
            .split(' ')
            .map(String::from)
            .collect()
    };
    if rng.uniform() < 0.4 {
        let at = rng.below(words.len() + 1);
        words.insert(at, FILLER[rng.below(FILLER.len())].to_string());
    }
    words.join(" ")
}

fn draw(shape: &str, colour: &str, size: u32, rng: &mut Rng) -> image::RgbImage {
    let base = RGB
        .iter()
        .find(|(name, _)| *name == colour)
        .expect("known colour")
        .1;
    let tint: Vec<f64> = base
        .iter()
        .map(|c| c + 40.0 * (rng.uniform() - 0.5))
        .collect();
    let s = size as f64;
    let r = s * (0.22 + 0.12 * rng.uniform());
    let (cx, cy) = (
        s * (0.35 + 0.3 * rng.uniform()),
        s * (0.35 + 0.3 * rng.uniform()),
    );
    let mut img = image::RgbImage::new(size, size);
    for (x, y, px) in img.enumerate_pixels_mut() {
        let (dx, dy) = (x as f64 + 0.5 - cx, y as f64 + 0.5 - cy);
        let inside = match shape {
            "circle" => dx * dx + dy * dy <= r * r,
            "square" => dx.abs() <= r * 0.85 && dy.abs() <= r * 0.85,
            _ => dy <= r * 0.8 && dy >= -r && 2.0 * dx.abs() <= (dy + r) * 1.1,
        };
        let mut rgb = [0u8; 3];
        for c in 0..3 {
            let v = if inside { tint[c] } else { 128.0 } + 90.0 * (rng.uniform() - 0.5);
            rgb[c] = v.clamp(0.0, 255.0) as u8;
        }
        *px = image::Rgb(rgb);
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_files_and_manifest() {
        let (m, f) = shapes(30, 16, 3).unwrap();
        let (m2, f2) = shapes(30, 16, 3).unwrap();
        assert_eq!(m, m2);
        assert_eq!(f, f2);
        assert_eq!(m.rows.len(), 30);
        for row in &m.rows {
            assert!(row.cells.iter().any(Option::is_some));
            if let Some(p) = row.cell(&m, "image") {
                assert!(f.contains_key(p));
            }
        }
        // Circles are never named by their caption.
        let circles = m
            .rows
            .iter()
            .filter(|r| r.label.as_ref().unwrap().ends_with("circle"));
        for row in circles {
            if let Some(t) = row.cell(&m, "text") {
                assert!(!t.contains("red") && !t.contains("blue"), "{t}");
            }
        }
    }
}
