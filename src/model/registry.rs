//! The registry: spec names -> agent kinds and MDP families.
//!
//! `plan` validates every agent and MDP of a spec here, so a typo or an invalid parameter is an
//! error at plan time, never on the cluster. A user crate builds `Registry::builtin()`, adds its
//! own kinds with [`Registry::add_agent`] / [`Registry::add_mdp`], and hands the registry to the
//! CLI (`ludus::cli::main_with`); `run` builds agents and MDPs through the same registry.

use std::path::Path;

pub use super::check::CheckError;

use super::agents::{
    Agent, AgentContext, PsrlContinuous, PsrlEpisodic, QLearningContinuous, QLearningEpisodic,
    RandomAgent, Ucrl2,
};
use super::families::{self, custom};
use super::mdp::Mdp;
use super::solve::{Solution, solve};
use crate::rng::Rng;
use crate::value::Params;

/// Checks an agent's parameters for an episodic (`true`) or continuous MDP.
pub type AgentCheckFn = Box<dyn Fn(&Params, bool) -> Result<(), CheckError> + Send + Sync>;
/// Builds an agent (episodic when `ctx.horizon` is set) with its own generator.
pub type AgentBuildFn =
    Box<dyn Fn(&Params, &AgentContext, Rng) -> Result<Box<dyn Agent>, CheckError> + Send + Sync>;
/// Builds an MDP from `(episodic, params)`.
pub type MdpBuildFn = Box<dyn Fn(bool, &Params) -> Result<Mdp, CheckError> + Send + Sync>;
/// Rewrites an MDP's parameters at plan time (e.g. reads a file relative to the spec's folder).
pub type MdpResolveFn = Box<dyn Fn(&Params, &Path) -> Result<Params, CheckError> + Send + Sync>;

/// An agent kind: a spec name, a parameter check, a constructor.
pub struct AgentKind {
    /// The name specs use.
    pub name: String,
    /// Checks parameters (and the setting) without building.
    pub check: AgentCheckFn,
    /// Builds the agent.
    pub build: AgentBuildFn,
}

/// An MDP family: a spec name and a constructor (and optionally a plan-time resolver).
pub struct MdpFamily {
    /// The name specs use.
    pub name: String,
    /// Builds the MDP; every invalid parameter is an error here.
    pub build: MdpBuildFn,
    /// Rewrites parameters once at plan time; `None` keeps them as they are.
    pub resolve: Option<MdpResolveFn>,
}

/// Maps names in specs to agent kinds and MDP families.
#[derive(Default)]
pub struct Registry {
    agents: Vec<AgentKind>,
    mdps: Vec<MdpFamily>,
}

/// A built-in agent's constructor.
type NewFn<T> = fn(&Params, &AgentContext, Rng) -> Result<T, CheckError>;

fn builtin_agent<E, C>(
    name: &str,
    episodic: Option<NewFn<E>>,
    continuous: NewFn<C>,
    check: fn(&Params, bool) -> Result<(), CheckError>,
) -> AgentKind
where
    E: Agent + 'static,
    C: Agent + 'static,
{
    let agent_name = name.to_string();
    AgentKind {
        name: name.into(),
        check: Box::new(check),
        build: Box::new(move |p, ctx, rng| {
            if ctx.horizon.is_some() {
                match episodic {
                    Some(b) => Ok(Box::new(b(p, ctx, rng)?) as Box<dyn Agent>),
                    None => Err(CheckError::Incompatible(format!(
                        "{agent_name} runs on continuous MDPs only"
                    ))),
                }
            } else {
                Ok(Box::new(continuous(p, ctx, rng)?) as Box<dyn Agent>)
            }
        }),
    }
}

impl Registry {
    /// The built-in agents and MDP families.
    pub fn builtin() -> Registry {
        let mut r = Registry::default();
        r.add_agent(builtin_agent(
            "q_learning",
            Some(QLearningEpisodic::new),
            QLearningContinuous::new,
            |p, episodic| {
                if episodic {
                    QLearningEpisodic::check(p)
                } else {
                    QLearningContinuous::check(p)
                }
            },
        ));
        r.add_agent(builtin_agent(
            "psrl",
            Some(PsrlEpisodic::new),
            PsrlContinuous::new,
            |p, episodic| {
                if episodic {
                    PsrlEpisodic::check(p)
                } else {
                    PsrlContinuous::check(p)
                }
            },
        ));
        r.add_agent(builtin_agent::<Ucrl2, Ucrl2>(
            "ucrl2",
            None,
            Ucrl2::new,
            |p, episodic| {
                if episodic {
                    return Err(CheckError::Incompatible(
                        "ucrl2 runs on continuous MDPs only (remove `episodic`)".into(),
                    ));
                }
                Ucrl2::check(p)
            },
        ));
        r.add_agent(builtin_agent(
            "random",
            Some(RandomAgent::new),
            RandomAgent::new,
            |p, _| crate::model::params::ParamReader::new(p).finish(),
        ));
        for &(name, build) in families::BUILTIN {
            r.add_mdp(MdpFamily {
                name: name.into(),
                build: Box::new(build),
                resolve: (name == "custom").then(|| Box::new(custom::resolve) as MdpResolveFn),
            });
        }
        r
    }

    /// Registers an agent kind, replacing any kind of the same name.
    pub fn add_agent(&mut self, kind: AgentKind) {
        self.agents.retain(|k| k.name != kind.name);
        self.agents.push(kind);
    }

    /// Registers an MDP family, replacing any family of the same name.
    pub fn add_mdp(&mut self, family: MdpFamily) {
        self.mdps.retain(|f| f.name != family.name);
        self.mdps.push(family);
    }

    /// Names of the registered agent kinds, sorted.
    pub fn agent_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.agents.iter().map(|k| k.name.clone()).collect();
        v.sort();
        v
    }

    /// Names of the registered MDP families, sorted.
    pub fn mdp_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.mdps.iter().map(|k| k.name.clone()).collect();
        v.sort();
        v
    }

    fn agent(&self, name: &str) -> Result<&AgentKind, CheckError> {
        self.agents
            .iter()
            .find(|k| k.name == name)
            .ok_or_else(|| CheckError::Unknown(self.agent_names()))
    }

    fn family(&self, name: &str) -> Result<&MdpFamily, CheckError> {
        self.mdps
            .iter()
            .find(|k| k.name == name)
            .ok_or_else(|| CheckError::Unknown(self.mdp_names()))
    }

    /// Checks an agent configuration for an MDP setting.
    pub fn check_agent(
        &self,
        name: &str,
        params: &Params,
        episodic: bool,
    ) -> Result<(), CheckError> {
        (self.agent(name)?.check)(params, episodic)
    }

    /// Rewrites an MDP configuration once at plan time, before [`Registry::check_mdp`]: for
    /// `custom`, a `file` parameter (relative to `base_dir`, the spec's folder) is replaced by
    /// the tables it holds, so the instance is self-contained. Other families: unchanged.
    pub fn resolve_mdp(
        &self,
        family: &str,
        _episodic: bool,
        params: &Params,
        base_dir: &Path,
    ) -> Result<Params, CheckError> {
        match &self.family(family)?.resolve {
            Some(f) => f(params, base_dir),
            None => Ok(params.clone()),
        }
    }

    /// Checks an MDP configuration by building and solving it: besides parameter errors, it
    /// refuses MDPs on which normalized regret is undefined (continuous: optimal - worst average
    /// reward <= 0.0002, as Colosseum does; episodic: a start state where every policy is worth
    /// the same).
    pub fn check_mdp(
        &self,
        family: &str,
        episodic: bool,
        params: &Params,
    ) -> Result<(), CheckError> {
        let mdp = self.build_mdp(family, episodic, params)?;
        let sol = solve(&mdp).map_err(|e| CheckError::Invalid(e.to_string()))?;
        check_solution(&mdp, &sol)
    }

    /// Builds an MDP.
    pub fn build_mdp(
        &self,
        family: &str,
        episodic: bool,
        params: &Params,
    ) -> Result<Mdp, CheckError> {
        (self.family(family)?.build)(episodic, params)
    }

    /// Builds an agent for an MDP described by `ctx` (episodic when `ctx.horizon` is set).
    pub fn build_agent(
        &self,
        name: &str,
        params: &Params,
        ctx: &AgentContext,
        rng: Rng,
    ) -> Result<Box<dyn Agent>, CheckError> {
        let kind = self.agent(name)?;
        (kind.check)(params, ctx.horizon.is_some())?;
        (kind.build)(params, ctx, rng)
    }
}

/// Refuses MDPs on which normalized regret is undefined.
pub fn check_solution(mdp: &Mdp, sol: &Solution) -> Result<(), CheckError> {
    let gap = sol.optimal_average_reward - sol.worst_average_reward;
    // Colosseum's threshold is for the continuous normalization (by optimal - worst average
    // reward); episodic regret is normalized per start state, checked below. Colosseum's own
    // episodic benchmark has a SimpleGrid whose average-reward gap is 1.5e-4.
    if !mdp.is_episodic() && gap <= 0.0002 {
        return Err(CheckError::Invalid(format!(
            "optimal - worst average reward = {gap:.3e} <= 0.0002: every policy does about \
             equally well, so normalized regret is undefined (check p_rand, p_lazy, rewards)"
        )));
    }
    if mdp.is_episodic() {
        for &(s, _) in &mdp.start {
            if sol.optimal_values[s] - sol.worst_values[s] <= 1e-12 {
                return Err(CheckError::Invalid(format!(
                    "start state {s}: every policy has the same value, so normalized regret is \
                     undefined"
                )));
            }
        }
    }
    Ok(())
}
