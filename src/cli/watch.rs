//! `ludus watch`: follow the folder's last job (the `slurm` module polls; the display is shared
//! with `submit --wait`).

use std::path::PathBuf;
use std::process::ExitCode;

use super::Context;
use super::args::{FollowArgs, SshArgs};
use super::terminal::{CliProgress, TtyPrompt, follow_job};
use crate::remote::{Progress, RemoteSpec};
use crate::slurm::{connect, last_submission};
use crate::store::ExperimentDir;

/// Follow the folder's last job until it leaves the queue.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  ludus watch instances/quick
  ludus watch instances/quick --interval 60 --no-download

Shows array tasks pending / running / finished (and failed, when SLURM accounting is on) and
instances finished, downloads logs/ and SLURM's output (.ludus/slurm/) as they appear, and ends
when the job has left the queue. With `submit --retries`, follows each attempt the cluster
submits by itself (and records them in .ludus/submissions.json) until none is left. Polls back
off while nothing changes: from --interval (30 s) up to --max-interval (4 x --interval). Exit codes: 0 every instance of the folder finished (done or
timeout); 1 some did not (`ludus resubmit` runs them); 2 error.")]
pub struct WatchArgs {
    /// The folder submitted before.
    dir: PathBuf,
    #[command(flatten)]
    watch: FollowArgs,
    #[command(flatten)]
    ssh: SshArgs,
}

/// Runs `ludus watch`.
pub fn run(args: WatchArgs, _ctx: &Context) -> anyhow::Result<ExitCode> {
    let local = ExperimentDir::new(&args.dir);
    let sub = last_submission(&local)?;
    let spec = RemoteSpec::parse(&sub.target)?;
    let mut progress = CliProgress::new("watch");
    let conn = connect(&spec, &args.ssh.options(), &mut progress, &mut TtyPrompt)?;
    progress.finish();
    follow_job(&conn, &local, &sub, &args.watch.options())
}
