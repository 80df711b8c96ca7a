//! MPI with the real `mpirun` (cargo feature `mpi`). `submit --mpi` against the real
//! single-node SLURM of `support/slurm.rs`, reached through the test sshd: a spec whose two
//! `[[experiment]]`s need different resources becomes one MPI job per resource group (each of
//! `--ntasks` tasks with its group's `--cpus-per-task` and `--time`, no `--array`), the
//! `mpirun` inside each job shares its group's instances over both ranks with `--jobs` from
//! the group's CPUs, and with `--retries` the follow-up job resubmits each MPI job with its own
//! unfinished instances. And under `mpirun -np 2`, rank 0's progress lines show the instances
//! running on rank 1. The programs sleep (no CPU-sized work), so the tests do not depend on
//! the machine's load.

#![cfg(feature = "mpi")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use crate::slurm::{Env, s, status, submissions};
use crate::slurm_arrays::flaky_experiment;
use crate::support::slurm::Slurm;
use crate::support::sshd::{Sshd, SshdOptions};
use crate::support::{Dir, run};

/// mpirun refuses to run as root unless told (the suite runs as root in CI).
const MPI_AS_ROOT: [(&str, &str); 2] = [
    ("OMPI_ALLOW_RUN_AS_ROOT", "1"),
    ("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"),
];

/// An experiment whose program fails the first time it runs for a seed (leaving a marker)
/// and, the next time, sleeps and writes `$SLURM_CPUS_PER_TASK $SLURM_JOB_ID
/// $OMPI_COMM_WORLD_RANK` beside it.
fn experiment(name: &str, markers: &Path, resources: &str) -> String {
    flaky_experiment(
        name,
        markers,
        resources,
        "sleep 2; echo $SLURM_CPUS_PER_TASK $SLURM_JOB_ID $OMPI_COMM_WORLD_RANK",
    )
}

#[test]
fn mpi_submit_runs_one_mpi_job_per_resource_group_and_retries_each() {
    let slurm = Slurm::shared();
    let mut env: Vec<(String, String)> =
        vec![("SLURM_CONF".into(), slurm.conf.display().to_string())];
    env.extend(MPI_AS_ROOT.map(|(k, v)| (k.to_string(), v.to_string())));
    let env = Env {
        slurm,
        sshd: Sshd::start_with(SshdOptions {
            env,
            ..Default::default()
        }),
    };
    let markers = env.sshd.dir.path().join("markers");
    std::fs::create_dir_all(&markers).expect("mkdir");
    let spec = format!(
        "name = \"mpi2\"\nseeds = 3\n{}{}",
        experiment("narrow", &markers, "{ cpus = 1, time = \"10m\" }"),
        experiment("wide", &markers, "{ cpus = 2, time = \"20m\" }"),
    );
    let local = env.sshd.dir.path().join("local");
    std::fs::create_dir_all(&local).expect("mkdir");
    std::fs::write(local.join("mpi2.toml"), spec).expect("spec");
    let dir = local.join("mpi2");
    let (code, _, err) = env.ludus(&["plan", s(&local.join("mpi2.toml")), "--out", s(&dir)], 30);
    assert_eq!(code, 0, "{err}");
    // The MPI build of this test run, already on the "cluster" (the same machine).
    let ludus = env!("CARGO_BIN_EXE_ludus");

    // Every instance fails once (its marker is new), then succeeds when the follow-up job of
    // --retries resubmits each MPI job with its own unfinished instances.
    let (code, out, err) = env.ludus(
        &[
            "submit",
            s(&dir),
            &env.target("mpi2"),
            "--mpi",
            "--ntasks",
            "2",
            "--remote-ludus",
            ludus,
            "--retries",
            "1",
            "--retry-errors",
            "--wait",
            "--interval",
            "0.5",
        ],
        300,
    );
    let slurm_out = || {
        let d = env.sshd.remote_dir("mpi2").join(".ludus/slurm");
        let mut text = String::new();
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            text += &format!(
                "== {}\n{}\n",
                e.path().display(),
                std::fs::read_to_string(e.path()).unwrap_or_default()
            );
        }
        text
    };
    assert_eq!(
        code,
        0,
        "stdout: {out}\nstderr: {err}\nSLURM output:\n{}",
        slurm_out()
    );
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("submitted job"))
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].contains("array 1 of 2)") && lines[0].contains("{ cpus = 1, time = \"10\" }"),
        "{out}"
    );
    assert!(
        lines[1].contains("array 2 of 2)") && lines[1].contains("{ cpus = 2, time = \"20\" }"),
        "{out}"
    );
    assert!(err.contains("attempt 2: array 1: job"), "{err}");
    assert!(err.contains("attempt 2: array 2: job"), "{err}");
    assert_eq!(status(&dir)["done"].as_u64(), Some(6), "{}", slurm_out());

    // Each group's job script: one MPI job of 2 tasks with the group's CPUs and time limit.
    let rec = submissions(&dir);
    let sub = &rec["submissions"][0];
    let arrays = sub["arrays"].as_array().expect("arrays");
    assert_eq!(arrays.len(), 2, "{rec}");
    for (i, cpus, time) in [(0, 1, 10), (1, 2, 20)] {
        let script = arrays[i]["script"].as_str().expect("script");
        for line in [
            "#SBATCH --ntasks=2\n".to_string(),
            format!("#SBATCH --cpus-per-task={cpus}\n"),
            format!("#SBATCH --time={time}\n"),
            format!(".ludus/jobs/1-{}.ids", i + 1),
            "exec mpirun ".to_string(),
            " run-instances --mpi ".to_string(),
        ] {
            assert!(script.contains(&line), "{line:?} missing:\n{script}");
        }
        assert!(!script.contains("--array"), "{script}");
    }
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

    // Each instance ran in the second attempt's MPI job of its own group, with that group's
    // CPUs, and both ranks of each job ran some.
    for (name, cpus, array) in [("narrow", "1", 1), ("wide", "2", 2)] {
        let job = attempts
            .iter()
            .find(|a| a["attempt"] == 2 && a["array"] == array)
            .and_then(|a| a["job_id"].as_str())
            .expect("second attempt");
        let mut ranks = BTreeSet::new();
        for seed in 0..3 {
            let ran = markers.join(format!("{name}-{seed}.ran"));
            let text =
                std::fs::read_to_string(&ran).unwrap_or_else(|e| panic!("{}: {e}", ran.display()));
            let w: Vec<&str> = text.split_whitespace().collect();
            assert_eq!(w.len(), 3, "{name} seed {seed}: {text}");
            assert_eq!(w[0], cpus, "{name} seed {seed}: {text}");
            assert_eq!(w[1], job, "{name} seed {seed}: {text}");
            ranks.insert(w[2].to_string());
        }
        assert_eq!(
            ranks,
            BTreeSet::from(["0".to_string(), "1".to_string()]),
            "{name}: ranks"
        );
    }
}

#[test]
fn rank_0s_progress_lines_show_the_instances_running_on_rank_1() {
    let d = Dir::new();
    d.write(
        "s.toml",
        "seeds = 2\n[[experiment]]\nname = \"nap\"\ncommand = [\"sleep\", \"4\"]\n",
    );
    let (code, _, err) = run(d.ludus().args(["plan", "s.toml", "--out", "out"]));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(Command::new("mpirun")
        .args(["--oversubscribe", "-np", "2"])
        .envs(MPI_AS_ROOT)
        .arg(env!("CARGO_BIN_EXE_ludus"))
        .args([
            "run-instances",
            "--mpi",
            "out",
            "--progress",
            "plain",
            "--progress-every",
            "1",
        ])
        .current_dir(d.path()));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("2 selected: 2 done"), "{err}");

    // Where each instance ran: one on each rank (rank 1's first chunk is handed out unasked).
    let mut rank_of = BTreeMap::new();
    for e in std::fs::read_dir(d.join("out/logs"))
        .expect("logs")
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(id) = name.strip_suffix(".json") {
            let v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(e.path()).expect("status")).expect("json");
            rank_of.insert(v["rank"].as_u64().expect("rank"), id.to_string());
        }
    }
    assert_eq!(rank_of.len(), 2, "{rank_of:?}");
    let on_1 = &rank_of[&1];
    // A heartbeat line of rank 0 (the only rank that prints them) shows both running, rank
    // 1's by its id and label, and the rank.
    let beats: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("run-instances: ") && l.contains("; running: "))
        .collect();
    assert!(
        beats.iter().any(|l| l.contains(", 2 running")
            && l.split("; running: ").nth(1).is_some_and(|r| {
                r.split("; ").any(|p| {
                    p.starts_with(&format!("{on_1} (nap seed ")) && p.contains(", rank 1) ")
                })
            })),
        "no heartbeat shows {on_1} running on rank 1:\n{err}"
    );
    // The summary counts those reports and what they cost rank 0.
    let summary = err
        .lines()
        .find(|l| l.contains(" selected: "))
        .expect("summary");
    let reports: u64 = summary
        .split(" progress reports at ")
        .next()
        .and_then(|h| h.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no progress reports in: {summary}"));
    assert!(reports >= 1, "{summary}");
}
