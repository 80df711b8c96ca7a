//! Containing the whole process tree of a user's program, so that nothing it started outlives
//! its instance (at its normal end, its time limit, an interrupt) or its `ludus` (a SIGKILL).
//!
//! Two ways, chosen once per process:
//! - **cgroup**: where ludus can create a cgroup v2 below its own (as root, or in a subtree
//!   delegated to its user, as systemd does for user sessions), each program runs in a cgroup
//!   of its own (`<ludus's cgroup>/ludus-<pid>-<start>/i<n>`, reused from instance to
//!   instance), joined before `exec`, so every descendant is in it whatever it does (`setsid`,
//!   `setpgid`, double forks). Ending the instance kills the cgroup (`cgroup.kill`) and waits
//!   until it is empty.
//! - **subreaper**: otherwise ludus becomes a child subreaper (`PR_SET_CHILD_SUBREAPER`): a
//!   program's processes whose parent exits are re-parented to ludus instead of init. Every
//!   process of a program carries `LUDUS_CLAIM=<token>` in its environment; at the instance's
//!   end ludus kills its program's process group, every descendant of the program, and every
//!   orphan re-parented to it that carries the token, and reaps them. A process that clears
//!   its environment and leaves its parents' tree escapes this (not a cgroup).
//!
//! Either way the claim records the cgroup, the program's process (pid and start time) and the
//! token before the program can do anything, so a run that takes over a dead ludus's claim
//! ends them first (`store::leftovers`). `LUDUS_CONTAIN=subreaper` forces the second way.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::store::claim::Owner;
use crate::store::leftovers::proc_start;
use crate::store::leftovers::{has_token, kill, kill_cgroup};

/// How this process contains programs.
#[derive(Debug)]
pub enum Mode {
    /// One cgroup per running program, below this folder (ludus's own cgroup's child).
    Cgroup(PathBuf),
    /// Child subreaper, with the environment token.
    Subreaper,
}

/// The mode, decided at the first call.
pub fn mode() -> &'static Mode {
    static MODE: OnceLock<Mode> = OnceLock::new();
    MODE.get_or_init(|| {
        let forced = std::env::var("LUDUS_CONTAIN").ok();
        if forced.as_deref() != Some("subreaper")
            && let Some(parent) = cgroup_parent()
        {
            return Mode::Cgroup(parent);
        }
        // SAFETY: prctl with integer arguments.
        unsafe {
            libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        }
        Mode::Subreaper
    })
}

/// This process's cgroup v2 folder, if the unified hierarchy is mounted.
fn own_cgroup() -> Option<PathBuf> {
    let cg = fs::read_to_string("/proc/self/cgroup").ok()?;
    let rel = cg.lines().find_map(|l| l.strip_prefix("0::"))?.to_string();
    let mounts = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount = mounts.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        (post.split(' ').next()? == "cgroup2").then(|| pre.split(' ').nth(4).map(PathBuf::from))?
    })?;
    Some(mount.join(rel.trim_start_matches('/')))
}

/// Creates `ludus-<pid>-<start>/` in this process's cgroup, after removing the empty ones
/// that dead ludus processes left; `None` when that is not allowed (no root, no delegation).
fn cgroup_parent() -> Option<PathBuf> {
    let own = own_cgroup()?;
    if let Ok(rd) = fs::read_dir(&own) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix("ludus-") else {
                continue;
            };
            let Some((pid, start)) = rest.split_once('-') else {
                continue;
            };
            let (Ok(pid), Ok(start)) = (pid.parse::<i32>(), start.parse::<u64>()) else {
                continue;
            };
            if proc_start(pid) != Some(start) {
                if let Ok(kids) = fs::read_dir(e.path()) {
                    for k in kids.flatten().filter(|k| k.path().is_dir()) {
                        let _ = fs::remove_dir(k.path());
                    }
                }
                let _ = fs::remove_dir(e.path());
            }
        }
    }
    let me = Owner::me();
    let dir = own.join(format!("ludus-{}-{}", me.pid, me.start));
    match fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(_) => return None,
    }
    // Joining needs write access to cgroup.procs here and in the common ancestor: check it
    // by moving a throwaway cgroup's worth of nothing: opening for writing is enough.
    let probe = dir.join("probe");
    let ok = fs::create_dir(&probe).is_ok()
        && fs::OpenOptions::new()
            .write(true)
            .open(probe.join("cgroup.procs"))
            .is_ok()
        && fs::OpenOptions::new()
            .write(true)
            .open(own.join("cgroup.procs"))
            .is_ok();
    let _ = fs::remove_dir(&probe);
    if !ok {
        let _ = fs::remove_dir(&dir);
        return None;
    }
    Some(dir)
}

static NEXT_CG: AtomicU64 = AtomicU64::new(0);

fn free_cgroups() -> &'static Mutex<Vec<PathBuf>> {
    static FREE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    &FREE
}

/// An empty cgroup for one program (from the pool, or new).
pub fn take_cgroup(parent: &Path) -> Option<PathBuf> {
    if let Some(p) = free_cgroups()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .pop()
    {
        return Some(p);
    }
    let p = parent.join(format!("i{}", NEXT_CG.fetch_add(1, Ordering::Relaxed)));
    fs::create_dir(&p).ok()?;
    Some(p)
}

/// Ends every process of `cg` and gives it back to the pool (or removes it when it cannot
/// be emptied).
pub fn end_cgroup(cg: PathBuf) {
    if kill_cgroup(&cg, Duration::from_secs(5)) {
        free_cgroups()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(cg);
    }
}

/// Removes this process's cgroups (at the end of a run).
pub fn cleanup() {
    if let Some(Mode::Cgroup(parent)) = MODE_IF_SET.get() {
        let free = std::mem::take(&mut *free_cgroups().lock().unwrap_or_else(|p| p.into_inner()));
        for cg in free {
            let _ = fs::remove_dir(cg);
        }
        let _ = fs::remove_dir(parent);
    }
}

static MODE_IF_SET: OnceLock<&'static Mode> = OnceLock::new();

/// Records that the mode is in use (so `cleanup` knows there is something to clean).
pub fn in_use() -> &'static Mode {
    let m = mode();
    let _ = MODE_IF_SET.set(m);
    m
}

/// The main pids of the programs running now (not orphans to kill).
fn mains() -> &'static Mutex<HashSet<i32>> {
    static MAINS: OnceLock<Mutex<HashSet<i32>>> = OnceLock::new();
    MAINS.get_or_init(|| Mutex::new(HashSet::new()))
}

/// The main pids of the running programs, locked: a worker holds it from before it spawns a
/// program until its pid is in (so that another worker never takes a main process that
/// exited at once for an orphan and reaps it).
pub fn lock_mains() -> std::sync::MutexGuard<'static, HashSet<i32>> {
    mains().lock().unwrap_or_else(|p| p.into_inner())
}

/// Notes a program's main process as ended (reaped).
pub fn remove_main(pid: i32) {
    mains()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&pid);
}

/// The children of process `pid` (all its threads').
fn children(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in rd.flatten() {
        if let Ok(s) = fs::read_to_string(t.path().join("children")) {
            out.extend(s.split_whitespace().filter_map(|p| p.parse::<i32>().ok()));
        }
    }
    out
}

/// `pid` and every descendant of it.
fn tree(pid: i32) -> Vec<i32> {
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() && out.len() < 100_000 {
        let kids = children(out[i]);
        out.extend(kids);
        i += 1;
    }
    out
}

/// Subreaper mode: the processes of a program: its main process's tree and the trees of the
/// orphans re-parented to ludus that carry its token.
pub fn program_processes(main: i32, token: &str) -> Vec<i32> {
    let mut out = tree(main);
    let others = mains().lock().unwrap_or_else(|p| p.into_inner()).clone();
    for c in children(std::process::id() as i32) {
        if c != main && !others.contains(&c) && has_token(c, token) {
            out.extend(tree(c));
        }
    }
    out
}

/// Subreaper mode: signals every process of a program (see [`program_processes`]).
pub fn signal_program(main: i32, token: &str, sig: i32) {
    kill(-main, sig);
    for p in program_processes(main, token) {
        kill(p, sig);
    }
}

/// Subreaper mode, after the main process was reaped: kills what is left of the program
/// (orphans re-parented to ludus, and their trees), repeatedly while they fork, and reaps
/// the ones that were ludus's children.
pub fn end_orphans(token: &str) {
    let me = std::process::id() as i32;
    for _ in 0..200 {
        let others = lock_mains();
        let mut found = false;
        for c in children(me) {
            if others.contains(&c) {
                continue;
            }
            let zombie = proc_start(c).is_none();
            if zombie || has_token(c, token) {
                if !zombie {
                    found = true;
                    for p in tree(c) {
                        kill(p, libc::SIGKILL);
                    }
                }
                // SAFETY: reaps our own child (a zombie, or one just killed) if it ended.
                unsafe {
                    let mut st = 0;
                    libc::waitpid(c, &mut st, libc::WNOHANG);
                }
            }
        }
        drop(others);
        if !found {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
