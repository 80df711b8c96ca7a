//! The `custom` family: any tabular MDP given by explicit tables, inline or in a file.
//!
//! Parameters (a file holds the same keys, TOML or JSON):
//! - `transitions`: per state, per action, a list of `[next_state, probability]` pairs
//!   (probabilities in [0, 1] summing to 1 within 1e-6);
//! - `rewards`: per state, per action, the reward (deterministic, the mean reward);
//! - `start` (optional, `[[0, 1.0]]`): `[state, probability]` pairs summing to 1;
//! - `H` (episodic only, optional): the horizon, at least the longest shortest path from a
//!   start state plus one (the default);
//! - `seed` (accepted and unused: the tables are the MDP).
//!
//! `file = "mdp.toml"` is read by [`resolve`] (called by plan) relative to the spec's folder
//! and replaced by the tables, so a planned instance never depends on the file again.

use std::path::Path;

use super::require;
use crate::model::check::CheckError;
use crate::model::mdp::{Mdp, RewardDist, Row};
use crate::model::params::ParamReader;
use crate::value::{Params, Value};

fn bad(key: &str, why: impl std::fmt::Display) -> CheckError {
    CheckError::Invalid(format!("{key}: {why}"))
}

fn list<'a>(v: &'a Value, key: &str) -> Result<&'a [Value], CheckError> {
    match v {
        Value::List(l) => Ok(l),
        other => Err(bad(
            key,
            format!("expected a list, got {}", other.type_name()),
        )),
    }
}

fn pairs(v: &Value, key: &str, n_states: usize) -> Result<Vec<(usize, f64)>, CheckError> {
    let mut out = Vec::new();
    for (i, e) in list(v, key)?.iter().enumerate() {
        let pair = list(e, key)?;
        let (Some(s), Some(p)) = (
            pair.first().and_then(Value::as_i64),
            pair.get(1).and_then(Value::as_f64),
        ) else {
            return Err(bad(key, format!("entry {i} must be [state, probability]")));
        };
        if pair.len() != 2 || s < 0 || s as usize >= n_states {
            return Err(bad(
                key,
                format!("entry {i}: state {s} is not in 0..{n_states}"),
            ));
        }
        if !(0.0..=1.0).contains(&p) {
            return Err(bad(
                key,
                format!("entry {i}: probability {p} must be in [0, 1]"),
            ));
        }
        out.push((s as usize, p));
    }
    let sum: f64 = out.iter().map(|e| e.1).sum();
    require(
        (sum - 1.0).abs() <= 1e-6,
        format!("{key}: probabilities sum to {sum}, must sum to 1"),
    )?;
    Ok(out)
}

/// Builds a custom MDP from inline tables.
pub fn build(episodic: bool, params: &Params) -> Result<Mdp, CheckError> {
    let mut r = ParamReader::new(params);
    if let Some(f) = r.raw("file") {
        return Err(bad(
            "file",
            format!("{f} must be read by plan (resolve_mdp) before the MDP is built"),
        ));
    }
    let _ = r.int_in("seed", 0, 0, i64::MAX)?;
    let h = r.opt_int("H", 1, 100_000_000)?;
    require(
        h.is_none() || episodic,
        "H: only episodic MDPs have a horizon",
    )?;
    let trans = r.raw("transitions").ok_or_else(|| {
        bad(
            "transitions",
            "missing (per state, per action: [[next, prob], ..])",
        )
    })?;
    let rewards = r
        .raw("rewards")
        .ok_or_else(|| bad("rewards", "missing (per state, per action: the reward)"))?;
    let start = r.raw("start");
    r.finish()?;
    let states = list(trans, "transitions")?;
    let ns = states.len();
    require(ns > 0, "transitions: at least one state is needed")?;
    let na = list(&states[0], "transitions[0]")?.len();
    require(na > 0, "transitions[0]: at least one action is needed")?;
    let rstates = list(rewards, "rewards")?;
    require(
        rstates.len() == ns,
        format!("rewards: {} states, transitions has {ns}", rstates.len()),
    )?;
    let mut rows: Vec<Row> = Vec::with_capacity(ns * na);
    for (s, (acts, racts)) in states.iter().zip(rstates).enumerate() {
        let acts = list(acts, "transitions")?;
        let racts = list(racts, "rewards")?;
        require(
            acts.len() == na && racts.len() == na,
            format!("state {s}: every state needs {na} actions in transitions and rewards"),
        )?;
        for (a, (row, rv)) in acts.iter().zip(racts).enumerate() {
            let key = format!("transitions[{s}][{a}]");
            let rew = rv
                .as_f64()
                .filter(|x| x.is_finite())
                .ok_or_else(|| bad(&format!("rewards[{s}][{a}]"), "must be a number"))?;
            let d = RewardDist::Deterministic(rew);
            rows.push(
                pairs(row, &key, ns)?
                    .into_iter()
                    .map(|(n, p)| (n, p, d))
                    .collect(),
            );
        }
    }
    let start = match start {
        Some(v) => pairs(v, "start", ns)?,
        None => vec![(0, 1.0)],
    };
    let horizon = if episodic {
        let starts: Vec<usize> = start.iter().map(|e| e.0).collect();
        let minimal = crate::model::mdp::eccentricity(ns, &rows, &starts) + 1;
        Some(h.map_or(minimal, |h| (h as usize).max(minimal)))
    } else {
        None
    };
    Ok(Mdp::from_rows(ns, na, horizon, start, &rows))
}

/// Replaces a `file` parameter by the tables it holds (TOML or JSON, by extension), read
/// relative to `base_dir`. Keys given both inline and in the file are an error.
pub fn resolve(params: &Params, base_dir: &Path) -> Result<Params, CheckError> {
    let Some(f) = params.get("file") else {
        return Ok(params.clone());
    };
    let name = f
        .as_str()
        .ok_or_else(|| bad("file", format!("{f} must be a path (a string)")))?;
    let path = base_dir.join(name);
    // Only a regular file: a FIFO would block `plan` forever.
    let text = crate::regular::read_to_string(&path, 1 << 30)
        .map_err(|e| bad("file", format!("cannot read {}: {e}", path.display())))?;
    let table = if name.ends_with(".json") {
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Table(t)) => t,
            Ok(_) => {
                return Err(bad(
                    "file",
                    format!("{}: not a JSON object", path.display()),
                ));
            }
            Err(e) => return Err(bad("file", format!("{}: {e}", path.display()))),
        }
    } else {
        // The spec's own light TOML reader (no per-value spans and decoration): a 100,000-state
        // chain is tens of megabytes of lists.
        let tree = crate::spec::toml_tree::parse(&text, true).map_err(|(line, e)| {
            let at = line.map(|l| format!(":{l}")).unwrap_or_default();
            bad("file", format!("{}{at}: {e}", path.display()))
        })?;
        drop(text);
        match node_value(tree) {
            Value::Table(t) => t,
            _ => unreachable!("a TOML document is a table"),
        }
    };
    let mut out = params.clone();
    out.remove("file");
    for (k, v) in table {
        if out.contains_key(&k) {
            return Err(bad(
                &k,
                format!("given both inline and in {}", path.display()),
            ));
        }
        out.insert(k, v);
    }
    Ok(out)
}

/// A TOML tree as values (a date-time was read as its text).
fn node_value(n: crate::spec::node::Node) -> Value {
    use crate::spec::node::NodeKind as K;
    match n.kind {
        K::Bool(b) => Value::Bool(b),
        K::Int(i) => Value::Int(i),
        K::Float(f) => Value::Float(f),
        K::Str(s) => Value::Str(s),
        K::List(l) => Value::List(l.into_iter().map(node_value).collect()),
        K::Table(t) => Value::Table(t.into_iter().map(|(k, v)| (k, node_value(v))).collect()),
        K::Other(what) => Value::Str(what.to_string()),
    }
}
