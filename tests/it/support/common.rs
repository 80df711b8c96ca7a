//! Synthetic log folders with known answers, shared by the analysis tests and benchmark.
#![allow(dead_code, reason = "each test binary uses part of it")]

use std::fmt::Write as _;
use std::path::Path;

use ludus::plan::Instance;
use ludus::value::{Params, Value};

/// Parameters from `(name, value)` pairs.
pub fn params(pairs: &[(&str, Value)]) -> Params {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// One synthetic run.
pub struct Run<'a> {
    pub agent: &'a str,
    pub agent_params: Params,
    pub family: &'a str,
    pub episodic: bool,
    pub mdp_params: Params,
    pub seed: u64,
    pub status: &'a str,
    pub rows: usize,
    /// Final normalized cumulative regret; the cumulative regret is 100 times it.
    pub final_norm: f64,
}

impl Run<'_> {
    pub fn instance(&self) -> Instance {
        super::instance::builtin(self.agent, self.family)
            .spec("synthetic")
            .params(self.agent_params.clone())
            .mdp_params(self.mdp_params.clone())
            .episodic(self.episodic)
            .seed(self.seed)
            .steps(self.rows as u64 * 100)
            .log_every(100)
            .time_limit_ms(60_000)
            .build()
    }

    /// Writes `<id>.json` (unless `with_status` is false) and `<id>.csv` into `logs`;
    /// returns the id.
    pub fn write(&self, logs: &Path, with_status: bool) -> String {
        let inst = self.instance();
        let id = inst.id().to_string();
        let mut csv = String::from(
            "steps,cumulative_reward,cumulative_expected_reward,cumulative_regret,\
             normalized_cumulative_regret,normalized_cumulative_reward,random_cumulative_regret,\
             random_normalized_cumulative_regret,worst_cumulative_regret,\
             optimal_cumulative_expected_reward,steps_per_second\n",
        );
        for i in 1..=self.rows {
            let frac = i as f64 / self.rows as f64;
            let steps = i * 100;
            let norm = self.final_norm * frac.sqrt();
            let _ = writeln!(
                csv,
                "{steps},{r},{r},{reg},{norm},{nr},{rr},{rn},{wr},{opt},1000000",
                r = steps as f64 * 0.5,
                reg = norm * 100.0,
                nr = 1.0 - norm,
                rr = steps as f64 * 0.3,
                rn = steps as f64 * 0.003,
                wr = steps as f64 * 0.9,
                opt = steps as f64 * 0.9,
            );
        }
        std::fs::write(logs.join(format!("{id}.csv")), csv).unwrap();
        if with_status {
            let status = serde_json::json!({
                "id": id,
                "status": self.status,
                "steps_completed": inst.steps,
                "wall_seconds": 0.1,
                "message": if self.status == "error" { Some("agent diverged") } else { None },
                "learning_stopped_at": null,
                "early_stopped_at": null,
                "ludus_version": "0.1.0",
                "host": "node1",
                "rank": 0,
                "finished_at": "2026-11-24T23:10:00Z",
                "instance": inst,
            });
            std::fs::write(logs.join(format!("{id}.json")), status.to_string()).unwrap();
        }
        id
    }
}

/// A sweep: `agents` x `configs` x `mdps` x `seeds` runs, all done, with `rows` rows each. The
/// final normalized regret of configuration `c` of any agent on MDP `m` with seed `s` is
/// `0.1 * (c + 1) + 0.01 * m + 0.001 * s`, so configuration 0 wins for every agent.
pub fn write_sweep(
    dir: &Path,
    agents: usize,
    configs: usize,
    mdps: usize,
    seeds: u64,
    rows: usize,
) {
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let names = ["q_learning", "psrl", "ucrl2", "random", "agent4", "agent5"];
    let families = ["river_swim", "deep_sea", "frozen_lake", "simple_grid"];
    for a in 0..agents {
        for c in 0..configs {
            for m in 0..mdps {
                for s in 0..seeds {
                    Run {
                        agent: names[a % names.len()],
                        agent_params: params(&[("c", Value::Int(c as i64))]),
                        family: families[m % families.len()],
                        episodic: false,
                        mdp_params: params(&[("size", Value::Int(5 + m as i64))]),
                        seed: s,
                        status: "done",
                        rows,
                        final_norm: 0.1 * (c + 1) as f64 + 0.01 * m as f64 + 0.001 * s as f64,
                    }
                    .write(&logs, true);
                }
            }
        }
    }
}
