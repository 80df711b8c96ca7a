//! The record of SLURM submissions, `DIR/.ludus/submissions.json`, and the paths ludus uses in
//! the remote copy of a folder (`REMOTE_DIR/.ludus/...`): job scripts, id lists, SLURM output
//! and the uploaded ludus executable.
//!
//! ```text
//! DIR/.ludus/submissions.json              every submission: job id, script, time, options
//! REMOTE_DIR/.ludus/bin/ludus              ludus itself, when submit uploaded it
//! REMOTE_DIR/.ludus/jobs/<k>.sbatch        the script of array k of a submission
//! REMOTE_DIR/.ludus/jobs/<k>.ids           the instance ids it covers, one a line
//! REMOTE_DIR/.ludus/jobs/<n>.requeue.sh    with --retries: the follow-up job's script
//! REMOTE_DIR/.ludus/jobs/<n>.attempts      with --retries: one line per array per attempt
//! REMOTE_DIR/.ludus/slurm/<k>-<job>_<task>.out   SLURM's output of each array task
//! ```
//!
//! A submission is one or more arrays: one per group of pending instances that need the same
//! resources, and a group too large for one array (`MaxArraySize`) split into several. `<k>`
//! names an array: `<n>` when submission `n` has one array, `<n>-<i>` for its array `i` (from 1)
//! when it has several.

use std::fs;
use std::io;

use serde::{Deserialize, Serialize};

use super::{ExperimentDir, StoreError, atomic_write};

/// The options of a submission, kept so `resubmit` can repeat them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SubmitOptions {
    /// Array tasks asked for (`--tasks`).
    pub tasks: Option<u32>,
    /// Pending instances per array task (`--per-task`).
    pub per_task: Option<u32>,
    /// CPUs per array task; run-instances runs this many workers.
    pub cpus_per_task: u32,
    /// `--time` as given to sbatch.
    pub time: Option<String>,
    /// `--mem` as given to sbatch.
    pub mem: Option<String>,
    /// `--partition`.
    pub partition: Option<String>,
    /// At most this many array tasks at once (`--array=...%R`).
    pub max_running: Option<u32>,
    /// Extra `#SBATCH` lines, verbatim.
    pub sbatch_args: Vec<String>,
    /// The ludus executable on the cluster, if the user named one.
    pub remote_ludus: Option<String>,
    /// One MPI job of this many tasks instead of an array.
    pub mpi_ntasks: Option<u32>,
    /// Also run instances whose status is error.
    pub retry_errors: bool,
    /// Attempts the cluster makes by itself after the first (`--retries`), each covering the
    /// instances the previous one left unfinished.
    #[serde(default)]
    pub retries: u32,
    /// The local ludus executable uploaded to the cluster (`--ludus-binary`, or the portable
    /// build `--build-portable` made); none for this executable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ludus_binary: Option<std::path::PathBuf>,
    /// GPUs per array task (`--gres=gpu:N`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<u32>,
}

/// One array of one attempt of a submission: the first array job, or one the cluster submitted
/// by itself (`--retries`) for the instances the previous attempt left unfinished in that array.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// 1 for the first job, then 2, 3, ...
    pub attempt: u32,
    /// The array of the submission it runs (from 1; see [`Submission::arrays`]).
    #[serde(default = "one")]
    pub array: u32,
    /// The array job id.
    pub job_id: String,
    /// Its array tasks.
    pub tasks: u32,
    /// The instances it covers.
    pub instances: usize,
    /// The follow-up job that resubmits what this attempt leaves unfinished (none after the last).
    pub requeue_job: Option<String>,
    /// When it was submitted, RFC 3339.
    pub submitted_at: String,
}

fn one() -> u32 {
    1
}

/// One array (or MPI job) of a submission: pending instances that need the same resources.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArrayJob {
    /// Its number within the submission, from 1.
    pub array: u32,
    /// The SLURM job id.
    pub job_id: String,
    /// Array tasks (1 for an MPI job).
    pub tasks: u32,
    /// Instances it covers.
    pub instances: usize,
    /// The resources it asks for, as the spec writes them (`{ cpus = 2, gpus = 1 }`).
    pub resources: String,
    /// The options of its script: the submission's, with the spec's resources filled in.
    pub options: SubmitOptions,
    /// Its job script's path on the remote side.
    pub script_path: String,
    /// Its id list's path on the remote side.
    pub ids_path: String,
    /// The job script itself.
    pub script: String,
}

impl ArrayJob {
    /// What `status --json` shows of it: number, job id, tasks, instances, resources.
    pub fn summary_json(&self) -> serde_json::Value {
        serde_json::json!({
            "array": self.array,
            "job_id": self.job_id,
            "tasks": self.tasks,
            "instances": self.instances,
            "resources": self.resources,
        })
    }
}

/// One submission: one or more arrays, submitted together.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    /// Its number within the folder, from 1 (names the job scripts).
    pub n: u32,
    /// The SLURM job id (of the first array).
    pub job_id: String,
    /// `HOST:REMOTE_DIR` as given to submit.
    pub target: String,
    /// The absolute remote folder.
    pub remote_dir: String,
    /// The first array's job script path on the remote side.
    pub script_path: String,
    /// The ludus executable the job runs on the cluster.
    pub ludus: String,
    /// The first array's job script.
    pub script: String,
    /// Array tasks of all arrays (1 per MPI job).
    pub tasks: u32,
    /// Instances it covers.
    pub instances: usize,
    /// When it was submitted, RFC 3339.
    pub submitted_at: String,
    /// The options as given on the command line (the spec's resources not filled in), for
    /// `resubmit`, which groups the instances left again.
    pub options: SubmitOptions,
    /// Every array, first to last (empty in records of ludus versions with one array per
    /// submission: [`Submission::arrays`] makes that one from the fields above).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arrays: Vec<ArrayJob>,
    /// Every attempt of every array (with `--retries`; attempt 1 is the arrays above), as the
    /// cluster recorded them in `REMOTE_DIR/.ludus/jobs/<n>.attempts` when `submit` or `watch`
    /// last looked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
}

impl Submission {
    /// Its arrays (one, made from the submission's own fields, for an old record).
    pub fn arrays(&self) -> Vec<ArrayJob> {
        if !self.arrays.is_empty() {
            return self.arrays.clone();
        }
        vec![ArrayJob {
            array: 1,
            job_id: self.job_id.clone(),
            tasks: self.tasks,
            instances: self.instances,
            resources: String::new(),
            options: self.options.clone(),
            script_path: self.script_path.clone(),
            ids_path: remote::job_ids(&self.remote_dir, self.n),
            script: self.script.clone(),
        }]
    }

    /// Every job id of the submission: its arrays, then the attempts' jobs and follow-up jobs.
    pub fn all_jobs(&self) -> Vec<String> {
        let mut jobs: Vec<String> = self.arrays().into_iter().map(|a| a.job_id).collect();
        for a in &self.attempts {
            for j in std::iter::once(&a.job_id).chain(a.requeue_job.as_ref()) {
                if !jobs.contains(j) {
                    jobs.push(j.clone());
                }
            }
        }
        jobs
    }
}

/// Every submission of a folder, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Submissions {
    /// The submissions.
    pub submissions: Vec<Submission>,
}

impl Submissions {
    /// The next submission number.
    pub fn next_n(&self) -> u32 {
        self.submissions.iter().map(|s| s.n).max().unwrap_or(0) + 1
    }

    /// The latest submission.
    pub fn last(&self) -> Option<&Submission> {
        self.submissions.last()
    }
}

impl ExperimentDir {
    /// `.ludus/`: ludus's own bookkeeping inside a folder.
    pub fn ludus_dir(&self) -> std::path::PathBuf {
        self.root().join(".ludus")
    }

    /// `.ludus/submissions.json`.
    pub fn submissions_path(&self) -> std::path::PathBuf {
        self.ludus_dir().join("submissions.json")
    }

    /// Reads the submissions record (empty when there is none).
    pub fn read_submissions(&self) -> Result<Submissions, StoreError> {
        let p = self.submissions_path();
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| StoreError::Json {
                path: p,
                message: e.to_string(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Submissions::default()),
            Err(e) => Err(StoreError::io(&p, e)),
        }
    }

    /// Writes the submissions record atomically.
    pub fn write_submissions(&self, s: &Submissions) -> Result<(), StoreError> {
        let d = self.ludus_dir();
        fs::create_dir_all(&d).map_err(|e| StoreError::io(&d, e))?;
        let mut b = serde_json::to_vec_pretty(s).expect("submissions always serialize");
        b.push(b'\n');
        atomic_write(&self.submissions_path(), &b)
    }
}

/// Paths inside the remote copy of a folder (POSIX strings, built for the remote shell).
pub mod remote {
    fn join(dir: &str, rest: &str) -> String {
        format!("{}/{rest}", dir.trim_end_matches('/'))
    }

    /// `REMOTE_DIR/.ludus/bin/ludus`.
    pub fn ludus_bin(dir: &str) -> String {
        join(dir, ".ludus/bin/ludus")
    }

    /// `REMOTE_DIR/.ludus/jobs`.
    pub fn jobs_dir(dir: &str) -> String {
        join(dir, ".ludus/jobs")
    }

    /// The name of array `array` of `count` of submission `n`: `<n>` for the only one,
    /// `<n>-<array>` when there are several.
    pub fn array_key(n: u32, array: u32, count: usize) -> String {
        if count <= 1 {
            n.to_string()
        } else {
            format!("{n}-{array}")
        }
    }

    /// `REMOTE_DIR/.ludus/jobs/<k>.sbatch` (`k`: a submission number or an [`array_key`]).
    pub fn job_script(dir: &str, k: impl std::fmt::Display) -> String {
        join(dir, &format!(".ludus/jobs/{k}.sbatch"))
    }

    /// `REMOTE_DIR/.ludus/jobs/<k>.ids`.
    pub fn job_ids(dir: &str, k: impl std::fmt::Display) -> String {
        join(dir, &format!(".ludus/jobs/{k}.ids"))
    }

    /// `REMOTE_DIR/.ludus/jobs/<n>.requeue.sh`: the follow-up job of `--retries`.
    pub fn requeue_script(dir: &str, n: u32) -> String {
        join(dir, &format!(".ludus/jobs/{n}.requeue.sh"))
    }

    /// `REMOTE_DIR/.ludus/jobs/<n>.attempts`: `attempt job tasks instances requeue-job time`
    /// lines, one per attempt (`-` for no follow-up job).
    pub fn job_attempts(dir: &str, n: u32) -> String {
        join(dir, &format!(".ludus/jobs/{n}.attempts"))
    }

    /// `REMOTE_DIR/.ludus/slurm`.
    pub fn slurm_dir(dir: &str) -> String {
        join(dir, ".ludus/slurm")
    }

    /// SLURM's `--output` pattern for array `k` (`%A` job, `%a` task).
    pub fn slurm_output(dir: &str, k: impl std::fmt::Display, array: bool) -> String {
        let name = if array {
            format!("{k}-%A_%a.out")
        } else {
            format!("{k}-%j.out")
        };
        join(dir, &format!(".ludus/slurm/{name}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_next_number() {
        let d = tempfile::tempdir().unwrap();
        let dir = ExperimentDir::new(d.path());
        assert_eq!(dir.read_submissions().unwrap().next_n(), 1);
        let mut s = Submissions::default();
        s.submissions.push(Submission {
            n: 1,
            job_id: "42".into(),
            target: "h:/x".into(),
            remote_dir: "/x".into(),
            script_path: remote::job_script("/x/", 1),
            ludus: "ludus".into(),
            script: "#!/bin/bash\n".into(),
            tasks: 3,
            instances: 9,
            submitted_at: "2026-01-01T00:00:00Z".into(),
            options: SubmitOptions::default(),
            arrays: Vec::new(),
            attempts: Vec::new(),
        });
        dir.write_submissions(&s).unwrap();
        let back = dir.read_submissions().unwrap();
        assert_eq!(back, s);
        assert_eq!(back.next_n(), 2);
        assert_eq!(back.submissions[0].script_path, "/x/.ludus/jobs/1.sbatch");
    }
}
