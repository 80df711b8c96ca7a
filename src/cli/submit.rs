//! `ludus submit`, `ludus resubmit` and `ludus cancel`: run a planned folder on a SLURM cluster
//! through one SSH session (see the `slurm` module), and print what happened.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use super::transfer::{CliProgress, TtyPrompt};
use super::watch::{WatchOptions, watch_submission};
use super::{Context, EXIT_OK};
use crate::remote::{ConnectOptions, Connection, Endpoint, Progress, RemoteSpec, TransferOptions};
use crate::slurm::submit::{SubmitOutcome, SubmitRequest, dry_run, submit};
use crate::slurm::{SlurmError, cluster};
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

/// How to reach the cluster (the same flags as upload and download).
#[derive(clap::Args, Debug, Clone)]
pub struct SshArgs {
    /// Use this ssh config file instead of ~/.ssh/config.
    #[arg(short = 'F', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Identity (private key) file to try first (repeatable).
    #[arg(short = 'i', long = "identity", value_name = "FILE")]
    identity: Vec<PathBuf>,
    /// Use this known_hosts file instead of ~/.ssh/known_hosts.
    #[arg(long, value_name = "FILE")]
    known_hosts: Option<PathBuf>,
    /// Add the key of a host not seen before to known_hosts (a changed key is always refused).
    #[arg(long)]
    accept_new_host_key: bool,
    /// Do not ask ssh-agent for keys.
    #[arg(long)]
    no_agent: bool,
}

impl SshArgs {
    fn options(&self) -> ConnectOptions {
        ConnectOptions {
            home: None,
            config_file: self.config.clone(),
            identities: self.identity.clone(),
            known_hosts: self.known_hosts.clone(),
            accept_new_host_key: self.accept_new_host_key,
            no_agent: self.no_agent,
        }
    }

    /// Opens the one SSH session a verb uses.
    pub(super) fn connect(
        &self,
        spec: &RemoteSpec,
        progress: &mut dyn Progress,
    ) -> anyhow::Result<Connection> {
        let opts = self.options();
        let ep = Endpoint::resolve(spec, &opts)?;
        progress.stage(&format!("connecting to {}", ep.label()));
        Ok(Connection::open(ep, &opts, &mut TtyPrompt)?)
    }
}

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

/// `--wait` and the watch options that go with it.
#[derive(clap::Args, Debug, Clone)]
pub struct WaitArgs {
    /// After submitting, watch the job until it leaves the queue (as `ludus watch`).
    #[arg(long)]
    wait: bool,
    /// Seconds between polls (with --wait).
    #[arg(long, default_value_t = 10.0)]
    interval: f64,
    /// Do not download logs while waiting.
    #[arg(long)]
    no_download: bool,
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
    let conn = ssh.connect(req.target, &mut progress)?;
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
            let opts = WatchOptions {
                interval: wait.interval,
                download: !wait.no_download,
            };
            watch_submission(&conn, req.local, &sub, &opts)
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

pub(super) fn last_submission(local: &ExperimentDir) -> anyhow::Result<Submission> {
    local
        .read_submissions()?
        .last()
        .cloned()
        .ok_or_else(|| SlurmError::NoSubmission(local.root().display().to_string()).into())
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
    let conn = args.ssh.connect(&spec, &mut progress)?;
    let jobs: Vec<String> = local
        .read_submissions()?
        .submissions
        .iter()
        .map(|s| s.job_id.clone())
        .collect();
    let mut queued: Vec<String> = cluster::squeue(&conn, &jobs)?
        .into_iter()
        .map(|j| j.job)
        .collect();
    queued.dedup();
    if queued.is_empty() {
        println!(
            "cancel: no job of {} is queued or running",
            args.dir.display()
        );
        return Ok(ExitCode::from(EXIT_OK));
    }
    cluster::scancel(&conn, &queued).context("cancelling")?;
    println!("cancel: scancel {}", queued.join(" "));
    Ok(ExitCode::from(EXIT_OK))
}
