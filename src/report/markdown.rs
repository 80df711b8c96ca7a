//! Markdown: `tables.md` (agents, then final cumulative regret and normalized cumulative regret
//! of each agent on each MDP, best per MDP in bold) and the report's `index.md`.

use std::fmt::Write;
use std::path::PathBuf;

use super::{Cell, Exporter, OutDir, Report, ReportError, cell_notes, mean_ci, num};
use crate::analysis::Stat;
use crate::value::Value;

/// Writes `tables.md`.
pub struct Markdown;

impl Exporter for Markdown {
    fn name(&self) -> &'static str {
        "markdown"
    }

    fn export(&self, report: &Report, out: &mut OutDir) -> Result<(), ReportError> {
        out.write("tables.md", tables(report).as_bytes())
    }
}

/// Escapes text for a table cell.
fn esc(s: &str) -> String {
    s.replace('|', "\\|")
}

fn code(s: &str) -> String {
    format!("`{}`", esc(s).replace('`', "'"))
}

fn cell_text(c: &Cell, stat: &Stat, best: bool) -> String {
    if c.expected == 0 && c.runs == 0 {
        return "–".into();
    }
    let mut s = mean_ci(stat, " ± ");
    if best {
        s = format!("**{s}**");
    }
    let notes = cell_notes(c);
    if !notes.is_empty() {
        let _ = write!(s, " ({})", notes.join(", "));
    }
    s
}

fn measure_table(
    report: &Report,
    title: &str,
    stat: impl Fn(&Cell) -> &Stat,
    best: impl Fn(&Cell) -> bool,
) -> String {
    let mut s = format!("## {title} ({})\n\n", report.at);
    s.push_str("Mean ± 95% CI across seeds; **bold**: the lowest mean on the MDP.\n\n| MDP |");
    for a in &report.agents {
        let _ = write!(s, " {} |", esc(&a.label));
    }
    s.push_str("\n|---|");
    for _ in &report.agents {
        s.push_str("---:|");
    }
    s.push('\n');
    for (m, mdp) in report.mdps.iter().enumerate() {
        let _ = write!(s, "| {} |", code(&mdp.label));
        for c in &report.cells[m] {
            let _ = write!(s, " {} |", cell_text(c, stat(c), best(c)));
        }
        s.push('\n');
    }
    s
}

/// The content of `tables.md`.
pub fn tables(report: &Report) -> String {
    let mut s = String::from("# Results\n\n");
    let _ = writeln!(
        s,
        "Each agent is shown with its selected configuration: the lowest mean `{}` at {} over MDPs and seeds.\n",
        report.measure, report.at
    );
    s.push_str("## Agents\n\n| agent | configuration | parameters | compared | mean ");
    let _ = write!(s, "`{}` |\n|---|---|---|---:|---:|\n", report.measure);
    for a in &report.agents {
        let mut label = esc(&a.label);
        if !a.winner {
            label.push_str(" (no complete configuration)");
        } else if !a.complete {
            label.push_str(" (incomplete)");
        }
        let params = if a.params.is_empty() {
            "defaults".to_string()
        } else {
            code(&Value::Table(a.params.clone()).to_string())
        };
        let _ = writeln!(
            s,
            "| {label} | `{}` | {params} | {} | {} |",
            a.config_id,
            a.configs_compared,
            a.selection_mean.map_or("n/a".into(), num)
        );
    }
    s.push('\n');
    s.push_str(&measure_table(
        report,
        "Cumulative regret",
        |c| &c.regret,
        |c| c.best_regret,
    ));
    s.push('\n');
    s.push_str(&measure_table(
        report,
        "Normalized cumulative regret",
        |c| &c.normalized,
        |c| c.best_normalized,
    ));
    s
}

/// The content of `index.md`: what was read, what is incomplete, and links to every file.
pub fn index(report: &Report, files: &[PathBuf]) -> String {
    if report.agents.is_empty() && report.programs.is_some() {
        // Programs alone: their files.
        let mut s = format!("# {}\n\n", report.title);
        for f in files {
            let _ = writeln!(s, "- [{0}]({0})", f.display());
        }
        return s;
    }
    let mut s = format!("# {}\n\n", report.title);
    let paths: Vec<String> = report
        .paths
        .iter()
        .map(|p| format!("`{}`", p.display()))
        .collect();
    let _ = writeln!(
        s,
        "Read from {}: {} agents on {} MDPs.\n",
        paths.join(", "),
        report.agents.len(),
        report.mdps.len()
    );
    let timeouts: usize = report.cells.iter().flatten().map(|c| c.timeouts).sum();
    if timeouts > 0 {
        let _ = writeln!(
            s,
            "{timeouts} run(s) hit the time limit: they count, with learning frozen from then on.\n"
        );
    }
    if report.is_complete() {
        s.push_str("Every expected run is there and valid.\n\n");
    } else {
        s.push_str("**Incomplete data:**\n\n");
        let cells = report.cells.iter().flatten();
        let (failed, missing) = cells.fold((0, 0), |(f, m), c| (f + c.failed, m + c.missing));
        for (n, what) in [
            (missing, "runs with no status file"),
            (failed, "failed, interrupted or unreadable runs"),
            (
                report.unfinished,
                "logs with no status file (unfinished runs)",
            ),
            (report.unreadable, "unreadable status files"),
            (report.curve_problems, "logs whose curve could not be read"),
        ] {
            if n > 0 {
                let _ = writeln!(s, "- {n} {what}");
            }
        }
        s.push('\n');
    }
    s.push_str("## Tables\n\n");
    for (file, what) in [
        ("tables.md", "Markdown"),
        ("results.csv", "CSV"),
        ("tables.tex", "LaTeX (booktabs)"),
        ("report.json", "JSON (everything, curves included)"),
    ] {
        if files.iter().any(|f| f.as_os_str() == file) {
            let _ = writeln!(s, "- [{what}]({file})");
        }
    }
    let has = |f: &str| files.iter().any(|p| p.to_str() == Some(f));
    if has("plots/summary.svg") {
        s.push_str("\n## Average normalized cumulative regret\n\n");
        s.push_str("![summary](plots/summary.svg) ([PNG](plots/summary.png))\n");
    }
    let mut first = true;
    for mdp in &report.mdps {
        let svg = format!("plots/regret-{}.svg", mdp.slug);
        if has(&svg) {
            if first {
                s.push_str("\n## Cumulative regret per MDP\n\n");
                first = false;
            }
            let _ = writeln!(
                s,
                "- {}: [SVG]({svg}), [PNG](plots/regret-{}.png)",
                code(&mdp.label),
                mdp.slug
            );
        }
    }
    s
}
