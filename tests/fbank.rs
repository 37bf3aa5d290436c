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
