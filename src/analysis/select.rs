//! Ranking configurations: for every agent kind, its configurations ordered by a measure
//! averaged over MDPs and seeds (Colosseum's rule: lowest average normalized cumulative regret
//! at the final step), with incomplete data counted and flagged, never averaged silently.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::collect::{AgentKind, Collection, Problem};
use super::logs::At;
use super::stats::{Accumulator, Stat, rounded};
use super::{AnalysisError, atomic_write};
use crate::store::StatusKind;
use crate::value::{Params, Value};

/// What to do with a configuration that has fewer valid runs than expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Incomplete {
    /// Rank it after every complete configuration; it never wins.
    Exclude,
    /// Rank it with the others by its mean over the runs it has; it is still flagged.
    Include,
}

/// How to rank.
#[derive(Clone, Debug)]
pub struct SelectOptions {
    /// The log column to rank by.
    pub measure: String,
    /// The row the measure is read at.
    pub at: At,
    /// Whether higher values are better; `None` decides from the measure's name (a measure
    /// with `reward` and no `regret` in its name is maximized, everything else minimized).
    pub higher_is_better: Option<bool>,
    /// What to do with incomplete configurations.
    pub incomplete: Incomplete,
    /// Also use results of instances that their folder's current plan no longer holds.
    pub include_stale: bool,
}

impl Default for SelectOptions {
    fn default() -> Self {
        SelectOptions {
            measure: "normalized_cumulative_regret".into(),
            at: At::Final,
            higher_is_better: None,
            incomplete: Incomplete::Exclude,
            include_stale: false,
        }
    }
}

impl SelectOptions {
    /// Whether higher values of the measure are better.
    pub fn maximize(&self) -> bool {
        self.higher_is_better
            .unwrap_or(self.measure.contains("reward") && !self.measure.contains("regret"))
    }
}

/// One configuration's score and the state of its runs.
#[derive(Clone, Debug, Serialize)]
pub struct ConfigScore {
    /// 1 for the best.
    pub rank: usize,
    /// `config_id(name, params)`.
    pub config_id: String,
    /// The parameters.
    pub params: Params,
    /// The measure over its valid runs.
    pub stat: Stat,
    /// Runs that finished normally.
    pub done: usize,
    /// Runs whose learning the time limit froze (valid, counted in `stat`).
    pub timeouts: usize,
    /// Runs that failed, or whose log was unusable.
    pub errors: usize,
    /// Runs stopped before the end.
    pub interrupted: usize,
    /// (MDP, seed) pairs of its kind with no status file for this configuration.
    pub missing: usize,
    /// Valid runs below the expected count.
    pub incomplete: bool,
    /// Left out of the competition (`Incomplete::Exclude`, or no valid run at all).
    pub excluded: bool,
}

/// The ranking of one agent kind.
#[derive(Clone, Debug, Serialize)]
pub struct AgentRanking {
    /// The agent kind.
    pub agent: AgentKind,
    /// Distinct MDP configurations its runs cover.
    pub mdps: usize,
    /// Distinct seeds its runs cover.
    pub seeds: usize,
    /// Runs expected per configuration: `mdps x seeds`.
    pub expected_runs: usize,
    /// Its configurations, best first.
    pub configs: Vec<ConfigScore>,
    /// Index of the winner in `configs` (none when every configuration is excluded).
    pub winner: Option<usize>,
}

/// The result of `select-best`.
#[derive(Clone, Debug, Serialize)]
pub struct Selection {
    /// The paths read.
    pub paths: Vec<PathBuf>,
    /// The measure ranked by.
    pub measure: String,
    /// Where it was read (`final` or `step N`).
    pub at: String,
    /// Whether higher was better.
    pub maximize: bool,
    /// Every agent kind, by name.
    pub agents: Vec<AgentRanking>,
    /// Logs with no status file (unfinished runs).
    pub unfinished: Vec<PathBuf>,
    /// Status files that could not be read.
    pub unreadable: Vec<Problem>,
    /// Why valid runs were unusable or runs failed: the first few messages.
    pub run_problems: Vec<String>,
    /// Results left out because their folder's current plan no longer holds them.
    pub stale: usize,
}

/// How many run problems a selection keeps as examples.
const PROBLEM_EXAMPLES: usize = 20;

/// Ranks the configurations of `c`, whose first column must be the measure.
pub fn rank(c: &Collection, opts: &SelectOptions) -> Selection {
    let maximize = opts.maximize();
    let mut per_kind: BTreeMap<&AgentKind, (BTreeSet<Option<usize>>, BTreeSet<u64>)> =
        BTreeMap::new();
    for k in &c.kinds {
        per_kind.insert(k, Default::default());
    }
    struct Tally {
        acc: Accumulator,
        counts: [usize; 4],
        seen: HashSet<(Option<usize>, u64)>,
        valid: HashSet<(Option<usize>, u64)>,
    }
    let mut tallies: Vec<Tally> = (0..c.configs.len())
        .map(|_| Tally {
            acc: Accumulator::default(),
            counts: [0; 4],
            seen: HashSet::new(),
            valid: HashSet::new(),
        })
        .collect();
    let mut run_problems = Vec::new();
    for r in &c.runs {
        let kind = &c.kinds[c.configs[r.config].kind];
        if let Some((m, s)) = per_kind.get_mut(kind) {
            m.insert(r.mdp);
            s.insert(r.seed);
        }
        let t = &mut tallies[r.config];
        t.seen.insert((r.mdp, r.seed));
        let slot = match (r.state, r.usable()) {
            (StatusKind::Done, true) => 0,
            (StatusKind::Timeout, true) => 1,
            (StatusKind::Interrupted, _) => 3,
            _ => 2,
        };
        t.counts[slot] += 1;
        match &r.values {
            Some(v) if r.state.is_success() => {
                t.acc.push(v[0]);
                t.valid.insert((r.mdp, r.seed));
            }
            _ => {
                if let Some(p) = &r.problem
                    && run_problems.len() < PROBLEM_EXAMPLES
                {
                    run_problems.push(format!("{}: {p}", r.id));
                }
            }
        }
    }
    let mut agents = Vec::new();
    for (kind_ix, kind) in c.kinds.iter().enumerate() {
        let (mdps, seeds) = &per_kind[kind];
        let expected = mdps.len() * seeds.len();
        let mut configs: Vec<ConfigScore> = c
            .configs
            .iter()
            .enumerate()
            .filter(|(_, cfg)| cfg.kind == kind_ix)
            .map(|(i, cfg)| {
                let t = &tallies[i];
                let stat = t.acc.stat();
                let incomplete = t.valid.len() < expected;
                ConfigScore {
                    rank: 0,
                    config_id: cfg.id.clone(),
                    params: cfg.params.clone(),
                    stat,
                    done: t.counts[0],
                    timeouts: t.counts[1],
                    errors: t.counts[2],
                    interrupted: t.counts[3],
                    missing: expected.saturating_sub(t.seen.len()),
                    incomplete,
                    excluded: stat.mean.is_none_or(f64::is_nan)
                        || (incomplete && opts.incomplete == Incomplete::Exclude),
                }
            })
            .collect();
        configs.sort_by(|a, b| {
            let mean = |s: &ConfigScore| rounded(s.stat.mean.unwrap_or(f64::NAN));
            let by_mean = if maximize {
                mean(b).total_cmp(&mean(a))
            } else {
                mean(a).total_cmp(&mean(b))
            };
            a.excluded
                .cmp(&b.excluded)
                .then(a.stat.mean.is_none().cmp(&b.stat.mean.is_none()))
                .then(by_mean)
                .then(b.stat.n.cmp(&a.stat.n))
                .then_with(|| params_key(&a.params).cmp(&params_key(&b.params)))
                .then_with(|| a.config_id.cmp(&b.config_id))
        });
        for (i, s) in configs.iter_mut().enumerate() {
            s.rank = i + 1;
        }
        let winner = configs.first().filter(|s| !s.excluded).map(|_| 0);
        agents.push(AgentRanking {
            agent: kind.clone(),
            mdps: mdps.len(),
            seeds: seeds.len(),
            expected_runs: expected,
            configs,
            winner,
        });
    }
    agents.sort_by(|a, b| a.agent.cmp(&b.agent));
    Selection {
        paths: c.paths.clone(),
        measure: opts.measure.clone(),
        at: opts.at.to_string(),
        maximize,
        agents,
        unfinished: c.unfinished.clone(),
        unreadable: c.unreadable.clone(),
        run_problems,
        stale: c.stale,
    }
}

/// A total order on parameter sets for tie-breaking: their canonical JSON text.
fn params_key(p: &Params) -> String {
    serde_json::to_string(p).unwrap_or_default()
}

impl Selection {
    /// Whether every configuration has all its expected runs valid, every status file was
    /// readable, no log was left unfinished, and every agent kind has a winner.
    pub fn is_complete(&self) -> bool {
        self.unfinished.is_empty()
            && self.unreadable.is_empty()
            && self
                .agents
                .iter()
                .all(|a| a.winner.is_some() && a.configs.iter().all(|c| !c.incomplete))
    }

    /// The winners: agent name and parameters, by agent kind.
    pub fn winners(&self) -> Vec<(&AgentKind, &ConfigScore)> {
        self.agents
            .iter()
            .filter_map(|a| a.winner.map(|w| (&a.agent, &a.configs[w])))
            .collect()
    }

    /// The agents file: one `[[agent]]` table per winner, in the spec's agent syntax, after a
    /// comment saying where it came from.
    pub fn agents_file(&self, written_on: &str) -> String {
        let paths: Vec<String> = self.paths.iter().map(|p| p.display().to_string()).collect();
        let mut out = format!(
            "# written by ludus select-best from {} on {written_on}: measure {} at {}\n",
            paths.join(" "),
            self.measure,
            self.at
        );
        let mut doc = toml_edit::DocumentMut::new();
        let mut tables = toml_edit::ArrayOfTables::new();
        for (kind, score) in self.winners() {
            let mut t = toml_edit::Table::new();
            t["name"] = toml_edit::value(kind.name.as_str());
            if !score.params.is_empty() {
                t["params"] = toml_edit::Item::Value(toml_edit::Value::InlineTable(inline_table(
                    &score.params,
                )));
            }
            let mut comment = format!(
                "# {}: mean {} over {} runs",
                kind.label(),
                score
                    .stat
                    .mean
                    .map_or("n/a".to_string(), |m| format!("{m:.6}")),
                score.stat.n
            );
            if score.incomplete {
                comment.push_str(" (incomplete)");
            }
            t.decor_mut().set_prefix(format!("\n{comment}\n"));
            tables.push(t);
        }
        doc.insert("agent", toml_edit::Item::ArrayOfTables(tables));
        out.push_str(&doc.to_string());
        out
    }

    /// Writes [`Selection::agents_file`] atomically (temp file, then rename).
    pub fn write_agents_file(&self, path: &Path) -> Result<(), AnalysisError> {
        let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        atomic_write(path, self.agents_file(&now).as_bytes())
    }
}

fn toml_value(v: &Value) -> toml_edit::Value {
    match v {
        Value::Bool(b) => (*b).into(),
        Value::Int(i) => (*i).into(),
        Value::Float(f) => (*f).into(),
        Value::Str(s) => s.as_str().into(),
        Value::List(l) => toml_edit::Value::Array(l.iter().map(toml_value).collect()),
        Value::Table(t) => toml_edit::Value::InlineTable(inline_table(t)),
    }
}

fn inline_table(p: &Params) -> toml_edit::InlineTable {
    let mut t = toml_edit::InlineTable::new();
    for (k, v) in p {
        t.insert(k, toml_value(v));
    }
    t.fmt();
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::collect::{ConfigInfo, MdpInfo, RunRecord};

    fn collection(values: &[(i64, u64, StatusKind, Option<f64>)]) -> Collection {
        let mut c = Collection {
            kinds: vec![AgentKind {
                program: false,
                name: "psrl".into(),
                episodic: false,
            }],
            mdps: vec![MdpInfo {
                family: "river_swim".into(),
                episodic: false,
                params: Params::new(),
                label: "river_swim".into(),
                slug: "river_swim-c-0".into(),
            }],
            ..Default::default()
        };
        for (i, &(cfg, seed, state, v)) in values.iter().enumerate() {
            let cfg = cfg as usize;
            while c.configs.len() <= cfg {
                let mut params = Params::new();
                params.insert("k".into(), Value::Int(c.configs.len() as i64));
                c.configs.push(ConfigInfo {
                    kind: 0,
                    id: format!("id{}", c.configs.len()),
                    params,
                });
            }
            c.runs.push(RunRecord {
                id: format!("{i:016x}"),
                config: cfg,
                mdp: Some(0),
                seed,
                state,
                values: v.map(|v| vec![v]),
                csv: None,
                problem: None,
                ran: Default::default(),
            });
        }
        c
    }

    #[test]
    fn direction_follows_the_measure() {
        let mut o = SelectOptions::default();
        assert!(!o.maximize());
        o.measure = "normalized_cumulative_reward".into();
        assert!(o.maximize());
        o.higher_is_better = Some(false);
        assert!(!o.maximize());
    }

    #[test]
    fn timeouts_count_and_errors_flag() {
        use StatusKind::*;
        let c = collection(&[
            (0, 0, Done, Some(0.3)),
            (0, 1, Timeout, Some(0.1)),
            (1, 0, Done, Some(0.05)),
            (1, 1, Error, None),
        ]);
        let s = rank(&c, &SelectOptions::default());
        let a = &s.agents[0];
        assert_eq!(a.expected_runs, 2);
        let w = &a.configs[a.winner.unwrap()];
        assert_eq!(w.config_id, "id0");
        assert_eq!((w.done, w.timeouts, w.stat.n), (1, 1, 2));
        assert!((w.stat.mean.unwrap() - 0.2).abs() < 1e-12);
        let loser = &a.configs[1];
        assert!(loser.incomplete && loser.excluded);
        assert_eq!(loser.errors, 1);
        assert!(!s.is_complete());
    }

    #[test]
    fn agents_file_without_params_and_with_a_header() {
        use StatusKind::*;
        let mut c = collection(&[(0, 0, Done, Some(0.5))]);
        c.configs[0].params.clear();
        c.paths = vec!["runs/a".into()];
        let s = rank(&c, &SelectOptions::default());
        let text = s.agents_file("2026-01-01T00:00:00Z");
        assert_eq!(
            text,
            "# written by ludus select-best from runs/a on 2026-01-01T00:00:00Z: measure \
             normalized_cumulative_regret at final\n\n# psrl: mean 0.500000 over 1 runs\n\
             [[agent]]\nname = \"psrl\"\n"
        );
    }
}
