//! LaTeX: `tables.tex`, two booktabs tables (final cumulative regret and normalized cumulative
//! regret, mean ± 95% CI across seeds), the best per MDP in bold. Needs `\usepackage{booktabs}`.

use std::fmt::Write;

use super::{Cell, Exporter, OutDir, Report, ReportError, cell_notes, mean_ci};
use crate::analysis::Stat;

/// Writes `tables.tex`.
pub struct Latex;

/// Escapes LaTeX's special characters.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\textbackslash{}"),
            '&' | '%' | '$' | '#' | '_' | '{' | '}' => {
                out.push('\\');
                out.push(ch);
            }
            '~' => out.push_str("\\textasciitilde{}"),
            '^' => out.push_str("\\textasciicircum{}"),
            _ => out.push(ch),
        }
    }
    out
}

fn cell_text(c: &Cell, stat: &Stat, best: bool) -> String {
    if c.expected == 0 && c.runs == 0 {
        return "--".into();
    }
    let mut s = mean_ci(stat, " $\\pm$ ");
    if best {
        s = format!("\\textbf{{{s}}}");
    }
    let notes = cell_notes(c);
    if !notes.is_empty() {
        let _ = write!(s, " {{\\footnotesize ({})}}", esc(&notes.join(", ")));
    }
    s
}

fn table(
    report: &Report,
    caption: &str,
    label: &str,
    stat: impl Fn(&Cell) -> &Stat,
    best: impl Fn(&Cell) -> bool,
) -> String {
    let mut s = String::from("\\begin{table}[ht]\n\\centering\n");
    let _ = writeln!(
        s,
        "\\caption{{{} ({}): mean $\\pm$ 95\\% CI across seeds; the lowest per MDP in bold.}}",
        caption,
        esc(&report.at)
    );
    let _ = writeln!(s, "\\label{{tab:{label}}}");
    let _ = writeln!(
        s,
        "\\begin{{tabular}}{{l{}}}",
        "r".repeat(report.agents.len())
    );
    s.push_str("\\toprule\nMDP");
    for a in &report.agents {
        let _ = write!(s, " & {}", esc(&a.label));
    }
    s.push_str(" \\\\\n\\midrule\n");
    for (m, mdp) in report.mdps.iter().enumerate() {
        s.push_str(&esc(&mdp.label));
        for c in &report.cells[m] {
            let _ = write!(s, " & {}", cell_text(c, stat(c), best(c)));
        }
        s.push_str(" \\\\\n");
    }
    s.push_str("\\bottomrule\n\\end{tabular}\n\\end{table}\n");
    s
}

/// The content of `tables.tex`.
pub fn tables(report: &Report) -> String {
    let mut s = String::from("% written by ludus report; needs \\usepackage{booktabs}\n");
    s.push_str(&table(
        report,
        "Cumulative regret",
        "cumulative-regret",
        |c| &c.regret,
        |c| c.best_regret,
    ));
    s.push('\n');
    s.push_str(&table(
        report,
        "Normalized cumulative regret",
        "normalized-cumulative-regret",
        |c| &c.normalized,
        |c| c.best_normalized,
    ));
    s
}

impl Exporter for Latex {
    fn name(&self) -> &'static str {
        "latex"
    }

    fn export(&self, report: &Report, out: &mut OutDir) -> Result<(), ReportError> {
        out.write("tables.tex", tables(report).as_bytes())
    }
}
