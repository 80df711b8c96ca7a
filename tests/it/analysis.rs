//! select-best and report on synthetic log folders whose answers are known by construction,
//! through the library and through the real binary.

use std::path::{Path, PathBuf};

use crate::support::common::{Run, params, write_sweep};
use assert_cmd::Command;
use ludus::analysis::{Incomplete, SelectOptions, select_best};
use ludus::report::{ReportOptions, write_report};
use ludus::value::Value;

fn ludus() -> Command {
    Command::cargo_bin("ludus").unwrap()
}

fn run<'a>(
    agent: &'a str,
    c: Value,
    mdp_size: i64,
    seed: u64,
    status: &'a str,
    norm: f64,
) -> Run<'a> {
    Run {
        agent,
        agent_params: params(&[("c", c)]),
        family: "river_swim",
        episodic: false,
        mdp_params: params(&[("size", Value::Int(mdp_size))]),
        seed,
        status,
        rows: 10,
        final_norm: norm,
    }
}

#[test]
fn the_best_configuration_is_known_by_construction() {
    let dir = tempfile::tempdir().unwrap();
    write_sweep(dir.path(), 2, 3, 2, 3, 20);
    let sel = select_best(&[dir.path().to_path_buf()], &SelectOptions::default()).unwrap();
    assert!(sel.is_complete());
    assert_eq!(sel.agents.len(), 2);
    for a in &sel.agents {
        assert_eq!(a.expected_runs, 6);
        let w = &a.configs[a.winner.unwrap()];
        assert_eq!(w.params["c"], Value::Int(0));
        // mean over m in {0,1}, s in {0,1,2} of 0.1 + 0.01 m + 0.001 s
        assert!((w.stat.mean.unwrap() - 0.106).abs() < 1e-9, "{:?}", w.stat);
        assert_eq!(w.stat.n, 6);
        let order: Vec<_> = a.configs.iter().map(|c| c.params["c"].clone()).collect();
        assert_eq!(order, [0, 1, 2].map(Value::Int));
    }

    // The same runs given twice (a folder and its logs/) are counted once.
    let twice = [dir.path().to_path_buf(), dir.path().join("logs")];
    let sel2 = select_best(&twice, &SelectOptions::default()).unwrap();
    assert_eq!(
        sel2.agents[0].configs[0].stat,
        sel.agents[0].configs[0].stat
    );

    // The binary: the logs/ folder works as well as the experiment folder; the agents file
    // parses back.
    let best = dir.path().join("best.toml");
    let out = ludus()
        .args(["select-best"])
        .arg(dir.path().join("logs"))
        .arg("--out")
        .arg(&best)
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("psrl: 3 configuration(s), 1 MDP(s)")
            || text.contains("psrl: 3 configuration(s), 2 MDP(s)"),
        "{text}"
    );
    let doc: toml_edit::DocumentMut = std::fs::read_to_string(&best).unwrap().parse().unwrap();
    let agents = doc["agent"].as_array_of_tables().unwrap();
    let names: Vec<_> = agents
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["psrl", "q_learning"]);
    for t in agents.iter() {
        assert_eq!(t["params"]["c"].as_integer(), Some(0));
    }
}

#[test]
fn a_missing_run_is_reported_and_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    for seed in 0..3 {
        // Config 0 is better, but its seed 2 never finished (a log with no status file).
        run("q_learning", Value::Int(0), 5, seed, "done", 0.1).write(&logs, seed != 2);
        run("q_learning", Value::Int(1), 5, seed, "done", 0.2).write(&logs, true);
        // Config 2 would be best, but one run failed.
        let status = if seed == 1 { "error" } else { "done" };
        run("q_learning", Value::Int(2), 5, seed, status, 0.01).write(&logs, true);
    }
    // Temp files and other folders are ignored.
    std::fs::write(logs.join("0123456789abcdef.json.tmp42"), "{").unwrap();
    std::fs::create_dir_all(logs.join("attic")).unwrap();
    std::fs::write(logs.join(".fedcba9876543210.json"), "{").unwrap();

    // A downloaded copy holding the finished run completes the data.
    let other = tempfile::tempdir().unwrap();
    run("q_learning", Value::Int(0), 5, 2, "done", 0.1).write(other.path(), true);
    let both = [dir.path().to_path_buf(), other.path().to_path_buf()];
    let sel = select_best(&both, &SelectOptions::default()).unwrap();
    assert!(sel.unfinished.is_empty());
    let a = &sel.agents[0];
    assert_eq!(a.configs[a.winner.unwrap()].params["c"], Value::Int(0));

    let paths = [dir.path().to_path_buf()];
    let sel = select_best(&paths, &SelectOptions::default()).unwrap();
    assert!(!sel.is_complete());
    assert_eq!(sel.unfinished.len(), 1);
    assert!(sel.unreadable.is_empty());
    let a = &sel.agents[0];
    let w = &a.configs[a.winner.unwrap()];
    assert_eq!(w.params["c"], Value::Int(1));
    let c0 = a
        .configs
        .iter()
        .find(|c| c.params["c"] == Value::Int(0))
        .unwrap();
    assert!(c0.incomplete && c0.excluded);
    assert_eq!((c0.missing, c0.stat.n), (1, 2));
    let c2 = a
        .configs
        .iter()
        .find(|c| c.params["c"] == Value::Int(2))
        .unwrap();
    assert!(c2.incomplete && c2.excluded);
    assert_eq!((c2.errors, c2.missing, c2.stat.n), (1, 0, 2));

    // With --incomplete include, the failed configuration's two runs win, still flagged.
    let opts = SelectOptions {
        incomplete: Incomplete::Include,
        ..Default::default()
    };
    let sel = select_best(&paths, &opts).unwrap();
    let a = &sel.agents[0];
    assert_eq!(a.configs[a.winner.unwrap()].params["c"], Value::Int(2));
    assert!(a.configs[0].incomplete);

    let out = ludus()
        .arg("select-best")
        .arg(dir.path())
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("1 log(s) have no status file"), "{text}");
    assert!(text.contains("agent diverged"), "{text}");
    assert!(
        text.contains("2 configuration(s) have fewer valid runs"),
        "{text}"
    );
}

#[test]
fn ties_are_broken_deterministically() {
    let make = |reverse: bool| {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        let mut values = vec![
            Value::Str("b".into()),
            Value::Str("a".into()),
            Value::Str("c".into()),
        ];
        if reverse {
            values.reverse();
        }
        for v in values {
            for seed in 0..2 {
                run("psrl", v.clone(), 5, seed, "done", 0.5).write(&logs, true);
            }
        }
        let sel = select_best(&[dir.path().to_path_buf()], &SelectOptions::default()).unwrap();
        sel.agents[0]
            .configs
            .iter()
            .map(|c| c.params["c"].clone())
            .collect::<Vec<_>>()
    };
    let first = make(false);
    assert_eq!(first, ["a", "b", "c"].map(|s| Value::Str(s.into())));
    assert_eq!(make(true), first);
}

#[test]
fn the_agents_file_round_trips_strings_tables_and_floats() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let mut nested = ludus::value::Params::new();
    nested.insert("kind".into(), Value::Str("beta \"quoted\" \\ é".into()));
    nested.insert(
        "ab".into(),
        Value::List(vec![Value::Float(0.1), Value::Float(2.0)]),
    );
    let p = params(&[
        ("f", Value::Float(1e-7)),
        ("big", Value::Float(1e20)),
        ("whole", Value::Float(3.0)),
        ("neg", Value::Float(-0.30000000000000004)),
        ("n", Value::Int(-3)),
        ("flag", Value::Bool(true)),
        ("name with space", Value::Str("x".into())),
        ("prior", Value::Table(nested)),
        ("empty", Value::Table(Default::default())),
    ]);
    let mut r = run("psrl", Value::Int(0), 5, 0, "done", 0.1);
    r.agent_params = p.clone();
    r.write(&logs, true);
    let best = dir.path().join("best.toml");
    ludus()
        .arg("select-best")
        .arg(dir.path())
        .arg("--out")
        .arg(&best)
        .assert()
        .code(0);
    let text = std::fs::read_to_string(&best).unwrap();
    assert!(
        text.starts_with("# written by ludus select-best from "),
        "{text}"
    );
    let doc: toml_edit::DocumentMut = text.parse().unwrap();
    let t = &doc["agent"][0]["params"];
    let back = toml_to_value(t.as_value().unwrap());
    assert_eq!(back, Value::Table(p), "{text}");
}

fn toml_to_value(v: &toml_edit::Value) -> Value {
    match v {
        toml_edit::Value::String(s) => Value::Str(s.value().clone()),
        toml_edit::Value::Integer(i) => Value::Int(*i.value()),
        toml_edit::Value::Float(f) => Value::Float(*f.value()),
        toml_edit::Value::Boolean(b) => Value::Bool(*b.value()),
        toml_edit::Value::Array(a) => Value::List(a.iter().map(toml_to_value).collect()),
        toml_edit::Value::InlineTable(t) => Value::Table(
            t.iter()
                .map(|(k, v)| (k.to_string(), toml_to_value(v)))
                .collect(),
        ),
        toml_edit::Value::Datetime(_) => panic!("no dates"),
    }
}

/// A small sweep for the report: two Q-learning configurations and random, on two MDPs, two
/// seeds; one random run timed out, one Q-learning run of the losing configuration failed.
fn report_fixture(dir: &Path) -> PathBuf {
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    for size in [5, 8] {
        for seed in 0..2 {
            let bump = 0.01 * seed as f64 + 0.1 * (size - 5) as f64 / 3.0;
            run(
                "q_learning",
                Value::Float(0.5),
                size,
                seed,
                "done",
                0.2 + bump,
            )
            .write(&logs, true);
            let status = if size == 8 && seed == 1 {
                "error"
            } else {
                "done"
            };
            run(
                "q_learning",
                Value::Float(0.9),
                size,
                seed,
                status,
                0.4 + bump,
            )
            .write(&logs, true);
            let mut r = run("random", Value::Int(0), size, seed, "done", 0.9 + bump);
            r.agent_params = Default::default();
            if size == 5 && seed == 0 {
                r.status = "timeout";
            }
            r.write(&logs, true);
        }
    }
    dir.to_path_buf()
}

const GOLDEN_TABLES: &str = "\
# Results

Each agent is shown with its selected configuration: the lowest mean `normalized_cumulative_regret` at final over MDPs and seeds.

## Agents

| agent | configuration | parameters | compared | mean `normalized_cumulative_regret` |
|---|---|---|---:|---:|
| q_learning | `CFG_Q` | `{ c = 0.5 }` | 2 | 0.255 |
| random | `CFG_R` | defaults | 1 | 0.955 |

## Cumulative regret (final)

Mean ± 95% CI across seeds; **bold**: the lowest mean on the MDP.

| MDP | q_learning | random |
|---|---:|---:|
| `river_swim { size = 5 }` | **20.5 ± 6.4** | 90.5 ± 6.4 (1 timeout) |
| `river_swim { size = 8 }` | **30.5 ± 6.4** | 100.5 ± 6.4 |

## Normalized cumulative regret (final)

Mean ± 95% CI across seeds; **bold**: the lowest mean on the MDP.

| MDP | q_learning | random |
|---|---:|---:|
| `river_swim { size = 5 }` | **0.205 ± 0.064** | 0.905 ± 0.064 (1 timeout) |
| `river_swim { size = 8 }` | **0.305 ± 0.064** | 1.005 ± 0.064 |
";

#[test]
fn report_tables_match_the_golden_markdown() {
    let dir = tempfile::tempdir().unwrap();
    let path = report_fixture(dir.path());
    let out = dir.path().join("report");
    let opts = ReportOptions {
        plots: false,
        curves: false,
        ..Default::default()
    };
    let summary = write_report(&[path], &opts, &out).unwrap();
    assert!(
        summary.complete,
        "the failed run belongs to a configuration not selected"
    );
    let tables = std::fs::read_to_string(out.join("tables.md")).unwrap();
    let q = ludus::plan::instance::config_id("q_learning", &params(&[("c", Value::Float(0.5))]));
    let r = ludus::plan::instance::config_id("random", &Default::default());
    let golden = GOLDEN_TABLES.replace("CFG_Q", &q).replace("CFG_R", &r);
    assert_eq!(tables, golden, "actual:\n{tables}");

    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5);
    assert!(
        csv.lines()
            .nth(1)
            .unwrap()
            .starts_with("river_swim { size = 5 },q_learning,")
    );
    let tex = std::fs::read_to_string(out.join("tables.tex")).unwrap();
    assert!(
        tex.contains("\\toprule") && tex.contains("\\textbf{20.5 $\\pm$ 6.4}"),
        "{tex}"
    );
    assert!(tex.contains("q\\_learning"));
    let index = std::fs::read_to_string(out.join("index.md")).unwrap();
    assert!(
        index.contains("[Markdown](tables.md)") && !index.contains("plots/"),
        "{index}"
    );
}

#[test]
fn the_report_renders_valid_svg_and_png_plots() {
    let dir = tempfile::tempdir().unwrap();
    let path = report_fixture(dir.path());
    let out = dir.path().join("report");
    ludus()
        .arg("report")
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(0);
    let plots: Vec<PathBuf> = std::fs::read_dir(out.join("plots"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    // Two MDPs and the summary, each as SVG and PNG; no temp files left.
    assert_eq!(plots.len(), 6, "{plots:?}");
    for p in &plots {
        let bytes = std::fs::read(p).unwrap();
        match p.extension().and_then(|e| e.to_str()) {
            Some("svg") => {
                let text = String::from_utf8(bytes).unwrap();
                assert!(text.starts_with("<svg") && text.trim_end().ends_with("</svg>"));
                assert!(
                    text.contains("q_learning") && text.contains("<text"),
                    "{}",
                    p.display()
                );
            }
            Some("png") => {
                let img =
                    image::load_from_memory_with_format(&bytes, image::ImageFormat::Png).unwrap();
                assert_eq!((img.width(), img.height()), (900, 560));
                // Something was drawn: not a blank image.
                let rgb = img.to_rgb8();
                assert!(rgb.pixels().any(|px| px.0 != [255, 255, 255]));
            }
            _ => panic!("unexpected file {}", p.display()),
        }
    }
    let index = std::fs::read_to_string(out.join("index.md")).unwrap();
    assert!(index.contains("plots/summary.svg"));
    assert_eq!(index.matches("plots/regret-").count(), 4, "{index}");
}

#[test]
fn json_output_and_a_step_measure() {
    let dir = tempfile::tempdir().unwrap();
    write_sweep(dir.path(), 1, 2, 1, 2, 10);
    let out = ludus()
        .arg("select-best")
        .arg(dir.path())
        .args(["--json", "--at", "500", "--measure", "cumulative_regret"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["at"], "step 500");
    let top = &v["agents"][0]["configs"][0];
    assert_eq!(top["params"]["c"], 0);
    // At step 500 of 1000, regret is 100 * final_norm * sqrt(0.5).
    let expected = 100.0 * 0.1005 * 0.5f64.sqrt();
    assert!((top["stat"]["mean"].as_f64().unwrap() - expected).abs() < 1e-9);
}

#[test]
fn bad_input_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    ludus().arg("select-best").arg(dir.path()).assert().code(2);
    ludus()
        .arg("select-best")
        .arg(dir.path().join("nope"))
        .assert()
        .code(2);
    write_sweep(dir.path(), 1, 1, 1, 1, 5);
    ludus()
        .arg("select-best")
        .arg(dir.path())
        .args(["--measure", "no_such_column"])
        .assert()
        .code(1);
}
