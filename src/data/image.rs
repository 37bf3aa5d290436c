//! Image bytes (PNG, JPEG, WebP) to a normalised `[3, size, size]` input.

use image::imageops::FilterType;
use serde::{Deserialize, Serialize};

use crate::error::{MlaError, Result};
use crate::model::pretrained::{IMAGENET_MEAN, IMAGENET_STD};

/// How pixel values become input values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageNorm {
    /// `v / 127.5 - 1`, in `[-1, 1]` (the encoders trained from scratch).
    #[default]
    Symmetric,
    /// `(v / 255 - mean) / std` with ImageNet's per-channel statistics (the
    /// pretrained image encoder).
    Imagenet,
}

impl ImageNorm {
    /// The input value of pixel value `v` in channel `c`.
    pub fn apply(self, v: u8, c: usize) -> f32 {
        match self {
            ImageNorm::Symmetric => v as f32 / 127.5 - 1.0,
            ImageNorm::Imagenet => (v as f32 / 255.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c],
        }
    }
}

/// RGB of a picture as a page shows it on white: transparent parts become white.
fn on_white(img: image::DynamicImage) -> image::RgbImage {
    if !img.color().has_alpha() {
        return img.to_rgb8();
    }
    let rgba = img.to_rgba8();
    image::RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let a = a as u32;
        let blend = |c: u8| ((c as u32 * a + 255 * (255 - a) + 127) / 255) as u8;
        image::Rgb([blend(r), blend(g), blend(b)])
    })
}

/// Decodes an image file's bytes; `name` appears in errors.
pub fn decode(name: &str, bytes: &[u8]) -> Result<image::RgbImage> {
    if bytes.is_empty() {
        return Err(MlaError::Data(format!("`{name}` is an empty file")));
    }
    let img = image::load_from_memory(bytes).map_err(|e| {
        MlaError::Data(format!(
            "`{name}` is not a readable PNG, JPEG or WebP image ({e})"
        ))
    })?;
    Ok(on_white(img))
}

/// Resizes to `size x size` (aspect ratio not kept) and returns channel-major values
/// normalised by `norm`: `3 * size * size` numbers.
pub fn to_input(img: &image::RgbImage, size: usize, norm: ImageNorm) -> Vec<f32> {
    let resized = if img.width() as usize == size && img.height() as usize == size {
        img.clone()
    } else {
        image::imageops::resize(img, size as u32, size as u32, FilterType::Triangle)
    };
    let plane = size * size;
    let mut out = vec![0.0; 3 * plane];
    for (i, px) in resized.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + i] = norm.apply(px.0[c], c);
        }
    }
    out
}

/// Decodes and preprocesses in one go.
pub fn preprocess(name: &str, bytes: &[u8], size: usize, norm: ImageNorm) -> Result<Vec<f32>> {
    Ok(to_input(&decode(name, bytes)?, size, norm))
}

/// Already decoded RGBA pixels (row-major, 4 bytes each: a canvas's `ImageData`) as the
/// RGB image [`decode`] would give for the same picture: on white, as there.
pub fn from_rgba(name: &str, width: u32, height: u32, rgba: &[u8]) -> Result<image::RgbImage> {
    let want = width as usize * height as usize * 4;
    if width == 0 || height == 0 || rgba.len() != want {
        return Err(MlaError::Data(format!(
            "`{name}`: {} bytes of pixels for a {width}x{height} RGBA image, which takes {want}",
            rgba.len()
        )));
    }
    let img = image::RgbaImage::from_raw(width, height, rgba.to_vec())
        .expect("the length was checked above");
    Ok(on_white(image::DynamicImage::ImageRgba8(img)))
}

/// Encodes an RGB image as PNG (used by the built-in sample, which is a set of files).
pub fn encode_png(img: &image::RgbImage) -> Result<Vec<u8>> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| MlaError::Data(format!("encoding PNG: {e}")))?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgba_pixels_give_what_their_png_gives() {
        let mut img = image::RgbaImage::new(5, 3);
        for (x, y, px) in img.enumerate_pixels_mut() {
            *px = image::Rgba([(x * 50) as u8, (y * 90) as u8, 200, 255 - (x * 10) as u8]);
        }
        let mut png = std::io::Cursor::new(Vec::new());
        img.write_to(&mut png, image::ImageFormat::Png).unwrap();
        let from_png = decode("p", png.get_ref()).unwrap();
        let from_pixels = from_rgba("p", 5, 3, img.as_raw()).unwrap();
        assert_eq!(from_png, from_pixels);
        // Alpha 215 of 255 over white: (c * 215 + 255 * 40) / 255, rounded.
        assert_eq!(from_pixels.get_pixel(4, 2).0, [209, 192, 209]);
        assert_eq!(from_pixels.get_pixel(0, 0).0, [0, 0, 200]);
        let e = from_rgba("p", 5, 3, &img.as_raw()[4..])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("56 bytes") && e.contains("5x3") && e.contains("takes 60"),
            "{e}"
        );
        assert!(from_rgba("p", 0, 3, &[]).is_err());
    }

    #[test]
    fn png_round_trip_resize_and_channel_layout() {
        let mut img = image::RgbImage::new(4, 2);
        for (x, y, px) in img.enumerate_pixels_mut() {
            *px = image::Rgb([255, (x * 60) as u8, (y * 255) as u8]);
        }
        let bytes = encode_png(&img).unwrap();
        let v = preprocess("a.png", &bytes, 2, ImageNorm::Symmetric).unwrap();
        assert_eq!(v.len(), 12);
        // Red is 255 everywhere: the whole first plane is +1.
        assert!(v[..4].iter().all(|&r| (r - 1.0).abs() < 1e-6), "{v:?}");
        // Blue rises from the top row to the bottom row.
        assert!(v[8] < v[10]);
        // Without resizing, values are exact: green of pixel (x 1, y 0) in plane 1.
        let mut square = image::RgbImage::new(3, 3);
        square.put_pixel(1, 0, image::Rgb([0, 60, 0]));
        let exact = preprocess(
            "b.png",
            &encode_png(&square).unwrap(),
            3,
            ImageNorm::Symmetric,
        )
        .unwrap();
        assert_eq!(exact[9 + 1], 60.0 / 127.5 - 1.0);
        assert_eq!(exact[1], -1.0);
        let imagenet = preprocess(
            "b.png",
            &encode_png(&square).unwrap(),
            3,
            ImageNorm::Imagenet,
        );
        let g = imagenet.unwrap()[9 + 1] as f64;
        assert!((g - (60.0 / 255.0 - 0.456) / 0.224).abs() < 1e-6, "{g}");
    }

    #[test]
    fn not_an_image_is_a_clear_error() {
        let e = preprocess("notes.txt", b"hello", 8, ImageNorm::Symmetric)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`notes.txt`") && e.contains("not a readable"),
            "{e}"
        );
        let e = preprocess("empty.png", b"", 8, ImageNorm::Symmetric)
            .unwrap_err()
            .to_string();
        assert!(e.contains("empty file"), "{e}");
    }
}
