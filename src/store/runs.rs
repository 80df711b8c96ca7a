//! Finished runs, for analysis: the results of an experiment folder, or of a folder of
//! downloaded logs, listed once and read one at a time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{StatusKind, StoreError};
use crate::plan::{Instance, InstanceId};

/// The result files of one run.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RunFiles {
    /// The instance id.
    pub id: InstanceId,
    /// Its final status, written when the run ended (the commit point).
    pub status: Option<PathBuf>,
    /// Its performance log.
    pub csv: Option<PathBuf>,
    /// The folder's current plan (its manifest) does not hold this instance: a result of an
    /// earlier plan. False when there is no manifest (a folder of downloaded logs).
    pub stale: bool,
}

/// The part of a final status that analysis needs; other fields are ignored, so results of
/// older versions still read.
#[derive(Clone, Debug, Deserialize)]
pub struct RunOutcome {
    /// How the run ended.
    pub status: StatusKind,
    /// The error message, if any.
    #[serde(default)]
    pub message: Option<String>,
    /// What ran.
    pub instance: Instance,
    /// The ludus version that ran it (empty in results that do not say).
    #[serde(default)]
    pub ludus_version: String,
    /// The host that ran it.
    #[serde(default)]
    pub host: String,
    /// When it ended, RFC 3339.
    #[serde(default)]
    pub finished_at: String,
}

/// Where the results of `path` are: an experiment folder's results, or the path itself (a
/// folder of downloaded logs).
fn results_dir(path: &Path) -> PathBuf {
    let logs = path.join("logs");
    if logs.is_dir() {
        logs
    } else {
        path.to_path_buf()
    }
}

/// Lists the runs of `path` (an experiment folder or a folder of logs), sorted by id.
/// Temporary files (`*.tmp*`, dot files), folders and other names are skipped.
pub fn list(path: &Path) -> Result<Vec<RunFiles>, StoreError> {
    let plan: Option<std::collections::HashSet<InstanceId>> = super::Experiment::new(path)
        .read_manifest()?
        .map(|m| m.instances.into_iter().collect());
    let dir = results_dir(path);
    let read_dir = std::fs::read_dir(&dir).map_err(|e| StoreError::io(&dir, e))?;
    let mut by_id: BTreeMap<InstanceId, RunFiles> = BTreeMap::new();
    for entry in read_dir {
        let entry = entry.map_err(|e| StoreError::io(&dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') || name.contains(".tmp") {
            continue;
        }
        let Some((stem, ext)) = name.rsplit_once('.') else {
            continue;
        };
        let Some(id) = InstanceId::parse(stem) else {
            continue;
        };
        if ext != "json" && ext != "csv" {
            continue;
        }
        if !entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            continue;
        }
        let files = by_id.entry(id).or_insert_with(|| RunFiles {
            id,
            status: None,
            csv: None,
            stale: plan.as_ref().is_some_and(|p| !p.contains(&id)),
        });
        if ext == "json" {
            files.status = Some(entry.path());
        } else {
            files.csv = Some(entry.path());
        }
    }
    Ok(by_id.into_values().collect())
}

/// Reads a final status for analysis.
pub fn read_outcome(path: &Path) -> Result<RunOutcome, StoreError> {
    // Only a regular file: a FIFO named like a status must not hang analysis.
    let bytes = crate::regular::read(path, 64 << 20).map_err(|e| StoreError::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| StoreError::Json {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn listing_skips_temp_files_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir_all(logs.join("attic")).unwrap();
        write(&logs, "0123456789abcdef.json", "{}");
        write(&logs, "0123456789abcdef.csv", "");
        write(&logs, "fedcba9876543210.csv", "");
        write(&logs, "fedcba9876543210.json.tmp123", "");
        write(&logs, ".0000000000000000.json", "");
        write(&logs, "notes.txt", "");
        let files = list(dir.path()).unwrap();
        assert_eq!(files.len(), 2);
        assert!(files[0].status.is_some() && files[0].csv.is_some());
        assert!(files[1].status.is_none() && files[1].csv.is_some());
        assert_eq!(list(&logs).unwrap(), files);
    }
}
