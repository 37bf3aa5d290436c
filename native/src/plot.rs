//! The SVG plots of a run: training loss per modality and validation accuracy per
//! modality and fused, per epoch (written with the metrics); the modalities' normalised
//! features in 2-D (written by `eval`, with the modality gap).

use mla::EpochMetrics;
use mla::modality_gap::GapReport;

const COLORS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
];
const W: f64 = 420.0;
const H: f64 = 240.0;
const PAD: f64 = 40.0;

/// One panel at horizontal offset `x0`: a polyline per series, y from `lo` to `hi`,
/// `x_label` under the x axis.
fn panel(
    x0: f64,
    title: &str,
    series: &[(String, &str, Vec<f64>)],
    (lo, hi): (f64, f64),
    x_label: &str,
) -> String {
    let n = series.iter().map(|s| s.2.len()).max().unwrap_or(0);
    let x = |i: usize| x0 + PAD + (W - 1.5 * PAD) * i as f64 / (n.max(2) - 1) as f64;
    let y = |v: f64| PAD / 2.0 + (H - 1.5 * PAD) * (1.0 - (v - lo) / (hi - lo).max(1e-12));
    let mut out = format!(
        "<text x=\"{:.1}\" y=\"14\" font-size=\"13\">{title}</text>\n<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{x_label}</text>\n",
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
            (0.0, top.max(1e-6) * 1.05),
            &format!("epoch 1 .. {}", history.len())
        ),
        panel(
            W,
            "validation accuracy",
            &accuracy,
            (0.0, 1.0),
            &format!("epoch 1 .. {}", history.len())
        )
    )
}

/// The 2-D projection of each modality's normalised features (at most 600 points per
/// modality, evenly spaced), each modality in its colour, the gaps in the title.
pub fn embeddings_svg(title: &str, report: &GapReport) -> String {
    const SIDE: f64 = 420.0;
    let all = report.points.iter().flatten();
    let extent = all
        .map(|p| p.0.abs().max(p.1.abs()))
        .fold(1e-9f64, f64::max);
    let at = |v: f64| SIDE / 2.0 + (SIDE / 2.0 - PAD) * v / extent;
    let gaps: Vec<String> = report
        .pairs
        .iter()
        .map(|p| format!("{}–{} {:.3}", p.a, p.b, p.gap))
        .collect();
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{SIDE}\" height=\"{}\" font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"8\" y=\"16\" font-size=\"13\">{title}</text>\n<text x=\"8\" y=\"32\" font-size=\"11\">modality gap: {}</text>\n",
        SIDE + 40.0,
        gaps.join(", ")
    );
    for (k, (name, points)) in report.modalities.iter().zip(&report.points).enumerate() {
        let color = COLORS[k % COLORS.len()];
        let step = points.len().div_ceil(600).max(1);
        out += &format!("<g data-modality=\"{name}\" fill=\"{color}\" fill-opacity=\"0.5\">\n");
        for p in points.iter().step_by(step) {
            out += &format!(
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2\"/>\n",
                at(p.0),
                at(-p.1) + 40.0
            );
        }
        out += &format!(
            "</g>\n<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" fill=\"{color}\">● {name}</text>\n",
            8.0 + 90.0 * k as f64,
            SIDE + 32.0
        );
    }
    out + "</svg>\n"
}

/// Fig. 2's panels, two per row: each a title and, per modality and then fused, the
/// test accuracy at each ratio of the masked modality in training.
pub fn isolation_svg(
    panels: &[(String, Vec<Vec<f64>>)],
    modalities: &[String],
    ratios: &[f64],
) -> String {
    let rows = panels.len().div_ceil(2);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
        2.0 * W,
        H * rows as f64
    );
    let ratios: Vec<String> = ratios.iter().map(|r| r.to_string()).collect();
    let x_label = format!("masked ratio {}", ratios.join(", "));
    for (i, (title, curves)) in panels.iter().enumerate() {
        let series: Vec<(String, &str, Vec<f64>)> = curves
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let name = modalities.get(k).cloned().unwrap_or_else(|| "fused".into());
                let colour = if k < modalities.len() {
                    COLORS[k % COLORS.len()]
                } else {
                    "#222"
                };
                (name, colour, c.clone())
            })
            .collect();
        out += &format!(
            "<g transform=\"translate(0,{:.1})\">\n{}</g>\n",
            H * (i / 2) as f64,
            panel(W * (i % 2) as f64, title, &series, (0.0, 1.0), &x_label)
        );
    }
    out + "</svg>\n"
}
