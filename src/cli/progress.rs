//! Progress for long runs: an indicatif bar on a terminal, plain time-stamped lines otherwise
//! (batch logs must stay readable), and the one-line summary.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::exec::{ExecEvent, ExecStats};
use crate::store::{StatusKind, now_rfc3339};

/// How to show progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// A bar on a terminal, plain lines otherwise.
    Auto,
    /// Always a bar.
    Bar,
    /// Plain lines every few seconds.
    Plain,
    /// Nothing but errors and the summary.
    None,
}

/// Shows run events to a person.
pub struct Progress {
    bar: Option<ProgressBar>,
    plain: bool,
    every: Duration,
    last: Instant,
    start: Instant,
    total: u64,
    finished: u64,
    errors_shown: usize,
    stats: ExecStats,
}

const MAX_ERRORS_SHOWN: usize = 20;

impl Progress {
    /// A display in the given mode, printing plain lines every `every`.
    pub fn new(mode: ProgressMode, every: Duration) -> Progress {
        let tty = std::io::stderr().is_terminal();
        let (bar, plain) = match mode {
            ProgressMode::Auto if tty => (true, false),
            ProgressMode::Auto => (false, true),
            ProgressMode::Bar => (true, false),
            ProgressMode::Plain => (false, true),
            ProgressMode::None => (false, false),
        };
        let bar = bar.then(|| {
            let b = ProgressBar::new(0);
            b.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{wide_bar}] {pos}/{len} instances {per_sec} ETA {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b
        });
        Progress {
            bar,
            plain,
            every,
            last: Instant::now(),
            start: Instant::now(),
            total: 0,
            finished: 0,
            errors_shown: 0,
            stats: ExecStats::default(),
        }
    }

    fn say(&self, line: &str) {
        match &self.bar {
            Some(b) => b.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// Takes one event.
    pub fn on_event(&mut self, ev: &ExecEvent) {
        self.stats.count(ev);
        match ev {
            ExecEvent::Start {
                selected, skipped, ..
            } => {
                self.total = (selected - skipped) as u64;
                if let Some(b) = &self.bar {
                    b.set_length(self.total);
                }
                if self.plain || self.bar.is_some() {
                    self.say(&format!(
                        "{} run-instances: {selected} selected, {skipped} already finished, {} to run",
                        now_rfc3339(),
                        self.total
                    ));
                }
            }
            ExecEvent::Finished {
                label,
                status,
                message,
                id,
                ..
            } => {
                self.finished += 1;
                if matches!(status, StatusKind::Error) && self.errors_shown < MAX_ERRORS_SHOWN {
                    self.errors_shown += 1;
                    self.say(&format!(
                        "error: {id} ({label}): {}",
                        message.as_deref().unwrap_or("failed")
                    ));
                    if self.errors_shown == MAX_ERRORS_SHOWN {
                        self.say("(further errors are not shown here; `ludus status --json` and logs/<id>.json have them all)");
                    }
                }
            }
            ExecEvent::Elsewhere { .. } => self.finished += 1,
            ExecEvent::Failed { id, error } => {
                self.finished += 1;
                if self.errors_shown < MAX_ERRORS_SHOWN {
                    self.errors_shown += 1;
                    self.say(&format!("error: {id}: could not run: {error}"));
                }
            }
        }
        if let Some(b) = &self.bar {
            b.set_position(self.finished);
            let (e, t) = (self.stats.error + self.stats.failed, self.stats.timeout);
            if e + t > 0 {
                b.set_message(format!("({e} errors, {t} timeouts)"));
            }
        }
        if self.plain && self.last.elapsed() >= self.every {
            self.last = Instant::now();
            let secs = self.start.elapsed().as_secs_f64().max(1e-9);
            let rate = self.finished as f64 / secs;
            let left = self.total.saturating_sub(self.finished);
            let eta = if rate > 0.0 {
                left as f64 / rate
            } else {
                f64::NAN
            };
            eprintln!(
                "{} run-instances: {}/{} finished ({} errors, {} timeouts), {:.1}/s, ETA {:.0} s",
                now_rfc3339(),
                self.finished,
                self.total,
                self.stats.error + self.stats.failed,
                self.stats.timeout,
                rate,
                eta
            );
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// The one-line summary of a run.
pub fn summary(s: &ExecStats) -> String {
    let secs = s.wall.as_secs_f64();
    let rate = if secs > 0.0 {
        s.ran() as f64 / secs
    } else {
        0.0
    };
    let mut line = format!(
        "ludus: {} selected: {} done, {} skipped, {} timeout, {} error, {} interrupted",
        s.selected, s.done, s.skipped, s.timeout, s.error, s.interrupted
    );
    if s.failed > 0 {
        line += &format!(", {} unreadable", s.failed);
    }
    if s.skipped_errors > 0 {
        line += &format!(
            " ({} skipped ended in error before: see `ludus status`, rerun with --retry-errors)",
            s.skipped_errors
        );
    }
    if s.elsewhere > 0 {
        line += &format!(
            ", {} left to another process (claimed by it, or finished by it meanwhile)",
            s.elsewhere
        );
    }
    if s.not_started > 0 {
        line += &format!(", {} not started", s.not_started);
    }
    line += &format!(" in {secs:.2} s ({rate:.1} instances/s)");
    line
}
