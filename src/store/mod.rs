//! The on-disk layout of an experiment folder, and the only module that knows its paths.
//!
//! ```text
//! DIR/ludus.toml            the spec as planned (ludus.yaml for YAML specs)
//! DIR/manifest.json         ids in plan order, groups, spec hash, ludus version
//! DIR/instances/<id>.bin    one instance (see `codec`)
//! DIR/logs/<id>.csv         its log, one row per log point (complete when visible)
//! DIR/logs/<id>.json        its final status: done | timeout | error | interrupted
//! DIR/attic/                logs moved aside by `reset` or `plan --prune`; never read
//! DIR/.ludus/               submissions to SLURM (see `submissions`)
//! ```
//! Every file is written to a hidden temporary name in the same folder and renamed into place,
//! so a reader (or a re-run after a kill) never sees half a file under a real name.

pub mod codec;
pub mod planned;
mod status;
pub mod submissions;

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

pub use codec::{CodecError, FORMAT_VERSION};
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
}

/// An experiment folder.
#[derive(Clone, Debug)]
pub struct ExperimentDir {
    root: PathBuf,
}

impl ExperimentDir {
    /// The folder at `root` (which need not exist yet).
    pub fn new(root: impl Into<PathBuf>) -> ExperimentDir {
        ExperimentDir { root: root.into() }
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `instances/`.
    pub fn instances_dir(&self) -> PathBuf {
        self.root.join("instances")
    }

    /// `logs/`.
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// `attic/`.
    pub fn attic_dir(&self) -> PathBuf {
        self.root.join("attic")
    }

    /// `manifest.json`.
    pub fn manifest_path(&self) -> PathBuf {
        self.root.join("manifest.json")
    }

    /// The spec copy, `ludus.toml` or `ludus.yaml`.
    pub fn spec_copy_path(&self, yaml: bool) -> PathBuf {
        self.root
            .join(if yaml { "ludus.yaml" } else { "ludus.toml" })
    }

    /// `instances/<id>.bin`.
    pub fn instance_path(&self, id: InstanceId) -> PathBuf {
        self.instances_dir().join(format!("{id}.bin"))
    }

    /// `logs/<id>.csv`.
    pub fn log_path(&self, id: InstanceId) -> PathBuf {
        self.logs_dir().join(format!("{id}.csv"))
    }

    /// `logs/<id>.json`.
    pub fn status_path(&self, id: InstanceId) -> PathBuf {
        self.logs_dir().join(format!("{id}.json"))
    }

    /// `logs/.running-<host>-<pid>`: the ids a process is running now (one per line), kept
    /// up to date about once a second and removed when the process ends. One small file per
    /// process, not one per instance, so tiny instances do not pay for it.
    pub fn running_path(&self, host: &str, pid: u32) -> PathBuf {
        self.logs_dir().join(format!(".running-{host}-{pid}"))
    }

    /// The ids listed in every running file of `logs/`, with the host and pid that wrote them.
    pub fn running_lists(&self) -> Vec<(String, u32, Vec<InstanceId>)> {
        let mut out = Vec::new();
        let Ok(rd) = fs::read_dir(self.logs_dir()) else {
            return out;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(".running-") else {
                continue;
            };
            let Some((host, pid)) = rest.rsplit_once('-') else {
                continue;
            };
            let Ok(pid) = pid.parse() else { continue };
            let ids = fs::read_to_string(e.path())
                .unwrap_or_default()
                .lines()
                .filter_map(InstanceId::parse)
                .collect();
            out.push((host.to_string(), pid, ids));
        }
        out
    }

    /// `logs/<id>.out`: an exec instance's stdout (size-capped, the tail kept).
    pub fn stdout_path(&self, id: InstanceId) -> PathBuf {
        self.logs_dir().join(format!("{id}.out"))
    }

    /// `logs/<id>.err`: an exec instance's stderr (size-capped, the tail kept).
    pub fn stderr_path(&self, id: InstanceId) -> PathBuf {
        self.logs_dir().join(format!("{id}.err"))
    }

    /// `runs/<id>/`: an exec instance's own folder (`LUDUS_RUN_DIR`), kept across attempts so a
    /// program can checkpoint there and resume after a kill.
    pub fn run_dir(&self, id: InstanceId) -> PathBuf {
        self.root.join("runs").join(id.to_string())
    }

    /// `runs/params/<hash>.json`: the parameter values of one configuration (`LUDUS_PARAMS`),
    /// shared by its seeds; `hash` is a hash of the file's content.
    pub fn params_path(&self, hash: &str) -> PathBuf {
        self.root
            .join("runs")
            .join("params")
            .join(format!("{hash}.json"))
    }

    /// `runs/<id>/metrics`: where an exec instance appends its metric rows (`LUDUS_METRICS`).
    pub fn metrics_path(&self, id: InstanceId) -> PathBuf {
        self.run_dir(id).join("metrics")
    }

    /// True when the folder looks planned (it has `manifest.json` or `instances/`).
    pub fn is_planned(&self) -> bool {
        self.manifest_path().is_file() || self.instances_dir().is_dir()
    }

    /// Creates `instances/` and `logs/`.
    pub fn create(&self) -> Result<(), StoreError> {
        for d in [self.instances_dir(), self.logs_dir()] {
            fs::create_dir_all(&d).map_err(|e| StoreError::io(&d, e))?;
        }
        Ok(())
    }

    /// Reads the manifest, if there is one.
    pub fn read_manifest(&self) -> Result<Option<Manifest>, StoreError> {
        let p = self.manifest_path();
        match crate::regular::read(&p, 1 << 30) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| StoreError::Json {
                    path: p,
                    message: e.to_string(),
                }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(&p, e)),
        }
    }

    /// Writes the manifest atomically.
    pub fn write_manifest(&self, m: &Manifest) -> Result<(), StoreError> {
        let mut b = serde_json::to_vec_pretty(m).expect("a manifest always serializes");
        b.push(b'\n');
        atomic_write(&self.manifest_path(), &b)
    }

    /// Writes an instance file atomically; returns its id.
    pub fn write_instance(&self, instance: &Instance) -> Result<InstanceId, StoreError> {
        let id = instance.id();
        atomic_write(&self.instance_path(id), &codec::encode(instance))?;
        Ok(id)
    }

    /// Reads one instance by id.
    pub fn read_instance(&self, id: InstanceId) -> Result<Instance, StoreError> {
        read_instance_file(&self.instance_path(id))
    }

    /// The ids of every `instances/<id>.bin`, sorted.
    pub fn scan_instance_ids(&self) -> Result<Vec<InstanceId>, StoreError> {
        let d = self.instances_dir();
        let mut ids = Vec::new();
        let rd = match fs::read_dir(&d) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(ids),
            Err(e) => return Err(StoreError::io(&d, e)),
        };
        for entry in rd {
            let entry = entry.map_err(|e| StoreError::io(&d, e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(id) = name.strip_suffix(".bin").and_then(InstanceId::parse) {
                ids.push(id);
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// The status of one instance, if it has one.
    pub fn read_status(&self, id: InstanceId) -> Result<Option<Status>, StoreError> {
        status::read(&self.status_path(id))
    }

    /// Writes a status atomically.
    pub fn write_status(&self, s: &Status) -> Result<(), StoreError> {
        let id = InstanceId::parse(&s.id).expect("a status carries a valid id");
        atomic_write(&self.status_path(id), &s.to_json())
    }

    /// Moves an instance's log and status (and an exec instance's output and run folder) into
    /// `attic/<label>/` (nothing is deleted), so it starts afresh.
    pub fn move_to_attic(&self, id: InstanceId, label: &str) -> Result<(), StoreError> {
        let dest = self.attic_dir().join(label);
        fs::create_dir_all(&dest).map_err(|e| StoreError::io(&dest, e))?;
        let run = self.run_dir(id);
        if run.exists() {
            let to = dest.join(format!("run-{id}"));
            fs::rename(&run, &to).map_err(|e| StoreError::io(&run, e))?;
        }
        for p in [
            self.log_path(id),
            self.status_path(id),
            self.stdout_path(id),
            self.stderr_path(id),
        ] {
            if p.exists() {
                let to = dest.join(p.file_name().expect("a file name"));
                fs::rename(&p, &to).map_err(|e| StoreError::io(&p, e))?;
            }
        }
        Ok(())
    }
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
