//! The experiment folder: the only module that knows its layout.
//!
//! ```text
//! DIR/ludus.toml            the spec as planned (ludus.yaml for YAML specs)
//! DIR/manifest.json         ids in plan order, groups, spec hash, ludus version
//! DIR/instances/<id>.bin    one instance (see `codec`)
//! DIR/logs/<id>.csv         its log, one row per log point (complete when visible)
//! DIR/logs/<id>.json        its final status: done | timeout | error | interrupted
//! DIR/logs/.claim-<id>     the claim of an instance being run (owner, lease, what it started)
//! DIR/runs/<id>/            a program's own folder (LUDUS_RUN_DIR, its metrics)
//! DIR/attic/<batch>/        results moved aside by `reset` or `plan --prune`; never read
//! DIR/.ludus/               submissions to SLURM (see `submissions`)
//! ```
//! Every file is written to a hidden temporary name in the same folder and renamed into place,
//! so a reader (or a re-run after a kill) never sees half a file under a real name.
//!
//! The API, by question (callers never join a path of the layout themselves; a test scans
//! `src/` to keep it so):
//! - which instances: [`Selection::resolve`] turns PATH arguments (a planned folder, its
//!   `instances/`, a loose folder of `.bin` files, single `.bin` files) into [`Experiment`]s
//!   and ids in plan order; [`Experiment::read_manifest`] gives the current plan;
//! - in which state: [`Selection::pending`] (what a run would run, one listing of results per
//!   folder), [`Selection::states`] (pending, running, finished with its [`StatusKind`]),
//!   [`Experiment::running_ids`] (from the claims);
//! - running one: [`Experiment::claim`] hands out a [`Claim`] (exclusive across processes and
//!   hosts: a claim file made by exclusive create, with host, pid, start time and a renewed
//!   lease; see [`claim`]), [`Claim::record`] notes what the instance started, and
//!   [`Claim::commit`] writes the log then the status (the commit point) and removes the
//!   claim;
//! - analysis: [`runs::list`] lists the finished runs of a folder (or of a folder of
//!   downloaded logs) and [`runs::read_outcome`] reads one;
//! - planning and cleaning: [`planned::write_plan`], [`Experiment::move_to_attic`] with an
//!   [`AtticBatch`].
//!
//! A packed layout (many instances per file, results appended to per-process segment files,
//! for clusters with file-count quotas) would replace the bodies of these methods: ids still
//! come from the manifest, `read_instance` would seek into a pack, `Claim::commit` would append
//! to this process's segment and `runs::list`/`result_ids` would read the segments' indexes.
//! Per-instance paths are handed out only where a program needs a real file of its own
//! (`run_dir`, `metrics_path`, `stdout_path`, `stderr_path`), which a packed layout keeps.

pub mod claim;
pub mod codec;
mod experiment;
pub mod leftovers;
pub mod planned;
pub mod provenance;
pub mod runs;
pub mod select;
mod status;
pub mod submissions;

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

pub use codec::{CodecError, FORMAT_VERSION};
pub use experiment::{AtticBatch, Experiment, ExperimentDir, InstanceState};
pub use experiment::{Claim, LogWriter};
pub use leftovers::Started;
pub use provenance::{CodeState, Provenance};
pub use select::{Item, ItemState, SelectError, Selection};
pub use status::{Status, StatusKind};

use crate::plan::{Instance, InstanceId};

/// Errors of the store, each naming its file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file could not be read or written.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause (shown in the message, so not a `source` too).
        cause: io::Error,
    },
    /// The folder holds the experiment of another spec.
    #[error(
        "{path}: holds the experiment `{found}`, not `{planned}`; plan into another folder (--out), or pass --other-spec to add this spec's instances to it"
    )]
    OtherSpec {
        /// The experiment folder.
        path: PathBuf,
        /// The spec name in its manifest.
        found: String,
        /// The spec name being planned.
        planned: String,
    },
    /// An instance file holds another instance than its name says.
    #[error(
        "{path}: holds instance {found}, not {expected} as its name says (a copied or renamed file); planning the spec again rewrites it"
    )]
    WrongInstance {
        /// The file.
        path: PathBuf,
        /// The id in its name.
        expected: InstanceId,
        /// The id of its content.
        found: InstanceId,
    },
    /// An instance file is not usable.
    #[error("{path}: {problem}")]
    Instance {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: CodecError,
    },
    /// A JSON file (manifest, status) is not usable.
    #[error("{path}: not a valid ludus file: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
}

impl StoreError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: io::Error) -> StoreError {
        StoreError::Io {
            path: path.to_path_buf(),
            cause: source,
        }
    }
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// This process's id, asked of the kernel once (it is in every temporary name).
fn pid() -> u32 {
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *PID.get_or_init(std::process::id)
}

/// Writes `bytes` to `path` atomically: a hidden temporary file in the same folder, then a
/// rename. Readers see the old file or the whole new one, never a part.
///
/// No fsync: the rename makes the write atomic against a killed process (the failure mode of
/// cluster jobs); a power cut may still lose the last results, which are then simply re-run.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    atomic_write_with(path, |tmp| {
        let mut f = fs::File::create(tmp)?;
        f.write_all(bytes)
    })
}

/// Like [`atomic_write`], for writers that need a path: `write` creates the temporary file,
/// whose name ends with the final name (so encoders that choose a format by the extension work).
pub fn atomic_write_with(
    path: &Path,
    write: impl FnOnce(&Path) -> io::Result<()>,
) -> Result<(), StoreError> {
    let tmp = temp_path(path);
    let result = write(&tmp).and_then(|()| fs::rename(&tmp, path));
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        StoreError::io(path, e)
    })
}

/// A hidden temporary name beside `path`, unique to this process and call, ending with the
/// final file name.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".~{}-{n}.{name}", pid()))
}

/// True for names of temporary or hidden files, which are never results.
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.')
}

/// Reads and decodes one instance file.
pub fn read_instance_file(path: &Path) -> Result<Instance, StoreError> {
    let bytes =
        crate::regular::read(path, codec::MAX_FILE_BYTES).map_err(|e| StoreError::io(path, e))?;
    codec::decode(&bytes).map_err(|problem| StoreError::Instance {
        path: path.to_path_buf(),
        problem,
    })
}

/// The manifest of a planned folder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The ludus version that planned it.
    pub ludus_version: String,
    /// The instance format version.
    pub format: u32,
    /// The spec's name.
    pub spec_name: String,
    /// The spec copy's file name inside the folder.
    pub spec_file: String,
    /// BLAKE3 of the spec text (first 16 hex digits).
    pub spec_hash: String,
    /// When it was (re)planned, RFC 3339.
    pub planned_at: String,
    /// The number of groups planned with `--groups`, if any.
    pub groups: Option<u32>,
    /// Instance ids in plan order.
    pub instances: Vec<InstanceId>,
    /// Which code the plan came from (git state of the spec's and the programs' folders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
}

/// This machine's host name (for status files).
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into the buffer we own.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The current time, RFC 3339 in UTC to the second.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.json");
        atomic_write(&p, b"one").unwrap();
        atomic_write(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn atomic_write_into_missing_dir_names_the_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("nope").join("a.json");
        let e = atomic_write(&p, b"x").unwrap_err();
        assert!(e.to_string().contains("nope/a.json"), "{e}");
    }
}
