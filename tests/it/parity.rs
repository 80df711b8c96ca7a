//! Parity with Colosseum: each agent on a few fixed cases, ludus's final normalized cumulative
//! regret over seeds against Colosseum's own figures (`tests/data/parity/colosseum.json`, made
//! by running Colosseum's default code with its tuned hyperparameters; the file records how).
//!
//! For each case the real binary plans and runs the same MDP with the same hyperparameters,
//! steps, log interval and number of seeds, and both two-sample tests must find no difference
//! at the 1% level: Welch's t-test (means) and Mann-Whitney U (distributions). ludus's runs are
//! deterministic, so a case passes or fails the same way every time.
//!
//! A case with a `note` is one where ludus was known to differ from Colosseum when the figures
//! were recorded (`ludus_at_recording` holds ludus's figures then): the note says how, what was
//! found, and what became of it (a fix in ludus, or a re-recording on more seeds). A case whose
//! difference is still open is `#[ignore]`d with the figures in its doc comment.

use crate::support::stats::{mann_whitney, mean_var, welch};
use crate::support::{Dir, run};

/// The reference figures, shipped with the tests.
fn reference() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/parity/colosseum.json"
    );
    let text = std::fs::read_to_string(path).expect("tests/data/parity/colosseum.json");
    serde_json::from_str(&text).expect("valid JSON")
}

fn case(name: &str) -> serde_json::Value {
    reference()["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no case {name} in colosseum.json"))
        .clone()
}

/// A JSON scalar as a TOML value.
fn toml_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => format!("{s:?}"),
        other => panic!("unexpected parameter value {other}"),
    }
}

fn inline_table(o: &serde_json::Value) -> String {
    let items: Vec<String> = o
        .as_object()
        .expect("a table")
        .iter()
        .map(|(k, v)| format!("{k} = {}", toml_value(v)))
        .collect();
    format!("{{ {} }}", items.join(", "))
}

/// The ludus spec of a case: one agent, one MDP, seeds 0..n.
fn spec(c: &serde_json::Value) -> String {
    format!(
        "name = {name:?}\nseeds = {seeds}\nsteps = {steps}\nlog_every = {log_every}\n\n\
         [[agent]]\nname = {agent:?}\nparams = {hp}\n\n\
         [[mdp]]\nfamily = {family:?}\nepisodic = {episodic}\nparams = {mdp}\n",
        name = c["name"].as_str().unwrap(),
        seeds = c["seeds"].as_array().unwrap().len(),
        steps = c["steps"],
        log_every = c["log_every"],
        agent = c["agent"].as_str().unwrap(),
        hp = inline_table(&c["hyperparameters"]),
        family = c["mdp"]["family"].as_str().unwrap(),
        episodic = c["mdp"]["episodic"],
        mdp = inline_table(&c["mdp"]["params"]),
    )
}

/// Runs the case with the real binary; returns each seed's final normalized cumulative regret.
fn run_ludus(c: &serde_json::Value) -> Vec<f64> {
    let d = Dir::new();
    d.write("parity.toml", &spec(c));
    let (code, _, err) = run(d.ludus().args(["plan", "parity.toml", "--out", "ex"]));
    assert_eq!(code, 0, "plan: {err}");
    let (code, out, err) = run(d.ludus().args(["run-instances", "ex", "--jobs", "2"]));
    assert_eq!(code, 0, "run-instances: {out}\n{err}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("ex/manifest.json")).unwrap()).unwrap();
    manifest["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| {
            let id = id.as_str().unwrap();
            let mut rdr = csv::Reader::from_path(d.join(format!("ex/logs/{id}.csv"))).unwrap();
            let col = rdr
                .headers()
                .unwrap()
                .iter()
                .position(|h| h == "normalized_cumulative_regret")
                .expect("normalized_cumulative_regret column");
            let last = rdr.records().last().expect("a row").unwrap();
            last[col].parse::<f64>().unwrap()
        })
        .collect()
}

/// Both tests must see no difference at the 1% level.
fn check(name: &str) {
    check_with(name, &[]);
}

/// [`check`] with agent parameters added to the case's hyperparameters.
fn check_with(name: &str, extra: &[(&str, serde_json::Value)]) {
    let mut c = case(name);
    for (k, v) in extra {
        c["hyperparameters"][*k] = v.clone();
    }
    let colosseum: Vec<f64> = c["final_normalized_cumulative_regret"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let ludus = run_ludus(&c);
    assert_eq!(ludus.len(), colosseum.len(), "one value per seed");
    let (_, _, p_welch) = welch(&ludus, &colosseum);
    let (_, p_mwu) = mann_whitney(&ludus, &colosseum);
    let (ml, vl) = mean_var(&ludus);
    let (mc, vc) = mean_var(&colosseum);
    let note = match c["note"].as_str() {
        Some(n) => format!("\nknown difference when the figures were recorded: {n}"),
        None => String::new(),
    };
    assert!(
        p_welch > 0.01 && p_mwu > 0.01,
        "{name}: ludus {ml:.2} ± {sl:.2} vs Colosseum {mc:.2} ± {sc:.2} (n = {n}): \
         Welch p = {p_welch:.3e}, Mann-Whitney p = {p_mwu:.3e} (both must exceed 0.01)\n\
         ludus: {ludus:?}{note}",
        sl = vl.sqrt(),
        sc = vc.sqrt(),
        n = ludus.len(),
    );
}

#[test]
fn reference_figures_are_whole() {
    let r = reference();
    assert!(r["provenance"]["colosseum_commit"].is_string());
    let cases = r["cases"].as_array().unwrap();
    assert!(
        cases.len() >= 6,
        "a case per tabular agent and form, and a control"
    );
    for c in cases {
        let v: Vec<f64> = c["final_normalized_cumulative_regret"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert!(v.len() >= 20, "{}: 20+ seeds", c["name"]);
        assert_eq!(v.len(), c["seeds"].as_array().unwrap().len());
        let (m, var) = mean_var(&v);
        assert!((m - c["mean"].as_f64().unwrap()).abs() <= 1e-9 * m.abs().max(1.0));
        let s = c["std"].as_f64().unwrap();
        assert!((var.sqrt() - s).abs() <= 1e-9 * s.max(1.0));
        // The spec the parity test writes is one that ludus accepts.
        let d = Dir::new();
        d.write("p.toml", &spec(c));
        let (code, _, err) = run(d.ludus().args(["plan", "p.toml", "--dry-run"]));
        assert_eq!(code, 0, "{}: {err}", c["name"]);
    }
}

#[test]
fn q_learning_continuous_river_swim() {
    check("q_learning_continuous_river_swim");
}

#[test]
fn q_learning_episodic_river_swim() {
    check("q_learning_episodic_river_swim");
}

/// With the default solver: policy iteration, the sampled extended MDP solved exactly.
#[test]
fn psrl_continuous_river_swim() {
    check("psrl_continuous_river_swim");
}

/// With Colosseum's own method for the extended MDP: value iteration stopped at 1e-3.
#[test]
fn psrl_continuous_river_swim_with_value_iteration() {
    check_with(
        "psrl_continuous_river_swim",
        &[("solver", serde_json::json!("value_iteration"))],
    );
}

/// The same MDP as `psrl_episodic_deep_sea`, with Q-learning: tells the model and the episodic
/// regret apart from PSRL's own behaviour.
#[test]
fn q_learning_episodic_deep_sea() {
    check("q_learning_episodic_deep_sea");
}

/// Re-recorded on seeds 0-399 after its 60-seed version failed (ludus 399 +- 71 vs Colosseum
/// 365 +- 55 on seeds 0-59, Welch p = 0.003). On 400 seeds: ludus 385.3 +- 70.1 vs Colosseum
/// 376.0 +- 65.7 (Welch p = 0.052, Mann-Whitney p = 0.233). Every component compared agrees:
/// replayed on Colosseum's own data the posterior-mean policy is the same
/// (`psrl_episodic_replays_colosseums_trajectories`), and the posterior sampling, the visits and
/// the environment agree in distribution. The regret is nearly a count of log rows before a
/// knife-edge decision at the start state turns right, so sets of 60 seeds scatter widely. See
/// the case's `note`. The slowest parity case: 400 instances, 62 s for this test in a debug
/// build on a loaded 2-core machine (`run-instances --jobs 2`).
#[test]
fn psrl_episodic_deep_sea() {
    check("psrl_episodic_deep_sea");
}

/// The case where ludus's former per-entry confidence set differed (issue 16, difference 1):
/// the default now follows Colosseum's `_max_proba` rule (`confidence_set = "colosseum"`).
#[test]
fn ucrl2_continuous_deep_sea() {
    check("ucrl2_continuous_deep_sea");
}

/// Colosseum's own PSRL episodic data replayed into ludus's PSRL: after the same observed
/// steps, the posterior-mean policy (with Colosseum's tie rule) must have the same normalized
/// regret as Colosseum's after every 100 steps (`tests/data/parity/psrl_episodic_replay.json`
/// says how the trajectories were recorded). No random draw is involved on either side, so
/// this pins the posterior updates, the posterior-mean model, the tie rule and the episodic
/// evaluation exactly, where the seed-level comparison above can only compare distributions.
#[test]
fn psrl_episodic_replays_colosseums_trajectories() {
    use ludus::model::solve::{evaluate_episodic, solve};
    use ludus::model::{AgentContext, Registry};
    use ludus::rng::Rng;
    use ludus::value::{Params, Value};

    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/parity/psrl_episodic_replay.json"
    );
    let data: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("replay data")).unwrap();
    let c = case("psrl_episodic_deep_sea");
    let to_params = |o: &serde_json::Value| -> Params {
        o.as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::Bool(b) => Value::Bool(*b),
                    serde_json::Value::Number(n) if n.is_i64() => Value::Int(n.as_i64().unwrap()),
                    serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap()),
                    other => panic!("unexpected parameter {other}"),
                };
                (k.clone(), v)
            })
            .collect()
    };
    let reg = Registry::builtin();
    let mdp = reg
        .build_mdp("deep_sea", true, &to_params(&c["mdp"]["params"]))
        .unwrap();
    let sol = solve(&mdp).unwrap();
    let h = mdp.horizon.unwrap();
    let s0 = mdp.start[0].0;
    let seeds = data["seeds"].as_array().unwrap();
    assert!(seeds.len() >= 5, "five recorded seeds");
    let mut nonzero = 0;
    for rec in seeds {
        let seed = rec["seed"].as_u64().unwrap();
        let ctx = AgentContext {
            n_states: mdp.n_states,
            n_actions: mdp.n_actions,
            horizon: mdp.horizon,
            total_steps: c["steps"].as_u64().unwrap(),
        };
        let mut agent = reg
            .build_agent(
                "psrl",
                &to_params(&c["hyperparameters"]),
                &ctx,
                Rng::with_stream(seed, 1),
            )
            .unwrap();
        let expected: Vec<f64> = rec["colosseum_normalized_regret_every_100"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let steps = rec["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 100 * expected.len());
        let mut got = Vec::new();
        for (t, st) in steps.iter().enumerate() {
            let f = |i: usize| st[i].as_f64().unwrap();
            let last = st[5].as_bool().unwrap();
            // Colosseum's terminal observation is -1; the next state of a last step is unused.
            let next = if last { 0 } else { f(3) as usize };
            agent.update(
                f(0) as usize,
                f(1) as usize,
                f(2),
                next,
                f(4) as usize,
                last,
            );
            if (t + 1) % 100 == 0 {
                let v = evaluate_episodic(&mdp, h, &agent.policy());
                let raw = (sol.optimal_values[s0] - v[s0]).max(0.0);
                got.push(raw / (sol.optimal_values[s0] - sol.worst_values[s0]));
            }
        }
        for (k, (g, e)) in got.iter().zip(&expected).enumerate() {
            // Colosseum works in float32 and the figures are rounded to 4 decimals.
            assert!(
                (g - e).abs() <= 1e-3,
                "seed {seed}, after {} steps: ludus {g:.4} vs Colosseum {e:.4}\nludus: {got:?}\n\
                 Colosseum: {expected:?}",
                100 * (k + 1)
            );
        }
        nonzero += expected.iter().filter(|&&e| e > 0.5).count();
    }
    assert!(
        nonzero > 0,
        "the data must contain policies that are not optimal"
    );
}
