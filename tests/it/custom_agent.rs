//! A user crate's own agent and MDP family run through the library like built-in ones.

use std::sync::atomic::AtomicBool;

use ludus::model::CheckError;
use ludus::model::Registry;
use ludus::run::{COLUMNS, LogSink, Outcome, RunControl, run_instance};
use ludus::value::{Params, Value};

#[path = "../../examples/custom_agent.rs"]
#[allow(dead_code, reason = "the example's main is not used here")]
mod example;

#[derive(Default)]
struct VecSink(Vec<Vec<f64>>);

impl LogSink for VecSink {
    fn columns(&mut self, _: &[&str]) -> std::io::Result<()> {
        Ok(())
    }
    fn row(&mut self, values: &[f64]) -> std::io::Result<()> {
        self.0.push(values.to_vec());
        Ok(())
    }
}

fn registry() -> Registry {
    let mut r = Registry::builtin();
    r.add_agent(example::epsilon_greedy_kind());
    r.add_mdp(example::two_state_family());
    r
}

#[test]
fn custom_agent_and_mdp_are_registered_and_checked() {
    let r = registry();
    assert!(r.agent_names().contains(&"epsilon_greedy".to_string()));
    assert!(r.mdp_names().contains(&"two_state_switch".to_string()));
    assert!(
        r.check_mdp("two_state_switch", false, &Params::new())
            .is_ok()
    );
    let mut bad = Params::new();
    bad.insert("epsilon".into(), Value::Float(1.5));
    match r.check_agent("epsilon_greedy", &bad, false) {
        Err(CheckError::Invalid(m)) => assert!(m.contains("epsilon"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        r.check_agent("epsilon_greedy", &Params::new(), true),
        Err(CheckError::Incompatible(_))
    ));
}

#[test]
fn custom_agent_runs_on_builtin_and_custom_mdps() {
    let r = registry();
    for family in ["river_swim", "two_state_switch"] {
        let inst = crate::support::instance::builtin("epsilon_greedy", family)
            .spec("custom")
            .seed(5)
            .steps(20_000)
            .log_every(5_000)
            .build();
        let flag = AtomicBool::new(false);
        let ctl = RunControl {
            time_limit: None,
            kill_after: None,
            interrupt: &flag,
        };
        let mut sink = VecSink::default();
        let rep = run_instance(&inst, &r, &ctl, &mut sink).expect("runs");
        assert_eq!(rep.outcome, Outcome::Done);
        assert_eq!(sink.0.len(), 4);
        let regret = COLUMNS
            .iter()
            .position(|c| *c == "normalized_cumulative_regret")
            .expect("column");
        let random = COLUMNS
            .iter()
            .position(|c| *c == "random_normalized_cumulative_regret")
            .expect("column");
        let last = sink.0.last().expect("rows");
        assert!(last[regret] < last[random], "{family}: {last:?}");
    }
}
