//! Running one instance and committing its result: the log, then the status, each atomic.
//!
//! The status file is the commit point: an instance is finished exactly when `logs/<id>.json`
//! exists with a final status. A kill before that leaves the instance pending (a half-written
//! log only ever exists under a hidden temporary name), so a re-run finishes it exactly once.

use std::fmt::Write as _;
use std::io::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::ExecOptions;
use super::child::run_child;
use crate::model::Registry;
use crate::plan::{Instance, InstanceKind};
use crate::run::{LogSink, Outcome, RunControl, run_instance};
use crate::store::{Claim, LogWriter, Status, StatusKind, StoreError, hostname, now_rfc3339};

/// The log of a running instance, shared with the watchdog, which commits what is there if the
/// run is stuck past its hard cap.
///
/// A built-in run's rows stream to a hidden temporary file beside the final log (`begin`), so
/// memory stays bounded whatever the horizon (`steps = 1e8, log_every = 1` writes gigabytes);
/// the commit renames it into place. A user's program's converted metrics are kept in memory
/// (`set_csv`): they were read from a file of that size anyway.
#[derive(Default)]
pub struct SharedLog {
    inner: Mutex<LogState>,
}

#[derive(Default)]
struct LogState {
    out: LogOut,
    /// Set by whoever commits the result first (the run, or the watchdog).
    committed: bool,
}

#[derive(Default)]
enum LogOut {
    /// The log text itself.
    #[default]
    None,
    /// The whole log, in memory.
    Memory(String),
    /// Rows written so far, to a temporary file the store renames into place at the commit.
    File(LogWriter),
}

impl SharedLog {
    /// Streams the rows of the claimed instance to a temporary file beside its log.
    pub fn begin(&self, claim: &Claim) -> Result<(), StoreError> {
        let w = claim.log_writer()?;
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).out = LogOut::File(w);
        Ok(())
    }

    /// Commits a result once: writes the log then the status. Returns false when someone else
    /// already did.
    pub fn commit(&self, claim: &Claim, status: &Status) -> Result<bool, StoreError> {
        let mut st = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if st.committed {
            return Ok(false);
        }
        st.committed = true;
        match std::mem::take(&mut st.out) {
            LogOut::None => claim.commit(b"", status)?,
            LogOut::Memory(csv) => claim.commit(csv.as_bytes(), status)?,
            LogOut::File(w) => claim.commit_streamed(w, status)?,
        }
        Ok(true)
    }

    /// Replaces the log text (a user's program's converted metrics).
    pub fn set_csv(&self, csv: String) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).out = LogOut::Memory(csv);
    }

    /// Appends text to the log (nothing once committed: a stuck run's late rows are dropped).
    fn append(&self, text: &str) -> std::io::Result<()> {
        let mut st = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if st.committed {
            return Ok(());
        }
        match &mut st.out {
            LogOut::File(w) => w.write_all(text.as_bytes()),
            LogOut::Memory(csv) => {
                csv.push_str(text);
                Ok(())
            }
            out @ LogOut::None => {
                *out = LogOut::Memory(text.to_string());
                Ok(())
            }
        }
    }
}

struct Sink<'a> {
    log: &'a SharedLog,
    line: String,
}

impl LogSink for Sink<'_> {
    fn columns(&mut self, names: &[&str]) -> std::io::Result<()> {
        self.line.clear();
        self.line.push_str(&names.join(","));
        self.line.push('\n');
        self.log.append(&self.line)
    }

    fn row(&mut self, values: &[f64]) -> std::io::Result<()> {
        self.line.clear();
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.line.push(',');
            }
            // Shortest representation that reads back to the same f64: exact and stable.
            let _ = write!(self.line, "{v}");
        }
        self.line.push('\n');
        self.log.append(&self.line)
    }
}

/// Facts about the process that every status records.
#[derive(Clone, Debug)]
pub struct Origin {
    /// The host name.
    pub host: String,
    /// The MPI rank (0 without MPI).
    pub rank: u32,
}

impl Origin {
    /// This host, rank 0.
    pub fn local() -> Origin {
        Origin {
            host: hostname(),
            rank: 0,
        }
    }
}

/// Builds a status record.
pub fn status_of(
    instance: &Instance,
    kind: StatusKind,
    steps: u64,
    wall: Duration,
    message: Option<String>,
    origin: &Origin,
) -> Status {
    Status {
        id: instance.id(),
        status: kind,
        steps_completed: steps,
        wall_seconds: wall.as_secs_f64(),
        message,
        learning_stopped_at: None,
        early_stopped_at: None,
        ludus_version: env!("CARGO_PKG_VERSION").to_string(),
        host: origin.host.clone(),
        rank: origin.rank,
        finished_at: now_rfc3339(),
        instance: instance.clone(),
        exit_code: None,
        signal: None,
        peak_memory_bytes: None,
        stderr_tail: None,
        code: None,
        program_path: None,
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with no message".to_string()
    }
}

/// Runs one instance and commits its result. Returns the committed status, or `None` when
/// the watchdog committed first. Errors are store errors (the disk), never instance failures.
pub fn run_and_commit(
    claim: &Claim,
    instance: &Instance,
    registry: &Registry,
    log: &Arc<SharedLog>,
    ctl: &RunControl<'_>,
    opts: &ExecOptions,
) -> Result<Option<Status>, StoreError> {
    let origin = &opts.origin;
    let start = Instant::now();
    if let InstanceKind::Exec(exec) = &instance.kind {
        let r = run_child(claim, instance, exec, ctl, &opts.child)?;
        let mut s = status_of(
            instance,
            r.kind.unwrap_or(StatusKind::Error),
            r.rows,
            start.elapsed(),
            r.message,
            origin,
        );
        s.exit_code = r.exit_code;
        s.signal = r.signal;
        s.peak_memory_bytes = r.peak_memory_bytes;
        s.stderr_tail = r.stderr_tail;
        let workdir = match &opts.child.workdir {
            Some(w) => w.clone(),
            None => std::path::PathBuf::from(&exec.workdir_abs),
        };
        s.code = Some(crate::provenance::capture_cached(&workdir));
        s.program_path = exec
            .command
            .first()
            .and_then(|w| crate::provenance::resolve_program(w, &workdir));
        log.set_csv(r.csv);
        return Ok(log.commit(claim, &s)?.then_some(s));
    }
    log.begin(claim)?;
    let mut sink = Sink {
        log,
        line: String::new(),
    };
    let result = catch_unwind(AssertUnwindSafe(|| {
        run_instance(instance, registry, ctl, &mut sink)
    }));
    let wall = start.elapsed();
    let status = match result {
        Ok(Ok(report)) => {
            let (kind, message) = match report.outcome {
                Outcome::Done => (StatusKind::Done, None),
                Outcome::Timeout => (
                    StatusKind::Timeout,
                    Some(format!(
                        "time limit reached: learning stopped at step {}",
                        report.learning_stopped_at.unwrap_or(0)
                    )),
                ),
                Outcome::Interrupted => (
                    StatusKind::Interrupted,
                    Some(format!("interrupted at step {}", report.steps_completed)),
                ),
                Outcome::Killed => (
                    StatusKind::Error,
                    Some(format!(
                        "ended by the hard cap after {:.1} s at step {}",
                        wall.as_secs_f64(),
                        report.steps_completed
                    )),
                ),
            };
            let mut s = status_of(
                instance,
                kind,
                report.steps_completed,
                wall,
                message,
                origin,
            );
            s.learning_stopped_at = report.learning_stopped_at;
            s.early_stopped_at = report.early_stopped_at;
            s
        }
        Ok(Err(e)) => status_of(
            instance,
            StatusKind::Error,
            0,
            wall,
            Some(e.to_string()),
            origin,
        ),
        Err(p) => status_of(
            instance,
            StatusKind::Error,
            0,
            wall,
            Some(format!("panicked: {}", panic_message(p.as_ref()))),
            origin,
        ),
    };
    Ok(log.commit(claim, &status)?.then_some(status))
}
