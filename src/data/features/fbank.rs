//! Log-mel filterbank features, computed as Kaldi's `compute-fbank-feats` does with its
//! defaults and no dither: 25 ms frames every 10 ms (`snip_edges`), DC offset removed,
//! pre-emphasis 0.97, Povey window, FFT padded to a power of two, power spectrum,
//! triangular mel filters from 20 Hz to Nyquist, natural log floored at `f32::EPSILON`.
//!
//! Samples are in 16-bit integer scale, as Kaldi reads WAV files. Checked against
//! `kaldi-native-fbank` in `tests/fbank.rs`. Where Kaldi refuses filters too narrow to
//! cover an FFT bin (128 filters at 8 or 16 kHz), this keeps them, as torchaudio's
//! `kaldi.fbank` (which the paper's code uses) does: their value is the log floor.

use serde::{Deserialize, Serialize};

use crate::error::{MlaError, Result};
use crate::limits;

/// Filterbank settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FbankConfig {
    /// Number of mel filters (the paper: 128).
    pub mel_bins: usize,
    /// Frame length in milliseconds.
    pub frame_length_ms: f64,
    /// Frame shift in milliseconds.
    pub frame_shift_ms: f64,
    /// Lowest filter edge in Hz.
    pub low_freq: f64,
    /// Highest filter edge in Hz; `<= 0` means Nyquist plus this value.
    pub high_freq: f64,
    /// Frames per clip after padding with zeros or cutting (`0`: keep every frame).
    pub frames: usize,
}

impl Default for FbankConfig {
    fn default() -> Self {
        Self {
            mel_bins: 128,
            frame_length_ms: 25.0,
            frame_shift_ms: 10.0,
            low_freq: 20.0,
            high_freq: 0.0,
            frames: 0,
        }
    }
}

impl FbankConfig {
    /// The checks that do not depend on the sample rate ([`Fbank::new`] does the rest).
    pub fn validate(&self) -> Result<()> {
        if self.mel_bins < 1 {
            return Err(MlaError::config("fbank.mel_bins", "must be at least 1"));
        }
        for (field, value, max) in [
            ("fbank.mel_bins", self.mel_bins, limits::MAX_MEL_BINS),
            ("fbank.frames", self.frames, limits::MAX_FRAMES),
        ] {
            limits::within(field, value, max).map_err(|r| MlaError::config(field, r))?;
        }
        if !(self.frame_length_ms > 0.0 && self.frame_shift_ms > 0.0) {
            return Err(MlaError::config(
                "fbank.frame_length_ms/frame_shift_ms",
                "must be > 0",
            ));
        }
        Ok(())
    }
}

/// A filterbank for one sample rate: the mel filters and the FFT plan.
#[derive(Clone, Debug)]
pub struct Fbank {
    config: FbankConfig,
    window_size: usize,
    shift: usize,
    padded: usize,
    window: Vec<f64>,
    /// Per filter: the first FFT bin and the weights from there.
    filters: Vec<(usize, Vec<f64>)>,
}

fn mel(f: f64) -> f64 {
    1127.0 * (1.0 + f / 700.0).ln()
}

impl Fbank {
    /// Builds the filters for `sample_rate`; errors name the field at fault.
    pub fn new(config: &FbankConfig, sample_rate: u32) -> Result<Self> {
        config.validate()?;
        let rate = sample_rate as f64;
        let window_size = (rate * config.frame_length_ms / 1000.0) as usize;
        let shift = (rate * config.frame_shift_ms / 1000.0) as usize;
        if window_size < 2 || shift == 0 {
            return Err(MlaError::config(
                "fbank.frame_length_ms/frame_shift_ms",
                format!("give frames of at least 2 samples at {sample_rate} Hz"),
            ));
        }
        let padded = window_size.next_power_of_two();
        let nyquist = rate / 2.0;
        let high = if config.high_freq <= 0.0 {
            nyquist + config.high_freq
        } else {
            config.high_freq
        };
        if !(0.0 <= config.low_freq && config.low_freq < high && high <= nyquist) {
            return Err(MlaError::config(
                "fbank.low_freq/high_freq",
                format!("need 0 <= low < high <= {nyquist} Hz (Nyquist)"),
            ));
        }
        let (mel_low, mel_high) = (mel(config.low_freq), mel(high));
        let delta = (mel_high - mel_low) / (config.mel_bins + 1) as f64;
        let bin_width = rate / padded as f64;
        let mut filters = Vec::with_capacity(config.mel_bins);
        for b in 0..config.mel_bins {
            let left = mel_low + b as f64 * delta;
            let (center, right) = (left + delta, left + 2.0 * delta);
            let mut first = None;
            let mut weights = Vec::new();
            // Kaldi leaves out the Nyquist bin.
            for i in 0..padded / 2 {
                let m = mel(bin_width * i as f64);
                if m > left && m < right {
                    let w = if m <= center {
                        (m - left) / (center - left)
                    } else {
                        (right - m) / (right - center)
                    };
                    first.get_or_insert(i);
                    weights.push(w);
                }
            }
            // A filter narrower than an FFT bin stays empty (see the module docs).
            let first = first.unwrap_or(0);
            filters.push((first, weights));
        }
        let window = (0..window_size)
            .map(|i| {
                let a = 2.0 * std::f64::consts::PI / (window_size - 1) as f64;
                (0.5 - 0.5 * (a * i as f64).cos()).powf(0.85)
            })
            .collect();
        Ok(Self {
            config: config.clone(),
            window_size,
            shift,
            padded,
            window,
            filters,
        })
    }

    /// Number of filters (columns of the output).
    pub fn bins(&self) -> usize {
        self.filters.len()
    }

    /// Frames Kaldi makes of `n` samples (`snip_edges`).
    pub fn num_frames(&self, n: usize) -> usize {
        if n < self.window_size {
            0
        } else {
            1 + (n - self.window_size) / self.shift
        }
    }

    /// `[frames, bins]` row-major log-mel energies of `samples` (16-bit integer scale).
    /// With `frames > 0` in the configuration, padded with zeros or cut to that many.
    pub fn compute(&self, samples: &[f32]) -> Vec<f32> {
        let frames = self.num_frames(samples.len());
        let bins = self.bins();
        let mut out = Vec::with_capacity(frames * bins);
        let mut re = vec![0.0f64; self.padded];
        let mut im = vec![0.0f64; self.padded];
        for f in 0..frames {
            let frame = &samples[f * self.shift..f * self.shift + self.window_size];
            let mean = frame.iter().map(|&x| x as f64).sum::<f64>() / frame.len() as f64;
            re.fill(0.0);
            im.fill(0.0);
            for (r, &x) in re.iter_mut().zip(frame) {
                *r = x as f64 - mean;
            }
            for i in (1..self.window_size).rev() {
                re[i] -= 0.97 * re[i - 1];
            }
            re[0] -= 0.97 * re[0];
            for (r, w) in re.iter_mut().zip(&self.window) {
                *r *= w;
            }
            fft(&mut re, &mut im);
            for (first, weights) in &self.filters {
                let energy: f64 = weights
                    .iter()
                    .enumerate()
                    .map(|(k, w)| w * (re[first + k].powi(2) + im[first + k].powi(2)))
                    .sum();
                out.push((energy.max(f32::EPSILON as f64)).ln() as f32);
            }
        }
        match self.config.frames {
            0 => out,
            target => {
                out.resize(target * bins, 0.0);
                out
            }
        }
    }
}

/// In-place iterative radix-2 FFT (`re.len()` a power of two).
fn fft(re: &mut [f64], im: &mut [f64]) {
    let n = re.len();
    let mut j = 0;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let mut len = 2;
    while len <= n {
        let angle = -2.0 * std::f64::consts::PI / len as f64;
        for start in (0..n).step_by(len) {
            for k in 0..len / 2 {
                let (s, c) = (angle * k as f64).sin_cos();
                let (a, b) = (start + k, start + k + len / 2);
                let (xr, xi) = (re[b] * c - im[b] * s, re[b] * s + im[b] * c);
                re[b] = re[a] - xr;
                im[b] = im[a] - xi;
                re[a] += xr;
                im[a] += xi;
            }
        }
        len <<= 1;
    }
}

/// Decodes the WAV file `name` (for messages) and computes its filterbank: the
/// sample rate and `[frames, bins]` values.
pub fn wav_fbank(name: &str, bytes: &[u8], config: &FbankConfig) -> Result<(u32, Vec<f32>)> {
    let wav = crate::data::formats::wav::decode_wav(name, bytes)?;
    let bank = Fbank::new(config, wav.sample_rate)?;
    if bank.num_frames(wav.samples.len()) == 0 {
        return Err(MlaError::Data(format!(
            "{name}: {} samples are shorter than one frame",
            wav.samples.len()
        )));
    }
    Ok((wav.sample_rate, bank.compute(&wav.samples)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fft_matches_the_definition() {
        let x: Vec<f64> = (0..16).map(|i| ((i * 7) % 5) as f64 - 1.5).collect();
        let (mut re, mut im) = (x.clone(), vec![0.0; 16]);
        fft(&mut re, &mut im);
        for k in 0..16 {
            let (mut r, mut i) = (0.0, 0.0);
            for (t, v) in x.iter().enumerate() {
                let a = -2.0 * std::f64::consts::PI * (k * t) as f64 / 16.0;
                r += v * a.cos();
                i += v * a.sin();
            }
            assert!(
                (re[k] - r).abs() < 1e-9 && (im[k] - i).abs() < 1e-9,
                "bin {k}"
            );
        }
    }

    #[test]
    fn filters_too_narrow_for_the_fft_give_the_log_floor() {
        let many = Fbank::new(&FbankConfig::default(), 8000).unwrap();
        let samples: Vec<f32> = (0..800).map(|i| (i as f32 * 0.3).sin() * 3000.0).collect();
        let out = many.compute(&samples);
        let floor = f32::EPSILON.ln();
        assert!(out.contains(&floor) && out.iter().any(|&v| v > 0.0));
        let ok = Fbank::new(
            &FbankConfig {
                mel_bins: 64,
                frames: 50,
                ..Default::default()
            },
            8000,
        )
        .unwrap();
        assert_eq!(ok.num_frames(2384), 28);
        assert_eq!(ok.compute(&vec![0.0; 2384]).len(), 50 * 64);
    }
}
