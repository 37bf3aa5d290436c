//! Stratified train / validation / test splits, shared by every data source.

use crate::error::{MlaError, Result};
use crate::rng::Rng;

/// Checks split fractions; errors name the fields.
pub fn check_fractions(valid: f64, test: f64) -> Result<()> {
    if !(valid > 0.0 && test > 0.0 && valid + test < 0.9) {
        return Err(MlaError::config(
            "data.valid_fraction/test_fraction",
            "need both > 0 and together < 0.9",
        ));
    }
    Ok(())
}

/// Indices of the train, validation and test samples, each sorted: per class, a seeded
/// shuffle, then the first shares go to test and validation. Every split gets at least
/// one sample.
pub fn stratified_split(
    labels: &[usize],
    classes: usize,
    valid_fraction: f64,
    test_fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>, Vec<usize>)> {
    if labels.len() < 3 {
        return Err(MlaError::Data(format!(
            "{} samples are too few to split into train, validation and test",
            labels.len()
        )));
    }
    let mut rng = Rng::derive(seed, 11);
    let (mut train, mut valid, mut test) = (Vec::new(), Vec::new(), Vec::new());
    for c in 0..classes {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == c).collect();
        rng.shuffle(&mut idx);
        let n = idx.len() as f64;
        let n_test = (n * test_fraction).round() as usize;
        let n_valid = (n * valid_fraction).round() as usize;
        test.extend(idx.drain(..n_test.min(idx.len())));
        valid.extend(idx.drain(..n_valid.min(idx.len())));
        train.extend(idx);
    }
    for part in [&mut valid, &mut test] {
        if part.is_empty() {
            let moved = train.pop().expect("at least 3 samples");
            part.push(moved);
        }
    }
    if train.is_empty() {
        train.push(valid.pop().expect("checked"));
    }
    for part in [&mut train, &mut valid, &mut test] {
        part.sort_unstable();
    }
    Ok((train, valid, test))
}

/// For data sets that come with a test list: per class, a seeded `fraction` of the
/// training samples `pool` (sorted indices into `labels`) held out for validation.
/// Returns the training and the validation samples, sorted.
pub fn hold_out(
    pool: &[usize],
    labels: &[usize],
    classes: usize,
    fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>)> {
    let sub: Vec<usize> = pool.iter().map(|&i| labels[i]).collect();
    // `stratified_split` holds out two shares; together they are the validation split.
    let (train, a, b) = stratified_split(&sub, classes, fraction / 2.0, fraction / 2.0, seed)?;
    let mut valid: Vec<usize> = a.into_iter().chain(b).map(|k| pool[k]).collect();
    valid.sort_unstable();
    Ok((train.into_iter().map(|k| pool[k]).collect(), valid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_is_split_by_the_fractions_and_nothing_is_lost() {
        let labels: Vec<usize> = (0..200).map(|i| i % 4).collect();
        let (tr, va, te) = stratified_split(&labels, 4, 0.1, 0.2, 3).unwrap();
        assert_eq!((tr.len(), va.len(), te.len()), (140, 20, 40));
        let mut all: Vec<usize> = tr.iter().chain(&va).chain(&te).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..200).collect::<Vec<_>>());
        for c in 0..4 {
            assert_eq!(te.iter().filter(|&&i| labels[i] == c).count(), 10);
        }
        assert_ne!(stratified_split(&labels, 4, 0.1, 0.2, 4).unwrap().2, te);
        assert!(check_fractions(0.5, 0.5).is_err());
    }
}
