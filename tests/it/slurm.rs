//! `ludus submit`, `watch`, `resubmit` and `cancel` against a real single-node SLURM on
//! 127.0.0.1 (`support/slurm.rs`, shared by the tests of this file while they run) reached
//! through a real test sshd whose sessions get `SLURM_CONF`: a submitted folder finishes with
//! logs identical to a local run; `--dry-run` submits nothing; a second submit while a job is
//! queued is refused; `scancel` of one array task then `resubmit` completes the rest; a job
//! killed by its time limit leaves `interrupted` instances that `resubmit` finishes; a bad
//! partition gives sbatch's message and records nothing; a cluster of another kind gets
//! instructions to install ludus.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::slurm::Slurm;
use crate::support::sshd::{Sshd, SshdOptions};

struct Env {
    slurm: Arc<Slurm>,
    sshd: Sshd,
}

impl Env {
    fn new() -> Env {
        Env::with_path(None)
    }

    /// With `PATH` set for remote commands (to plant fake tools).
    fn with_path(path: Option<String>) -> Env {
        Env::on(Slurm::shared(), path)
    }

    /// Reaching the given cluster.
    fn on(slurm: Arc<Slurm>, path: Option<String>) -> Env {
        let sshd = Sshd::start_with(SshdOptions {
            env: vec![("SLURM_CONF".into(), slurm.conf.display().to_string())],
            path,
            ..Default::default()
        });
        Env { slurm, sshd }
    }

    /// Plans a spec of `seeds` q_learning runs on river_swim in a fresh local folder.
    fn plan(&self, name: &str, seeds: u32, steps: u64) -> PathBuf {
        let d = self.sshd.dir.path().join("local");
        std::fs::create_dir_all(&d).expect("mkdir");
        let spec = d.join(format!("{name}.toml"));
        std::fs::write(
            &spec,
            format!(
                "seeds = {seeds}\nsteps = {steps}\n[[agent]]\nname = \"q_learning\"\n\
                 [[mdp]]\nfamily = \"river_swim\"\nparams = {{ size = 5 }}\n"
            ),
        )
        .expect("spec");
        let out_dir = d.join(name);
        let out = self
            .sshd
            .ludus()
            .arg("plan")
            .arg(&spec)
            .arg("--out")
            .arg(&out_dir)
            .output()
            .expect("plan");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out_dir
    }

    fn target(&self, name: &str) -> String {
        self.sshd.target(&self.sshd.remote_dir(name))
    }

    /// Runs ludus with a time bound; returns (exit code, stdout, stderr).
    fn ludus(&self, args: &[&str], timeout: u64) -> (i32, String, String) {
        self.ludus_env(args, &[], timeout)
    }

    /// As [`Env::ludus`], with extra environment variables.
    fn ludus_env(
        &self,
        args: &[&str],
        vars: &[(&str, &str)],
        timeout: u64,
    ) -> (i32, String, String) {
        let out = self
            .sshd
            .ludus()
            .envs(vars.iter().copied())
            .args(args)
            .timeout(Duration::from_secs(timeout))
            .output()
            .expect("ludus runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn status(dir: &Path) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ludus"))
        .args(["status", "--json"])
        .arg(dir)
        .output()
        .expect("status");
    serde_json::from_slice(&out.stdout).expect("status json")
}

fn submissions(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join(".ludus/submissions.json")).expect("record");
    serde_json::from_str(&text).expect("json")
}

/// Every log, without its timing column (`steps_per_second`, which differs run to run).
fn csv_logs(dir: &Path) -> Vec<(String, String)> {
    let strip = |text: String| -> String {
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
        let keep: Vec<usize> = (0..header.len())
            .filter(|&i| header[i] != "steps_per_second")
            .collect();
        std::iter::once(header.join(","))
            .chain(lines.map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                keep.iter()
                    .filter_map(|&i| f.get(i).copied())
                    .collect::<Vec<_>>()
                    .join(",")
            }))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut v: Vec<(String, String)> = std::fs::read_dir(dir.join("logs"))
        .expect("logs")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".csv"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                strip(std::fs::read_to_string(e.path()).expect("read")),
            )
        })
        .collect();
    v.sort();
    v
}

fn copy_dir(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from).into_iter().flatten() {
        let rel = e.path().strip_prefix(from).expect("inside");
        let dest = to.join(rel);
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).expect("mkdir");
        } else {
            std::fs::copy(e.path(), &dest).expect("copy");
        }
    }
}

#[test]
fn submit_and_watch_finish_with_logs_identical_to_a_local_run() {
    let env = Env::new();
    let dir = env.plan("quick", 6, 2000);
    let here = env.sshd.dir.path().join("here");
    copy_dir(&dir, &here);
    let (code, _, err) = env.ludus(&["run-instances", s(&here), "--progress", "none"], 60);
    assert_eq!(code, 0, "{err}");

    // The uploaded-executable path: no --remote-ludus.
    let target = env.target("quick");
    let (code, out, err) = env.ludus(
        &[
            "submit",
            s(&dir),
            &target,
            "--per-task",
            "2",
            "--wait",
            "--interval",
            "0.5",
        ],
        90,
    );
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("submitted job"), "{out}");
    assert!(out.contains("3 array tasks"), "{out}");
    assert!(err.contains("6 done"), "{err}");
    let st = status(&dir);
    assert_eq!(
        (st["total"].as_u64(), st["done"].as_u64()),
        (Some(6), Some(6)),
        "{st}"
    );
    assert_eq!(
        csv_logs(&dir),
        csv_logs(&here),
        "logs differ from a local run"
    );
    let rec = submissions(&dir);
    let sub = &rec["submissions"][0];
    assert_eq!(sub["instances"], 6);
    assert_eq!(sub["tasks"], 3);
    assert!(sub["job_id"].as_str().is_some_and(|j| !j.is_empty()));
    let remote = env.sshd.remote_dir("quick");
    assert!(remote.join(".ludus/bin/ludus").is_file());
    assert!(remote.join(".ludus/jobs/1.sbatch").is_file());
    assert!(
        dir.join(".ludus/slurm")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some())
    );

    // Everything finished: a second submit has nothing to do and records nothing.
    let (code, out, err) = env.ludus(&["submit", s(&dir), &target], 60);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("nothing to submit"), "{out}");
    assert_eq!(
        submissions(&dir)["submissions"].as_array().map(Vec::len),
        Some(1)
    );
}

#[test]
fn dry_run_prints_the_script_and_submits_nothing() {
    let env = Env::new();
    let dir = env.plan("dry", 5, 2000);
    let target = env.target("dry");
    let (code, out, err) = env.ludus(
        &[
            "submit",
            s(&dir),
            &target,
            "--tasks",
            "2",
            "--cpus-per-task",
            "2",
            "--time",
            "10",
            "--dry-run",
        ],
        30,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("#!/bin/bash\n"), "{out}");
    assert!(out.contains("#SBATCH --array=1-2\n"), "{out}");
    assert!(out.contains("#SBATCH --cpus-per-task=2\n"), "{out}");
    assert!(out.contains("run-instances"), "{out}");
    assert!(err.contains("5 pending"), "{err}");
    assert!(!dir.join(".ludus").exists());
    assert!(!env.sshd.remote_dir("dry").exists());
}

#[test]
fn bad_partition_shows_sbatchs_message_and_records_nothing() {
    let env = Env::new();
    let dir = env.plan("badpart", 2, 2000);
    let ludus = env!("CARGO_BIN_EXE_ludus");
    let (code, _, err) = env.ludus(
        &[
            "submit",
            s(&dir),
            &env.target("badpart"),
            "--partition",
            "nope",
            "--remote-ludus",
            ludus,
        ],
        60,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("invalid partition"), "{err}");
    assert!(err.contains("change --partition"), "{err}");
    assert!(!dir.join(".ludus/submissions.json").exists());
}

#[test]
fn another_kind_of_machine_gets_install_instructions() {
    let fake = tempfile::tempdir().expect("temp dir");
    crate::support::tree::fake_tool(fake.path(), "uname", "echo Darwin arm64\n");
    let env = Env::with_path(Some(format!("{}:/usr/bin:/bin", fake.path().display())));
    let dir = env.plan("other", 2, 2000);
    let (code, _, err) = env.ludus(&["submit", s(&dir), &env.target("other")], 60);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("Darwin arm64"), "{err}");
    assert!(err.contains("--remote-ludus"), "{err}");
    assert!(err.contains("x86_64-unknown-linux-musl"), "{err}");
    assert!(!dir.join(".ludus/submissions.json").exists());
}

fn job_of(dir: &Path, i: usize) -> String {
    submissions(dir)["submissions"][i]["job_id"]
        .as_str()
        .expect("job id")
        .to_string()
}

#[test]
fn second_submit_is_refused_then_cancel_then_scancel_one_task_and_resubmit() {
    let env = Env::new();
    let dir = env.plan("held", 6, 2000);
    let target = env.target("held");
    let ludus = env!("CARGO_BIN_EXE_ludus");
    let held = [
        "--remote-ludus",
        ludus,
        "--tasks",
        "3",
        "--sbatch-arg=--hold",
    ];
    let mut args = vec!["submit", s(&dir), &target];
    args.extend(held);
    let (code, _, err) = env.ludus(&args, 60);
    assert_eq!(code, 0, "{err}");
    let job = job_of(&dir, 0);
    assert_eq!(
        env.slurm.queue(&job).len(),
        3,
        "{:?}",
        env.slurm.queue(&job)
    );

    // Refused while queued; nothing new recorded.
    let (code, _, err) = env.ludus(&args, 60);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("still PENDING"), "{err}");
    assert!(err.contains("--force"), "{err}");
    assert_eq!(
        submissions(&dir)["submissions"].as_array().map(Vec::len),
        Some(1)
    );

    // ludus cancel empties the queue; then submitting is allowed again.
    let (code, out, err) = env.ludus(&["cancel", s(&dir)], 60);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&job), "{out}");
    let t0 = Instant::now();
    while !env.slurm.queue(&job).is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "scancel did not empty the queue"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (code, _, err) = env.ludus(&args, 60);
    assert_eq!(code, 0, "{err}");
    let job = job_of(&dir, 1);

    // Cancel task 2 of 3, release the rest: watch ends with pending instances and exit 1.
    env.slurm.ok("scancel", &[&format!("{job}_2")]);
    env.slurm.ok("scontrol", &["release", &job]);
    let (code, _, err) = env.ludus(&["watch", s(&dir), "--interval", "0.5"], 90);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("resubmit"), "{err}");
    let st = status(&dir);
    assert_eq!(
        (st["done"].as_u64(), st["pending"].as_u64()),
        (Some(4), Some(2)),
        "{st}"
    );

    // resubmit runs exactly the two that are left, with the same options (--hold included).
    let (code, out, err) = env.ludus(&["resubmit", s(&dir)], 60);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("2 instances"), "{out}");
    let job = job_of(&dir, 2);
    assert!(
        submissions(&dir)["submissions"][2]["script"]
            .as_str()
            .is_some_and(|t| t.contains("#SBATCH --hold"))
    );
    env.slurm.ok("scontrol", &["release", &job]);
    let (code, _, err) = env.ludus(&["watch", s(&dir), "--interval", "0.5"], 90);
    assert_eq!(code, 0, "{err}");
    let st = status(&dir);
    assert_eq!(st["done"].as_u64(), Some(6), "{st}");
}

#[test]
fn time_limit_leaves_interrupted_instances_that_resubmit_finishes() {
    let env = Env::new();
    // Enough work for at least 120 s on one CPU at this machine's best speed (the fastest of a
    // few probe runs, so a busy moment during the probe cannot shrink it): SLURM enforces a
    // one-minute limit between 60 and about 95 s (it checks every 30 s), so the job is always
    // killed, and what is left is a short resubmission.
    const STEPS: u64 = 2_000_000;
    let each = seconds_per_instance(&env, STEPS);
    let n = ((120.0 / each).ceil() as u64).clamp(20, 5000);
    let dir = env.plan("limit", n as u32, STEPS);
    let ludus = env!("CARGO_BIN_EXE_ludus");
    let target = env.target("limit");
    let (code, _, err) = env.ludus(
        &[
            "submit",
            s(&dir),
            &target,
            "--remote-ludus",
            ludus,
            "--tasks",
            "1",
            "--time",
            "1",
        ],
        60,
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = env.ludus(&["watch", s(&dir), "--interval", "1"], 180);
    assert_eq!(code, 1, "{err}");
    let st = status(&dir);
    let done = st["done"].as_u64().unwrap_or(0);
    assert!(st["interrupted"].as_u64() >= Some(1), "{st}");
    assert!(done >= 1 && done < n, "{st}");
    let (code, out, err) = env.ludus(
        &[
            "resubmit",
            s(&dir),
            "--tasks",
            "4",
            "--time",
            "10",
            "--wait",
            "--interval",
            "1",
        ],
        180,
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains(&format!("{} instances", n - done)), "{out}");
    let st = status(&dir);
    assert_eq!(st["done"].as_u64(), Some(n), "{st}");
}

/// The fastest wall time of one `steps`-step instance here, from a few probe runs on one CPU
/// (the fastest, so a busy moment during the probe cannot make the real runs look short).
fn seconds_per_instance(env: &Env, steps: u64) -> f64 {
    let probe = env.plan("probe", 6, steps);
    let (code, _, err) = env.ludus(
        &[
            "run-instances",
            s(&probe),
            "--jobs",
            "1",
            "--progress",
            "none",
        ],
        120,
    );
    assert_eq!(code, 0, "{err}");
    let each = std::fs::read_dir(probe.join("logs"))
        .expect("probe logs")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .filter_map(|e| {
            let v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(e.path()).ok()?).ok()?;
            v["wall_seconds"].as_f64()
        })
        .fold(f64::INFINITY, f64::min);
    assert!(each.is_finite() && each > 0.0, "no probe wall times");
    each
}

#[test]
fn retries_finish_a_time_limited_submission_with_no_watch_running() {
    let env = Env::new();
    // At least 100 s of work on one CPU: SLURM enforces a one-minute limit between 60 and about
    // 95 s (it checks every 30 s), so the first attempt is always killed, and what it leaves
    // (at most about 40 s of work) fits in the next one; --retries 3 leaves room for a busy
    // machine.
    const STEPS: u64 = 2_000_000;
    let each = seconds_per_instance(&env, STEPS);
    let n = ((100.0 / each).ceil() as u64).clamp(20, 5000);
    let dir = env.plan("retry", n as u32, STEPS);
    let ludus = env!("CARGO_BIN_EXE_ludus");
    let target = env.target("retry");
    let (code, out, err) = env.ludus(
        &[
            "submit",
            s(&dir),
            &target,
            "--remote-ludus",
            ludus,
            "--tasks",
            "1",
            "--time",
            "1",
            "--retries",
            "3",
        ],
        60,
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("follow-up job"), "{out}");
    let first = job_of(&dir, 0);

    // Nothing of ludus runs here from now on: only the remote folder is looked at.
    let remote = env.sshd.remote_dir("retry");
    let t0 = Instant::now();
    loop {
        let st = status(&remote);
        if st["done"].as_u64() == Some(n) && env.slurm.queue(&first).is_empty() {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(420),
            "not finished after 7 min: {st}\n{}",
            std::fs::read_to_string(remote.join(".ludus/jobs/1.attempts")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    let lines = std::fs::read_to_string(remote.join(".ludus/jobs/1.attempts")).expect("attempts");
    let attempts: Vec<&str> = lines.lines().collect();
    assert!(
        (2..=4).contains(&attempts.len()),
        "the first attempt was killed, so the cluster made at least one more: {lines}"
    );
    // Each later attempt covers exactly what the one before left, fewer each time.
    let counts: Vec<u64> = attempts
        .iter()
        .map(|l| {
            l.split(' ')
                .nth(3)
                .and_then(|c| c.parse().ok())
                .expect("count")
        })
        .collect();
    assert_eq!(counts[0], n, "{lines}");
    assert!(counts.windows(2).all(|w| w[1] < w[0]), "{lines}");

    // watch ends at once (the chain has left the queue), shows the attempts and records them.
    let (code, _, err) = env.ludus(&["watch", s(&dir), "--interval", "0.5"], 120);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("attempt 2: job"), "{err}");
    let rec = submissions(&dir);
    let recorded = rec["submissions"][0]["attempts"]
        .as_array()
        .expect("attempts");
    assert_eq!(recorded.len(), attempts.len(), "{rec}");
    assert_eq!(recorded[0]["job_id"].as_str(), Some(first.as_str()));
    assert_eq!(status(&dir)["done"].as_u64(), Some(n));
}

#[test]
fn array_limits_pack_a_63_instance_folder_into_a_small_cluster() {
    let slurm = Arc::new(Slurm::start_with("MaxArraySize=4\n"));
    let env = Env::on(slurm, None);
    let dir = env.plan("many", 63, 2000);
    let ludus = env!("CARGO_BIN_EXE_ludus");
    let (code, out, err) = env.ludus(
        &[
            "submit",
            s(&dir),
            &env.target("many"),
            "--remote-ludus",
            ludus,
            "--wait",
            "--interval",
            "0.5",
        ],
        180,
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("MaxArraySize is 4"), "{out}");
    assert!(out.contains("3 array tasks of up to 21 each"), "{out}");
    assert!(out.contains("63 instances in 3 array tasks"), "{out}");
    assert_eq!(status(&dir)["done"].as_u64(), Some(63));
    let script = submissions(&dir)["submissions"][0]["script"]
        .as_str()
        .expect("script")
        .to_string();
    assert!(script.contains("#SBATCH --array=1-3\n"), "{script}");
}

/// This ludus with its ELF interpreter renamed to one that does not exist: what a binary built
/// against a newer system than the cluster's looks like there (the loader cannot start it).
fn unrunnable_ludus(dir: &Path) -> PathBuf {
    let mut bytes = std::fs::read(env!("CARGO_BIN_EXE_ludus")).expect("ludus");
    let from = b"/lib64/ld-linux-x86-64.so.2";
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("an ELF interpreter path");
    bytes[at + from.len() - 1] = b'9';
    let p = dir.join("ludus-unrunnable");
    std::fs::write(&p, bytes).expect("write");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    p
}

#[test]
fn a_remote_that_cannot_run_the_upload_is_refused_and_a_portable_build_is_used() {
    let env = Env::new();
    let dir = env.plan("portable", 2, 2000);
    let target = env.target("portable");
    let remote = env.sshd.remote_dir("portable");
    let nothing_submitted = || {
        assert!(!dir.join(".ludus/submissions.json").exists());
        assert!(!remote.join(".ludus/jobs").exists());
    };

    // A binary the cluster's loader cannot start: refused, naming the host and the error.
    let bad = unrunnable_ludus(env.sshd.dir.path());
    let (code, out, err) = env.ludus(&["submit", s(&dir), &target, "--ludus-binary", s(&bad)], 60);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("127.0.0.1"), "{err}");
    assert!(
        err.contains("`ludus --version` exited with status"),
        "{err}"
    );
    assert!(
        err.contains("not found") || err.contains("No such file"),
        "{err}"
    );
    assert!(err.contains("--build-portable"), "{err}");
    nothing_submitted();

    // A build script that fails: nothing is uploaded or submitted.
    let scripts = env.sshd.dir.path().join("scripts");
    crate::support::tree::fake_tool(&scripts, "fails.sh", "echo 'zig: not found' >&2\nexit 3\n");
    let fails = scripts.join("fails.sh");
    let (code, _, err) = env.ludus_env(
        &["submit", s(&dir), &target, "--build-portable"],
        &[("LUDUS_BUILD_PORTABLE", s(&fails))],
        60,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("fails.sh failed"), "{err}");
    assert!(err.contains("zig: not found"), "{err}");
    nothing_submitted();

    // A script that builds the unrunnable binary: refused after the upload, before sbatch.
    crate::support::tree::fake_tool(
        &scripts,
        "old.sh",
        &format!("echo compiling\necho {}\n", bad.display()),
    );
    let (code, _, err) = env.ludus_env(
        &["submit", s(&dir), &target, "--build-portable"],
        &[("LUDUS_BUILD_PORTABLE", s(&scripts.join("old.sh")))],
        60,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("does not run there"), "{err}");
    nothing_submitted();

    // A script honouring the contract (the binary's path as its last line): uploaded, checked
    // and run.
    let good = env.sshd.dir.path().join("ludus-portable");
    std::fs::copy(env!("CARGO_BIN_EXE_ludus"), &good).expect("copy");
    crate::support::tree::fake_tool(
        &scripts,
        "good.sh",
        &format!("echo 'Finished release'\necho {}\n", good.display()),
    );
    let (code, out, err) = env.ludus_env(
        &[
            "submit",
            s(&dir),
            &target,
            "--build-portable",
            "--wait",
            "--interval",
            "0.5",
        ],
        &[("LUDUS_BUILD_PORTABLE", s(&scripts.join("good.sh")))],
        120,
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(status(&dir)["done"].as_u64(), Some(2));
    assert_eq!(
        std::fs::read(remote.join(".ludus/bin/ludus")).expect("uploaded"),
        std::fs::read(&good).expect("good")
    );
    assert_eq!(
        submissions(&dir)["submissions"][0]["options"]["ludus_binary"].as_str(),
        Some(s(&good))
    );
}

#[test]
fn the_early_signal_reaches_ludus_as_the_batch_shell_before_the_limit() {
    // `--signal=B:TERM@S` signals the batch shell, which is ludus itself (the script `exec`s
    // it): its running instances are recorded `interrupted` and the job ends before its
    // two-minute limit (SLURM's own SIGTERM at the limit would come at 120 s or later).
    let env = Env::new();
    let dir = env.plan("signal", 4, 2_000_000_000);
    // The script asks for it (checked below with the same signal given by hand, because a limit
    // long enough for the script's own line takes minutes).
    let (code, script, err) = env.ludus(
        &[
            "submit",
            s(&dir),
            &env.target("signal"),
            "--time",
            "10",
            "--dry-run",
        ],
        30,
    );
    assert_eq!(code, 0, "{err}");
    assert!(script.contains("#SBATCH --signal=B:TERM@60\n"), "{script}");
    let ludus = env!("CARGO_BIN_EXE_ludus");
    let t0 = Instant::now();
    let (code, out, err) = env.ludus(
        &[
            "submit",
            s(&dir),
            &env.target("signal"),
            "--remote-ludus",
            ludus,
            "--tasks",
            "1",
            "--time",
            "2",
            "--sbatch-arg=--signal=B:TERM@90",
        ],
        60,
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let job = job_of(&dir, 0);
    while !env.slurm.queue(&job).is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(200),
            "the job did not end"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let took = t0.elapsed();
    assert!(
        took < Duration::from_secs(115),
        "the job ran {took:?}: the signal did not stop ludus before the limit"
    );
    let st = status(&env.sshd.remote_dir("signal"));
    assert!(st["interrupted"].as_u64() >= Some(1), "{st}");
    assert_eq!(st["done"].as_u64(), Some(0), "{st}");
}

/// `ludus` in a fresh folder: plans `spec` (TOML text) and returns the planned folder.
fn plan_text(tmp: &Path, spec: &str) -> (i32, PathBuf, String) {
    let file = tmp.join("gpu.toml");
    std::fs::write(&file, spec).expect("spec");
    let out_dir = tmp.join("gpu");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ludus"))
        .arg("plan")
        .arg(&file)
        .arg("--out")
        .arg(&out_dir)
        .output()
        .expect("plan");
    (
        out.status.code().unwrap_or(-1),
        out_dir,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn dry_run(dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ludus"))
        .arg("submit")
        .arg(dir)
        .arg("cluster:/scratch/gpu")
        .args(extra)
        .arg("--dry-run")
        .output()
        .expect("submit");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn spec_resources_become_the_job_scripts_sbatch_options() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (code, dir, err) = plan_text(
        tmp.path(),
        "seeds = 2\nresources = { cpus = 2, time = \"2h\" }\n\
         [[experiment]]\nname = \"train\"\ncommand = [\"true\"]\n\
         resources = { gpus = 1, mem = \"8G\" }\n",
    );
    assert_eq!(code, 0, "{err}");
    let (code, script, err) = dry_run(&dir, &[]);
    assert_eq!(code, 0, "{err}");
    for line in [
        "#SBATCH --gres=gpu:1\n",
        "#SBATCH --cpus-per-task=2\n",
        "#SBATCH --mem=8G\n",
        "#SBATCH --time=120\n",
    ] {
        assert!(script.contains(line), "{line} missing:\n{script}");
    }
    // The command line overrides the spec.
    let (code, script, err) = dry_run(
        &dir,
        &["--time", "30", "--gpus", "2", "--cpus-per-task", "1"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(script.contains("#SBATCH --time=30\n"), "{script}");
    assert!(script.contains("#SBATCH --gres=gpu:2\n"), "{script}");
    assert!(script.contains("#SBATCH --cpus-per-task=1\n"), "{script}");
}

#[test]
fn instances_needing_different_resources_are_refused_and_bad_resources_name_the_line() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (code, dir, err) = plan_text(
        tmp.path(),
        "seeds = 1\n\
         [[experiment]]\nname = \"big\"\ncommand = [\"true\"]\nresources = { gpus = 1 }\n\
         [[experiment]]\nname = \"small\"\ncommand = [\"false\"]\n",
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = dry_run(&dir, &[]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("different resources"), "{err}");
    assert!(err.contains("experiment `big` need { gpus = 1 }"), "{err}");
    assert!(
        err.contains("experiment `small` need no resources"),
        "{err}"
    );

    let (code, _, err) = plan_text(
        tmp.path(),
        "seeds = 1\n[[experiment]]\nname = \"x\"\ncommand = [\"true\"]\n\
         resources = { gpus = 1, mem = \"lots\" }\n",
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("experiment[0].resources.mem"), "{err}");
    assert!(err.contains(":5"), "{err}");
    let (code, _, err) = plan_text(
        tmp.path(),
        "seeds = 1\nresources = { cpus = 0 }\n[[experiment]]\nname = \"x\"\ncommand = [\"true\"]\n",
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("resources.cpus"), "{err}");
}
