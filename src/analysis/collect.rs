//! Gathering runs: every status file of every path, read in bounded parallel chunks, grouped by
//! agent kind, agent configuration, MDP configuration and seed.
//!
//! Only the values asked for (a few columns at one row) are kept per run, so memory grows with
//! the number of runs, not with the size of their logs.

use std::collections::HashMap;
use std::path::PathBuf;

use rayon::prelude::*;
use serde::Serialize;

use super::AnalysisError;
use super::logs::{At, read_values};
use crate::plan::MdpSpec;
use crate::plan::instance::config_id;
use crate::store::StatusKind;
use crate::store::runs::{self, RunFiles};
use crate::value::{Params, Value};

/// Files handled per parallel chunk: enough to keep both cores busy, few enough to bound memory.
const CHUNK: usize = 4096;

/// An agent kind: runs are compared only within a kind. Episodic and continuous variants of an
/// agent are different kinds (as they are different classes in Colosseum).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct AgentKind {
    /// The agent's registered name.
    pub name: String,
    /// Whether it ran on episodic MDPs.
    pub episodic: bool,
    /// A user's program (an `[[experiment]]`), not a built-in agent: it runs in no MDP.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub program: bool,
}

impl AgentKind {
    /// `q_learning` or `q_learning (episodic)`.
    pub fn label(&self) -> String {
        if self.episodic {
            format!("{} (episodic)", self.name)
        } else {
            self.name.clone()
        }
    }
}

/// One agent configuration.
#[derive(Clone, Debug, Serialize)]
pub struct ConfigInfo {
    /// Index into [`Collection::kinds`].
    pub kind: usize,
    /// `config_id(name, params)`.
    pub id: String,
    /// The parameters.
    pub params: Params,
}

/// One MDP configuration.
#[derive(Clone, Debug, Serialize)]
pub struct MdpInfo {
    /// The family.
    pub family: String,
    /// Episodic or continuous.
    pub episodic: bool,
    /// The parameters.
    pub params: Params,
    /// A human label: family, setting and parameters.
    pub label: String,
    /// A file-name-safe short name: family and a content hash.
    pub slug: String,
}

/// One run, reduced to what the analysis needs.
#[derive(Clone, Debug)]
pub struct RunRecord {
    /// The instance id.
    pub id: String,
    /// Index into [`Collection::configs`].
    pub config: usize,
    /// Index into [`Collection::mdps`]; `None` for a program, which runs in no MDP.
    pub mdp: Option<usize>,
    /// The seed.
    pub seed: u64,
    /// How it ended.
    pub state: StatusKind,
    /// The values of [`Collection::columns`] at [`Collection::at`]; `None` when the run is not
    /// valid or its log could not be read (then `problem` says why).
    pub values: Option<Vec<f64>>,
    /// The performance log.
    pub csv: Option<PathBuf>,
    /// Why a valid run's log is unusable, or the run's error message.
    pub problem: Option<String>,
    /// Where it ran: the ludus version, host and end time from its status file.
    pub ran: Ran,
}

/// Where and when a run ran, from its status file (the report's provenance).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Ran {
    /// The ludus version that ran it.
    pub ludus_version: String,
    /// The host that ran it.
    pub host: String,
    /// When it ended, RFC 3339.
    pub finished_at: String,
}

impl RunRecord {
    /// A valid run with readable values.
    pub fn usable(&self) -> bool {
        self.state.is_success() && self.values.is_some()
    }
}

/// A file that could not be used at all.
#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    /// The file.
    pub path: PathBuf,
    /// What was wrong.
    pub reason: String,
}

/// Everything read from a set of paths.
#[derive(Clone, Debug, Default)]
pub struct Collection {
    /// The paths read, as given.
    pub paths: Vec<PathBuf>,
    /// The columns read for every valid run.
    pub columns: Vec<String>,
    /// The row they were read at.
    pub at: Option<At>,
    /// Agent kinds, in order of discovery.
    pub kinds: Vec<AgentKind>,
    /// Agent configurations.
    pub configs: Vec<ConfigInfo>,
    /// MDP configurations.
    pub mdps: Vec<MdpInfo>,
    /// Runs with a status file, one per instance id.
    pub runs: Vec<RunRecord>,
    /// Logs with no status file (unfinished runs), by path.
    pub unfinished: Vec<PathBuf>,
    /// Status files that could not be read.
    pub unreadable: Vec<Problem>,
    /// Results of instances that their folder's current plan no longer holds (an earlier
    /// plan's), left out unless asked for.
    pub stale: usize,
}

enum Parsed {
    Run {
        id: String,
        kind: AgentKind,
        params: Params,
        mdp: Option<MdpSpec>,
        seed: u64,
        state: StatusKind,
        values: Option<Vec<f64>>,
        csv: Option<PathBuf>,
        problem: Option<String>,
        ran: Box<Ran>,
    },
    Unfinished(PathBuf),
    Bad(Problem),
}

fn parse(files: RunFiles, columns: &[&str], at: At) -> Parsed {
    let Some(status_path) = files.status else {
        return match files.csv {
            Some(csv) => Parsed::Unfinished(csv),
            None => Parsed::Bad(Problem {
                path: PathBuf::from(files.id.to_string()),
                reason: "no files".into(),
            }),
        };
    };
    let status = match runs::read_outcome(&status_path) {
        Ok(s) => s,
        Err(e) => {
            return Parsed::Bad(Problem {
                reason: super::store_error(&status_path, e).to_string(),
                path: status_path,
            });
        }
    };
    let seed = status.instance.seed;
    // A run groups by its subject (an agent, or a program: its name is the kind, its
    // parameters the configuration) and its setting (an MDP, or none for a program).
    let kind = AgentKind {
        name: status.instance.kind.subject().name().to_string(),
        episodic: status.instance.kind.setting().is_some_and(|m| m.episodic),
        program: status.instance.kind.subject().is_program(),
    };
    let params = status.instance.kind.subject().params().clone();
    let mdp = status.instance.kind.setting().cloned();
    let mut problem = status.message.clone();
    let values = if status.status.is_success() {
        match &files.csv {
            Some(csv) => match read_values(csv, columns, at) {
                Ok(v) => Some(v),
                Err(e) => {
                    problem = Some(e.to_string());
                    None
                }
            },
            None => {
                problem = Some(format!("{}: no log file", status_path.display()));
                None
            }
        }
    } else {
        None
    };
    Parsed::Run {
        id: files.id.to_string(),
        kind,
        params,
        mdp,
        seed,
        state: status.status,
        values,
        csv: files.csv,
        problem,
        ran: Box::new(Ran {
            ludus_version: status.ludus_version.clone(),
            host: status.host.clone(),
            finished_at: status.finished_at.clone(),
        }),
    }
}

fn mdp_label(family: &str, episodic: bool, params: &Params) -> String {
    let setting = if episodic { " (episodic)" } else { "" };
    if params.is_empty() {
        format!("{family}{setting}")
    } else {
        format!("{family}{setting} {}", Value::Table(params.clone()))
    }
}

fn mdp_slug(family: &str, episodic: bool, params: &Params) -> String {
    let mut h = blake3::Hasher::new();
    crate::value::hash_str(&mut h, family);
    h.update(&[episodic as u8]);
    crate::value::hash_params(&mut h, params);
    format!(
        "{family}-{}-{}",
        if episodic { "e" } else { "c" },
        &h.finalize().to_hex()[..8]
    )
}

/// A run replaces a duplicate of itself (the same id in two paths) only if it is more useful.
fn rank_state(r: &RunRecord) -> u8 {
    match (r.usable(), r.state) {
        (true, StatusKind::Done) => 0,
        (true, _) => 1,
        (false, StatusKind::Error) => 3,
        (false, StatusKind::Interrupted) => 4,
        (false, _) => 2,
    }
}

#[derive(Default)]
struct Interner {
    kinds: HashMap<AgentKind, usize>,
    configs: HashMap<(usize, String), usize>,
    mdps: HashMap<(String, bool, String), usize>,
    ids: HashMap<String, usize>,
}

/// Reads every run of `paths`, with the values of `columns` at `at` for valid runs.
///
/// Results of instances not in their folder's current plan (stale) are left out and counted,
/// unless `include_stale`.
pub fn collect(
    paths: &[PathBuf],
    columns: &[&str],
    at: At,
    include_stale: bool,
) -> Result<Collection, AnalysisError> {
    let mut c = Collection {
        paths: paths.to_vec(),
        columns: columns.iter().map(|s| s.to_string()).collect(),
        at: Some(at),
        ..Default::default()
    };
    let mut files = Vec::new();
    for p in paths {
        files.extend(runs::list(p).map_err(|e| super::store_error(p, e))?);
    }
    if !include_stale {
        let before = files.len();
        files.retain(|f| !f.stale);
        c.stale = before - files.len();
    }
    let mut intern = Interner::default();
    let mut files = files.into_iter().peekable();
    while files.peek().is_some() {
        let chunk: Vec<RunFiles> = files.by_ref().take(CHUNK).collect();
        let parsed: Vec<Parsed> = chunk
            .into_par_iter()
            .map(|f| parse(f, columns, at))
            .collect();
        for p in parsed {
            merge(&mut c, &mut intern, p);
        }
    }
    // A run unfinished in one copy (a local folder) may be finished in another (downloaded).
    c.unfinished.retain(|p| {
        let id = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        !intern.ids.contains_key(id)
    });
    Ok(c)
}

fn merge(c: &mut Collection, intern: &mut Interner, p: Parsed) {
    let (id, kind, params, mdp, seed, state, values, csv, problem, ran) = match p {
        Parsed::Unfinished(path) => return c.unfinished.push(path),
        Parsed::Bad(problem) => return c.unreadable.push(problem),
        Parsed::Run {
            id,
            kind,
            params,
            mdp,
            seed,
            state,
            values,
            csv,
            problem,
            ran,
        } => (
            id, kind, params, mdp, seed, state, values, csv, problem, ran,
        ),
    };
    let kind_ix = *intern.kinds.entry(kind.clone()).or_insert_with(|| {
        c.kinds.push(kind.clone());
        c.kinds.len() - 1
    });
    let cid = config_id(&kind.name, &params);
    let config = *intern
        .configs
        .entry((kind_ix, cid.clone()))
        .or_insert_with(|| {
            c.configs.push(ConfigInfo {
                kind: kind_ix,
                id: cid,
                params,
            });
            c.configs.len() - 1
        });
    let mdp = mdp.map(|m| {
        let key = (
            m.family.clone(),
            m.episodic,
            serde_json::to_string(&m.params).unwrap_or_default(),
        );
        *intern.mdps.entry(key).or_insert_with(|| {
            c.mdps.push(MdpInfo {
                label: mdp_label(&m.family, m.episodic, &m.params),
                slug: mdp_slug(&m.family, m.episodic, &m.params),
                family: m.family,
                episodic: m.episodic,
                params: m.params,
            });
            c.mdps.len() - 1
        })
    });
    let record = RunRecord {
        id: id.clone(),
        config,
        mdp,
        seed,
        state,
        values,
        csv,
        problem,
        ran: *ran,
    };
    match intern.ids.get(&id) {
        Some(&i) => {
            if rank_state(&record) < rank_state(&c.runs[i]) {
                c.runs[i] = record;
            }
        }
        None => {
            intern.ids.insert(id, c.runs.len());
            c.runs.push(record);
        }
    }
}
