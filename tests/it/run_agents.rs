//! `ludus run SPEC --agents FILE` plans exactly what `ludus plan SPEC --agents FILE` plans, and
//! refuses a missing or malformed agents file (exit 2) before writing anything.

use crate::support::{Dir, run};

const SPEC: &str = r#"
name = "t"
seeds = [0]
steps = 200
log_every = 100

[[agent]]
name = "q_learning"
grid = { h_weight = [0.1, 0.5] }

[[mdp]]
family = "river_swim"
params = { size = 5 }
"#;

const BEST: &str = "[[agent]]\nname = \"q_learning\"\nparams = { h_weight = 0.5 }\n\n[[agent]]\nname = \"random\"\n";

fn manifest_ids(d: &Dir, out: &str) -> Vec<String> {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join(out).join("manifest.json")).unwrap()).unwrap();
    let mut ids: Vec<String> = m["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn run_plans_what_plan_plans_with_an_agents_file() {
    let d = Dir::new();
    d.write("s.toml", SPEC);
    d.write("best.toml", BEST);
    let (code, _, err) = run(d.ludus().args(["plan", "s.toml", "--out", "spec_only"]));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(d.ludus().args([
        "plan",
        "s.toml",
        "--agents",
        "best.toml",
        "--out",
        "planned",
    ]));
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(d.ludus().args([
        "run",
        "s.toml",
        "--agents",
        "best.toml",
        "--out",
        "ran",
        "--jobs",
        "1",
        "--progress",
        "plain",
    ]));
    assert!(code == 0 || code == 1, "{code}: {err}");
    let planned = manifest_ids(&d, "planned");
    assert_eq!(planned.len(), 2, "one q_learning configuration and random");
    assert_eq!(manifest_ids(&d, "ran"), planned, "{out}\n{err}");
    assert_ne!(manifest_ids(&d, "spec_only"), planned);
    // The agents file's agents ran: random is in the ranking, h_weight 0.1 is not.
    assert!(out.contains("random"), "{out}");
    assert!(!out.contains("0.1"), "{out}");
}

#[test]
fn run_refuses_a_missing_or_malformed_agents_file() {
    let d = Dir::new();
    d.write("s.toml", SPEC);
    d.write("bad.toml", "[[agent]]\nname = \"no_such_agent\"\n");
    d.write("broken.toml", "[[agent]\nname = ");
    for (file, want) in [
        ("missing.toml", "missing.toml"),
        ("bad.toml", "no_such_agent"),
        ("broken.toml", "broken.toml"),
    ] {
        let (code, _, err) = run(d
            .ludus()
            .args(["run", "s.toml", "--agents", file, "--out", "ex"]));
        assert_eq!(code, 2, "{file}: {err}");
        assert!(err.contains(want), "{file}: wanted {want:?} in {err:?}");
        assert!(
            !d.join("ex").exists(),
            "{file}: a refused agents file wrote ex/"
        );
    }
}
