//! The command line: the only place with clap, progress bars, stdout/stderr and exit codes.
//!
//! Each verb lives in its own file with an `XxxArgs` struct and a `run` function; this module
//! only parses and dispatches. Exit codes (also in `--help`): 0 success, 1 some instance or
//! check did not succeed (see the summary), 2 bad input or another error.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the CLI is the one module that writes to the terminal"
)]

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::model::Registry;

mod transfer;

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
    /// Copy a local directory to HOST:REMOTE_DIR over SSH (incremental, resumable).
    Upload(transfer::UploadArgs),
    /// Copy HOST:REMOTE_DIR into a local directory over SSH (incremental, resumable).
    Download(transfer::DownloadArgs),
}

/// Context shared by every verb: the registry of agents and MDPs.
pub struct Context {
    /// Agent kinds and MDP families known to this build.
    pub registry: Registry,
}

/// Runs the CLI with the built-in registry.
pub fn main() -> ExitCode {
    main_with(Registry::builtin(), std::env::args_os())
}

/// Runs the CLI with a registry of the caller's (a user crate that adds its own agents or MDPs).
pub fn main_with(registry: Registry, args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_ERROR } else { EXIT_OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let ctx = Context { registry };
    match dispatch(cli.command, &ctx) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn dispatch(command: Command, ctx: &Context) -> anyhow::Result<ExitCode> {
    match command {
        Command::Upload(args) => transfer::run_upload(args, ctx),
        Command::Download(args) => transfer::run_download(args, ctx),
    }
}
