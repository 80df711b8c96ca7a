//! The one SSH session a SLURM verb uses, and the folder's submission record it acts on.

use crate::remote::{ConnectOptions, Connection, Endpoint, Progress, Prompt, RemoteSpec};
use crate::store::ExperimentDir;
use crate::store::submissions::Submission;

use super::{SlurmError, cluster};

/// Opens the SSH session to `target` (reporting the stage to `progress`; `prompt` asks for a
/// key's passphrase when needed).
pub fn connect(
    target: &RemoteSpec,
    opts: &ConnectOptions,
    progress: &mut dyn Progress,
    prompt: &mut dyn Prompt,
) -> Result<Connection, SlurmError> {
    let ep = Endpoint::resolve(target, opts)?;
    progress.stage(&format!("connecting to {}", ep.label()));
    Ok(Connection::open(ep, opts, prompt)?)
}

/// The folder's last submission (what `watch`, `resubmit` and `cancel` act on).
pub fn last_submission(local: &ExperimentDir) -> Result<Submission, SlurmError> {
    local
        .read_submissions()?
        .last()
        .cloned()
        .ok_or_else(|| SlurmError::NoSubmission(local.root().display().to_string()))
}

/// Cancels the folder's jobs still queued or running; returns the job ids given to `scancel`
/// (empty when none was in the queue).
pub fn cancel(conn: &Connection, local: &ExperimentDir) -> Result<Vec<String>, SlurmError> {
    let jobs: Vec<String> = local
        .read_submissions()?
        .submissions
        .iter()
        .map(|s| s.job_id.clone())
        .collect();
    let mut queued: Vec<String> = cluster::squeue(conn, &jobs)?
        .into_iter()
        .map(|j| j.job)
        .collect();
    queued.dedup();
    if !queued.is_empty() {
        cluster::scancel(conn, &queued)?;
    }
    Ok(queued)
}
