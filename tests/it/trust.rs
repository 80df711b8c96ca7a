//! Folders that are damaged or reused: an instance file with another's content or corrupt
//! bytes is an error naming the file (and `plan` repairs it), attic folders are never reused.

use std::path::{Path, PathBuf};

use crate::support::{Dir, run};

const SPEC: &str = r#"
name = "t"
seeds = 2
steps = 200
log_every = 100

[[agent]]
name = "random"

[[mdp]]
family = "river_swim"
params = { size = 3 }
"#;

fn plan(d: &Dir) -> (i32, String, String) {
    d.write("s.toml", SPEC);
    run(d.ludus().args(["plan", "s.toml", "--out", "x"]))
}

/// The instance files of `x`, sorted.
fn bins(d: &Dir) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(d.join("x/instances"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

fn stem(p: &Path) -> String {
    p.file_stem().unwrap().to_string_lossy().into_owned()
}

fn status_json(d: &Dir) -> serde_json::Value {
    let (code, out, err) = run(d.ludus().args(["status", "x", "--json"]));
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn an_instance_file_holding_another_instance_is_an_error_naming_it_and_plan_repairs_it() {
    let d = Dir::new();
    let (code, _, err) = plan(&d);
    assert_eq!(code, 0, "{err}");
    let files = bins(&d);
    assert_eq!(files.len(), 2);
    // The second file now holds the first one's content.
    std::fs::copy(&files[0], &files[1]).unwrap();
    let (code, out, err) = run(d
        .ludus()
        .args(["run-instances", "x", "--progress", "plain"]));
    assert_eq!(code, 1, "{out}{err}");
    let both = format!("{out}{err}");
    assert!(
        both.contains(&files[1].file_name().unwrap().to_string_lossy().into_owned()),
        "{both}"
    );
    assert!(both.contains("holds instance"), "{both}");
    // Nothing was committed under the other id twice, and the wrong file's own id has no result.
    assert!(!d.join(format!("x/logs/{}.json", stem(&files[1]))).exists());
    let v = status_json(&d);
    assert_eq!(
        (
            v["done"].as_u64(),
            v["error"].as_u64(),
            v["pending"].as_u64()
        ),
        (Some(1), Some(1), Some(0)),
        "{v}"
    );

    // Planning again rewrites the wrong file and says so; then everything runs.
    let (code, out, err) = plan(&d);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("repaired 1 instance file"), "{out}");
    assert!(out.contains(&stem(&files[1])), "{out}");
    let (code, _, err) = run(d.ludus().args(["run-instances", "x", "--progress", "none"]));
    assert_eq!(code, 0, "{err}");
    let v = status_json(&d);
    assert_eq!(v["done"].as_u64(), Some(2), "{v}");
    // Planning once more has nothing to repair.
    let (_, out, _) = plan(&d);
    assert!(!out.contains("repaired"), "{out}");
}

#[test]
fn a_corrupt_instance_file_is_an_error_in_status_not_pending() {
    let d = Dir::new();
    let (code, _, err) = plan(&d);
    assert_eq!(code, 0, "{err}");
    let files = bins(&d);
    std::fs::write(&files[0], b"not an instance").unwrap();
    let (code, out, err) = run(d.ludus().args(["status", "x", "--json"]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["error"].as_u64(), v["pending"].as_u64()),
        (Some(1), Some(1)),
        "{v}"
    );
    let name = format!("x/instances/{}.bin", stem(&files[0]));
    assert!(err.contains(&name), "{err}");
    let (code, out, err) = run(d.ludus().args(["status", "x"]));
    assert_eq!(code, 0);
    assert!(err.contains(&stem(&files[0])), "{out}{err}");
    let (code, out, err) = run(d
        .ludus()
        .args(["run-instances", "x", "--progress", "plain"]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        format!("{out}{err}").contains(&stem(&files[0])),
        "{out}{err}"
    );
    // `plan` repairs it.
    let (code, out, err) = plan(&d);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("repaired 1 instance file"), "{out}");
    assert_eq!(status_json(&d)["pending"].as_u64(), Some(1));
}

/// Creates `attic/<why>-<time>/` for every second of the next 20 (what a batch started now
/// would be named), each holding a marker file.
fn occupy_attic_names(d: &Dir, why: &str) {
    let now = std::time::SystemTime::now();
    for k in 0..20 {
        let t = humantime::format_rfc3339_seconds(now + std::time::Duration::from_secs(k));
        let name = format!("{why}-{}", t.to_string().replace(':', ""));
        d.write(&format!("x/attic/{name}/marker"), "earlier batch");
    }
}

fn attic_dirs(d: &Dir) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d.join("x/attic"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn attic_folders_are_never_reused() {
    let d = Dir::new();
    let (code, _, err) = plan(&d);
    assert_eq!(code, 0, "{err}");
    // Earlier resets took the names a reset now would take (as two resets within a second do).
    occupy_attic_names(&d, "reset");
    for round in 1..=2 {
        let before = attic_dirs(&d);
        let (code, _, err) = run(d.ludus().args(["run-instances", "x", "--progress", "none"]));
        assert_eq!(code, 0, "{err}");
        let (code, out, err) = run(d.ludus().args(["reset", "x", "--status", "done"]));
        assert_eq!(code, 0, "{err}");
        let after = attic_dirs(&d);
        let new: Vec<&String> = after.iter().filter(|n| !before.contains(n)).collect();
        assert_eq!(new.len(), 1, "round {round}: {after:?}");
        assert!(out.contains(new[0].as_str()), "{out}");
        let kept = std::fs::read_dir(d.join("x/attic").join(new[0]))
            .unwrap()
            .count();
        assert_eq!(kept, 4, "{}: two logs and two statuses", new[0]);
    }
    // Earlier batches are untouched.
    for n in attic_dirs(&d) {
        let files = std::fs::read_dir(d.join("x/attic").join(&n))
            .unwrap()
            .count();
        assert!(files == 1 || files == 4, "{n}: {files} files");
    }
    // `plan --prune` likewise.
    occupy_attic_names(&d, "pruned");
    let (code, _, err) = run(d.ludus().args(["run-instances", "x", "--progress", "none"]));
    assert_eq!(code, 0, "{err}");
    let before = attic_dirs(&d);
    d.write("s.toml", &SPEC.replace("seeds = 2", "seeds = 1"));
    let (code, _, err) = run(d.ludus().args(["plan", "s.toml", "--out", "x", "--prune"]));
    assert_eq!(code, 0, "{err}");
    let after = attic_dirs(&d);
    let new: Vec<&String> = after.iter().filter(|n| !before.contains(n)).collect();
    assert_eq!(new.len(), 1, "{after:?}");
    assert_eq!(
        std::fs::read_dir(d.join("x/attic").join(new[0]))
            .unwrap()
            .count(),
        2
    );
}

#[test]
fn planning_a_spec_of_another_name_into_a_folder_is_refused_unless_asked_for() {
    let d = Dir::new();
    let (code, _, err) = plan(&d);
    assert_eq!(code, 0, "{err}");
    let before = crate::support::snapshot(&d.join("x"));
    d.write("o.toml", &SPEC.replace("name = \"t\"", "name = \"other\""));
    let (code, _, err) = run(d.ludus().args(["plan", "o.toml", "--out", "x"]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("holds the experiment `t`, not `other`"),
        "{err}"
    );
    assert!(err.contains("--other-spec"), "{err}");
    assert_eq!(
        crate::support::snapshot(&d.join("x")),
        before,
        "nothing was written"
    );
    let (code, _, err) = run(d
        .ludus()
        .args(["plan", "o.toml", "--out", "x", "--other-spec"]));
    assert_eq!(code, 0, "{err}");
    // The same spec again is fine.
    let (code, _, err) = run(d.ludus().args(["plan", "o.toml", "--out", "x"]));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn analysis_counts_only_the_current_plan_and_lists_stale_results_apart() {
    let d = Dir::new();
    let (code, _, err) = plan(&d);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(d.ludus().args(["run-instances", "x", "--progress", "none"]));
    assert_eq!(code, 0, "{err}");
    // The spec is edited (more steps: new instances) and planned again; the old results stay.
    d.write("s.toml", &SPEC.replace("steps = 200", "steps = 300"));
    let (code, _, err) = run(d.ludus().args(["plan", "s.toml", "--out", "x"]));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(d.ludus().args(["run-instances", "x", "--progress", "none"]));
    assert_eq!(code, 0, "{err}");
    let select = |extra: &[&str]| -> serde_json::Value {
        let (code, out, err) = run(d.ludus().args(["select-best", "x", "--json"]).args(extra));
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    };
    let v = select(&[]);
    assert_eq!(v["stale"].as_u64(), Some(2), "{v}");
    assert_eq!(
        v["agents"][0]["configs"][0]["stat"]["n"].as_u64(),
        Some(2),
        "{v}"
    );
    let (_, out, _) = run(d.ludus().args(["select-best", "x"]));
    assert!(
        out.contains("2 result(s) of instances no longer in the current plan"),
        "{out}"
    );
    let v = select(&["--include-stale"]);
    assert_eq!(
        v["agents"][0]["configs"][0]["stat"]["n"].as_u64(),
        Some(4),
        "{v}"
    );
    // status counts the current plan only.
    assert_eq!(status_json(&d)["total"].as_u64(), Some(2));
}
