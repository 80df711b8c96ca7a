//! One submission, start to end: refuse while an earlier job of the folder is queued, upload
//! the folder, find or install ludus, list the pending instances on the cluster, write the id
//! list and the script, `sbatch`, and record the job. `--dry-run` stops before anything changes.

use std::collections::BTreeMap;

use crate::exec::{Selection, pending};
use crate::plan::{InstanceId, InstanceKind};
use crate::remote::{Connection, Progress, RemoteSpec, TransferOptions, upload_over};
use crate::spec::{Resources, Spec};
use crate::store::submissions::{ArrayJob, Attempt, Submission, SubmitOptions, remote};
use crate::store::{ExperimentDir, now_rfc3339};

use super::cluster::{Limits, Queued};
use super::script::{RequeueArray, ScriptInput, render, render_requeue, task_count};
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

/// Pending instances that need the same resources, and the options of their array(s).
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// The submission's options with the spec's resources filled in where the command line
    /// left them open.
    pub options: SubmitOptions,
    /// Those resources, as the spec writes them (`{ cpus = 2, gpus = 1 }`).
    pub resources: String,
    /// The instances, in plan order.
    pub ids: Vec<String>,
}

/// Groups the pending instances `ids` by the resources they need: the folder's copy of its
/// spec (top level, with each `[[experiment]]`'s own keys over it), with the command line's
/// `--cpus-per-task`, `--mem`, `--gpus` and `--time` over both (`cpus_per_task == 0` and `None`
/// mean not given). Instances whose options end up equal share a group; groups come in the
/// order of their first instance.
pub fn group_by_resources(
    local: &ExperimentDir,
    options: &SubmitOptions,
    ids: &[String],
) -> Result<Vec<Group>, SlurmError> {
    let spec = [false, true]
        .into_iter()
        .map(|yaml| local.spec_copy_path(yaml))
        .find(|p| p.is_file())
        .map(|p| Spec::load(&p))
        .transpose()
        .map_err(|e| SlurmError::Local(e.to_string()))?;
    // A spec without per-experiment resources (the common case) needs no instance read.
    let per_experiment = spec
        .as_ref()
        .is_some_and(|sp| sp.experiments.iter().any(|x| !x.resources.is_empty()));
    let top = spec
        .as_ref()
        .map(|sp| sp.resources.clone())
        .unwrap_or_default();
    let mut groups: Vec<Group> = Vec::new();
    let mut by_resources: BTreeMap<Resources, usize> = BTreeMap::new();
    for id in ids {
        let r = match (&spec, per_experiment, InstanceId::parse(id)) {
            (Some(spec), true, Some(parsed)) => match &local.read_instance(parsed)?.kind {
                InstanceKind::Exec(e) => spec
                    .experiments
                    .iter()
                    .find(|x| x.name == e.name)
                    .map_or_else(|| top.clone(), |x| x.resources.over(&top)),
                InstanceKind::Builtin { .. } => top.clone(),
            },
            _ => top.clone(),
        };
        let at = match by_resources.get(&r) {
            Some(&at) => at,
            None => {
                let o = fill(options, &r);
                let at = match groups.iter().position(|g| g.options == o) {
                    Some(at) => at,
                    None => {
                        groups.push(Group {
                            resources: describe(&o),
                            options: o,
                            ids: Vec::new(),
                        });
                        groups.len() - 1
                    }
                };
                by_resources.insert(r, at);
                at
            }
        };
        groups[at].ids.push(id.clone());
    }
    Ok(groups)
}

/// `options` with `r` filled in where the command line left them open.
fn fill(options: &SubmitOptions, r: &Resources) -> SubmitOptions {
    let mut o = options.clone();
    if o.cpus_per_task == 0 {
        o.cpus_per_task = r.cpus.unwrap_or(1);
    }
    if o.mem.is_none() {
        o.mem.clone_from(&r.mem);
    }
    if o.gpus.is_none() {
        o.gpus = r.gpus;
    }
    if o.time.is_none() {
        o.time = r.time_minutes.map(|m| m.to_string());
    }
    o.cpus_per_task = o.cpus_per_task.max(1);
    o
}

/// The resources an array asks for, as a spec writes them: `{ cpus = 2, mem = "8G", gpus = 1,
/// time = "120" }` (the time as sbatch takes it; minutes when a bare number).
pub fn describe(o: &SubmitOptions) -> String {
    let mut v = vec![format!("cpus = {}", o.cpus_per_task.max(1))];
    if let Some(m) = &o.mem {
        v.push(format!("mem = \"{m}\""));
    }
    if let Some(g) = o.gpus.filter(|&g| g > 0) {
        v.push(format!("gpus = {g}"));
    }
    if let Some(t) = &o.time {
        v.push(format!("time = \"{t}\""));
    }
    format!("{{ {} }}", v.join(", "))
}

/// One array of a dry run: its resources, its script, its instances and its tasks.
pub struct DryArray {
    /// As [`describe`] writes them.
    pub resources: String,
    /// The script.
    pub script: String,
    /// Instances.
    pub instances: usize,
    /// Array tasks.
    pub tasks: u32,
}

/// The scripts `submit` would write, computed without connecting: the pending instances of
/// the local folder grouped by their resources (one array per group; the cluster's array limits
/// are not known offline), the remote folder as given, and ludus at `--remote-ludus` or
/// `REMOTE_DIR/.ludus/bin/ludus`.
pub fn dry_run(req: &SubmitRequest<'_>) -> Result<Vec<DryArray>, SlurmError> {
    let sel = Selection::resolve(&[req.local.root().to_path_buf()])
        .map_err(|e| SlurmError::Local(e.to_string()))?;
    let items =
        pending(&sel, req.options.retry_errors).map_err(|e| SlurmError::Local(e.to_string()))?;
    let ids: Vec<String> = items.iter().map(|i| i.id.to_string()).collect();
    let groups = group_by_resources(req.local, &req.options, &ids)?;
    let subs = req.local.read_submissions()?;
    let n = subs.next_n();
    let ludus = req
        .options
        .remote_ludus
        .clone()
        .unwrap_or_else(|| remote::ludus_bin(&req.target.path));
    let name = folder_name(req.local);
    let count = groups.len();
    let mut out = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        let key = remote::array_key(n, i as u32 + 1, count);
        let tasks = task_count(&g.options, g.ids.len());
        let script = render(&ScriptInput {
            n,
            key: &key,
            name: &name,
            remote_dir: &req.target.path,
            ludus: &ludus,
            tasks,
            options: &g.options,
        })?;
        out.push(DryArray {
            resources: g.resources.clone(),
            script,
            instances: g.ids.len(),
            tasks,
        });
    }
    if out.is_empty() {
        // Nothing pending: the script of an empty list still shows what submit would write.
        let o = fill(&req.options, &Resources::default());
        let key = remote::array_key(n, 1, 1);
        out.push(DryArray {
            resources: describe(&o),
            script: render(&ScriptInput {
                n,
                key: &key,
                name: &name,
                remote_dir: &req.target.path,
                ludus: &ludus,
                tasks: task_count(&o, 0),
                options: &o,
            })?,
            instances: 0,
            tasks: task_count(&o, 0),
        });
    }
    Ok(out)
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
            .find(|s| s.all_jobs().contains(&j.job))
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

/// Submits the pending instances of `req.local` over `conn`: one array per group of instances
/// that need the same resources (and several for a group too large for one array), and, with
/// `--retries`, one follow-up job after all of them.
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
    let groups = group_by_resources(req.local, &req.options, &ids)?;
    let n = subs.next_n();
    let mut notes = Vec::new();
    let retries = req.options.retries;
    let mpi = req.options.mpi_ntasks.is_some();
    // Per group, the task counts of its arrays.
    let layout: Vec<Vec<u32>> = if mpi {
        groups.iter().map(|_| vec![1]).collect()
    } else {
        progress.stage("reading the cluster's limits (scontrol show config)");
        let limits = cluster::limits(conn)?;
        let queued = if limits.max_submit_jobs.is_some() || limits.max_job_count.is_some() {
            cluster::queued(conn)?
        } else {
            Queued::default()
        };
        let asked: Vec<Asked> = groups
            .iter()
            .map(|g| Asked {
                label: (groups.len() > 1).then(|| g.resources.clone()),
                pending: g.ids.len(),
                tasks: task_count(&g.options, g.ids.len()),
            })
            .collect();
        fit_arrays(&asked, &limits, queued, retries > 0, &mut notes)
            .map_err(|e| SlurmError::Local(format!("{host}: {e}", host = conn.host_label())))?
    };
    // Every array: its group, its tasks, its share of the group's ids.
    let mut planned: Vec<(&Group, u32, &[String])> = Vec::new();
    for (g, tasks) in groups.iter().zip(&layout) {
        for (t, chunk) in tasks.iter().zip(split_ids(&g.ids, tasks)) {
            planned.push((g, *t, chunk));
        }
    }
    let name = folder_name(req.local);
    let count = planned.len();
    let mut arrays: Vec<ArrayJob> = Vec::new();
    for (i, (g, tasks, chunk)) in planned.iter().enumerate() {
        let array = i as u32 + 1;
        let key = remote::array_key(n, array, count);
        let input = ScriptInput {
            n,
            key: &key,
            name: &name,
            remote_dir: dir,
            ludus: &ludus,
            tasks: *tasks,
            options: &g.options,
        };
        let submitted = (|| {
            let script = render(&input)?;
            let mut list = chunk.join("\n");
            list.push('\n');
            let ids_path = remote::job_ids(dir, &key);
            cluster::write_file(conn, &ids_path, list.as_bytes())?;
            let script_path = remote::job_script(dir, &key);
            cluster::write_file(conn, &script_path, script.as_bytes())?;
            progress.stage(&if count > 1 {
                format!("submitting array {array} of {count} with sbatch")
            } else {
                "submitting with sbatch".to_string()
            });
            let job_id = cluster::sbatch(conn, &script_path, &remote::slurm_dir(dir))?;
            Ok::<_, SlurmError>(ArrayJob {
                array,
                job_id,
                tasks: *tasks,
                instances: chunk.len(),
                resources: g.resources.clone(),
                options: g.options.clone(),
                script_path,
                ids_path,
                script,
            })
        })();
        match submitted {
            Ok(a) => arrays.push(a),
            Err(e) => return Err(undo(conn, &arrays, e)),
        }
    }
    let submitted_at = now_rfc3339();
    let mut attempts = Vec::new();
    if retries > 0 {
        // The follow-up job: after every array ends, on the cluster, it resubmits what is left.
        progress.stage("submitting the follow-up job of --retries");
        let requeue_path = remote::requeue_script(dir, n);
        let first = &arrays[0];
        let input = ScriptInput {
            n,
            key: &n.to_string(),
            name: &name,
            remote_dir: dir,
            ludus: &ludus,
            tasks: first.tasks,
            options: &first.options,
        };
        let again: Vec<RequeueArray> = arrays
            .iter()
            .map(|a| RequeueArray {
                array: a.array,
                ids: a.ids_path.clone(),
                script: a.script_path.clone(),
                max_tasks: a.tasks,
            })
            .collect();
        let requeue = render_requeue(&input, retries, &again);
        let deps: Vec<&str> = arrays.iter().map(|a| a.job_id.as_str()).collect();
        let follow = cluster::write_file(conn, &requeue_path, requeue.as_bytes()).and_then(|()| {
            cluster::sbatch_with(
                conn,
                &[format!("--dependency=afterany:{}", deps.join(":"))],
                &requeue_path,
                &["1".to_string()],
                &remote::slurm_dir(dir),
            )
        });
        let follow = match follow {
            Ok(f) => f,
            Err(e) => return Err(undo(conn, &arrays, e)),
        };
        let mut lines = String::new();
        for a in &arrays {
            let at = Attempt {
                attempt: 1,
                array: a.array,
                job_id: a.job_id.clone(),
                tasks: a.tasks,
                instances: a.instances,
                requeue_job: Some(follow.clone()),
                submitted_at: submitted_at.clone(),
            };
            lines += &format!(
                "1 {} {} {} {} {} {}\n",
                at.array, at.job_id, at.tasks, at.instances, follow, at.submitted_at
            );
            attempts.push(at);
        }
        cluster::write_file(conn, &remote::job_attempts(dir, n), lines.as_bytes())?;
    }
    let first = &arrays[0];
    let sub = Submission {
        n,
        job_id: first.job_id.clone(),
        target: req.target_text.to_string(),
        remote_dir: dir.to_string(),
        script_path: first.script_path.clone(),
        ludus,
        script: first.script.clone(),
        tasks: arrays.iter().map(|a| a.tasks).sum(),
        instances: arrays.iter().map(|a| a.instances).sum(),
        submitted_at,
        options: req.options.clone(),
        arrays,
        attempts,
    };
    subs.submissions.push(sub.clone());
    req.local.write_submissions(&subs)?;
    Ok(SubmitOutcome::Submitted {
        submission: Box::new(sub),
        notes,
    })
}

/// Cancels the arrays already submitted when a later one (or the follow-up job) was refused,
/// so a submission is recorded whole or not at all; returns `e`, saying so.
fn undo(conn: &Connection, arrays: &[ArrayJob], e: SlurmError) -> SlurmError {
    if arrays.is_empty() {
        return e;
    }
    let jobs: Vec<String> = arrays.iter().map(|a| a.job_id.clone()).collect();
    let cancelled = match cluster::scancel(conn, &jobs) {
        Ok(()) => format!(
            "the jobs already submitted ({}) were cancelled",
            jobs.join(", ")
        ),
        Err(c) => format!(
            "cancelling the jobs already submitted ({}) failed too: {c}; cancel them with scancel",
            jobs.join(", ")
        ),
    };
    match e {
        SlurmError::Sbatch { host, stderr, hint } => SlurmError::Sbatch {
            host,
            stderr,
            hint: format!("{hint}\n{cancelled}"),
        },
        other => SlurmError::Local(format!(
            "{other}\n{cancelled}; nothing was recorded as submitted"
        )),
    }
}

/// `ids` cut into consecutive shares, one per array, each in proportion to its tasks (so no
/// array gets fewer instances than tasks when there are at least as many instances as tasks).
pub fn split_ids<'a>(ids: &'a [String], tasks: &[u32]) -> Vec<&'a [String]> {
    let total: u64 = tasks.iter().map(|&t| u64::from(t)).sum::<u64>().max(1);
    let n = ids.len() as u64;
    let mut out = Vec::with_capacity(tasks.len());
    let mut cum = 0u64;
    let mut from = 0usize;
    for &t in tasks {
        cum += u64::from(t);
        let to = (n * cum / total) as usize;
        out.push(&ids[from..to]);
        from = to;
    }
    out
}

/// What one group asks for, before the cluster's limits.
#[derive(Clone, Debug)]
pub struct Asked {
    /// The group's resources, when there are several groups (to name it in notes).
    pub label: Option<String>,
    /// Its pending instances.
    pub pending: usize,
    /// The array tasks `--tasks`/`--per-task` ask for.
    pub tasks: u32,
}

/// Packing more instances into each task than asked is accepted up to this factor; beyond it a
/// group too large for one array is split into several arrays instead (when the job limits
/// leave room for the tasks), so no task runs many times longer than asked.
pub const PACK_FACTOR: u64 = 2;

/// The most arrays one submission is split into (each costs an sbatch call, and a line in
/// every `squeue` while it waits); beyond, tasks are packed.
pub const MAX_ARRAYS: usize = 100;

/// Fits the groups' arrays into the cluster's limits; returns, per group, the task counts of
/// its arrays. First the job count: at most `MaxSubmitJobs` (or `MaxJobCount`) jobs queued at
/// once, every array task counting, minus the `queued` jobs of the user already there and one
/// for the follow-up job of `--retries`; when the groups ask for more tasks, each gets fewer in
/// proportion (at least one). Then the array size: at most `MaxArraySize - 1` tasks per array
/// (indices start at 1). A group asking for more is packed into one array of that size when
/// that makes each task hold at most [`PACK_FACTOR`] times the instances asked, else split
/// into several arrays (at most [`MAX_ARRAYS`] in all, packing the rest). Each change is said in
/// `notes`. An error when the job limit leaves fewer jobs than there are groups.
pub fn fit_arrays(
    groups: &[Asked],
    limits: &Limits,
    queued: Queued,
    follow_up: bool,
    notes: &mut Vec<String>,
) -> Result<Vec<Vec<u32>>, String> {
    let of = |g: &Asked| match &g.label {
        Some(l) => format!("the {} pending instances that need {l}", g.pending),
        None => format!("the {} pending instances", g.pending),
    };
    let mut tasks: Vec<u32> = groups.iter().map(|g| g.tasks.max(1)).collect();
    // The jobs this submission may add: (how many, why).
    let mut room: Option<(u32, String)> = None;
    let kept = if follow_up {
        ", one kept for the follow-up job of --retries"
    } else {
        ""
    };
    if let Some(jobs) = limits.max_submit_jobs {
        let n = jobs.saturating_sub(queued.mine + u32::from(follow_up));
        let mine = if queued.mine > 0 {
            format!(", {} of yours are queued", queued.mine)
        } else {
            String::new()
        };
        room = Some((
            n,
            format!("you may have at most {jobs} jobs queued at once (MaxSubmitJobs{mine}{kept})"),
        ));
    }
    if let Some(count) = limits.max_job_count {
        // Fewer than MaxJobCount records must be there once the jobs are added.
        let n = count.saturating_sub(1 + queued.all + u32::from(follow_up));
        if room.as_ref().is_none_or(|(r, _)| n < *r) {
            let there = if queued.all > 0 {
                format!(", {} are there now", queued.all)
            } else {
                String::new()
            };
            room = Some((
                n,
                format!(
                    "the cluster holds fewer than {count} jobs at once (MaxJobCount{there}{kept})"
                ),
            ));
        }
    }
    if let Some((budget, why)) = room {
        if (budget as usize) < groups.len() {
            return Err(format!(
                "{why}, which leaves {budget} for {} arrays of different resources: wait for queued jobs to end (or cancel some) and submit again",
                groups.len()
            ));
        }
        let total: u64 = tasks.iter().map(|&t| u64::from(t)).sum();
        if total > u64::from(budget) {
            let mut fitted: Vec<u32> = tasks
                .iter()
                .map(|&t| (u64::from(t) * u64::from(budget) / total).max(1) as u32)
                .collect();
            while fitted.iter().map(|&t| u64::from(t)).sum::<u64>() > u64::from(budget) {
                let (at, _) = fitted
                    .iter()
                    .enumerate()
                    .max_by_key(|&(_, t)| *t)
                    .expect("at least one group");
                fitted[at] -= 1;
            }
            for (g, (&t, &f)) in groups.iter().zip(tasks.iter().zip(&fitted)) {
                if f < t {
                    notes.push(format!(
                        "{why}, so {} run in {f} array tasks of up to {} each instead of {t} tasks",
                        of(g),
                        (g.pending as u64).div_ceil(u64::from(f)),
                    ));
                }
            }
            tasks = fitted;
        }
    }
    let mut out = Vec::with_capacity(groups.len());
    let mut used = 0usize;
    for (gi, (g, &t)) in groups.iter().zip(&tasks).enumerate() {
        // One array is kept for each group after this one.
        let arrays_left = MAX_ARRAYS
            .saturating_sub(used + groups.len() - gi - 1)
            .max(1);
        let max = limits.max_array_tasks().unwrap_or(u32::MAX);
        if t <= max {
            out.push(vec![t]);
            used += 1;
            continue;
        }
        let size = limits.max_array_size.unwrap_or(0);
        let pending = g.pending as u64;
        let asked_each = pending.div_ceil(u64::from(t));
        let packed_each = pending.div_ceil(u64::from(max));
        let wanted = t.div_ceil(max) as usize;
        let k = wanted.min(arrays_left).max(1);
        if packed_each <= PACK_FACTOR * asked_each || k == 1 {
            notes.push(format!(
                "the cluster's MaxArraySize is {size}, so {} run in {max} array tasks of up to {packed_each} each instead of {t} tasks",
                of(g)
            ));
            out.push(vec![max]);
        } else {
            let all = (u64::from(t)).min(k as u64 * u64::from(max));
            let sizes: Vec<u32> = (0..k as u64)
                .map(|i| (all * (i + 1) / k as u64 - all * i / k as u64) as u32)
                .collect();
            let each = pending.div_ceil(all);
            notes.push(format!(
                "the cluster's MaxArraySize is {size}, so {} run in {k} arrays of up to {max} tasks ({all} tasks of up to {each} instances each{})",
                of(g),
                if (all as u32) < t {
                    format!(", packed: at most {MAX_ARRAYS} arrays per submission")
                } else {
                    String::new()
                }
            ));
            out.push(sizes);
        }
        used += out.last().map_or(1, Vec::len);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(pending: usize, tasks: u32) -> Vec<Asked> {
        vec![Asked {
            label: None,
            pending,
            tasks,
        }]
    }

    #[test]
    fn a_group_too_large_for_one_array_is_split_or_packed() {
        let mut notes = Vec::new();
        let none = Limits::default();
        assert_eq!(
            fit_arrays(&one(63, 63), &none, Queued::default(), false, &mut notes),
            Ok(vec![vec![63]])
        );
        assert!(notes.is_empty());
        // MaxArraySize=4: three tasks per array. Packing 63 into 3 tasks would make each 21
        // times longer than asked: split into 21 arrays of 3 instead.
        let small = Limits {
            max_array_size: Some(4),
            max_submit_jobs: None,
            max_job_count: None,
        };
        assert_eq!(
            fit_arrays(&one(63, 63), &small, Queued::default(), false, &mut notes),
            Ok(vec![vec![3; 21]])
        );
        assert!(
            notes[0].contains("21 arrays of up to 3 tasks (63 tasks of up to 1 instances each)"),
            "{notes:?}"
        );
        // Asked for 4 tasks (16 instances each): 3 tasks of 21 is within PACK_FACTOR: packed.
        notes.clear();
        assert_eq!(
            fit_arrays(&one(63, 4), &small, Queued::default(), false, &mut notes),
            Ok(vec![vec![3]])
        );
        assert!(
            notes[0].contains("3 array tasks of up to 21 each instead of 4 tasks"),
            "{notes:?}"
        );
        // A job limit of 10 (one kept for the follow-up): 9 tasks, in 3 arrays of 3.
        let both = Limits {
            max_array_size: Some(4),
            max_submit_jobs: Some(10),
            max_job_count: None,
        };
        notes.clear();
        assert_eq!(
            fit_arrays(&one(63, 63), &both, Queued::default(), true, &mut notes),
            Ok(vec![vec![3, 3, 3]])
        );
        assert!(
            notes[0].contains("you may have at most 10 jobs queued"),
            "{notes:?}"
        );
        assert!(
            notes[0].contains("9 array tasks of up to 7 each"),
            "{notes:?}"
        );
        assert!(notes[1].contains("3 arrays of up to 3 tasks"), "{notes:?}");
        // Jobs of the user already queued count against the limit: 6 tasks of up to 11 left,
        // and one array of 3 tasks of up to 21 is within PACK_FACTOR of that: packed.
        notes.clear();
        assert_eq!(
            fit_arrays(
                &one(63, 63),
                &both,
                Queued { mine: 4, all: 4 },
                false,
                &mut notes
            ),
            Ok(vec![vec![3]])
        );
        assert!(notes[0].contains("4 of yours are queued"), "{notes:?}");
        assert!(
            notes[0].contains("6 array tasks of up to 11 each"),
            "{notes:?}"
        );
        assert!(
            notes[1].contains("3 array tasks of up to 21 each"),
            "{notes:?}"
        );
        // Far more arrays than MAX_ARRAYS would need: at most MAX_ARRAYS, packed.
        notes.clear();
        let out = fit_arrays(
            &one(10_000, 10_000),
            &small,
            Queued::default(),
            false,
            &mut notes,
        )
        .expect("fits");
        assert_eq!(out[0].len(), MAX_ARRAYS);
        assert_eq!(out[0].iter().sum::<u32>(), 300);
        assert!(notes[0].contains("packed"), "{notes:?}");
        let none_left = fit_arrays(
            &one(3, 3),
            &both,
            Queued { mine: 10, all: 10 },
            false,
            &mut notes,
        );
        assert!(none_left.is_err_and(|e| e.contains("leaves 0 for 1 arrays")));
        // MaxJobCount counts every user's records, and one must stay free: 10 - 1 - 3 = 6.
        let count = Limits {
            max_array_size: None,
            max_submit_jobs: Some(100),
            max_job_count: Some(10),
        };
        notes.clear();
        assert_eq!(
            fit_arrays(
                &one(63, 63),
                &count,
                Queued { mine: 1, all: 3 },
                false,
                &mut notes
            ),
            Ok(vec![vec![6]])
        );
        assert!(
            notes[0].contains("fewer than 10 jobs at once (MaxJobCount, 3 are there now)"),
            "{notes:?}"
        );
    }

    #[test]
    fn the_job_limit_is_shared_between_groups_in_proportion() {
        let mut notes = Vec::new();
        let groups = vec![
            Asked {
                label: Some("{ cpus = 1 }".into()),
                pending: 30,
                tasks: 30,
            },
            Asked {
                label: Some("{ cpus = 4 }".into()),
                pending: 10,
                tasks: 10,
            },
        ];
        let limits = Limits {
            max_array_size: None,
            max_submit_jobs: Some(21),
            max_job_count: None,
        };
        let out = fit_arrays(&groups, &limits, Queued::default(), true, &mut notes).expect("fits");
        assert_eq!(out, vec![vec![15], vec![5]]);
        assert!(
            notes[0].contains("need { cpus = 1 } run in 15 array tasks"),
            "{notes:?}"
        );
        let tight = Limits {
            max_array_size: None,
            max_submit_jobs: Some(2),
            max_job_count: None,
        };
        let e =
            fit_arrays(&groups, &tight, Queued::default(), true, &mut notes).expect_err("too few");
        assert!(e.contains("leaves 1 for 2 arrays"), "{e}");
    }

    #[test]
    fn ids_are_shared_in_proportion_to_tasks() {
        let ids: Vec<String> = (0..10).map(|i| i.to_string()).collect();
        let parts = split_ids(&ids, &[3, 3, 1]);
        let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
        assert_eq!(lens, [4, 4, 2]);
        assert_eq!(parts.concat(), ids);
        assert_eq!(split_ids(&ids, &[5]), [&ids[..]]);
    }
}
