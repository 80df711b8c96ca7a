//! Provenance: the manifest names the git commit of the spec's repository and of each
//! `[[experiment]]` workdir, whether the tree was dirty and a hash of the diff; statuses record
//! the code a run used; re-running a folder whose code changed warns, naming both commits.

use std::path::Path;
use std::process::Command;

use crate::support::{Dir, run};

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.org"])
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn manifest(d: &Dir) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(d.join("x/manifest.json")).unwrap()).unwrap()
}

fn plan(d: &Dir) -> String {
    let (code, _, err) = run(d.ludus().args(["plan", "repo/s.toml", "--out", "x"]));
    assert_eq!(code, 0, "{err}");
    err
}

const SPEC: &str = r#"
seeds = [1]
[[experiment]]
name = "rec"
command = ["sh", "rec.sh"]
workdir = "code"
"#;

#[test]
fn the_manifest_names_the_commit_the_diff_and_a_changed_commit_warns() {
    let d = Dir::new();
    d.write("repo/s.toml", SPEC);
    d.write("repo/code/rec.sh", "echo one\n");
    let repo = d.join("repo");
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "first"]);
    let c1 = git(&repo, &["rev-parse", "HEAD"]);

    plan(&d);
    let p = &manifest(&d)["provenance"];
    assert_eq!(p["spec"]["commit"], c1.as_str(), "{p}");
    assert_eq!(p["spec"]["dirty"], false, "{p}");
    assert!(p["spec"]["diff_hash"].is_null(), "{p}");
    assert_eq!(p["workdirs"][0]["commit"], c1.as_str(), "{p}");
    assert_eq!(p["ludus_version"], env!("CARGO_PKG_VERSION"));
    assert!(!p["host"].as_str().unwrap().is_empty());

    // An edit makes the tree dirty; another edit changes the diff's hash.
    d.write("repo/code/rec.sh", "echo two\n");
    plan(&d);
    let p = manifest(&d)["provenance"].clone();
    assert_eq!(p["spec"]["dirty"], true, "{p}");
    let h1 = p["spec"]["diff_hash"].as_str().unwrap().to_string();
    d.write("repo/code/rec.sh", "echo three\n");
    plan(&d);
    let p = manifest(&d)["provenance"].clone();
    let h2 = p["spec"]["diff_hash"].as_str().unwrap().to_string();
    assert_ne!(h1, h2);
    assert_eq!(p["workdirs"][0]["diff_hash"], h2.as_str());

    // `show` prints the folder's provenance beside the instance.
    let m = manifest(&d);
    let id = m["instances"][0].as_str().unwrap();
    let (code, out, err) = run(d.ludus().args(["show", &format!("x/instances/{id}.bin")]));
    assert_eq!(code, 0, "{err}");
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["provenance"]["spec"]["commit"], c1.as_str());

    // The code is committed: a re-run warns, naming the recorded and the present commit.
    git(&repo, &["commit", "-q", "-am", "second"]);
    let c2 = git(&repo, &["rev-parse", "HEAD"]);
    let (code, _, err) = run(d.ludus().args(["run-instances", "x", "--progress", "none"]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("warning"), "{err}");
    assert!(err.contains(&c1[..12]) && err.contains(&c2[..12]), "{err}");

    // The status records the code the run used and the program's resolved path.
    let st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join(format!("x/logs/{id}.json"))).unwrap())
            .unwrap();
    assert_eq!(st["code"]["commit"], c2.as_str(), "{st}");
    assert_eq!(st["code"]["dirty"], false, "{st}");
    let prog = st["program_path"].as_str().unwrap();
    assert!(
        Path::new(prog).is_absolute() && Path::new(prog).exists(),
        "{prog}"
    );

    // `status` shows both: what the plan recorded and what the runs used.
    let (code, out, err) = run(d.ludus().args(["status", "x"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&c1[..12]) && out.contains(&c2[..12]), "{out}");

    // Planning again records the new commit; the same code warns no more.
    plan(&d);
    assert_eq!(manifest(&d)["provenance"]["spec"]["commit"], c2.as_str());
    let (_, _, err) = run(d.ludus().args(["run-instances", "x", "--progress", "none"]));
    assert!(!err.contains("warning"), "{err}");
}

#[test]
fn a_spec_outside_a_repository_is_recorded_as_such() {
    let d = Dir::new();
    d.write("repo/s.toml", SPEC);
    d.write("repo/code/rec.sh", "echo one\n");
    plan(&d);
    let p = &manifest(&d)["provenance"];
    assert_eq!(p["spec"]["note"], "not a git repository", "{p}");
    assert!(p["spec"]["commit"].is_null(), "{p}");
    // Without git on PATH it is recorded too, never an error.
    let (code, _, err) =
        run(d
            .ludus()
            .env("PATH", "/nonexistent")
            .args(["plan", "repo/s.toml", "--out", "y"]));
    assert_eq!(code, 0, "{err}");
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("y/manifest.json")).unwrap()).unwrap();
    assert_eq!(m["provenance"]["spec"]["note"], "git not found", "{m}");
}
