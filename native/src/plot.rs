//! The SVG plot each run writes next to its metrics: training loss per modality and
//! validation accuracy per modality and fused, per epoch.

use mla::EpochMetrics;

const COLORS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
];
const W: f64 = 420.0;
const H: f64 = 240.0;
const PAD: f64 = 40.0;

/// One panel at horizontal offset `x0`: a polyline per series, y from `lo` to `hi`.
fn panel(x0: f64, title: &str, series: &[(String, &str, Vec<f64>)], lo: f64, hi: f64) -> String {
    let n = series.iter().map(|s| s.2.len()).max().unwrap_or(0);
    let x = |i: usize| x0 + PAD + (W - 1.5 * PAD) * i as f64 / (n.max(2) - 1) as f64;
    let y = |v: f64| PAD / 2.0 + (H - 1.5 * PAD) * (1.0 - (v - lo) / (hi - lo).max(1e-12));
    let mut out = format!(
        "<text x=\"{:.1}\" y=\"14\" font-size=\"13\">{title}</text>\n<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">epoch 1 .. {n}</text>\n",
        x0 + PAD,
        x0 + W - PAD / 2.0,
        H - 20.0
    );
    for k in 0..=4 {
        let v = lo + (hi - lo) * k as f64 / 4.0;
        out += &format!(
            "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#e6e9f0\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{v:.2}</text>\n",
            x0 + PAD,
            x0 + W - PAD / 2.0,
            y(v),
            y(v),
            x0 + PAD - 4.0,
            y(v) + 3.0
        );
    }
    for (j, (name, color, values)) in series.iter().enumerate() {
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
            .collect();
        out += &format!(
            "<polyline data-series=\"{name}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>\n<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"{color}\">{name}</text>\n",
            points.join(" "),
            x0 + PAD + 55.0 * j as f64,
            H - 6.0
        );
    }
    out
}

/// The plot of `history` as an SVG document.
pub fn svg(history: &[EpochMetrics]) -> String {
    let Some(first) = history.first() else {
        return format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{H}\"/>\n",
            2.0 * W
        );
    };
    let color = |k: usize| COLORS[k % COLORS.len()];
    let losses: Vec<(String, &str, Vec<f64>)> = first
        .loss_names
        .iter()
        .enumerate()
        .map(|(k, n)| {
            (
                n.clone(),
                color(k),
                history.iter().map(|m| m.train_loss[k]).collect(),
            )
        })
        .collect();
    let top = losses
        .iter()
        .flat_map(|s| &s.2)
        .filter(|v| v.is_finite())
        .fold(0.0f64, |a, &b| a.max(b));
    let mut accuracy: Vec<(String, &str, Vec<f64>)> = first
        .valid
        .modalities
        .iter()
        .enumerate()
        .map(|(k, n)| {
            (
                n.clone(),
                color(k),
                history.iter().map(|m| m.valid.unimodal[k]).collect(),
            )
        })
        .collect();
    accuracy.push((
        "fused".into(),
        "#222",
        history.iter().map(|m| m.valid.fused).collect(),
    ));
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{H}\" font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{}{}</svg>\n",
        2.0 * W,
        panel(
            0.0,
            "training loss per modality",
            &losses,
            0.0,
            top.max(1e-6) * 1.05
        ),
        panel(W, "validation accuracy", &accuracy, 0.0, 1.0)
    )
}
