//! Benchmarks of `ludus run-instances` (run with `cargo bench --bench run_instances`, add
//! `--features mpi` for the MPI figure), each against a baseline measured in the same run:
//!
//! (a) framework overhead per tiny instance: 20,000 instances of 100 steps through the real
//!     binary, minus the same instances computed in-process with no files at all (the floor);
//!     target under 100 us per instance;
//! (b) scaling on CPU-bound instances: `--jobs 2` against `--jobs 1`; target at least 1.8x;
//! (c) with the `mpi` feature: `mpirun -np 2` against `-np 1`; target at least 1.7x;
//! (d) with the `mpi` feature: rank 0's cost per request and per result, measured with real
//!     MPI (16 ranks oversubscribed on this machine, short instances), then a queue model of
//!     1,000 ranks with 1 ms instances fed with those costs and the executor's own chunk rule;
//!     target: rank 0 busy under half its time, overall and in every 10 ms window.
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

/// `mpirun --oversubscribe -np NP ludus run-instances --mpi FOLDER`, output discarded.
fn mpirun(dir: &Path, np: &str, folder: &str) -> Command {
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
}

fn main() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();

    // RUN_INSTANCES_PARTS=bcd (say) runs only those parts; all of them by default.
    let parts = std::env::var("RUN_INSTANCES_PARTS").unwrap_or_else(|_| "abcd".into());
    if parts.contains('a') {
        part_a(dir);
    }
    // (b) Scaling on CPU-bound instances.
    if parts.contains('b') {
        plan(dir, "cpu1", &spec(8, 40_000_000, 2_000_000));
        plan(dir, "cpu2", &spec(8, 40_000_000, 2_000_000));
        let one = timed(ludus(dir).args(["run-instances", "cpu1", "--jobs", "1"]));
        let two = timed(ludus(dir).args(["run-instances", "cpu2", "--jobs", "2"]));
        println!(
            "(b) 8 CPU-bound instances: --jobs 1 {one:.2} s, --jobs 2 {two:.2} s -> {:.2}x (target >= 1.8x)",
            one / two
        );
    }

    // (c) MPI scaling.
    if cfg!(feature = "mpi") && parts.contains('c') {
        plan(dir, "mpi1", &spec(8, 40_000_000, 2_000_000));
        plan(dir, "mpi2", &spec(8, 40_000_000, 2_000_000));
        let one = timed(&mut mpirun(dir, "1", "mpi1"));
        let two = timed(&mut mpirun(dir, "2", "mpi2"));
        println!(
            "(c) mpirun -np 1 {one:.2} s, -np 2 {two:.2} s -> {:.2}x (target >= 1.7x)",
            one / two
        );
    }
    if cfg!(feature = "mpi") && parts.contains('d') {
        // (d) Rank 0's costs, measured, then the model.
        plan(dir, "coord", &spec(8000, 2000, 1000));
        let out = mpirun(dir, "16", "coord")
            .stderr(Stdio::piped())
            .output()
            .expect("mpirun runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "mpirun -np 16 failed: {err}");
        let line = err
            .lines()
            .find(|l| l.contains("rank 0 coordination"))
            .unwrap_or_else(|| panic!("no coordination figures in: {err}"));
        let after = |key: &str| -> f64 {
            let i = line.find(key).expect("figure") + key.len();
            line[i..]
                .split_whitespace()
                .next()
                .and_then(|w| w.trim_end_matches('%').parse().ok())
                .expect("a number")
        };
        let (busy, req, res) = (after("busy "), after("requests at "), after("results at "));
        println!(
            "(d) mpirun --oversubscribe -np 16, 8,000 instances of 2,000 steps: rank 0 busy {busy:.1}% of the run; {req:.1} us per request, {res:.2} us per result (measured; includes preemption on this shared machine)"
        );
        for (latency_us, min_rule) in [(5.0, true), (50.0, true), (5.0, false)] {
            let m = model::run(&model::Params {
                ranks: 1000,
                instances: 1_000_000,
                instance_us: 1000.0,
                request_us: req,
                result_us: res,
                latency_us,
                min_chunk_rule: min_rule,
            });
            println!(
                "    model, 1,000 ranks, 1,000,000 instances of 0.5-1.5 ms, latency {latency_us} us{}: makespan {:.3} s (ideal {:.3} s), rank 0 busy {:.1}% overall, {:.1}% in the busiest 10 ms (from {:.2} s), over half busy during {:.2} s, {} requests, longest queue {} (target < 50%)",
                if min_rule {
                    ""
                } else {
                    ", chunks down to 1 (no smallest-chunk rule)"
                },
                m.makespan_s,
                m.ideal_s,
                100.0 * m.busy_overall,
                100.0 * m.busy_peak,
                m.peak_at_s,
                m.over_half_s,
                m.requests,
                m.max_queue,
            );
        }
    }
    if !cfg!(feature = "mpi") {
        println!("(c), (d) skipped: build with --features mpi for the MPI figures");
    }
}

/// (a) Overhead per tiny instance.
fn part_a(dir: &Path) {
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
}

/// A discrete-event model of the MPI executor's queue: rank 0 is one server answering requests
/// first come, first served; each request costs the measured cost per request plus the
/// measured cost per result it carries; chunks follow the executor's rule
/// (`ludus::exec::mpi::chunk_size` and `min_chunk`, fed with the costs and instance times
/// "measured" so far, as rank 0 does). Every rank runs one instance at a time, sends its
/// results with its next request (or after a second), and stops at an empty chunk.
mod model {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    use std::time::Duration;

    pub struct Params {
        pub ranks: usize,
        pub instances: usize,
        pub instance_us: f64,
        pub request_us: f64,
        pub result_us: f64,
        pub latency_us: f64,
        pub min_chunk_rule: bool,
    }

    pub struct Outcome {
        pub makespan_s: f64,
        pub ideal_s: f64,
        pub busy_overall: f64,
        pub busy_peak: f64,
        /// When the busiest window starts.
        pub peak_at_s: f64,
        /// Time in windows where rank 0 is busy more than half.
        pub over_half_s: f64,
        pub requests: u64,
        pub max_queue: usize,
    }

    /// Messages to rank 0: (arrival time, rank, results carried, their wall time in all, is a
    /// request), earliest first.
    type Events = BinaryHeap<Reverse<(u64, usize, u64, u64, bool)>>;

    /// Instance times: uniform in [0.5, 1.5] x the mean, from a fixed xorshift sequence.
    struct Times(u64);
    impl Times {
        fn next(&mut self, mean_ns: f64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            let u = (self.0 >> 11) as f64 / (1u64 << 53) as f64;
            (mean_ns * (0.5 + u)) as u64
        }
    }

    pub fn run(p: &Params) -> Outcome {
        const FLUSH_NS: u64 = 1_000_000_000;
        const WINDOW_NS: u64 = 10_000_000;
        let ns = |us: f64| (us * 1000.0) as u64;
        let (req_ns, res_ns, lat_ns) = (ns(p.request_us), ns(p.result_us), ns(p.latency_us));
        let mut times = Times(0x9E37_79B9_7F4A_7C15);
        // Events: messages to rank 0 (time, rank, results carried, their wall time in all, is
        // a request). Ranks from 1 start with their first chunks (unasked, as in the
        // executor); rank 0's workers start by asking (through a channel in the executor,
        // charged here as a request: pessimistic).
        let mut events: Events = BinaryHeap::new();
        events.push(Reverse((0, 0, 0, 0, true)));
        let first = ludus::exec::mpi::first_chunks(p.instances, p.ranks);
        let mut left = p.instances - first.last().map_or(0, |r| r.end);
        let run_chunk =
            |times: &mut Times, events: &mut Events, rank: usize, from: u64, chunk: usize| {
                // The rank runs the chunk, flushing results every second, then asks again.
                let mut t = from;
                let mut flushed = t;
                let (mut unsent, mut unsent_ns) = (0u64, 0u64);
                for _ in 0..chunk {
                    let d = times.next(p.instance_ns());
                    t += d;
                    unsent += 1;
                    unsent_ns += d;
                    if t - flushed >= FLUSH_NS {
                        events.push(Reverse((t + lat_ns, rank, unsent, unsent_ns, false)));
                        (unsent, unsent_ns) = (0, 0);
                        flushed = t;
                    }
                }
                events.push(Reverse((t + lat_ns, rank, unsent, unsent_ns, true)));
            };
        for (rank, r) in first.iter().enumerate().skip(1) {
            if !r.is_empty() {
                run_chunk(&mut times, &mut events, rank, 0, r.len());
            }
        }
        let (mut walls_ns, mut finished) = (0u64, 0u64);
        let mut free_at = 0u64;
        let mut busy = 0u64;
        let mut windows: Vec<u64> = Vec::new();
        let mut requests = 0u64;
        let mut max_queue = 0usize;
        let mut pending_starts: std::collections::VecDeque<u64> = Default::default();
        let mut end = 0u64;
        let add_busy = |from: u64, to: u64, windows: &mut Vec<u64>| {
            let mut t = from;
            while t < to {
                let w = (t / WINDOW_NS) as usize;
                let edge = ((w as u64) + 1) * WINDOW_NS;
                let upto = to.min(edge);
                if windows.len() <= w {
                    windows.resize(w + 1, 0);
                }
                windows[w] += upto - t;
                t = upto;
            }
        };
        while let Some(Reverse((at, rank, results, results_ns, is_request))) = events.pop() {
            // Rank 0 serves messages in arrival order.
            let start = at.max(free_at);
            let cost = req_ns + results * res_ns;
            free_at = start + cost;
            busy += cost;
            add_busy(start, free_at, &mut windows);
            walls_ns += results_ns;
            finished += results;
            // Queue length: messages arrived and not yet finished being served.
            while pending_starts.front().is_some_and(|&f| f <= at) {
                pending_starts.pop_front();
            }
            pending_starts.push_back(free_at);
            max_queue = max_queue.max(pending_starts.len());
            end = end.max(free_at);
            if !is_request {
                continue;
            }
            requests += 1;
            let min = if p.min_chunk_rule && finished > 0 {
                ludus::exec::mpi::min_chunk(
                    p.instances,
                    p.ranks,
                    1,
                    Duration::from_nanos(req_ns),
                    Duration::from_nanos(walls_ns / finished),
                )
            } else {
                1
            };
            let chunk = ludus::exec::mpi::chunk_size(left, p.ranks, min);
            left -= chunk;
            if chunk > 0 {
                run_chunk(&mut times, &mut events, rank, free_at + lat_ns, chunk);
            }
        }
        let (peak_at, peak) = windows
            .iter()
            .enumerate()
            .max_by_key(|(_, b)| **b)
            .map_or((0, 0.0), |(i, b)| (i, *b as f64 / WINDOW_NS as f64));
        let over_half = windows.iter().filter(|b| **b * 2 > WINDOW_NS).count();
        Outcome {
            makespan_s: end as f64 / 1e9,
            ideal_s: p.instances as f64 * p.instance_us / 1e6 / p.ranks as f64,
            busy_overall: busy as f64 / end.max(1) as f64,
            busy_peak: peak,
            peak_at_s: (peak_at as u64 * WINDOW_NS) as f64 / 1e9,
            over_half_s: (over_half as u64 * WINDOW_NS) as f64 / 1e9,
            requests,
            max_queue,
        }
    }

    impl Params {
        fn instance_ns(&self) -> f64 {
            self.instance_us * 1000.0
        }
    }
}
