//! `ludus run-instances`, `status` and `reset` with real processes, real signals, real files.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Dir, run};

fn spec(steps: u64, seeds: u64, extra: &str) -> String {
    format!(
        r#"
name = "t"
seeds = {seeds}
steps = {steps}
log_every = {log_every}
{extra}

[[agent]]
name = "q_learning"
grid = {{ h_weight = [0.1, 0.5] }}

[[agent]]
name = "psrl"

[[agent]]
name = "random"

[[mdp]]
family = "river_swim"
params = {{ size = 5 }}
grid = {{ p_rand = [0.0, 0.1] }}
"#,
        log_every = steps / 10
    )
}

fn plan(d: &Dir, text: &str, out: &str) {
    d.write("s.toml", text);
    let (code, _, err) = run(d.ludus().args(["plan", "s.toml", "--out", out]));
    assert_eq!(code, 0, "{err}");
}

/// Every status in a folder: id -> (status, steps_completed).
fn statuses(dir: &Path) -> BTreeMap<String, (String, u64)> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir.join("logs")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(id) = name.strip_suffix(".json") {
            if name.starts_with('.') {
                continue;
            }
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(e.path()).unwrap())
                .unwrap_or_else(|e| panic!("{name}: a status that does not parse: {e}"));
            out.insert(
                id.to_string(),
                (
                    v["status"].as_str().unwrap().to_string(),
                    v["steps_completed"].as_u64().unwrap(),
                ),
            );
        }
    }
    out
}

fn manifest_ids(dir: &Path) -> Vec<String> {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    m["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// A log without its timing column, checked for shape: header, complete rows, last step.
#[track_caller]
fn log_without_timing(path: &Path, steps: u64) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let timing = header.iter().position(|c| *c == "steps_per_second");
    let mut rows = Vec::new();
    let mut last_step = 0.0;
    for l in lines {
        let cells: Vec<&str> = l.split(',').collect();
        assert_eq!(
            cells.len(),
            header.len(),
            "{}: a short row: {l}",
            path.display()
        );
        last_step = cells[0].parse::<f64>().expect("numeric steps");
        rows.push(
            cells
                .iter()
                .enumerate()
                .filter(|(i, _)| Some(*i) != timing)
                .map(|(_, c)| *c)
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    assert_eq!(
        last_step as u64,
        steps,
        "{}: the log stops before the last step",
        path.display()
    );
    rows
}

#[test]
fn runs_everything_then_skips_finished() {
    let d = Dir::new();
    plan(&d, &spec(2000, 2, ""), "ex");
    let ids = manifest_ids(&d.join("ex"));
    assert_eq!(ids.len(), 16);
    let (code, _, err) = run(d.ludus().args(["run-instances", "ex", "--jobs", "2"]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("16 selected: 16 done, 0 skipped"), "{err}");
    let st = statuses(&d.join("ex"));
    assert_eq!(st.len(), 16);
    for id in &ids {
        assert_eq!(st[id], ("done".to_string(), 2000), "{id}");
        log_without_timing(&d.join(format!("ex/logs/{id}.csv")), 2000);
    }
    let (code, _, err) = run(d.ludus().args(["run-instances", "ex"]));
    assert_eq!(code, 0);
    assert!(err.contains("16 selected: 0 done, 16 skipped"), "{err}");
    let (code, out, _) = run(d.ludus().args(["status", "ex", "--json"]));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["total"], 16);
    assert_eq!(v["done"], 16);
    assert_eq!(v["pending"], 0);
}

#[test]
fn same_logs_whatever_the_thread_count() {
    let d = Dir::new();
    plan(&d, &spec(3000, 2, ""), "a");
    plan(&d, &spec(3000, 2, ""), "b");
    assert_eq!(
        run(d.ludus().args(["run-instances", "a", "--jobs", "1"])).0,
        0
    );
    assert_eq!(
        run(d.ludus().args(["run-instances", "b", "--jobs", "2"])).0,
        0
    );
    for id in manifest_ids(&d.join("a")) {
        let a = log_without_timing(&d.join(format!("a/logs/{id}.csv")), 3000);
        let b = log_without_timing(&d.join(format!("b/logs/{id}.csv")), 3000);
        assert_eq!(a, b, "{id}: logs differ between --jobs 1 and --jobs 2");
    }
}

#[test]
fn groups_cover_everything_once() {
    let d = Dir::new();
    plan(&d, &spec(500, 3, ""), "ex");
    let ids = manifest_ids(&d.join("ex"));
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut before = 0;
    for k in 1..=3 {
        let (code, _, err) =
            run(d
                .ludus()
                .args(["run-instances", "ex", "--group", &format!("{k}/3")]));
        assert_eq!(code, 0, "{err}");
        let st = statuses(&d.join("ex"));
        let new = st.len() - before;
        before = st.len();
        assert!(
            new == ids.len() / 3 || new == ids.len() / 3 + 1,
            "group {k} ran {new}"
        );
        for id in st.keys() {
            *seen.entry(id.clone()).or_default() += 1;
        }
    }
    assert_eq!(statuses(&d.join("ex")).len(), ids.len());
    // The SLURM variables choose the same groups (here a 0-based array).
    let d2 = Dir::new();
    plan(&d2, &spec(500, 3, ""), "ex");
    for task in 0..3 {
        let (code, _, err) = run(d2
            .ludus()
            .args(["run-instances", "ex"])
            .env("SLURM_ARRAY_TASK_ID", task.to_string())
            .env("SLURM_ARRAY_TASK_COUNT", "3")
            .env("SLURM_ARRAY_TASK_MIN", "0"));
        assert_eq!(code, 0, "{err}");
        assert!(err.contains("8 selected"), "{err}");
    }
    assert_eq!(statuses(&d2.join("ex")).len(), ids.len());
    let (code, _, err) = run(d.ludus().args(["run-instances", "ex", "--group", "4/3"]));
    assert_eq!(code, 2);
    assert!(err.contains("groups are numbered 1 to 3"), "{err}");
}

#[test]
fn sigkill_at_random_moments_then_rerun_finishes_each_once() {
    let d = Dir::new();
    plan(&d, &spec(60_000, 3, ""), "ex");
    let ids = manifest_ids(&d.join("ex"));
    // Deterministic "random" kill times, different on every round.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for round in 0..5 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let wait = Duration::from_millis(30 + x % 400);
        let mut child = d
            .ludus()
            .args(["run-instances", "ex", "--jobs", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(wait);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Whatever is visible under a real name is whole.
        for (id, (status, steps)) in statuses(&d.join("ex")) {
            assert_eq!(status, "done", "round {round}: {id}");
            log_without_timing(&d.join(format!("ex/logs/{id}.csv")), steps);
        }
    }
    let (code, _, err) = run(d.ludus().args(["run-instances", "ex", "--jobs", "2"]));
    assert_eq!(code, 0, "{err}");
    let st = statuses(&d.join("ex"));
    assert_eq!(st.len(), ids.len());
    assert!(st.values().all(|(s, n)| s == "done" && *n == 60_000));
    // Exactly one log and one status per instance under real names; nothing else but hidden
    // temporary files of killed attempts.
    for e in std::fs::read_dir(d.join("ex/logs")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let id = name.split('.').next().unwrap();
        assert!(ids.iter().any(|i| i == id), "unexpected file {name}");
    }
    let results = std::fs::read_dir(d.join("ex/logs"))
        .unwrap()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .count();
    assert_eq!(results, 2 * ids.len());
}

#[cfg(unix)]
#[test]
fn sigterm_marks_running_instances_interrupted_and_exits_nonzero() {
    let d = Dir::new();
    plan(&d, &spec(50_000_000, 1, ""), "ex");
    let child = d
        .ludus()
        .args(["run-instances", "ex", "--jobs", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1600));
    let (_, out, _) = run(d.ludus().args(["status", "ex", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let running = v["running"].as_u64().unwrap();
    assert!((1..=2).contains(&running), "two workers are busy: {v}");
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let t = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "SIGTERM took too long to act"
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let st = statuses(&d.join("ex"));
    let interrupted: Vec<_> = st.iter().filter(|(_, (s, _))| s == "interrupted").collect();
    assert!(!interrupted.is_empty(), "{st:?}");
    for (id, (_, steps)) in &interrupted {
        assert!(*steps < 50_000_000);
        // What was logged before the signal is kept.
        assert!(d.join(format!("ex/logs/{id}.csv")).exists());
    }
    let (_, out, _) = run(d.ludus().args(["status", "ex", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["done"].as_u64().unwrap()
            + v["pending"].as_u64().unwrap()
            + v["interrupted"].as_u64().unwrap(),
        8
    );
}

#[test]
fn time_limit_freezes_learning_and_still_runs_every_step() {
    let d = Dir::new();
    plan(&d, &spec(2_000_000, 1, "time_limit = \"0.2s\""), "ex");
    let (code, _, err) = run(d.ludus().args(["run-instances", "ex", "--jobs", "2"]));
    assert_eq!(code, 0, "timeouts count as finished: {err}");
    let mut timeouts = 0;
    for e in std::fs::read_dir(d.join("ex/logs")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".json") {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
        assert_eq!(v["steps_completed"], 2_000_000);
        if v["status"] == "timeout" {
            timeouts += 1;
            let at = v["learning_stopped_at"]
                .as_u64()
                .expect("the step where learning stopped");
            assert!(at > 0 && at < 2_000_000);
        }
    }
    assert!(timeouts > 0, "no instance hit a 0.2 s limit over 2M steps");
    assert!(err.contains("timeout"), "{err}");
}

#[test]
fn unreadable_instance_is_reported_and_others_run() {
    let d = Dir::new();
    plan(&d, &spec(500, 1, ""), "ex");
    let ids = manifest_ids(&d.join("ex"));
    let broken = d.join(format!("ex/instances/{}.bin", ids[0]));
    let bytes = std::fs::read(&broken).unwrap();
    std::fs::write(&broken, &bytes[..bytes.len() / 2]).unwrap();
    let (code, _, err) = run(d.ludus().args(["run-instances", "ex"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("{}.bin: truncated", ids[0])), "{err}");
    assert_eq!(statuses(&d.join("ex")).len(), ids.len() - 1);
}

#[test]
fn errors_are_rerun_only_when_asked_and_reset_moves_logs_aside() {
    let d = Dir::new();
    plan(&d, &spec(500, 1, ""), "ex");
    assert_eq!(run(d.ludus().args(["run-instances", "ex"])).0, 0);
    let ids = manifest_ids(&d.join("ex"));
    // Turn one result into an error, as a failed run would have left it.
    let p = d.join(format!("ex/logs/{}.json", ids[0]));
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("\"done\"", "\"error\"");
    std::fs::write(&p, text).unwrap();
    let (code, _, err) = run(d.ludus().args(["run-instances", "ex"]));
    assert_eq!(
        code, 1,
        "an old error is not re-run, and not a success either: {err}"
    );
    assert!(err.contains("0 done"), "{err}");
    assert!(err.contains("1 skipped ended in error before"), "{err}");
    let (code, _, err) = run(d.ludus().args(["run-instances", "ex", "--retry-errors"]));
    assert!(err.contains("1 done"), "{err}");
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = run(d.ludus().args(["reset", "ex", "--status", "done"]));
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("reset {} instances", ids.len())),
        "{out}"
    );
    assert!(statuses(&d.join("ex")).is_empty());
    let attic = walkdir::WalkDir::new(d.join("ex/attic"))
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .count();
    assert_eq!(attic, 2 * ids.len(), "reset deletes nothing");
}

#[test]
fn single_files_and_bin_folders_are_accepted() {
    let d = Dir::new();
    plan(&d, &spec(500, 1, ""), "ex");
    let ids = manifest_ids(&d.join("ex"));
    let one = format!("ex/instances/{}.bin", ids[1]);
    let (code, _, err) = run(d.ludus().args(["run-instances", &one]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(statuses(&d.join("ex")).len(), 1);
    let (code, _, err) = run(d.ludus().args(["run-instances", "ex/instances"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(statuses(&d.join("ex")).len(), ids.len());
    // A loose folder of .bin files is its own experiment folder: logs go to loose/logs/.
    std::fs::create_dir_all(d.join("loose")).unwrap();
    for id in &ids[..2] {
        std::fs::copy(
            d.join(format!("ex/instances/{id}.bin")),
            d.join(format!("loose/{id}.bin")),
        )
        .unwrap();
    }
    let (code, _, err) = run(d.ludus().args(["run-instances", "loose"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(statuses(&d.join("loose")).len(), 2);
    let (code, _, err) = run(d.ludus().args(["run-instances", "nowhere"]));
    assert_eq!(code, 2);
    assert!(err.contains("nowhere: no such file or folder"), "{err}");
}

/// Runs `mpirun` as the tests need it (root is allowed; CI runs as root).
fn mpirun(np: u32) -> Command {
    let mut c = Command::new("mpirun");
    c.args(["--oversubscribe", "-np", &np.to_string()])
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    c
}

/// The figure after `key` in a summary line (`requests at 3.2 us` -> 3.2 for "requests at ").
#[cfg(feature = "mpi")]
fn figure_after(line: &str, key: &str) -> f64 {
    let i = line
        .find(key)
        .unwrap_or_else(|| panic!("no {key:?} in {line}"))
        + key.len();
    line[i..]
        .split_whitespace()
        .next()
        .and_then(|w| w.trim_end_matches('%').parse().ok())
        .unwrap_or_else(|| panic!("no number after {key:?} in {line}"))
}

#[cfg(feature = "mpi")]
#[test]
fn mpi_any_rank_count_matches_the_local_run() {
    let d = Dir::new();
    plan(&d, &spec(3000, 2, ""), "local");
    assert_eq!(
        run(d.ludus().args(["run-instances", "local", "--jobs", "1"])).0,
        0
    );
    let ids = manifest_ids(&d.join("local"));
    assert_eq!(ids.len(), 16);
    for np in [1u32, 2, 3, 5] {
        let out = format!("mpi{np}");
        plan(&d, &spec(3000, 2, ""), &out);
        let (code, _, err) = run(mpirun(np).current_dir(d.path()).args([
            env!("CARGO_BIN_EXE_ludus"),
            "run-instances",
            "--mpi",
            &out,
            "--progress",
            "none",
        ]));
        assert_eq!(code, 0, "-np {np}: {err}");
        assert!(err.contains("16 selected: 16 done"), "-np {np}: {err}");
        let mut ranks = std::collections::BTreeMap::<u64, usize>::new();
        for id in &ids {
            let a = log_without_timing(&d.join(format!("local/logs/{id}.csv")), 3000);
            let b = log_without_timing(&d.join(format!("{out}/logs/{id}.csv")), 3000);
            assert_eq!(a, b, "-np {np}, {id}: MPI and local logs differ");
            let v: serde_json::Value = serde_json::from_slice(
                &std::fs::read(d.join(format!("{out}/logs/{id}.json"))).unwrap(),
            )
            .unwrap();
            *ranks.entry(v["rank"].as_u64().unwrap()).or_default() += 1;
        }
        assert!(
            ranks.keys().all(|r| *r < u64::from(np)),
            "-np {np}: ranks {ranks:?}"
        );
        // Rank 0's coordination figures: every other rank asks at least once (to learn that
        // the queue is empty), and rank 0 received exactly the results of the other ranks.
        let line = err.lines().find(|l| l.contains(" selected: ")).unwrap();
        if np == 1 {
            assert!(!line.contains("coordination"), "{line}");
            continue;
        }
        assert!(
            ranks.len() >= 2,
            "-np {np}: the work was not shared across ranks: {ranks:?}"
        );
        assert!(
            figure_after(line, "busy ") < 100.0
                && figure_after(line, "requests at ") > 0.0
                && figure_after(line, "results at ") > 0.0,
            "{line}"
        );
        let requests = line.split(" requests at").next().unwrap();
        let requests: u64 = requests.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(requests >= u64::from(np - 1), "-np {np}: {line}");
        let results = line.split(" results at").next().unwrap();
        let results: usize = results.rsplit(' ').next().unwrap().parse().unwrap();
        let others: usize = ranks.iter().filter(|(r, _)| **r != 0).map(|(_, n)| n).sum();
        assert_eq!(results, others, "-np {np}: {line}; ranks {ranks:?}");
    }
    // A second MPI run skips everything.
    let (code, _, err) = run(mpirun(2).current_dir(d.path()).args([
        env!("CARGO_BIN_EXE_ludus"),
        "run-instances",
        "--mpi",
        "mpi3",
        "--progress",
        "none",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("16 skipped"), "{err}");
}

#[cfg(not(feature = "mpi"))]
#[test]
fn mpi_flag_without_the_feature_says_how_to_get_it() {
    let d = Dir::new();
    plan(&d, &spec(500, 1, ""), "ex");
    let (code, _, err) = run(d.ludus().args(["run-instances", "--mpi", "ex"]));
    assert_eq!(code, 2);
    assert!(err.contains("--features mpi"), "{err}");
    let _ = mpirun;
}
