use std::path::Path;

use super::*;
use crate::value::Value;

const GOOD: &str = r#"
name = "quick"
seeds = 3
steps = 20000
log_every = 100
time_limit = "60s"

[[agent]]
name = "q_learning"
params = { c_1 = 0.5 }
grid = { p = [0.01, 0.05], c_2 = [0.1, 0.5, 1.0] }

[[agent]]
name = "psrl"
sample = { n = 4, seed = 7, k = { int = [1, 10] } }

[[mdp]]
family = "river_swim"
params = { size = 5, nested = { a = 1 } }
grid = { p_rand = [0.0, 0.1] }
"#;

fn parse(text: &str) -> Result<Spec, SpecError> {
    Spec::parse(Path::new("s.toml"), text)
}

fn err(text: &str) -> SpecError {
    parse(text).expect_err("the spec should be refused")
}

#[test]
fn good_spec_reads() {
    let s = parse(GOOD).unwrap();
    assert_eq!(s.name, "quick");
    assert_eq!(s.seeds, vec![0, 1, 2]);
    assert_eq!(s.time_limit_ms, 60_000);
    assert_eq!(s.agents.len(), 2);
    assert_eq!(s.agents[0].sweep.len(), 6);
    assert_eq!(s.agents[1].sweep.len(), 4);
    assert_eq!(s.mdps[0].sweep.len(), 2);
    assert!(!s.mdps[0].episodic);
    assert!(matches!(s.mdps[0].sweep.fixed["nested"], Value::Table(_)));
    assert_eq!(s.upper_bound(), (6 + 4) * 2 * 3);
}

#[test]
fn yaml_reads_like_toml() {
    let yaml = r#"
name: quick
seeds: 3
steps: 20000
log_every: 100
time_limit: 60s
agent:
  - name: q_learning
    params: { c_1: 0.5 }
    grid: { p: [0.01, 0.05], c_2: [0.1, 0.5, 1.0] }
  - name: psrl
    sample: { n: 4, seed: 7, k: { int: [1, 10] } }
mdp:
  - family: river_swim
    params: { size: 5, nested: { a: 1 } }
    grid: { p_rand: [0.0, 0.1] }
"#;
    let y = Spec::parse(Path::new("s.yaml"), yaml).unwrap();
    let mut t = parse(GOOD).unwrap();
    t.path = y.path.clone();
    // Lines are TOML-only; compare everything else.
    let strip = |mut s: Spec| {
        s.agents.iter_mut().for_each(|a| a.line = None);
        s.mdps.iter_mut().for_each(|m| m.line = None);
        s
    };
    assert_eq!(strip(y), strip(t));
}

#[test]
fn seeds_as_list() {
    let s = parse(&GOOD.replace("seeds = 3", "seeds = [0, 7, 42]")).unwrap();
    assert_eq!(s.seeds, vec![0, 7, 42]);
    let e = err(&GOOD.replace("seeds = 3", "seeds = [1, 1]"));
    assert_eq!(e.key, "seeds[1]");
}

#[test]
fn unknown_top_key_names_line() {
    let e = err(&GOOD.replace("log_every = 100", "log_evry = 100"));
    assert_eq!(e.key, "log_evry");
    assert_eq!(e.line, Some(5));
    assert!(e.message.contains("unknown key"));
    let shown = e.to_string();
    assert!(
        shown.starts_with("s.toml:5: `log_evry`: unknown key"),
        "{shown}"
    );
}

#[test]
fn unknown_agent_key() {
    let e = err(&GOOD.replace("params = { c_1 = 0.5 }", "parms = { c_1 = 0.5 }"));
    assert_eq!(e.key, "agent[0].parms");
    assert_eq!(e.line, Some(10));
}

#[test]
fn wrong_types() {
    let e = err(&GOOD.replace("steps = 20000", "steps = \"many\""));
    assert_eq!((e.key.as_str(), e.line), ("steps", Some(4)));
    assert!(e.message.contains("expected an integer"));
    let e = err(&GOOD.replace("p = [0.01, 0.05]", "p = 0.01"));
    assert_eq!(e.key, "agent[0].grid.p");
    assert!(e.message.contains("params"), "{}", e.message);
    let e = err(&GOOD.replace("time_limit = \"60s\"", "time_limit = \"soon\""));
    assert_eq!(e.key, "time_limit");
    let e = err(&GOOD.replace("family = \"river_swim\"", "family = 3"));
    assert_eq!(e.key, "mdp[0].family");
}

#[test]
fn empty_sweeps() {
    let e = err(&GOOD.replace("p = [0.01, 0.05]", "p = []"));
    assert_eq!(e.key, "agent[0].grid.p");
    assert!(e.message.contains("empty"));
    let e = err(&GOOD.replace("n = 4", "n = 0"));
    assert_eq!(e.key, "agent[1].sample.n");
    let e = err(&GOOD.replace("seeds = 3", "seeds = []"));
    assert_eq!(e.key, "seeds");
}

#[test]
fn zip_unequal_lengths() {
    let e = err(&GOOD.replace(
        "grid = { p = [0.01, 0.05], c_2 = [0.1, 0.5, 1.0] }",
        "zip = { a = [1, 2, 3], b = [4, 5] }",
    ));
    assert_eq!(e.key, "agent[0].zip.b");
    assert_eq!(e.line, Some(11));
    assert!(e.message.contains("equal lengths"));
}

#[test]
fn fixed_and_swept() {
    let e = err(&GOOD.replace("params = { c_1 = 0.5 }", "params = { c_1 = 0.5, p = 0.1 }"));
    assert_eq!(e.key, "agent[0].grid.p");
    assert!(e.message.contains("both"), "{}", e.message);
}

#[test]
fn bad_distribution() {
    let e = err(&GOOD.replace("k = { int = [1, 10] }", "k = { gauss = [1, 10] }"));
    assert_eq!(e.key, "agent[1].sample.k.gauss");
    let e = err(&GOOD.replace("k = { int = [1, 10] }", "k = { log_uniform = [0, 1] }"));
    assert!(e.message.contains("above 0"));
}

#[test]
fn syntax_error_names_line() {
    let e = err("name = \"x\"\nseeds = = 3\n");
    assert_eq!(e.line, Some(2));
}

#[test]
fn missing_pieces() {
    assert_eq!(
        err("seeds = 1\nsteps = 10\n[[mdp]]\nfamily = \"x\"\n").key,
        "agent"
    );
    assert_eq!(
        err("seeds = 1\n[[agent]]\nname = \"x\"\n[[mdp]]\nfamily = \"x\"\n").key,
        "steps"
    );
}

#[test]
fn agents_file_reads() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("best.toml");
    std::fs::write(
        &p,
        "[[agent]]\nname = \"q_learning\"\nparams = { p = 0.05, c_1 = 0.5 }\n",
    )
    .unwrap();
    let a = load_agents(&p).unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].sweep.len(), 1);
    std::fs::write(&p, "seeds = 3\n").unwrap();
    assert_eq!(load_agents(&p).unwrap_err().key, "seeds");
}

#[test]
fn experiments_only_need_no_steps() {
    let s = Spec::parse(
        Path::new("e.toml"),
        "seeds = 2\ntime_limit = \"10m\"\n[[experiment]]\nname = \"train\"\n\
         command = [\"python3\", \"train.py\", \"--lr\", \"{lr}\"]\nworkdir = \"code\"\n\
         params = { epochs = 20 }\ngrid = { lr = [0.1, 0.01] }\n",
    )
    .unwrap();
    assert!(s.agents.is_empty() && s.mdps.is_empty());
    assert_eq!(s.experiments.len(), 1);
    let e = &s.experiments[0];
    assert_eq!(e.command[3], "{lr}");
    assert_eq!(e.workdir, "code");
    assert_eq!(e.sweep.len(), 2);
    assert_eq!(s.upper_bound(), 4);
    assert_eq!(s.time_limit_ms, 600_000);
}

#[test]
fn experiment_errors_name_the_key() {
    let e = err("seeds = 1\n[[experiment]]\nname = \"t\"\ncommand = \"python3 x.py\"\n");
    assert_eq!(e.key, "experiment[0].command");
    assert!(e.message.contains("non-empty list"), "{}", e.message);
    let e = err("seeds = 1\n[[experiment]]\nname = \"t\"\n");
    assert!(e.message.contains("needs `command`"), "{}", e.message);
    let e = err("seeds = 1\n[[experiment]]\nname = \"t\"\ncommand = [\"x\"]\ncmd = 1\n");
    assert_eq!(e.key, "experiment[0].cmd");
    // Built-in agents still need steps when experiments are there too.
    let e = err(
        "seeds = 1\n[[experiment]]\nname = \"t\"\ncommand = [\"x\"]\n\
         [[agent]]\nname = \"q_learning\"\n[[mdp]]\nfamily = \"river_swim\"\n",
    );
    assert_eq!(e.key, "steps");
}
