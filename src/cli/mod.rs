//! The command line: the only place with clap, progress bars, stdout/stderr and exit codes.
//!
//! Each verb lives in its own file with an `XxxArgs` struct and a `run` function; this module
//! only parses and dispatches. Verbs call the library and the shared modules, never another
//! verb: `args` (argument groups several verbs flatten in: SSH, ranking, watching, each turned
//! into library options in one place), `planning`, `running`, `ranking` (what `run` shares
//! with `plan`, `run-instances` and `select-best`), `terminal` and `progress` (displays). Exit codes (also in `--help`): 0 success, 1 some instance or
//! check did not succeed (see the summary), 2 bad input or another error.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the CLI is the one module that writes to the terminal"
)]

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::model::Registry;

mod args;
mod mdp;
mod plan;
mod planning;
mod progress;
mod ranking;
mod report;
mod run;
mod run_instances;
mod running;
mod select_best;
mod status;
mod submit;
mod terminal;
mod transfer;
mod watch;

/// Exit code: everything asked for succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit code: the command ran, but some instances (or checks) did not succeed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad input or an error that stopped the command.
pub const EXIT_ERROR: u8 = 2;

const AFTER_HELP: &str = "\
Exit codes: 0 success; 1 ran, but some instances did not finish (see the summary); 2 error.

Typical session:
  ludus plan benchmarks/quick.toml --out instances/quick
  ludus run-instances instances/quick
  ludus select-best instances/quick --out best.toml
  ludus report instances/quick --out report/quick";

/// Plan, run and analyse reinforcement-learning experiment sweeps.
#[derive(Parser, Debug)]
#[command(name = "ludus", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Expand a spec into instances (one .bin file each) in an experiment folder.
    Plan(plan::PlanArgs),
    /// Print one instance file as JSON.
    Show(plan::ShowArgs),
    /// Run planned instances on local cores or MPI ranks, skipping finished ones.
    RunInstances(run_instances::RunInstancesArgs),
    /// Count instances per status (done, pending, running, timeout, error, interrupted).
    Status(status::StatusArgs),
    /// Make instances with the given statuses pending again (their logs move to attic/).
    Reset(status::ResetArgs),
    /// Plan a spec, run it here, select the best configurations and write the report.
    Run(run::RunArgs),
    /// Rank each agent's configurations by a measure over MDPs and seeds; write the winners.
    SelectBest(select_best::SelectBestArgs),
    /// Write tables (Markdown, CSV, LaTeX) and plots (SVG, PNG) of each agent on each MDP.
    Report(report::ReportArgs),
    /// Show an MDP: its states, transitions, rewards and exact values (optimal, random, worst).
    ///
    /// Example: ludus mdp river_swim --set size=10 --json
    Mdp(mdp::MdpArgs),
    /// Copy a local directory to HOST:REMOTE_DIR over SSH (incremental, resumable).
    Upload(transfer::UploadArgs),
    /// Copy HOST:REMOTE_DIR into a local directory over SSH (incremental, resumable).
    Download(transfer::DownloadArgs),
    /// Upload a folder and submit its pending instances as a SLURM job array.
    Submit(submit::SubmitArgs),
    /// Follow a folder's SLURM job: tasks, instances, logs downloaded as they finish.
    Watch(watch::WatchArgs),
    /// Submit again exactly the instances that are not finished, with the same options.
    Resubmit(submit::ResubmitArgs),
    /// Cancel a folder's queued or running SLURM jobs (scancel).
    Cancel(submit::CancelArgs),
}

/// Context shared by every verb: the registry of agents and MDPs.
pub struct Context {
    /// Agent kinds and MDP families known to this build.
    pub registry: Arc<Registry>,
}

/// Runs the CLI with the built-in registry.
pub fn main() -> ExitCode {
    main_with(Registry::builtin(), std::env::args_os())
}

/// Runs the CLI with a registry of the caller's (a user crate that adds its own agents or MDPs).
pub fn main_with(registry: Registry, args: impl IntoIterator<Item = OsString>) -> ExitCode {
    // `ludus show X | head` must end quietly, as other command-line tools do: restore the
    // default SIGPIPE action (Rust ignores it, which turns a closed pipe into a panic).
    // SAFETY: setting a signal disposition to its default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_ERROR } else { EXIT_OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let ctx = Context {
        registry: Arc::new(registry),
    };
    match dispatch(cli.command, &ctx) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", error_text(&e));
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// An error and its causes on one line, `a: b: c`, leaving out a cause whose text the message
/// already ends with (a library error that shows its cause and also hands it on as `source`).
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.ends_with(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

fn dispatch(command: Command, ctx: &Context) -> anyhow::Result<ExitCode> {
    match command {
        Command::Plan(args) => plan::run(args, ctx),
        Command::Show(args) => plan::run_show(args, ctx),
        Command::RunInstances(args) => run_instances::run(args, ctx),
        Command::Status(args) => status::run(args, ctx),
        Command::Reset(args) => status::run_reset(args, ctx),
        Command::Run(args) => run::run(args, ctx),
        Command::SelectBest(args) => select_best::run(args, ctx),
        Command::Report(args) => report::run(args, ctx),
        Command::Mdp(args) => mdp::run(args, ctx),
        Command::Upload(args) => transfer::run_upload(args, ctx),
        Command::Download(args) => transfer::run_download(args, ctx),
        Command::Submit(args) => submit::run(args, ctx),
        Command::Watch(args) => watch::run(args, ctx),
        Command::Resubmit(args) => submit::run_resubmit(args, ctx),
        Command::Cancel(args) => submit::run_cancel(args, ctx),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// clap's own consistency checks (duplicate ids, conflicting flags) over every verb.
    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
