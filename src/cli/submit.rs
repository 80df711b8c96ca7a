//! `ludus submit`, `ludus resubmit` and `ludus cancel`: the arguments, and what happened; the
//! `slurm` module opens the SSH session, submits, watches and cancels.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use super::args::{SshArgs, WaitArgs};
use super::terminal::{CliProgress, TtyPrompt, follow_job};
use super::{Context, EXIT_OK};
use crate::remote::{Progress, RemoteSpec, TransferOptions};
use crate::slurm::submit::{SubmitOutcome, SubmitRequest, dry_run, submit};
use crate::slurm::{cancel, connect, last_submission};
use crate::store::ExperimentDir;
use crate::store::submissions::{Submission, SubmitOptions};

const SUBMIT_HELP: &str = "\
Examples:
  ludus submit instances/quick mycluster:/scratch/me/quick --per-task 50 --time 1:00:00 --wait
  ludus submit instances/quick mycluster:quick --tasks 16 --cpus-per-task 4 --partition short
  ludus submit instances/quick mycluster:quick --dry-run        # print the script only
  ludus submit instances/quick mycluster:quick --mpi --ntasks 64 --remote-ludus ~/bin/ludus-mpi

Uploads DIR (incrementally), makes sure ludus runs on the cluster (uploading this executable
to REMOTE_DIR/.ludus/bin/ when the remote's `uname -sm` matches), writes the pending instance
ids to REMOTE_DIR/.ludus/jobs/<n>.ids and a job array script to REMOTE_DIR/.ludus/jobs/<n>.sbatch
(each array task runs its share of the ids with --jobs $SLURM_CPUS_PER_TASK), submits it with
`sbatch --parsable` and records the job in DIR/.ludus/submissions.json. SLURM's output goes to
REMOTE_DIR/.ludus/slurm/. --dry-run works offline: it counts pending instances in the local
folder and prints the script. Exit codes: 0 submitted (with --wait: every instance finished);
1 (--wait) some did not finish; 2 error (sbatch's message is shown; nothing is recorded).";

/// Arguments of `ludus submit`.
#[derive(clap::Args, Debug)]
#[command(after_help = SUBMIT_HELP)]
pub struct SubmitArgs {
    /// The planned folder.
    dir: PathBuf,
    /// Where it goes on the cluster: HOST:REMOTE_DIR.
    #[arg(value_name = "HOST:REMOTE_DIR")]
    target: String,
    /// Array tasks [default: one per --per-task pending instances, at most the pending count].
    #[arg(long, value_name = "K", conflicts_with = "per_task")]
    tasks: Option<u32>,
    /// Pending instances per array task.
    #[arg(long, value_name = "N", default_value_t = 1)]
    per_task: u32,
    /// CPUs per array task; each task runs this many instances at once.
    #[arg(long, value_name = "C", default_value_t = 1)]
    cpus_per_task: u32,
    /// Time limit per task, as sbatch takes it (minutes, H:M:S, D-H:M).
    #[arg(long, value_name = "T")]
    time: Option<String>,
    /// Memory per node, as sbatch takes it (4G).
    #[arg(long, value_name = "M")]
    mem: Option<String>,
    /// SLURM partition.
    #[arg(long, value_name = "P")]
    partition: Option<String>,
    /// At most R array tasks at once.
    #[arg(long, value_name = "R")]
    max_running: Option<u32>,
    /// An extra sbatch option, written as an #SBATCH line (repeatable), e.g. --sbatch-arg=--account=me.
    #[arg(long = "sbatch-arg", value_name = "ARG", allow_hyphen_values = true)]
    sbatch_arg: Vec<String>,
    /// The ludus executable on the cluster (instead of uploading this one).
    #[arg(long, value_name = "PATH")]
    remote_ludus: Option<String>,
    /// One MPI job of --ntasks tasks instead of an array (needs an MPI build of ludus there).
    #[arg(long, requires = "ntasks")]
    mpi: bool,
    /// MPI tasks (with --mpi).
    #[arg(long, value_name = "N", requires = "mpi")]
    ntasks: Option<u32>,
    /// Also run instances whose status is error.
    #[arg(long)]
    retry_errors: bool,
    /// Submit even while an earlier job of this folder is queued or running.
    #[arg(long)]
    force: bool,
    /// Print the script; upload and submit nothing.
    #[arg(long, short = 'n')]
    dry_run: bool,
    #[command(flatten)]
    wait: WaitArgs,
    #[command(flatten)]
    ssh: SshArgs,
}

/// Runs `ludus submit`.
pub fn run(args: SubmitArgs, _ctx: &Context) -> anyhow::Result<ExitCode> {
    let spec = RemoteSpec::parse(&args.target)?;
    let local = ExperimentDir::new(&args.dir);
    anyhow::ensure!(
        local.is_planned(),
        "{}: not a planned folder (run `ludus plan SPEC --out {}` first)",
        args.dir.display(),
        args.dir.display()
    );
    let options = SubmitOptions {
        tasks: args.tasks,
        per_task: args.tasks.is_none().then_some(args.per_task),
        cpus_per_task: args.cpus_per_task.max(1),
        time: args.time.clone(),
        mem: args.mem.clone(),
        partition: args.partition.clone(),
        max_running: args.max_running,
        sbatch_args: args.sbatch_arg.clone(),
        remote_ludus: args.remote_ludus.clone(),
        mpi_ntasks: if args.mpi { args.ntasks } else { None },
        retry_errors: args.retry_errors,
    };
    let transfer = TransferOptions {
        connect: args.ssh.options(),
        ..Default::default()
    };
    let req = SubmitRequest {
        local: &local,
        target: &spec,
        target_text: &args.target,
        options,
        force: args.force,
        transfer: &transfer,
    };
    if args.dry_run {
        let (script, pending, tasks) = dry_run(&req)?;
        print!("{script}");
        eprintln!(
            "submit: dry run: {pending} pending instances in {} (counted locally), {tasks} array tasks; nothing uploaded or submitted",
            args.dir.display()
        );
        return Ok(ExitCode::from(EXIT_OK));
    }
    submit_and_maybe_wait(&req, &args.ssh, &args.wait)
}

fn submit_and_maybe_wait(
    req: &SubmitRequest<'_>,
    ssh: &SshArgs,
    wait: &WaitArgs,
) -> anyhow::Result<ExitCode> {
    let mut progress = CliProgress::new("submit");
    let conn = match connect(req.target, &ssh.options(), &mut progress, &mut TtyPrompt) {
        Ok(conn) => conn,
        Err(e) => {
            progress.finish();
            return Err(e.into());
        }
    };
    let outcome = submit(&conn, req, &mut progress);
    progress.finish();
    match outcome? {
        SubmitOutcome::NothingPending { total } => {
            println!(
                "submit: nothing to submit: all {total} instances of {} are finished on {}",
                req.local.root().display(),
                req.target_text
            );
            Ok(ExitCode::from(EXIT_OK))
        }
        SubmitOutcome::Submitted(sub) => {
            println!("{}", submitted_line(&sub));
            if !wait.wait {
                return Ok(ExitCode::from(EXIT_OK));
            }
            follow_job(&conn, req.local, &sub, &wait.watch.options())
        }
    }
}

fn submitted_line(s: &Submission) -> String {
    format!(
        "submitted job {} (submission {}): {} instances in {} {} on {}; script {}",
        s.job_id,
        s.n,
        s.instances,
        s.tasks,
        if s.options.mpi_ntasks.is_some() {
            "MPI job"
        } else if s.tasks == 1 {
            "array task"
        } else {
            "array tasks"
        },
        s.target,
        s.script_path
    )
}

/// Submit again exactly the instances that are not finished, with the last submission's options.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  ludus resubmit instances/quick --wait
  ludus resubmit instances/quick --retry-errors --time 4:00:00 --tasks 8

Instances killed by the time limit or a dead node (interrupted) and never-run ones are
submitted again (errors too with --retry-errors); finished ones are not. Exit codes as submit.")]
pub struct ResubmitArgs {
    /// The folder submitted before.
    dir: PathBuf,
    /// Also run instances whose status is error.
    #[arg(long)]
    retry_errors: bool,
    /// A new time limit (otherwise the last submission's).
    #[arg(long, value_name = "T")]
    time: Option<String>,
    /// A new number of array tasks (otherwise the last submission's rule).
    #[arg(long, value_name = "K", conflicts_with = "per_task")]
    tasks: Option<u32>,
    /// A new number of pending instances per array task.
    #[arg(long, value_name = "N")]
    per_task: Option<u32>,
    /// Submit even while an earlier job of this folder is queued or running.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    wait: WaitArgs,
    #[command(flatten)]
    ssh: SshArgs,
}

/// Runs `ludus resubmit`.
pub fn run_resubmit(args: ResubmitArgs, _ctx: &Context) -> anyhow::Result<ExitCode> {
    let local = ExperimentDir::new(&args.dir);
    let last = last_submission(&local)?;
    let spec = RemoteSpec::parse(&last.target)?;
    let mut options = last.options.clone();
    options.retry_errors |= args.retry_errors;
    if args.time.is_some() {
        options.time = args.time.clone();
    }
    if args.tasks.is_some() || args.per_task.is_some() {
        options.tasks = args.tasks;
        options.per_task = args.per_task;
    }
    let transfer = TransferOptions {
        connect: args.ssh.options(),
        ..Default::default()
    };
    let req = SubmitRequest {
        local: &local,
        target: &spec,
        target_text: &last.target,
        options,
        force: args.force,
        transfer: &transfer,
    };
    submit_and_maybe_wait(&req, &args.ssh, &args.wait)
}

/// Cancel the folder's jobs that are still queued or running (`scancel`).
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Example:
  ludus cancel instances/quick

Running instances record `interrupted`; `ludus resubmit` runs them again.")]
pub struct CancelArgs {
    /// The folder submitted before.
    dir: PathBuf,
    #[command(flatten)]
    ssh: SshArgs,
}

/// Runs `ludus cancel`.
pub fn run_cancel(args: CancelArgs, _ctx: &Context) -> anyhow::Result<ExitCode> {
    let local = ExperimentDir::new(&args.dir);
    let last = last_submission(&local)?;
    let spec = RemoteSpec::parse(&last.target)?;
    let mut progress = CliProgress::new("cancel");
    let conn = connect(&spec, &args.ssh.options(), &mut progress, &mut TtyPrompt)?;
    progress.finish();
    let cancelled = cancel(&conn, &local).context("cancelling")?;
    if cancelled.is_empty() {
        println!(
            "cancel: no job of {} is queued or running",
            args.dir.display()
        );
    } else {
        println!("cancel: scancel {}", cancelled.join(" "));
    }
    Ok(ExitCode::from(EXIT_OK))
}
