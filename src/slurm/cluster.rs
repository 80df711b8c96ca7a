//! The remote commands of a SLURM submission, each one exec channel on the caller's SSH
//! session: find or install ludus, list pending ids, write a file, `sbatch`, `squeue`, `sacct`,
//! `scancel`, and the remote `ludus status --json`.

use serde::Deserialize;

use super::SlurmError;
use crate::remote::session::Output;
use crate::remote::{Connection, shell_quote as q};
use crate::store::submissions::remote;

fn sh(script: &str) -> String {
    format!("sh -c {}", q(script))
}

fn run(conn: &Connection, script: &str, stdin: &[u8]) -> Result<Output, SlurmError> {
    Ok(conn.run(&sh(script), stdin)?)
}

fn failed(conn: &Connection, what: &str, out: &Output) -> SlurmError {
    SlurmError::Remote(crate::remote::RemoteError::RemoteCommand {
        host: conn.host_label(),
        what: what.to_string(),
        status: out.status,
        stderr: out.stderr.trim().to_string(),
    })
}

/// `uname -sm` of this machine, e.g. `Linux x86_64`.
pub fn local_uname() -> String {
    // SAFETY: uname fills the struct we own; the fields are NUL-terminated C strings.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return String::new();
        }
        let f = |p: &[libc::c_char]| {
            std::ffi::CStr::from_ptr(p.as_ptr())
                .to_string_lossy()
                .into_owned()
        };
        format!("{} {}", f(&u.sysname), f(&u.machine))
    }
}

/// Returns the ludus to run on the cluster: `named` after checking that it runs; or the local
/// executable `binary` (a portable build, `--ludus-binary`), uploaded to
/// `REMOTE_DIR/.ludus/bin/ludus`; or, without either, this executable, uploaded there when the
/// remote's `uname -sm` matches this machine's. An upload happens only when the file changed,
/// and the uploaded ludus must answer `--version` on the cluster before anything is submitted.
pub fn ensure_ludus(
    conn: &Connection,
    remote_dir: &str,
    named: Option<&str>,
    binary: Option<&std::path::Path>,
) -> Result<String, SlurmError> {
    let host = conn.host_label();
    if let Some(path) = named {
        let out = run(conn, &format!("{} --version", q(path)), b"")?;
        if out.status != 0 {
            return Err(SlurmError::NoLudus(format!(
                "{host}: --remote-ludus {path} does not run ({}): give the path of a ludus executable on the cluster",
                out.stderr.trim()
            )));
        }
        return Ok(path.to_string());
    }
    let exe = match binary {
        Some(b) => b.to_path_buf(),
        None => {
            let out = run(conn, "uname -sm", b"")?;
            let theirs = String::from_utf8_lossy(&out.stdout).trim().to_string();
            let ours = local_uname();
            if theirs != ours {
                return Err(SlurmError::NoLudus(format!(
                    "{host} is `{theirs}` and this ludus was built for `{ours}`, so it cannot be uploaded there. \
                     Install ludus on the cluster and name it with --remote-ludus PATH (for any Linux x86_64 cluster: \
                     `rustup target add x86_64-unknown-linux-musl && cargo build --release --target x86_64-unknown-linux-musl`, \
                     then copy target/x86_64-unknown-linux-musl/release/ludus there), or submit from a machine of the same kind."
                )));
            }
            std::env::current_exe()
                .map_err(|e| crate::remote::RemoteError::io("ludus executable", e))?
        }
    };
    let bytes = std::fs::read(&exe).map_err(|e| crate::remote::RemoteError::io(&exe, e))?;
    let hash = blake3::hash(&bytes).to_hex().to_string();
    let bin = remote::ludus_bin(remote_dir);
    let stamp = format!("{bin}.blake3");
    let out = run(
        conn,
        &format!("cat -- {} 2>/dev/null; test -x {}", q(&stamp), q(&bin)),
        b"",
    )?;
    if out.status != 0 || String::from_utf8_lossy(&out.stdout).trim() != hash {
        let script = format!(
            "set -e; b={}; mkdir -p -- \"$(dirname -- \"$b\")\"; rm -f -- {}; cat > \"$b.part\"; chmod 755 \"$b.part\"; mv -f -- \"$b.part\" \"$b\"",
            q(&bin),
            q(&stamp)
        );
        let out = run(conn, &script, &bytes)?;
        if out.status != 0 {
            return Err(failed(conn, "uploading ludus", &out));
        }
    }
    // The one check that counts: the uploaded file starts there (right loader, glibc, libssl).
    let out = run(conn, &format!("{} --version", q(&bin)), b"")?;
    if out.status != 0 {
        let said = format!(
            "{}{}",
            out.stderr.trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        );
        return Err(SlurmError::NoLudus(format!(
            "{host}: the uploaded ludus ({} -> {bin}) does not run there: `ludus --version` exited with status {}: {}\n\
             nothing was submitted. Upload a portable build instead: `submit --build-portable` (runs scripts/build-portable.sh: \
             x86_64 Linux, glibc 2.17, no shared OpenSSL) or `--ludus-binary PATH`, or name a ludus installed there with --remote-ludus PATH.",
            exe.display(),
            out.status,
            if said.is_empty() {
                "(no message)"
            } else {
                said.as_str()
            }
        )));
    }
    // Stamped only once it ran, so a failed check uploads again next time.
    let out = run(
        conn,
        &format!("printf '%s\\n' {} > {}", q(&hash), q(&stamp)),
        b"",
    )?;
    if out.status != 0 {
        return Err(failed(conn, "stamping the uploaded ludus", &out));
    }
    Ok(bin)
}

/// The ids `ludus run-instances` would run in the remote folder, in plan order.
pub fn pending_ids(
    conn: &Connection,
    ludus: &str,
    remote_dir: &str,
    retry_errors: bool,
) -> Result<Vec<String>, SlurmError> {
    let retry = if retry_errors { " --retry-errors" } else { "" };
    let out = run(
        conn,
        &format!("{} status --pending-ids{retry} {}", q(ludus), q(remote_dir)),
        b"",
    )?;
    if out.status != 0 {
        return Err(failed(
            conn,
            "listing pending instances (ludus status --pending-ids)",
            &out,
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

/// Writes `bytes` to `path` on the remote side (temporary name, then rename).
pub fn write_file(conn: &Connection, path: &str, bytes: &[u8]) -> Result<(), SlurmError> {
    let script = format!(
        "set -e; f={}; mkdir -p -- \"$(dirname -- \"$f\")\"; cat > \"$f.part\"; mv -f -- \"$f.part\" \"$f\"",
        q(path)
    );
    let out = run(conn, &script, bytes)?;
    if out.status != 0 {
        return Err(failed(conn, &format!("writing {path}"), &out));
    }
    Ok(())
}

/// `sbatch --parsable SCRIPT`; the job id, or sbatch's message verbatim with what to change.
pub fn sbatch(conn: &Connection, script_path: &str, slurm_dir: &str) -> Result<String, SlurmError> {
    sbatch_with(conn, &[], script_path, &[], slurm_dir)
}

/// `sbatch --parsable OPTIONS SCRIPT ARGS`; as [`sbatch`].
pub fn sbatch_with(
    conn: &Connection,
    options: &[String],
    script_path: &str,
    script_args: &[String],
    slurm_dir: &str,
) -> Result<String, SlurmError> {
    let words = |v: &[String]| v.iter().map(|w| format!(" {}", q(w))).collect::<String>();
    let out = run(
        conn,
        &format!(
            "mkdir -p -- {} && sbatch --parsable{} {}{}",
            q(slurm_dir),
            words(options),
            q(script_path),
            words(script_args)
        ),
        b"",
    )?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status != 0 {
        return Err(SlurmError::Sbatch {
            host: conn.host_label(),
            stderr: out.stderr.trim().to_string(),
            hint: sbatch_hint(out.status, &out.stderr),
        });
    }
    let id = stdout.split(';').next().unwrap_or("").trim().to_string();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SlurmError::Unexpected {
            host: conn.host_label(),
            what: "sbatch --parsable".into(),
            output: stdout,
        });
    }
    Ok(id)
}

/// What to change, from sbatch's message.
pub fn sbatch_hint(status: i32, stderr: &str) -> String {
    let e = stderr.to_ascii_lowercase();
    if status == 127 || e.contains("not found") && e.contains("sbatch") {
        "sbatch is not on the remote PATH: submit to the cluster's login node, or load SLURM there (module load slurm) in a file your non-interactive shell reads".into()
    } else if e.contains("partition") {
        "change --partition to one the cluster has (`sinfo -s` on the cluster lists them), or leave it out for the default partition".into()
    } else if e.contains("time limit") {
        "lower --time to at most the partition's limit (`sinfo -o '%P %l'` on the cluster shows the limits)".into()
    } else if e.contains("memory") || e.contains("mem") {
        "lower --mem (or --cpus-per-task) to what the cluster's nodes have".into()
    } else if e.contains("account") || e.contains("qos") {
        "name an account or QOS you may use with --sbatch-arg=--account=NAME".into()
    } else {
        "check the options given to submit (--partition, --time, --mem, --sbatch-arg) against the cluster's limits".into()
    }
}

/// The cluster's limits on what one user may submit, from `scontrol show config` (and the
/// user's association in `sacctmgr`, when accounting answers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// `MaxArraySize`: array indices must be below it, so `--array=1-K` needs `K < MaxArraySize`.
    pub max_array_size: Option<u32>,
    /// The fewest jobs the user may have queued at once (`MaxSubmitJobs` of the association or
    /// QOS, or the cluster's `MaxJobCount`); every array task counts as one.
    pub max_submit_jobs: Option<u32>,
}

impl Limits {
    /// The most tasks one array may have.
    pub fn max_array_tasks(&self) -> Option<u32> {
        self.max_array_size.map(|m| m.saturating_sub(1).max(1))
    }
}

/// Reads `KEY = VALUE` numbers from `scontrol show config` output.
pub fn parse_limits(config: &str, submit_limits: &str) -> Limits {
    let mut l = Limits::default();
    let mut min_submit = |v: u32| {
        l.max_submit_jobs = Some(l.max_submit_jobs.map_or(v, |m| m.min(v)));
    };
    for line in config.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v
            .split_whitespace()
            .next()
            .unwrap_or("")
            .parse::<u32>()
            .ok();
        match (k.trim(), v) {
            ("MaxArraySize", Some(v)) => l.max_array_size = Some(v),
            ("MaxJobCount" | "MaxSubmitJobs", Some(v)) if v > 0 => min_submit(v),
            _ => {}
        }
    }
    // `sacctmgr -n -P show assoc ... format=MaxSubmit,GrpSubmit`: one `a|b` line per association.
    for v in submit_limits
        .lines()
        .flat_map(|l| l.split('|'))
        .filter_map(|w| w.trim().parse::<u32>().ok())
    {
        if v > 0 {
            min_submit(v);
        }
    }
    l
}

/// The cluster's submission limits (`scontrol show config`, and `sacctmgr` when it answers).
pub fn limits(conn: &Connection) -> Result<Limits, SlurmError> {
    let out = run(conn, "scontrol show config", b"")?;
    if out.status != 0 {
        return Err(failed(conn, "scontrol show config", &out));
    }
    let config = String::from_utf8_lossy(&out.stdout).into_owned();
    let assoc = run(
        conn,
        "sacctmgr -n -P show assoc where user=\"$(id -un)\" format=MaxSubmit,GrpSubmit 2>/dev/null",
        b"",
    )?;
    let assoc = if assoc.status == 0 {
        String::from_utf8_lossy(&assoc.stdout).into_owned()
    } else {
        String::new()
    };
    Ok(parse_limits(&config, &assoc))
}

/// The attempts the cluster recorded for submission `n` (`REMOTE_DIR/.ludus/jobs/<n>.attempts`),
/// oldest first; empty when the file does not exist.
pub fn read_attempts(
    conn: &Connection,
    remote_dir: &str,
    n: u32,
) -> Result<Vec<crate::store::submissions::Attempt>, SlurmError> {
    let out = run(
        conn,
        &format!(
            "cat -- {} 2>/dev/null || true",
            q(&remote::job_attempts(remote_dir, n))
        ),
        b"",
    )?;
    Ok(parse_attempts(&String::from_utf8_lossy(&out.stdout)))
}

/// Parses `attempt job tasks instances requeue-job time` lines (a torn last line is skipped).
pub fn parse_attempts(text: &str) -> Vec<crate::store::submissions::Attempt> {
    text.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let [a, job, tasks, inst, follow, at] = w.as_slice() else {
                return None;
            };
            Some(crate::store::submissions::Attempt {
                attempt: a.parse().ok()?,
                job_id: (*job).to_string(),
                tasks: tasks.parse().ok()?,
                instances: inst.parse().ok()?,
                requeue_job: (*follow != "-").then(|| (*follow).to_string()),
                submitted_at: (*at).to_string(),
            })
        })
        .collect()
}

/// The state of one array task (or of a plain job) in the queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobState {
    /// `123_4` for an array task, `123` for a plain job.
    pub id: String,
    /// The array job id (`123`).
    pub job: String,
    /// PENDING, RUNNING, COMPLETING, ...
    pub state: String,
}

/// The current user's jobs in the queue (each array task on its own line), limited to `jobs`.
pub fn squeue(conn: &Connection, jobs: &[String]) -> Result<Vec<JobState>, SlurmError> {
    let out = run(conn, "squeue -h -r -u \"$(id -un)\" -o '%i %T'", b"")?;
    if out.status != 0 {
        return Err(failed(conn, "squeue", &out));
    }
    Ok(parse_squeue(&String::from_utf8_lossy(&out.stdout), jobs))
}

/// Parses `squeue -o '%i %T'` lines, keeping the given jobs.
pub fn parse_squeue(text: &str, jobs: &[String]) -> Vec<JobState> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let id = it.next()?.to_string();
            let state = it.next()?.to_string();
            let job = id.split('_').next()?.to_string();
            jobs.contains(&job).then_some(JobState { id, job, state })
        })
        .collect()
}

/// Final states from `sacct` for the given jobs, or `None` when accounting is off.
pub fn sacct(conn: &Connection, jobs: &[String]) -> Result<Option<Vec<JobState>>, SlurmError> {
    if jobs.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let out = run(
        conn,
        &format!("sacct -n -X -P -j {} -o JobID,State", jobs.join(",")),
        b"",
    )?;
    if out.status != 0 {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(Some(
        text.lines()
            .filter_map(|l| {
                let (id, state) = l.split_once('|')?;
                let job = id.split('_').next()?.to_string();
                Some(JobState {
                    id: id.to_string(),
                    job,
                    state: state.split_whitespace().next().unwrap_or("").to_string(),
                })
            })
            .collect(),
    ))
}

/// `scancel` of the given job ids (array jobs or single tasks, `123_4`).
pub fn scancel(conn: &Connection, ids: &[String]) -> Result<(), SlurmError> {
    if ids.is_empty() {
        return Ok(());
    }
    let quoted: Vec<String> = ids.iter().map(|i| q(i)).collect();
    let out = run(conn, &format!("scancel {}", quoted.join(" ")), b"")?;
    if out.status != 0 {
        return Err(failed(conn, "scancel", &out));
    }
    Ok(())
}

/// The remote `ludus status --json`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct RemoteCounts {
    /// Instances in the folder.
    pub total: usize,
    /// Done.
    pub done: usize,
    /// No status yet.
    pub pending: usize,
    /// With a live run marker.
    pub running: usize,
    /// Done with learning frozen by the time limit.
    pub timeout: usize,
    /// Failed.
    pub error: usize,
    /// Stopped by a signal (a SLURM time limit, scancel).
    pub interrupted: usize,
}

impl RemoteCounts {
    /// Finished: done or timeout.
    pub fn finished(&self) -> usize {
        self.done + self.timeout
    }
}

/// Runs the remote `ludus status --json DIR`.
pub fn remote_status(
    conn: &Connection,
    ludus: &str,
    remote_dir: &str,
) -> Result<RemoteCounts, SlurmError> {
    let out = run(
        conn,
        &format!("{} status --json {}", q(ludus), q(remote_dir)),
        b"",
    )?;
    if out.status != 0 {
        return Err(failed(conn, "ludus status --json", &out));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).map_err(|_| SlurmError::Unexpected {
        host: conn.host_label(),
        what: "ludus status --json".into(),
        output: text.into_owned(),
    })
}

/// One look at a submission's job: its tasks in the queue and, after it left, their ends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueSnapshot {
    /// Array tasks waiting.
    pub pending: u32,
    /// Array tasks running (or completing).
    pub running: u32,
    /// Array tasks that ended (total minus those in the queue).
    pub finished: u32,
    /// Of those, the ones sacct says failed, timed out or were cancelled (0 without accounting).
    pub failed: u32,
    /// True while any task is in the queue.
    pub in_queue: bool,
}

/// Counts a job's tasks from squeue (and sacct, when it answers).
pub fn snapshot(
    conn: &Connection,
    job: &str,
    tasks: u32,
    use_sacct: bool,
) -> Result<QueueSnapshot, SlurmError> {
    let jobs = [job.to_string()];
    let q = squeue(conn, &jobs)?;
    let mut s = QueueSnapshot::default();
    for t in &q {
        match t.state.as_str() {
            "PENDING" | "CONFIGURING" | "REQUEUED" | "SUSPENDED" => s.pending += 1,
            _ => s.running += 1,
        }
    }
    // An array whose tasks have not been split out yet shows as one pending line.
    s.in_queue = !q.is_empty();
    let queued = (s.pending + s.running).min(tasks);
    s.finished = tasks - queued;
    if use_sacct && let Some(ended) = sacct(conn, &jobs)? {
        s.failed = ended
            .iter()
            .filter(|j| {
                matches!(
                    j.state.as_str(),
                    "FAILED"
                        | "TIMEOUT"
                        | "CANCELLED"
                        | "NODE_FAIL"
                        | "OUT_OF_MEMORY"
                        | "PREEMPTED"
                )
            })
            .count() as u32;
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeue_lines() {
        let t = "12_1 RUNNING\n12_2 PENDING\n13 RUNNING\n7_[3-4] PENDING\n";
        let j = parse_squeue(t, &["12".to_string()]);
        assert_eq!(j.len(), 2);
        assert_eq!(j[1].state, "PENDING");
        assert_eq!(parse_squeue(t, &["7".to_string()])[0].id, "7_[3-4]");
    }

    #[test]
    fn limits_and_attempts() {
        let cfg = "Configuration data as of x\nMaxArraySize            = 4\nMaxJobCount             = 10000\nMaxJobId = 67043328\n";
        let l = parse_limits(cfg, "");
        assert_eq!(l.max_array_size, Some(4));
        assert_eq!(l.max_array_tasks(), Some(3));
        assert_eq!(l.max_submit_jobs, Some(10000));
        assert_eq!(parse_limits(cfg, "50|\n|\n").max_submit_jobs, Some(50));
        let a = parse_attempts(
            "1 10 3 7 11 2026-01-01T00:00:00Z\n2 12 1 2 - 2026-01-01T00:01:00Z\n3 1",
        );
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].requeue_job.as_deref(), Some("11"));
        assert_eq!(
            (a[1].attempt, a[1].instances, a[1].requeue_job.clone()),
            (2, 2, None)
        );
    }

    #[test]
    fn hints() {
        assert!(
            sbatch_hint(1, "sbatch: error: invalid partition specified: nope")
                .contains("--partition")
        );
        assert!(
            sbatch_hint(
                1,
                "Requested time limit is invalid (missing or exceeds some limit)"
            )
            .contains("--time")
        );
        assert!(sbatch_hint(127, "sh: 1: sbatch: not found").contains("PATH"));
    }
}
