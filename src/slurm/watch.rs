//! Following a submitted job until it leaves the queue (`ludus watch`, `submit --wait`): poll
//! `squeue` (and `sacct` when accounting answers) and the remote `ludus status --json`,
//! download the logs as instances finish, and report each poll through a [`WatchEvent`]. The
//! caller displays; nothing here prints.

use std::time::{Duration, Instant};

use crate::remote::{Connection, NoProgress, RemoteSpec, TransferOptions, download_over};
use crate::store::ExperimentDir;
use crate::store::submissions::{Attempt, Submission};

use super::SlurmError;
use super::cluster::{self, QueueSnapshot, RemoteCounts};

/// The shortest time between two log downloads while the job runs.
const DOWNLOAD_EVERY: Duration = Duration::from_secs(5);

/// How to watch.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    /// Seconds before the next poll after one that saw a change (at least 0.2).
    pub interval: f64,
    /// While nothing changes, the wait grows by half each poll up to this many seconds (never
    /// below `interval`), so a long sweep asks `slurmctld` less and less often.
    pub max_interval: f64,
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
    /// The cluster submitted another attempt by itself (`submit --retries`), or the watch
    /// starts on a submission that already has attempts (sent once per attempt).
    Attempt(&'a Attempt),
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

/// Writes the attempts the cluster recorded into the local submissions record.
fn record_attempts(
    local: &ExperimentDir,
    sub: &Submission,
    attempts: &[Attempt],
) -> Result<(), SlurmError> {
    let mut subs = local.read_submissions()?;
    if let Some(s) = subs.submissions.iter_mut().find(|s| s.n == sub.n) {
        s.attempts = attempts.to_vec();
        local.write_submissions(&subs)?;
    }
    Ok(())
}

/// Polls `sub`'s job until it has left the queue, reporting each poll to `on_event`. With
/// `--retries`, follows the attempts the cluster submits by itself until none is queued and no
/// follow-up job is waiting, recording them in the local `submissions.json`.
pub fn watch(
    conn: &Connection,
    local: &ExperimentDir,
    sub: &Submission,
    opts: &WatchOptions,
    mut on_event: impl FnMut(WatchEvent<'_>),
) -> Result<WatchOutcome, SlurmError> {
    let accounting = cluster::sacct(conn, std::slice::from_ref(&sub.job_id))?.is_some();
    on_event(WatchEvent::Start { accounting });
    let interval = opts.interval.max(0.2);
    let max_interval = opts.max_interval.max(interval);
    let mut wait = interval;
    let mut last_seen: Option<(QueueSnapshot, RemoteCounts)> = None;
    let retries = sub.options.retries > 0;
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut shown = 0;
    let mut refresh = |attempts: &mut Vec<Attempt>,
                       on_event: &mut dyn FnMut(WatchEvent<'_>)|
     -> Result<bool, SlurmError> {
        if !retries {
            return Ok(false);
        }
        let now = cluster::read_attempts(conn, &sub.remote_dir, sub.n)?;
        if now == *attempts {
            return Ok(false);
        }
        *attempts = now;
        for a in attempts.iter().skip(shown) {
            on_event(WatchEvent::Attempt(a));
        }
        shown = attempts.len();
        if sub.attempts != *attempts {
            record_attempts(local, sub, attempts)?;
        }
        Ok(true)
    };
    refresh(&mut attempts, &mut on_event)?;
    // Listing both sides costs the cluster's login node a little each time: while the job runs,
    // logs come down when more instances finished and at most every DOWNLOAD_EVERY; once it has
    // left the queue, always.
    let mut fetched: Option<(Instant, usize)> = None;
    loop {
        let (job, tasks) = attempts
            .last()
            .map_or((sub.job_id.clone(), sub.tasks), |a| {
                (a.job_id.clone(), a.tasks)
            });
        let queue = cluster::snapshot(conn, &job, tasks, accounting)?;
        let mut in_queue = queue.in_queue;
        if retries && !in_queue {
            // The attempt ended: its follow-up job may be about to submit the next one.
            let follow: Vec<String> = attempts
                .iter()
                .filter_map(|a| a.requeue_job.clone())
                .collect();
            in_queue = !cluster::squeue(conn, &follow)?.is_empty();
        }
        // Read after the queue, so an attempt submitted in between is never missed.
        if refresh(&mut attempts, &mut on_event)? {
            in_queue = true;
        }
        let counts = cluster::remote_status(conn, &sub.ludus, &sub.remote_dir)?;
        on_event(WatchEvent::Poll {
            queue: &queue,
            counts: &counts,
        });
        let ended = counts.finished() + counts.error + counts.interrupted;
        let due = fetched.is_none_or(|(at, n)| n != ended && at.elapsed() >= DOWNLOAD_EVERY);
        if opts.download && (due || !in_queue) {
            fetch_logs(conn, local, sub)?;
            fetched = Some((Instant::now(), ended));
        }
        if !in_queue {
            return Ok(WatchOutcome {
                queue,
                counts,
                accounting,
            });
        }
        let seen = (queue.clone(), counts);
        if last_seen.as_ref() == Some(&seen) {
            wait = (wait * 1.5).min(max_interval);
        } else {
            wait = interval;
        }
        last_seen = Some(seen);
        std::thread::sleep(Duration::from_secs_f64(wait));
    }
}
