//! `Instance`: everything one run needs and nothing else, with an id derived from its content.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::value::{Params, hash_params, hash_str};

/// An agent as an instance names it: a registered kind and its parameter values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentSpec {
    /// The registered agent kind (`q_learning`, `psrl`, ...).
    pub name: String,
    /// Every parameter value given in the spec (fixed and swept), in key order.
    pub params: Params,
}

/// An MDP as an instance names it: a registered family, its setting and parameter values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MdpSpec {
    /// The registered MDP family (`river_swim`, `deep_sea`, ...).
    pub family: String,
    /// Episodic (finite horizon) or continuous (average reward).
    pub episodic: bool,
    /// Every parameter value given in the spec, in key order.
    pub params: Params,
}

impl MdpSpec {
    /// The parameters the MDP of a run with seed `run_seed` is built from: the spec's, plus
    /// `seed = run_seed` when the family is a built-in one (they all take a `seed`) and the
    /// spec gives no MDP `seed`. So each run seed gets its own MDP (layout, action
    /// relabelling), as in Colosseum's benchmarks, where the MDP's seed is the run's seed; an
    /// explicit MDP `seed` wins. A family a user registered gets its parameters unchanged.
    pub fn params_for_run(&self, run_seed: u64) -> Params {
        let mut p = self.params.clone();
        if self.seed_from_run() {
            p.insert(
                MDP_SEED.to_string(),
                crate::value::Value::Int(run_seed as i64),
            );
        }
        p
    }

    /// Whether the MDP's seed comes from the run's seed: a built-in family without `seed`.
    pub fn seed_from_run(&self) -> bool {
        !self.params.contains_key(MDP_SEED)
            && crate::model::families::BUILTIN
                .iter()
                .any(|(name, _)| *name == self.family)
    }
}

/// The MDP parameter that holds the MDP's own seed.
const MDP_SEED: &str = "seed";

/// A user's program as an instance names it: the `[[experiment]]` table's name, the command
/// template (placeholders such as `{lr}` are filled in when it runs, so `{id}` can name the
/// instance's own id), the working folder and the parameter values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecSpec {
    /// The experiment's name.
    pub name: String,
    /// The argv template: `{param}`, `{seed}`, `{id}` placeholders; `{{`/`}}` are braces.
    pub command: Vec<String>,
    /// The working folder as written in the spec, relative to the spec's folder (`.` default).
    pub workdir: String,
    /// The working folder resolved at plan time (absolute); `run-instances --workdir` overrides.
    pub workdir_abs: String,
    /// Every parameter value given in the spec (fixed and swept), in key order.
    pub params: Params,
}

/// What an instance runs. New kinds are appended at the end, so older files stay readable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceKind {
    /// A built-in run: an agent learning on a tabular MDP.
    Builtin {
        /// The agent.
        agent: AgentSpec,
        /// The MDP.
        mdp: MdpSpec,
    },
    /// A user's program, run as a child process.
    Exec(ExecSpec),
}

/// One unit of work: one agent configuration on one MDP configuration with one seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    /// The name of the spec that planned it.
    pub spec_name: String,
    /// What to run.
    pub kind: InstanceKind,
    /// The seed of the run (agent and environment randomness derive from it).
    pub seed: u64,
    /// Interaction steps.
    pub steps: u64,
    /// A log row every this many steps (and one at the end).
    pub log_every: u64,
    /// Learning stops after this much wall time (milliseconds; 0 = no limit).
    pub time_limit_ms: u64,
}

/// A stable, content-derived instance id: 16 lowercase hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstanceId(pub u64);

impl Serialize for InstanceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for InstanceId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        InstanceId::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("`{s}` is not an instance id (16 hex digits)"))
        })
    }
}

impl InstanceId {
    /// Parses the 16-hex-digit form.
    pub fn parse(s: &str) -> Option<InstanceId> {
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u64::from_str_radix(s, 16).ok().map(InstanceId)
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Who acts in an instance: a built-in agent, or a user's program.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Subject<'a> {
    /// A built-in (or registered) agent.
    Agent(&'a AgentSpec),
    /// An `[[experiment]]` program.
    Program(&'a ExecSpec),
}

impl<'a> Subject<'a> {
    /// The agent's registered name, or the experiment's name.
    pub fn name(&self) -> &'a str {
        match self {
            Subject::Agent(a) => &a.name,
            Subject::Program(e) => &e.name,
        }
    }

    /// Its parameter values (what a configuration is).
    pub fn params(&self) -> &'a Params {
        match self {
            Subject::Agent(a) => &a.params,
            Subject::Program(e) => &e.params,
        }
    }

    /// True for a user's program.
    pub fn is_program(&self) -> bool {
        matches!(self, Subject::Program(_))
    }
}

/// The label of a setting in tables: `family` or `family (episodic)`; `(program)` for none.
pub fn setting_label(setting: Option<&MdpSpec>) -> String {
    match setting {
        Some(m) if m.episodic => format!("{} (episodic)", m.family),
        Some(m) => m.family.clone(),
        None => "(program)".into(),
    }
}

impl InstanceKind {
    /// Who acts: the agent, or the program.
    pub fn subject(&self) -> Subject<'_> {
        match self {
            InstanceKind::Builtin { agent, .. } => Subject::Agent(agent),
            InstanceKind::Exec(e) => Subject::Program(e),
        }
    }

    /// Where it acts: the MDP, or none (a program brings its own environment).
    pub fn setting(&self) -> Option<&MdpSpec> {
        match self {
            InstanceKind::Builtin { mdp, .. } => Some(mdp),
            InstanceKind::Exec(_) => None,
        }
    }

    /// The (subject, setting) labels of status and plan tables.
    pub fn table_labels(&self) -> (String, String) {
        (
            self.subject().name().to_string(),
            setting_label(self.setting()),
        )
    }
}

impl Instance {
    /// The time limit, if any.
    pub fn time_limit(&self) -> Option<Duration> {
        (self.time_limit_ms > 0).then(|| Duration::from_millis(self.time_limit_ms))
    }

    /// The content-derived id. Everything that changes what the run computes goes in (kind,
    /// parameters, seed, steps, log interval, time limit); the spec's name does not, so renaming
    /// a spec keeps its results.
    pub fn id(&self) -> InstanceId {
        let mut h = blake3::Hasher::new();
        h.update(b"ludus-instance-v1");
        match &self.kind {
            InstanceKind::Builtin { agent, mdp } => {
                h.update(&[0]);
                hash_str(&mut h, &agent.name);
                hash_params(&mut h, &agent.params);
                hash_str(&mut h, &mdp.family);
                h.update(&[mdp.episodic as u8]);
                // The MDP as it is built: with the seed it takes from the run when the spec
                // gives none, so the id follows what the run computes.
                hash_params(&mut h, &mdp.params_for_run(self.seed));
            }
            // The absolute workdir stays out: where the spec's folder sits on a machine must
            // not change ids.
            InstanceKind::Exec(e) => {
                h.update(&[1]);
                hash_str(&mut h, &e.name);
                h.update(&(e.command.len() as u64).to_le_bytes());
                for a in &e.command {
                    hash_str(&mut h, a);
                }
                hash_str(&mut h, &e.workdir);
                hash_params(&mut h, &e.params);
            }
        }
        h.update(&self.seed.to_le_bytes());
        h.update(&self.steps.to_le_bytes());
        h.update(&self.log_every.to_le_bytes());
        h.update(&self.time_limit_ms.to_le_bytes());
        let bytes = h.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&bytes.as_bytes()[..8]);
        InstanceId(u64::from_be_bytes(first))
    }

    /// A short human label: `agent on mdp, seed n`.
    pub fn label(&self) -> String {
        let subject = self.kind.subject();
        match self.kind.setting() {
            Some(_) => format!(
                "{} on {} seed {}",
                subject.name(),
                setting_label(self.kind.setting()),
                self.seed
            ),
            None if subject.params().is_empty() => {
                format!("{} seed {}", subject.name(), self.seed)
            }
            None => format!(
                "{} {} seed {}",
                subject.name(),
                crate::value::Value::Table(subject.params().clone()),
                self.seed
            ),
        }
    }
}

/// The id of an agent configuration (kind + parameters), for grouping results by configuration.
pub fn config_id(name: &str, params: &Params) -> String {
    let mut h = blake3::Hasher::new();
    hash_str(&mut h, name);
    hash_params(&mut h, params);
    h.finalize().to_hex()[..12].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    fn exec(workdir_abs: &str, lr: f64) -> Instance {
        Instance {
            spec_name: "s".into(),
            kind: InstanceKind::Exec(ExecSpec {
                name: "train".into(),
                command: vec!["python3".into(), "train.py".into(), "{lr}".into()],
                workdir: "code".into(),
                workdir_abs: workdir_abs.into(),
                params: [("lr".to_string(), Value::Float(lr))].into(),
            }),
            seed: 1,
            steps: 0,
            log_every: 0,
            time_limit_ms: 0,
        }
    }

    #[test]
    fn exec_ids_follow_content_not_the_checkout_path() {
        assert_eq!(exec("/a/code", 0.1).id(), exec("/b/code", 0.1).id());
        assert_ne!(exec("/a/code", 0.1).id(), exec("/a/code", 0.2).id());
        let mut other = exec("/a/code", 0.1);
        other.seed = 2;
        assert_ne!(exec("/a/code", 0.1).id(), other.id());
        assert_eq!(exec("/a/code", 0.1).label(), "train { lr = 0.1 } seed 1");
    }

    #[test]
    fn exec_instances_round_trip_through_the_codec() {
        let i = exec("/a/code", 0.1);
        let back = crate::store::codec::decode(&crate::store::codec::encode(&i)).unwrap();
        assert_eq!(back, i);
    }
}
