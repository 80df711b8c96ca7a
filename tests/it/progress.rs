//! Progress while instances run: plain heartbeat lines with the running instances' steps
//! (before any instance finishes), and interrupted instances not counted as finished.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::{Dir, run};

/// PSRL on River Swim for 1e8 steps: minutes even in a release build, interrupted long before.
const SLOW: &str = r#"
name = "slow"
seeds = 1
steps = 100000000
log_every = 500

[[agent]]
name = "psrl"

[[mdp]]
family = "river_swim"
"#;

/// The steps of the running instances in a heartbeat line (`..., 1 running at 12.3k/1.00M
/// steps, ...`).
fn running_steps(line: &str) -> Option<f64> {
    let rest = line.split(" running at ").nth(1)?;
    let n = rest.split('/').next()?;
    let (num, mult) = match n.chars().last()? {
        'k' => (&n[..n.len() - 1], 1e3),
        'M' => (&n[..n.len() - 1], 1e6),
        _ => (n, 1.0),
    };
    num.parse::<f64>().ok().map(|x| x * mult)
}

#[cfg(unix)]
#[test]
fn plain_heartbeat_shows_growing_steps_before_anything_finishes_and_sigint_is_not_finished() {
    let d = Dir::new();
    d.write("s.toml", SLOW);
    let (code, _, err) = run(d.ludus().args(["plan", "s.toml", "--out", "ex"]));
    assert_eq!(code, 0, "{err}");
    let mut child = d
        .ludus()
        .args([
            "run-instances",
            "ex",
            "--progress",
            "plain",
            "--progress-every",
            "1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let mut steps_seen: Vec<f64> = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(120) {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) else {
            continue;
        };
        if line.contains("run-instances: 0/1 finished")
            && let Some(s) = running_steps(&line)
        {
            steps_seen.push(s);
        }
        lines.push(line);
        if steps_seen.len() >= 2 && steps_seen.last() > steps_seen.first() {
            break;
        }
    }
    let growing = steps_seen.len() >= 2 && steps_seen.last() > steps_seen.first();
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    reader.join().unwrap();
    lines.extend(rx.try_iter());
    let all = lines.join("\n");
    assert!(
        growing,
        "no heartbeat with growing steps while the instance ran: {steps_seen:?}\n{all}"
    );
    // Heartbeats name the running instance and say ETA, never a made-up 0s before anything
    // is known.
    assert!(all.contains("(psrl on river_swim"), "{all}");
    assert_eq!(status.code(), Some(1), "{all}");
    let summary = lines
        .iter()
        .find(|l| l.starts_with("ludus: 1 selected"))
        .unwrap_or_else(|| panic!("no summary: {all}"));
    assert!(
        summary.contains("0 done") && summary.contains("1 interrupted"),
        "{summary}"
    );
    // No progress line ever counted the interrupted instance as finished.
    assert!(!all.contains("1/1 finished"), "{all}");
}
