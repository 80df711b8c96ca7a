//! JSON: `report.json`, the whole [`Report`](super::Report) (tables and curves) as plain data
//! for scripts.

use super::{Exporter, OutDir, Report, ReportError};
use crate::analysis::AnalysisError;

/// Writes `report.json`.
pub struct Json;

impl Exporter for Json {
    fn name(&self) -> &'static str {
        "json"
    }

    fn export(&self, report: &Report, out: &mut OutDir) -> Result<(), ReportError> {
        let bytes = serde_json::to_vec(report).map_err(|e| AnalysisError::Format {
            path: "report.json".into(),
            reason: e.to_string(),
        })?;
        out.write("report.json", &bytes)
    }
}
