//! What the SSH and SLURM verbs show on the terminal: the transfer progress (indicatif on a
//! terminal, plain lines otherwise), the passphrase prompt, and a watched job's progress and
//! closing summary.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{EXIT_FAILED, EXIT_OK};
use crate::remote::{Connection, Progress, Prompt};
use crate::slurm::{QueueSnapshot, RemoteCounts, WatchEvent, WatchOptions, watch};
use crate::store::submissions::{Attempt, Submission};
use crate::store::{ExperimentDir, now_rfc3339};

/// A byte count in binary units (`3.4 MiB`).
pub(super) fn human_bytes(b: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// A bar (files and bytes, rate) on a terminal; a start line otherwise.
pub(super) struct CliProgress {
    verb: &'static str,
    bar: Option<ProgressBar>,
    tty: bool,
    files_total: u64,
    files_done: u64,
}

impl CliProgress {
    pub(super) fn new(verb: &'static str) -> CliProgress {
        CliProgress {
            verb,
            bar: None,
            tty: std::io::stderr().is_terminal(),
            files_total: 0,
            files_done: 0,
        }
    }
}

impl Progress for CliProgress {
    fn stage(&mut self, what: &str) {
        if self.tty {
            eprintln!("{}: {what}...", self.verb);
        }
    }

    fn start(&mut self, files: u64, bytes: u64) {
        self.files_total = files;
        if !self.tty {
            eprintln!(
                "{}: {files} files, {} to send",
                self.verb,
                human_bytes(bytes)
            );
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(bytes), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{spinner} [{bar:30}] {msg} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .map(|s| s.progress_chars("=> "));
        if let Ok(style) = style {
            bar.set_style(style);
        }
        bar.set_message(format!("0/{files} files"));
        bar.enable_steady_tick(Duration::from_millis(200));
        self.bar = Some(bar);
    }

    fn file_done(&mut self, bytes: u64) {
        self.files_done += 1;
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
            bar.set_message(format!("{}/{} files", self.files_done, self.files_total));
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// Asks for a passphrase on the terminal, without echo; `None` in batch mode.
pub(super) struct TtyPrompt;

impl Prompt for TtyPrompt {
    fn passphrase(&mut self, key: &Path) -> Option<String> {
        if !std::io::stdin().is_terminal() {
            return None;
        }
        let mut tty = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .ok()?;
        let _ = write!(tty, "Enter passphrase for key {}: ", key.display());
        let _ = tty.flush();
        let line = read_no_echo(&tty);
        let _ = writeln!(tty);
        line
    }
}

fn read_no_echo(tty: &std::fs::File) -> Option<String> {
    use std::io::BufRead;
    use std::os::fd::AsRawFd;
    let fd = tty.as_raw_fd();
    // SAFETY: plain termios calls on an open descriptor; the old settings are restored below.
    let mut old: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut old) } != 0 {
        return None;
    }
    let mut quiet = old;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    // SAFETY: as above.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    let mut line = String::new();
    let r = std::io::BufReader::new(tty).read_line(&mut line);
    // SAFETY: restores the settings read above.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &old) };
    r.ok()?;
    Some(line.trim_end_matches(['\n', '\r']).to_string())
}

/// Follows `sub`'s job until it leaves the queue (the library polls; this displays), prints the
/// summary and returns the exit code `run-instances` would give.
pub(super) fn follow_job(
    conn: &Connection,
    local: &ExperimentDir,
    sub: &Submission,
    opts: &WatchOptions,
) -> anyhow::Result<ExitCode> {
    let mut display = Display::new(sub);
    let result = watch(conn, local, sub, opts, |ev| match ev {
        WatchEvent::Poll { queue, counts } => display.show(queue, counts),
        WatchEvent::Attempt(a) => display.attempt(a),
        WatchEvent::Start { .. } => {}
    });
    display.finish();
    let end = result?;
    let (snap, counts) = (&end.queue, &end.counts);
    eprintln!(
        "ludus: job {} left the queue: {} tasks finished{}; {} instances: {} done, {} timeout, {} error, {} interrupted, {} pending",
        display.job,
        snap.finished,
        if end.accounting {
            format!(" ({} failed)", snap.failed)
        } else {
            String::new()
        },
        counts.total,
        counts.done,
        counts.timeout,
        counts.error,
        counts.interrupted,
        counts.pending,
    );
    let unfinished = end.unfinished();
    if unfinished > 0 {
        eprintln!(
            "ludus: {unfinished} instances are not finished; `ludus resubmit {}` submits exactly those{}",
            local.root().display(),
            if counts.error > 0 {
                " (add --retry-errors to include errors)"
            } else {
                ""
            }
        );
        return Ok(ExitCode::from(EXIT_FAILED));
    }
    Ok(ExitCode::from(EXIT_OK))
}

/// A bar on a terminal, a plain line per change otherwise.
struct Display {
    bar: Option<ProgressBar>,
    job: String,
    tasks: u32,
    last: String,
}

impl Display {
    fn new(sub: &Submission) -> Display {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::new(0);
            b.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{wide_bar}] {pos}/{len} instances finished {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b.enable_steady_tick(Duration::from_millis(500));
            b
        });
        Display {
            bar,
            job: sub.job_id.clone(),
            tasks: sub.tasks,
            last: String::new(),
        }
    }

    fn show(&mut self, s: &QueueSnapshot, c: &RemoteCounts) {
        let failed = if s.failed > 0 {
            format!(" ({} failed)", s.failed)
        } else {
            String::new()
        };
        let tasks = format!(
            "job {}: {} tasks pending, {} running, {} finished{failed}",
            self.job, s.pending, s.running, s.finished
        );
        let done = c.finished() + c.error;
        match &self.bar {
            Some(b) => {
                b.set_length(c.total as u64);
                b.set_position(done as u64);
                b.set_message(tasks);
            }
            None => {
                let line = format!(
                    "{tasks} of {}; instances {done}/{} finished ({} error, {} interrupted)",
                    self.tasks, c.total, c.error, c.interrupted
                );
                if line != self.last {
                    eprintln!("{} watch: {line}", now_rfc3339());
                    self.last = line;
                }
            }
        }
    }

    /// An attempt of `--retries`: later polls are about its job.
    fn attempt(&mut self, a: &Attempt) {
        self.job = a.job_id.clone();
        self.tasks = a.tasks;
        let line = format!(
            "attempt {}: job {}, {} instances in {} array tasks{}",
            a.attempt,
            a.job_id,
            a.instances,
            a.tasks,
            a.requeue_job
                .as_ref()
                .map(|f| format!(" (follow-up job {f})"))
                .unwrap_or_default()
        );
        match &self.bar {
            Some(b) => b.println(line),
            None => eprintln!("{} watch: {line}", now_rfc3339()),
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
