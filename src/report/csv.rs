//! CSV: `results.csv`, one row per (MDP, agent) with every figure of the tables, for
//! spreadsheets and scripts.

use super::{Exporter, OutDir, Report, ReportError};
use crate::analysis::{AnalysisError, Stat};
use crate::value::Value;

/// Writes `results.csv`.
pub struct Csv;

const HEADER: [&str; 19] = [
    "mdp",
    "agent",
    "config_id",
    "params",
    "expected_runs",
    "runs",
    "timeouts",
    "failed",
    "missing",
    "cumulative_regret_mean",
    "cumulative_regret_std",
    "cumulative_regret_ci95",
    "normalized_cumulative_regret_mean",
    "normalized_cumulative_regret_std",
    "normalized_cumulative_regret_ci95",
    "best_cumulative_regret",
    "best_normalized_cumulative_regret",
    "episodic",
    "mdp_slug",
];

fn opt(x: Option<f64>) -> String {
    x.map_or(String::new(), |v| v.to_string())
}

fn stat_fields(s: &Stat) -> [String; 3] {
    [opt(s.mean), opt(s.std), opt(s.ci95)]
}

/// The content of `results.csv`.
pub fn results_csv(report: &Report) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(HEADER)?;
    for (m, mdp) in report.mdps.iter().enumerate() {
        for (a, agent) in report.agents.iter().enumerate() {
            let c = &report.cells[m][a];
            if c.expected == 0 && c.runs == 0 {
                continue;
            }
            let mut rec = vec![
                mdp.label.clone(),
                agent.label.clone(),
                agent.config_id.clone(),
                Value::Table(agent.params.clone()).to_string(),
                c.expected.to_string(),
                c.runs.to_string(),
                c.timeouts.to_string(),
                c.failed.to_string(),
                c.missing.to_string(),
            ];
            rec.extend(stat_fields(&c.regret));
            rec.extend(stat_fields(&c.normalized));
            rec.push(c.best_regret.to_string());
            rec.push(c.best_normalized.to_string());
            rec.push(mdp.episodic.to_string());
            rec.push(mdp.slug.clone());
            w.write_record(&rec)?;
        }
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

impl Exporter for Csv {
    fn name(&self) -> &'static str {
        "csv"
    }

    fn export(&self, report: &Report, out: &mut OutDir) -> Result<(), ReportError> {
        let bytes = results_csv(report).map_err(|e| AnalysisError::Format {
            path: "results.csv".into(),
            reason: e.to_string(),
        })?;
        out.write("results.csv", &bytes)
    }
}
