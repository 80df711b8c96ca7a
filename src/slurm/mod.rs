//! Run a planned folder on a SLURM cluster from this machine (`ludus submit`, `watch`,
//! `resubmit`, `cancel`): upload the folder, make sure ludus is there, write an sbatch script
//! covering exactly the pending instances, submit it and record the job in
//! `DIR/.ludus/submissions.json`, then follow it with `squeue` (and `sacct` when accounting is
//! on) and the remote `ludus status --json`. Everything goes through one SSH session
//! ([`crate::remote::Connection`], opened by [`connect`]); the watch loop reports through
//! [`WatchEvent`]s as `exec` does, and nothing here prints.
//!
//! Pending instances, not groups of the whole plan: each submission writes the ids it covers to
//! `REMOTE_DIR/.ludus/jobs/<n>.ids`, and every array task runs `ludus run-instances DIR --ids
//! FILE`, which strides that list by the SLURM array variables. So a resubmission after a
//! partial run spreads only the unfinished instances evenly over its tasks.

pub mod cluster;
pub mod script;
pub mod session;
pub mod submit;
pub mod watch;

use crate::remote::RemoteError;
use crate::store::StoreError;

pub use cluster::{JobState, QueueSnapshot, RemoteCounts};
pub use session::{cancel, connect, last_submission};
pub use submit::{SubmitOutcome, SubmitRequest, submit};
pub use watch::{WatchEvent, WatchOptions, WatchOutcome, watch};

/// Everything that can stop a submission or a watch.
#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    /// SSH or a remote command failed.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// A local file could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An option value that cannot go into a job script (a control character, ...).
    #[error(transparent)]
    Script(#[from] script::ScriptError),
    /// sbatch refused the job; its message verbatim, and what to change.
    #[error(
        "{host}: sbatch refused the job (nothing was recorded as submitted):\n{stderr}\n{hint}"
    )]
    Sbatch {
        /// `host:port`.
        host: String,
        /// sbatch's stderr, verbatim.
        stderr: String,
        /// What to change.
        hint: String,
    },
    /// No usable ludus on the cluster.
    #[error("{0}")]
    NoLudus(String),
    /// An earlier job of the folder is still queued or running.
    #[error(
        "job {job_id} of this folder (submission {n}) is still {state} on {host}; wait for it (ludus watch), cancel it (ludus cancel), or submit anyway with --force"
    )]
    StillQueued {
        /// The job.
        job_id: String,
        /// Its submission number.
        n: u32,
        /// PENDING, RUNNING, ...
        state: String,
        /// The host.
        host: String,
    },
    /// Something the remote side said could not be understood.
    #[error("{host}: {what}: unexpected output: {output}")]
    Unexpected {
        /// The host.
        host: String,
        /// Which command.
        what: String,
        /// What it printed.
        output: String,
    },
    /// The local folder cannot be read as a planned folder.
    #[error("{0}")]
    Local(String),
    /// The folder has no submission to act on.
    #[error(
        "{0}: no submission recorded here (.ludus/submissions.json); submit first with `ludus submit DIR HOST:REMOTE_DIR`"
    )]
    NoSubmission(String),
}
