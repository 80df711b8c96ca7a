//! `ludus plan` and `ludus show`, driven as a user would: real binary, real files.

use crate::support::{Dir, run, snapshot};

const SPEC: &str = r#"
name = "t"
seeds = [0, 7]
steps = 1000
log_every = 100

[[agent]]
name = "q_learning"
grid = { h_weight = [0.1, 0.5] }

[[agent]]
name = "random"

[[mdp]]
family = "river_swim"
params = { size = 5 }
grid = { p_rand = [0.0, 0.1] }
"#;

fn manifest_ids(d: &Dir, out: &str) -> Vec<String> {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join(out).join("manifest.json")).unwrap()).unwrap();
    m["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn plan_writes_instances_and_replan_changes_nothing() {
    let d = Dir::new();
    d.write("s.toml", SPEC);
    let (code, out, err) = run(d.ludus().args(["plan", "s.toml", "--out", "ex"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("planned 12 instances"), "{out}");
    let ids = manifest_ids(&d, "ex");
    assert_eq!(ids.len(), 12);
    assert_eq!(
        std::fs::read_dir(d.join("ex/instances")).unwrap().count(),
        12
    );
    assert!(d.join("ex/ludus.toml").is_file());

    let before = snapshot(&d.join("ex"));
    let (code, out, _) = run(d.ludus().args(["plan", "s.toml", "--out", "ex"]));
    assert_eq!(code, 0);
    assert!(out.contains("0 new, 12 already there"), "{out}");
    assert_eq!(
        snapshot(&d.join("ex")),
        before,
        "re-planning changed the folder"
    );

    // Ids are a function of content: a second folder gets the same ids in the same order.
    run(d.ludus().args(["plan", "s.toml", "--out", "ex2"]));
    assert_eq!(manifest_ids(&d, "ex2"), ids);
}

#[test]
fn plan_order_is_agent_then_mdp_then_seed() {
    let d = Dir::new();
    d.write("s.toml", SPEC);
    run(d.ludus().args(["plan", "s.toml", "--out", "ex"]));
    let ids = manifest_ids(&d, "ex");
    let shown: Vec<serde_json::Value> = ids
        .iter()
        .map(|id| {
            let (code, out, err) = run(d.ludus().args(["show", &format!("ex/instances/{id}.bin")]));
            assert_eq!(code, 0, "{err}");
            serde_json::from_str(&out).unwrap()
        })
        .collect();
    let key = |v: &serde_json::Value| {
        let b = &v["kind"]["builtin"];
        format!(
            "{} h={} p_rand={} seed={}",
            b["agent"]["name"].as_str().unwrap(),
            b["agent"]["params"]["h_weight"],
            b["mdp"]["params"]["p_rand"],
            v["seed"]
        )
    };
    let keys: Vec<String> = shown.iter().map(key).collect();
    assert_eq!(keys[0], "q_learning h=0.1 p_rand=0.0 seed=0");
    assert_eq!(keys[1], "q_learning h=0.1 p_rand=0.0 seed=7");
    assert_eq!(keys[2], "q_learning h=0.1 p_rand=0.1 seed=0");
    assert_eq!(keys[4], "q_learning h=0.5 p_rand=0.0 seed=0");
    assert_eq!(keys[8], "random h=null p_rand=0.0 seed=0");
    assert_eq!(keys[11], "random h=null p_rand=0.1 seed=7");
    for (id, v) in ids.iter().zip(&shown) {
        assert_eq!(v["id"].as_str().unwrap(), id);
    }
}

#[test]
fn changed_spec_adds_keeps_and_reports_stale() {
    let d = Dir::new();
    d.write("s.toml", SPEC);
    run(d.ludus().args(["plan", "s.toml", "--out", "ex"]));
    let old = manifest_ids(&d, "ex");
    // A fake result for an instance that the new spec drops, to see that it is kept.
    let dropped = old[0].clone();
    d.write(&format!("ex/logs/{dropped}.csv"), "steps\n1\n");
    d.write(
        "s.toml",
        &SPEC.replace("h_weight = [0.1, 0.5]", "h_weight = [0.5, 0.9]"),
    );
    let (code, out, _) = run(d.ludus().args(["plan", "s.toml", "--out", "ex"]));
    assert_eq!(code, 0);
    assert!(out.contains("planned 12 instances"), "{out}");
    assert!(out.contains("4 new, 8 already there"), "{out}");
    assert!(
        out.contains("4 instances in the folder are no longer in the spec"),
        "{out}"
    );
    assert!(d.join(format!("ex/instances/{dropped}.bin")).exists());
    let (code, out, _) = run(d.ludus().args(["plan", "s.toml", "--out", "ex", "--prune"]));
    assert_eq!(code, 0);
    assert!(out.contains("pruned 4"), "{out}");
    assert!(!d.join(format!("ex/instances/{dropped}.bin")).exists());
    let attic: Vec<_> = walkdir::WalkDir::new(d.join("ex/attic"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy() == format!("{dropped}.csv"))
        .collect();
    assert_eq!(
        attic.len(),
        1,
        "the dropped instance's log is kept in the attic"
    );
}

#[test]
fn dry_run_writes_nothing() {
    let d = Dir::new();
    d.write("s.toml", SPEC);
    let (code, out, err) = run(d
        .ludus()
        .args(["plan", "s.toml", "--out", "ex", "--dry-run"]));
    assert_eq!(code, 0);
    assert!(out.contains("12 instances"), "{out}");
    assert!(
        err.contains("q_learning") && err.contains("river_swim"),
        "{err}"
    );
    assert!(!d.join("ex").exists());
}

#[test]
fn groups_are_recorded() {
    let d = Dir::new();
    d.write("s.toml", SPEC);
    let (code, _, _) = run(d
        .ludus()
        .args(["plan", "s.toml", "--out", "ex", "--groups", "4"]));
    assert_eq!(code, 0);
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("ex/manifest.json")).unwrap()).unwrap();
    assert_eq!(m["groups"], 4);
}

#[test]
fn spec_errors_name_file_key_and_line() {
    let d = Dir::new();
    let cases = [
        (
            SPEC.replace("name = \"q_learning\"", "name = \"q_lerning\""),
            "s.toml:8: `agent[0].name`: unknown agent kind `q_lerning`; known:",
        ),
        (
            SPEC.replace("family = \"river_swim\"", "family = \"river\""),
            "s.toml:15: `mdp[0].family`: unknown MDP family `river`",
        ),
        (
            SPEC.replace("log_every = 100", "log_every = -1"),
            "s.toml:5: `log_every`: must be at least 1",
        ),
        (
            SPEC.replace("steps = 1000", "steps = 1000\ncolour = 3"),
            "s.toml:5: `colour`: unknown key",
        ),
        (
            SPEC.replace(
                "grid = { h_weight = [0.1, 0.5] }",
                "zip = { h_weight = [0.1, 0.5], min_at = [0.001] }",
            ),
            "s.toml:9: `agent[0].zip.min_at`: zip lists must have equal lengths",
        ),
        (
            SPEC.replace("params = { size = 5 }", "params = { size = 0 }"),
            "s.toml:15: `mdp[0]`: river_swim: size = 0: must be in",
        ),
        (
            SPEC.replace(
                "grid = { p_rand = [0.0, 0.1] }",
                "grid = { p_rand = [0.0, 1.5] }",
            ),
            "p_rand = 1.5",
        ),
        (
            SPEC.replace(
                "grid = { h_weight = [0.1, 0.5] }",
                "grid = { colour = [1, 2] }",
            ),
            "unknown parameter `colour`",
        ),
    ];
    for (text, want) in cases {
        d.write("s.toml", &text);
        let (code, _, err) = run(d.ludus().args(["plan", "s.toml", "--out", "ex"]));
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(want), "wanted {want:?} in {err:?}");
        assert!(!d.join("ex").exists(), "a refused spec wrote something");
    }
}

#[test]
fn agents_file_replaces_agents() {
    let d = Dir::new();
    d.write("s.toml", SPEC);
    d.write(
        "best.toml",
        "[[agent]]\nname = \"q_learning\"\nparams = { h_weight = 0.5 }\n",
    );
    let (code, out, err) =
        run(d
            .ludus()
            .args(["plan", "s.toml", "--agents", "best.toml", "--out", "ex"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("planned 4 instances"), "{out}");
}

#[test]
fn bad_instance_files_are_refused_clearly() {
    let d = Dir::new();
    d.write("s.toml", SPEC);
    run(d.ludus().args(["plan", "s.toml", "--out", "ex"]));
    let id = &manifest_ids(&d, "ex")[0];
    let good = std::fs::read(d.join(format!("ex/instances/{id}.bin"))).unwrap();
    d.write("trunc.bin", "");
    std::fs::write(d.join("trunc.bin"), &good[..good.len() - 3]).unwrap();
    let (code, _, err) = run(d.ludus().args(["show", "trunc.bin"]));
    assert_eq!(code, 2);
    assert!(err.contains("trunc.bin: truncated"), "{err}");
    let mut v2 = good.clone();
    v2[8] = 2;
    std::fs::write(d.join("v2.bin"), v2).unwrap();
    let (_, _, err) = run(d.ludus().args(["show", "v2.bin"]));
    assert!(err.contains("v2.bin: instance format version 2"), "{err}");
    d.write("x.bin", "hello, world, this is not ludus");
    let (_, _, err) = run(d.ludus().args(["show", "x.bin"]));
    assert!(err.contains("x.bin: not a ludus instance file"), "{err}");
    let (_, _, err) = run(d.ludus().args(["show", "missing.bin"]));
    assert!(err.contains("missing.bin"), "{err}");
}
