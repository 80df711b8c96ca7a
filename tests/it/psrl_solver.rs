//! PSRL continuous's extended MDP solvers. `solver = "value_iteration"` (one action per reward
//! group of a pessimistic pair, extremes kept current) gives bit-identical runs to the
//! reference that evaluates every extended action in every sweep (`solver = "reference"`):
//! same actions, so the same log rows to the last bit, for both reward pairings and for
//! posterior-sampled as well as pessimistic pairs. The default (`"auto"`) is policy iteration
//! on small MDPs (unit tests in src/model/agents/psrl.rs); its runs agree with value
//! iteration's in distribution (tests/it/parity.rs runs Colosseum's case with both), not bit
//! for bit (on small MDPs and short runs they are often the same: the two plans rarely differ
//! in their best action).

use std::sync::atomic::AtomicBool;

use ludus::model::Registry;
use ludus::run::{LogSink, RunControl, TIMING_COLUMN, run_instance};
use ludus::value::{Params, Value};

use crate::support::instance;

struct Rows(Vec<Vec<u64>>);

impl LogSink for Rows {
    fn columns(&mut self, _: &[&str]) -> std::io::Result<()> {
        Ok(())
    }
    fn row(&mut self, values: &[f64]) -> std::io::Result<()> {
        let mut bits: Vec<u64> = values.iter().map(|x| x.to_bits()).collect();
        bits.remove(TIMING_COLUMN);
        self.0.push(bits);
        Ok(())
    }
}

fn rows(family: &str, mdp: &[(&str, Value)], agent: &[(&str, Value)], seed: u64) -> Vec<Vec<u64>> {
    let inst = instance::builtin("psrl", family)
        .spec("t")
        .params(
            agent
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<Params>(),
        )
        .mdp_params(
            mdp.iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
        .seed(seed)
        .steps(600)
        .log_every(100)
        .time_limit_ms(0)
        .build();
    let flag = AtomicBool::new(false);
    let ctl = RunControl {
        time_limit: None,
        kill_after: None,
        interrupt: &flag,
    };
    let mut sink = Rows(Vec::new());
    run_instance(&inst, &Registry::builtin(), &ctl, &mut sink).expect("run");
    sink.0
}

#[test]
fn value_iteration_is_bit_identical_to_the_reference() {
    let f = |x: f64| Value::Float(x);
    let mdps: [(&str, Vec<(&str, Value)>); 2] = [
        (
            "deep_sea",
            vec![("size", Value::Int(4)), ("p_rand", f(0.1))],
        ),
        (
            "river_swim",
            vec![("size", Value::Int(5)), ("p_rand", f(0.1))],
        ),
    ];
    // Hyperparameters from the hyperparameter search's space: a small eta (most pairs
    // sampled from the posterior) and a large one (most pairs pessimistic), psi small and at
    // its cap of 60.
    let configs: [Vec<(&str, Value)>; 3] = [
        vec![
            ("psi_weight", f(0.1)),
            ("eta_weight", f(1e-10)),
            ("rewards_prior_mean", f(0.8)),
        ],
        vec![
            ("psi_weight", f(0.02)),
            ("eta_weight", f(1e-6)),
            ("omega_weight", f(0.5)),
        ],
        vec![
            ("psi_weight", f(0.1)),
            ("eta_weight", f(1e-6)),
            ("reward_pairing", Value::Str("consistent".into())),
        ],
    ];
    let mut compared = 0;
    for (family, mdp) in &mdps {
        for (i, config) in configs.iter().enumerate() {
            let seed = 3 + i as u64;
            let mut with_vi = config.clone();
            with_vi.push(("solver", Value::Str("value_iteration".into())));
            let fast = rows(family, mdp, &with_vi, seed);
            let mut with_ref = config.clone();
            with_ref.push(("solver", Value::Str("reference".into())));
            let reference = rows(family, mdp, &with_ref, seed);
            assert_eq!(fast.len(), 6, "{family} {config:?}");
            assert!(
                fast == reference,
                "{family} {config:?} seed {seed}: value iteration's run differs from the reference's"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 6);
}

#[test]
fn policy_iteration_refuses_an_mdp_too_large_for_its_dense_matrix() {
    let d = crate::support::Dir::new();
    d.write(
        "big.toml",
        "name = \"big\"\nseeds = 1\nsteps = 10\n\n[[agent]]\nname = \"psrl\"\n\
         params = { solver = \"policy_iteration\" }\n\n[[mdp]]\nfamily = \"river_swim\"\n\
         episodic = false\nparams = { size = 6000 }\n",
    );
    let (code, _, err) = crate::support::run(d.ludus().args(["plan", "big.toml", "--out", "ex"]));
    assert_eq!(code, 0, "{err}");
    // The agent is built when the instance starts: it errs at once, saying why.
    let (code, _, err) = crate::support::run(d.ludus().args(["run-instances", "ex"]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("1 error")
            && err.contains("handles up to 5000 states")
            && err.contains("this MDP has 6000")
            && err.contains("\"value_iteration\""),
        "{err}"
    );
}
