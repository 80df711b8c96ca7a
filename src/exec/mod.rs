//! Executors: run many instances, skipping finished ones, and report through events.
//!
//! The local executor runs a pool of worker threads; the MPI executor (feature `mpi`) hands
//! instances out from rank 0. What is pending comes from the store (`Selection::pending`); a
//! worker claims an instance from the store before it runs it and commits its result through
//! the claim (`one`), so a result is the same file whoever ran it. Both report `ExecEvent`s to
//! a callback instead of printing.

pub mod child;
pub mod contain;
pub mod gpu;
pub mod local;
pub mod metrics;
pub mod mpi;
pub mod one;
pub mod spawn;

use std::time::Duration;

use crate::plan::{Instance, InstanceId, InstanceKind};
use crate::store::{StatusKind, StoreError};

pub use crate::store::{Item, SelectError, Selection};
pub use child::ChildOptions;
pub use local::run_local;
pub use mpi::run_mpi;
pub use one::Origin;

/// How to run.
#[derive(Clone, Debug)]
pub struct ExecOptions {
    /// Worker threads (per rank under MPI).
    pub jobs: usize,
    /// Re-run instances whose status is `error`.
    pub retry_errors: bool,
    /// Hard cap per instance; `None`: three times its time limit plus a minute (no cap without a
    /// limit), so the frozen-policy remainder of a run that hit its limit has time to finish.
    pub kill_after: Option<Duration>,
    /// Host and rank recorded in statuses.
    pub origin: Origin,
    /// How `[[experiment]]` programs run (grace period, workdir override).
    pub child: ChildOptions,
}

impl ExecOptions {
    /// The hard cap for an instance with this time limit.
    pub fn kill_after_for(&self, time_limit: Option<Duration>) -> Option<Duration> {
        self.kill_after
            .or(time_limit.map(|t| t * 3 + Duration::from_secs(60)))
    }

    /// The hard cap of one instance. A program is stopped at its time limit itself and then
    /// has the grace period, so its cap is never before that.
    pub fn cap_for(&self, instance: &Instance) -> Option<Duration> {
        let limit = instance.time_limit();
        let cap = self.kill_after_for(limit);
        match (&instance.kind, limit, cap) {
            (InstanceKind::Exec(_), Some(l), Some(c)) => Some(c.max(l + self.child.grace)),
            _ => cap,
        }
    }
}

/// What happened, as it happens.
#[derive(Clone, Debug)]
pub enum ExecEvent {
    /// The run's size: instances selected, how many are already finished and skipped.
    Start {
        /// Selected instances.
        selected: usize,
        /// Already finished (skipped).
        skipped: usize,
        /// Of those, how many ended in `error` in an earlier run (not re-run without
        /// `--retry-errors`, and not a success either).
        skipped_errors: usize,
    },
    /// An instance ended (whatever its status).
    Finished {
        /// Its id.
        id: InstanceId,
        /// A short label (agent on MDP, seed).
        label: String,
        /// How it ended.
        status: StatusKind,
        /// Its wall time.
        wall: Duration,
        /// The message of a non-done status.
        message: Option<String>,
    },
    /// What one rank's workers run now, sent about once a second (also when nothing runs).
    Progress {
        /// The MPI rank (0 without MPI).
        rank: u32,
        /// Its running instances.
        running: Vec<RunningInstance>,
    },
    /// An instance was left to another process: a live process holds its claim, or finished
    /// it since this run listed what is pending.
    Elsewhere {
        /// Its id.
        id: InstanceId,
    },
    /// An instance could not be run at all (unreadable instance file, disk error).
    Failed {
        /// Its id.
        id: InstanceId,
        /// Why.
        error: String,
    },
}

/// A running instance, as progress displays see it.
#[derive(Clone, Debug, PartialEq)]
pub struct RunningInstance {
    /// Its id.
    pub id: InstanceId,
    /// A short label (agent on MDP, seed).
    pub label: String,
    /// Steps done so far (built-in runs; `None` for programs, whose progress is their time).
    pub steps: Option<u64>,
    /// Its steps in all (built-in runs).
    pub total_steps: Option<u64>,
    /// Time since it started.
    pub elapsed: Duration,
}

/// Counts at the end of a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExecStats {
    /// Instances selected.
    pub selected: usize,
    /// Already finished, skipped.
    pub skipped: usize,
    /// Skipped because an earlier run recorded `error` (and `--retry-errors` was not given).
    pub skipped_errors: usize,
    /// Ran to the end.
    pub done: usize,
    /// Ran to the end with learning frozen by the time limit.
    pub timeout: usize,
    /// Failed (recorded as error).
    pub error: usize,
    /// Stopped by a signal (recorded as interrupted).
    pub interrupted: usize,
    /// Could not be run (unreadable instance file, disk error): nothing recorded.
    pub failed: usize,
    /// Left to another process (claimed by it, or finished by it meanwhile): not this run's
    /// to finish.
    pub elsewhere: usize,
    /// Never started (the run was interrupted first).
    pub not_started: usize,
    /// Wall time of the whole run.
    pub wall: Duration,
    /// The MPI rank these counts are from (0 without MPI; rank 0 counts every rank's results).
    pub rank: u32,
    /// What coordinating the other ranks cost rank 0 (MPI runs; zero otherwise).
    pub coordination: Coordination,
}

/// What rank 0's main thread spent serving the other ranks in an MPI run, measured as it runs
/// in the thread's CPU time (what it costs the core, not how long it waited for one).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Coordination {
    /// Requests for work from other ranks that it answered.
    pub requests: u64,
    /// Time spent receiving messages from other ranks (requests, and results sent alone) and
    /// sending the chunks; handling the results they carry is not included.
    pub request_time: Duration,
    /// Results of other ranks' instances that it received.
    pub results: u64,
    /// Time spent counting and showing them.
    pub result_time: Duration,
    /// Reports of other ranks' running instances that it received (for the progress display;
    /// at most 100 a second, [`crate::exec::mpi::progress_interval`]).
    pub progress: u64,
    /// Time spent receiving and showing them.
    pub progress_time: Duration,
    /// All the main thread's CPU time while instances ran: the above, its own workers'
    /// requests and events, and polling MPI for messages.
    pub busy: Duration,
}

impl ExecStats {
    /// True when every selected instance is finished (done or timeout, now or before).
    pub fn all_finished(&self) -> bool {
        self.error == 0
            && self.skipped_errors == 0
            && self.interrupted == 0
            && self.failed == 0
            && self.not_started == 0
    }

    /// Counts one event.
    pub fn count(&mut self, ev: &ExecEvent) {
        match ev {
            ExecEvent::Start {
                selected,
                skipped,
                skipped_errors,
            } => {
                self.selected = *selected;
                self.skipped = *skipped;
                self.skipped_errors = *skipped_errors;
            }
            ExecEvent::Finished { status, .. } => match status {
                StatusKind::Done => self.done += 1,
                StatusKind::Timeout => self.timeout += 1,
                StatusKind::Error => self.error += 1,
                StatusKind::Interrupted => self.interrupted += 1,
            },
            ExecEvent::Failed { .. } => self.failed += 1,
            ExecEvent::Progress { .. } => {}
            ExecEvent::Elsewhere { .. } => self.elsewhere += 1,
        }
    }

    /// Instances that ran in this run.
    pub fn ran(&self) -> usize {
        self.done + self.timeout + self.error + self.interrupted
    }
}

/// Errors that stop a whole run (not one instance's failure, which is a result).
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The folders could not be read.
    #[error(transparent)]
    Select(#[from] SelectError),
    /// The disk failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// MPI failed or is not built in.
    #[error("{0}")]
    Mpi(String),
}

/// The items of a selection that still need running: no status, or `interrupted`, or
/// `error` when `retry_errors`. Reads each folder's `logs/` listing once (creating `logs/`).
pub fn pending(sel: &Selection, retry_errors: bool) -> Result<Vec<Item>, ExecError> {
    pending_and_errors(sel, retry_errors).map(|(items, _)| items)
}

/// What a run starts from: the pending items and the `Start` event describing the selection.
/// First clears the claims of dead owners (a killed run's), ending what their instances left
/// running on this host.
pub fn start(sel: &Selection, retry_errors: bool) -> Result<(Vec<Item>, ExecEvent), ExecError> {
    for d in &sel.dirs {
        d.clear_dead_claims();
    }
    let (todo, skipped_errors) = pending_and_errors(sel, retry_errors)?;
    let ev = ExecEvent::Start {
        selected: sel.items.len(),
        skipped: sel.items.len() - todo.len(),
        skipped_errors,
    };
    Ok((todo, ev))
}

/// Like [`pending`], also counting the instances skipped because they ended in `error`.
pub fn pending_and_errors(
    sel: &Selection,
    retry_errors: bool,
) -> Result<(Vec<Item>, usize), ExecError> {
    Ok(sel.pending(retry_errors)?)
}
