//! Reports of `[[experiment]]` programs: for each experiment, its configurations ranked by a
//! measure (seeds averaged, as `select-best` does) in `programs.md` and `programs.csv`, and the
//! measure drawn against a step column (`--x`, default the log's first column), one mean line
//! per configuration, in `plots/program-<name>.{svg,png}`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::{OutDir, ReportError, mean_ci};
use crate::analysis::logs::read_columns;
use crate::analysis::{Accumulator, Collection, SelectOptions, Selection, collect, rank};
use crate::value::Value;

/// Lines drawn per plot at most: the best configurations.
const MAX_LINES: usize = 10;

/// The programs of a report: their runs, ranked by the measure (seeds averaged). Part of
/// [`super::Report`]; written by the [`ProgramsExporter`].
#[derive(Clone, Debug)]
pub struct Programs {
    c: Collection,
    s: Selection,
    x: Option<String>,
    plots: bool,
}

impl Programs {
    /// The programs of `paths`, ranked as `select` says; `None` when they hold no program
    /// runs. `x` is the plots' step column (default: each log's first column).
    pub fn read(
        paths: &[PathBuf],
        select: &SelectOptions,
        x: Option<&str>,
        plots: bool,
    ) -> Result<Option<Programs>, ReportError> {
        let c = collect(
            paths,
            &[select.measure.as_str()],
            select.at,
            select.include_stale,
        )?;
        if !c.kinds.iter().any(|k| k.program) {
            return Ok(None);
        }
        let s = rank(&c, select);
        Ok(Some(Programs {
            c,
            s,
            x: x.map(str::to_string),
            plots,
        }))
    }

    /// Experiments with runs.
    pub fn experiments(&self) -> usize {
        self.c
            .kinds
            .iter()
            .filter(|k| k.program && self.s.agents.iter().any(|a| a.agent == **k))
            .count()
    }

    /// Whether every run was there and valid.
    pub fn is_complete(&self) -> bool {
        self.s.is_complete()
    }
}

/// Writes `programs.md`, `programs.csv` and one plot per experiment.
pub struct ProgramsExporter;

impl super::Exporter for ProgramsExporter {
    fn name(&self) -> &'static str {
        "programs"
    }

    fn export(&self, report: &super::Report, out: &mut OutDir) -> Result<(), ReportError> {
        match &report.programs {
            Some(p) => write_programs(p, out),
            None => Ok(()),
        }
    }
}

/// A line of a program plot: its legend label and its points (x, mean, CI low, CI high).
type Line = (String, Vec<Point>);

/// A point of a program curve: x, mean, CI low, CI high.
type Point = (f64, f64, f64, f64);

fn first_column(csv: &Path) -> Option<String> {
    let text = std::fs::read_to_string(csv).ok()?;
    let h = text.lines().next()?;
    Some(h.split(',').next()?.trim().to_string())
}

/// The mean curve and 95% band over seeds of each of the best configurations of one
/// experiment: (config index, points by x).
fn curves(
    c: &Collection,
    s: &Selection,
    kind: usize,
    x: &str,
    measure: &str,
) -> Vec<(usize, Vec<Point>)> {
    let ranking = s.agents.iter().find(|a| a.agent == c.kinds[kind]);
    let mut out = Vec::new();
    for cs in ranking
        .map_or(&[][..], |r| &r.configs[..])
        .iter()
        .take(MAX_LINES)
    {
        let Some(ci) = c
            .configs
            .iter()
            .position(|k| k.kind == kind && k.id == cs.config_id)
        else {
            continue;
        };
        let mut by_x: HashMap<u64, (f64, Accumulator)> = HashMap::new();
        for r in c.runs.iter().filter(|r| r.config == ci && r.usable()) {
            let Some(csv) = &r.csv else { continue };
            let Ok(rows) = read_columns(csv, &[x, measure]) else {
                continue;
            };
            for row in rows {
                let e = by_x
                    .entry(row[0].to_bits())
                    .or_insert((row[0], Accumulator::default()));
                e.1.push(row[1]);
            }
        }
        let mut pts: Vec<Point> = by_x
            .into_values()
            .filter_map(|(x, acc)| {
                let st = acc.stat();
                let m = st.mean?;
                let h = st.ci95.unwrap_or(0.0);
                Some((x, m, m - h, m + h))
            })
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        out.push((ci, pts));
    }
    out
}

fn label(params: &crate::value::Params) -> String {
    if params.is_empty() {
        "(no parameters)".into()
    } else {
        Value::Table(params.clone()).to_string()
    }
}

/// Legend labels naming only the parameters that vary between `configs` (a constant one, such
/// as `epochs = 20` in every configuration, is said once in the plot's title instead).
fn varying_labels(configs: &[&crate::value::Params]) -> (Vec<String>, String) {
    let mut keys: Vec<&String> = configs.iter().flat_map(|p| p.keys()).collect();
    keys.sort();
    keys.dedup();
    let (mut vary, mut same) = (Vec::new(), Vec::new());
    for k in keys {
        let first = configs.first().and_then(|p| p.get(k));
        if configs.iter().all(|p| p.get(k) == first) {
            if let Some(v) = first {
                same.push(format!("{k} = {v}"));
            }
        } else {
            vary.push(k);
        }
    }
    let labels = configs
        .iter()
        .map(|p| {
            let parts: Vec<String> = vary
                .iter()
                .map(|k| match p.get(*k) {
                    Some(v) => format!("{k} = {v}"),
                    None => format!("{k} unset"),
                })
                .collect();
            if parts.is_empty() {
                label(p)
            } else {
                parts.join(", ")
            }
        })
        .collect();
    (labels, same.join(", "))
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    x: &str,
    measure: &str,
    lines: &[Line],
) -> Result<(), String> {
    use super::plots::{TICKS, axis_decimals, band_legend, color, err, tick, titled};
    let area = titled(root, title)?;
    let finite = |p: &&Point| p.0.is_finite() && p.2.is_finite() && p.3.is_finite();
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(a, _, lo, hi) in lines.iter().flat_map(|l| l.1.iter()).filter(finite) {
        (x0, x1, y0, y1) = (x0.min(a), x1.max(a), y0.min(lo), y1.max(hi));
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    let pad = ((y1 - y0) * 0.05).max(1e-12);
    let integer_x = lines
        .iter()
        .flat_map(|l| l.1.iter())
        .all(|p| p.0.fract() == 0.0);
    let x_dec = if integer_x { 0 } else { axis_decimals(x0, x1) };
    let x_ticks = if integer_x {
        TICKS.min((x1 - x0) as usize + 1)
    } else {
        TICKS
    };
    let y_dec = axis_decimals(y0 - pad, y1 + pad);
    let mut chart = ChartBuilder::on(&area)
        .margin(12)
        .margin_top(4)
        .margin_right(36)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1.max(x0 + 1e-12), (y0 - pad)..(y1 + pad))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(x)
        .y_desc(measure)
        .x_labels(x_ticks)
        .y_labels(TICKS)
        .x_label_formatter(&|v| tick(*v, x_dec))
        .y_label_formatter(&|v| tick(*v, y_dec))
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 14))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    for (i, (_, l)) in lines.iter().enumerate() {
        let mut poly: Vec<(f64, f64)> = l.iter().map(|p| (p.0, p.3)).collect();
        poly.extend(l.iter().rev().map(|p| (p.0, p.2)));
        chart
            .draw_series(std::iter::once(Polygon::new(
                poly,
                color(i).mix(0.15).filled(),
            )))
            .map_err(err)?;
    }
    for (i, (name, l)) in lines.iter().enumerate() {
        let c = color(i);
        chart
            .draw_series(LineSeries::new(
                l.iter().map(|p| (p.0, p.1)),
                c.stroke_width(2),
            ))
            .map_err(err)?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    band_legend(&mut chart)?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

/// One experiment's plot: (file slug, title, x column, lines); `None` without logs.
fn plot_data(p: &Programs, k: usize) -> Option<(String, String, String, Vec<Line>)> {
    let (c, s) = (&p.c, &p.s);
    let kind = &c.kinds[k];
    let first_csv = c
        .runs
        .iter()
        .find(|r| c.configs[r.config].kind == k && r.csv.is_some());
    let xcol = match (p.x.as_deref(), first_csv.and_then(|r| r.csv.as_deref())) {
        (Some(x), _) => x.to_string(),
        (None, Some(p)) => first_column(p).unwrap_or_else(|| "step".into()),
        (None, None) => return None,
    };
    let raw = curves(c, s, k, &xcol, &s.measure);
    let params: Vec<&crate::value::Params> =
        raw.iter().map(|(ci, _)| &c.configs[*ci].params).collect();
    let (labels, same) = varying_labels(&params);
    let lines: Vec<Line> = labels
        .into_iter()
        .zip(raw)
        .map(|(l, (_, p))| (l, p))
        .collect();
    let slug: String = kind
        .name
        .chars()
        .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '-' })
        .collect();
    let mut title = format!("{}: {} against {xcol}", kind.name, s.measure);
    if !same.is_empty() && lines.len() > 1 {
        title.push_str(&format!(" ({same} in every configuration)"));
    }
    Some((slug, title, xcol, lines))
}

/// The programs' section of the HTML page: per experiment, its ranked configurations and its
/// plot (inline SVG).
pub fn html_section(p: &Programs) -> Result<String, ReportError> {
    use super::esc;
    let (c, s) = (&p.c, &p.s);
    let better = if s.maximize { "higher" } else { "lower" };
    let mut h = String::from("<h2 id=\"programs\">Programs</h2>\n");
    for (k, kind) in c.kinds.iter().enumerate().filter(|(_, k)| k.program) {
        let Some(r) = s.agents.iter().find(|a| a.agent == *kind) else {
            continue;
        };
        let _ = writeln!(
            h,
            "<h3>{}</h3>\n<p><code>{}</code> at {} ({better} is better), mean and 95% CI over {} seed(s); ★: the chosen configuration.</p>",
            esc(&kind.name),
            esc(&s.measure),
            esc(&s.at.to_string()),
            r.seeds
        );
        h.push_str("<table class=\"sortable programs\"><thead><tr><th>rank</th><th>configuration</th><th>mean ± 95% CI</th><th>runs</th></tr></thead><tbody>\n");
        for cs in &r.configs {
            let chosen = Some(cs.rank - 1) == r.winner;
            let _ = writeln!(
                h,
                "<tr><td class=\"num\" data-v=\"{}\">{}{}</td><td><code>{}</code></td><td class=\"num{}\" data-v=\"{}\">{}</td><td class=\"num\" data-v=\"{}\">{}/{}</td></tr>",
                cs.rank,
                if chosen { "★ " } else { "" },
                cs.rank,
                esc(&label(&cs.params)),
                if chosen { " best" } else { "" },
                cs.stat.mean.map_or(String::new(), |v| v.to_string()),
                esc(&mean_ci(&cs.stat, " ± ")),
                cs.stat.n,
                cs.stat.n,
                r.expected_runs
            );
        }
        h.push_str("</tbody></table>\n");
        if !p.plots {
            continue;
        }
        if let Some((slug, title, xcol, lines)) = plot_data(p, k) {
            let svg = super::plots::svg(|r| draw(r, &title, &xcol, &s.measure, &lines)).map_err(
                |reason| ReportError::Plot {
                    file: format!("index.html (program-{slug})"),
                    reason,
                },
            )?;
            let svg = svg.replacen(" width=\"900\" height=\"560\"", "", 1);
            let _ = writeln!(
                h,
                "<figure class=\"program\" id=\"plot-program-{}\">\n{svg}\n<figcaption>{}: mean over seeds, shaded 95% CI.</figcaption>\n</figure>",
                esc(&slug),
                esc(&title)
            );
        }
    }
    Ok(h)
}

fn write_programs(p: &Programs, out: &mut OutDir) -> Result<(), ReportError> {
    let (c, s, plots) = (&p.c, &p.s, p.plots);
    let mut md = String::from("# Programs\n\n");
    let mut csv = String::from("experiment,rank,config_id,mean,ci95,runs,expected,params\n");
    let better = if s.maximize { "higher" } else { "lower" };
    for (k, kind) in c.kinds.iter().enumerate().filter(|(_, k)| k.program) {
        let Some(r) = s.agents.iter().find(|a| a.agent == *kind) else {
            continue;
        };
        let _ = writeln!(
            md,
            "## {}\n\n{} at {} ({better} is better), mean and 95% CI over {} seed(s).\n",
            kind.name, s.measure, s.at, r.seeds
        );
        md.push_str("| rank | configuration | mean ± 95% CI | runs |\n|---:|---|---:|---:|\n");
        for cs in &r.configs {
            let mark = if Some(cs.rank - 1) == r.winner {
                " *"
            } else {
                ""
            };
            let _ = writeln!(
                md,
                "| {}{mark} | `{}` | {} | {}/{} |",
                cs.rank,
                label(&cs.params),
                mean_ci(&cs.stat, " ± "),
                cs.stat.n,
                r.expected_runs
            );
            let _ = writeln!(
                csv,
                "{},{},{},{},{},{},{},\"{}\"",
                kind.name,
                cs.rank,
                cs.config_id,
                cs.stat.mean.map_or(String::new(), |v| v.to_string()),
                cs.stat.ci95.map_or(String::new(), |v| v.to_string()),
                cs.stat.n,
                r.expected_runs,
                label(&cs.params).replace('"', "\"\"")
            );
        }
        md.push('\n');
        if !plots {
            continue;
        }
        let Some((slug, title, xcol, lines)) = plot_data(p, k) else {
            continue;
        };
        super::plots::register_font();
        let plot_err = |file: &str| {
            let file = file.to_string();
            move |reason: String| ReportError::Plot { file, reason }
        };
        let svg = format!("plots/program-{slug}.svg");
        let text = super::plots::svg(|r| draw(r, &title, &xcol, &s.measure, &lines))
            .map_err(plot_err(&svg))?;
        out.write(&svg, text.as_bytes())?;
        let png = format!("plots/program-{slug}.png");
        let bytes = super::plots::png(|r| draw(r, &title, &xcol, &s.measure, &lines))
            .map_err(plot_err(&png))?;
        out.write(&png, &bytes)?;
        let _ = writeln!(md, "![{title}]({svg})\n");
    }
    out.write("programs.csv", csv.as_bytes())?;
    out.write("programs.md", md.as_bytes())?;
    Ok(())
}
