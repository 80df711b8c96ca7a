//! Analysis of finished runs: the runs of any number of experiment folders (local or
//! downloaded), listed and read through the store (`store::runs`), grouped by subject (an
//! agent kind or a program) and its configuration, setting (an MDP, or none for a program) and
//! seed, and each subject's configurations ranked (`select-best`). The report builds on the
//! same collection.
//!
//! Logs are read one file at a time, in bounded parallel chunks; only a few values per run are
//! kept. Incomplete data is never averaged silently: every ranking counts missing, failed,
//! interrupted and timed-out runs, and flags configurations with fewer runs than expected.

pub mod collect;
pub mod logs;
pub mod select;
pub mod stats;

use std::path::{Path, PathBuf};

pub use collect::{AgentKind, Collection, ConfigInfo, MdpInfo, Problem, Ran, RunRecord, collect};
pub use logs::At;
pub use select::{AgentRanking, ConfigScore, Incomplete, SelectOptions, Selection, rank};
pub use stats::{Accumulator, Stat, rounded};

/// Why an analysis could not be done.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A file's content is not what it should be.
    #[error("{}: {reason}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// Nothing to analyse.
    #[error(
        "no run status files (<id>.json) found under {paths}; give experiment folders or their logs/ folders"
    )]
    NoRuns {
        /// The paths given, joined.
        paths: String,
    },
}

/// Ranks every agent kind's configurations over the runs of `paths` (experiment folders or
/// logs folders). Errors only when a path cannot be read or holds no runs at all; incomplete
/// data is reported in the [`Selection`].
pub fn select_best(paths: &[PathBuf], opts: &SelectOptions) -> Result<Selection, AnalysisError> {
    let c = collect(paths, &[opts.measure.as_str()], opts.at, opts.include_stale)?;
    if c.runs.is_empty() && c.unfinished.is_empty() && c.unreadable.is_empty() && c.stale == 0 {
        return Err(AnalysisError::NoRuns {
            paths: paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(rank(&c, opts))
}

/// Writes a file atomically (the store's temp file + rename).
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), AnalysisError> {
    crate::store::atomic_write(path, bytes).map_err(|e| store_error(path, e))
}

/// Like [`atomic_write`], for writers that need a path to write the temporary file.
pub fn atomic_write_with(
    path: &Path,
    write: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Result<(), AnalysisError> {
    crate::store::atomic_write_with(path, write).map_err(|e| store_error(path, e))
}

fn store_error(path: &Path, e: crate::store::StoreError) -> AnalysisError {
    let source = match e {
        crate::store::StoreError::Io { cause, .. } => cause,
        crate::store::StoreError::Json { path, message } => {
            return AnalysisError::Format {
                path,
                reason: format!("not a run status file: {message}"),
            };
        }
        other => std::io::Error::other(other.to_string()),
    };
    AnalysisError::Io {
        path: path.to_path_buf(),
        source,
    }
}
