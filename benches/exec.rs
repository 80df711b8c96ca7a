//! Benchmark of `[[experiment]]` instances (run with `cargo bench --bench exec`): the overhead
//! per trivial program. 2,000 runs of `true` on 2 workers through `ludus run-instances` (plan
//! excluded), against GNU parallel (`parallel -j2`, Debian package `parallel`) and
//! `xargs -P2` (the fork/exec floor) running the same 2,000 commands, all in the same run.
//! Targets: ludus at least 5x faster per program than GNU parallel, within 1.5x of xargs,
//! containment included (a cgroup per program when run as root, else the subreaper). Each
//! figure is the median of 3 runs; the load average is printed with them.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark reports its figures on stdout"
)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

const N: usize = 2_000;

fn quiet(mut c: Command) -> Command {
    c.stdout(Stdio::null()).stderr(Stdio::null());
    c
}

fn timed(mut c: Command, stdin: Option<&str>) -> f64 {
    let t = Instant::now();
    c.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = c.spawn().expect("the command starts");
    if let Some(text) = stdin {
        let mut s = child.stdin.take().expect("stdin");
        s.write_all(text.as_bytes()).expect("stdin");
    }
    let ok = child.wait().expect("runs").success();
    assert!(ok, "{c:?} failed");
    t.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ludus_once(dir: &Path, round: usize) -> f64 {
    let name = format!("r{round}");
    let ok = quiet(Command::new(env!("CARGO_BIN_EXE_ludus")))
        .current_dir(dir)
        .args(["plan", "exec.toml", "--out", &name])
        .status()
        .expect("ludus runs")
        .success();
    assert!(ok, "plan failed");
    let mut c = quiet(Command::new(env!("CARGO_BIN_EXE_ludus")));
    c.current_dir(dir)
        .args(["run-instances", &name, "--jobs", "2", "--progress", "none"]);
    timed(c, None)
}

fn main() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    std::fs::write(
        dir.join("exec.toml"),
        format!("name = \"exec\"\nseeds = {N}\n[[experiment]]\nname = \"true\"\ncommand = [\"true\", \"{{seed}}\"]\n"),
    )
    .expect("spec");
    let seeds: String = (0..N).map(|i| format!("{i}\n")).collect();

    let has_parallel = Command::new("parallel")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let (mut l, mut p, mut x) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..3 {
        l.push(ludus_once(dir, round));
        let mut c = quiet(Command::new("xargs"));
        c.args(["-P2", "-n1", "true"]);
        x.push(timed(c, Some(&seeds)));
        if has_parallel {
            let mut c = quiet(Command::new("parallel"));
            c.args(["-j2", "true", "{}"]);
            p.push(timed(c, Some(&seeds)));
        }
    }
    let us = |s: f64| s / N as f64 * 1e6;
    let (l, x) = (median(l), median(x));
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "exec overhead: {N} runs of `true`, 2 workers, median of 3 (load average {})",
        load.split(' ').take(3).collect::<Vec<_>>().join(" ")
    );
    println!("  ludus run-instances --jobs 2  {:8.0} us/program", us(l));
    println!(
        "  xargs -P2 (floor)             {:8.0} us/program   ludus / xargs = {:.2}x (target <= 1.5x)",
        us(x),
        l / x
    );
    if has_parallel {
        let p = median(p);
        println!(
            "  GNU parallel -j2              {:8.0} us/program   parallel / ludus = {:.1}x faster (target >= 5x)",
            us(p),
            p / l
        );
    } else {
        println!("  GNU parallel: not installed (Debian package `parallel`), no comparison");
    }
}
