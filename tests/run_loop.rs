//! The interaction loop end to end: determinism, log shape, early stop, learning.

use std::sync::atomic::AtomicBool;

use ludus::model::Registry;
use ludus::plan::{AgentSpec, Instance, InstanceKind, MdpSpec};
use ludus::run::{COLUMNS, LogSink, Outcome, RunControl, RunReport, TIMING_COLUMN, run_instance};
use ludus::value::{Params, Value};

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
    Instance {
        spec_name: "test".into(),
        kind: InstanceKind::Builtin {
            agent: AgentSpec {
                name: agent.into(),
                params: Params::new(),
            },
            mdp: MdpSpec {
                family: family.into(),
                episodic,
                params: mdp,
            },
        },
        seed,
        steps,
        log_every,
        time_limit_ms: 0,
    }
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
                if agent == "psrl" && !episodic && !["river_swim", "deep_sea"].contains(&family) {
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
