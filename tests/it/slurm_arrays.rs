//! Several arrays in one submission, against the real single-node SLURM of `support/slurm.rs`
//! reached through the test sshd: a spec whose two `[[experiment]]`s need different resources
//! is submitted as two arrays, each job script with its own options, each instance run by the
//! array of its resources; with `--retries`, one follow-up job after both arrays resubmits each
//! with its own unfinished instances. And a cluster with `MaxArraySize=4` and `MaxJobCount=10`
//! runs a 63-instance folder by splitting it into several arrays and packing the tasks. When
//! sbatch refuses a later array, the ones already submitted are cancelled and nothing recorded;
//! every array counts as the folder's for refusing a second submit and for `cancel`.
//! The programs sleep (no CPU-sized work), so the tests do not depend on the machine's load.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::slurm::{Env, s, status, submissions};
use crate::support::slurm::Slurm;

/// Plans `spec` (TOML) as `name` in the test's local folder.
fn plan_spec(env: &Env, name: &str, spec: &str) -> PathBuf {
    let d = env.sshd.dir.path().join("local");
    std::fs::create_dir_all(&d).expect("mkdir");
    let file = d.join(format!("{name}.toml"));
    std::fs::write(&file, spec).expect("spec");
    let out_dir = d.join(name);
    let out = env
        .sshd
        .ludus()
        .arg("plan")
        .arg(&file)
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

/// An experiment whose program fails the first time it runs for a seed (leaving a marker) and,
/// the next time, sleeps a little and writes `$SLURM_CPUS_PER_TASK $SLURM_ARRAY_JOB_ID` beside it.
fn experiment(name: &str, markers: &Path, resources: &str) -> String {
    flaky_experiment(
        name,
        markers,
        resources,
        "sleep 0.5; echo $SLURM_CPUS_PER_TASK $SLURM_ARRAY_JOB_ID",
    )
}

/// An experiment whose program fails the first time it runs for a seed (leaving a marker) and,
/// the next time, runs `record` (shell) with its output beside the marker (`.ran`).
pub(crate) fn flaky_experiment(
    name: &str,
    markers: &Path,
    resources: &str,
    record: &str,
) -> String {
    format!(
        "[[experiment]]\nname = \"{name}\"\nresources = {resources}\n\
         command = [\"sh\", \"-c\", \"m={m}/{name}-$1; if [ -e $m ]; then {record} > $m.ran; else touch $m; exit 3; fi\", \"x\", \"{{seed}}\"]\n",
        m = markers.display()
    )
}

#[test]
fn two_experiments_of_different_resources_run_as_two_arrays_and_retry_each() {
    let env = Env::new();
    let markers = env.sshd.dir.path().join("markers");
    std::fs::create_dir_all(&markers).expect("mkdir");
    let spec = format!(
        "name = \"two\"\nseeds = 3\n{}{}",
        experiment("narrow", &markers, "{ cpus = 1, time = \"10m\" }"),
        experiment(
            "wide",
            &markers,
            "{ cpus = 2, mem = \"1M\", time = \"20m\" }"
        ),
    );
    let dir = plan_spec(&env, "two", &spec);
    let ludus = env!("CARGO_BIN_EXE_ludus");

    // The dry run shows both scripts.
    let (code, scripts, err) = env.ludus(&["submit", s(&dir), &env.target("two"), "--dry-run"], 30);
    assert_eq!(code, 0, "{err}");
    assert_eq!(scripts.matches("#!/bin/bash\n").count(), 2, "{scripts}");
    assert!(err.contains("6 pending instances"), "{err}");
    assert!(err.contains("in 2 arrays"), "{err}");

    // Every instance fails once (its marker is new), then succeeds when the follow-up job of
    // --retries resubmits each array with its own unfinished instances.
    let (code, out, err) = env.ludus(
        &[
            "submit",
            s(&dir),
            &env.target("two"),
            "--remote-ludus",
            ludus,
            "--retries",
            "1",
            "--retry-errors",
            "--wait",
            "--interval",
            "0.5",
        ],
        240,
    );
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    // One line per array: its job, instances, tasks and resources.
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("submitted job"))
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].contains("array 1 of 2): 3 instances in 3 array tasks")
            && lines[0].contains("{ cpus = 1, time = \"10\" }"),
        "{out}"
    );
    assert!(
        lines[1].contains("array 2 of 2): 3 instances in 3 array tasks")
            && lines[1].contains("{ cpus = 2, mem = \"1M\", time = \"20\" }"),
        "{out}"
    );
    assert!(out.contains("follow-up job"), "{out}");
    assert!(err.contains("attempt 2: array 1: job"), "{err}");
    assert!(err.contains("attempt 2: array 2: job"), "{err}");
    assert_eq!(status(&dir)["done"].as_u64(), Some(6));

    // Both arrays are recorded, each with its own script and options.
    let rec = submissions(&dir);
    let sub = &rec["submissions"][0];
    let arrays = sub["arrays"].as_array().expect("arrays");
    assert_eq!(arrays.len(), 2, "{rec}");
    let script = |i: usize| arrays[i]["script"].as_str().expect("script").to_string();
    for (i, lines) in [
        (0, ["#SBATCH --cpus-per-task=1\n", "#SBATCH --time=10\n"]),
        (1, ["#SBATCH --cpus-per-task=2\n", "#SBATCH --time=20\n"]),
    ] {
        for line in lines {
            assert!(script(i).contains(line), "{line} missing:\n{}", script(i));
        }
    }
    assert!(script(1).contains("#SBATCH --mem=1M\n"), "{}", script(1));
    assert!(!script(0).contains("--mem"), "{}", script(0));
    assert!(script(0).contains(".ludus/jobs/1-1.ids"), "{}", script(0));
    assert!(script(1).contains(".ludus/jobs/1-2.ids"), "{}", script(1));
    // The command line's own options are what is kept for resubmit (not the spec's).
    assert_eq!(sub["options"]["cpus_per_task"], 0, "{sub}");
    // Four attempts' lines: each array once by submit, once by the follow-up job.
    let attempts = sub["attempts"].as_array().expect("attempts");
    let seen: Vec<(u64, u64)> = attempts
        .iter()
        .map(|a| {
            (
                a["attempt"].as_u64().unwrap_or(0),
                a["array"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(seen, [(1, 1), (1, 2), (2, 1), (2, 2)], "{sub}");

    // `status` shows the submission's arrays.
    let out = std::process::Command::new(ludus)
        .arg("status")
        .arg(&dir)
        .output()
        .expect("status");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("submission 1 to "), "{text}");
    assert!(text.contains(": 2 arrays, 2 attempts"), "{text}");
    for (i, a) in arrays.iter().enumerate() {
        let line = format!(
            "  array {}: job {}, 3 instances in 3 tasks, {}",
            i + 1,
            a["job_id"].as_str().expect("job"),
            a["resources"].as_str().expect("resources")
        );
        assert!(text.contains(&line), "{line} missing:\n{text}");
    }

    // Each instance ran in the array of its resources: SLURM gave it that many CPUs, in a job
    // of the second attempt of its own array.
    for (name, cpus, array) in [("narrow", "1", 1), ("wide", "2", 2)] {
        let job = attempts
            .iter()
            .find(|a| a["attempt"] == 2 && a["array"] == array)
            .and_then(|a| a["job_id"].as_str())
            .expect("second attempt");
        for seed in 0..3 {
            let ran = markers.join(format!("{name}-{seed}.ran"));
            let text =
                std::fs::read_to_string(&ran).unwrap_or_else(|e| panic!("{}: {e}", ran.display()));
            let w: Vec<&str> = text.split_whitespace().collect();
            assert_eq!(w.first(), Some(&cpus), "{name} seed {seed}: {text}");
            assert_eq!(w.get(1), Some(&job), "{name} seed {seed}: {text}");
        }
    }
}

#[test]
fn a_small_cluster_splits_a_63_instance_folder_into_arrays_and_packs_the_rest() {
    // Three tasks per array (indices below 4) and fewer than ten job records at once: 63 tasks
    // would need 21 arrays and 63 jobs, so the 63 instances run in 9 tasks (packed) spread
    // over 3 arrays (split).
    let slurm = Arc::new(Slurm::start_with("MaxArraySize=4\nMaxJobCount=10\n"));
    let env = Env::on(slurm, None);
    let spec = "name = \"many\"\nseeds = 63\n[[experiment]]\nname = \"nap\"\n\
                command = [\"sleep\", \"0.1\"]\n";
    let dir = plan_spec(&env, "many", spec);
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
        240,
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("fewer than 10 jobs at once (MaxJobCount)"),
        "{out}"
    );
    assert!(
        out.contains("63 pending instances run in 9 array tasks of up to 7 each"),
        "{out}"
    );
    assert!(out.contains("MaxArraySize is 4"), "{out}");
    assert!(
        out.contains("run in 3 arrays of up to 3 tasks (9 tasks of up to 7 instances each)"),
        "{out}"
    );
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("submitted job"))
            .count(),
        3,
        "{out}"
    );
    assert!(!err.contains("Invalid job array"), "{err}");
    assert_eq!(status(&dir)["done"].as_u64(), Some(63));
    let rec = submissions(&dir);
    let arrays = rec["submissions"][0]["arrays"].as_array().expect("arrays");
    let tasks: Vec<u64> = arrays.iter().filter_map(|a| a["tasks"].as_u64()).collect();
    assert_eq!(tasks, [3, 3, 3], "{rec}");
    let instances: u64 = arrays.iter().filter_map(|a| a["instances"].as_u64()).sum();
    assert_eq!(instances, 63, "{rec}");
    for a in arrays {
        let script = a["script"].as_str().expect("script");
        let t = a["tasks"].as_u64().expect("tasks");
        assert!(
            script.contains(&format!("#SBATCH --array=1-{t}\n")),
            "{script}"
        );
    }
}

#[test]
fn an_array_sbatch_refuses_cancels_the_arrays_already_submitted_and_records_nothing() {
    // The test cluster has no GPUs: the second group's `--gres=gpu:1` is refused by sbatch
    // after the first group's array was submitted.
    let env = Env::new();
    let spec = "name = \"gpu\"\nseeds = 2\n\
                [[experiment]]\nname = \"cpu\"\ncommand = [\"sleep\", \"30\"]\n\
                [[experiment]]\nname = \"gpu\"\ncommand = [\"sleep\", \"30\"]\nresources = { gpus = 1 }\n";
    let dir = plan_spec(&env, "gpu", spec);
    let ludus = env!("CARGO_BIN_EXE_ludus");
    let (code, out, err) = env.ludus(
        &[
            "submit",
            s(&dir),
            &env.target("gpu"),
            "--remote-ludus",
            ludus,
        ],
        120,
    );
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("sbatch refused the job"), "{err}");
    assert!(err.to_ascii_lowercase().contains("gres"), "{err}");
    let cancelled = err
        .lines()
        .find_map(|l| l.strip_prefix("the jobs already submitted ("))
        .and_then(|l| l.split(')').next())
        .unwrap_or_else(|| panic!("no cancelled jobs named: {err}"))
        .to_string();
    assert!(err.contains("were cancelled"), "{err}");
    assert!(!dir.join(".ludus/submissions.json").exists());
    let t0 = std::time::Instant::now();
    while !env.slurm.queue(&cancelled).is_empty() {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(30),
            "job {cancelled} is still queued: {:?}",
            env.slurm.queue(&cancelled)
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn a_held_two_array_submission_refuses_a_second_submit_and_cancel_ends_both_arrays() {
    let env = Env::new();
    let spec = "name = \"held2\"\nseeds = 2\n\
                [[experiment]]\nname = \"one\"\ncommand = [\"sleep\", \"1\"]\nresources = { cpus = 1 }\n\
                [[experiment]]\nname = \"two\"\ncommand = [\"sleep\", \"1\"]\nresources = { cpus = 2 }\n";
    let dir = plan_spec(&env, "held2", spec);
    let ludus = env!("CARGO_BIN_EXE_ludus");
    let target = env.target("held2");
    let args = [
        "submit",
        s(&dir),
        &target,
        "--remote-ludus",
        ludus,
        "--sbatch-arg=--hold",
    ];
    let (code, out, err) = env.ludus(&args, 60);
    assert_eq!(code, 0, "{out}\n{err}");
    let rec = submissions(&dir);
    let jobs: Vec<String> = rec["submissions"][0]["arrays"]
        .as_array()
        .expect("arrays")
        .iter()
        .map(|a| a["job_id"].as_str().expect("job").to_string())
        .collect();
    assert_eq!(jobs.len(), 2, "{rec}");
    for j in &jobs {
        assert_eq!(env.slurm.queue(j).len(), 2, "{:?}", env.slurm.queue(j));
    }
    // The second array counts as the folder's too: a new submit is refused.
    env.slurm.ok("scancel", &[&jobs[0]]);
    let t0 = std::time::Instant::now();
    while !env.slurm.queue(&jobs[0]).is_empty() {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(30),
            "scancel did not empty the queue"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let (code, _, err) = env.ludus(&args, 60);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("job {} of this folder", jobs[1])),
        "{err}"
    );
    // cancel ends the arrays still queued.
    let (code, out, err) = env.ludus(&["cancel", s(&dir)], 60);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&jobs[1]), "{out}");
    let t0 = std::time::Instant::now();
    while jobs.iter().any(|j| !env.slurm.queue(j).is_empty()) {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(30),
            "scancel did not empty the queue"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
