//! Reports: the selected configuration of each agent on each MDP, as tables (Markdown, CSV,
//! LaTeX, and the whole result as JSON) and plots (SVG and PNG), with an `index.md` linking them
//! and an `index.html` holding all of it in one self-contained page.
//!
//! One result type, [`Report`], is built once from the logs ([`build_report`]); each output
//! format is an [`Exporter`] over it, in its own small file, so adding a format is adding a
//! file. `[[experiment]]` programs, which run in no MDP, are the report's `programs` section,
//! written by their own exporter (`programs.md`, `programs.csv`, their plots). `index.md` is
//! written once, last, by [`write_report`]. Every output file is written atomically (temp
//! file, then rename).

mod build;
pub mod csv;
pub mod html;
pub mod json;
pub mod latex;
pub mod markdown;
pub mod plots;
pub mod programs;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use build::build_report;

use crate::analysis::{AnalysisError, SelectOptions, Stat, atomic_write, atomic_write_with};
use crate::value::Params;

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Reading the logs failed.
    #[error(transparent)]
    Analysis(#[from] AnalysisError),
    /// A plot could not be drawn.
    #[error("drawing {file}: {reason}")]
    Plot {
        /// The plot's file.
        file: String,
        /// What went wrong.
        reason: String,
    },
}

/// What to report.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// How each agent's configuration is selected (and where values are read).
    pub select: SelectOptions,
    /// Draw the plots (SVG and PNG).
    pub plots: bool,
    /// Read the curves (needed by the plots; off, only final values are read).
    pub curves: bool,
    /// The title of `index.md`.
    pub title: Option<String>,
    /// The programs' plots: the step column (default: each log's first column).
    pub x: Option<String>,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            select: SelectOptions::default(),
            plots: true,
            curves: true,
            title: None,
            x: None,
        }
    }
}

/// An agent as the report shows it: its selected configuration.
#[derive(Clone, Debug, Serialize)]
pub struct ReportAgent {
    /// `q_learning` or `q_learning (episodic)`.
    pub label: String,
    /// The agent's name.
    pub name: String,
    /// Whether it ran on episodic MDPs.
    pub episodic: bool,
    /// The selected configuration's id.
    pub config_id: String,
    /// Its parameters.
    pub params: Params,
    /// How many configurations it was selected from.
    pub configs_compared: usize,
    /// Its selection measure, averaged over MDPs and seeds.
    pub selection_mean: Option<f64>,
    /// Whether it won (false: every configuration was incomplete; this is the best of them).
    pub winner: bool,
    /// Whether it has all its expected runs.
    pub complete: bool,
}

/// An MDP configuration as the report shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ReportMdp {
    /// Family, setting and parameters.
    pub label: String,
    /// A file-name-safe short name.
    pub slug: String,
    /// Episodic or continuous.
    pub episodic: bool,
}

/// One agent on one MDP, across seeds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Cell {
    /// Runs expected (the seeds of the agent's kind; 0 when the agent did not run on this MDP).
    pub expected: usize,
    /// Valid runs (done or timed out).
    pub runs: usize,
    /// Valid runs whose learning the time limit froze.
    pub timeouts: usize,
    /// Runs that failed, were interrupted, or whose log was unusable.
    pub failed: usize,
    /// Seeds with no status file.
    pub missing: usize,
    /// Final cumulative regret.
    pub regret: Stat,
    /// Final normalized cumulative regret.
    pub normalized: Stat,
    /// Lowest mean cumulative regret on this MDP.
    pub best_regret: bool,
    /// Lowest mean normalized cumulative regret on this MDP.
    pub best_normalized: bool,
}

/// A curve across seeds: mean and 95% confidence band at each logged step.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Band {
    /// Steps.
    pub steps: Vec<u64>,
    /// Mean at each step.
    pub mean: Vec<f64>,
    /// Mean minus the CI half-width (the mean itself with one run).
    pub lo: Vec<f64>,
    /// Mean plus the CI half-width.
    pub hi: Vec<f64>,
    /// Runs at each step.
    pub n: Vec<usize>,
}

/// The report's one result type: plain data every exporter reads.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Title.
    pub title: String,
    /// The paths read.
    pub paths: Vec<PathBuf>,
    /// The selection measure.
    pub measure: String,
    /// Where values are read (`final` or `step N`).
    pub at: String,
    /// Agents (selected configurations), by name.
    pub agents: Vec<ReportAgent>,
    /// MDPs, by setting, family and label.
    pub mdps: Vec<ReportMdp>,
    /// `cells[mdp][agent]`.
    pub cells: Vec<Vec<Cell>>,
    /// `curves[mdp][agent]`: cumulative regret across seeds.
    pub curves: Vec<Vec<Option<Band>>>,
    /// `random[mdp]`: the random policy's cumulative regret.
    pub random: Vec<Option<Band>>,
    /// Per agent: normalized cumulative regret over all its runs.
    pub summary: Vec<Stat>,
    /// Logs with no status file.
    pub unfinished: usize,
    /// Status files that could not be read.
    pub unreadable: usize,
    /// Logs whose curve could not be read.
    pub curve_problems: usize,
    /// Results of instances no longer in their folder's plan, left out.
    pub stale: usize,
    /// Where and when the runs ran, and what was planned.
    pub provenance: Provenance,
    /// The `[[experiment]]` programs, ranked (they run in no MDP, so they are not cells).
    #[serde(skip)]
    pub programs: Option<programs::Programs>,
}

impl Report {
    /// Whether any run is missing, failed, or unreadable.
    pub fn is_complete(&self) -> bool {
        self.programs.as_ref().is_none_or(|p| p.is_complete())
            && self.unfinished == 0
            && self.unreadable == 0
            && self.curve_problems == 0
            && self
                .cells
                .iter()
                .flatten()
                .all(|c| c.failed == 0 && c.missing == 0 && c.runs >= c.expected)
    }
}

/// Where the report's runs come from: the statuses' ludus versions, hosts and end times, and
/// each planned folder's spec.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Provenance {
    /// ludus versions that ran the runs, with their run counts.
    pub versions: std::collections::BTreeMap<String, usize>,
    /// Hosts that ran the runs, with their run counts.
    pub hosts: std::collections::BTreeMap<String, usize>,
    /// The earliest end time (RFC 3339).
    pub first_finished: Option<String>,
    /// The latest end time (RFC 3339).
    pub last_finished: Option<String>,
    /// Per planned folder read: (folder, spec name, spec hash, planned at).
    pub specs: Vec<(PathBuf, String, String, String)>,
}

impl Provenance {
    fn of(c: &crate::analysis::Collection, paths: &[PathBuf]) -> Provenance {
        let mut p = Provenance::default();
        for r in &c.runs {
            if !r.ran.ludus_version.is_empty() {
                *p.versions.entry(r.ran.ludus_version.clone()).or_default() += 1;
            }
            if !r.ran.host.is_empty() {
                *p.hosts.entry(r.ran.host.clone()).or_default() += 1;
            }
            let t = &r.ran.finished_at;
            if !t.is_empty() {
                // RFC 3339 in UTC sorts as text.
                if p.first_finished.as_ref().is_none_or(|f| t < f) {
                    p.first_finished = Some(t.clone());
                }
                if p.last_finished.as_ref().is_none_or(|l| t > l) {
                    p.last_finished = Some(t.clone());
                }
            }
        }
        for path in paths {
            // A logs folder has no manifest; only planned folders name their spec.
            if let Ok(Some(m)) = crate::store::Experiment::new(path).read_manifest() {
                p.specs
                    .push((path.clone(), m.spec_name, m.spec_hash, m.planned_at));
            }
        }
        p
    }
}

/// The output folder: files written atomically, and the list of what was written.
pub struct OutDir {
    root: PathBuf,
    written: Vec<PathBuf>,
}

impl OutDir {
    /// An output folder (created when missing).
    pub fn new(root: &Path) -> Result<OutDir, ReportError> {
        std::fs::create_dir_all(root).map_err(|e| AnalysisError::Io {
            path: root.to_path_buf(),
            source: e,
        })?;
        Ok(OutDir {
            root: root.to_path_buf(),
            written: Vec::new(),
        })
    }

    fn target(&mut self, rel: &str) -> Result<PathBuf, ReportError> {
        let path = self.root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| AnalysisError::Io {
                path: parent.to_path_buf(),
                source: e,
            })?;
        }
        self.written.push(PathBuf::from(rel));
        Ok(path)
    }

    /// Writes `rel` (a path relative to the folder) with `bytes`.
    pub fn write(&mut self, rel: &str, bytes: &[u8]) -> Result<(), ReportError> {
        let path = self.target(rel)?;
        Ok(atomic_write(&path, bytes)?)
    }

    /// Writes `rel` with a writer that needs a path (given a temp path with the same extension).
    pub fn write_with(
        &mut self,
        rel: &str,
        write: impl FnOnce(&Path) -> std::io::Result<()>,
    ) -> Result<(), ReportError> {
        let path = self.target(rel)?;
        Ok(atomic_write_with(&path, write)?)
    }

    /// The files written so far, relative to the folder.
    pub fn written(&self) -> &[PathBuf] {
        &self.written
    }
}

/// One output format.
pub trait Exporter {
    /// A short name (`markdown`, `csv`, ...).
    fn name(&self) -> &'static str;
    /// Writes its files into `out`.
    fn export(&self, report: &Report, out: &mut OutDir) -> Result<(), ReportError>;
}

/// What [`write_report`] did.
#[derive(Clone, Debug, Serialize)]
pub struct ReportSummary {
    /// Every file written, relative to the output folder (`index.md` last).
    pub files: Vec<PathBuf>,
    /// Agents reported.
    pub agents: usize,
    /// MDPs reported.
    pub mdps: usize,
    /// `[[experiment]]` programs reported.
    #[serde(skip)]
    pub experiments: usize,
    /// Whether every expected run was there and valid.
    pub complete: bool,
}

/// The exporters a report runs, in order. A report of programs alone has only their section.
pub fn exporters(opts: &ReportOptions, report: &Report) -> Vec<Box<dyn Exporter>> {
    let mut v: Vec<Box<dyn Exporter>> = Vec::new();
    if report.programs.is_some() {
        v.push(Box::new(programs::ProgramsExporter));
        if report.agents.is_empty() {
            v.push(Box::new(html::Html { plots: opts.plots }));
            return v;
        }
    }
    v.extend::<[Box<dyn Exporter>; 4]>([
        Box::new(markdown::Markdown),
        Box::new(csv::Csv),
        Box::new(latex::Latex),
        Box::new(json::Json),
    ]);
    if opts.plots {
        v.push(Box::new(plots::Plots));
    }
    v.push(Box::new(html::Html { plots: opts.plots }));
    v
}

/// Reads the logs of `paths` and writes the report into `out_dir`: tables, plots, `index.md`.
pub fn write_report(
    paths: &[PathBuf],
    opts: &ReportOptions,
    out_dir: &Path,
) -> Result<ReportSummary, ReportError> {
    let report = build_report(paths, opts)?;
    let mut out = OutDir::new(out_dir)?;
    for e in exporters(opts, &report) {
        e.export(&report, &mut out)?;
    }
    let index = markdown::index(&report, out.written());
    out.write("index.md", index.as_bytes())?;
    Ok(ReportSummary {
        files: out.written().to_vec(),
        agents: report.agents.len(),
        mdps: report.mdps.len(),
        experiments: report.programs.as_ref().map_or(0, |p| p.experiments()),
        complete: report.is_complete(),
    })
}

/// A number in a table: about four significant digits, no exponent for ordinary sizes.
pub fn num(x: f64) -> String {
    let a = x.abs();
    if x == 0.0 {
        "0".into()
    } else if !x.is_finite() {
        format!("{x}")
    } else if a >= 1000.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 0.01 {
        format!("{x:.3}")
    } else {
        format!("{x:.2e}")
    }
}

/// `mean ± ci` (or the mean alone with one run), or `n/a`; the interval gets the mean's
/// number of decimals.
pub fn mean_ci(s: &Stat, pm: &str) -> String {
    match (s.mean, s.ci95) {
        (Some(m), Some(c)) => {
            let a = m.abs().max(c.abs());
            if a == 0.0 {
                return format!("0{pm}0");
            }
            let decimals = if a >= 1000.0 {
                0
            } else if a >= 10.0 {
                1
            } else if a >= 0.01 {
                3
            } else {
                return format!("{m:.2e}{pm}{c:.2e}");
            };
            format!("{m:.decimals$}{pm}{c:.decimals$}")
        }
        (Some(m), None) => num(m),
        _ => "n/a".into(),
    }
}

/// Notes on a cell's runs: `2/3 runs`, `1 timeout`; empty when all is well.
pub fn cell_notes(c: &Cell) -> Vec<String> {
    let mut notes = Vec::new();
    if c.runs < c.expected || c.failed > 0 {
        notes.push(format!("{}/{} runs", c.runs, c.expected));
    }
    if c.failed > 0 {
        notes.push(format!("{} failed", c.failed));
    }
    if c.timeouts > 0 {
        notes.push(format!(
            "{} timeout{}",
            c.timeouts,
            if c.timeouts == 1 { "" } else { "s" }
        ));
    }
    notes
}

/// Escapes text for HTML content and attributes.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_like_a_person_wrote_them() {
        assert_eq!(mean_ci(&Stat::of(&[0.0, 0.0, 0.0]), " ± "), "0 ± 0");
        assert_eq!(mean_ci(&Stat::of(&[2.0, 2.0]), " ± "), "2.000 ± 0.000");
        assert_eq!(mean_ci(&Stat::of(&[5.0]), " ± "), "5.000");
        assert_eq!(num(0.0), "0");
        assert_eq!(num(12345.6), "12346");
        assert_eq!(num(0.0001234), "1.23e-4");
    }
}
