//! Expanding a validated spec into instances, checked against the registry.
//!
//! Order (documented in the README): agents in spec order, each agent's configurations in sweep
//! order; for each, MDPs in spec order, each MDP's configurations in sweep order; seeds
//! innermost, in spec order. Pairs the agent cannot run (an episodic-only agent on a continuous
//! MDP) are left out and counted. Identical instances (same content, so same id) are kept once.
//! `[[experiment]]` instances (users' programs) come after every built-in one: experiments in
//! spec order, each one's configurations in sweep order, seeds innermost.

use std::collections::HashSet;
use std::path::Path;

use rayon::prelude::*;

use super::command;
use super::instance::{AgentSpec, ExecSpec, Instance, InstanceId, InstanceKind, MdpSpec};
use crate::model::Registry;
use crate::model::registry::CheckError;
use crate::spec::{AgentEntry, Spec, SpecError};

/// A plan: the configurations and, for each instance, which ones it combines. Instances are
/// built on demand (`instance(i)`), so planning 100,000 of them stays small in memory.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The spec's name.
    pub spec_name: String,
    /// Every agent configuration, with the index of its spec table.
    pub agents: Vec<(usize, AgentSpec)>,
    /// Every MDP configuration, with the index of its spec table.
    pub mdps: Vec<(usize, MdpSpec)>,
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Steps, log interval and time limit shared by all instances.
    pub steps: u64,
    /// Log interval.
    pub log_every: u64,
    /// Time limit in milliseconds (0: none).
    pub time_limit_ms: u64,
    /// Every experiment configuration, with the index of its spec table.
    pub experiments: Vec<(usize, ExecSpec)>,
    /// What every instance combines, in plan order, de-duplicated: built-in instances first,
    /// then programs.
    pub entries: Vec<Entry>,
    /// The id of every entry.
    pub ids: Vec<InstanceId>,
    /// Pairs left out because the agent cannot run on the MDP: (agent, MDP family, reason, count).
    pub incompatible: Vec<(String, String, String, usize)>,
    /// Instances that appeared more than once in the expansion (kept once).
    pub duplicates: usize,
}

/// One instance of a plan, as indices into the plan's configurations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A built-in agent on an MDP.
    Builtin {
        /// Index into [`Plan::agents`].
        agent: u32,
        /// Index into [`Plan::mdps`].
        mdp: u32,
        /// Index into [`Plan::seeds`].
        seed: u32,
    },
    /// A user's program.
    Program {
        /// Index into [`Plan::experiments`].
        experiment: u32,
        /// Index into [`Plan::seeds`].
        seed: u32,
    },
}

impl Plan {
    /// The (subject, setting) labels of an entry, as [`InstanceKind::table_labels`] gives them
    /// (without building the instance).
    pub fn table_labels(&self, entry: Entry) -> (&str, String) {
        match entry {
            Entry::Builtin { agent, mdp, .. } => (
                &self.agents[agent as usize].1.name,
                super::instance::setting_label(Some(&self.mdps[mdp as usize].1)),
            ),
            Entry::Program { experiment, .. } => (
                &self.experiments[experiment as usize].1.name,
                super::instance::setting_label(None),
            ),
        }
    }

    /// The number of instances.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the plan has no instance.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Builds the i-th instance.
    pub fn instance(&self, i: usize) -> Instance {
        self.build(self.entries[i])
    }

    /// Builds the instance of one entry.
    pub fn build(&self, entry: Entry) -> Instance {
        let (kind, seed, steps, log_every) = match entry {
            Entry::Builtin { agent, mdp, seed } => (
                InstanceKind::Builtin {
                    agent: self.agents[agent as usize].1.clone(),
                    mdp: self.mdps[mdp as usize].1.clone(),
                },
                seed,
                self.steps,
                self.log_every,
            ),
            // A program decides its own steps and logging.
            Entry::Program { experiment, seed } => (
                InstanceKind::Exec(self.experiments[experiment as usize].1.clone()),
                seed,
                0,
                0,
            ),
        };
        Instance {
            spec_name: self.spec_name.clone(),
            kind,
            seed: self.seeds[seed as usize],
            steps,
            log_every,
            time_limit_ms: self.time_limit_ms,
        }
    }
}

fn spec_err(spec: &Spec, key: String, line: Option<usize>, message: String) -> SpecError {
    SpecError {
        file: spec.path.clone(),
        key,
        line,
        message,
    }
}

fn describe(e: CheckError, what: &str, name: &str) -> String {
    match e {
        CheckError::Unknown(known) => {
            format!("unknown {what} `{name}`; known: {}", known.join(", "))
        }
        CheckError::Incompatible(m) => m,
        CheckError::Invalid(m) => format!("{name}: {m}"),
    }
}

/// Expands `spec` (with its agents replaced by `agents` when given) into a plan, checking every
/// agent and MDP configuration against `registry`.
pub fn plan(
    spec: &Spec,
    agents: Option<&[AgentEntry]>,
    registry: &Registry,
) -> Result<Plan, SpecError> {
    super::count::check(spec, agents)?;
    let agent_entries = agents.unwrap_or(&spec.agents);
    let base_dir = spec.path.parent().unwrap_or(Path::new("."));

    let mut mdps = Vec::new();
    for (mi, m) in spec.mdps.iter().enumerate() {
        let key = format!("mdp[{mi}]");
        let known = registry.mdp_names();
        if !known.contains(&m.family) {
            let e = CheckError::Unknown(known);
            return Err(spec_err(
                spec,
                format!("{key}.family"),
                m.line,
                describe(e, "MDP family", &m.family),
            ));
        }
        for params in m.sweep.expand() {
            let params = registry
                .resolve_mdp(&m.family, m.episodic, &params, base_dir)
                .map_err(|e| {
                    spec_err(
                        spec,
                        key.clone(),
                        m.line,
                        describe(e, "MDP family", &m.family),
                    )
                })?;
            let mdp = MdpSpec {
                family: m.family.clone(),
                episodic: m.episodic,
                params,
            };
            check_mdp_for_seeds(registry, &mdp, &spec.seeds).map_err(|(seed, e)| {
                let e = describe(e, "MDP family", &m.family);
                let e = match seed {
                    Some(s) => format!("{e} (with the MDP seed {s}, the run's seed)"),
                    None => e,
                };
                spec_err(spec, key.clone(), m.line, e)
            })?;
            mdps.push((mi, mdp));
        }
    }

    let mut agent_cfgs = Vec::new();
    for (ai, a) in agent_entries.iter().enumerate() {
        for params in a.sweep.expand() {
            agent_cfgs.push((
                ai,
                AgentSpec {
                    name: a.name.clone(),
                    params,
                },
            ));
        }
    }

    // Check each agent configuration once per MDP setting it meets.
    let settings: Vec<bool> = {
        let mut s: Vec<bool> = mdps.iter().map(|(_, m)| m.episodic).collect();
        s.sort();
        s.dedup();
        s
    };
    let mut ok = vec![[false; 2]; agent_cfgs.len()];
    let mut incompatible: Vec<(String, String, String, usize)> = Vec::new();
    for (ci, (ai, cfg)) in agent_cfgs.iter().enumerate() {
        let key = format!("agent[{ai}]");
        let line = agent_entries[*ai].line;
        let mut any = false;
        for &episodic in &settings {
            match registry.check_agent(&cfg.name, &cfg.params, episodic) {
                Ok(()) => {
                    ok[ci][episodic as usize] = true;
                    any = true;
                }
                Err(CheckError::Incompatible(why)) => {
                    let n = mdps.iter().filter(|(_, m)| m.episodic == episodic).count()
                        * spec.seeds.len();
                    let setting = if episodic {
                        "episodic MDPs"
                    } else {
                        "continuous MDPs"
                    };
                    match incompatible
                        .iter_mut()
                        .find(|x| x.0 == cfg.name && x.1 == setting)
                    {
                        Some(x) => x.3 += n,
                        None => incompatible.push((cfg.name.clone(), setting.into(), why, n)),
                    }
                }
                Err(e) => {
                    let k = if matches!(e, CheckError::Unknown(_)) {
                        format!("{key}.name")
                    } else {
                        key
                    };
                    // Which variant refused: an agent's episodic and continuous variants take
                    // different parameters.
                    let name = match e {
                        CheckError::Invalid(_) if episodic => {
                            format!("{} (its episodic variant, for the episodic MDPs)", cfg.name)
                        }
                        CheckError::Invalid(_) => {
                            format!(
                                "{} (its continuous variant, for the continuous MDPs)",
                                cfg.name
                            )
                        }
                        _ => cfg.name.clone(),
                    };
                    return Err(spec_err(spec, k, line, describe(e, "agent kind", &name)));
                }
            }
        }
        if !any {
            let why = incompatible
                .iter()
                .find(|x| x.0 == cfg.name)
                .map(|x| x.2.clone())
                .unwrap_or_default();
            return Err(spec_err(
                spec,
                key,
                line,
                format!("agent `{}` can run on no MDP of this spec: {why}", cfg.name),
            ));
        }
    }

    let mut entries = Vec::new();
    for (ci, _) in agent_cfgs.iter().enumerate() {
        for (mi, (_, m)) in mdps.iter().enumerate() {
            if !ok[ci][m.episodic as usize] {
                continue;
            }
            for si in 0..spec.seeds.len() {
                entries.push(Entry::Builtin {
                    agent: ci as u32,
                    mdp: mi as u32,
                    seed: si as u32,
                });
            }
        }
    }
    let mut plan = Plan {
        spec_name: spec.name.clone(),
        agents: agent_cfgs,
        mdps,
        seeds: spec.seeds.clone(),
        steps: spec.steps,
        log_every: spec.log_every,
        time_limit_ms: spec.time_limit_ms,
        experiments: experiments(spec, base_dir)?,
        entries: Vec::new(),
        ids: Vec::new(),
        incompatible,
        duplicates: 0,
    };
    for ei in 0..plan.experiments.len() {
        for si in 0..spec.seeds.len() {
            entries.push(Entry::Program {
                experiment: ei as u32,
                seed: si as u32,
            });
        }
    }
    let ids: Vec<InstanceId> = entries.par_iter().map(|&e| plan.build(e).id()).collect();
    let mut seen = HashSet::with_capacity(ids.len());
    let mut keep_ids = Vec::with_capacity(ids.len());
    for (e, id) in entries.iter().zip(ids) {
        if seen.insert(id) {
            plan.entries.push(*e);
            keep_ids.push(id);
        }
    }
    plan.duplicates = entries.len() - plan.entries.len();
    plan.ids = keep_ids;
    Ok(plan)
}

/// Checks an MDP configuration as the runs will build it. With its own `seed`: built and
/// solved once. Without (each run takes its seed): built and solved with the first run seed,
/// and built (not solved, which costs a solve per seed) with every other one, so a layout that
/// cannot be drawn is refused here; a seed whose MDP has no normalizable regret fails its own
/// run, with the reason. On failure, returns the run seed used (if any) with the error.
fn check_mdp_for_seeds(
    registry: &Registry,
    mdp: &MdpSpec,
    seeds: &[u64],
) -> Result<(), (Option<u64>, CheckError)> {
    let Some((&first, rest)) = seeds.split_first().filter(|_| mdp.seed_from_run()) else {
        return registry
            .check_mdp(&mdp.family, mdp.episodic, &mdp.params)
            .map_err(|e| (None, e));
    };
    if let Err(e) = registry.check_mdp(&mdp.family, mdp.episodic, &mdp.params_for_run(first)) {
        // A bad parameter fails whatever the seed: report it as the spec wrote it.
        let as_written = registry.build_mdp(&mdp.family, mdp.episodic, &mdp.params);
        let alike = as_written.err().map(|x| x.to_string()) == Some(e.to_string());
        return Err((if alike { None } else { Some(first) }, e));
    }
    let mut errors: Vec<(u64, CheckError)> = rest
        .par_iter()
        .filter_map(|&s| {
            registry
                .build_mdp(&mdp.family, mdp.episodic, &mdp.params_for_run(s))
                .err()
                .map(|e| (s, e))
        })
        .collect();
    errors.sort_by_key(|e| e.0);
    match errors.into_iter().next() {
        Some((s, e)) => Err((Some(s), e)),
        None => Ok(()),
    }
}

/// Every experiment configuration, its placeholders checked and its workdir resolved.
fn experiments(spec: &Spec, base_dir: &Path) -> Result<Vec<(usize, ExecSpec)>, SpecError> {
    let mut out = Vec::new();
    for (ei, e) in spec.experiments.iter().enumerate() {
        let key = format!("experiment[{ei}]");
        let dir = base_dir.join(&e.workdir);
        let abs = std::path::absolute(&dir).unwrap_or(dir);
        if !abs.is_dir() {
            return Err(spec_err(
                spec,
                format!("{key}.workdir"),
                e.line,
                format!(
                    "the working folder {} does not exist (a workdir is relative to the spec's folder)",
                    abs.display()
                ),
            ));
        }
        for params in e.sweep.expand() {
            command::check(&e.command, &params)
                .map_err(|m| spec_err(spec, format!("{key}.command"), e.line, m))?;
            out.push((
                ei,
                ExecSpec {
                    name: e.name.clone(),
                    command: e.command.clone(),
                    workdir: e.workdir.clone(),
                    workdir_abs: abs.to_string_lossy().into_owned(),
                    params,
                },
            ));
        }
    }
    Ok(out)
}
