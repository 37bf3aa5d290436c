//! Printing epochs and result tables.

use mla::{EpochMetrics, EvalReport};

fn pct(x: f64) -> String {
    format!("{:5.1}%", 100.0 * x)
}

/// One line per epoch: losses, validation accuracies, time.
pub fn epoch_line(m: &EpochMetrics, epochs: usize, seconds: f64) -> String {
    let losses: Vec<String> = m
        .loss_names
        .iter()
        .zip(&m.train_loss)
        .map(|(n, l)| format!("{n} {l:.4}"))
        .collect();
    let accs: Vec<String> = m
        .valid
        .modalities
        .iter()
        .zip(&m.valid.unimodal)
        .map(|(n, a)| format!("{n} {}", pct(*a)))
        .collect();
    format!(
        "epoch {:>3}/{epochs}  lr {:.1e}  loss {}  valid {}  fused {}  {:.2}s{}",
        m.epoch,
        m.lr,
        losses.join(" "),
        accs.join(" "),
        pct(m.valid.fused),
        seconds,
        if m.best { "  *best" } else { "" }
    )
}

/// The final table: one row per modality and the fused row.
pub fn table(title: &str, r: &EvalReport) -> String {
    let width = r
        .modalities
        .iter()
        .map(|n| n.len())
        .max()
        .unwrap_or(5)
        .max(8);
    let mut out = format!("{title}\n{:<width$}  accuracy\n", "modality");
    for (n, a) in r.modalities.iter().zip(&r.unimodal) {
        out += &format!("{n:<width$}  {}\n", pct(*a));
    }
    out += &format!("{:<width$}  {}\n", "fused", pct(r.fused));
    out
}
