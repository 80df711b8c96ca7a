//! [`Experiment`]: one experiment folder, opened once, and every question asked of it.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::claim::{self, Held};
use super::leftovers::Started;
use super::{Manifest, Status, StatusKind, StoreError, atomic_write, codec, read_instance_file};
use crate::plan::{Instance, InstanceId};

const INSTANCES: &str = "instances";
const LOGS: &str = "logs";
const ATTIC: &str = "attic";
const RUNS: &str = "runs";
const MANIFEST: &str = "manifest.json";

/// An experiment folder: where its instances, results and run folders are.
///
/// Opened from a planned folder (`DIR`), its `DIR/instances/`, or a loose folder of `.bin`
/// files (which is then its own experiment folder: results go to its `logs/`).
#[derive(Clone, Debug)]
pub struct Experiment {
    root: PathBuf,
    /// Instance files are `<root>/<id>.bin` rather than `<root>/instances/<id>.bin`.
    loose: bool,
}

/// The older name of [`Experiment`], kept for call sites outside the store.
pub type ExperimentDir = Experiment;

/// What an instance of the selection is, as far as the folder says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstanceState {
    /// No final status (never run, or killed before its commit).
    Pending,
    /// Claimed by a live process that runs it now (no final status yet, or `interrupted`).
    Running,
    /// A final status.
    Finished(StatusKind),
    /// No final status, and its instance file cannot be used (damaged, or another instance's
    /// content): an error, which running again does not fix.
    Broken,
}

impl Experiment {
    /// The planned folder at `root` (which need not exist yet).
    pub fn new(root: impl Into<PathBuf>) -> Experiment {
        Experiment {
            root: root.into(),
            loose: false,
        }
    }

    /// The experiment that a folder of `.bin` files belongs to: `X` for `X/instances/`,
    /// otherwise the folder itself (a loose folder: decided once, so running an instance costs
    /// no extra `stat`).
    pub fn for_bin_folder(folder: &Path) -> Experiment {
        if folder.file_name().is_some_and(|n| n == INSTANCES) {
            Experiment::new(folder.parent().unwrap_or(Path::new(".")))
        } else {
            let loose = !folder.join(INSTANCES).is_dir();
            Experiment {
                root: folder.to_path_buf(),
                loose,
            }
        }
    }

    /// The instance ids a folder argument stands for, in plan order, with the experiment
    /// they belong to: a planned folder's manifest (without one, every `instances/*.bin`,
    /// sorted), or the `.bin` files of a folder.
    pub fn open_folder(path: &Path) -> Result<(Experiment, Vec<InstanceId>), StoreError> {
        let planned = Experiment::new(path);
        if let Some(m) = planned.read_manifest()? {
            return Ok((planned, m.instances));
        }
        if planned.instances_dir().is_dir() {
            let ids = scan_bins(&planned.instances_dir())?;
            return Ok((planned, ids));
        }
        let exp = Experiment::for_bin_folder(path);
        let ids = scan_bins(path)?;
        Ok((exp, ids))
    }

    /// The instance file `path` names: its experiment and id, or `None` when the name is not
    /// `<id>.bin`.
    pub fn for_instance_file(path: &Path) -> Option<(Experiment, InstanceId)> {
        let id = path
            .file_name()?
            .to_str()?
            .strip_suffix(".bin")
            .and_then(InstanceId::parse)?;
        let exp = Experiment::for_bin_folder(path.parent().unwrap_or(Path::new(".")));
        Some((exp, id))
    }

    /// The default folder `ludus plan` writes a spec called `name` to.
    pub fn default_for_spec(name: &str) -> PathBuf {
        PathBuf::from(INSTANCES).join(name)
    }

    /// The same experiment with an absolute root (for a program that runs elsewhere).
    pub fn absolute(&self) -> Experiment {
        Experiment {
            root: std::path::absolute(&self.root).unwrap_or_else(|_| self.root.clone()),
            loose: self.loose,
        }
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn instances_dir(&self) -> PathBuf {
        self.root.join(INSTANCES)
    }

    fn logs_dir(&self) -> PathBuf {
        self.root.join(LOGS)
    }

    fn attic_dir(&self) -> PathBuf {
        self.root.join(ATTIC)
    }

    fn manifest_path(&self) -> PathBuf {
        self.root.join(MANIFEST)
    }

    /// The spec copy, `ludus.toml` or `ludus.yaml`.
    pub fn spec_copy_path(&self, yaml: bool) -> PathBuf {
        self.root
            .join(if yaml { "ludus.yaml" } else { "ludus.toml" })
    }

    /// The instance file of `id`: `instances/<id>.bin` (`<id>.bin` in a loose folder).
    pub fn instance_path(&self, id: InstanceId) -> PathBuf {
        if self.loose {
            self.root.join(format!("{id}.bin"))
        } else {
            self.instances_dir().join(format!("{id}.bin"))
        }
    }

    /// `logs/<id>.csv`.
    pub fn log_path(&self, id: InstanceId) -> PathBuf {
        self.logs_dir().join(format!("{id}.csv"))
    }

    /// `logs/<id>.json`.
    pub fn status_path(&self, id: InstanceId) -> PathBuf {
        self.logs_dir().join(format!("{id}.json"))
    }

    /// `logs/.claim-<id>`: the claim of an instance being run (see [`super::claim`]).
    fn claim_path(&self, id: InstanceId) -> PathBuf {
        self.logs_dir()
            .join(format!("{}{id}", super::claim::CLAIM_PREFIX))
    }

    /// The ids whose claim has a live owner: the instances some process runs now.
    pub fn running_ids(&self) -> HashSet<InstanceId> {
        claim::claim_files(&self.logs_dir())
            .into_iter()
            .filter(|(_, p)| claim::is_alive(p))
            .map(|(id, _)| id)
            .collect()
    }

    /// Takes over and removes every claim whose owner is dead (a killed run's), ending first
    /// what its instances left running on this host. Returns how many it removed.
    pub fn clear_dead_claims(&self) -> usize {
        claim::claim_files(&self.logs_dir())
            .into_iter()
            .filter(|(_, p)| claim::clear_if_dead(p))
            .count()
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
        self.root.join(RUNS).join(id.to_string())
    }

    /// `runs/params/<hash>.json`: the parameter values of one configuration (`LUDUS_PARAMS`),
    /// shared by its seeds; `hash` is a hash of the file's content.
    pub fn params_path(&self, hash: &str) -> PathBuf {
        self.root
            .join(RUNS)
            .join("params")
            .join(format!("{hash}.json"))
    }

    /// `runs/<id>/metrics`: where an exec instance appends its metric rows (`LUDUS_METRICS`).
    pub fn metrics_path(&self, id: InstanceId) -> PathBuf {
        self.run_dir(id).join("metrics")
    }

    /// The paths, relative to the folder, that hold results (what a download after a cluster
    /// run fetches), and the patterns inside them that are never results.
    pub fn result_paths() -> (Vec<String>, Vec<String>) {
        (
            vec![LOGS.into(), ".ludus/slurm".into()],
            vec![format!("{LOGS}/.*")],
        )
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

    /// Reads one instance by id. A file that does not decode, or whose content is another
    /// instance than its name says, is an error naming the file.
    pub fn read_instance(&self, id: InstanceId) -> Result<Instance, StoreError> {
        let path = self.instance_path(id);
        let instance = read_instance_file(&path)?;
        let found = instance.id();
        if found != id {
            return Err(StoreError::WrongInstance {
                path,
                expected: id,
                found,
            });
        }
        Ok(instance)
    }

    /// The ids of every instance file, sorted.
    pub fn scan_instance_ids(&self) -> Result<Vec<InstanceId>, StoreError> {
        if self.loose {
            return scan_bins(&self.root);
        }
        let d = self.instances_dir();
        if !d.is_dir() {
            return Ok(Vec::new());
        }
        scan_bins(&d)
    }

    /// The ids that have a final status now, from one listing of `logs/` (created if missing:
    /// a folder planned elsewhere, or a loose folder, may have none yet).
    pub fn result_ids(&self) -> Result<HashSet<InstanceId>, StoreError> {
        let logs = self.logs_dir();
        fs::create_dir_all(&logs).map_err(|e| StoreError::io(&logs, e))?;
        let mut set = HashSet::new();
        if let Ok(rd) = fs::read_dir(&logs) {
            for e in rd.flatten() {
                let name = e.file_name();
                let name = name.to_string_lossy();
                if let Some(id) = name.strip_suffix(".json").and_then(InstanceId::parse) {
                    set.insert(id);
                }
            }
        }
        Ok(set)
    }

    /// The status of one instance, if it has one.
    pub fn read_status(&self, id: InstanceId) -> Result<Option<Status>, StoreError> {
        super::status::read(&self.status_path(id))
    }

    /// Writes a status atomically.
    pub fn write_status(&self, s: &Status) -> Result<(), StoreError> {
        atomic_write(&self.status_path(s.id), &s.to_json())
    }

    /// Claims instance `id` to run it: `None` when a live process holds its claim, or when it
    /// is finished already (done or timeout; error too unless `retry_errors`), as another
    /// process may have run it since this one listed what is pending. A dead owner's claim is
    /// taken over (see [`super::claim`]). The claim is removed by [`Claim::commit`], or when
    /// the last clone of it is dropped.
    pub fn claim(&self, id: InstanceId, retry_errors: bool) -> Result<Option<Claim>, StoreError> {
        let Some(held) = claim::acquire(&self.claim_path(id))? else {
            return Ok(None);
        };
        if let Ok(Some(s)) = self.read_status(id) {
            let finished = match s.status {
                StatusKind::Done | StatusKind::Timeout => true,
                StatusKind::Error => !retry_errors,
                StatusKind::Interrupted => false,
            };
            if finished {
                return Ok(None);
            }
        }
        Ok(Some(Claim {
            exp: Arc::new(self.clone()),
            id,
            held: Arc::new(held),
        }))
    }

    /// Commits a result: the log, then the status (the commit point), each atomic.
    pub(crate) fn commit(
        &self,
        id: InstanceId,
        log: &[u8],
        status: &Status,
    ) -> Result<(), StoreError> {
        debug_assert_eq!(id, status.id);
        atomic_write(&self.log_path(id), log)?;
        self.write_status(status)
    }

    /// Moves an instance's log and status (and an exec instance's output and run folder) into
    /// the attic batch `batch` (nothing is deleted), so it starts afresh.
    pub fn move_to_attic(&self, id: InstanceId, batch: &AtticBatch) -> Result<(), StoreError> {
        let dest = batch.folder(&self.root, &self.attic_dir())?;
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

    /// Removes an instance file (after its results went to the attic).
    pub fn remove_instance(&self, id: InstanceId) -> Result<(), StoreError> {
        let p = self.instance_path(id);
        fs::remove_file(&p).map_err(|e| StoreError::io(&p, e))
    }
}

/// One batch of results moved to the attic (`attic/<name>/`): by one `reset` or one
/// `plan --prune`. A batch never reuses a folder: when `attic/<why>-<time>/` exists already
/// (two resets within a second), it takes the first free `<why>-<time>-<n>/`.
#[derive(Debug)]
pub struct AtticBatch {
    base: String,
    /// The folder name taken in each experiment, once the batch moved something there.
    taken: Mutex<Vec<(PathBuf, String)>>,
}

impl AtticBatch {
    /// A batch named for `why` (`reset`, `pruned`) and the current time.
    pub fn new(why: &str) -> AtticBatch {
        AtticBatch {
            base: format!("{why}-{}", super::now_rfc3339().replace(':', "")),
            taken: Mutex::new(Vec::new()),
        }
    }

    /// Where the batch is, relative to the experiment folder, for messages: the folder taken
    /// (several, comma-separated, when experiments differ).
    pub fn relative_path(&self) -> String {
        let taken = self.taken.lock().unwrap_or_else(|p| p.into_inner());
        let mut names: Vec<&str> = taken.iter().map(|(_, n)| n.as_str()).collect();
        names.dedup();
        if names.is_empty() {
            names.push(&self.base);
        }
        names
            .iter()
            .map(|n| format!("{ATTIC}/{n}/"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// This batch's folder in `attic`, created now if the batch has none there yet.
    fn folder(&self, root: &Path, attic: &Path) -> Result<PathBuf, StoreError> {
        let mut taken = self.taken.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, n)) = taken.iter().find(|(r, _)| r == root) {
            return Ok(attic.join(n));
        }
        fs::create_dir_all(attic).map_err(|e| StoreError::io(attic, e))?;
        for k in 1u32.. {
            let name = if k == 1 {
                self.base.clone()
            } else {
                format!("{}-{k}", self.base)
            };
            let dest = attic.join(&name);
            match fs::create_dir(&dest) {
                Ok(()) => {
                    taken.push((root.to_path_buf(), name));
                    return Ok(dest);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(StoreError::io(&dest, e)),
            }
        }
        unreachable!("some attic folder name is free")
    }
}

/// The right to run one instance and commit its result, handed out by [`Experiment::claim`].
/// Clones share one claim file, removed when the result is committed or the last clone is
/// dropped.
#[derive(Clone, Debug)]
pub struct Claim {
    pub(crate) exp: Arc<Experiment>,
    pub(crate) id: InstanceId,
    pub(crate) held: Arc<Held>,
}

impl Claim {
    /// The claimed instance.
    pub fn id(&self) -> InstanceId {
        self.id
    }

    /// The experiment it belongs to.
    pub fn experiment(&self) -> &Experiment {
        &self.exp
    }

    /// Records what the instance started (a cgroup, a process, the environment token), so that
    /// a run that takes this claim over after this process died ends it first.
    pub fn record(&self, what: &[Started]) -> Result<(), StoreError> {
        self.held.record(what)
    }

    /// Commits the instance's result: its log, then its status (the commit point); then
    /// removes the claim.
    pub fn commit(&self, log: &[u8], status: &Status) -> Result<(), StoreError> {
        self.exp.commit(self.id, log, status)?;
        self.held.release();
        Ok(())
    }

    /// A writer that streams the instance's log to a hidden temporary file beside its final
    /// name, so memory stays bounded whatever the log's length; `commit_streamed` renames it
    /// into place. Dropped without a commit, it removes its file.
    pub fn log_writer(&self) -> Result<LogWriter, StoreError> {
        let path = self.exp.log_path(self.id);
        let tmp = super::temp_path(&path);
        let f = fs::File::create(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
        Ok(LogWriter {
            tmp,
            w: Some(std::io::BufWriter::with_capacity(64 << 10, f)),
        })
    }

    /// Commits a streamed log (renamed into place), then the status (the commit point); then
    /// removes the claim.
    pub fn commit_streamed(&self, mut log: LogWriter, status: &Status) -> Result<(), StoreError> {
        debug_assert_eq!(self.id, status.id);
        let path = self.exp.log_path(self.id);
        let w = log.w.take().expect("a writer not yet committed");
        let done = w
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|_| fs::rename(&log.tmp, &path));
        if let Err(e) = done {
            let _ = fs::remove_file(&log.tmp);
            return Err(StoreError::io(&path, e));
        }
        self.exp.write_status(status)?;
        self.held.release();
        Ok(())
    }
}

/// An instance's log being written (see [`Claim::log_writer`]).
pub struct LogWriter {
    tmp: PathBuf,
    w: Option<std::io::BufWriter<fs::File>>,
}

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.w {
            Some(w) => w.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.w {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        // A run that never committed leaves no temporary file behind.
        if self.w.is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// The ids of the `<id>.bin` files of `folder`, sorted.
fn scan_bins(folder: &Path) -> Result<Vec<InstanceId>, StoreError> {
    let mut ids = Vec::new();
    let rd = fs::read_dir(folder).map_err(|e| StoreError::io(folder, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| StoreError::io(folder, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(id) = name.strip_suffix(".bin").and_then(InstanceId::parse) {
            ids.push(id);
        }
    }
    ids.sort();
    Ok(ids)
}
