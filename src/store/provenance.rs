//! Provenance: which code produced a plan or a run (recorded in the manifest and in statuses).

use serde::{Deserialize, Serialize};

/// The state of the code in one folder, as git saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeState {
    /// The folder asked about (absolute when it could be resolved).
    pub path: String,
    /// The repository's top folder, when the folder is inside a git repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// The commit checked out (`HEAD`), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Whether the work tree differs from the commit (tracked changes or untracked files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dirty: Option<bool>,
    /// BLAKE3 (16 hex digits) of `git diff HEAD` and the untracked files' names, when dirty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff_hash: Option<String>,
    /// Why there is no commit: `git not found`, `not a git repository`, `no commit yet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl CodeState {
    /// A one-line description: `abc123def456 (dirty, diff 0123...)`, or the note.
    pub fn describe(&self) -> String {
        match (&self.commit, self.dirty) {
            (Some(c), Some(true)) => format!(
                "{} (dirty, diff {})",
                short(c),
                self.diff_hash.as_deref().unwrap_or("?")
            ),
            (Some(c), _) => format!("{} (clean)", short(c)),
            (None, _) => self.note.clone().unwrap_or_else(|| "unknown".into()),
        }
    }

    /// True when `other` is different code: another commit, or another diff.
    pub fn differs_from(&self, other: &CodeState) -> bool {
        self.commit != other.commit
            || self.dirty != other.dirty
            || self.diff_hash != other.diff_hash
    }
}

/// The first 12 digits of a commit.
pub fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

/// What the manifest records about the code a plan came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The ludus version that planned it.
    pub ludus_version: String,
    /// The host it was planned on.
    pub host: String,
    /// The repository holding the spec file.
    pub spec: CodeState,
    /// Each `[[experiment]]` working folder (distinct folders, in plan order).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workdirs: Vec<CodeState>,
}
