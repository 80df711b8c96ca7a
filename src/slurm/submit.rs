//! One submission, start to end: refuse while an earlier job of the folder is queued, upload
//! the folder, find or install ludus, list the pending instances on the cluster, write the id
//! list and the script, `sbatch`, and record the job. `--dry-run` stops before anything changes.

use std::collections::BTreeMap;

use crate::exec::{Selection, pending};
use crate::plan::{InstanceId, InstanceKind};
use crate::remote::{Connection, Progress, RemoteSpec, TransferOptions, upload_over};
use crate::spec::{Resources, Spec};
use crate::store::submissions::{Attempt, Submission, SubmitOptions, remote};
use crate::store::{ExperimentDir, now_rfc3339};

use super::cluster::Limits;
use super::script::{ScriptInput, render, render_requeue, task_count};
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
    Submitted {
        /// The record.
        submission: Box<Submission>,
        /// What submit changed to fit the cluster's limits (one sentence each).
        notes: Vec<String>,
    },
    /// Every instance is finished on the cluster: nothing to submit.
    NothingPending {
        /// Instances in the folder.
        total: usize,
    },
}

/// The options with the spec's `resources` filled in where the command line left them open
/// (`cpus_per_task == 0`, `time`, `mem`, `gpus` unset): the resources of the instances `ids`,
/// from the folder's copy of its spec (top level, with each `[[experiment]]`'s own keys over
/// it). Refuses instances that need different resources: one array asks for one set.
pub fn with_resources(
    local: &ExperimentDir,
    options: &SubmitOptions,
    ids: &[InstanceId],
) -> Result<SubmitOptions, SlurmError> {
    let mut o = options.clone();
    let spec = [false, true]
        .into_iter()
        .map(|yaml| local.spec_copy_path(yaml))
        .find(|p| p.is_file())
        .map(|p| Spec::load(&p))
        .transpose()
        .map_err(|e| SlurmError::Local(e.to_string()))?;
    // A spec without resources (the common case) needs no instance read.
    let spec = spec.filter(|sp| {
        !sp.resources.is_empty() || sp.experiments.iter().any(|x| !x.resources.is_empty())
    });
    let mut groups: BTreeMap<Resources, Vec<String>> = BTreeMap::new();
    if let Some(spec) = &spec {
        for &id in ids {
            let inst = local.read_instance(id)?;
            let (r, who) = match &inst.kind {
                InstanceKind::Exec(e) => (
                    spec.experiments
                        .iter()
                        .find(|x| x.name == e.name)
                        .map_or_else(
                            || spec.resources.clone(),
                            |x| x.resources.over(&spec.resources),
                        ),
                    format!("experiment `{}`", e.name),
                ),
                InstanceKind::Builtin { .. } => {
                    (spec.resources.clone(), "built-in runs".to_string())
                }
            };
            let who_list = groups.entry(r).or_default();
            if !who_list.contains(&who) {
                who_list.push(who);
            }
        }
    }
    if groups.len() > 1 {
        let list: Vec<String> = groups
            .iter()
            .map(|(r, who)| format!("{} need {}", who.join(", "), describe(r)))
            .collect();
        return Err(SlurmError::Local(format!(
            "{}: the pending instances need different resources ({}); one submission asks SLURM for one set: plan each group into its own folder and submit each, or give --cpus-per-task, --mem, --gpus and --time for all",
            local.root().display(),
            list.join("; ")
        )));
    }
    if let Some(r) = groups.into_keys().next() {
        if o.cpus_per_task == 0 {
            o.cpus_per_task = r.cpus.unwrap_or(1);
        }
        if o.mem.is_none() {
            o.mem = r.mem;
        }
        if o.gpus.is_none() {
            o.gpus = r.gpus;
        }
        if o.time.is_none() {
            o.time = r.time_minutes.map(|m| m.to_string());
        }
    }
    o.cpus_per_task = o.cpus_per_task.max(1);
    Ok(o)
}

fn describe(r: &Resources) -> String {
    let mut v = Vec::new();
    if let Some(c) = r.cpus {
        v.push(format!("cpus = {c}"));
    }
    if let Some(m) = &r.mem {
        v.push(format!("mem = \"{m}\""));
    }
    if let Some(g) = r.gpus {
        v.push(format!("gpus = {g}"));
    }
    if let Some(t) = r.time_minutes {
        v.push(format!("time = {t} min"));
    }
    if v.is_empty() {
        "no resources".into()
    } else {
        format!("{{ {} }}", v.join(", "))
    }
}

/// The script `submit` would write, computed without connecting: the pending instances of the
/// local folder, the remote folder as given, and ludus at `--remote-ludus` or
/// `REMOTE_DIR/.ludus/bin/ludus`. Returns the script, the pending count and the task count.
pub fn dry_run(req: &SubmitRequest<'_>) -> Result<(String, usize, u32), SlurmError> {
    let sel = Selection::resolve(&[req.local.root().to_path_buf()])
        .map_err(|e| SlurmError::Local(e.to_string()))?;
    let items =
        pending(&sel, req.options.retry_errors).map_err(|e| SlurmError::Local(e.to_string()))?;
    let n_pending = items.len();
    let ids: Vec<InstanceId> = items.iter().map(|i| i.id).collect();
    let options = with_resources(req.local, &req.options, &ids)?;
    let subs = req.local.read_submissions()?;
    let ludus = req
        .options
        .remote_ludus
        .clone()
        .unwrap_or_else(|| remote::ludus_bin(&req.target.path));
    let tasks = task_count(&options, n_pending);
    let script = render(&ScriptInput {
        n: subs.next_n(),
        name: &folder_name(req.local),
        remote_dir: &req.target.path,
        ludus: &ludus,
        tasks,
        options: &options,
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
    let jobs = super::session::folder_jobs(conn, local)?;
    let queued = cluster::squeue(conn, &jobs)?;
    if let Some(j) = queued.first() {
        let n = subs
            .submissions
            .iter()
            .find(|s| s.job_id == j.job)
            .or(subs.last())
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
    let ludus = cluster::ensure_ludus(
        conn,
        dir,
        req.options.remote_ludus.as_deref(),
        req.options.ludus_binary.as_deref(),
    )?;
    progress.stage("listing pending instances on the cluster");
    let ids = cluster::pending_ids(conn, &ludus, dir, req.options.retry_errors)?;
    let mut subs = req.local.read_submissions()?;
    if ids.is_empty() {
        let total = cluster::remote_status(conn, &ludus, dir)?.total;
        return Ok(SubmitOutcome::NothingPending { total });
    }
    let parsed: Vec<InstanceId> = ids.iter().filter_map(|i| InstanceId::parse(i)).collect();
    let options = with_resources(req.local, &req.options, &parsed)?;
    let req = &SubmitRequest {
        options,
        transfer: req.transfer,
        ..*req
    };
    let n = subs.next_n();
    let mut notes = Vec::new();
    let retries = req.options.retries;
    let tasks = if req.options.mpi_ntasks.is_some() {
        1
    } else {
        progress.stage("reading the cluster's limits (scontrol show config)");
        let limits = cluster::limits(conn)?;
        fit_tasks(
            task_count(&req.options, ids.len()),
            ids.len(),
            &limits,
            retries > 0,
            &mut notes,
        )
    };
    let input = ScriptInput {
        n,
        name: &folder_name(req.local),
        remote_dir: dir,
        ludus: &ludus,
        tasks,
        options: &req.options,
    };
    let script = render(&input)?;
    let mut list = ids.join("\n");
    list.push('\n');
    cluster::write_file(conn, &remote::job_ids(dir, n), list.as_bytes())?;
    let script_path = remote::job_script(dir, n);
    cluster::write_file(conn, &script_path, script.as_bytes())?;
    progress.stage("submitting with sbatch");
    let job_id = cluster::sbatch(conn, &script_path, &remote::slurm_dir(dir))?;
    let submitted_at = now_rfc3339();
    let mut attempts = Vec::new();
    if retries > 0 {
        // The follow-up job: after the array ends, on the cluster, it resubmits what is left.
        progress.stage("submitting the follow-up job of --retries");
        let requeue_path = remote::requeue_script(dir, n);
        let requeue = render_requeue(&input, retries, tasks);
        cluster::write_file(conn, &requeue_path, requeue.as_bytes())?;
        let follow = cluster::sbatch_with(
            conn,
            &[format!("--dependency=afterany:{job_id}")],
            &requeue_path,
            &["1".to_string()],
            &remote::slurm_dir(dir),
        )?;
        let first = Attempt {
            attempt: 1,
            job_id: job_id.clone(),
            tasks,
            instances: ids.len(),
            requeue_job: Some(follow),
            submitted_at: submitted_at.clone(),
        };
        let line = format!(
            "1 {} {} {} {} {}\n",
            first.job_id,
            first.tasks,
            first.instances,
            first.requeue_job.as_deref().unwrap_or("-"),
            first.submitted_at
        );
        cluster::write_file(conn, &remote::job_attempts(dir, n), line.as_bytes())?;
        attempts.push(first);
    }
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
        submitted_at,
        options: req.options.clone(),
        attempts,
    };
    subs.submissions.push(sub.clone());
    req.local.write_submissions(&subs)?;
    Ok(SubmitOutcome::Submitted {
        submission: Box::new(sub),
        notes,
    })
}

/// Fits `tasks` array tasks for `pending` instances into the cluster's limits: at most
/// `MaxArraySize - 1` tasks in the array (indices start at 1) and at most `MaxSubmitJobs` jobs
/// (one fewer with a follow-up job). Fewer tasks means more instances per task; each change is
/// said in `notes`.
pub fn fit_tasks(
    tasks: u32,
    pending: usize,
    limits: &Limits,
    follow_up: bool,
    notes: &mut Vec<String>,
) -> u32 {
    let mut t = tasks;
    if let Some(max) = limits.max_array_tasks()
        && t > max
    {
        notes.push(format!(
            "the cluster's MaxArraySize is {}, so the {pending} pending instances run in {max} array tasks of up to {} each instead of {t} tasks",
            limits.max_array_size.unwrap_or(0),
            (pending as u64).div_ceil(u64::from(max)),
        ));
        t = max;
    }
    if let Some(jobs) = limits.max_submit_jobs {
        let max = jobs.saturating_sub(u32::from(follow_up)).max(1);
        if t > max {
            notes.push(format!(
                "at most {jobs} jobs may be queued at once (MaxSubmitJobs/MaxJobCount), so the {pending} pending instances run in {max} array tasks of up to {} each instead of {t} tasks",
                (pending as u64).div_ceil(u64::from(max)),
            ));
            t = max;
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_fit_the_array_and_job_limits() {
        let mut notes = Vec::new();
        let none = Limits::default();
        assert_eq!(fit_tasks(63, 63, &none, false, &mut notes), 63);
        assert!(notes.is_empty());
        let small = Limits {
            max_array_size: Some(4),
            max_submit_jobs: None,
        };
        assert_eq!(fit_tasks(63, 63, &small, false, &mut notes), 3);
        assert!(
            notes[0].contains("3 array tasks of up to 21 each"),
            "{notes:?}"
        );
        let jobs = Limits {
            max_array_size: Some(1001),
            max_submit_jobs: Some(10),
        };
        notes.clear();
        // One job is kept for the follow-up of --retries.
        assert_eq!(fit_tasks(63, 63, &jobs, true, &mut notes), 9);
        assert!(notes[0].contains("at most 10 jobs"), "{notes:?}");
        assert_eq!(fit_tasks(3, 3, &small, true, &mut notes), 3);
    }
}
