//! Building the report's one result type from logs: the selected configuration of each agent,
//! its final regret on each MDP across seeds, and its regret curves.
//!
//! The final values come from the collection (a few numbers per run); the curves come from a
//! second pass that streams the selected runs' logs in bounded parallel chunks into running sums
//! per (MDP, agent, step), so memory does not grow with the number of logs.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use rayon::prelude::*;

use super::{Band, Cell, Report, ReportAgent, ReportError, ReportMdp, ReportOptions};
use crate::analysis::logs::read_columns;
use crate::analysis::{Accumulator, AnalysisError, collect, rank, rounded};
use crate::value::{Params, Value};

const REGRET: &str = "cumulative_regret";
const NORMALIZED: &str = "normalized_cumulative_regret";
const RANDOM: &str = "random_cumulative_regret";
const CHUNK: usize = 2048;

/// Running sums of a curve, by step.
#[derive(Default)]
struct CurveAcc(BTreeMap<u64, Accumulator>);

impl CurveAcc {
    fn add(&mut self, step: u64, v: f64) {
        self.0.entry(step).or_default().push(v);
    }

    fn band(&self) -> Option<Band> {
        if self.0.is_empty() {
            return None;
        }
        let mut b = Band::default();
        for (&step, acc) in &self.0 {
            let s = acc.stat();
            let Some(mean) = s.mean else { continue };
            let ci = s.ci95.unwrap_or(0.0);
            b.steps.push(step);
            b.mean.push(mean);
            b.lo.push(mean - ci);
            b.hi.push(mean + ci);
            b.n.push(s.n);
        }
        Some(b)
    }
}

/// Reads the logs of `paths` and builds the report.
pub fn build_report(paths: &[PathBuf], opts: &ReportOptions) -> Result<Report, ReportError> {
    let measure = opts.select.measure.as_str();
    let mut columns = vec![measure];
    for c in [REGRET, NORMALIZED] {
        if !columns.contains(&c) {
            columns.push(c);
        }
    }
    let col = |name: &str| columns.iter().position(|c| *c == name).unwrap_or(0);
    let (regret_ix, norm_ix) = (col(REGRET), col(NORMALIZED));
    let c = collect(paths, &columns, opts.select.at, opts.select.include_stale)?;
    if c.runs.is_empty() {
        return Err(ReportError::Analysis(AnalysisError::NoRuns {
            paths: paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }));
    }
    let selection = rank(&c, &opts.select);
    let programs = if c.kinds.iter().any(|k| k.program) {
        super::programs::Programs::read(paths, &opts.select, opts.x.as_deref(), opts.plots)?
    } else {
        None
    };

    // The selected configuration of each agent kind: its winner, or its best-ranked one when
    // every configuration is incomplete (the report says so).
    let mut agents = Vec::new();
    let mut config_to_agent: HashMap<usize, usize> = HashMap::new();
    // Programs run in no MDP: they have their own section (`programs`), not a column here.
    for ranking in selection.agents.iter().filter(|r| !r.agent.program) {
        let Some(chosen) = ranking.configs.first() else {
            continue;
        };
        let Some(cfg_ix) = c
            .configs
            .iter()
            .position(|cfg| cfg.id == chosen.config_id && c.kinds[cfg.kind] == ranking.agent)
        else {
            continue;
        };
        config_to_agent.insert(cfg_ix, agents.len());
        agents.push(ReportAgent {
            label: ranking.agent.label(),
            name: ranking.agent.name.clone(),
            episodic: ranking.agent.episodic,
            config_id: chosen.config_id.clone(),
            params: chosen.params.clone(),
            configs_compared: ranking.configs.len(),
            selection_mean: chosen.stat.mean,
            winner: ranking.winner.is_some(),
            complete: !chosen.incomplete,
        });
    }

    // MDPs in a stable order: setting, family, parameters (numbers by value).
    let mut mdp_order: Vec<usize> = (0..c.mdps.len()).collect();
    mdp_order.sort_by(|&a, &b| {
        let (x, y) = (&c.mdps[a], &c.mdps[b]);
        (x.episodic, &x.family)
            .cmp(&(y.episodic, &y.family))
            .then_with(|| cmp_params(&x.params, &y.params))
            .then_with(|| x.label.cmp(&y.label))
    });
    let mut mdp_pos = vec![0; c.mdps.len()];
    for (pos, &m) in mdp_order.iter().enumerate() {
        mdp_pos[m] = pos;
    }
    let mdps: Vec<ReportMdp> = mdp_order
        .iter()
        .map(|&m| ReportMdp {
            label: c.mdps[m].label.clone(),
            slug: c.mdps[m].slug.clone(),
            episodic: c.mdps[m].episodic,
        })
        .collect();

    // Seeds each agent kind ran, and the MDPs it ran on: the expected runs of a cell.
    let mut kind_seeds: HashMap<usize, HashSet<u64>> = HashMap::new();
    let mut kind_mdps: HashSet<(usize, usize)> = HashSet::new();
    for r in &c.runs {
        let kind = c.configs[r.config].kind;
        let Some(mdp) = r.mdp else { continue };
        kind_seeds.entry(kind).or_default().insert(r.seed);
        kind_mdps.insert((kind, mdp));
    }

    let na = agents.len();
    let mut regret = vec![vec![Accumulator::default(); na]; mdps.len()];
    let mut norm = vec![vec![Accumulator::default(); na]; mdps.len()];
    let mut cells = vec![vec![Cell::default(); na]; mdps.len()];
    let mut seen: Vec<Vec<HashSet<u64>>> = vec![vec![HashSet::new(); na]; mdps.len()];
    let mut summary = vec![Accumulator::default(); na];
    for (&cfg, &a) in &config_to_agent {
        let kind = c.configs[cfg].kind;
        for (m, pos) in mdp_pos.iter().enumerate() {
            if kind_mdps.contains(&(kind, m)) {
                cells[*pos][a].expected = kind_seeds.get(&kind).map_or(0, HashSet::len);
            }
        }
    }
    let mut curve_runs = Vec::new();
    for r in &c.runs {
        let (Some(&a), Some(mdp)) = (config_to_agent.get(&r.config), r.mdp) else {
            continue;
        };
        let m = mdp_pos[mdp];
        let cell = &mut cells[m][a];
        seen[m][a].insert(r.seed);
        match &r.values {
            Some(v) if r.state.is_success() => {
                cell.runs += 1;
                if r.state == crate::store::StatusKind::Timeout {
                    cell.timeouts += 1;
                }
                regret[m][a].push(v[regret_ix]);
                norm[m][a].push(v[norm_ix]);
                summary[a].push(v[norm_ix]);
                if let Some(csv) = &r.csv {
                    curve_runs.push((m, a, csv.clone()));
                }
            }
            _ => cell.failed += 1,
        }
    }
    for (m, row) in cells.iter_mut().enumerate() {
        for (a, cell) in row.iter_mut().enumerate() {
            cell.missing = cell.expected.saturating_sub(seen[m][a].len());
            cell.regret = regret[m][a].stat();
            cell.normalized = norm[m][a].stat();
        }
        mark_best(row, |c| c.regret.mean, |c, b| c.best_regret = b);
        mark_best(row, |c| c.normalized.mean, |c, b| c.best_normalized = b);
    }

    // Curves: stream the selected runs' logs.
    let mut curves: Vec<Vec<CurveAcc>> = (0..mdps.len())
        .map(|_| (0..na).map(|_| CurveAcc::default()).collect())
        .collect();
    let mut random: Vec<CurveAcc> = (0..mdps.len()).map(|_| CurveAcc::default()).collect();
    let mut curve_problems = 0;
    if opts.curves {
        for chunk in curve_runs.chunks(CHUNK) {
            let rows: Vec<_> = chunk
                .par_iter()
                .map(|(m, a, csv)| (*m, *a, read_columns(csv, &["steps", REGRET, RANDOM])))
                .collect();
            for (m, a, rows) in rows {
                let Ok(rows) = rows else {
                    curve_problems += 1;
                    continue;
                };
                for row in rows {
                    let step = row[0].max(0.0) as u64;
                    curves[m][a].add(step, row[1]);
                    random[m].add(step, row[2]);
                }
            }
        }
    }

    Ok(Report {
        title: opts.title.clone().unwrap_or_else(|| "ludus report".into()),
        paths: paths.to_vec(),
        measure: opts.select.measure.clone(),
        at: opts.select.at.to_string(),
        agents,
        mdps,
        cells,
        curves: curves
            .iter()
            .map(|row| row.iter().map(CurveAcc::band).collect())
            .collect(),
        random: random.iter().map(CurveAcc::band).collect(),
        summary: summary.iter().map(Accumulator::stat).collect(),
        unfinished: c.unfinished.len(),
        unreadable: c.unreadable.len(),
        curve_problems,
        stale: c.stale,
        provenance: super::Provenance::of(&c, paths),
        programs,
    })
}

/// Orders parameter sets key by key, numbers by value (so size 5 comes before size 10).
fn cmp_params(a: &Params, b: &Params) -> Ordering {
    for ((ka, va), (kb, vb)) in a.iter().zip(b) {
        let o = ka.cmp(kb).then_with(|| cmp_values(va, vb));
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

fn cmp_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Table(x), Value::Table(y)) => cmp_params(x, y),
        (Value::List(x), Value::List(y)) => x
            .iter()
            .zip(y)
            .map(|(p, q)| cmp_values(p, q))
            .find(|o| *o != Ordering::Equal)
            .unwrap_or(x.len().cmp(&y.len())),
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            _ => a.to_string().cmp(&b.to_string()),
        },
    }
}

/// Marks the cells with the lowest mean (all of them on a tie, to 12 significant digits).
fn mark_best(row: &mut [Cell], mean: impl Fn(&Cell) -> Option<f64>, set: impl Fn(&mut Cell, bool)) {
    let rmean = |c: &Cell| mean(c).map(rounded).filter(|m| !m.is_nan());
    let best = row.iter().filter_map(rmean).min_by(f64::total_cmp);
    for cell in row.iter_mut() {
        let is_best = best.is_some() && rmean(cell) == best;
        set(cell, is_best);
    }
}
