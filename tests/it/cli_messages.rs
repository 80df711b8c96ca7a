//! What the command line says in the small cases a new user hits: errors said once, nothing
//! left behind by a failed command, help that cites real files, the optimal policy of `mdp`.

use crate::support::{Dir, run};

const SPEC: &str = r#"
name = "t"
seeds = [0]
steps = 100
log_every = 50

[[agent]]
name = "random"

[[mdp]]
family = "river_swim"
params = { size = 3 }
"#;

#[test]
fn a_missing_folder_is_one_error_said_once_and_report_leaves_nothing() {
    let d = Dir::new();
    let (code, _, err) = run(d.ludus().args(["select-best", "nope"]));
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
    let (code, _, err) = run(d.ludus().args(["report", "nope", "--out", "rep"]));
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
    assert!(
        !d.join("rep").exists(),
        "report left its --out folder behind"
    );
    // A folder that existed before stays.
    std::fs::create_dir(d.join("mine")).unwrap();
    let (code, _, _) = run(d.ludus().args(["report", "nope", "--out", "mine"]));
    assert_eq!(code, 2);
    assert!(d.join("mine").is_dir());
}

#[test]
fn reset_with_nothing_to_reset_names_no_attic() {
    let d = Dir::new();
    d.write("s.toml", SPEC);
    let (code, _, err) = run(d.ludus().args(["plan", "s.toml", "--out", "ex"]));
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(d.ludus().args(["reset", "ex", "--status", "error"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "reset 0 instances: none has the status error\n");
    assert!(!d.join("ex/attic").exists());
    // With something to reset, the attic folder it names exists.
    let (code, _, err) = run(d
        .ludus()
        .args(["run-instances", "ex", "--progress", "plain"]));
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(d.ludus().args(["reset", "ex", "--status", "done"]));
    assert_eq!(code, 0, "{err}");
    let named = out
        .split("attic/")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .unwrap_or_else(|| panic!("no attic folder named: {out}"));
    assert!(d.join("ex/attic").join(named).is_dir(), "{out}");
}

const VERBS: [&str; 15] = [
    "plan",
    "show",
    "run-instances",
    "status",
    "reset",
    "run",
    "select-best",
    "report",
    "mdp",
    "upload",
    "download",
    "submit",
    "watch",
    "resubmit",
    "cancel",
];

#[test]
fn help_cites_real_benchmarks_and_examples_sit_under_a_heading() {
    let d = Dir::new();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut helps = vec![("ludus".to_string(), run(d.ludus().arg("--help")).1)];
    for verb in VERBS {
        let (code, out, err) = run(d.ludus().args([verb, "--help"]));
        assert_eq!(code, 0, "{verb}: {err}");
        helps.push((verb.to_string(), out));
    }
    for (verb, text) in &helps {
        for word in text.split_whitespace() {
            if let Some(path) = word.strip_prefix("benchmarks/") {
                let path = path.trim_end_matches(|c: char| !c.is_alphanumeric());
                let file = repo.join("benchmarks").join(format!(
                    "{}.toml",
                    path.trim_end_matches(".toml").trim_end_matches('.')
                ));
                assert!(
                    file.is_file(),
                    "{verb} --help cites {word}, which does not exist"
                );
            }
        }
        // Every example command belongs to a block that a heading line (ending in ':') opens.
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if !line.starts_with("  ludus ") {
                continue;
            }
            let head = lines[..i]
                .iter()
                .rev()
                .find(|l| !l.starts_with("  "))
                .unwrap_or(&"");
            assert!(
                head.ends_with(':'),
                "{verb} --help: `{line}` stands after `{head}`, outside an examples block"
            );
        }
    }
}

fn policy_from_json(d: &Dir, args: &[&str]) -> (Vec<u64>, usize) {
    let mut all = vec!["mdp"];
    all.extend_from_slice(args);
    all.push("--json");
    let (code, out, err) = run(d.ludus().args(&all));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let policy = v["optimal"]["policy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_u64().unwrap())
        .collect();
    (policy, v["n_states"].as_u64().unwrap() as usize)
}

fn numbers(line: &str) -> Vec<u64> {
    line.split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect()
}

#[test]
fn mdp_text_shows_the_optimal_policy() {
    let d = Dir::new();
    let (policy, _) = policy_from_json(&d, &["river_swim", "--set", "size=4"]);
    let (code, out, err) = run(d.ludus().args(["mdp", "river_swim", "--set", "size=4"]));
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("  optimal policy"))
        .unwrap_or_else(|| panic!("no optimal policy in:\n{out}"));
    assert_eq!(numbers(lines[at + 1]), policy, "{out}");

    let args = ["deep_sea", "--episodic", "--set", "size=4"];
    let (policy, n_states) = policy_from_json(&d, &args);
    let mut all = vec!["mdp"];
    all.extend_from_slice(&args);
    let (code, out, err) = run(d.ludus().args(&all));
    assert_eq!(code, 0, "{err}");
    let rows: Vec<Vec<u64>> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("h "))
        .map(|l| numbers(l.split_once(':').unwrap().1))
        .collect();
    assert!(!rows.is_empty(), "{out}");
    assert_eq!(rows.concat(), policy, "{out}");
    assert!(rows.iter().all(|r| r.len() == n_states));
}

#[test]
fn an_unknown_parameter_names_the_variant_that_refuses_it() {
    let d = Dir::new();
    for (episodic, variant) in [
        (
            "true",
            "q_learning (its episodic variant, for the episodic MDPs)",
        ),
        (
            "false",
            "q_learning (its continuous variant, for the continuous MDPs)",
        ),
    ] {
        d.write(
            "s.toml",
            &format!(
                "name = \"t\"\nseeds = [0]\nsteps = 100\n[[agent]]\nname = \"q_learning\"\nparams = {{ colour = 1 }}\n[[mdp]]\nfamily = \"river_swim\"\nepisodic = {episodic}\n"
            ),
        );
        let (code, _, err) = run(d.ludus().args(["plan", "s.toml", "--dry-run"]));
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains(&format!("{variant}: unknown parameter `colour`")),
            "{err}"
        );
    }
}

#[test]
fn readme_says_how_to_run_mpirun_as_root() {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let lines: Vec<&str> = readme.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("mpirun ") {
            let near = lines[i..(i + 8).min(lines.len())].join("\n");
            assert!(
                near.contains("--allow-run-as-root") && near.contains("OMPI_ALLOW_RUN_AS_ROOT"),
                "README line {}: `{line}` without the root note",
                i + 1
            );
        }
    }
}
