//! The interaction loop end to end: determinism, log shape, early stop, learning.

use std::sync::atomic::AtomicBool;

use ludus::model::Registry;
use ludus::plan::Instance;
use ludus::run::{COLUMNS, LogSink, Outcome, RunControl, RunReport, TIMING_COLUMN, run_instance};
use ludus::value::{Params, Value};

use crate::support::instance::builtin;

#[derive(Default)]
struct VecSink {
    rows: Vec<Vec<f64>>,
}

impl LogSink for VecSink {
    fn columns(&mut self, names: &[&str]) -> std::io::Result<()> {
        assert_eq!(names, COLUMNS);
        Ok(())
    }
    fn row(&mut self, values: &[f64]) -> std::io::Result<()> {
        self.rows.push(values.to_vec());
        Ok(())
    }
}

fn params(kv: &[(&str, Value)]) -> Params {
    kv.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

fn instance(
    agent: &str,
    family: &str,
    episodic: bool,
    mdp: Params,
    steps: u64,
    log_every: u64,
    seed: u64,
) -> Instance {
    builtin(agent, family)
        .episodic(episodic)
        .mdp_params(mdp)
        .steps(steps)
        .log_every(log_every)
        .seed(seed)
        .build()
}

fn run(inst: &Instance) -> (RunReport, Vec<Vec<f64>>) {
    let flag = AtomicBool::new(false);
    let ctl = RunControl {
        time_limit: None,
        kill_after: None,
        interrupt: &flag,
    };
    let mut sink = VecSink::default();
    let rep = run_instance(inst, &Registry::builtin(), &ctl, &mut sink).expect("run");
    (rep, sink.rows)
}

fn col(name: &str) -> usize {
    COLUMNS.iter().position(|c| *c == name).expect("column")
}

#[test]
fn rows_at_log_points_and_the_end_and_deterministic() {
    let inst = instance(
        "q_learning",
        "river_swim",
        false,
        params(&[("size", Value::Int(5))]),
        25_000,
        10_000,
        3,
    );
    let (rep, rows) = run(&inst);
    assert_eq!(rep.outcome, Outcome::Done);
    assert_eq!(rep.steps_completed, 25_000);
    let steps: Vec<f64> = rows.iter().map(|r| r[0]).collect();
    assert_eq!(steps, vec![10_000.0, 20_000.0, 25_000.0]);
    let (_, again) = run(&inst);
    for (a, b) in rows.iter().zip(&again) {
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            if i != TIMING_COLUMN {
                assert_eq!(x.to_bits(), y.to_bits(), "column {}", COLUMNS[i]);
            }
        }
    }
}

#[test]
fn every_agent_runs_on_every_family() {
    for family in [
        "river_swim",
        "deep_sea",
        "frozen_lake",
        "simple_grid",
        "minigrid_empty",
        "minigrid_rooms",
        "taxi",
    ] {
        for episodic in [false, true] {
            for agent in ["q_learning", "psrl", "ucrl2", "random"] {
                if agent == "ucrl2" && episodic {
                    continue;
                }
                // Continuous PSRL re-plans on a `psi`-fold extended model at every episode end
                // (as Colosseum's does): too slow for a debug-build test beyond small MDPs.
                // Episodic PSRL samples a dense model every episode: keep to the small ones too.
                let small = ["river_swim", "deep_sea"].contains(&family);
                if agent == "psrl" && (!small || (!episodic && family == "deep_sea")) {
                    continue;
                }
                let mdp = if family == "taxi" {
                    params(&[
                        ("size", Value::Int(4)),
                        ("n_locations", Value::Int(3)),
                        ("length", Value::Int(1)),
                    ])
                } else {
                    Params::new()
                };
                let inst = instance(agent, family, episodic, mdp, 2_000, 500, 1);
                let (rep, rows) = run(&inst);
                assert_eq!(rep.steps_completed, 2_000, "{agent} on {family}");
                assert_eq!(rows.len(), 4);
                let last = rows.last().expect("rows");
                assert!(last[col("cumulative_regret")] >= 0.0);
                assert!(
                    last[col("normalized_cumulative_regret")]
                        <= last[col("worst_normalized_cumulative_regret")] + 1e-9,
                    "{agent} on {family} episodic={episodic}: {last:?}"
                );
            }
        }
    }
}

/// The slope of normalized cumulative regret between two log rows.
fn slope(rows: &[Vec<f64>], a: usize, b: usize) -> f64 {
    let c = col("normalized_cumulative_regret");
    (rows[b][c] - rows[a][c]) / (rows[b][0] - rows[a][0])
}

#[test]
fn q_learning_and_psrl_learn_on_river_swim() {
    for agent in ["q_learning", "psrl"] {
        let inst = instance(
            agent,
            "river_swim",
            false,
            params(&[("size", Value::Int(5))]),
            200_000,
            10_000,
            7,
        );
        let (rep, rows) = run(&inst);
        let early = slope(&rows, 0, 2);
        let late = slope(&rows, rows.len() - 4, rows.len() - 1);
        assert!(
            late < 0.25 * early + 1e-12,
            "{agent}: early {early}, late {late}"
        );
        let last = rows.last().expect("rows");
        let random = last[col("random_normalized_cumulative_regret")];
        assert!(
            last[col("normalized_cumulative_regret")] < 0.25 * random,
            "{agent}: {last:?}"
        );
        assert!(
            rep.early_stopped_at.is_some(),
            "{agent} should stop learning early: {rep:?}"
        );
    }
}

/// A fixed policy: always action `a`.
struct Fixed(u32, usize);

impl ludus::model::Agent for Fixed {
    fn select_action(&mut self, _: usize, _: usize) -> usize {
        self.0 as usize
    }
    fn update(&mut self, _: usize, _: usize, _: f64, _: usize, _: usize, _: bool) {}
    fn policy(&mut self) -> ludus::model::Policy {
        ludus::model::Policy::Deterministic(vec![self.0; self.1])
    }
}

fn fixed_registry() -> Registry {
    let mut r = Registry::builtin();
    r.add_agent(ludus::model::AgentKind {
        name: "fixed".into(),
        check: Box::new(|_, _| Ok(())),
        build: Box::new(|p, ctx, _| {
            let a = p.get("action").and_then(Value::as_i64).unwrap_or(0) as u32;
            let n = ctx.n_states * ctx.horizon.unwrap_or(1);
            Ok(Box::new(Fixed(a, n)))
        }),
    });
    r
}

fn two_state_custom() -> Params {
    let pair = |n: i64| Value::List(vec![Value::List(vec![Value::Int(n), Value::Float(1.0)])]);
    let f = Value::Float;
    params(&[
        (
            "transitions",
            Value::List(vec![
                Value::List(vec![pair(0), pair(1)]),
                Value::List(vec![pair(1), pair(0)]),
            ]),
        ),
        (
            "rewards",
            Value::List(vec![
                Value::List(vec![f(0.0), f(0.0)]),
                Value::List(vec![f(1.0), f(0.0)]),
            ]),
        ),
    ])
}

#[test]
fn regret_of_fixed_policies_by_hand() {
    let reg = fixed_registry();
    let flag = AtomicBool::new(false);
    let ctl = RunControl {
        time_limit: None,
        kill_after: None,
        interrupt: &flag,
    };
    let run_fixed = |action: i64, episodic: bool| {
        let inst = builtin("fixed", "custom")
            .episodic(episodic)
            .mdp_params(two_state_custom())
            .params(params(&[("action", Value::Int(action))]))
            .build();
        let mut sink = VecSink::default();
        run_instance(&inst, &reg, &ctl, &mut sink).expect("run");
        sink.rows
    };
    // Continuous, "always stay" from state 0: gain 0, optimum 1 (worst 0): regret 1 per step.
    let rows = run_fixed(0, false);
    let last = rows.last().expect("rows");
    assert!((last[col("cumulative_regret")] - 1000.0).abs() < 1e-5);
    assert!((last[col("normalized_cumulative_regret")] - 1000.0).abs() < 1e-5);
    assert_eq!(last[col("cumulative_reward")], 0.0);
    // The uniformly random policy: gain 1/4 (see the solver's tests).
    assert!((last[col("random_cumulative_regret")] - 750.0).abs() < 1e-6);
    // "Always switch": periodic 0 -> 1 -> 0, reward 0 everywhere: regret 1 per step too.
    let rows = run_fixed(1, false);
    assert!((rows.last().expect("rows")[col("cumulative_regret")] - 1000.0).abs() < 1e-6);
    // Episodic with the minimal horizon H = 2 (state 1 is one step away): the optimum from
    // state 0 is switch then stay, return 1, average 1/2. "Always switch" returns 0: per-step
    // regret (1 - 0) / 2 = 1/2, normalized (1 - 0) / (1 - 0) = 1.
    let rows = run_fixed(1, true);
    let last = rows.last().expect("rows");
    assert!((last[col("cumulative_regret")] - 500.0).abs() < 1e-9);
    assert!((last[col("normalized_cumulative_regret")] - 1000.0).abs() < 1e-9);
    assert!((last[col("optimal_cumulative_expected_reward")] - 500.0).abs() < 1e-9);
}

#[test]
fn time_limit_interrupt_and_kill() {
    let inst = instance(
        "q_learning",
        "river_swim",
        false,
        Params::new(),
        50_000,
        10_000,
        1,
    );
    let reg = Registry::builtin();
    let flag = AtomicBool::new(false);
    let ctl = RunControl {
        time_limit: Some(std::time::Duration::ZERO),
        kill_after: None,
        interrupt: &flag,
    };
    let mut sink = VecSink::default();
    let rep = run_instance(&inst, &reg, &ctl, &mut sink).expect("run");
    assert_eq!(rep.outcome, Outcome::Timeout);
    assert_eq!(rep.steps_completed, 50_000);
    assert_eq!(rep.learning_stopped_at, Some(4096));
    assert_eq!(sink.rows.len(), 5);
    assert_eq!(sink.rows.last().expect("rows")[col("is_training")], 0.0);

    let ctl = RunControl {
        time_limit: None,
        kill_after: Some(std::time::Duration::ZERO),
        interrupt: &flag,
    };
    let rep = run_instance(&inst, &reg, &ctl, &mut VecSink::default()).expect("run");
    assert_eq!((rep.outcome, rep.steps_completed), (Outcome::Killed, 4096));

    let stop = AtomicBool::new(true);
    let ctl = RunControl {
        time_limit: None,
        kill_after: None,
        interrupt: &stop,
    };
    let rep = run_instance(&inst, &reg, &ctl, &mut VecSink::default()).expect("run");
    assert_eq!(
        (rep.outcome, rep.steps_completed),
        (Outcome::Interrupted, 4096)
    );
}
