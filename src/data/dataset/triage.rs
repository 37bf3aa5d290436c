//! Samples that cannot be read (a missing or corrupt file): every sample is checked
//! before training, and the problems are reported all at once, or skipped and counted.

use crate::error::{MlaError, Result};

/// Problems listed in an error before the rest is summarised.
const SHOWN: usize = 10;

/// Passes `problems` (one message per bad sample, naming its file and line) back when
/// there are none or `skip` is set, so the caller can drop and count them; otherwise an
/// error listing them.
pub fn triage(source: &str, problems: Vec<String>, skip: bool) -> Result<Vec<String>> {
    if problems.is_empty() || skip {
        return Ok(problems);
    }
    let n = problems.len();
    // One problem reads as before: the problem itself.
    if n == 1 {
        return Err(MlaError::Data(problems[0].clone()));
    }
    let mut message = format!("{source}: {n} bad samples (every sample was checked):");
    for p in problems.iter().take(SHOWN) {
        message += "\n  ";
        message += p;
    }
    if n > SHOWN {
        message += &format!("\n  ... and {} more", n - SHOWN);
    }
    message +=
        "\nfix or remove them, or skip them (`skip_bad = true`, `mla-native train --skip-bad`)";
    Err(MlaError::Data(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_problem_is_the_error_many_are_listed_and_skipping_returns_them() {
        assert_eq!(
            triage("m.csv", vec![], false).unwrap(),
            Vec::<String>::new()
        );
        let one = triage("m.csv", vec!["m.csv line 3: bad".into()], false);
        assert_eq!(one.unwrap_err().to_string(), "data: m.csv line 3: bad");
        let many: Vec<String> = (1..=12).map(|i| format!("m.csv line {i}: bad")).collect();
        let err = triage("m.csv", many.clone(), false)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("data: m.csv: 12 bad samples"), "{err}");
        assert!(
            err.contains("line 10: bad") && !err.contains("line 11: bad"),
            "{err}"
        );
        assert!(
            err.contains("... and 2 more") && err.contains("--skip-bad"),
            "{err}"
        );
        assert_eq!(triage("m.csv", many.clone(), true).unwrap(), many);
    }
}
