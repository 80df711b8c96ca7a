//! Specs: the benchmark files users write (TOML, or YAML for `.yaml`/`.yml`), validated.
//!
//! Reading has two phases, like ripgrep's low- and high-level arguments: the file becomes a
//! format-neutral tree with line numbers (`node`), then `validate` turns the tree into a `Spec`,
//! refusing unknown keys, wrong types, empty sweeps, unequal zips and keys both fixed and swept
//! with an error that names the file, the key and the line.

mod experiment;
pub(crate) mod node;
mod resources;
pub mod sweep;
pub(crate) mod toml_tree;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

pub use experiment::param_env_name;
pub use resources::Resources;
pub use sweep::{Dist, MAX_INSTANCES, Sample, Sweep};
pub use validate::{MAX_NAME_BYTES, MAX_TIME_LIMIT_MS, plain_name};

/// A validated benchmark spec.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    /// The spec's name (`name = ...`, else the file's stem).
    pub name: String,
    /// The file it was read from.
    pub path: PathBuf,
    /// The seeds every configuration runs with.
    pub seeds: Vec<u64>,
    /// Interaction steps per instance.
    pub steps: u64,
    /// A log row every this many steps.
    pub log_every: u64,
    /// Per-instance time limit in milliseconds (0: none).
    pub time_limit_ms: u64,
    /// The `[[agent]]` tables.
    pub agents: Vec<AgentEntry>,
    /// The `[[mdp]]` tables.
    pub mdps: Vec<MdpEntry>,
    /// The `[[experiment]]` tables: users' programs.
    pub experiments: Vec<ExperimentEntry>,
    /// What each instance needs on a cluster (`resources = { ... }`; empty when not given).
    pub resources: Resources,
}

/// One `[[experiment]]` table: a user's program and its parameter sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct ExperimentEntry {
    /// Its name.
    pub name: String,
    /// The argv template (`{param}`, `{seed}`, `{id}` placeholders).
    pub command: Vec<String>,
    /// The working folder, relative to the spec's folder (`.` when not given).
    pub workdir: String,
    /// Its parameter sweep.
    pub sweep: Sweep,
    /// The line of its `name` key, when known.
    pub line: Option<usize>,
    /// Its own `resources` (each key given overrides the spec's top-level one).
    pub resources: Resources,
}

/// One `[[agent]]` table.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentEntry {
    /// The registered agent kind.
    pub name: String,
    /// Its parameter sweep.
    pub sweep: Sweep,
    /// The line of its `name` key, when known.
    pub line: Option<usize>,
}

/// One `[[mdp]]` table.
#[derive(Clone, Debug, PartialEq)]
pub struct MdpEntry {
    /// The registered MDP family.
    pub family: String,
    /// Episodic or continuous.
    pub episodic: bool,
    /// Its parameter sweep.
    pub sweep: Sweep,
    /// The line of its `family` key, when known.
    pub line: Option<usize>,
}

/// A spec that cannot be used: the file, the key (dotted path), the line, and what is wrong.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub struct SpecError {
    /// The spec file.
    pub file: PathBuf,
    /// The dotted key, e.g. `agent[1].grid.p` (empty for the whole file).
    pub key: String,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong, and what to do when that is not obvious.
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": `{}`", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The format of a spec file, from its extension.
fn is_yaml(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

/// The largest spec or agents file ludus reads (64 MiB); a larger file is refused unread.
pub const MAX_SPEC_BYTES: u64 = 64 << 20;

/// Reads a spec or agents file's text: only a regular file (a FIFO or a device is refused at
/// once instead of blocking), at most [`MAX_SPEC_BYTES`].
pub fn read_text(path: &Path) -> Result<String, SpecError> {
    crate::regular::read_to_string(path, MAX_SPEC_BYTES).map_err(|e| SpecError {
        file: path.to_path_buf(),
        key: String::new(),
        line: None,
        message: format!("cannot read the spec: {e}"),
    })
}

fn read(path: &Path) -> Result<(String, node::Node), SpecError> {
    let text = read_text(path)?;
    let tree = if is_yaml(path) {
        node::parse_yaml(&text)
    } else {
        toml_tree::parse_toml(&text)
    };
    let tree = tree.map_err(|(line, message)| SpecError {
        file: path.to_path_buf(),
        key: String::new(),
        line,
        message: format!("not a valid spec file: {message}"),
    })?;
    Ok((text, tree))
}

impl Spec {
    /// Reads and validates a spec file.
    pub fn load(path: &Path) -> Result<Spec, SpecError> {
        let (_, tree) = read(path)?;
        validate::spec(path, tree)
    }

    /// Parses spec text as if read from `path` (its extension picks the format).
    pub fn parse(path: &Path, text: &str) -> Result<Spec, SpecError> {
        let tree = if is_yaml(path) {
            node::parse_yaml(text)
        } else {
            toml_tree::parse_toml(text)
        };
        let tree = tree.map_err(|(line, msg)| SpecError {
            file: path.to_path_buf(),
            key: String::new(),
            line,
            message: format!("not a valid spec file: {msg}"),
        })?;
        validate::spec(path, tree)
    }

    /// The number of agent configurations x MDP configurations x seeds, plus experiment
    /// configurations x seeds, before compatibility filtering and de-duplication, counted
    /// with checked arithmetic (`u128::MAX` if even that overflows).
    pub fn upper_bound(&self) -> u128 {
        sweep::upper_bound(
            &self.agents,
            &self.mdps,
            &self.experiments,
            self.seeds.len(),
        )
    }
}

/// Reads an agents file (only `[[agent]]` tables, as `select-best --out` writes) to replace a
/// spec's agents.
pub fn load_agents(path: &Path) -> Result<Vec<AgentEntry>, SpecError> {
    let (_, tree) = read(path)?;
    validate::agents_file(path, tree)
}

#[cfg(test)]
mod tests;
