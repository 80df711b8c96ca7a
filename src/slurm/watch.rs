//! Following a submitted job until it leaves the queue (`ludus watch`, `submit --wait`): poll
//! `squeue` (and `sacct` when accounting answers) and the remote `ludus status --json`,
//! download the logs as instances finish, and report each poll through a [`WatchEvent`]. The
//! caller displays; nothing here prints.

use std::time::{Duration, Instant};

use crate::remote::{Connection, NoProgress, RemoteSpec, TransferOptions, download_over};
use crate::store::ExperimentDir;
use crate::store::submissions::Submission;

use super::SlurmError;
use super::cluster::{self, QueueSnapshot, RemoteCounts};

/// The shortest time between two log downloads while the job runs.
const DOWNLOAD_EVERY: Duration = Duration::from_secs(5);

/// How to watch.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    /// Seconds between polls (at least 0.2).
    pub interval: f64,
    /// Download logs (and SLURM's output) as they appear.
    pub download: bool,
}

/// What a watch reports while it runs.
#[derive(Debug)]
pub enum WatchEvent<'a> {
    /// Whether `sacct` answers (failed tasks can be counted); sent once, first.
    Start {
        /// `sacct` answered.
        accounting: bool,
    },
    /// One poll: the job's tasks and the folder's instances on the cluster.
    Poll {
        /// The job's tasks.
        queue: &'a QueueSnapshot,
        /// The instances, from the remote `ludus status --json`.
        counts: &'a RemoteCounts,
    },
}

/// How a watched job ended: the last poll after it left the queue.
#[derive(Clone, Debug)]
pub struct WatchOutcome {
    /// The job's tasks at the end.
    pub queue: QueueSnapshot,
    /// The folder's instances at the end.
    pub counts: RemoteCounts,
    /// `sacct` answered, so `queue.failed` is meaningful.
    pub accounting: bool,
}

impl WatchOutcome {
    /// Instances not finished (neither done nor timeout).
    pub fn unfinished(&self) -> usize {
        self.counts.total - self.counts.finished()
    }
}

fn fetch_logs(
    conn: &Connection,
    local: &ExperimentDir,
    sub: &Submission,
) -> Result<(), SlurmError> {
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

/// Polls `sub`'s job until it has left the queue, reporting each poll to `on_event`.
pub fn watch(
    conn: &Connection,
    local: &ExperimentDir,
    sub: &Submission,
    opts: &WatchOptions,
    mut on_event: impl FnMut(WatchEvent<'_>),
) -> Result<WatchOutcome, SlurmError> {
    let accounting = cluster::sacct(conn, std::slice::from_ref(&sub.job_id))?.is_some();
    on_event(WatchEvent::Start { accounting });
    let interval = Duration::from_secs_f64(opts.interval.max(0.2));
    // Listing both sides costs the cluster's login node a little each time: while the job runs,
    // logs come down when more instances finished and at most every DOWNLOAD_EVERY; once it has
    // left the queue, always.
    let mut fetched: Option<(Instant, usize)> = None;
    loop {
        let queue = cluster::snapshot(conn, &sub.job_id, sub.tasks, accounting)?;
        let counts = cluster::remote_status(conn, &sub.ludus, &sub.remote_dir)?;
        on_event(WatchEvent::Poll {
            queue: &queue,
            counts: &counts,
        });
        let ended = counts.finished() + counts.error + counts.interrupted;
        let due = fetched.is_none_or(|(at, n)| n != ended && at.elapsed() >= DOWNLOAD_EVERY);
        if opts.download && (due || !queue.in_queue) {
            fetch_logs(conn, local, sub)?;
            fetched = Some((Instant::now(), ended));
        }
        if !queue.in_queue {
            return Ok(WatchOutcome {
                queue,
                counts,
                accounting,
            });
        }
        std::thread::sleep(interval);
    }
}
