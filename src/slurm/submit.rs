//! One submission, start to end: refuse while an earlier job of the folder is queued, upload
//! the folder, find or install ludus, list the pending instances on the cluster, write the id
//! list and the script, `sbatch`, and record the job. `--dry-run` stops before anything changes.

use crate::exec::{Selection, pending};
use crate::remote::{Connection, Progress, RemoteSpec, TransferOptions, upload_over};
use crate::store::submissions::{Submission, SubmitOptions, remote};
use crate::store::{ExperimentDir, now_rfc3339};

use super::script::{ScriptInput, render, task_count};
use super::{SlurmError, cluster};

/// What to submit.
pub struct SubmitRequest<'a> {
    /// The local folder.
    pub local: &'a ExperimentDir,
    /// `HOST:REMOTE_DIR`, parsed.
    pub target: &'a RemoteSpec,
    /// `HOST:REMOTE_DIR` as the user wrote it (recorded for watch and resubmit).
    pub target_text: &'a str,
    /// sbatch and run options.
    pub options: SubmitOptions,
    /// Submit even while an earlier job of the folder is queued or running.
    pub force: bool,
    /// How to upload (filters, checksum); the connection is the caller's.
    pub transfer: &'a TransferOptions,
}

/// How a submission ended.
#[derive(Debug)]
pub enum SubmitOutcome {
    /// Submitted and recorded.
    Submitted(Box<Submission>),
    /// Every instance is finished on the cluster: nothing to submit.
    NothingPending {
        /// Instances in the folder.
        total: usize,
    },
}

/// The script `submit` would write, computed without connecting: the pending instances of the
/// local folder, the remote folder as given, and ludus at `--remote-ludus` or
/// `REMOTE_DIR/.ludus/bin/ludus`. Returns the script, the pending count and the task count.
pub fn dry_run(req: &SubmitRequest<'_>) -> Result<(String, usize, u32), SlurmError> {
    let sel = Selection::resolve(&[req.local.root().to_path_buf()])
        .map_err(|e| SlurmError::Local(e.to_string()))?;
    let n_pending = pending(&sel, req.options.retry_errors)
        .map_err(|e| SlurmError::Local(e.to_string()))?
        .len();
    let subs = req.local.read_submissions()?;
    let ludus = req
        .options
        .remote_ludus
        .clone()
        .unwrap_or_else(|| remote::ludus_bin(&req.target.path));
    let tasks = task_count(&req.options, n_pending);
    let script = render(&ScriptInput {
        n: subs.next_n(),
        name: &folder_name(req.local),
        remote_dir: &req.target.path,
        ludus: &ludus,
        tasks,
        options: &req.options,
    })?;
    Ok((script, n_pending, tasks))
}

fn folder_name(dir: &ExperimentDir) -> String {
    std::fs::canonicalize(dir.root())
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "run".into())
}

/// Refuses when a job of an earlier submission is still in the queue.
pub fn check_not_queued(conn: &Connection, local: &ExperimentDir) -> Result<(), SlurmError> {
    let subs = local.read_submissions()?;
    if subs.submissions.is_empty() {
        return Ok(());
    }
    let jobs: Vec<String> = subs.submissions.iter().map(|s| s.job_id.clone()).collect();
    let queued = cluster::squeue(conn, &jobs)?;
    if let Some(j) = queued.first() {
        let n = subs
            .submissions
            .iter()
            .find(|s| s.job_id == j.job)
            .map_or(0, |s| s.n);
        return Err(SlurmError::StillQueued {
            job_id: j.job.clone(),
            n,
            state: j.state.clone(),
            host: conn.host_label(),
        });
    }
    Ok(())
}

/// Submits the pending instances of `req.local` over `conn`.
pub fn submit(
    conn: &Connection,
    req: &SubmitRequest<'_>,
    progress: &mut dyn Progress,
) -> Result<SubmitOutcome, SlurmError> {
    super::script::check(&req.options, &req.target.path)?;
    if !req.force {
        progress.stage("checking the queue for earlier jobs of this folder");
        check_not_queued(conn, req.local)?;
    }
    progress.stage("uploading the folder");
    let mut transfer = req.transfer.clone();
    transfer.exclude.push(".ludus".into());
    transfer.dry_run = false;
    upload_over(conn, req.local.root(), req.target, &transfer, progress)?;
    let dir = req.target.path.as_str();
    progress.stage("checking ludus on the cluster");
    let ludus = cluster::ensure_ludus(conn, dir, req.options.remote_ludus.as_deref())?;
    progress.stage("listing pending instances on the cluster");
    let ids = cluster::pending_ids(conn, &ludus, dir, req.options.retry_errors)?;
    let mut subs = req.local.read_submissions()?;
    if ids.is_empty() {
        let total = cluster::remote_status(conn, &ludus, dir)?.total;
        return Ok(SubmitOutcome::NothingPending { total });
    }
    let n = subs.next_n();
    let tasks = if req.options.mpi_ntasks.is_some() {
        1
    } else {
        task_count(&req.options, ids.len())
    };
    let script = render(&ScriptInput {
        n,
        name: &folder_name(req.local),
        remote_dir: dir,
        ludus: &ludus,
        tasks,
        options: &req.options,
    })?;
    let mut list = ids.join("\n");
    list.push('\n');
    cluster::write_file(conn, &remote::job_ids(dir, n), list.as_bytes())?;
    let script_path = remote::job_script(dir, n);
    cluster::write_file(conn, &script_path, script.as_bytes())?;
    progress.stage("submitting with sbatch");
    let job_id = cluster::sbatch(conn, &script_path, &remote::slurm_dir(dir))?;
    let sub = Submission {
        n,
        job_id,
        target: req.target_text.to_string(),
        remote_dir: dir.to_string(),
        script_path,
        ludus,
        script,
        tasks,
        instances: ids.len(),
        submitted_at: now_rfc3339(),
        options: req.options.clone(),
    };
    subs.submissions.push(sub.clone());
    req.local.write_submissions(&subs)?;
    Ok(SubmitOutcome::Submitted(Box::new(sub)))
}
