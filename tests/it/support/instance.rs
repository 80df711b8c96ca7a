//! `Instance` values for tests and benchmarks, built from the few fields each one cares about
//! (shared with the benchmarks through `#[path]`).
#![allow(dead_code, reason = "each user builds a different subset")]

use ludus::plan::{AgentSpec, ExecSpec, Instance, InstanceKind, MdpSpec};
use ludus::value::Params;

/// Builds an [`Instance`]: a built-in agent on an MDP ([`builtin`]) or a program
/// ([`program`]); every field not set has a small default (spec `test`, seed 0, 1,000 steps,
/// a row every 100, no time limit, no parameters, continuous setting).
#[derive(Clone, Debug)]
pub struct InstanceBuilder {
    instance: Instance,
}

/// `agent` learning on the MDP family `family`.
pub fn builtin(agent: &str, family: &str) -> InstanceBuilder {
    InstanceBuilder::with_kind(InstanceKind::Builtin {
        agent: AgentSpec {
            name: agent.into(),
            params: Params::new(),
        },
        mdp: MdpSpec {
            family: family.into(),
            episodic: false,
            params: Params::new(),
        },
    })
}

/// The `[[experiment]]` program `name` running `command` in the current folder.
pub fn program(name: &str, command: &[&str]) -> InstanceBuilder {
    InstanceBuilder::with_kind(InstanceKind::Exec(ExecSpec {
        name: name.into(),
        command: command.iter().map(|s| s.to_string()).collect(),
        workdir: ".".into(),
        workdir_abs: std::env::current_dir()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| ".".into()),
        params: Params::new(),
    }))
}

impl InstanceBuilder {
    fn with_kind(kind: InstanceKind) -> InstanceBuilder {
        InstanceBuilder {
            instance: Instance {
                spec_name: "test".into(),
                kind,
                seed: 0,
                steps: 1_000,
                log_every: 100,
                time_limit_ms: 0,
            },
        }
    }

    /// The spec name recorded in the instance.
    pub fn spec(mut self, name: &str) -> Self {
        self.instance.spec_name = name.into();
        self
    }

    /// The seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.instance.seed = seed;
        self
    }

    /// Interaction steps.
    pub fn steps(mut self, steps: u64) -> Self {
        self.instance.steps = steps;
        self
    }

    /// A log row every `n` steps.
    pub fn log_every(mut self, n: u64) -> Self {
        self.instance.log_every = n;
        self
    }

    /// The time limit in milliseconds (0: none).
    pub fn time_limit_ms(mut self, ms: u64) -> Self {
        self.instance.time_limit_ms = ms;
        self
    }

    /// The agent's (or program's) parameters.
    pub fn params(mut self, params: Params) -> Self {
        match &mut self.instance.kind {
            InstanceKind::Builtin { agent, .. } => agent.params = params,
            InstanceKind::Exec(e) => e.params = params,
        }
        self
    }

    /// The MDP's parameters (built-in instances only).
    pub fn mdp_params(mut self, params: Params) -> Self {
        match &mut self.instance.kind {
            InstanceKind::Builtin { mdp, .. } => mdp.params = params,
            InstanceKind::Exec(_) => panic!("a program instance has no MDP"),
        }
        self
    }

    /// The episodic (true) or continuous (false) setting (built-in instances only).
    pub fn episodic(mut self, episodic: bool) -> Self {
        match &mut self.instance.kind {
            InstanceKind::Builtin { mdp, .. } => mdp.episodic = episodic,
            InstanceKind::Exec(_) => panic!("a program instance has no MDP"),
        }
        self
    }

    /// The instance.
    pub fn build(self) -> Instance {
        self.instance
    }
}
