//! Log-mel filterbanks against reference values from kaldi-native-fbank
//! (`tests/fixtures/fbank/make_reference.py` made them; the samples are in the file).

use mla::data::features::fbank::{Fbank, FbankConfig};

#[test]
fn fbank_matches_kaldi() {
    let text = include_str!("fixtures/fbank/reference.json");
    let reference: serde_json::Value = serde_json::from_str(text).unwrap();
    for case in reference["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let rate = case["rate"].as_u64().unwrap() as u32;
        let bins = case["mel_bins"].as_u64().unwrap() as usize;
        let samples: Vec<f32> = case["samples"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let expected: Vec<Vec<f64>> = case["fbank"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                row.as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap())
                    .collect()
            })
            .collect();
        let fbank = Fbank::new(
            &FbankConfig {
                mel_bins: bins,
                ..Default::default()
            },
            rate,
        )
        .unwrap();
        let got = fbank.compute(&samples);
        assert_eq!(got.len(), expected.len() * bins, "{name}: frames");
        let mut worst = 0.0f64;
        for (f, row) in expected.iter().enumerate() {
            for (b, want) in row.iter().enumerate() {
                worst = worst.max((got[f * bins + b] as f64 - want).abs());
            }
        }
        println!(
            "{name}: {} frames x {bins} bins, max |diff| {worst:.2e}",
            expected.len()
        );
        // Log energies of order 10; the reference computes in f32.
        assert!(worst < 2e-3, "{name}: max |diff| {worst}");
    }
}

/// A recorded clip resampled to a model's rate keeps its tone (against the sine itself
/// at the new rate, away from the clip's edges), both ways, and downsampling removes
/// tones above the new Nyquist rate rather than folding them into the clip.
#[test]
fn resampling_keeps_tones_and_drops_those_above_nyquist() {
    use mla::data::formats::wav::resample;
    let sine = |hz: f64, rate: u32, n: usize| -> Vec<f32> {
        (0..n)
            .map(|i| {
                (0.5 * (2.0 * std::f64::consts::PI * hz * i as f64 / rate as f64).sin()) as f32
            })
            .collect()
    };
    for (from, to) in [(48_000, 8_000), (44_100, 16_000), (8_000, 48_000)] {
        let x = sine(440.0, from, from as usize / 2);
        let y = resample(&x, from, to);
        assert_eq!(y.len(), to as usize / 2, "{from} -> {to}");
        let want = sine(440.0, to, y.len());
        let edge = to as usize / 20;
        let worst = y[edge..y.len() - edge]
            .iter()
            .zip(&want[edge..])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 2e-3, "{from} -> {to}: differs by {worst}");
    }
    // 6 kHz at 48 kHz is above 8 kHz's Nyquist rate (4 kHz): gone, not aliased to 2 kHz.
    let high = resample(&sine(6_000.0, 48_000, 24_000), 48_000, 8_000);
    let rms = (high[400..3600].iter().map(|v| v * v).sum::<f32>() / 3200.0).sqrt();
    assert!(rms < 0.01, "a 6 kHz tone leaves rms {rms} at 8 kHz");
    assert_eq!(resample(&[0.25, -0.5], 8_000, 8_000), [0.25, -0.5]);
}
