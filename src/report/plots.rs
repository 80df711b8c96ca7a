//! Plots (plotters), each as SVG and PNG: per MDP, cumulative regret against steps with one
//! line per agent and its 95% confidence band across seeds, the random policy's and the optimal
//! policy's regret dashed; and a summary bar chart of each agent's average normalized
//! cumulative regret with 95% intervals.
//!
//! Text is drawn with DejaVu Sans, embedded in the binary (the `dejavu` crate), through
//! plotters' `ab_glyph` feature: no system font library or font file is needed, so the build
//! works on a bare machine and the PNGs look the same everywhere. Plots are rendered in
//! parallel, each into memory, then written atomically.

use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use rayon::prelude::*;

use super::{Band, Exporter, OutDir, Report, ReportError};

/// Writes `plots/regret-<mdp>.{svg,png}` and `plots/summary.{svg,png}`.
pub struct Plots;

const SIZE: (u32, u32) = (900, 560);
const FONT: &str = "sans-serif";
/// Points per drawn curve at most; longer curves are thinned evenly (the last point is kept).
const MAX_POINTS: usize = 400;

const COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

pub(super) fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The embedded font is valid; if it were not, text would fail to draw and the error
        // would surface there.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
    });
}

/// Evenly thinned indices of a curve of `n` points.
fn thin(n: usize) -> Vec<usize> {
    if n <= MAX_POINTS {
        return (0..n).collect();
    }
    let mut v: Vec<usize> = (0..MAX_POINTS)
        .map(|i| i * (n - 1) / (MAX_POINTS - 1))
        .collect();
    v.dedup();
    v
}

type DrawResult = Result<(), String>;

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn draw_regret<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    report: &Report,
    m: usize,
) -> DrawResult {
    root.fill(&WHITE).map_err(err)?;
    let curves: Vec<(usize, &Band)> = report.curves[m]
        .iter()
        .enumerate()
        .filter_map(|(a, b)| b.as_ref().map(|b| (a, b)))
        .collect();
    let random = report.random[m].as_ref();
    let (mut x_max, mut agents_max, mut random_max) = (1.0f64, 0.0f64, 0.0f64);
    let finite_max = |acc: f64, &v: &f64| if v.is_finite() { acc.max(v) } else { acc };
    for (_, b) in &curves {
        x_max = x_max.max(b.steps.last().copied().unwrap_or(0) as f64);
        agents_max = b.hi.iter().chain(&b.mean).fold(agents_max, finite_max);
    }
    if let Some(r) = random {
        x_max = x_max.max(r.steps.last().copied().unwrap_or(0) as f64);
        random_max = r.mean.iter().fold(0.0, finite_max);
    }
    // The random policy's regret often dwarfs the agents'; the axis follows the agents (with
    // room to spare) and the random line is cut where it leaves the plot.
    let y_max = if agents_max > 0.0 {
        (agents_max * 1.3).min(random_max.max(agents_max) * 1.05)
    } else if random_max > 0.0 {
        random_max * 1.05
    } else {
        1.0
    };
    let mut chart = ChartBuilder::on(root)
        .caption(&report.mdps[m].label, (FONT, 18))
        .margin(12)
        .margin_right(36)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("steps")
        .y_desc("cumulative regret")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| super::num(*y))
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    for &(a, band) in &curves {
        let c = color(a);
        let idx = thin(band.steps.len());
        let x = |i: usize| band.steps[i] as f64;
        let mut poly: Vec<(f64, f64)> = idx.iter().map(|&i| (x(i), band.hi[i])).collect();
        poly.extend(idx.iter().rev().map(|&i| (x(i), band.lo[i])));
        chart
            .draw_series(std::iter::once(Polygon::new(poly, c.mix(0.18).filled())))
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                idx.iter().map(|&i| (x(i), band.mean[i])),
                c.stroke_width(2),
            ))
            .map_err(err)?
            .label(report.agents[a].label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    if let Some(r) = random {
        let mut points = Vec::new();
        for i in thin(r.steps.len()) {
            let (x, y) = (r.steps[i] as f64, r.mean[i]);
            if y > y_max {
                // Cut at the top edge, where the line crosses it.
                if let Some(&(px, py)) = points.last() {
                    let t: f64 = (y_max - py) / (y - py);
                    points.push((px + t * (x - px), y_max));
                }
                break;
            }
            points.push((x, y));
        }
        chart
            .draw_series(DashedLineSeries::new(points, 6, 4, BLACK.stroke_width(1)))
            .map_err(err)?
            .label("random policy")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(1)));
    }
    let grey = RGBColor(110, 110, 110);
    chart
        .draw_series(DashedLineSeries::new(
            [(0.0, 0.0), (x_max, 0.0)],
            2,
            3,
            grey.stroke_width(2),
        ))
        .map_err(err)?
        .label("optimal policy")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], grey.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

fn draw_summary<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, report: &Report) -> DrawResult {
    root.fill(&WHITE).map_err(err)?;
    let n = report.agents.len().max(1) as i32;
    // A segmented range includes its end: n - 1 gives n slots.
    let y_max = report
        .summary
        .iter()
        .filter_map(|s| s.mean.map(|m| m + s.ci95.unwrap_or(0.0)))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let y_max = if y_max > 0.0 { y_max * 1.15 } else { 1.0 };
    let labels: Vec<String> = report.agents.iter().map(|a| a.label.clone()).collect();
    let mut chart = ChartBuilder::on(root)
        .caption("Average normalized cumulative regret (95% CI)", (FONT, 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((0..n - 1).into_segmented(), 0.0..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(labels.len().max(1))
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels.get(*i as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .y_desc(format!("normalized cumulative regret ({})", report.at))
        .y_label_formatter(&|y| super::num(*y))
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .draw()
        .map_err(err)?;
    for (a, s) in report.summary.iter().enumerate() {
        let Some(mean) = s.mean.filter(|m| m.is_finite()) else {
            continue;
        };
        let i = a as i32;
        let mut bar = Rectangle::new(
            [
                (SegmentValue::Exact(i), 0.0),
                (SegmentValue::Exact(i + 1), mean),
            ],
            color(a).mix(0.85).filled(),
        );
        bar.set_margin(0, 0, 18, 18);
        chart.draw_series(std::iter::once(bar)).map_err(err)?;
        if let Some(ci) = s.ci95 {
            let at = SegmentValue::CenterOf(i);
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(at.clone(), (mean - ci).max(0.0)), (at, mean + ci)],
                    BLACK.stroke_width(2),
                )))
                .map_err(err)?;
        }
    }
    root.present().map_err(err)
}

fn svg(draw: impl Fn(&DrawingArea<SVGBackend, Shift>) -> DrawResult) -> Result<String, String> {
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, SIZE).into_drawing_area();
        draw(&root)?;
    }
    Ok(s)
}

fn png(draw: impl Fn(&DrawingArea<BitMapBackend, Shift>) -> DrawResult) -> Result<Vec<u8>, String> {
    let (w, h) = SIZE;
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
        draw(&root)?;
    }
    let mut out = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut out),
        &rgb,
        w,
        h,
        image::ColorType::Rgb8,
    )
    .map_err(err)?;
    Ok(out)
}

/// One plot in both formats: (file stem, SVG text, PNG bytes).
type Rendered = (String, Result<(String, Vec<u8>), String>);

fn render(
    stem: String,
    draw: impl Fn(&DrawingArea<SVGBackend, Shift>) -> DrawResult,
    draw_png: impl Fn(&DrawingArea<BitMapBackend, Shift>) -> DrawResult,
) -> Rendered {
    let result = svg(draw).and_then(|s| png(draw_png).map(|p| (s, p)));
    (stem, result)
}

impl Exporter for Plots {
    fn name(&self) -> &'static str {
        "plots"
    }

    fn export(&self, report: &Report, out: &mut OutDir) -> Result<(), ReportError> {
        register_font();
        let mut rendered: Vec<Rendered> = (0..report.mdps.len())
            .into_par_iter()
            .filter(|&m| report.curves[m].iter().any(Option::is_some))
            .map(|m| {
                render(
                    format!("plots/regret-{}", report.mdps[m].slug),
                    |r| draw_regret(r, report, m),
                    |r| draw_regret(r, report, m),
                )
            })
            .collect();
        if !report.agents.is_empty() {
            rendered.push(render(
                "plots/summary".into(),
                |r| draw_summary(r, report),
                |r| draw_summary(r, report),
            ));
        }
        for (stem, result) in rendered {
            let (svg, png) = result.map_err(|reason| ReportError::Plot {
                file: format!("{stem}.svg"),
                reason,
            })?;
            out.write(&format!("{stem}.svg"), svg.as_bytes())?;
            out.write(&format!("{stem}.png"), &png)?;
        }
        Ok(())
    }
}
