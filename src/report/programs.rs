//! Reports of `[[experiment]]` programs: for each experiment, its configurations ranked by a
//! measure (seeds averaged, as `select-best` does) in `programs.md` and `programs.csv`, and the
//! measure drawn against a step column (`--x`, default the log's first column), one mean line
//! per configuration, in `plots/program-<name>.{svg,png}`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::{OutDir, ReportError, mean_ci, num};
use crate::analysis::logs::read_columns;
use crate::analysis::{Collection, SelectOptions, Selection, collect, rank};
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

/// The mean curve of each configuration of one experiment: (config index, points by x).
type Curves = Vec<(usize, Vec<(f64, f64)>)>;

fn first_column(csv: &Path) -> Option<String> {
    let text = std::fs::read_to_string(csv).ok()?;
    let h = text.lines().next()?;
    Some(h.split(',').next()?.trim().to_string())
}

fn curves(c: &Collection, s: &Selection, kind: usize, x: &str, measure: &str) -> Curves {
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
        let mut by_x: HashMap<u64, (f64, f64, usize)> = HashMap::new();
        for r in c.runs.iter().filter(|r| r.config == ci && r.usable()) {
            let Some(csv) = &r.csv else { continue };
            let Ok(rows) = read_columns(csv, &[x, measure]) else {
                continue;
            };
            for row in rows {
                let e = by_x.entry(row[0].to_bits()).or_insert((row[0], 0.0, 0));
                e.1 += row[1];
                e.2 += 1;
            }
        }
        let mut pts: Vec<(f64, f64)> = by_x
            .into_values()
            .map(|(x, sum, n)| (x, sum / n as f64))
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

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    x: &str,
    measure: &str,
    lines: &[(String, Vec<(f64, f64)>)],
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    super::plots::register_font();
    root.fill(&WHITE).map_err(e)?;
    let pts = lines
        .iter()
        .flat_map(|l| l.1.iter())
        .filter(|p| p.0.is_finite() && p.1.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(a, b) in pts {
        (x0, x1, y0, y1) = (x0.min(a), x1.max(a), y0.min(b), y1.max(b));
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    let pad = ((y1 - y0) * 0.05).max(1e-12);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1.max(x0 + 1e-12), (y0 - pad)..(y1 + pad))
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(x)
        .y_desc(measure)
        .y_label_formatter(&|y| num(*y))
        .draw()
        .map_err(e)?;
    for (i, (name, l)) in lines.iter().enumerate() {
        let c = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(l.iter().copied(), c.stroke_width(2)))
            .map_err(e)?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(e)?;
    root.present().map_err(e)
}

fn write_programs(p: &Programs, out: &mut OutDir) -> Result<(), ReportError> {
    let (c, s, x, plots) = (&p.c, &p.s, p.x.as_deref(), p.plots);
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
        let first_csv = c
            .runs
            .iter()
            .find(|r| c.configs[r.config].kind == k && r.csv.is_some());
        let xcol = match (x, first_csv.and_then(|r| r.csv.as_deref())) {
            (Some(x), _) => x.to_string(),
            (None, Some(p)) => first_column(p).unwrap_or_else(|| "step".into()),
            (None, None) => continue,
        };
        let lines: Vec<(String, Vec<(f64, f64)>)> = curves(c, s, k, &xcol, &s.measure)
            .into_iter()
            .map(|(ci, pts)| (label(&c.configs[ci].params), pts))
            .collect();
        let slug: String = kind
            .name
            .chars()
            .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '-' })
            .collect();
        let title = format!("{}: {} against {xcol}", kind.name, s.measure);
        let plot_err = |file: &str| {
            let file = file.to_string();
            move |reason: String| ReportError::Plot { file, reason }
        };
        let svg = format!("plots/program-{slug}.svg");
        let mut res = Ok(());
        out.write_with(&svg, |p| {
            res = draw(
                SVGBackend::new(p, (900, 560)).into_drawing_area(),
                &title,
                &xcol,
                &s.measure,
                &lines,
            );
            Ok(())
        })?;
        res.map_err(plot_err(&svg))?;
        let png = format!("plots/program-{slug}.png");
        let mut res = Ok(());
        out.write_with(&png, |p| {
            res = draw(
                BitMapBackend::new(p, (900, 560)).into_drawing_area(),
                &title,
                &xcol,
                &s.measure,
                &lines,
            );
            Ok(())
        })?;
        res.map_err(plot_err(&png))?;
        let _ = writeln!(md, "![{title}]({svg})\n");
    }
    out.write("programs.csv", csv.as_bytes())?;
    out.write("programs.md", md.as_bytes())?;
    Ok(())
}
