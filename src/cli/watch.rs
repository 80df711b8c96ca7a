//! `ludus watch` (and `submit --wait`): follow a submitted job over one SSH session, polling
//! the queue and the remote `ludus status --json`, downloading logs as they appear, and ending
//! with a summary and the exit code `run-instances` would give.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::submit::{SshArgs, last_submission};
use super::transfer::CliProgress;
use super::{Context, EXIT_FAILED, EXIT_OK};
use crate::remote::{Connection, NoProgress, Progress, RemoteSpec, TransferOptions, download_over};
use crate::slurm::cluster::{self, QueueSnapshot, RemoteCounts};
use crate::store::ExperimentDir;
use crate::store::now_rfc3339;
use crate::store::submissions::Submission;

/// Follow the folder's last job until it leaves the queue.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  ludus watch instances/quick
  ludus watch instances/quick --interval 60 --no-download

Shows array tasks pending / running / finished (and failed, when SLURM accounting is on) and
instances finished, downloads logs/ and SLURM's output (.ludus/slurm/) as they appear, and ends
when the job has left the queue. Exit codes: 0 every instance of the folder finished (done or
timeout); 1 some did not (`ludus resubmit` runs them); 2 error.")]
pub struct WatchArgs {
    /// The folder submitted before.
    dir: PathBuf,
    /// Seconds between polls.
    #[arg(long, default_value_t = 10.0)]
    interval: f64,
    /// Do not download logs.
    #[arg(long)]
    no_download: bool,
    #[command(flatten)]
    ssh: SshArgs,
}

/// The shortest time between two log downloads while the job runs.
const DOWNLOAD_EVERY: Duration = Duration::from_secs(5);

/// How to watch.
pub(super) struct WatchOptions {
    /// Seconds between polls.
    pub interval: f64,
    /// Download logs as they appear.
    pub download: bool,
}

/// Runs `ludus watch`.
pub fn run(args: WatchArgs, _ctx: &Context) -> anyhow::Result<ExitCode> {
    let local = ExperimentDir::new(&args.dir);
    let sub = last_submission(&local)?;
    let spec = RemoteSpec::parse(&sub.target)?;
    let mut progress = CliProgress::new("watch");
    let conn = args.ssh.connect(&spec, &mut progress)?;
    progress.finish();
    let opts = WatchOptions {
        interval: args.interval,
        download: !args.no_download,
    };
    watch_submission(&conn, &local, &sub, &opts)
}

fn fetch_logs(conn: &Connection, local: &ExperimentDir, sub: &Submission) -> anyhow::Result<()> {
    let spec = RemoteSpec::parse(&sub.target)?;
    // Run markers and half-written temporary files are not results.
    let (include, exclude) = ExperimentDir::result_paths();
    let opts = TransferOptions {
        include,
        exclude,
        ..Default::default()
    };
    download_over(conn, &spec, local.root(), &opts, &mut NoProgress)?;
    Ok(())
}

/// Polls until the job has left the queue; prints progress and the summary.
pub(super) fn watch_submission(
    conn: &Connection,
    local: &ExperimentDir,
    sub: &Submission,
    opts: &WatchOptions,
) -> anyhow::Result<ExitCode> {
    let use_sacct = cluster::sacct(conn, std::slice::from_ref(&sub.job_id))?.is_some();
    let mut display = Display::new(sub);
    let interval = Duration::from_secs_f64(opts.interval.max(0.2));
    // Listing both sides costs the cluster's login node a little each time: while the job runs,
    // logs come down when more instances finished and at most every DOWNLOAD_EVERY; once it has
    // left the queue, always.
    let mut fetched: Option<(std::time::Instant, usize)> = None;
    let (snap, counts) = loop {
        let snap = cluster::snapshot(conn, &sub.job_id, sub.tasks, use_sacct)?;
        let counts = cluster::remote_status(conn, &sub.ludus, &sub.remote_dir)?;
        display.show(&snap, &counts);
        let ended = counts.finished() + counts.error + counts.interrupted;
        let due = fetched.is_none_or(|(at, n)| n != ended && at.elapsed() >= DOWNLOAD_EVERY);
        if opts.download && (due || !snap.in_queue) {
            fetch_logs(conn, local, sub)?;
            fetched = Some((std::time::Instant::now(), ended));
        }
        if !snap.in_queue {
            break (snap, counts);
        }
        std::thread::sleep(interval);
    };
    display.finish();
    let unfinished = counts.total - counts.finished();
    eprintln!(
        "ludus: job {} left the queue: {} tasks finished{}; {} instances: {} done, {} timeout, {} error, {} interrupted, {} pending",
        sub.job_id,
        snap.finished,
        if use_sacct {
            format!(" ({} failed)", snap.failed)
        } else {
            String::new()
        },
        counts.total,
        counts.done,
        counts.timeout,
        counts.error,
        counts.interrupted,
        counts.pending,
    );
    if unfinished > 0 {
        eprintln!(
            "ludus: {unfinished} instances are not finished; `ludus resubmit {}` submits exactly those{}",
            local.root().display(),
            if counts.error > 0 {
                " (add --retry-errors to include errors)"
            } else {
                ""
            }
        );
        return Ok(ExitCode::from(EXIT_FAILED));
    }
    Ok(ExitCode::from(EXIT_OK))
}

/// A bar on a terminal, a plain line per change otherwise.
struct Display {
    bar: Option<ProgressBar>,
    job: String,
    tasks: u32,
    last: String,
}

impl Display {
    fn new(sub: &Submission) -> Display {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::new(0);
            b.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{wide_bar}] {pos}/{len} instances finished {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b.enable_steady_tick(Duration::from_millis(500));
            b
        });
        Display {
            bar,
            job: sub.job_id.clone(),
            tasks: sub.tasks,
            last: String::new(),
        }
    }

    fn show(&mut self, s: &QueueSnapshot, c: &RemoteCounts) {
        let failed = if s.failed > 0 {
            format!(" ({} failed)", s.failed)
        } else {
            String::new()
        };
        let tasks = format!(
            "job {}: {} tasks pending, {} running, {} finished{failed}",
            self.job, s.pending, s.running, s.finished
        );
        let done = c.finished() + c.error;
        match &self.bar {
            Some(b) => {
                b.set_length(c.total as u64);
                b.set_position(done as u64);
                b.set_message(tasks);
            }
            None => {
                let line = format!(
                    "{tasks} of {}; instances {done}/{} finished ({} error, {} interrupted)",
                    self.tasks, c.total, c.error, c.interrupted
                );
                if line != self.last {
                    eprintln!("{} watch: {line}", now_rfc3339());
                    self.last = line;
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
