//! Starting a program as `posix_spawn` does, with what ludus needs done in the child before
//! `execve`.
//!
//! `std::process::Command` with a `pre_exec` hook forks: the kernel copies every page table of
//! ludus for a child that replaces them a moment later, which was about a third of a worker's
//! time per short program. Here the child shares the parent's memory (`CLONE_VM |
//! CLONE_VFORK`, the parent thread waits until the child has called `execve` or exited) and
//! runs on a stack of its own; it only makes system calls on data the parent prepared: every
//! signal it could catch back to its default action (a handler must never run on the parent's
//! memory) and an empty signal mask, its own process group, `PR_SET_PDEATHSIG`, stdin, stdout
//! and stderr, the working folder, the cgroup to join, then `execve` (and, as `execvp` does,
//! `/bin/sh` for an executable file without a `#!` line). A failure before `execve` is written
//! into the shared memory and becomes an error of [`spawn`].
//!
//! The program's first word is looked up on `PATH` once per word, folder and `PATH` (as
//! `execvp` would, relative entries against the working folder), not by trying each folder in
//! every child.

use std::collections::HashMap;
use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, OnceLock};

/// The child's stack: it calls a few system calls, nothing deep.
const CHILD_STACK: usize = 64 * 1024;

/// What to start.
#[derive(Debug)]
pub struct Request<'a> {
    /// The command: the program's word, then its arguments.
    pub argv: &'a [String],
    /// Variables set on top of this process's environment.
    pub env: &'a [(OsString, OsString)],
    /// The working folder.
    pub cwd: &'a Path,
    /// An open `cgroup.procs` the child joins (writes itself into) before `execve`.
    pub cgroup_procs: Option<RawFd>,
}

/// A started program: its pid (it leads its own process group) and the read ends of its
/// stdout and stderr. The caller reaps it.
#[derive(Debug)]
pub struct Spawned {
    /// Process id.
    pub pid: libc::pid_t,
    /// Its stdout.
    pub stdout: File,
    /// Its stderr.
    pub stderr: File,
}

/// Where the child failed before `execve` (or `execve` itself).
const STAGES: [&str; 6] = [
    "",
    "cannot start its process group",
    "cannot connect its stdin, stdout and stderr",
    "cannot enter the working folder",
    "cannot join the instance's cgroup",
    "",
];
const STAGE_EXEC: i32 = 5;

/// Everything the child reads, prepared by the parent (the child must not allocate).
struct ChildArgs {
    path: *const libc::c_char,
    argv: *const *const libc::c_char,
    sh_argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    cwd: *const libc::c_char,
    fds: [RawFd; 3],
    procs: RawFd,
    stage: AtomicI32,
    errno: AtomicI32,
}

fn cstring(b: &[u8]) -> io::Result<CString> {
    CString::new(b).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte"))
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array we own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are fresh and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The file `execve` should run for `word` in `cwd`: a word with a `/` as it is (relative to
/// `cwd`), any other on `PATH` (an empty or relative entry against `cwd`), cached.
pub fn resolve(word: &str, cwd: &Path) -> io::Result<PathBuf> {
    if word.contains('/') {
        return Ok(PathBuf::from(word));
    }
    let path_var = std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/bin:/usr/bin"));
    type Key = (String, PathBuf, OsString);
    static CACHE: OnceLock<Mutex<HashMap<Key, PathBuf>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (word.to_string(), cwd.to_path_buf(), path_var);
    if let Some(p) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(p.clone());
    }
    let mut denied = false;
    for dir in std::env::split_paths(&key.2) {
        let candidate = dir.join(word);
        let on_disk = cwd.join(&candidate);
        let Ok(meta) = std::fs::metadata(&on_disk) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let Ok(c) = cstring(on_disk.as_os_str().as_bytes()) else {
            continue;
        };
        // SAFETY: access reads the NUL-terminated path we own.
        if unsafe { libc::access(c.as_ptr(), libc::X_OK) } != 0 {
            denied = true;
            continue;
        }
        cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, candidate.clone());
        return Ok(candidate);
    }
    Err(io::Error::from(if denied {
        io::ErrorKind::PermissionDenied
    } else {
        io::ErrorKind::NotFound
    }))
}

/// The program a command's first word runs in `cwd`, as an absolute path with links resolved
/// (for the status file), cached like [`resolve`].
pub fn program_path(word: &str, cwd: &Path) -> Option<String> {
    static CACHE: OnceLock<Mutex<HashMap<(String, PathBuf), String>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (word.to_string(), cwd.to_path_buf());
    if let Some(p) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Some(p.clone());
    }
    let found = cwd.join(resolve(word, cwd).ok()?);
    if !found.is_file() {
        return None;
    }
    let p = std::fs::canonicalize(&found)
        .unwrap_or(found)
        .to_string_lossy()
        .into_owned();
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, p.clone());
    Some(p)
}

/// Starts the program of `req`. The error names the step that failed when it was not
/// `execve` itself.
pub fn spawn(req: &Request<'_>) -> io::Result<Spawned> {
    let Some(word) = req.argv.first() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "an empty command",
        ));
    };
    let path = resolve(word, req.cwd)?;
    let path_c = cstring(path.as_os_str().as_bytes())?;
    let args: Vec<CString> = req
        .argv
        .iter()
        .map(|a| cstring(a.as_bytes()))
        .collect::<io::Result<_>>()?;
    let sh = cstring(b"/bin/sh")?;
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut sh_argv = vec![sh.as_ptr(), path_c.as_ptr()];
    sh_argv.extend(args[1..].iter().map(|a| a.as_ptr()));
    sh_argv.push(std::ptr::null());

    let overridden = |k: &OsStr| req.env.iter().any(|(o, _)| o == k);
    let mut env: Vec<CString> = Vec::new();
    for (k, v) in std::env::vars_os() {
        if !overridden(&k) {
            env.push(cstring(&[k.as_bytes(), b"=", v.as_bytes()].concat())?);
        }
    }
    for (k, v) in req.env {
        env.push(cstring(&[k.as_bytes(), b"=", v.as_bytes()].concat())?);
    }
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    let cwd = cstring(req.cwd.as_os_str().as_bytes())?;

    let stdin = File::open("/dev/null")?;
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let child = ChildArgs {
        path: path_c.as_ptr(),
        argv: argv.as_ptr(),
        sh_argv: sh_argv.as_ptr(),
        envp: envp.as_ptr(),
        cwd: cwd.as_ptr(),
        fds: [stdin.as_raw_fd(), out_w.as_raw_fd(), err_w.as_raw_fd()],
        procs: req.cgroup_procs.unwrap_or(-1),
        stage: AtomicI32::new(0),
        errno: AtomicI32::new(0),
    };
    let mut stack = vec![0u8; CHILD_STACK];
    // SAFETY: the stack grows down from its end, aligned to 16 bytes inside the buffer.
    let top = unsafe { stack.as_mut_ptr().add(CHILD_STACK) } as usize & !15;
    // SAFETY: all signals are blocked around clone so that no handler runs in the child before
    // it has reset them; the child only reads `child` and the buffers it points to, all alive
    // until clone returns (CLONE_VFORK: after the child's execve or exit).
    let pid = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let pid = libc::clone(
            child_main,
            top as *mut libc::c_void,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            &child as *const ChildArgs as *mut libc::c_void,
        );
        let e = io::Error::last_os_error();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        if pid < 0 {
            return Err(e);
        }
        pid
    };
    drop((stdin, out_w, err_w, stack));
    let stage = child.stage.load(Ordering::SeqCst);
    if stage != 0 {
        let errno = child.errno.load(Ordering::SeqCst);
        let mut status = 0;
        // SAFETY: reaps the child that failed before or at execve (it has exited).
        unsafe {
            libc::waitpid(pid, &mut status, 0);
        }
        let e = io::Error::from_raw_os_error(errno);
        return Err(if stage == STAGE_EXEC {
            e
        } else {
            io::Error::new(e.kind(), format!("{}: {e}", STAGES[stage as usize]))
        });
    }
    Ok(Spawned {
        pid,
        stdout: File::from(out_r),
        stderr: File::from(err_r),
    })
}

/// Records where the child failed, with `errno`, and ends it.
fn fail(a: &ChildArgs, stage: i32) -> ! {
    a.errno.store(
        io::Error::last_os_error().raw_os_error().unwrap_or(0),
        Ordering::SeqCst,
    );
    a.stage.store(stage, Ordering::SeqCst);
    // SAFETY: ends the child without running anything of the parent's.
    unsafe { libc::_exit(127) }
}

/// The child, between `clone` and `execve`: system calls only, on what the parent prepared.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the parent's ChildArgs, alive and unchanged while the parent waits.
    let a = unsafe { &*(arg as *const ChildArgs) };
    let fail = |stage: i32| fail(a, stage);
    // SAFETY: system calls on descriptors, strings and arrays the parent prepared.
    unsafe {
        // Default actions for every signal with a handler (and SIGPIPE, which Rust ignores),
        // then the empty mask a new program expects.
        for sig in 1..65 {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) != 0 {
                continue;
            }
            if old.sa_sigaction != libc::SIG_DFL
                && (old.sa_sigaction != libc::SIG_IGN || sig == libc::SIGPIPE)
            {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(sig, &dfl, std::ptr::null_mut());
            }
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        if libc::setpgid(0, 0) != 0 {
            fail(1);
        }
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        for (to, &from) in a.fds.iter().enumerate() {
            if libc::dup2(from, to as RawFd) < 0 {
                fail(2);
            }
        }
        if libc::chdir(a.cwd) != 0 {
            fail(3);
        }
        if a.procs >= 0 && libc::write(a.procs, b"0".as_ptr().cast(), 1) != 1 {
            fail(4);
        }
        libc::execve(a.path, a.argv, a.envp);
        if io::Error::last_os_error().raw_os_error() == Some(libc::ENOEXEC) {
            libc::execve(c"/bin/sh".as_ptr(), a.sh_argv, a.envp);
        }
    }
    fail(STAGE_EXEC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn run(argv: &[&str], cwd: &Path, env: &[(&str, &str)]) -> io::Result<(String, i32)> {
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let env: Vec<(OsString, OsString)> = env
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect();
        let mut s = spawn(&Request {
            argv: &argv,
            env: &env,
            cwd,
            cgroup_procs: None,
        })?;
        let mut out = String::new();
        s.stdout.read_to_string(&mut out)?;
        let mut status = 0;
        // SAFETY: reaps the child we started.
        unsafe { libc::waitpid(s.pid, &mut status, 0) };
        Ok((out, libc::WEXITSTATUS(status)))
    }

    #[test]
    fn runs_in_its_folder_and_group_with_its_environment() {
        let d = tempfile::tempdir().unwrap();
        let (out, code) = run(
            &[
                "sh",
                "-c",
                "pwd; echo $LUDUS_X; ps -o pgid= -p $$; echo $$; exit 3",
            ],
            d.path(),
            &[("LUDUS_X", "x y")],
        )
        .unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], d.path().canonicalize().unwrap().to_str().unwrap());
        assert_eq!(lines[1], "x y");
        assert_eq!(lines[2].trim(), lines[3], "leads its own process group");
        assert_eq!(code, 3);
    }

    #[test]
    fn missing_programs_and_folders_are_errors_naming_the_step() {
        let d = tempfile::tempdir().unwrap();
        let e = run(&["no-such-program-ludus"], d.path(), &[]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        let gone = d.path().join("gone");
        let e = run(&["true"], &gone, &[]).unwrap_err();
        assert!(e.to_string().contains("working folder"), "{e}");
    }

    #[test]
    fn a_script_without_a_shebang_runs_through_sh_and_relative_paths_use_the_folder() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s");
        std::fs::write(&p, "echo plain $1\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        let (out, code) = run(&["./s", "arg"], d.path(), &[]).unwrap();
        assert_eq!((out.as_str(), code), ("plain arg\n", 0));
    }

    #[test]
    fn signals_are_default_and_unblocked_in_the_program() {
        let d = tempfile::tempdir().unwrap();
        // SIGPIPE is ignored in this test process (Rust's runtime): the program gets it back.
        let (out, _) = run(
            &["grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"],
            d.path(),
            &[],
        )
        .unwrap();
        for line in out.lines() {
            let mask = u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap();
            assert_eq!(mask & (1 << (libc::SIGPIPE - 1)), 0, "{line}");
            if line.starts_with("SigBlk") {
                assert_eq!(mask, 0, "{line}");
            }
        }
    }
}
