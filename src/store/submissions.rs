//! The record of SLURM submissions, `DIR/.ludus/submissions.json`, and the paths ludus uses in
//! the remote copy of a folder (`REMOTE_DIR/.ludus/...`): job scripts, id lists, SLURM output
//! and the uploaded ludus executable.
//!
//! ```text
//! DIR/.ludus/submissions.json              every submission: job id, script, time, options
//! REMOTE_DIR/.ludus/bin/ludus              ludus itself, when submit uploaded it
//! REMOTE_DIR/.ludus/jobs/<n>.sbatch        the script of submission n
//! REMOTE_DIR/.ludus/jobs/<n>.ids           the instance ids it covers, one a line
//! REMOTE_DIR/.ludus/jobs/<n>.requeue.sh    with --retries: the follow-up job's script
//! REMOTE_DIR/.ludus/jobs/<n>.attempts      with --retries: one line per attempt
//! REMOTE_DIR/.ludus/slurm/<n>-<job>_<task>.out   SLURM's output of each array task
//! ```

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

/// One attempt of a submission: the first array job, or one the cluster submitted by itself
/// (`--retries`) for the instances the previous attempt left unfinished.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// 1 for the first job, then 2, 3, ...
    pub attempt: u32,
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

/// One submitted job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    /// Its number within the folder, from 1 (names the job script).
    pub n: u32,
    /// The SLURM job id (of the array).
    pub job_id: String,
    /// `HOST:REMOTE_DIR` as given to submit.
    pub target: String,
    /// The absolute remote folder.
    pub remote_dir: String,
    /// The job script's path on the remote side.
    pub script_path: String,
    /// The ludus executable the job runs on the cluster.
    pub ludus: String,
    /// The job script itself.
    pub script: String,
    /// Array tasks (1 for an MPI job).
    pub tasks: u32,
    /// Instances it covers.
    pub instances: usize,
    /// When it was submitted, RFC 3339.
    pub submitted_at: String,
    /// The options, for `resubmit`.
    pub options: SubmitOptions,
    /// Every attempt (with `--retries`; the first is this job), as the cluster recorded them
    /// in `REMOTE_DIR/.ludus/jobs/<n>.attempts` when `submit` or `watch` last looked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
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

    /// `REMOTE_DIR/.ludus/jobs/<n>.sbatch`.
    pub fn job_script(dir: &str, n: u32) -> String {
        join(dir, &format!(".ludus/jobs/{n}.sbatch"))
    }

    /// `REMOTE_DIR/.ludus/jobs/<n>.ids`.
    pub fn job_ids(dir: &str, n: u32) -> String {
        join(dir, &format!(".ludus/jobs/{n}.ids"))
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

    /// SLURM's `--output` pattern for submission `n` (`%A` job, `%a` task).
    pub fn slurm_output(dir: &str, n: u32, array: bool) -> String {
        let name = if array {
            format!("{n}-%A_%a.out")
        } else {
            format!("{n}-%j.out")
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
            attempts: Vec::new(),
        });
        dir.write_submissions(&s).unwrap();
        let back = dir.read_submissions().unwrap();
        assert_eq!(back, s);
        assert_eq!(back.next_n(), 2);
        assert_eq!(back.submissions[0].script_path, "/x/.ludus/jobs/1.sbatch");
    }
}
