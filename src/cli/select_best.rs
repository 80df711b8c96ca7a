//! `ludus select-best`: rank each agent's configurations and write the winners as an agents file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use super::args::SelectArgs;
use super::ranking::render;
use super::{EXIT_FAILED, EXIT_OK};
use crate::analysis::select_best;

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
  ludus plan benchmarks/continuous_ergodic.toml --agents best.toml   # stage two: the winners
  ludus select-best run1 run2/logs --measure cumulative_regret --at 100000
  ludus select-best instances/hyperopt --incomplete include --json > ranking.json
  ludus select-best instances/lr-sweep --measure accuracy --maximize --at 10

[[experiment]] programs rank the same way: configurations are the experiment's parameters,
averaged over seeds; `--at STEP` reads the program's first column (e.g. its epoch).";

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
    #[command(flatten)]
    pub select: SelectArgs,
    /// Print the whole ranking as JSON.
    #[arg(long)]
    pub json: bool,
    /// Configurations shown per agent (0: all).
    #[arg(long, default_value_t = 10)]
    pub top: usize,
}

/// Runs `ludus select-best`.
pub fn run(args: SelectBestArgs, _ctx: &super::Context) -> anyhow::Result<ExitCode> {
    let opts = args.select.options();
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
