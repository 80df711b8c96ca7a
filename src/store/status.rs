//! The final status of an instance, `logs/<id>.json`.

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::plan::{Instance, InstanceId};

/// How an instance ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusKind {
    /// Ran every step.
    Done,
    /// Ran every step; the time limit froze learning at `learning_stopped_at`.
    Timeout,
    /// Failed (panic, bad parameters, hard time cap); re-run only with `--retry-errors`.
    Error,
    /// Stopped by SIGINT/SIGTERM before the end: not finished, re-run next time.
    Interrupted,
}

impl StatusKind {
    /// The name used in files and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusKind::Done => "done",
            StatusKind::Timeout => "timeout",
            StatusKind::Error => "error",
            StatusKind::Interrupted => "interrupted",
        }
    }

    /// Parses a name as written by `as_str`.
    pub fn parse(s: &str) -> Option<StatusKind> {
        Some(match s {
            "done" => StatusKind::Done,
            "timeout" => StatusKind::Timeout,
            "error" => StatusKind::Error,
            "interrupted" => StatusKind::Interrupted,
            _ => return None,
        })
    }

    /// True when a run with this status counts as a valid result.
    pub fn is_success(self) -> bool {
        matches!(self, StatusKind::Done | StatusKind::Timeout)
    }
}

/// The content of `logs/<id>.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The instance id.
    pub id: InstanceId,
    /// How it ended.
    pub status: StatusKind,
    /// Interaction steps completed.
    pub steps_completed: u64,
    /// Wall time of the run.
    pub wall_seconds: f64,
    /// Why it failed or was cut short, if it was.
    pub message: Option<String>,
    /// The step at which the time limit froze learning.
    pub learning_stopped_at: Option<u64>,
    /// The step at which the early-stop rule froze learning.
    pub early_stopped_at: Option<u64>,
    /// The ludus version that ran it.
    pub ludus_version: String,
    /// The host that ran it.
    pub host: String,
    /// The MPI rank that ran it (0 without MPI).
    pub rank: u32,
    /// When it ended, RFC 3339.
    pub finished_at: String,
    /// The instance itself, so a logs folder alone is enough for analysis.
    pub instance: Instance,
    /// Exec instances: the program's exit code, when it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Exec instances: the signal that ended the program, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Exec instances: the program's peak resident memory in bytes (its rusage, children
    /// included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_memory_bytes: Option<u64>,
    /// Exec instances: the last lines of the program's stderr.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr_tail: Option<String>,
    /// Exec instances: the git state of the folder the program ran in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<super::CodeState>,
    /// Exec instances: the command's first word resolved (on PATH or in the working folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program_path: Option<String>,
}

impl Status {
    /// The JSON bytes written to disk.
    pub fn to_json(&self) -> Vec<u8> {
        let mut b = serde_json::to_vec_pretty(self).expect("a status always serializes");
        b.push(b'\n');
        b
    }
}

pub(super) fn read(path: &Path) -> Result<Option<Status>, StoreError> {
    // Only a regular file: a FIFO named like a status must not hang `status`.
    match crate::regular::read(path, 64 << 20) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| StoreError::Json {
                path: path.to_path_buf(),
                message: e.to_string(),
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::Io {
            path: path.to_path_buf(),
            cause: e,
        }),
    }
}
