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
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use rayon::prelude::*;

use super::{Band, Exporter, OutDir, Report, ReportError};

/// Writes `plots/regret-<mdp>.{svg,png}` and `plots/summary.{svg,png}`.
pub struct Plots;

const SIZE: (u32, u32) = (900, 560);
const FONT: &str = "sans-serif";
/// Points per drawn curve at most; longer curves are thinned evenly (the last point is kept).
const MAX_POINTS: usize = 400;

/// A colour-blind-safe palette (Okabe and Ito's, without its yellow, which is hard to see on
/// white, and its black, which the random policy uses), then two of Paul Tol's.
const COLORS: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(136, 34, 85),
    RGBColor(68, 170, 153),
];

/// The colour of series `i`.
pub(super) fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

/// Tick labels per axis at most.
pub(super) const TICKS: usize = 8;

/// One number format for a whole axis over `lo..hi` with at most [`TICKS`] labels: the
/// decimals the finest tick step plotters may choose needs (its steps are 1, 2 or 5 times a
/// power of ten), so "500" sits beside "1000" and "3.5" beside "4.0".
pub(super) fn axis_decimals(lo: f64, hi: f64) -> usize {
    let range = (hi - lo).abs();
    if !range.is_finite() || range <= 0.0 {
        return 0;
    }
    let raw = range / TICKS as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|k| k * mag)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * mag);
    (-step.log10().floor()).max(0.0) as usize
}

/// A tick label with `decimals` decimals ("-0" shown as "0").
pub(super) fn tick(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        s.trim_start_matches('-').to_string()
    } else {
        s
    }
}

/// Breaks `text` into lines no wider than `width` pixels in `font`, at spaces.
fn wrap<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    text: &str,
    font: &TextStyle,
    width: u32,
) -> Vec<String> {
    let fits = |t: &str| {
        root.estimate_text_size(t, font)
            .map_or(t.len() as u32 * 10, |(w, _)| w)
            <= width
    };
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if line.is_empty() || fits(&candidate) {
            line = candidate;
        } else {
            lines.push(std::mem::replace(&mut line, word.to_string()));
        }
    }
    lines.push(line);
    lines
}

/// Fills `root` white, draws `title` centred at the top (wrapped over as many lines as it
/// needs, never cut) and returns the area below it.
pub(super) fn titled<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> Result<DrawingArea<DB, Shift>, String> {
    root.fill(&WHITE).map_err(err)?;
    let font: TextStyle = (FONT, 18).into_font().into();
    let (w, _) = root.dim_in_pixel();
    let lines = wrap(root, title, &font, w.saturating_sub(48));
    let line_h = 23;
    let top = 10;
    let style = font.pos(Pos::new(HPos::Center, VPos::Top));
    for (i, l) in lines.iter().enumerate() {
        root.draw(&Text::new(
            l.clone(),
            ((w / 2) as i32, top + i as i32 * line_h),
            style.clone(),
        ))
        .map_err(err)?;
    }
    let (_, rest) = root.split_vertically(top as u32 + lines.len() as u32 * line_h as u32 + 4);
    Ok(rest)
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

pub(super) fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn draw_regret<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    report: &Report,
    m: usize,
) -> DrawResult {
    let area = titled(root, &report.mdps[m].label)?;
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
    // A little room below 0, so a line at 0 is not hidden by the axis.
    let y_min = -0.015 * y_max;
    let mut chart = ChartBuilder::on(&area)
        .margin(12)
        .margin_top(4)
        .margin_right(36)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, y_min..y_max)
        .map_err(err)?;
    // Steps are integers; ticks below 1 step apart would repeat a label.
    let x_ticks = TICKS.min(x_max as usize + 1);
    let y_dec = axis_decimals(0.0, y_max);
    chart
        .configure_mesh()
        .x_desc("steps")
        .y_desc("cumulative regret")
        .x_labels(x_ticks)
        .y_labels(TICKS)
        .x_label_formatter(&|x| tick(*x, 0))
        .y_label_formatter(&|y| tick(*y, y_dec))
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    // Reference lines first, so the agents are drawn above them (an agent whose regret is 0
    // lies on the optimal line and must stay visible); their legend entries come after.
    let grey = RGBColor(110, 110, 110);
    chart
        .draw_series(DashedLineSeries::new(
            [(0.0, 0.0), (x_max, 0.0)],
            2,
            3,
            grey.stroke_width(2),
        ))
        .map_err(err)?;
    let random_points = random.map(|r| {
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
        points
    });
    if let Some(points) = &random_points {
        chart
            .draw_series(DashedLineSeries::new(
                points.clone(),
                6,
                4,
                BLACK.stroke_width(1),
            ))
            .map_err(err)?;
    }
    for &(a, band) in &curves {
        let c = color(a);
        let idx = thin(band.steps.len());
        let x = |i: usize| band.steps[i] as f64;
        let mut poly: Vec<(f64, f64)> = idx.iter().map(|&i| (x(i), band.hi[i])).collect();
        poly.extend(idx.iter().rev().map(|&i| (x(i), band.lo[i])));
        chart
            .draw_series(std::iter::once(Polygon::new(poly, c.mix(0.18).filled())))
            .map_err(err)?;
    }
    for &(a, band) in &curves {
        let c = color(a);
        let idx = thin(band.steps.len());
        chart
            .draw_series(LineSeries::new(
                idx.iter().map(|&i| (band.steps[i] as f64, band.mean[i])),
                c.stroke_width(2),
            ))
            .map_err(err)?
            .label(report.agents[a].label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    band_legend(&mut chart)?;
    if random_points.is_some() {
        chart
            .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())
            .map_err(err)?
            .label("random policy")
            .legend(|(x, y)| {
                let st = BLACK.stroke_width(1);
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (6, 0)], st)
                    + PathElement::new(vec![(10, 0), (16, 0)], st)
                    + PathElement::new(vec![(20, 0), (22, 0)], st)
            });
    }
    chart
        .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())
        .map_err(err)?
        .label("optimal policy")
        .legend(move |(x, y)| {
            let st = grey.stroke_width(2);
            EmptyElement::at((x, y))
                + PathElement::new(vec![(0, 0), (2, 0)], st)
                + PathElement::new(vec![(5, 0), (7, 0)], st)
                + PathElement::new(vec![(10, 0), (12, 0)], st)
                + PathElement::new(vec![(15, 0), (17, 0)], st)
                + PathElement::new(vec![(20, 0), (22, 0)], st)
        });
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

/// The legend entry that says what the shaded bands are.
pub(super) fn band_legend<DB: DrawingBackend>(
    chart: &mut ChartContext<DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
) -> DrawResult {
    chart
        .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())
        .map_err(err)?
        .label("shaded: 95% CI over seeds")
        .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 20, y + 6)], BLACK.mix(0.15).filled()));
    Ok(())
}

fn draw_summary<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, report: &Report) -> DrawResult {
    let area = titled(
        root,
        "Average normalized cumulative regret (mean and 95% CI over runs)",
    )?;
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
    let y_dec = axis_decimals(0.0, y_max);
    let mut chart = ChartBuilder::on(&area)
        .margin(12)
        .margin_top(4)
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
        .y_labels(TICKS)
        .y_label_formatter(&|y| tick(*y, y_dec))
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .light_line_style(WHITE.mix(0.0))
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

pub(super) fn svg(
    draw: impl Fn(&DrawingArea<SVGBackend, Shift>) -> DrawResult,
) -> Result<String, String> {
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, SIZE).into_drawing_area();
        draw(&root)?;
    }
    Ok(s)
}

pub(super) fn png(
    draw: impl Fn(&DrawingArea<BitMapBackend, Shift>) -> DrawResult,
) -> Result<Vec<u8>, String> {
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

/// The regret plot of MDP `m` as SVG text (for the HTML page).
pub fn regret_svg(report: &Report, m: usize) -> Result<String, ReportError> {
    register_font();
    svg(|r| draw_regret(r, report, m)).map_err(|reason| ReportError::Plot {
        file: format!("index.html (regret-{})", report.mdps[m].slug),
        reason,
    })
}

/// The summary plot as SVG text (for the HTML page).
pub fn summary_svg(report: &Report) -> Result<String, ReportError> {
    register_font();
    svg(|r| draw_summary(r, report)).map_err(|reason| ReportError::Plot {
        file: "index.html (summary)".into(),
        reason,
    })
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
