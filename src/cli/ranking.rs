//! The human-readable ranking of `select-best` (also printed by `run`).

use crate::analysis::Selection;
use crate::report::num;
use crate::value::Value;

fn opt(x: Option<f64>) -> String {
    x.map_or("-".into(), num)
}

/// The human-readable ranking.
pub fn render(s: &Selection, top: usize) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let better = if s.maximize { "higher" } else { "lower" };
    for a in &s.agents {
        let mdps = if a.agent.program {
            String::new()
        } else {
            format!("{} MDP(s) x ", a.mdps)
        };
        let _ = writeln!(
            out,
            "{}: {} configuration(s), {mdps}{} seed(s) = {} runs each; {} at {}, {} is better",
            a.agent.label(),
            a.configs.len(),
            a.seeds,
            a.expected_runs,
            s.measure,
            s.at,
            better
        );
        let mut rows = vec![
            [
                "rank",
                "config",
                "mean",
                "95% CI",
                "std",
                "runs",
                "timeout",
                "error",
                "interr.",
                "missing",
                "parameters",
            ]
            .map(String::from),
        ];
        let shown = if top == 0 { a.configs.len() } else { top };
        for c in a.configs.iter().take(shown) {
            let mark = if a.winner == Some(c.rank - 1) {
                "*"
            } else if c.incomplete {
                "!"
            } else {
                " "
            };
            rows.push([
                format!("{}{mark}", c.rank),
                c.config_id.clone(),
                opt(c.stat.mean),
                opt(c.stat.ci95),
                opt(c.stat.std),
                format!("{}/{}", c.stat.n, a.expected_runs),
                c.timeouts.to_string(),
                c.errors.to_string(),
                c.interrupted.to_string(),
                c.missing.to_string(),
                if c.params.is_empty() {
                    "(defaults)".into()
                } else {
                    Value::Table(c.params.clone()).to_string()
                },
            ]);
        }
        let widths: Vec<usize> = (0..11)
            .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        for r in &rows {
            let mut line = String::from(" ");
            for (i, cell) in r.iter().enumerate() {
                let pad = widths[i] - cell.chars().count();
                if i == 10 {
                    line.push_str(cell);
                } else if (2..10).contains(&i) {
                    let _ = write!(line, "{}{cell}  ", " ".repeat(pad));
                } else {
                    let _ = write!(line, "{cell}{}  ", " ".repeat(pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        if a.configs.len() > shown {
            let _ = writeln!(
                out,
                " ... {} more (--top 0 shows all)",
                a.configs.len() - shown
            );
        }
        match a.winner {
            Some(_) => {}
            None => {
                let _ = writeln!(
                    out,
                    " no winner: every configuration is incomplete (--incomplete include ranks them anyway)"
                );
            }
        }
        out.push('\n');
    }
    let flagged: usize = s
        .agents
        .iter()
        .map(|a| a.configs.iter().filter(|c| c.incomplete).count())
        .sum();
    if flagged > 0 {
        let _ = writeln!(
            out,
            "! {flagged} configuration(s) have fewer valid runs than expected (missing, failed or interrupted runs)"
        );
    }
    if s.stale > 0 {
        let _ = writeln!(
            out,
            "note: {} result(s) of instances no longer in the current plan were left out (--include-stale uses them)",
            s.stale
        );
    }
    if !s.unfinished.is_empty() {
        let _ = writeln!(
            out,
            "note: {} log(s) have no status file (unfinished runs, not used), e.g. {}",
            s.unfinished.len(),
            s.unfinished[0].display()
        );
    }
    if !s.unreadable.is_empty() {
        let _ = writeln!(
            out,
            "note: {} status file(s) could not be read, e.g. {}: {}",
            s.unreadable.len(),
            s.unreadable[0].path.display(),
            s.unreadable[0].reason
        );
    }
    for p in s.run_problems.iter().take(5) {
        let _ = writeln!(out, "note: {p}");
    }
    out
}
