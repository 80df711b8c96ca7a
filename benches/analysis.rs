//! Benchmark: `select-best` and `report` over a synthetic sweep (by default 20,000 instance logs
//! of 200 rows: 4 agents x 10 configurations x 50 MDPs x 10 seeds), run through the release
//! binary, with wall time and peak memory (max RSS of the child process). The baseline,
//! measured in the same run, is reading every byte of every log once, single-threaded.
//!
//! `cargo bench --bench analysis` (env: `LUDUS_BENCH_SEEDS` to scale the sweep, `LUDUS_BENCH_DIR`
//! to keep the generated folder).
#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn max_rss_children_mb() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    ru.ru_maxrss as f64 / 1024.0
}

fn binary() -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--bin", "ludus"])
        .status()
        .expect("cargo build");
    assert!(status.success());
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    Path::new(env!("CARGO_MANIFEST_DIR")).join(target).join("release/ludus")
}

/// Runs a command in a fresh process and returns (seconds, its own peak RSS in MB). Each
/// measurement runs in its own `sh` wrapper so RUSAGE_CHILDREN is that command's alone.
fn measure(bin: &Path, args: &[&str]) -> (f64, f64) {
    let t = Instant::now();
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(r#""$0" "$@" >/dev/null; code=$?; [ $code -le 1 ] || exit $code"#)
        .arg(bin)
        .args(args)
        .output()
        .expect("run ludus");
    let secs = t.elapsed().as_secs_f64();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (secs, max_rss_children_mb())
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
    println!("generated {n} logs x {rows} rows in {:.1} s", t.elapsed().as_secs_f64());
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
        ("select-best", measure(&bin, &["select-best", &d, "--out", &best])),
        ("report", measure(&bin, &["report", &d, "--out", &out])),
        ("report --no-plots", measure(&bin, &["report", &d, "--out", &out, "--no-plots"])),
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
