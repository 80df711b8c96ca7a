//! The time limit and interrupts act within about a second whatever the agent does: PSRL on
//! continuous Taxi (640 states) spends seconds in one episode end (posterior sampling and
//! extended value iteration), and its planning loops check the clock and the stop flag.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{Dir, run};

fn taxi_psrl(steps: u64, extra: &str) -> String {
    format!(
        r#"
name = "slow"
seeds = 1
steps = {steps}
log_every = 500
{extra}

[[agent]]
name = "psrl"

[[mdp]]
family = "taxi"
"#
    )
}

fn status(d: &Dir) -> serde_json::Value {
    let logs = d.join("ex/logs");
    for e in std::fs::read_dir(&logs).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") && !name.starts_with('.') {
            return serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
        }
    }
    panic!("no status in {}", logs.display());
}

#[test]
fn slow_agent_freezes_within_a_second_of_its_time_limit_and_runs_every_step() {
    let d = Dir::new();
    d.write("s.toml", &taxi_psrl(5_000, "time_limit = \"5s\""));
    let (code, _, err) = run(d.ludus().args(["plan", "s.toml", "--out", "ex"]));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(d.ludus().args(["run-instances", "ex"]));
    assert_eq!(code, 0, "{err}");
    let v = status(&d);
    assert_eq!(v["status"], "timeout", "{v}");
    assert_eq!(v["steps_completed"], 5_000, "{v}");
    let stopped = v["learning_stopped_at"]
        .as_u64()
        .expect("learning_stopped_at");
    assert!(stopped < 5_000, "{v}");
    // The loop's own clock at the last row: steps / steps_per_second.
    let csv = std::fs::read_to_string(d.join(format!("ex/logs/{}.csv", v["id"].as_str().unwrap())))
        .unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let last: Vec<f64> = csv
        .lines()
        .last()
        .unwrap()
        .split(',')
        .map(|x| x.parse().unwrap())
        .collect();
    let col = |n: &str| last[header.iter().position(|h| *h == n).unwrap()];
    assert_eq!(col("steps"), 5_000.0);
    assert_eq!(col("is_training"), 0.0);
    let elapsed = col("steps") / col("steps_per_second");
    // The limit plus the latency of the freeze plus the frozen steps (a debug build on a
    // shared machine: a generous bound; before the planning loops checked the clock, the
    // first episode end alone ran past a minute).
    assert!(
        elapsed > 5.0 && elapsed < 7.0,
        "the run took {elapsed:.2} s with a 5 s limit"
    );
}

#[cfg(unix)]
#[test]
fn sigint_mid_planning_ends_run_instances_within_two_seconds() {
    let d = Dir::new();
    d.write("s.toml", &taxi_psrl(1_000_000, ""));
    let (code, _, err) = run(d.ludus().args(["plan", "s.toml", "--out", "ex"]));
    assert_eq!(code, 0, "{err}");
    let child = d
        .ludus()
        .args(["run-instances", "ex"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let t = Instant::now();
    let out = child.wait_with_output().unwrap();
    let took = t.elapsed();
    assert!(
        took < Duration::from_millis(2500),
        "SIGINT took {took:?} to act: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1));
    let v = status(&d);
    assert_eq!(v["status"], "interrupted", "{v}");
}
