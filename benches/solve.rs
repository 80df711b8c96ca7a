//! Benchmark: the exact solver (optimal, random and worst values) on slowly mixing MDPs, each
//! against a baseline measured in the same run.
//!
//! (a) RiverSwim with `p_rand = 0.01` at 1,000, 8,000 and 100,000 states (continuous), each
//!     beside one exact evaluation of a fixed policy of the same MDP (the unit of work policy
//!     iteration repeats): the ratio says how many evaluations the whole solve costs.
//! (b) A 100,000-state custom chain read from a JSON file (`file = ...`, as a spec gives it),
//!     split into reading the file, building the MDP and solving it: the solve / read ratio.
//!
//! Run with `cargo bench --bench solve` (TMPDIR decides where the chain file is written).
#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::time::Instant;

use ludus::model::Registry;
use ludus::model::solve::{Evaluator, Policy, solve};
use ludus::value::{Params, Value};

fn params(kv: &[(&str, Value)]) -> Params {
    kv.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

fn main() {
    let reg = Registry::builtin();
    println!("(a) RiverSwim, p_rand 0.01, continuous: whole solve vs one policy evaluation");
    for size in [1_000i64, 8_000, 100_000] {
        let p = params(&[("size", Value::Int(size)), ("p_rand", Value::Float(0.01))]);
        let m = reg.build_mdp("river_swim", false, &p).expect("build");
        let t = Instant::now();
        let sol = solve(&m).expect("solve");
        let solve_s = t.elapsed().as_secs_f64();
        let mut ev = Evaluator::new(m.n_states);
        let pol = Policy::Deterministic(sol.optimal_policy.clone());
        let t = Instant::now();
        let g = ev.gain(&m, &pol).expect("evaluate")[0];
        let eval_s = t.elapsed().as_secs_f64();
        println!(
            "  {size:>7} states: solve {:.1} ms (optimal {:.6}, random {:.6}, worst {:.6}), \
             one evaluation {:.1} ms (gain {g:.6}), ratio {:.1}x",
            solve_s * 1e3,
            sol.optimal_average_reward,
            sol.random_average_reward,
            sol.worst_average_reward,
            eval_s * 1e3,
            solve_s / eval_s
        );
    }

    println!("(b) custom chain of 100,000 states from a JSON file: read, build, solve");
    let dir = tempfile::tempdir().expect("temp dir");
    let n = 100_000usize;
    let mut transitions = Vec::with_capacity(n);
    let mut rewards = Vec::with_capacity(n);
    for s in 0..n {
        let (l, r) = (s.saturating_sub(1), (s + 1).min(n - 1));
        let row = |to: usize, back: usize| -> Value {
            if to == back {
                Value::List(vec![Value::List(vec![
                    Value::Int(to as i64),
                    Value::Float(1.0),
                ])])
            } else {
                Value::List(vec![
                    Value::List(vec![Value::Int(to as i64), Value::Float(0.995)]),
                    Value::List(vec![Value::Int(back as i64), Value::Float(0.005)]),
                ])
            }
        };
        transitions.push(Value::List(vec![row(l, r), row(r, l)]));
        rewards.push(Value::List(vec![
            Value::Float(if s == 0 { 0.005 } else { 0.0 }),
            Value::Float(if s == n - 1 { 1.0 } else { 0.0 }),
        ]));
    }
    let mut json = String::from("{\"transitions\": ");
    json.push_str(&serde_json::to_string(&Value::List(transitions)).expect("json"));
    json.push_str(", \"rewards\": ");
    json.push_str(&serde_json::to_string(&Value::List(rewards)).expect("json"));
    json.push('}');
    std::fs::write(dir.path().join("chain.json"), &json).expect("write");
    let spec = params(&[("file", Value::Str("chain.json".into()))]);
    let t = Instant::now();
    let resolved = reg
        .resolve_mdp("custom", false, &spec, dir.path())
        .expect("read");
    let read_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let m = reg.build_mdp("custom", false, &resolved).expect("build");
    let build_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let sol = solve(&m).expect("solve");
    let solve_s = t.elapsed().as_secs_f64();
    println!(
        "  file {:.1} MB: read {read_s:.2} s, build {build_s:.2} s, solve {solve_s:.2} s \
         (optimal {:.6}); solve / read {:.2}x; total {:.2} s (target < 10 s)",
        json.len() as f64 / 1e6,
        sol.optimal_average_reward,
        solve_s / read_s,
        read_s + build_s + solve_s
    );
}
