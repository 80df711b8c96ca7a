//! The human tables of `plan`, `status` and `select-best`, checked whole against snapshots
//! (`tests/it/snapshots/`), with the temporary folder, times and pids filtered out. A changed
//! table fails here; `cargo insta review` (or INSTA_UPDATE=always) accepts a deliberate change.

use crate::support::{Dir, run};

const SPEC: &str = r#"
name = "tables"
seeds = [0, 1]
steps = 300
log_every = 100

[[agent]]
name = "q_learning"
grid = { h_weight = [0.1, 0.5] }

[[agent]]
name = "random"

[[mdp]]
family = "river_swim"
params = { size = 4 }

[[mdp]]
family = "deep_sea"
params = { size = 4 }
"#;

/// The settings every table snapshot uses: paths, times and pids replaced by placeholders.
fn settings(d: &Dir) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("snapshots");
    s.set_prepend_module_to_snapshot(false);
    let tmp = d.path().display().to_string();
    s.add_filter(&regex_escape(&tmp), "[TMP]");
    s.add_filter(r"\d{4}-\d\d-\d\dT\d\d:?\d\d:?\d\d(\.\d+)?Z?", "[TIME]");
    s.add_filter(r"\b\d+(\.\d+)? ?(s|ms|us)\b", "[DURATION]");
    s.add_filter(r"\bpid \d+", "pid [PID]");
    s.add_filter(r"by ludus \S+ on \S+;", "by ludus [VERSION] on [HOST];");
    s
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '/' || c == '_' || c == '-' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

#[test]
fn plan_status_and_select_best_tables() {
    let d = Dir::new();
    d.write("s.toml", SPEC);
    let s = settings(&d);
    let _guard = s.bind_to_scope();

    let (code, out, err) = run(d.ludus().args(["plan", "s.toml", "--out", "ex"]));
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("plan", format!("stderr:\n{err}\nstdout:\n{out}"));

    let (code, out, err) = run(d.ludus().args(["status", "ex"]));
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("status_planned", out);

    let (code, _, err) =
        run(d
            .ludus()
            .args(["run-instances", "ex", "--jobs", "2", "--progress", "plain"]));
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(d.ludus().args(["status", "ex"]));
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("status_done", out);

    let (code, out, err) = run(d.ludus().args(["select-best", "ex", "--out", "best.toml"]));
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("select_best", out);
}
