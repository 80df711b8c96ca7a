//! Claims: at most one process runs an instance at a time, on one host or on several hosts
//! sharing a cluster file system.
//!
//! A claim is the file `logs/.claim-<id>`, made by an exclusive create (`O_CREAT | O_EXCL`,
//! atomic on local file systems, NFSv3 and later, Lustre and GPFS; `flock` is not used, as it
//! depends on how a shared file system is mounted). It holds its owner's host name, boot id,
//! pid and process start time (from `/proc/<pid>/stat`, so a reused pid is not mistaken for the
//! owner), the lease length, and then what the instance started (see [`Started`]), one line
//! each, appended as it happens.
//!
//! The lease is the claim file's modification time plus [`LEASE`]: one background thread per
//! process touches every claim the process holds every [`RENEW_EVERY`] (one `utimensat` per
//! held claim, nothing per instance). Another process decides whether a claim is alive:
//! - same host name and boot id: the owner is alive exactly when a process with its pid and
//!   start time exists; a dead owner's claim is taken over at once;
//! - otherwise (another host, or this host before a reboot): the claim is alive while its lease
//!   runs, and is taken over once its modification time is more than [`LEASE`] old by the
//!   reader's clock. This assumes that the clocks of the hosts and of the file server agree
//!   within `LEASE - RENEW_EVERY` (100 s; NTP keeps them within milliseconds), and that an
//!   owner is never stalled (suspended, or its file system unreachable) for longer than that.
//!
//! Taking over renames the dead claim to a unique name (atomic: of two processes taking over
//! at once only one gets it), checks that the renamed file is the one judged dead (the same
//! inode; otherwise it was a fresh claim made in between, which is put back), ends what the
//! dead owner's instance left running (same host only; see [`super::leftovers`]), removes it
//! and claims anew. A committed instance's claim is removed after its status is written; a
//! claim is also removed when its holder drops it without committing.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use super::StoreError;
use super::leftovers::{self, Started, proc_start};
use crate::plan::InstanceId;

/// How long a claim stays valid without renewal, for processes of other hosts.
pub const LEASE: Duration = Duration::from_secs(120);
/// How often the owner renews the lease of every claim it holds.
pub const RENEW_EVERY: Duration = Duration::from_secs(20);
/// The file name prefix of claims in `logs/`.
pub(crate) const CLAIM_PREFIX: &str = ".claim-";

/// The process that owns a claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// Host name.
    pub host: String,
    /// `/proc/sys/kernel/random/boot_id` (empty when unknown).
    pub boot: String,
    /// Pid.
    pub pid: u32,
    /// Start time in clock ticks since boot.
    pub start: u64,
}

impl Owner {
    /// This process.
    pub fn me() -> &'static Owner {
        static ME: OnceLock<Owner> = OnceLock::new();
        ME.get_or_init(|| {
            let pid = std::process::id();
            Owner {
                host: super::hostname(),
                boot: fs::read_to_string("/proc/sys/kernel/random/boot_id")
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default(),
                pid,
                start: proc_start(pid as i32).unwrap_or(0),
            }
        })
    }

    /// True when this owner is a process of this host and boot (so its liveness can be
    /// checked directly).
    fn is_local(&self) -> bool {
        let me = Owner::me();
        self.host == me.host && !me.boot.is_empty() && self.boot == me.boot
    }

    /// For a local owner: is that very process alive?
    fn local_alive(&self) -> bool {
        proc_start(self.pid as i32) == Some(self.start)
    }
}

/// A claim file as read back.
#[derive(Clone, Debug, Default)]
pub struct ClaimInfo {
    /// Its owner, when the file could be parsed.
    pub owner: Option<Owner>,
    /// What the instance started.
    pub started: Vec<Started>,
}

fn parse(text: &str) -> ClaimInfo {
    let (mut host, mut boot, mut pid, mut start) = (None, String::new(), None, None);
    let mut started = Vec::new();
    // Only complete lines: a line being appended may be read half-written.
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    for line in complete.lines() {
        let (key, val) = line.split_once(' ').unwrap_or((line, ""));
        match key {
            "host" => host = Some(val.to_string()),
            "boot" => boot = val.to_string(),
            "pid" => pid = val.parse().ok(),
            "start" => start = val.parse().ok(),
            "cgroup" if !val.is_empty() => started.push(Started::Cgroup(PathBuf::from(val))),
            "process" => {
                if let Some((p, s)) = val.split_once(' ')
                    && let (Ok(pid), Ok(start)) = (p.parse(), s.parse())
                {
                    started.push(Started::Process { pid, start });
                }
            }
            "token" if !val.is_empty() => started.push(Started::Token(val.to_string())),
            _ => {}
        }
    }
    let owner = match (host, pid, start) {
        (Some(host), Some(pid), Some(start)) => Some(Owner {
            host,
            boot,
            pid,
            start,
        }),
        _ => None,
    };
    ClaimInfo { owner, started }
}

/// What a reader concludes about an existing claim file.
enum Verdict {
    /// Its owner may be running the instance: leave it.
    Alive,
    /// Its owner is dead (or its lease ran out): it may be taken over. The inode identifies
    /// the file judged.
    Dead(ClaimInfo, u64),
    /// It vanished while being read.
    Gone,
}

fn judge(path: &Path) -> Verdict {
    let mut f = match fs::File::open(path) {
        Ok(f) => f,
        Err(_) => return Verdict::Gone,
    };
    let Ok(meta) = f.metadata() else {
        return Verdict::Gone;
    };
    let mut text = String::new();
    let _ = f.read_to_string(&mut text);
    let info = parse(&text);
    let me = Owner::me();
    let alive = match &info.owner {
        // This process holds it (another of its workers).
        Some(o) if o == me => true,
        Some(o) if o.is_local() => o.local_alive(),
        // Another host, an earlier boot, or a file being written: the lease decides.
        _ => {
            let modified = meta.modified().unwrap_or_else(|_| SystemTime::now());
            SystemTime::now()
                .duration_since(modified)
                .is_ok_and(|age| age < LEASE)
                || SystemTime::now() < modified
        }
    };
    if alive {
        Verdict::Alive
    } else {
        Verdict::Dead(info, meta.ino())
    }
}

static TAKE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Takes a dead claim over: moves it aside (atomically), ends what its instance left running,
/// removes it. Returns false when the file moved aside was not the one judged (a fresh claim,
/// which is put back).
fn take_over(path: &Path, info: &ClaimInfo, ino: u64) -> bool {
    let n = TAKE_COUNTER.fetch_add(1, Ordering::Relaxed);
    let me = Owner::me();
    let aside = path.with_file_name(format!(
        "{}.taken-{}-{}-{n}",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        me.host,
        me.pid
    ));
    if fs::rename(path, &aside).is_err() {
        // Someone else moved it first.
        return true;
    }
    let same = fs::symlink_metadata(&aside).is_ok_and(|m| m.ino() == ino);
    if !same {
        // A claim made after ours was judged: put it back (unless yet another one exists).
        let _ = fs::hard_link(&aside, path);
        let _ = fs::remove_file(&aside);
        return false;
    }
    if info.owner.as_ref().is_some_and(Owner::is_local) {
        leftovers::end(&info.started);
    }
    let _ = fs::remove_file(&aside);
    true
}

/// The claims this process holds, for the renewal thread.
fn held() -> &'static Mutex<HashMap<u64, PathBuf>> {
    static HELD: OnceLock<Mutex<HashMap<u64, PathBuf>>> = OnceLock::new();
    HELD.get_or_init(|| {
        let _ = std::thread::Builder::new()
            .name("ludus-claims".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(RENEW_EVERY);
                    renew_all();
                }
            });
        Mutex::new(HashMap::new())
    })
}

/// Renews the lease of every claim this process holds (sets their modification time to now).
pub fn renew_all() {
    let paths: Vec<PathBuf> = held()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .cloned()
        .collect();
    for p in paths {
        touch(&p);
    }
}

fn touch(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return;
    };
    // SAFETY: utimensat reads the NUL-terminated path we own; a null times pointer means now.
    unsafe {
        libc::utimensat(libc::AT_FDCWD, c.as_ptr(), std::ptr::null(), 0);
    }
}

static CLAIM_KEY: AtomicU64 = AtomicU64::new(0);

/// An exclusive create of a fresh claim file holding this process as owner.
fn create(path: &Path) -> io::Result<fs::File> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)?;
    let me = Owner::me();
    let text = format!(
        "ludus-claim 1\nhost {}\nboot {}\npid {}\nstart {}\nlease {}\n",
        me.host,
        me.boot,
        me.pid,
        me.start,
        LEASE.as_secs()
    );
    if let Err(e) = f.write_all(text.as_bytes()) {
        let _ = fs::remove_file(path);
        return Err(e);
    }
    Ok(f)
}

/// Tries to claim the file `path`: `Some` with the open file when this process now holds it,
/// `None` when a live owner holds it.
pub(crate) fn acquire(path: &Path) -> Result<Option<Held>, StoreError> {
    for _ in 0..8 {
        match create(path) {
            Ok(file) => {
                let key = CLAIM_KEY.fetch_add(1, Ordering::Relaxed);
                let ino = file.metadata().map(|m| m.ino()).unwrap_or(0);
                held()
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key, path.to_path_buf());
                return Ok(Some(Held {
                    path: path.to_path_buf(),
                    key,
                    ino,
                    file: Mutex::new(Some(file)),
                }));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match judge(path) {
                Verdict::Alive => return Ok(None),
                Verdict::Gone => continue,
                Verdict::Dead(info, ino) => {
                    if !take_over(path, &info, ino) {
                        return Ok(None);
                    }
                }
            },
            Err(e) => return Err(StoreError::io(path, e)),
        }
    }
    // Claimed and released over and over by others: leave it to them.
    Ok(None)
}

/// A claim file this process holds.
#[derive(Debug)]
pub(crate) struct Held {
    path: PathBuf,
    key: u64,
    ino: u64,
    /// Open for appending what the instance starts; `None` once released.
    file: Mutex<Option<fs::File>>,
}

impl Held {
    /// Appends records of what the instance started (one write).
    pub(crate) fn record(&self, what: &[Started]) -> Result<(), StoreError> {
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = guard.as_mut() {
            let text: String = what.iter().map(Started::line).collect();
            f.write_all(text.as_bytes())
                .map_err(|e| StoreError::io(&self.path, e))?;
        }
        Ok(())
    }

    /// Removes the claim (once), unless it is no longer this process's file.
    pub(crate) fn release(&self) {
        let file = self.file.lock().unwrap_or_else(|p| p.into_inner()).take();
        if file.is_none() {
            return;
        }
        held()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
        if fs::symlink_metadata(&self.path).is_ok_and(|m| m.ino() == self.ino) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.release();
    }
}

/// The ids of the claims in `logs/` (by their names), with each claim's path.
pub(crate) fn claim_files(logs: &Path) -> Vec<(InstanceId, PathBuf)> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir(logs) else {
        return out;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if let Some(id) = name.strip_prefix(CLAIM_PREFIX).and_then(InstanceId::parse) {
            out.push((id, e.path()));
        }
    }
    out
}

/// True when the claim at `path` has a live owner.
pub(crate) fn is_alive(path: &Path) -> bool {
    matches!(judge(path), Verdict::Alive)
}

/// Takes over and removes the claim at `path` if its owner is dead (ending what it left
/// running); returns true when it did.
pub(crate) fn clear_if_dead(path: &Path) -> bool {
    match judge(path) {
        Verdict::Dead(info, ino) => take_over(path, &info, ino),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reads_owner_and_started_and_skips_a_half_line() {
        let i = parse(
            "ludus-claim 1\nhost h x\nboot b\npid 12\nstart 34\nlease 120\ncgroup /sys/a b\nprocess 5 6\ntoken t\nprocess 7",
        );
        let o = i.owner.unwrap();
        assert_eq!((o.host.as_str(), o.pid, o.start), ("h x", 12, 34));
        assert_eq!(
            i.started,
            vec![
                Started::Cgroup("/sys/a b".into()),
                Started::Process { pid: 5, start: 6 },
                Started::Token("t".into())
            ]
        );
    }

    #[test]
    fn own_start_time_is_read_and_a_missing_pid_has_none() {
        assert!(proc_start(std::process::id() as i32).is_some());
        assert_eq!(proc_start(i32::MAX), None);
    }

    #[test]
    fn second_claim_is_refused_and_release_frees_it() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(".claim-x");
        let a = acquire(&p).unwrap().expect("granted");
        assert!(acquire(&p).unwrap().is_none(), "held by this process");
        drop(a);
        assert!(!p.exists());
        assert!(acquire(&p).unwrap().is_some());
    }
}
