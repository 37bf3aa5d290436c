//! Image bytes (PNG, JPEG, WebP) to a normalised `[3, size, size]` input.

use image::imageops::FilterType;
use serde::{Deserialize, Serialize};

use crate::error::{MlaError, Result};
use crate::limits;

/// ImageNet's per-channel mean and deviation of `[0, 1]` pixels, which ImageNet-trained
/// weights (MobileNetV2's) expect the input to be standardised with.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

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

/// Decodes an image file's bytes; `name` appears in errors. Sizes are bounded
/// ([`limits`]) before any pixel is decoded, and a JPEG cut short is an error (its
/// decoder would fill the missing part with grey).
pub fn decode(name: &str, bytes: &[u8]) -> Result<image::RgbImage> {
    if bytes.is_empty() {
        return Err(MlaError::Data(format!("`{name}` is an empty file")));
    }
    let unreadable = |why: String| {
        MlaError::Data(format!(
            "`{name}` is not a readable PNG, JPEG or WebP image ({why})"
        ))
    };
    let reader = || {
        image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| unreadable(e.to_string()))
    };
    match reader()?.format() {
        Some(image::ImageFormat::Jpeg) => jpeg_end(bytes),
        Some(image::ImageFormat::Png) => png_end(bytes),
        Some(image::ImageFormat::WebP) => webp_end(bytes),
        _ => Ok(()),
    }
    .map_err(|why| MlaError::Data(format!("`{name}`: {why}")))?;
    // The header alone, then the sizes it declares, before any pixel is decoded.
    let (width, height) = reader()?
        .into_dimensions()
        .map_err(|e| unreadable(e.to_string()))?;
    let side = width.max(height);
    limits::within("side", side, limits::MAX_IMAGE_SIDE)
        .and(limits::within(
            "pixels",
            u64::from(width) * u64::from(height),
            limits::MAX_IMAGE_PIXELS,
        ))
        .map_err(|why| MlaError::Data(format!("`{name}` ({width}x{height}): {why}")))?;
    let mut reader = reader()?;
    reader.limits(bounds_for_decoding());
    let img = reader.decode().map_err(|e| unreadable(e.to_string()))?;
    Ok(on_white(img))
}

/// The image decoder's limits: sides and allocation ([`limits`]).
fn bounds_for_decoding() -> image::Limits {
    let mut bounds = image::Limits::default();
    bounds.max_image_width = Some(limits::MAX_IMAGE_SIDE);
    bounds.max_image_height = Some(limits::MAX_IMAGE_SIDE);
    bounds.max_alloc = Some(limits::MAX_IMAGE_ALLOC);
    bounds
}

/// `Ok` when a PNG holds its end chunk (`IEND` and its checksum): its decoder accepts a
/// file cut in its last chunk.
fn png_end(bytes: &[u8]) -> std::result::Result<(), String> {
    match bytes.windows(4).rposition(|w| w == b"IEND") {
        Some(at) if at + 8 <= bytes.len() => Ok(()),
        _ => Err("the PNG file ends before its end chunk (cut short)".into()),
    }
}

/// `Ok` when a WebP file holds as many bytes as its RIFF header declares: its decoder
/// accepts a file missing its last bytes.
fn webp_end(bytes: &[u8]) -> std::result::Result<(), String> {
    let declared = match bytes.get(4..8) {
        Some(&[a, b, c, d]) => u64::from(u32::from_le_bytes([a, b, c, d])) + 8,
        _ => 0,
    };
    if (bytes.len() as u64) < declared {
        return Err(format!(
            "the WebP file declares {declared} bytes and holds {} (cut short)",
            bytes.len()
        ));
    }
    Ok(())
}

/// `Ok` when a JPEG's segments and scans run to its end-of-image marker. Walks the
/// marker segments by their lengths; after a scan header, the entropy-coded data runs
/// to the next marker that is neither a stuffed `FF 00`, a restart marker nor fill.
fn jpeg_end(bytes: &[u8]) -> std::result::Result<(), String> {
    const CUT: &str = "the JPEG file ends before its end-of-image marker (cut short)";
    let n = bytes.len();
    let mut i = 2; // after the start-of-image marker FF D8
    loop {
        // Anything between segments up to the next 0xFF is skipped, as decoders do.
        while i < n && bytes[i] != 0xFF {
            i += 1;
        }
        while i < n && bytes[i] == 0xFF {
            i += 1;
        }
        let marker = *bytes.get(i).ok_or(CUT)?;
        i += 1;
        match marker {
            0xD9 => return Ok(()),
            0x01 | 0xD0..=0xD8 => continue,
            _ => {}
        }
        let len = match bytes.get(i..i + 2) {
            Some(&[hi, lo]) => usize::from(u16::from_be_bytes([hi, lo])),
            _ => return Err(CUT.into()),
        };
        if len < 2 || i + len > n {
            return Err(CUT.into());
        }
        i += len;
        if marker == 0xDA {
            // Entropy-coded data of the scan.
            loop {
                while i < n && bytes[i] != 0xFF {
                    i += 1;
                }
                match bytes.get(i + 1) {
                    None => return Err(CUT.into()),
                    Some(0x00 | 0xD0..=0xD7) => i += 2,
                    Some(0xFF) => i += 1,
                    Some(_) => break,
                }
            }
        }
    }
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

    /// A 13x11 picture with detail everywhere, so that every part of a file matters.
    fn picture() -> image::RgbImage {
        image::RgbImage::from_fn(13, 11, |x, y| {
            image::Rgb([
                (x * 19 + y * 7) as u8,
                (x * y * 5) as u8,
                (200 - 9 * y) as u8,
            ])
        })
    }

    fn encoded(format: image::ImageFormat) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        picture().write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    #[test]
    fn files_cut_short_are_errors_in_every_format() {
        for format in [
            image::ImageFormat::Jpeg,
            image::ImageFormat::Png,
            image::ImageFormat::WebP,
        ] {
            let full = encoded(format);
            decode("full", &full).unwrap_or_else(|e| panic!("{format:?}: {e}"));
            // Every cut from just past the signature to one byte short.
            for len in 8..full.len() {
                let e = decode("cut.img", &full[..len]);
                assert!(
                    e.as_ref()
                        .is_err_and(|e| e.to_string().contains("`cut.img`")),
                    "{format:?} cut to {len} of {} bytes: {:?}",
                    full.len(),
                    e.map(|i| i.dimensions())
                );
            }
        }
        let jpeg = encoded(image::ImageFormat::Jpeg);
        let e = decode("cut.jpg", &jpeg[..jpeg.len() / 2]).unwrap_err();
        assert!(e.to_string().contains("cut short"), "{e}");
        // Bytes after the end-of-image marker (some cameras write them) are fine.
        let mut trailing = jpeg.clone();
        trailing.extend_from_slice(b"\0\0trailer");
        assert_eq!(
            decode("t.jpg", &trailing).unwrap(),
            decode("j.jpg", &jpeg).unwrap()
        );
    }

    /// A PNG that declares `width x height` grey pixels (signature, IHDR, an empty IDAT, IEND).
    fn png_header(width: u32, height: u32) -> Vec<u8> {
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut chunk = |kind: &[u8], body: &[u8]| {
            out.extend_from_slice(&(body.len() as u32).to_be_bytes());
            let mut crc = flate2::Crc::new();
            crc.update(kind);
            crc.update(body);
            out.extend_from_slice(kind);
            out.extend_from_slice(body);
            out.extend_from_slice(&crc.sum().to_be_bytes());
        };
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&width.to_be_bytes());
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit grey
        chunk(b"IHDR", &ihdr);
        chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
        chunk(b"IEND", &[]);
        out
    }

    #[test]
    fn oversized_images_are_refused_before_decoding() {
        // 20000 x 20000 grey: 400 MB of pixels from a few bytes.
        let e = decode("huge.png", &png_header(20_000, 20_000))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`huge.png` (20000x20000)")
                && e.contains("`side` is 20000, above the limit of 16384"),
            "{e}"
        );
        // Sides within bounds, pixels above: 12000 x 12000.
        let e = decode("wide.png", &png_header(12_000, 12_000))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`wide.png` (12000x12000)") && e.contains("`pixels`"),
            "{e}"
        );
    }
}
