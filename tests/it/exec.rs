//! `[[experiment]]` instances: users' programs run by `ludus run-instances` as real child
//! processes (python3, sh), with real signals, time limits and kills.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{Dir, run};

/// Every status in a folder: id -> the status JSON.
fn statuses(dir: &Path) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir.join("logs")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if let Some(id) = name.strip_suffix(".json") {
            let v = serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
            out.insert(id.to_string(), v);
        }
    }
    out
}

/// The status of the only instance of experiment `name`.
fn status_of(dir: &Path, name: &str) -> (String, serde_json::Value) {
    let all: Vec<_> = statuses(dir)
        .into_iter()
        .filter(|(_, v)| v["instance"]["kind"]["exec"]["name"] == name)
        .collect();
    assert_eq!(all.len(), 1, "one instance of {name}: {all:?}");
    all.into_iter().next().unwrap()
}

fn plan(d: &Dir, spec: &str) {
    d.write("s.toml", spec);
    let (code, _, err) = run(d.ludus().args(["plan", "s.toml", "--out", "x"]));
    assert_eq!(code, 0, "{err}");
}

/// True while the process runs (a zombie waiting for its new parent to reap it is not running).
fn alive(pid: i32) -> bool {
    for _ in 0..20 {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return false,
            Ok(s)
                if s.rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z')) =>
            {
                return false;
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    true
}

const PROBE: &str = r#"
import json, os, sys
with open(os.environ["LUDUS_PARAMS"]) as f:
    params = json.load(f)
print(json.dumps({"argv": sys.argv[1:], "params": params, "cwd": os.getcwd(),
    "env": {k: v for k, v in os.environ.items() if k.startswith("LUDUS_")}}))
with open(os.environ["LUDUS_METRICS"], "a") as f:
    for step in (1, 2):
        f.write(json.dumps({"step": step, "lr": params["lr"] * step, "tag": "x"}) + "\n")
"#;

#[test]
fn parameters_arrive_in_argv_env_and_json_and_json_metrics_become_csv() {
    let d = Dir::new();
    d.write("code/probe.py", PROBE);
    plan(
        &d,
        r#"
seeds = [7]
[[experiment]]
name = "probe"
command = ["python3", "probe.py", "--lr={lr}", "{opt}", "{seed}", "{id}", "{{lit}}"]
workdir = "code"
params = { opt = "adam", layers = [1, 2] }
grid = { lr = [0.5] }
"#,
    );
    let (code, _, err) = run(d.ludus().args(["run-instances", "x", "--progress", "none"]));
    assert_eq!(code, 0, "{err}");
    let (id, st) = status_of(&d.join("x"), "probe");
    assert_eq!(st["status"], "done");
    assert_eq!(st["exit_code"], 0);
    assert!(st["peak_memory_bytes"].as_u64().unwrap() > 1_000_000);
    let out = std::fs::read_to_string(d.join(format!("x/logs/{id}.out"))).unwrap();
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        v["argv"],
        serde_json::json!(["--lr=0.5", "adam", "7", id, "{lit}"])
    );
    assert_eq!(
        v["params"],
        serde_json::json!({"lr": 0.5, "opt": "adam", "layers": [1, 2]})
    );
    let code_dir = std::fs::canonicalize(d.join("code")).unwrap();
    assert_eq!(v["cwd"], code_dir.to_string_lossy().as_ref());
    let env = &v["env"];
    assert_eq!(env["LUDUS_INSTANCE_ID"], id.as_str());
    assert_eq!(env["LUDUS_SEED"], "7");
    assert_eq!(env["LUDUS_PARAM_LR"], "0.5");
    assert_eq!(env["LUDUS_PARAM_OPT"], "adam");
    assert_eq!(env["LUDUS_PARAM_LAYERS"], "[1,2]");
    let run_dir = env["LUDUS_RUN_DIR"].as_str().unwrap();
    assert!(run_dir.ends_with(&format!("x/runs/{id}")), "{run_dir}");
    assert!(Path::new(run_dir).is_absolute());
    let csv = std::fs::read_to_string(d.join(format!("x/logs/{id}.csv"))).unwrap();
    assert_eq!(csv, "step,lr,tag\n1,0.5,x\n2,1.0,x\n");
}

#[test]
fn failures_are_errors_with_clear_reasons_and_the_others_go_on() {
    let d = Dir::new();
    d.write("bad.csv.sh", "echo 'a,b' > \"$LUDUS_METRICS\"\necho '1,2' >> \"$LUDUS_METRICS\"\necho '3' >> \"$LUDUS_METRICS\"\n");
    d.write(
        "bad.json.sh",
        "echo '{\"a\": 1}' > \"$LUDUS_METRICS\"\necho '{\"a\": ' >> \"$LUDUS_METRICS\"\n",
    );
    d.write(
        "good.sh",
        "printf 'epoch,acc\\n1,0.5\\n2,0.75\\n' >> \"$LUDUS_METRICS\"\n",
    );
    plan(
        &d,
        r#"
seeds = 1
[[experiment]]
name = "exit3"
command = ["sh", "-c", "echo 'something broke' >&2; exit 3"]
[[experiment]]
name = "segv"
command = ["sh", "-c", "kill -SEGV $$"]
[[experiment]]
name = "missing"
command = ["no-such-program-ludus", "--x"]
[[experiment]]
name = "badcsv"
command = ["sh", "bad.csv.sh"]
[[experiment]]
name = "badjson"
command = ["sh", "bad.json.sh"]
[[experiment]]
name = "good"
command = ["sh", "good.sh"]
"#,
    );
    let (code, _, err) = run(d.ludus().args(["run-instances", "x", "--progress", "none"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("1 done") && err.contains("5 error"), "{err}");
    let x = d.join("x");
    let msg = |n: &str| {
        let (_, st) = status_of(&x, n);
        assert_eq!(st["status"], "error", "{n}: {st}");
        st["message"].as_str().unwrap().to_string()
    };
    let m = msg("exit3");
    assert!(
        m.contains("exited with code 3") && m.contains("something broke"),
        "{m}"
    );
    assert_eq!(status_of(&x, "exit3").1["stderr_tail"], "something broke");
    let m = msg("segv");
    assert!(m.contains("signal 11 (SIGSEGV)"), "{m}");
    assert_eq!(status_of(&x, "segv").1["signal"], 11);
    let m = msg("missing");
    assert!(
        m.contains("cannot start `no-such-program-ludus`") && m.contains("not found"),
        "{m}"
    );
    let m = msg("badcsv");
    assert!(
        m.contains("line 3") && m.contains("1 fields where the header has 2"),
        "{m}"
    );
    let m = msg("badjson");
    assert!(m.contains("line 2") && m.contains("not JSON"), "{m}");
    let (id, st) = status_of(&x, "good");
    assert_eq!(st["status"], "done");
    let csv = std::fs::read_to_string(x.join(format!("logs/{id}.csv"))).unwrap();
    assert_eq!(csv, "epoch,acc\n1,0.5\n2,0.75\n");
    // The summary names the reason too.
    assert!(err.contains("exited with code 3"), "{err}");
}

#[test]
fn unknown_placeholder_is_a_plan_time_error_naming_it() {
    let d = Dir::new();
    d.write(
        "s.toml",
        "seeds = 1\n[[experiment]]\nname = \"t\"\ncommand = [\"true\", \"{lrr}\"]\ngrid = { lr = [1] }\n",
    );
    let (code, _, err) = run(d.ludus().args(["plan", "s.toml", "--out", "x"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("experiment[0].command") && err.contains("`{lrr}`"),
        "{err}"
    );
    assert!(err.contains("known: lr, seed, id"), "{err}");
}

#[test]
fn time_limit_kills_the_whole_process_group_and_keeps_rows() {
    let d = Dir::new();
    // A program that starts a grandchild, logs a row, then hangs; the second ignores SIGTERM.
    d.write(
        "hang.sh",
        "sleep 1000 &\necho $! > \"$LUDUS_RUN_DIR/grandchild\"\nprintf 'step,v\\n1,2\\n' > \"$LUDUS_METRICS\"\nwait\n",
    );
    d.write(
        "stubborn.sh",
        "trap '' TERM\nsleep 1000 &\necho $! > \"$LUDUS_RUN_DIR/grandchild\"\nwhile true; do sleep 0.1; done\n",
    );
    plan(
        &d,
        r#"
seeds = 1
time_limit = "1s"
[[experiment]]
name = "hang"
command = ["sh", "hang.sh"]
[[experiment]]
name = "stubborn"
command = ["sh", "stubborn.sh"]
"#,
    );
    let t = Instant::now();
    let (code, _, err) =
        run(d
            .ludus()
            .args(["run-instances", "x", "--progress", "none", "--grace", "1s"]));
    assert_eq!(code, 0, "{err}");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    let x = d.join("x");
    for name in ["hang", "stubborn"] {
        let (id, st) = status_of(&x, name);
        assert_eq!(st["status"], "timeout", "{st}");
        let pid: i32 = std::fs::read_to_string(x.join(format!("runs/{id}/grandchild")))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(!alive(pid), "{name}: grandchild {pid} still running");
    }
    let (id, st) = status_of(&x, "stubborn");
    assert!(st["message"].as_str().unwrap().contains("SIGKILL"), "{st}");
    assert_eq!(st["signal"], 9);
    let (id2, _) = status_of(&x, "hang");
    assert_ne!(id, id2);
    let csv = std::fs::read_to_string(x.join(format!("logs/{id2}.csv"))).unwrap();
    assert_eq!(csv, "step,v\n1,2\n");
}

fn example_spec(d: &Dir, epochs: u32, epoch_seconds: f64) {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/exec-python");
    plan(
        d,
        &format!(
            r#"
name = "resume"
seeds = 2
[[experiment]]
name = "train"
command = ["python3", "train.py", "--lr", "{{lr}}", "--epochs", "{{epochs}}",
           "--seed", "{{seed}}", "--epoch-seconds", "{epoch_seconds}"]
workdir = "{}"
params = {{ epochs = {epochs} }}
grid = {{ lr = [0.1, 0.3] }}
"#,
            example.display()
        ),
    );
}

#[test]
fn sigkill_mid_run_then_rerun_finishes_each_once_and_the_example_resumes() {
    let d = Dir::new();
    example_spec(&d, 30, 0.1);
    let mut child = d
        .ludus()
        .args(["run-instances", "x", "--jobs", "4", "--progress", "none"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill once every program has checkpointed at least once.
    let t = Instant::now();
    let checkpoints = || {
        std::fs::read_dir(d.join("x/runs"))
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.path().join("checkpoint.json").is_file())
                    .count()
            })
            .unwrap_or(0)
    };
    while checkpoints() < 4 && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        statuses(&d.join("x")).is_empty(),
        "nothing finished before the kill"
    );
    // The programs die with ludus: nothing keeps writing to the run folders.
    std::thread::sleep(Duration::from_millis(300));
    let (code, _, err) = run(d.ludus().args(["run-instances", "x", "--progress", "none"]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("4 done"), "{err}");
    let all = statuses(&d.join("x"));
    assert_eq!(all.len(), 4);
    for (id, st) in &all {
        assert_eq!(st["status"], "done", "{st}");
        let out = std::fs::read_to_string(d.join(format!("x/logs/{id}.out"))).unwrap();
        assert!(out.contains("resumed from epoch"), "{id}: {out}");
        assert!(!out.contains("resumed from epoch 0"), "{id}: {out}");
        let csv = std::fs::read_to_string(d.join(format!("x/logs/{id}.csv"))).unwrap();
        let epochs: Vec<&str> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap())
            .collect();
        let want: Vec<String> = (1..=30).map(|e| e.to_string()).collect();
        assert_eq!(epochs, want, "{id}: every epoch once");
    }
    // A third run skips everything.
    let (code, _, err) = run(d.ludus().args(["run-instances", "x", "--progress", "none"]));
    assert_eq!(code, 0);
    assert!(err.contains("4 skipped"), "{err}");
    // select-best ranks the two learning rates.
    let (code, out, err) = run(d.ludus().args(["select-best", "x", "--measure", "loss"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("train: 2 configuration(s)"), "{out}");
}

#[test]
fn sigterm_to_ludus_marks_programs_interrupted_and_a_rerun_finishes_them() {
    let d = Dir::new();
    example_spec(&d, 6, 0.3);
    let child = d
        .ludus()
        .args(["run-instances", "x", "--jobs", "4", "--progress", "none"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    // SAFETY: sending SIGTERM to the child we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let all = statuses(&d.join("x"));
    assert_eq!(all.len(), 4);
    assert!(
        all.values().all(|s| s["status"] == "interrupted"),
        "{all:?}"
    );
    let (code, _, err) = run(d.ludus().args(["run-instances", "x", "--progress", "none"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        statuses(&d.join("x"))
            .values()
            .all(|s| s["status"] == "done")
    );
}

#[test]
fn workdir_override_and_missing_workdir_are_named() {
    let d = Dir::new();
    d.write("code/p.sh", "printf 'step\\n1\\n' > \"$LUDUS_METRICS\"\n");
    plan(
        &d,
        "seeds = 1\n[[experiment]]\nname = \"p\"\ncommand = [\"sh\", \"p.sh\"]\nworkdir = \"code\"\n",
    );
    std::fs::rename(d.join("code"), d.join("moved")).unwrap();
    let (code, _, _) = run(d.ludus().args(["run-instances", "x", "--progress", "none"]));
    assert_eq!(code, 1);
    let (_, st) = status_of(&d.join("x"), "p");
    let m = st["message"].as_str().unwrap();
    assert!(m.contains("code") && m.contains("--workdir"), "{m}");
    let (code, _, err) = run(d.ludus().args([
        "run-instances",
        "x",
        "--progress",
        "none",
        "--retry-errors",
        "--workdir",
        "moved",
    ]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(status_of(&d.join("x"), "p").1["status"], "done");
}

#[test]
fn select_best_and_report_group_programs_by_parameters_with_seeds_averaged() {
    let d = Dir::new();
    // acc = lr * epoch + seed / 100: lr 0.2 wins when maximizing, lr 0.1 when minimizing.
    d.write(
        "p.py",
        "import json, os\nlr, seed = float(os.environ['LUDUS_PARAM_LR']), int(os.environ['LUDUS_SEED'])\nwith open(os.environ['LUDUS_METRICS'], 'w') as f:\n    for e in (1, 2, 3):\n        f.write(json.dumps({'epoch': e, 'acc': lr * e + seed / 100}) + '\\n')\n",
    );
    plan(
        &d,
        "seeds = 2\n[[experiment]]\nname = \"p\"\ncommand = [\"python3\", \"p.py\"]\ngrid = { lr = [0.1, 0.2] }\n",
    );
    let (code, _, err) = run(d.ludus().args(["run-instances", "x", "--progress", "none"]));
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(d.ludus().args([
        "select-best",
        "x",
        "--measure",
        "acc",
        "--maximize",
        "--json",
    ]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let best = &v["agents"][0]["configs"][0];
    assert_eq!(best["params"]["lr"], 0.2);
    assert!(
        (best["stat"]["mean"].as_f64().unwrap() - 0.605).abs() < 1e-9,
        "{best}"
    );
    let (code, out, _) = run(d
        .ludus()
        .args(["select-best", "x", "--measure", "acc", "--at", "2"]));
    assert_eq!(code, 0);
    assert!(out.contains("acc at step 2, lower is better"), "{out}");
    let (code, _, err) = run(d.ludus().args([
        "report",
        "x",
        "--measure",
        "acc",
        "--maximize",
        "--out",
        "rep",
    ]));
    assert_eq!(code, 0, "{err}");
    let md = std::fs::read_to_string(d.join("rep/programs.md")).unwrap();
    assert!(md.contains("| 1 * | `{ lr = 0.2 }` |"), "{md}");
    assert!(md.contains("acc against epoch"), "{md}");
    assert!(d.join("rep/plots/program-p.svg").is_file());
    assert!(d.join("rep/index.md").is_file());
}

#[test]
fn reset_moves_the_run_folder_aside_and_status_counts_programs() {
    let d = Dir::new();
    d.write(
        "p.sh",
        "test -f \"$LUDUS_RUN_DIR/seen\" && exit 0\ntouch \"$LUDUS_RUN_DIR/seen\"\nexit 1\n",
    );
    plan(
        &d,
        "seeds = 2\n[[experiment]]\nname = \"p\"\ncommand = [\"sh\", \"p.sh\"]\n",
    );
    let (code, _, _) = run(d.ludus().args(["run-instances", "x", "--progress", "none"]));
    assert_eq!(code, 1);
    let (code, out, _) = run(d.ludus().args(["status", "x"]));
    assert_eq!(code, 0);
    assert!(out.contains("(program)"), "{out}");
    let (code, out, _) = run(d.ludus().args(["status", "x", "--json"]));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["error"], 2);
    // A reset instance starts afresh: its run folder (with `seen`) goes to the attic, so the
    // program fails again; --retry-errors keeps the folder, so the program succeeds.
    let (code, _, err) = run(d.ludus().args(["reset", "x", "--status", "error"]));
    assert_eq!(code, 0, "{err}");
    let runs = std::fs::read_dir(d.join("x/runs"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name() != "params")
        .count();
    assert_eq!(runs, 0);
    let (code, _, _) = run(d.ludus().args(["run-instances", "x", "--progress", "none"]));
    assert_eq!(code, 1);
    let (code, _, err) =
        run(d
            .ludus()
            .args(["run-instances", "x", "--progress", "none", "--retry-errors"]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("2 done"), "{err}");
}

/// A program that logs its seed, planned with `n` seeds.
fn seeds_spec(d: &Dir, n: u32) {
    d.write(
        "p.sh",
        "printf 'step,seed\\n1,%s\\n' \"$LUDUS_SEED\" > \"$LUDUS_METRICS\"\n",
    );
    plan(
        d,
        &format!("seeds = {n}\n[[experiment]]\nname = \"p\"\ncommand = [\"sh\", \"p.sh\"]\n"),
    );
}

#[test]
fn groups_run_each_program_once() {
    let d = Dir::new();
    seeds_spec(&d, 7);
    for g in ["1/3", "2/3", "3/3"] {
        let (code, _, err) =
            run(d
                .ludus()
                .args(["run-instances", "x", "--group", g, "--progress", "none"]));
        assert_eq!(code, 0, "{err}");
    }
    let all = statuses(&d.join("x"));
    assert_eq!(all.len(), 7);
    assert!(all.values().all(|s| s["status"] == "done"));
}

#[cfg(feature = "mpi")]
#[test]
fn mpi_ranks_share_the_programs() {
    let d = Dir::new();
    seeds_spec(&d, 8);
    let (code, _, err) = run(std::process::Command::new("mpirun")
        .args(["--oversubscribe", "-np", "3"])
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .current_dir(d.path())
        .args([
            env!("CARGO_BIN_EXE_ludus"),
            "run-instances",
            "--mpi",
            "x",
            "--progress",
            "none",
        ]));
    assert_eq!(code, 0, "{err}");
    let all = statuses(&d.join("x"));
    assert_eq!(all.len(), 8);
    assert!(all.values().all(|s| s["status"] == "done"), "{all:?}");
}
