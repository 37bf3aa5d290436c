//! A small SVG line chart: one line per series, one point per epoch.

use leptos::prelude::*;

/// One line of a chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub color: &'static str,
    /// y per epoch (x = 1, 2, ...); non-finite values are skipped.
    pub values: Vec<f64>,
}

/// Colours of successive series.
pub const PALETTE: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
];

const W: f64 = 420.0;
const H: f64 = 220.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 28.0;

/// The y range of the chart: fixed, or from the data with a margin.
fn y_range(series: &[Series], fixed: Option<(f64, f64)>) -> (f64, f64) {
    if let Some(r) = fixed {
        return r;
    }
    let finite = series
        .iter()
        .flat_map(|s| &s.values)
        .filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::MAX, f64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if lo > hi {
        (0.0, 1.0)
    } else if hi - lo < 1e-9 {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo.min(0.0), hi * 1.05)
    }
}

/// A line chart of `series`, redrawn when they change.
#[component]
pub fn LineChart(
    title: &'static str,
    /// Test id of the chart element.
    id: &'static str,
    series: Signal<Vec<Series>>,
    #[prop(optional)] fixed_y: Option<(f64, f64)>,
    #[prop(default = "")] y_format: &'static str,
) -> impl IntoView {
    let plot = move || {
        let all = series.get();
        let epochs = all.iter().map(|s| s.values.len()).max().unwrap_or(0);
        let (y0, y1) = y_range(&all, fixed_y);
        let x = move |i: usize| {
            let span = (epochs.max(2) - 1) as f64;
            LEFT + (W - LEFT - RIGHT) * i as f64 / span
        };
        let y = move |v: f64| TOP + (H - TOP - BOTTOM) * (1.0 - (v - y0) / (y1 - y0));
        let label = move |v: f64| {
            if y_format == "%" {
                format!("{:.0}%", 100.0 * v)
            } else {
                format!("{v:.2}")
            }
        };
        let ticks = (0..=4)
            .map(|k| {
                let v = y0 + (y1 - y0) * k as f64 / 4.0;
                let at = format!("{:.1}", y(v));
                view! {
                    <line class="grid" x1=LEFT.to_string() x2=(W - RIGHT).to_string() y1=at.clone() y2=at />
                    <text class="tick" x=(LEFT - 4.0).to_string() y=format!("{:.1}", y(v) + 4.0) text-anchor="end">
                        {label(v)}
                    </text>
                }
            })
            .collect_view();
        let lines = all.into_iter().map(|s| series_view(s, x, y)).collect_view();
        let x_label = if epochs == 0 {
            "no epochs yet".to_string()
        } else {
            format!("epoch 1 .. {epochs}")
        };
        view! {
            {ticks}
            {lines}
            <text class="tick" x=((LEFT + W) / 2.0).to_string() y=(H - 6.0).to_string() text-anchor="middle">
                {x_label}
            </text>
        }
    };
    let legend = move || {
        series
            .get()
            .into_iter()
            .map(|s| {
                view! {
                    <span class="legend-item">
                        <span class="swatch" style:background=s.color></span>
                        {s.name}
                    </span>
                }
            })
            .collect_view()
    };
    view! {
        <figure class="chart" data-testid=id>
            <figcaption>{title}</figcaption>
            <svg viewBox=format!("0 0 {W} {H}") role="img" aria-label=title>
                {plot}
            </svg>
            <div class="legend">{legend}</div>
        </figure>
    }
}

/// One series as a polyline with a dot per finite value; `x` and `y` map an epoch
/// index and a value to the chart's coordinates.
fn series_view(s: Series, x: impl Fn(usize) -> f64, y: impl Fn(f64) -> f64) -> impl IntoView {
    let pts: Vec<(f64, f64)> = s
        .values
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .map(|(i, v)| (x(i), y(*v)))
        .collect();
    let path = pts
        .iter()
        .map(|(a, b)| format!("{a:.1},{b:.1}"))
        .collect::<Vec<_>>()
        .join(" ");
    let dots = pts
        .iter()
        .map(|(a, b)| {
            view! { <circle class="point" cx=format!("{a:.1}") cy=format!("{b:.1}") r="2.5" fill=s.color /> }
        })
        .collect_view();
    view! {
        <g class="series" data-series=s.name.clone()>
            <polyline points=path fill="none" stroke=s.color stroke-width="2" />
            {dots}
        </g>
    }
}
