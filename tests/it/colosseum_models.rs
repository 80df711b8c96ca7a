//! Colosseum's own models: for each model Colosseum exported (family, form, parameters, seed),
//! ludus builds the same MDP: the same states in the same numbering, the same transitions,
//! rewards, start distribution and horizon, and the same optimal, random and worst average
//! rewards. The figures are in `tests/data/colosseum_models/models.json` (see its README).

use ludus::model::Mdp;
use ludus::model::Registry;
use ludus::model::solve::solve;
use ludus::value::{Params, Value};

/// FNV-1a (64 bits) of the canonical text `extract.py` hashes: transition entries sorted by
/// (state, action, next), mean rewards, start states; numbers with six decimals.
fn digest(m: &Mdp) -> String {
    let mut text = String::new();
    for s in 0..m.n_states {
        for a in 0..m.n_actions {
            let (next, prob) = m.row(s, a);
            let mut e: Vec<(u32, f64)> = next.iter().copied().zip(prob.iter().copied()).collect();
            e.sort_by_key(|x| x.0);
            for (n, p) in e {
                text.push_str(&format!("t {s} {a} {n} {p:.6}\n"));
            }
        }
    }
    for s in 0..m.n_states {
        for a in 0..m.n_actions {
            text.push_str(&format!(
                "r {s} {a} {:.6}\n",
                m.mean_reward[s * m.n_actions + a]
            ));
        }
    }
    let mut start = m.start.clone();
    start.sort_by_key(|x| x.0);
    for (s, p) in start {
        text.push_str(&format!("s {s} {p:.6}\n"));
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn to_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap()),
        },
        other => panic!("unexpected parameter value {other}"),
    }
}

#[test]
fn ludus_builds_colosseums_models() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/colosseum_models/models.json"
    );
    let fixture: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let models = fixture["models"].as_array().unwrap();
    assert!(models.len() >= 30, "{} models", models.len());
    let reg = Registry::builtin();
    let mut failures = Vec::new();
    for m in models {
        let name = m["file"].as_str().unwrap();
        let family = m["family"].as_str().unwrap();
        let episodic = m["episodic"].as_bool().unwrap();
        let mut params: Params = m["params"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), to_value(v)))
            .collect();
        params.insert("seed".into(), to_value(&m["seed"]));
        let mdp = match reg.build_mdp(family, episodic, &params) {
            Ok(mdp) => mdp,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let sol = solve(&mdp).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut bad = Vec::new();
        let n_states = m["n_states"].as_u64().unwrap() as usize;
        if mdp.n_states != n_states {
            bad.push(format!("n_states {} (Colosseum {n_states})", mdp.n_states));
        }
        let h = m["H"].as_u64().map(|h| h as usize);
        if mdp.horizon != h {
            bad.push(format!("H {:?} (Colosseum {h:?})", mdp.horizon));
        }
        for (key, ours) in [
            ("optimal", sol.optimal_average_reward),
            ("random", sol.random_average_reward),
            ("worst", sol.worst_average_reward),
        ] {
            let theirs = m[key].as_f64().unwrap();
            if (ours - theirs).abs() > 1e-6 {
                bad.push(format!("{key} {ours} (Colosseum {theirs})"));
            }
        }
        let d = digest(&mdp);
        if d != m["digest"].as_str().unwrap() {
            bad.push(format!("T/R/start digest {d} (Colosseum {})", m["digest"]));
        }
        if !bad.is_empty() {
            failures.push(format!("{name}: {}", bad.join(", ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
