//! The MDP's seed: a spec without an MDP `seed` gives each run seed its own MDP (the MDP's
//! seed is the run's seed, as in Colosseum's benchmarks); an explicit MDP seed wins.

use std::sync::atomic::AtomicBool;

use ludus::model::Registry;
use ludus::plan::{AgentSpec, Instance, InstanceKind, MdpSpec};
use ludus::run::{COLUMNS, LogSink, RunControl, run_instance};
use ludus::value::{Params, Value};

use crate::support::{Dir, run};

struct Last(Vec<f64>);

impl LogSink for Last {
    fn columns(&mut self, _: &[&str]) -> std::io::Result<()> {
        Ok(())
    }
    fn row(&mut self, values: &[f64]) -> std::io::Result<()> {
        self.0 = values.to_vec();
        Ok(())
    }
}

fn lake(seed: Option<i64>, run_seed: u64) -> Instance {
    let mut params: Params = [
        ("size".to_string(), Value::Int(4)),
        ("p_frozen".to_string(), Value::Float(0.9)),
    ]
    .into();
    if let Some(s) = seed {
        params.insert("seed".into(), Value::Int(s));
    }
    Instance {
        spec_name: "t".into(),
        kind: InstanceKind::Builtin {
            agent: AgentSpec {
                name: "random".into(),
                params: Params::new(),
            },
            mdp: MdpSpec {
                family: "frozen_lake".into(),
                episodic: false,
                params,
            },
        },
        seed: run_seed,
        steps: 100,
        log_every: 100,
        time_limit_ms: 0,
    }
}

/// The optimal average reward of the MDP the run actually built (from its last log row).
fn optimal_of_run(inst: &Instance) -> f64 {
    let flag = AtomicBool::new(false);
    let ctl = RunControl {
        time_limit: None,
        kill_after: None,
        interrupt: &flag,
    };
    let mut sink = Last(Vec::new());
    run_instance(inst, &Registry::builtin(), &ctl, &mut sink).expect("run");
    let col = COLUMNS
        .iter()
        .position(|c| *c == "optimal_cumulative_expected_reward")
        .unwrap();
    sink.0[col] / sink.0[0]
}

#[test]
fn a_seedless_mdp_takes_the_run_seed_and_an_explicit_one_wins() {
    // FrozenLake(4, 0.9): seed 0 and seed 1 are different lakes (optimal 0.0733 and 0.0777
    // in Colosseum).
    let derived: Vec<f64> = (0..3).map(|s| optimal_of_run(&lake(None, s))).collect();
    let explicit: Vec<f64> = (0..3)
        .map(|s| optimal_of_run(&lake(Some(s as i64), 9)))
        .collect();
    assert_eq!(derived, explicit, "run seed s must build the MDP of seed s");
    assert!(
        (derived[0] - derived[1]).abs() > 1e-3,
        "seeds 0 and 1 gave the same lake: {derived:?}"
    );
    // An explicit MDP seed is the same MDP for every run seed.
    assert_eq!(
        optimal_of_run(&lake(Some(0), 1)),
        optimal_of_run(&lake(Some(0), 2))
    );
    // Ids follow what is built: a seedless MDP at run seed 3 is the MDP of seed 3.
    assert_eq!(lake(None, 3).id(), lake(Some(3), 3).id());
    assert_ne!(lake(None, 3).id(), lake(Some(0), 3).id());
    assert_ne!(lake(None, 3).id(), lake(None, 4).id());
}

#[test]
fn plan_keeps_the_spec_as_written_and_checks_every_seed() {
    let d = Dir::new();
    d.write(
        "s.toml",
        r#"
seeds = 3
steps = 100
[[agent]]
name = "random"
[[mdp]]
family = "frozen_lake"
params = { size = 4, p_frozen = 0.9 }
"#,
    );
    let (code, out, err) = run(d.ludus().args(["plan", "s.toml", "--out", "ex"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("planned 3 instances"), "{out}");
    // The instance keeps the MDP as the spec wrote it (no seed): analyses group its three
    // runs as one MDP with three seeds.
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("ex/manifest.json")).unwrap()).unwrap();
    let id = m["instances"][0].as_str().unwrap();
    let (code, shown, err) = run(d.ludus().args(["show", &format!("ex/instances/{id}.bin")]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&shown).unwrap();
    let params = &v["kind"]["builtin"]["mdp"]["params"];
    assert!(params.get("seed").is_none(), "{params}");
    assert_eq!(params["size"], 4);
}
