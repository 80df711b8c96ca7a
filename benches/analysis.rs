//! Benchmark: `select-best` and `report` over a synthetic sweep (by default 20,000 instance logs
//! of 200 rows: 4 agents x 10 configurations x 50 MDPs x 10 seeds), run through the release
//! binary, with wall time and peak memory (max RSS of the child process). The baseline,
//! measured in the same run, is reading every byte of every log once, single-threaded.
//!
//! `cargo bench --bench analysis` (env: `LUDUS_BENCH_SEEDS` to scale the sweep, `LUDUS_BENCH_DIR`
//! to keep the generated folder).
#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

#[path = "../tests/it/support/common.rs"]
mod common;
#[path = "../tests/it/support/instance.rs"]
mod instance;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn binary() -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--bin", "ludus"])
        .status()
        .expect("cargo build");
    assert!(status.success());
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(target)
        .join("release/ludus")
}

/// Runs a command and returns (seconds, its peak RSS in MB), from `wait4` on that child.
#[allow(clippy::zombie_processes, reason = "wait4 below reaps the child")]
fn measure(bin: &Path, args: &[&str]) -> (f64, f64) {
    let t = Instant::now();
    let child = Command::new(bin)
        .args(args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("run ludus");
    let mut status = 0;
    // SAFETY: wait4 writes only into the two values passed; the child is ours and not yet
    // waited for.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut ru) };
    let secs = t.elapsed().as_secs_f64();
    assert!(pid > 0, "wait4 failed");
    let code = libc::WEXITSTATUS(status);
    assert!(
        libc::WIFEXITED(status) && code <= 1,
        "{args:?} exited with {code}"
    );
    (secs, ru.ru_maxrss as f64 / 1024.0)
}

fn main() {
    let seeds: u64 = std::env::var("LUDUS_BENCH_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let (agents, configs, mdps, rows) = (4, 10, 50, 200);
    let n = agents * configs * mdps * seeds as usize;
    let keep = std::env::var_os("LUDUS_BENCH_DIR").map(PathBuf::from);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = keep.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let t = Instant::now();
    if !dir.join("logs").is_dir() {
        common::write_sweep(&dir, agents, configs, mdps, seeds, rows);
    }
    println!(
        "generated {n} logs x {rows} rows in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let bin = binary();

    // Baseline: read every byte once.
    let t = Instant::now();
    let mut bytes = 0u64;
    for e in std::fs::read_dir(dir.join("logs")).expect("logs") {
        let p = e.expect("entry").path();
        bytes += std::fs::read(&p).map(|b| b.len() as u64).unwrap_or(0);
    }
    let base = t.elapsed().as_secs_f64();
    println!(
        "baseline: read all {:.0} MB of logs once: {base:.3} s",
        bytes as f64 / 1e6
    );

    let d = dir.to_string_lossy().to_string();
    let best = dir.join("best.toml").to_string_lossy().to_string();
    let out = dir.join("report").to_string_lossy().to_string();
    let rows_out = [
        (
            "select-best",
            measure(&bin, &["select-best", &d, "--out", &best]),
        ),
        ("report", measure(&bin, &["report", &d, "--out", &out])),
        (
            "report --no-plots",
            measure(&bin, &["report", &d, "--out", &out, "--no-plots"]),
        ),
    ];
    println!("| command ({n} logs x {rows} rows) | wall s | x baseline | peak RSS MB |");
    println!("|---|---:|---:|---:|");
    for (name, (secs, rss)) in rows_out {
        println!("| {name} | {secs:.2} | {:.1} | {rss:.0} |", secs / base);
    }
    if keep.is_none() {
        drop(tmp);
    }
}
