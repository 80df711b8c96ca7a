//! `ludus select-best`: rank each agent's configurations and write the winners as an agents file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use super::{EXIT_FAILED, EXIT_OK};
use crate::analysis::{At, Incomplete, SelectOptions, Selection, select_best};
use crate::report::num;
use crate::value::Value;

const AFTER_HELP: &str = "\
For every agent kind (an agent on episodic or on continuous MDPs), its configurations are ranked
by the measure averaged over all its runs (MDPs x seeds) at the final step: Colosseum's rule,
lowest average normalized cumulative regret. Runs that timed out count (learning was frozen by
the time limit) and are shown; missing, failed and interrupted runs are counted, and a
configuration with fewer valid runs than its kind's MDPs x seeds is flagged `!`. Ties are broken
by more runs, then by the parameters' text, then by configuration id.

Exit codes: 0 all data complete; 1 ranked, but some runs are missing, failed, unfinished or
unreadable (see the notes); 2 error.

Examples:
  ludus select-best instances/hyperopt --out best.toml
  ludus select-best run1 run2/logs --measure cumulative_regret --at 100000
  ludus select-best instances/hyperopt --incomplete include --json > ranking.json
  ludus select-best instances/lr-sweep --measure accuracy --maximize --at 10

[[experiment]] programs rank the same way: configurations are the experiment's parameters,
averaged over seeds; `--at STEP` reads the program's first column (e.g. its epoch).
  ludus plan benchmarks/continuous_ergodic.toml --agents best.toml --out instances/ce";

/// Arguments of `ludus select-best`.
#[derive(clap::Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct SelectBestArgs {
    /// Experiment folders (their logs/ is read) or logs folders, local or downloaded.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Write the winners as an agents file, for `ludus plan SPEC --agents FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The log column to rank by.
    #[arg(long, default_value = "normalized_cumulative_regret")]
    pub measure: String,
    /// The row to read it at: `final` or a step (the last row at or before it).
    #[arg(long, default_value = "final", value_name = "final|STEP")]
    pub at: At,
    /// Configurations with fewer valid runs than expected: `exclude` (ranked last, never win)
    /// or `include` (ranked by the runs they have, still flagged).
    #[arg(long, value_enum, default_value = "exclude")]
    pub incomplete: Incomplete,
    /// Also use results of instances that the folder's current plan no longer holds (an
    /// earlier plan's); left out by default.
    #[arg(long)]
    pub include_stale: bool,
    /// Higher values of the measure are better (default: only for `*reward*` measures).
    #[arg(long, visible_alias = "maximize")]
    pub higher_is_better: bool,
    /// Print the whole ranking as JSON.
    #[arg(long)]
    pub json: bool,
    /// Configurations shown per agent (0: all).
    #[arg(long, default_value_t = 10)]
    pub top: usize,
}

/// Runs `ludus select-best`.
pub fn run(args: SelectBestArgs, _ctx: &super::Context) -> anyhow::Result<ExitCode> {
    let opts = SelectOptions {
        measure: args.measure.clone(),
        at: args.at,
        higher_is_better: args.higher_is_better.then_some(true),
        incomplete: args.incomplete,
        include_stale: args.include_stale,
    };
    let selection = select_best(&args.paths, &opts)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&selection)?);
    } else {
        print!("{}", render(&selection, args.top));
    }
    if let Some(out) = &args.out {
        if selection.winners().is_empty() {
            anyhow::bail!(
                "no agent has a complete configuration, so {} was not written; \
                 rerun the missing runs, or pass --incomplete include",
                out.display()
            );
        }
        selection
            .write_agents_file(out)
            .with_context(|| format!("writing {}", out.display()))?;
        if !args.json {
            println!(
                "wrote {} winner(s) to {}",
                selection.winners().len(),
                out.display()
            );
        }
    }
    Ok(ExitCode::from(if selection.is_complete() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }))
}

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
