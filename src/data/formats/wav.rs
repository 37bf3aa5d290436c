//! Decoding WAV files (RIFF PCM 8/16/24/32-bit or 32-bit float, any channel count,
//! mixed down to mono).

use crate::error::{MlaError, Result};
use crate::limits;

/// Mono audio in 16-bit integer scale (what Kaldi's features expect).
#[derive(Clone, Debug, PartialEq)]
pub struct Audio {
    pub sample_rate: u32,
    pub samples: Vec<f32>,
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// Decodes the WAV file `name` (for messages) from `bytes`.
pub fn decode_wav(name: &str, bytes: &[u8]) -> Result<Audio> {
    let bad = |why: String| MlaError::Data(format!("{name}: {why}"));
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(bad("not a WAV file (no RIFF/WAVE header)".into()));
    }
    let mut format = None;
    let mut data = None;
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32_at(bytes, at + 4) as usize;
        let body = at + 8;
        // A chunk longer than the file is a cut or damaged file, not a short clip.
        if len > bytes.len() - body {
            return Err(bad(format!(
                "its `{}` chunk declares {len} bytes, the file holds {} after it (cut short or damaged)",
                String::from_utf8_lossy(id),
                bytes.len() - body
            )));
        }
        let end = body + len;
        match id {
            b"fmt " if len >= 16 && body + 16 <= bytes.len() => {
                let tag = u16_at(bytes, body);
                let channels = u16_at(bytes, body + 2);
                let rate = u32_at(bytes, body + 4);
                let bits = u16_at(bytes, body + 14);
                // WAVE_FORMAT_EXTENSIBLE keeps the real tag in its sub-format GUID.
                let tag = if tag == 0xFFFE && len >= 26 && body + 26 <= bytes.len() {
                    u16_at(bytes, body + 24)
                } else {
                    tag
                };
                format = Some((tag, channels, rate, bits));
            }
            b"data" => data = Some(&bytes[body..end]),
            _ => {}
        }
        // Chunks are padded to an even length.
        at = body.saturating_add(len + (len & 1));
    }
    let (tag, channels, rate, bits) = format.ok_or_else(|| bad("no `fmt ` chunk".into()))?;
    let data = data.ok_or_else(|| bad("no `data` chunk".into()))?;
    if channels == 0 || rate == 0 {
        return Err(bad(format!("{channels} channels at {rate} Hz")));
    }
    limits::within("sample rate", rate, limits::MAX_SAMPLE_RATE).map_err(bad)?;
    let width = (bits as usize).div_ceil(8);
    let decode: fn(&[u8]) -> f32 = match (tag, bits) {
        (1, 8) => |b| (b[0] as f32 - 128.0) * 256.0,
        (1, 16) => |b| i16::from_le_bytes([b[0], b[1]]) as f32,
        (1, 24) => |b| (i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8) as f32 / 256.0,
        (1, 32) => |b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32 / 65536.0,
        (3, 32) => |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) * 32768.0,
        _ => {
            return Err(bad(format!(
                "unsupported encoding (format tag {tag}, {bits} bits); use PCM 8/16/24/32-bit or float32"
            )));
        }
    };
    let frame = width * channels as usize;
    if data.len() < frame {
        return Err(bad("no audio samples".into()));
    }
    let samples = data
        .chunks_exact(frame)
        .map(|f| f.chunks_exact(width).map(decode).sum::<f32>() / channels as f32)
        .collect::<Vec<f32>>();
    if let Some(i) = samples.iter().position(|s| !s.is_finite()) {
        return Err(bad(format!("sample {i} is not finite")));
    }
    Ok(Audio {
        sample_rate: rate,
        samples,
    })
}

/// `samples` at `from` Hz resampled to `to` Hz: each output value a Hann-windowed sinc
/// interpolation over 16 zero crossings each side, its cutoff below the lower of the
/// two Nyquist rates (so that downsampling does not fold higher tones into the clip).
/// What a front end applies to a recorded clip before a model trained at `to` Hz hears
/// it.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Vec<f32> {
    use std::f64::consts::PI;
    if from == to || samples.is_empty() || from == 0 || to == 0 {
        return samples.to_vec();
    }
    const ZEROS: f64 = 16.0;
    let ratio = to as f64 / from as f64;
    // Cutoff in cycles per input sample, and the window's half width in input samples.
    let cutoff = 0.5 * ratio.min(1.0);
    let half = ZEROS / (2.0 * cutoff);
    let n_out = ((samples.len() as f64 * ratio).round() as usize).max(1);
    let last = samples.len() - 1;
    (0..n_out)
        .map(|j| {
            let x = j as f64 / ratio;
            let lo = (x - half).ceil().max(0.0) as usize;
            let hi = ((x + half).floor().max(0.0) as usize).min(last);
            let mut acc = 0.0f64;
            for (n, &v) in samples.iter().enumerate().take(hi + 1).skip(lo) {
                let d = n as f64 - x;
                let arg = 2.0 * cutoff * d;
                let sinc = if arg.abs() < 1e-9 {
                    1.0
                } else {
                    (PI * arg).sin() / (PI * arg)
                };
                let window = 0.5 + 0.5 * (PI * d / half).cos();
                acc += v as f64 * 2.0 * cutoff * sinc * window;
            }
            acc as f32
        })
        .collect()
}

/// A 16-bit PCM mono WAV file of `samples` in -1..1 (values beyond are clipped), as
/// browsers record them (Web Audio's `Float32Array`s), at `rate` Hz: what a page or a
/// widget that records a clip predicts from.
pub fn encode_wav_f32(samples: &[f32], rate: u32) -> Vec<u8> {
    let pcm: Vec<i16> = samples
        .iter()
        .map(|&x| {
            let x = if x.is_nan() { 0.0 } else { x.clamp(-1.0, 1.0) };
            (x * i16::MAX as f32).round() as i16
        })
        .collect();
    encode_wav(&pcm, rate)
}

/// A 16-bit PCM mono WAV file of `samples` at `rate` Hz (for generated examples).
pub fn encode_wav(samples: &[i16], rate: u32) -> Vec<u8> {
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PCM WAV file of `samples` (interleaved) with `channels` at `bits`.
    pub fn wav(samples: &[i32], channels: u16, bits: u16) -> Vec<u8> {
        let width = bits as usize / 8;
        let mut data = Vec::new();
        for &s in samples {
            let b = s.to_le_bytes();
            match bits {
                8 => data.push((s + 128) as u8),
                16 => data.extend_from_slice(&b[..2]),
                24 => data.extend_from_slice(&b[..3]),
                _ => data.extend_from_slice(&b),
            }
        }
        let mut out = b"RIFF".to_vec();
        out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&channels.to_le_bytes());
        out.extend_from_slice(&8000u32.to_le_bytes());
        out.extend_from_slice(&(8000 * width as u32 * channels as u32).to_le_bytes());
        out.extend_from_slice(&(width as u16 * channels).to_le_bytes());
        out.extend_from_slice(&bits.to_le_bytes());
        out.extend_from_slice(b"LIST\x03\x00\x00\x00abc\x00");
        out.extend_from_slice(b"data");
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&data);
        out
    }

    #[test]
    fn encoded_wav_reads_back() {
        let samples = [0i16, 1, -1, 32767, -32768, 1234];
        let bytes = encode_wav(&samples, 16000);
        let audio = decode_wav("x.wav", &bytes).unwrap();
        assert_eq!(audio.sample_rate, 16000);
        assert_eq!(audio.samples, samples.map(f32::from));
    }

    #[test]
    fn pcm_16_bit_mono_and_stereo() {
        let a = decode_wav("a.wav", &wav(&[0, 1000, -32768, 32767], 1, 16)).unwrap();
        assert_eq!(a.sample_rate, 8000);
        assert_eq!(a.samples, vec![0.0, 1000.0, -32768.0, 32767.0]);
        // Stereo frames are averaged; an odd-length chunk before `data` is skipped.
        let s = decode_wav("s.wav", &wav(&[100, 300, -50, 50], 2, 16)).unwrap();
        assert_eq!(s.samples, vec![200.0, 0.0]);
    }

    #[test]
    fn other_widths_land_in_16_bit_scale() {
        let a = decode_wav("a.wav", &wav(&[-128, 127], 1, 8)).unwrap();
        assert_eq!(a.samples, vec![-32768.0, 32512.0]);
        let a = decode_wav("a.wav", &wav(&[256 * 1000], 1, 24)).unwrap();
        assert_eq!(a.samples, vec![1000.0]);
    }

    #[test]
    fn corrupt_files_are_clear_errors() {
        let e = decode_wav("x.wav", b"hello").unwrap_err().to_string();
        assert!(e.contains("x.wav") && e.contains("not a WAV"), "{e}");
        let mut cut = wav(&[1, 2, 3], 1, 16);
        cut.truncate(36);
        let e = decode_wav("cut.wav", &cut).unwrap_err().to_string();
        assert!(e.contains("cut.wav") && e.contains("data"), "{e}");
        let mut mu = wav(&[1, 2], 1, 16);
        mu[20] = 7; // mu-law
        let e = decode_wav("mu.wav", &mu).unwrap_err().to_string();
        assert!(e.contains("unsupported encoding"), "{e}");
        // A data chunk that declares more than the file holds: cut, not a short clip.
        let mut short = wav(&[1, 2, 3, 4], 1, 16);
        short.truncate(short.len() - 2);
        let e = decode_wav("short.wav", &short).unwrap_err().to_string();
        assert!(
            e.contains("short.wav")
                && e.contains("`data` chunk declares 8 bytes")
                && e.contains("holds 6"),
            "{e}"
        );
        // 8 KB declaring a 4 GHz rate would build a 100-million-sample window.
        let mut fast = encode_wav(&[0; 4000], 8000);
        fast[24..28].copy_from_slice(&4_000_000_000u32.to_le_bytes());
        let e = decode_wav("fast.wav", &fast).unwrap_err().to_string();
        assert!(
            e.contains("fast.wav") && e.contains("sample rate") && e.contains("limit of 384000"),
            "{e}"
        );
    }
}
