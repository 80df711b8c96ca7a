//! `run-instances --gpus`: each running program gets its own `CUDA_VISIBLE_DEVICES` from the
//! list, `--per-gpu K` lets K share one, and no GPU is oversubscribed.

use crate::support::{Dir, run};

/// Plans `n` programs that print `$CUDA_VISIBLE_DEVICES`, their start, sleep, and their end.
fn plan(d: &Dir, n: usize) {
    let grid: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
    d.write(
        "s.toml",
        &format!(
            r#"
seeds = [1]
[[experiment]]
name = "gpu"
command = ["sh", "-c", "echo \"$CUDA_VISIBLE_DEVICES\" $(date +%s%N); sleep 1; date +%s%N", "{{a}}"]
grid = {{ a = [{}] }}
"#,
            grid.join(", ")
        ),
    );
    let (code, _, err) = run(d.ludus().args(["plan", "s.toml", "--out", "x"]));
    assert_eq!(code, 0, "{err}");
}

/// Per program: (CUDA_VISIBLE_DEVICES, start ns, end ns), from its `.out` files.
fn runs(d: &Dir) -> Vec<(String, u128, u128)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d.join("x/logs")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.ends_with(".out") {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).unwrap();
        let mut lines = text.lines();
        let first: Vec<&str> = lines.next().unwrap().split(' ').collect();
        let end: u128 = lines.next().unwrap().trim().parse().unwrap();
        assert_eq!(first.len(), 2, "{text}");
        out.push((first[0].to_string(), first[1].parse().unwrap(), end));
    }
    out
}

fn overlap(a: &(String, u128, u128), b: &(String, u128, u128)) -> bool {
    a.1 < b.2 && b.1 < a.2
}

#[test]
fn two_gpus_give_two_concurrent_programs_different_devices() {
    let d = Dir::new();
    plan(&d, 2);
    let (code, _, err) = run(d.ludus().args([
        "run-instances",
        "x",
        "--gpus",
        "0,1",
        "--jobs",
        "2",
        "--progress",
        "none",
    ]));
    assert_eq!(code, 0, "{err}");
    let r = runs(&d);
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(overlap(&r[0], &r[1]), "they ran at once: {r:?}");
    let mut devs: Vec<&str> = r.iter().map(|x| x.0.as_str()).collect();
    devs.sort();
    assert_eq!(devs, ["0", "1"], "{r:?}");
}

#[test]
fn per_gpu_shares_one_gpu_and_never_oversubscribes_it() {
    let d = Dir::new();
    plan(&d, 3);
    let (code, _, err) = run(d.ludus().args([
        "run-instances",
        "x",
        "--gpus",
        "3",
        "--per-gpu",
        "2",
        "--jobs",
        "3",
        "--progress",
        "none",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("running 2 at once"), "{err}");
    let r = runs(&d);
    assert_eq!(r.len(), 3, "{r:?}");
    assert!(r.iter().all(|x| x.0 == "3"), "{r:?}");
    let pairs = [(0, 1), (0, 2), (1, 2)];
    let at_once = pairs
        .iter()
        .filter(|(i, j)| overlap(&r[*i], &r[*j]))
        .count();
    // Two ran together on the GPU; the third waited for one of them (never three at once).
    assert!(at_once >= 1, "two shared the GPU: {r:?}");
    let all_three = r.iter().map(|x| x.1).max().unwrap() < r.iter().map(|x| x.2).min().unwrap();
    assert!(!all_three, "three at once on a 2-per-GPU pool: {r:?}");
}

#[test]
fn without_gpus_nothing_is_set() {
    let d = Dir::new();
    plan(&d, 1);
    let (code, _, err) = run(d.ludus().env_remove("CUDA_VISIBLE_DEVICES").args([
        "run-instances",
        "x",
        "--progress",
        "none",
    ]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(runs(&d)[0].0, "");
}
