//! Running a user's program (an `[[experiment]]` instance) as a child process.
//!
//! The program runs without a shell, in its own process group, in its working folder, and
//! learns about itself from `LUDUS_*` environment variables. One poll loop on the worker's own
//! thread reads its stdout and stderr (keeping a size-capped tail of each), watches the time
//! limit, the hard cap and the interrupt flag, and notices the exit: at a limit the whole
//! process group gets SIGTERM, then SIGKILL after the grace period. When the program ends,
//! whatever it left running in its group is killed, it is reaped with `wait4` (exit code or
//! signal, peak memory) and its metric rows become the standard log CSV. Everything it
//! started, whatever its process group, is contained and ended with it (see `contain`).

use std::ffi::OsString;
use std::fs;
use std::io::{ErrorKind, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::contain::{self, Mode};
use super::{metrics, spawn};
use crate::plan::command::{render, value_text};
use crate::plan::{ExecSpec, Instance};
use crate::run::RunControl;
use crate::store::leftovers::proc_start;
use crate::store::leftovers::{TOKEN_VAR, signal_cgroup};
use crate::store::{Claim, Started, StatusKind, StoreError, atomic_write};

/// How long ludus waits, after its program was killed by a signal, for its own interrupt to
/// show (a signal sent to the whole job reaches ludus too; its handler notes it within
/// milliseconds).
const SIGNAL_ALONG: Duration = Duration::from_millis(500);

/// stdout and stderr keep at most this many bytes each: the tail.
pub const OUTPUT_CAP: usize = 1 << 20;
/// The status keeps this many last lines of stderr.
const STDERR_TAIL_LINES: usize = 20;

/// How to run users' programs.
#[derive(Clone, Debug)]
pub struct ChildOptions {
    /// Time between SIGTERM and SIGKILL at a limit or an interrupt.
    pub grace: Duration,
    /// Run every program in this folder instead of the one recorded at plan time.
    pub workdir: Option<PathBuf>,
    /// `run-instances --gpus`: each program gets one GPU of the pool in `CUDA_VISIBLE_DEVICES`.
    pub gpus: Option<std::sync::Arc<super::gpu::GpuPool>>,
}

impl Default for ChildOptions {
    fn default() -> Self {
        ChildOptions {
            grace: Duration::from_secs(30),
            workdir: None,
            gpus: None,
        }
    }
}

/// How a program ended, ready for its status file; `csv` is its converted log.
#[derive(Clone, Debug, Default)]
pub struct ChildResult {
    /// The status.
    pub kind: Option<StatusKind>,
    /// Why it is not `done`.
    pub message: Option<String>,
    /// Its exit code, when it exited.
    pub exit_code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    /// Peak resident memory in bytes.
    pub peak_memory_bytes: Option<u64>,
    /// The last lines of its stderr.
    pub stderr_tail: Option<String>,
    /// The log CSV.
    pub csv: String,
    /// Rows in the log.
    pub rows: u64,
}

impl ChildResult {
    fn failed(message: String) -> ChildResult {
        ChildResult {
            kind: Some(StatusKind::Error),
            message: Some(message),
            ..ChildResult::default()
        }
    }
}

/// The tail of an output stream, at most `OUTPUT_CAP` bytes.
#[derive(Default)]
struct Tail {
    buf: Vec<u8>,
    dropped: u64,
}

impl Tail {
    fn push(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
        if self.buf.len() > 2 * OUTPUT_CAP {
            let cut = self.buf.len() - OUTPUT_CAP;
            self.buf.drain(..cut);
            self.dropped += cut as u64;
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.buf.len() > OUTPUT_CAP {
            let cut = self.buf.len() - OUTPUT_CAP;
            self.buf.drain(..cut);
            self.dropped += cut as u64;
        }
        if self.dropped == 0 {
            return self.buf;
        }
        let mut out = format!("[ludus: {} earlier bytes left out]\n", self.dropped).into_bytes();
        out.extend_from_slice(&self.buf);
        out
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

fn set_nonblocking(fd: i32) {
    // SAFETY: fcntl on a pipe descriptor we own; failure only leaves it blocking.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}

/// Reads what is available; returns false at end of stream.
fn drain(r: &mut impl Read, tail: &mut Tail, buf: &mut [u8]) -> bool {
    loop {
        match r.read(buf) {
            Ok(0) => return false,
            Ok(n) => tail.push(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
}

/// True once the child has exited; it stays a zombie (not reaped), so its process group id
/// cannot be reused before we have killed what is left in the group.
fn has_exited(pid: libc::pid_t) -> bool {
    // SAFETY: waitid writes into a zeroed siginfo_t we own.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        r == 0 && info.si_pid() != 0
    }
}

/// A descriptor that becomes readable when the child exits (Linux 5.3+), so the wait loop
/// sleeps in `poll` until exactly then instead of napping; None on older kernels, where the
/// loop naps.
fn exit_fd(pid: libc::pid_t) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1; the pid is
    // our own un-reaped child, so it cannot name another process.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    (fd >= 0).then(|| {
        // SAFETY: the descriptor was just returned to us and is owned by nobody else.
        unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
    })
}

fn kill_group(pid: libc::pid_t, sig: i32) {
    // SAFETY: sends a signal to the process group the child leads; no memory is touched.
    unsafe {
        libc::kill(-pid, sig);
    }
}

/// Reaps the child: (exit code, signal, peak memory in bytes).
fn reap(pid: libc::pid_t) -> (Option<i32>, Option<i32>, Option<u64>) {
    let mut status = 0;
    // SAFETY: wait4 writes into a status int and a zeroed rusage we own.
    let (r, ru) = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        let r = loop {
            let r = libc::wait4(pid, &mut status, 0, &mut ru);
            if r >= 0 || std::io::Error::last_os_error().kind() != ErrorKind::Interrupted {
                break r;
            }
        };
        (r, ru)
    };
    if r < 0 {
        return (None, None, None);
    }
    let mem = Some(ru.ru_maxrss.max(0) as u64 * 1024);
    if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None, mem)
    } else if libc::WIFSIGNALED(status) {
        (None, Some(libc::WTERMSIG(status)), mem)
    } else {
        (None, None, mem)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Stop {
    Timeout,
    Cap,
    Interrupt,
}

fn write_output(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    if bytes.is_empty() {
        let _ = fs::remove_file(path);
        Ok(())
    } else {
        atomic_write(path, bytes)
    }
}

/// Runs one `[[experiment]]` instance to its end. Errors are the disk's; everything the
/// program does wrong is a result.
pub fn run_child(
    claim: &Claim,
    instance: &Instance,
    exec: &ExecSpec,
    ctl: &RunControl<'_>,
    opts: &ChildOptions,
) -> Result<ChildResult, StoreError> {
    let id = instance.id();
    let id_text = id.to_string();
    // The program runs elsewhere: every path it is given is absolute.
    let dir = claim.experiment().absolute();
    let run_dir = dir.run_dir(id);
    fs::create_dir_all(&run_dir).map_err(|e| StoreError::io(&run_dir, e))?;
    // One parameters file per configuration, shared by its seeds: creating files is most of
    // the cost of a short program on some file systems.
    let params_json = serde_json::to_vec_pretty(&exec.params).unwrap_or_default();
    let params_path = dir.params_path(&blake3::hash(&params_json).to_hex()[..16]);
    if !params_path.is_file() {
        if let Some(p) = params_path.parent() {
            fs::create_dir_all(p).map_err(|e| StoreError::io(p, e))?;
        }
        atomic_write(&params_path, &params_json)?;
    }
    let metrics_path = dir.metrics_path(id);

    let workdir = match &opts.workdir {
        Some(w) => w.clone(),
        None => PathBuf::from(&exec.workdir_abs),
    };
    if !workdir.is_dir() {
        return Ok(ChildResult::failed(format!(
            "the working folder {} does not exist on this host{}; pass `run-instances --workdir DIR` to run the program elsewhere",
            workdir.display(),
            if opts.workdir.is_some() {
                " (given by --workdir)"
            } else {
                " (resolved at plan time)"
            }
        )));
    }
    let argv = match render(&exec.command, &exec.params, instance.seed, &id_text) {
        Ok(a) if !a.is_empty() => a,
        Ok(_) => return Ok(ChildResult::failed("the command is empty".into())),
        Err(m) => return Ok(ChildResult::failed(m)),
    };

    let mut env: Vec<(OsString, OsString)> = vec![
        ("LUDUS_INSTANCE_ID".into(), id_text.clone().into()),
        ("LUDUS_EXPERIMENT".into(), exec.name.clone().into()),
        ("LUDUS_SEED".into(), instance.seed.to_string().into()),
        ("LUDUS_PARAMS".into(), params_path.clone().into()),
        ("LUDUS_RUN_DIR".into(), run_dir.clone().into()),
        ("LUDUS_METRICS".into(), metrics_path.clone().into()),
    ];
    for (k, v) in &exec.params {
        env.push((crate::spec::param_env_name(k).into(), value_text(v).into()));
    }
    // Held until this function returns, i.e. until the program has ended.
    let _gpu = opts.gpus.as_ref().map(|pool| pool.acquire());
    if let Some(g) = &_gpu {
        env.push(("CUDA_VISIBLE_DEVICES".into(), g.id().into()));
    }
    // Containment (see `contain`): every process of the program carries the token, and joins
    // the instance's cgroup where there is one; both are in the claim before the program runs.
    let me = crate::store::claim::Owner::me();
    let token = format!("{}.{}.{}.{id_text}", me.host, me.pid, me.start);
    env.push((TOKEN_VAR.into(), token.clone().into()));
    let cgroup = match contain::in_use() {
        Mode::Cgroup(parent) => contain::take_cgroup(parent),
        Mode::Subreaper => None,
    };
    let mut records = vec![Started::Token(token.clone())];
    records.extend(cgroup.clone().map(Started::Cgroup));
    claim.record(&records)?;
    let procs = match &cgroup {
        Some(cg) => {
            let p = cg.join("cgroup.procs");
            Some(
                fs::OpenOptions::new()
                    .write(true)
                    .open(&p)
                    .map_err(|e| StoreError::io(&p, e))?,
            )
        }
        None => None,
    };
    // The program is killed when the thread that started it dies (its own processes by the
    // next run, from the claim), and it joins its cgroup before it can start anything (see
    // `spawn`).
    let mut mains = cgroup.is_none().then(contain::lock_mains);
    let spawned = spawn::spawn(&spawn::Request {
        argv: &argv,
        env: &env,
        cwd: &workdir,
        cgroup_procs: procs.as_ref().map(|f| f.as_raw_fd()),
    });
    if let (Some(m), Ok(c)) = (mains.as_mut(), &spawned) {
        m.insert(c.pid);
    }
    drop(mains);
    drop(procs);
    let child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let why = match e.kind() {
                ErrorKind::NotFound if e.get_ref().is_none() => "not found (is it installed and on PATH, or is the path relative to the workdir right?)".to_string(),
                ErrorKind::PermissionDenied if e.get_ref().is_none() => "permission denied (is it executable?)".to_string(),
                _ => e.to_string(),
            };
            return Ok(ChildResult::failed(format!(
                "cannot start `{}` in {}: {why}",
                argv[0],
                workdir.display()
            )));
        }
    };
    let pid = child.pid;
    if cgroup.is_none()
        && let Some(start) = proc_start(pid)
    {
        claim.record(&[Started::Process { pid, start }])?;
    }
    // Every process of the program: its group, its cgroup or its tree and token-marked orphans.
    let signal_all = |sig: i32| {
        kill_group(pid, sig);
        match &cgroup {
            Some(cg) => signal_cgroup(cg, sig),
            None => contain::signal_program(pid, &token, sig),
        }
    };
    let start = Instant::now();
    let mut out = Some(child.stdout);
    let mut err = Some(child.stderr);
    for fd in out
        .iter()
        .map(|o| o.as_raw_fd())
        .chain(err.iter().map(|e| e.as_raw_fd()))
    {
        set_nonblocking(fd);
    }
    let (mut out_tail, mut err_tail) = (Tail::default(), Tail::default());
    let mut buf = vec![0u8; 64 * 1024];
    let limit = ctl.time_limit.map(|t| (start + t, Stop::Timeout));
    let cap = ctl.kill_after.map(|t| (start + t, Stop::Cap));
    let mut stop: Option<(Stop, Instant)> = None;
    let mut killed = false;
    let mut idle_sleep = Duration::from_micros(50);
    let exited = exit_fd(pid);
    loop {
        if has_exited(pid) {
            break;
        }
        let now = Instant::now();
        match stop {
            None => {
                let reason = if ctl.interrupt.load(Ordering::Relaxed) {
                    Some(Stop::Interrupt)
                } else {
                    [limit, cap]
                        .into_iter()
                        .flatten()
                        .filter(|(t, _)| now >= *t)
                        .map(|(_, r)| r)
                        .next()
                };
                if let Some(r) = reason {
                    signal_all(libc::SIGTERM);
                    stop = Some((r, now));
                }
            }
            Some((_, at)) if !killed && now >= at + opts.grace => {
                signal_all(libc::SIGKILL);
                killed = true;
            }
            Some(_) => {}
        }
        // Wake at the next deadline, and at least every 100 ms for the interrupt flag.
        let mut wait = Duration::from_millis(100);
        for t in [
            limit.map(|l| l.0),
            cap.map(|c| c.0),
            stop.map(|s| s.1 + opts.grace),
        ]
        .into_iter()
        .flatten()
        {
            wait = wait.min(t.saturating_duration_since(now));
        }
        let mut fds: Vec<libc::pollfd> = out
            .iter()
            .map(|o| o.as_raw_fd())
            .chain(err.iter().map(|e| e.as_raw_fd()))
            .chain(exited.iter().map(|e| e.as_raw_fd()))
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        if fds.is_empty() {
            // The program closed its output: check its exit with a growing nap.
            std::thread::sleep(idle_sleep.min(wait));
            idle_sleep = (idle_sleep * 2).min(Duration::from_millis(20));
            continue;
        }
        // SAFETY: poll reads and writes the pollfd array we own, of the length we pass.
        let n = unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                wait.as_millis().max(1) as i32,
            )
        };
        if n <= 0 {
            continue;
        }
        if let Some(o) = out.as_mut()
            && !drain(o, &mut out_tail, &mut buf)
        {
            out = None;
        }
        if let Some(e) = err.as_mut()
            && !drain(e, &mut err_tail, &mut buf)
        {
            err = None;
        }
    }
    // Nothing the program started outlives it.
    kill_group(pid, libc::SIGKILL);
    if cgroup.is_none() {
        contain::signal_program(pid, &token, libc::SIGKILL);
    }
    if let Some(o) = out.as_mut() {
        drain(o, &mut out_tail, &mut buf);
    }
    if let Some(e) = err.as_mut() {
        drain(e, &mut err_tail, &mut buf);
    }
    let (exit_code, signal, peak_memory_bytes) = reap(pid);
    // A SLURM time limit, scancel or a node shutdown signals every process of the job at once:
    // the program may die of that SIGTERM before this loop saw ludus's own. A program killed by
    // a signal while ludus is being interrupted was interrupted, not broken: wait a moment for
    // ludus's signal to be noted.
    if stop.is_none()
        && matches!(
            signal,
            Some(libc::SIGTERM | libc::SIGINT | libc::SIGHUP | libc::SIGKILL)
        )
    {
        let until = Instant::now() + SIGNAL_ALONG;
        while !ctl.interrupt.load(Ordering::Relaxed) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        if ctl.interrupt.load(Ordering::Relaxed) {
            stop = Some((Stop::Interrupt, Instant::now()));
        }
    }
    contain::remove_main(pid);
    match cgroup {
        Some(cg) => contain::end_cgroup(cg),
        None => contain::end_orphans(&token),
    }
    let wall = start.elapsed();

    let stdout = out_tail.finish();
    let stderr = err_tail.finish();
    write_output(&dir.stdout_path(id), &stdout)?;
    write_output(&dir.stderr_path(id), &stderr)?;
    let stderr_text = String::from_utf8_lossy(&stderr);
    let lines: Vec<&str> = stderr_text.lines().collect();
    let stderr_tail = (!lines.is_empty())
        .then(|| lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join("\n"));
    let last_err = lines.last().map(|l| format!(": {l}")).unwrap_or_default();

    let (mut kind, mut message) = match (stop, exit_code, signal) {
        (Some((Stop::Interrupt, _)), _, _) => (
            StatusKind::Interrupted,
            Some("interrupted: the program got SIGTERM".to_string()),
        ),
        (Some((Stop::Timeout, _)), _, _) => (
            StatusKind::Timeout,
            Some(format!(
                "time limit of {:.1} s reached: SIGTERM{} to the program's process group",
                ctl.time_limit.unwrap_or_default().as_secs_f64(),
                if killed {
                    format!(", SIGKILL {:.0} s later", opts.grace.as_secs_f64())
                } else {
                    String::new()
                }
            )),
        ),
        (Some((Stop::Cap, _)), _, _) => (
            StatusKind::Error,
            Some(format!(
                "ended by the hard cap after {:.1} s",
                wall.as_secs_f64()
            )),
        ),
        (None, Some(0), _) => (StatusKind::Done, None),
        (None, Some(c), _) => (
            StatusKind::Error,
            Some(format!("the program exited with code {c}{last_err}")),
        ),
        (None, _, Some(s)) => (
            StatusKind::Error,
            Some(format!(
                "the program was killed by signal {s} ({}){last_err}",
                signal_name(s)
            )),
        ),
        (None, None, None) => (
            StatusKind::Error,
            Some("the program's end could not be read".into()),
        ),
    };

    // Only a regular file (a program could leave a FIFO there), at most 4 GiB.
    let text = match crate::regular::read(&metrics_path, 4 << 30) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if e.kind() == ErrorKind::NotFound => String::new(),
        Err(e) => return Err(StoreError::io(&metrics_path, e)),
    };
    let converted = match metrics::to_csv(&text, kind != StatusKind::Done) {
        Ok(c) => c,
        Err((e, c)) => {
            if kind.is_success() {
                kind = StatusKind::Error;
                message = Some(format!(
                    "unreadable metrics in {} {e}",
                    metrics_path.display()
                ));
            }
            c
        }
    };
    Ok(ChildResult {
        kind: Some(kind),
        message,
        exit_code,
        signal,
        peak_memory_bytes,
        stderr_tail,
        csv: converted.csv,
        rows: converted.rows as u64,
    })
}
