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
  ludus submit instances/quick mycluster:quick --time 4:00:00 --retries 3   # requeue by itself
  ludus submit instances/quick mycluster:quick --build-portable             # old glibc there

Uploads DIR (incrementally), makes sure ludus runs on the cluster (uploading --ludus-binary,
the --build-portable build, or this executable when the remote's `uname -sm` matches, to
REMOTE_DIR/.ludus/bin/, and refusing when `ludus --version` fails there), groups the pending
instances by the spec's resources (`resources = { cpus, mem, gpus, time }`; options given here
override them for all) into one job array per group (with --mpi, one MPI job of --ntasks
tasks per group), fits the arrays into the cluster's limits
(MaxArraySize, MaxJobCount, MaxSubmit: splitting a group into several arrays, or packing more
instances per task, and saying so), writes each array's ids to REMOTE_DIR/.ludus/jobs/<k>.ids
and its script to REMOTE_DIR/.ludus/jobs/<k>.sbatch (<k>: the submission number n, or n-i for
its array i when there are several; each array task runs its share of the ids with --jobs
$SLURM_CPUS_PER_TASK), submits each with `sbatch --parsable` and records them in
DIR/.ludus/submissions.json, one line per array printed. --tasks, --per-task and
--max-running apply to each array. SLURM's output goes to REMOTE_DIR/.ludus/slurm/. --dry-run
works offline: it counts pending instances in the local folder and prints each array's script. Exit codes: 0 submitted (with --wait: every instance finished);
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
    /// Array tasks per array [default: one per --per-task pending instances, at most the
    /// pending count].
    #[arg(long, value_name = "K", conflicts_with = "per_task")]
    tasks: Option<u32>,
    /// Pending instances per array task.
    #[arg(long, value_name = "N", default_value_t = 1)]
    per_task: u32,
    /// CPUs per array task; each task runs this many instances at once [default: the spec's
    /// `resources.cpus`, else 1].
    #[arg(long, value_name = "C")]
    cpus_per_task: Option<u32>,
    /// Time limit per task, as sbatch takes it (minutes, H:M:S, D-H:M) [default: the spec's
    /// `resources.time`].
    #[arg(long, value_name = "T")]
    time: Option<String>,
    /// Memory per node, as sbatch takes it (4G) [default: the spec's `resources.mem`].
    #[arg(long, value_name = "M")]
    mem: Option<String>,
    /// GPUs per array task (`--gres=gpu:N`) [default: the spec's `resources.gpus`].
    #[arg(long, value_name = "N")]
    gpus: Option<u32>,
    /// SLURM partition.
    #[arg(long, value_name = "P")]
    partition: Option<String>,
    /// At most R array tasks of each array at once.
    #[arg(long, value_name = "R")]
    max_running: Option<u32>,
    /// An extra sbatch option, written as an #SBATCH line (repeatable), e.g. --sbatch-arg=--account=me.
    #[arg(long = "sbatch-arg", value_name = "ARG", allow_hyphen_values = true)]
    sbatch_arg: Vec<String>,
    /// The ludus executable on the cluster (instead of uploading this one).
    #[arg(long, value_name = "PATH", conflicts_with_all = ["ludus_binary", "build_portable"])]
    remote_ludus: Option<String>,
    /// Upload this local ludus executable (a portable build) instead of this one.
    #[arg(long, value_name = "PATH", conflicts_with = "build_portable")]
    ludus_binary: Option<PathBuf>,
    /// Build a portable ludus (x86_64 Linux, glibc 2.17, no shared OpenSSL) with
    /// scripts/build-portable.sh (from the current directory, or the script named by
    /// LUDUS_BUILD_PORTABLE) and upload it.
    #[arg(long)]
    build_portable: bool,
    /// One MPI job of --ntasks tasks instead of an array (needs an MPI build of ludus there).
    #[arg(long, requires = "ntasks")]
    mpi: bool,
    /// MPI tasks (with --mpi).
    #[arg(long, value_name = "N", requires = "mpi")]
    ntasks: Option<u32>,
    /// Also run instances whose status is error.
    #[arg(long)]
    retry_errors: bool,
    /// When the array's tasks end with instances unfinished (time limit, preemption, node
    /// failure), the cluster resubmits exactly those by itself, up to N times (a small
    /// follow-up job runs ludus there; nothing needs to run on this machine).
    #[arg(long, value_name = "N", default_value_t = 0)]
    retries: u32,
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
        // 0: not given here; the spec's resources (or 1) fill it in.
        cpus_per_task: args.cpus_per_task.map_or(0, |c| c.max(1)),
        time: args.time.clone(),
        mem: args.mem.clone(),
        partition: args.partition.clone(),
        max_running: args.max_running,
        sbatch_args: args.sbatch_arg.clone(),
        remote_ludus: args.remote_ludus.clone(),
        mpi_ntasks: if args.mpi { args.ntasks } else { None },
        retry_errors: args.retry_errors,
        retries: args.retries,
        gpus: args.gpus,
        ludus_binary: match &args.ludus_binary {
            Some(b) => Some(
                std::fs::canonicalize(b)
                    .with_context(|| format!("--ludus-binary {}", b.display()))?,
            ),
            None => None,
        },
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
        let arrays = dry_run(&req)?;
        let pending: usize = arrays.iter().map(|a| a.instances).sum();
        let tasks: u32 = arrays.iter().map(|a| a.tasks).sum();
        for (i, a) in arrays.iter().enumerate() {
            if i > 0 {
                println!();
            }
            print!("{}", a.script);
        }
        if arrays.len() > 1 {
            for (i, a) in arrays.iter().enumerate() {
                eprintln!(
                    "submit: dry run: array {} of {}: {} instances in {} array tasks, {}",
                    i + 1,
                    arrays.len(),
                    a.instances,
                    a.tasks,
                    a.resources
                );
            }
        }
        eprintln!(
            "submit: dry run: {pending} pending instances in {} (counted locally), {tasks} array tasks in {} {}; nothing uploaded or submitted",
            args.dir.display(),
            arrays.len(),
            if arrays.len() == 1 { "array" } else { "arrays" }
        );
        return Ok(ExitCode::from(EXIT_OK));
    }
    let mut req = req;
    if args.build_portable {
        req.options.ludus_binary = Some(build_portable()?);
    }
    submit_and_maybe_wait(&req, &args.ssh, &args.wait)
}

/// Runs scripts/build-portable.sh (or `LUDUS_BUILD_PORTABLE`) and returns the binary it built:
/// the last line of its standard output. Its standard error (the build's progress) shows.
fn build_portable() -> anyhow::Result<PathBuf> {
    let script = std::env::var_os("LUDUS_BUILD_PORTABLE")
        .map_or_else(|| PathBuf::from("scripts/build-portable.sh"), PathBuf::from);
    anyhow::ensure!(
        script.is_file(),
        "--build-portable: {} not found: run submit from the ludus source checkout, set LUDUS_BUILD_PORTABLE to the script, or give a built binary with --ludus-binary PATH",
        script.display()
    );
    eprintln!(
        "submit: building a portable ludus with {} (minutes the first time)",
        script.display()
    );
    let out = std::process::Command::new(&script)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("--build-portable: cannot run {}", script.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success(),
        "--build-portable: {} failed ({}); nothing was uploaded or submitted{}",
        script.display(),
        out.status,
        if stdout.trim().is_empty() {
            String::new()
        } else {
            format!(":\n{}", stdout.trim_end())
        }
    );
    let last = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let bin = PathBuf::from(last);
    anyhow::ensure!(
        !last.is_empty() && bin.is_file(),
        "--build-portable: {} succeeded but its last line of output, `{last}`, is not a file (it must print the binary's path last); nothing was uploaded or submitted",
        script.display()
    );
    Ok(bin)
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
        SubmitOutcome::Submitted {
            submission: sub,
            notes,
        } => {
            for note in &notes {
                println!("submit: {note}");
            }
            for line in submitted_lines(&sub) {
                println!("{line}");
            }
            if let Some(first) = sub.attempts.first()
                && let Some(follow) = &first.requeue_job
            {
                let jobs: Vec<String> = sub.arrays().into_iter().map(|a| a.job_id).collect();
                println!(
                    "submit: follow-up job {follow} resubmits what job{} {} leave{} unfinished, up to {} times (ludus watch shows the attempts)",
                    if jobs.len() == 1 { "" } else { "s" },
                    jobs.join(", "),
                    if jobs.len() == 1 { "s" } else { "" },
                    sub.options.retries
                );
            }
            if !wait.wait {
                return Ok(ExitCode::from(EXIT_OK));
            }
            follow_job(&conn, req.local, &sub, &wait.watch.options())
        }
    }
}

/// One line per array: its job, instances, tasks and resources.
fn submitted_lines(s: &Submission) -> Vec<String> {
    let arrays = s.arrays();
    let count = arrays.len();
    arrays
        .iter()
        .map(|a| {
            let which = if count > 1 {
                format!(", array {} of {count}", a.array)
            } else {
                String::new()
            };
            let needs = if a.resources.is_empty() {
                String::new()
            } else {
                format!(", {}", a.resources)
            };
            format!(
                "submitted job {} (submission {}{which}): {} instances in {} {} on {}{needs}; script {}",
                a.job_id,
                s.n,
                a.instances,
                a.tasks,
                if s.options.mpi_ntasks.is_some() {
                    "MPI job"
                } else if a.tasks == 1 {
                    "array task"
                } else {
                    "array tasks"
                },
                s.target,
                a.script_path
            )
        })
        .collect()
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
