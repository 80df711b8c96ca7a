//! Benchmark: `ludus plan` of a 100,000-instance spec into a fresh folder (target: < 5 s and
//! < 300 MB peak memory on 2 cores), against the floor measured in the same run: a bare loop
//! writing the same number of files of the same size with the same temp + rename.
//!
//! Run with `cargo bench --bench plan` (or `scripts/bench.sh`).
#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::process::Command;
use std::time::Instant;

fn peak_rss_children_mb() -> f64 {
    // SAFETY: getrusage fills the struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    ru.ru_maxrss as f64 / 1024.0
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    // 100 agent configs x 100 MDP configs x 10 seeds = 100,000 instances.
    let spec = r#"
name = "big"
seeds = 10
steps = 1000
log_every = 100
[[agent]]
name = "q_learning"
grid = { h_weight = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1], span_approx_weight = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0] }
[[mdp]]
family = "river_swim"
grid = { size = [5, 6, 7, 8, 9, 10, 11, 12, 13, 14], p_rand = [0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09] }
"#;
    let spec_path = dir.path().join("big.toml");
    std::fs::write(&spec_path, spec).expect("write spec");
    let out = dir.path().join("out");

    let t = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_ludus"))
        .args(["plan"])
        .arg(&spec_path)
        .arg("--out")
        .arg(&out)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("ludus runs");
    let ludus_s = t.elapsed().as_secs_f64();
    // (stderr is silenced above; run `ludus plan` on the spec by hand to see an error)
    assert!(status.success(), "ludus plan failed");
    let rss = peak_rss_children_mb();
    let files: Vec<_> = std::fs::read_dir(out.join("instances"))
        .expect("instances")
        .collect();
    assert_eq!(files.len(), 100_000);
    let size = std::fs::metadata(files[0].as_ref().expect("entry").path())
        .expect("meta")
        .len() as usize;

    // The floor: the same number of files, same size, same temp + rename, no work at all.
    let floor_dir = dir.path().join("floor");
    std::fs::create_dir_all(&floor_dir).expect("mkdir");
    let bytes = vec![7u8; size];
    let t = Instant::now();
    for i in 0..100_000u64 {
        let p = floor_dir.join(format!("{i:016x}.bin"));
        let tmp = floor_dir.join(format!(".{i:016x}.bin.tmp"));
        std::fs::write(&tmp, &bytes).expect("write");
        std::fs::rename(&tmp, &p).expect("rename");
    }
    let floor_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_ludus"))
        .args(["plan"])
        .arg(&spec_path)
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("ludus runs");
    assert!(status.success());
    let replan_s = t.elapsed().as_secs_f64();

    println!(
        "plan 100,000 instances: {ludus_s:.2} s, peak RSS {rss:.0} MB (targets: < 5 s, < 300 MB)"
    );
    println!("floor (bare write+rename of 100,000 files of {size} B, one thread): {floor_s:.2} s");
    println!("ratio ludus / floor: {:.2}x", ludus_s / floor_s);
    println!("re-plan (nothing to write): {replan_s:.2} s");
}
