//! Benchmarks of `ludus run-instances` (run with `cargo bench --bench run_instances`, add
//! `--features mpi` for the MPI figure), each against a baseline measured in the same run:
//!
//! (a) framework overhead per tiny instance: 20,000 instances of 100 steps through the real
//!     binary, minus the same instances computed in-process with no files at all (the floor);
//!     target under 100 us per instance;
//! (b) scaling on CPU-bound instances: `--jobs 2` against `--jobs 1`; target at least 1.8x;
//! (c) with the `mpi` feature: `mpirun -np 2` against `-np 1`; target at least 1.7x.
#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use ludus::model::Registry;
use ludus::run::{LogSink, RunControl, run_instance};

struct Discard;

impl LogSink for Discard {
    fn columns(&mut self, _: &[&str]) -> std::io::Result<()> {
        Ok(())
    }
    fn row(&mut self, _: &[f64]) -> std::io::Result<()> {
        Ok(())
    }
}

fn spec(seeds: u64, steps: u64, log_every: u64) -> String {
    format!(
        r#"
name = "bench"
seeds = {seeds}
steps = {steps}
log_every = {log_every}
[[agent]]
name = "q_learning"
[[mdp]]
family = "river_swim"
params = {{ size = 5 }}
"#
    )
}

fn ludus(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ludus"));
    c.current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

fn plan(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(format!("{name}.toml")), text).expect("spec");
    let ok = ludus(dir)
        .args(["plan", &format!("{name}.toml"), "--out", name])
        .status()
        .expect("ludus runs")
        .success();
    assert!(ok, "plan failed");
}

fn timed(c: &mut Command) -> f64 {
    let t = Instant::now();
    let ok = c.status().expect("runs").success();
    assert!(ok, "{c:?} failed");
    t.elapsed().as_secs_f64()
}

fn main() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();

    // (a) Overhead per tiny instance.
    let n = 20_000u64;
    plan(dir, "tiny", &spec(n, 100, 50));
    let ludus_s = timed(ludus(dir).args(["run-instances", "tiny", "--jobs", "2"]));
    let registry = Registry::builtin();
    let sel = ludus::exec::Selection::resolve(&[dir.join("tiny")]).expect("selection");
    let instances: Vec<_> = sel
        .items
        .iter()
        .map(|it| ludus::store::read_instance_file(&sel.instance_path(*it)).expect("instance"))
        .collect();
    let flag = AtomicBool::new(false);
    let ctl = RunControl {
        time_limit: None,
        kill_after: None,
        interrupt: &flag,
    };
    let t = Instant::now();
    for inst in &instances {
        run_instance(inst, &registry, &ctl, &mut Discard).expect("runs");
    }
    // The floor runs on one core; ludus had two.
    let floor_s = t.elapsed().as_secs_f64() / 2.0;
    let per = (ludus_s - floor_s) / n as f64 * 1e6;
    // The file floor: what the disk alone costs per instance for the same files (read the
    // instance, write a log and a status, each to a temporary name then renamed), two threads.
    let logs = dir.join("tiny/logs");
    let files: Vec<_> = sel
        .items
        .iter()
        .map(|it| (sel.instance_path(*it), it.id))
        .collect();
    let t = Instant::now();
    std::thread::scope(|scope| {
        for half in files.chunks(files.len().div_ceil(2)) {
            let logs = &logs;
            scope.spawn(move || {
                for (bin, id) in half {
                    let _ = std::fs::read(bin).expect("read");
                    for (ext, size) in [("csv", 700), ("json", 900)] {
                        let fin = logs.join(format!("floor-{id}.{ext}"));
                        let tmp = logs.join(format!(".floor-{id}.{ext}.tmp"));
                        std::fs::write(&tmp, vec![b'x'; size]).expect("write");
                        std::fs::rename(&tmp, &fin).expect("rename");
                    }
                }
            });
        }
    });
    let files_s = t.elapsed().as_secs_f64();
    println!(
        "(a) {n} instances of 100 steps: ludus {ludus_s:.2} s, compute floor {floor_s:.2} s (2 cores) -> framework overhead {per:.0} us per instance (target < 100 us)"
    );
    println!(
        "    of which the disk floor (same file operations, bare, 2 threads): {:.0} us per instance; ludus overhead beyond it: {:.0} us",
        files_s / n as f64 * 1e6,
        per - files_s / n as f64 * 1e6
    );

    // (b) Scaling on CPU-bound instances.
    plan(dir, "cpu1", &spec(8, 40_000_000, 2_000_000));
    plan(dir, "cpu2", &spec(8, 40_000_000, 2_000_000));
    let one = timed(ludus(dir).args(["run-instances", "cpu1", "--jobs", "1"]));
    let two = timed(ludus(dir).args(["run-instances", "cpu2", "--jobs", "2"]));
    println!(
        "(b) 8 CPU-bound instances: --jobs 1 {one:.2} s, --jobs 2 {two:.2} s -> {:.2}x (target >= 1.8x)",
        one / two
    );

    // (c) MPI scaling.
    if cfg!(feature = "mpi") {
        plan(dir, "mpi1", &spec(8, 40_000_000, 2_000_000));
        plan(dir, "mpi2", &spec(8, 40_000_000, 2_000_000));
        let mpirun = |np: &str, folder: &str| {
            let mut c = Command::new("mpirun");
            c.current_dir(dir)
                .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
                .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
                .args([
                    "--oversubscribe",
                    "-np",
                    np,
                    env!("CARGO_BIN_EXE_ludus"),
                    "run-instances",
                    "--mpi",
                    folder,
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            c
        };
        let one = timed(&mut mpirun("1", "mpi1"));
        let two = timed(&mut mpirun("2", "mpi2"));
        println!(
            "(c) mpirun -np 1 {one:.2} s, -np 2 {two:.2} s -> {:.2}x (target >= 1.7x)",
            one / two
        );
    } else {
        println!("(c) skipped: build with --features mpi for the MPI figure");
    }
}
