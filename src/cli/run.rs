//! `ludus run`: plan + run-instances + select-best + report on this machine, in one command.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;

use anyhow::Context as _;

use super::planning::plan_into;
use super::progress::ProgressMode;
use super::ranking::render;
use super::running::{install_signal_handlers, run_selection};
use super::{Context, EXIT_FAILED};
use crate::analysis::{SelectOptions, select_best};
use crate::exec::{ExecOptions, Origin, Selection};
use crate::report::{ReportOptions, write_report};
use crate::store::planned::WriteOptions;

/// Plan a spec, run it on this machine, pick the best configurations and write the report.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  ludus run benchmarks/quick.toml --out out/quick
  ludus run benchmarks/hyperopt.toml --out out/hyperopt --jobs 8
  ludus run benchmarks/continuous_ergodic.toml --agents out/hyperopt/best.toml --out out/ce

Writes OUT/ (a planned experiment folder: instances/, logs/), OUT/best.toml (the winners, for
`ludus plan SPEC --agents OUT/best.toml`) and OUT/report/ (index.html, index.md, tables, plots).
Resumable like its parts: run it again after a kill and it finishes what is missing.
Exit codes: 0 everything finished and every configuration complete; 1 otherwise; 2 error.")]
pub struct RunArgs {
    /// The spec file.
    spec: PathBuf,
    /// The experiment folder [default: instances/<spec name>].
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Replace the spec's agents by those of this agents file (stage two: the winners).
    #[arg(long)]
    agents: Option<PathBuf>,
    /// Worker threads [default: all cores].
    #[arg(long, short)]
    jobs: Option<usize>,
    /// Also re-run instances whose status is error.
    #[arg(long)]
    retry_errors: bool,
    /// Progress display.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    progress: ProgressMode,
}

/// Runs `ludus run`.
pub fn run(args: RunArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    let interrupt = install_signal_handlers();
    let out = plan_into(
        &args.spec,
        args.out,
        args.agents.as_deref(),
        &WriteOptions::default(),
        false,
        ctx,
    )?;

    let mut sel = Selection::resolve(std::slice::from_ref(&out))?;
    sel.dedup();
    let opts = ExecOptions {
        jobs: args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        retry_errors: args.retry_errors,
        kill_after: None,
        origin: Origin::local(),
        child: Default::default(),
    };
    let stats = run_selection(sel, ctx, &opts, interrupt, false, args.progress, 10.0)?;
    if interrupt.load(Ordering::Relaxed) {
        // Re-running helps only when something was left unfinished.
        if stats.interrupted + stats.not_started > 0 {
            eprintln!("interrupted: run the same command again to finish");
        } else {
            eprintln!("interrupted after every instance had finished");
        }
        return Ok(ExitCode::from(EXIT_FAILED));
    }

    let paths = vec![out.clone()];
    let selection = select_best(&paths, &SelectOptions::default())?;
    print!("{}", render(&selection, 5));
    let best = out.join("best.toml");
    if !selection.winners().is_empty() {
        selection
            .write_agents_file(&best)
            .with_context(|| format!("writing {}", best.display()))?;
        println!("wrote the best configurations to {}", best.display());
    }
    let report_dir = out.join("report");
    let summary = write_report(&paths, &ReportOptions::default(), &report_dir)?;
    println!(
        "wrote the report to {} ({} files; start with {})",
        report_dir.display(),
        summary.files.len(),
        report_dir.join("index.html").display()
    );
    Ok(if stats.all_finished() && selection.is_complete() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    })
}
