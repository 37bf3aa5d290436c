//! Image bytes (PNG, JPEG, WebP) to a normalised `[3, size, size]` input.

use image::imageops::FilterType;

use crate::error::{MlaError, Result};

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
    Ok(img.to_rgb8())
}

/// Resizes to `size x size` (aspect ratio not kept) and returns channel-major values
/// in `[-1, 1]`: `3 * size * size` numbers.
pub fn to_input(img: &image::RgbImage, size: usize) -> Vec<f32> {
    let resized = if img.width() as usize == size && img.height() as usize == size {
        img.clone()
    } else {
        image::imageops::resize(img, size as u32, size as u32, FilterType::Triangle)
    };
    let plane = size * size;
    let mut out = vec![0.0; 3 * plane];
    for (i, px) in resized.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + i] = px.0[c] as f32 / 127.5 - 1.0;
        }
    }
    out
}

/// Decodes and preprocesses in one go.
pub fn preprocess(name: &str, bytes: &[u8], size: usize) -> Result<Vec<f32>> {
    Ok(to_input(&decode(name, bytes)?, size))
}

/// Already decoded RGBA pixels (row-major, 4 bytes each: a canvas's `ImageData`) as the
/// RGB image [`decode`] would give for the same picture: alpha is dropped, as there.
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
    Ok(image::DynamicImage::ImageRgba8(img).to_rgb8())
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
        assert_eq!(from_pixels.get_pixel(4, 2).0, [200, 180, 200]);
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
        let v = preprocess("a.png", &bytes, 2).unwrap();
        assert_eq!(v.len(), 12);
        // Red is 255 everywhere: the whole first plane is +1.
        assert!(v[..4].iter().all(|&r| (r - 1.0).abs() < 1e-6), "{v:?}");
        // Blue rises from the top row to the bottom row.
        assert!(v[8] < v[10]);
        // Without resizing, values are exact: green of pixel (x 1, y 0) in plane 1.
        let mut square = image::RgbImage::new(3, 3);
        square.put_pixel(1, 0, image::Rgb([0, 60, 0]));
        let exact = preprocess("b.png", &encode_png(&square).unwrap(), 3).unwrap();
        assert_eq!(exact[9 + 1], 60.0 / 127.5 - 1.0);
        assert_eq!(exact[1], -1.0);
    }

    #[test]
    fn not_an_image_is_a_clear_error() {
        let e = preprocess("notes.txt", b"hello", 8)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`notes.txt`") && e.contains("not a readable"),
            "{e}"
        );
        let e = preprocess("empty.png", b"", 8).unwrap_err().to_string();
        assert!(e.contains("empty file"), "{e}");
    }
}
