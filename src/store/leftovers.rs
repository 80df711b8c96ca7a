//! Ending what an instance started: the processes of a cgroup, a process group whose leader
//! is still the recorded process, and every process whose environment carries the instance's
//! `LUDUS_CLAIM` token. Used when a dead owner's claim is taken over (see [`super::claim`]) and
//! by the executor's containment at an instance's end.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What an instance started, recorded in its claim so that whoever takes a dead owner's
/// claim over first ends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Started {
    /// A cgroup (v2) holding every process of the instance.
    Cgroup(PathBuf),
    /// A process (the program's main process, leader of its process group) and its start
    /// time in clock ticks since boot.
    Process {
        /// Its pid (and process group id).
        pid: i32,
        /// Its start time, field 22 of `/proc/<pid>/stat`.
        start: u64,
    },
    /// The value of `LUDUS_CLAIM` in the environment of every process of the instance.
    Token(String),
}

impl Started {
    pub(crate) fn line(&self) -> String {
        match self {
            Started::Cgroup(p) => format!("cgroup {}\n", p.display()),
            Started::Process { pid, start } => format!("process {pid} {start}\n"),
            Started::Token(t) => format!("token {t}\n"),
        }
    }
}

/// The start time of process `pid` (field 22 of `/proc/<pid>/stat`), `None` when there is no
/// such process or it is a zombie (dead, not yet reaped).
pub fn proc_start(pid: i32) -> Option<u64> {
    let mut buf = [0u8; 512];
    let mut f = fs::File::open(format!("/proc/{pid}/stat")).ok()?;
    let n = f.read(&mut buf).ok()?;
    let text = std::str::from_utf8(&buf[..n]).ok()?;
    // The command name (field 2) is in parentheses and may hold anything: fields after it
    // start after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    // rest starts at field 3 (state); the start time is field 22.
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// The environment variable that marks every process of an instance.
pub const TOKEN_VAR: &str = "LUDUS_CLAIM";

/// Ends everything `started` names (this host only), waiting up to two seconds for the
/// processes to be gone.
pub fn end(started: &[Started]) {
    for s in started {
        match s {
            Started::Cgroup(path) => {
                kill_cgroup(path, Duration::from_secs(2));
                let _ = fs::remove_dir(path);
            }
            Started::Process { pid, start } => {
                if proc_start(*pid) == Some(*start) {
                    kill(-*pid, libc::SIGKILL);
                    kill(*pid, libc::SIGKILL);
                }
            }
            Started::Token(token) => {
                let deadline = Instant::now() + Duration::from_secs(2);
                loop {
                    let pids = pids_with_token(token);
                    if pids.is_empty() || Instant::now() > deadline {
                        break;
                    }
                    for p in pids {
                        kill(p, libc::SIGKILL);
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
}

/// Sends `sig` (to a process group when `pid` is negative).
pub fn kill(pid: i32, sig: i32) {
    if pid == 0 || pid == -1 {
        return;
    }
    // SAFETY: sends a signal; no memory is touched.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// The live (not zombie) processes of the cgroup at `path`.
pub fn cgroup_pids(path: &Path) -> Vec<i32> {
    fs::read_to_string(path.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Kills every process of the cgroup at `path` (`cgroup.kill` where the kernel has it, else
/// SIGKILL to each member, repeated while it forks) and waits up to `wait` until it is empty.
/// Returns true when it is empty.
pub fn kill_cgroup(path: &Path, wait: Duration) -> bool {
    // The common case, a program that left nothing behind, costs one read.
    if cgroup_pids(path).is_empty() {
        return true;
    }
    let killed = fs::write(path.join("cgroup.kill"), b"1").is_ok();
    let deadline = Instant::now() + wait;
    loop {
        let pids = cgroup_pids(path);
        if pids.is_empty() {
            return true;
        }
        if !killed {
            for p in &pids {
                kill(*p, libc::SIGKILL);
            }
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Signals every process of the cgroup at `path`.
pub fn signal_cgroup(path: &Path, sig: i32) {
    for p in cgroup_pids(path) {
        kill(p, sig);
    }
}

/// True when process `pid`'s environment holds `LUDUS_CLAIM=<token>`.
pub fn has_token(pid: i32, token: &str) -> bool {
    let Ok(mut f) = fs::File::open(format!("/proc/{pid}/environ")) else {
        return false;
    };
    let mut env = Vec::new();
    if f.read_to_end(&mut env).is_err() {
        return false;
    }
    let want = format!("{TOKEN_VAR}={token}");
    env.split(|&b| b == 0).any(|v| v == want.as_bytes())
}

/// Every process of this host whose environment holds `LUDUS_CLAIM=<token>` (live ones).
pub fn pids_with_token(token: &str) -> Vec<i32> {
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&p| has_token(p, token) && proc_start(p).is_some())
        .collect()
}
