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

/// Every job of the folder's submissions: each one's first job, and, for the last one, the
/// attempts and follow-up jobs of `--retries` the cluster recorded (follow-ups first, so
/// cancelling in this order never lets one resubmit).
pub fn folder_jobs(conn: &Connection, local: &ExperimentDir) -> Result<Vec<String>, SlurmError> {
    let subs = local.read_submissions()?;
    let mut jobs: Vec<String> = Vec::new();
    if let Some(last) = subs.last()
        && last.options.retries > 0
    {
        let attempts = cluster::read_attempts(conn, &last.remote_dir, last.n)?;
        jobs.extend(attempts.iter().filter_map(|a| a.requeue_job.clone()));
        jobs.extend(attempts.iter().map(|a| a.job_id.clone()));
    }
    for s in subs.submissions.iter().rev() {
        if !jobs.contains(&s.job_id) {
            jobs.push(s.job_id.clone());
        }
    }
    Ok(jobs)
}

/// Cancels the folder's jobs still queued or running; returns the job ids given to `scancel`
/// (empty when none was in the queue).
pub fn cancel(conn: &Connection, local: &ExperimentDir) -> Result<Vec<String>, SlurmError> {
    let jobs = folder_jobs(conn, local)?;
    let in_queue: Vec<String> = cluster::squeue(conn, &jobs)?
        .into_iter()
        .map(|j| j.job)
        .collect();
    let queued: Vec<String> = jobs.into_iter().filter(|j| in_queue.contains(j)).collect();
    if !queued.is_empty() {
        cluster::scancel(conn, &queued)?;
    }
    Ok(queued)
}
