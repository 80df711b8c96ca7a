//! Containment of a program's whole process tree: workers in the background, a double-forked
//! `setsid` daemon and a child in its own process group end with their instance (at its time
//! limit) and with their `ludus` (a SIGKILL: the next run ends them before it re-runs the
//! instance). Each test runs in both modes: a cgroup per instance (this machine runs the tests
//! as root) and the subreaper with environment tokens (`LUDUS_CONTAIN=subreaper`).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{Dir, run};

/// Starts three kinds of escaping workers, each appending "junk" rows to the metrics and
/// writing its pid to `runs/<id>/pids`: a `bash -c` with background children, a double fork
/// with `setsid`, and a child that calls `setpgid(0, 0)`.
const ESCAPERS: &str = r#"
import os, subprocess, sys, time
run = os.environ["LUDUS_RUN_DIR"]
metrics = os.environ["LUDUS_METRICS"]
pids = os.path.join(run, "pids")
def writer():
    with open(pids, "a") as f:
        f.write(f"{os.getpid()}\n")
    while True:
        with open(metrics, "a") as f:
            f.write("junk\n")
        time.sleep(0.05)
def escape():
    subprocess.Popen(["bash", "-c", f"(while true; do echo junk >> {metrics}; sleep 0.05; done) & echo $! >> {pids}; wait"])
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            writer()
        os._exit(0)
    if os.fork() == 0:
        os.setpgid(0, 0)
        writer()
    # Wait until the three have written their pids.
    while not os.path.exists(pids) or len(open(pids).read().split()) < 3:
        time.sleep(0.02)
"#;

/// True while the process runs (a zombie is not running).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(s) => !s
            .rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z')),
    }
}

fn pids(run_dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(run_dir.join("pids"))
        .unwrap_or_default()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

fn only_run_dir(x: &Path) -> std::path::PathBuf {
    let dirs: Vec<_> = std::fs::read_dir(x.join("runs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap() != "params")
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

fn ludus(d: &Dir, mode: &str) -> std::process::Command {
    let mut c = d.ludus();
    if mode == "subreaper" {
        c.env("LUDUS_CONTAIN", "subreaper");
    } else {
        c.env_remove("LUDUS_CONTAIN");
    }
    c
}

fn sigkill_then_rerun(mode: &str) {
    let d = Dir::new();
    d.write(
        "p.py",
        &format!(
            "{ESCAPERS}\nif not os.path.exists(os.path.join(run, 'started')):\n    open(os.path.join(run, 'started'), 'w').close()\n    escape()\n    time.sleep(1000)\nwith open(metrics, 'w') as f:\n    f.write('step\\n')\nfor i in range(1, 6):\n    with open(metrics, 'a') as f:\n        f.write(f'{{i}}\\n')\n    time.sleep(0.1)\n"
        ),
    );
    d.write(
        "s.toml",
        "name = \"c\"\nseeds = 1\n[[experiment]]\nname = \"p\"\ncommand = [\"python3\", \"p.py\"]\n",
    );
    let (code, _, err) = run(d.ludus().args(["plan", "s.toml", "--out", "x"]));
    assert_eq!(code, 0, "{err}");
    let x = d.join("x");
    let mut child = ludus(&d, mode)
        .args(["run-instances", "x", "--progress", "none"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let run_dir = loop {
        if let Ok(rd) = std::fs::read_dir(x.join("runs"))
            && let Some(r) = rd.flatten().map(|e| e.path()).find(|p| pids(p).len() >= 3)
        {
            break r;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the workers never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let escaped = pids(&run_dir);
    assert_eq!(escaped.len(), 3);
    assert!(
        escaped.iter().all(|&p| alive(p)),
        "{mode}: the workers outlive a SIGKILLed ludus until the next run: {escaped:?}"
    );
    let (code, _, err) = run(ludus(&d, mode).args(["run-instances", "x", "--progress", "none"]));
    assert_eq!(code, 0, "{mode}: {err}");
    for p in &escaped {
        assert!(!alive(*p), "{mode}: worker {p} survived the re-run");
    }
    assert_eq!(only_run_dir(&x), run_dir);
    let id = run_dir.file_name().unwrap().to_string_lossy().into_owned();
    let csv = std::fs::read_to_string(x.join(format!("logs/{id}.csv"))).unwrap();
    assert_eq!(
        csv, "step\n1\n2\n3\n4\n5\n",
        "{mode}: the re-run's log is its own"
    );
}

#[test]
fn after_sigkill_the_next_run_ends_the_workers_first_with_a_cgroup() {
    sigkill_then_rerun("cgroup");
}

#[test]
fn after_sigkill_the_next_run_ends_the_workers_first_as_subreaper() {
    sigkill_then_rerun("subreaper");
}

fn time_limit_ends_everything(mode: &str) {
    let d = Dir::new();
    // A header first: the escapers' lines are then rows of a text column, which ludus reads.
    d.write(
        "p.py",
        &format!(
            "{ESCAPERS}\nwith open(metrics, 'w') as f:\n    f.write('note\\n')\nescape()\ntime.sleep(1000)\n"
        ),
    );
    d.write(
        "s.toml",
        "name = \"c\"\nseeds = 1\ntime_limit = \"6s\"\n[[experiment]]\nname = \"p\"\ncommand = [\"python3\", \"p.py\"]\n",
    );
    let (code, _, err) = run(d.ludus().args(["plan", "s.toml", "--out", "x"]));
    assert_eq!(code, 0, "{err}");
    let t = Instant::now();
    let (_, _, err) =
        run(ludus(&d, mode).args(["run-instances", "x", "--progress", "none", "--grace", "1s"]));
    assert!(err.contains("1 timeout"), "{mode}: {err}");
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    let run_dir = only_run_dir(&d.join("x"));
    let escaped = pids(&run_dir);
    assert_eq!(escaped.len(), 3, "{mode}");
    for p in &escaped {
        assert!(!alive(*p), "{mode}: worker {p} survived the time limit");
    }
}

#[test]
fn a_setsid_daemon_does_not_survive_the_time_limit_with_a_cgroup() {
    time_limit_ends_everything("cgroup");
}

#[test]
fn a_setsid_daemon_does_not_survive_the_time_limit_as_subreaper() {
    time_limit_ends_everything("subreaper");
}
