//! Progress for long runs: an indicatif bar on a terminal, plain time-stamped lines otherwise
//! (batch logs must stay readable), and the one-line summary.
//!
//! Both show the steps of the running instances (the executors report them about once a
//! second, `ExecEvent::Progress`): the bar moves with them, and plain mode prints a heartbeat
//! line every `--progress-every` seconds whether or not an instance finished, plus a line per
//! finished instance. Interrupted instances are not finished: they run again next time.

use std::collections::{HashMap, VecDeque};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::exec::{ExecEvent, ExecStats, RunningInstance};
use crate::plan::InstanceId;
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
    /// When the bar was last updated.
    drawn: Instant,
    start: Instant,
    total: u64,
    errors_shown: usize,
    /// Plain lines for finished instances since the last heartbeat.
    finished_lines: usize,
    stats: ExecStats,
    /// The running instances of each rank, as last reported.
    running: HashMap<u32, Vec<RunningInstance>>,
    /// Steps of each running instance when last seen, for the rate.
    seen: HashMap<InstanceId, u64>,
    /// Per running instance: its running time and steps when its pace was last measured, and
    /// that pace (steps per second), for the ETA.
    paces: HashMap<InstanceId, (Duration, u64, Option<f64>)>,
    /// Steps seen advancing since the start, and when: the rate's window.
    advanced: u64,
    window: VecDeque<(Instant, u64)>,
}

const MAX_ERRORS_SHOWN: usize = 20;
/// Plain mode prints at most this many finished lines between two heartbeats.
const MAX_FINISHED_LINES: usize = 20;
/// The step rate is measured over this much recent time.
const RATE_WINDOW: Duration = Duration::from_secs(10);
/// The shortest stretch of an instance's running time its recent pace is measured over.
const PACE_WINDOW: Duration = Duration::from_secs(10);
/// The bar counts instances in thousandths (running ones count by their fraction of steps).
const BAR_UNIT: f64 = 1000.0;
/// The bar's position and line are updated at most this often.
const BAR_REDRAW: Duration = Duration::from_millis(50);

impl Progress {
    /// A display in the given mode, printing plain heartbeat lines every `every`.
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
                ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b.enable_steady_tick(Duration::from_secs(1));
            b
        });
        let now = Instant::now();
        Progress {
            bar,
            plain,
            every,
            last: now,
            drawn: now,
            start: now,
            total: 0,
            errors_shown: 0,
            finished_lines: 0,
            stats: ExecStats::default(),
            running: HashMap::new(),
            seen: HashMap::new(),
            paces: HashMap::new(),
            advanced: 0,
            window: VecDeque::from([(now, 0)]),
        }
    }

    fn say(&self, line: &str) {
        match &self.bar {
            Some(b) => b.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// Instances with a final status in this run (done, timeout, error) or that could not run;
    /// not interrupted ones.
    fn finished(&self) -> u64 {
        (self.stats.done
            + self.stats.timeout
            + self.stats.error
            + self.stats.failed
            + self.stats.elsewhere) as u64
    }

    fn running(&self) -> impl Iterator<Item = &RunningInstance> {
        self.running.values().flatten()
    }

    /// Finished instances plus the fraction of steps done of each running one.
    fn fraction_done(&self) -> f64 {
        let partial: f64 = self
            .running()
            .filter_map(|r| match (r.steps, r.total_steps) {
                (Some(s), Some(t)) if t > 0 => Some((s as f64 / t as f64).min(1.0)),
                _ => None,
            })
            .sum();
        self.finished() as f64 + partial
    }

    /// Steps per second over the last few seconds.
    fn rate(&self) -> Option<f64> {
        let (t0, a0) = *self.window.front()?;
        let dt = t0.elapsed().as_secs_f64();
        (dt >= 0.5).then(|| (self.advanced - a0) as f64 / dt)
    }

    fn forget(&mut self, id: InstanceId) {
        self.seen.remove(&id);
        self.paces.remove(&id);
        for list in self.running.values_mut() {
            list.retain(|r| r.id != id);
        }
    }

    fn on_progress(&mut self, rank: u32, running: &[RunningInstance]) {
        for r in running {
            if let Some(s) = r.steps {
                let before = self.seen.insert(r.id, s).unwrap_or(0);
                self.advanced += s.saturating_sub(before);
                let pace = self.paces.entry(r.id).or_insert((r.elapsed, s, None));
                let dt = r.elapsed.saturating_sub(pace.0).as_secs_f64();
                if dt >= PACE_WINDOW.as_secs_f64() {
                    *pace = (r.elapsed, s, Some(s.saturating_sub(pace.1) as f64 / dt));
                }
            }
        }
        let now = Instant::now();
        self.window.push_back((now, self.advanced));
        while self.window.len() > 2
            && self
                .window
                .get(1)
                .is_some_and(|(t, _)| now.duration_since(*t) >= RATE_WINDOW)
        {
            self.window.pop_front();
        }
        self.running.insert(rank, running.to_vec());
    }

    /// The state in one line: finished, running and their steps, rate, ETA.
    fn line(&self) -> String {
        let s = &self.stats;
        let mut line = format!("{}/{} finished", self.finished(), self.total);
        let (e, t) = (s.error + s.failed, s.timeout);
        if e + t > 0 {
            line += &format!(" ({e} errors, {t} timeouts)");
        }
        if s.interrupted > 0 {
            line += &format!(", {} interrupted", s.interrupted);
        }
        let running: Vec<&RunningInstance> = self.running().collect();
        line += &format!(", {} running", running.len());
        let steps: u64 = running.iter().filter_map(|r| r.steps).sum();
        let of: Option<u64> = running.iter().map(|r| r.total_steps).sum();
        if running.iter().any(|r| r.steps.is_some()) {
            line += &format!(" at {}", count(steps as f64));
            if let Some(of) = of {
                line += &format!("/{}", count(of as f64));
            }
            line += " steps";
        }
        if let Some(r) = self
            .rate()
            .filter(|_| running.iter().any(|r| r.steps.is_some()))
        {
            line += &format!(", {} steps/s", count(r));
        }
        let overall = eta_seconds(
            self.fraction_done(),
            self.total as f64,
            self.start.elapsed(),
        );
        // The run cannot end before its slowest running instance: a few slow instances at the
        // end would otherwise show an ETA of seconds for minutes of work.
        let left = match (overall, self.slowest_left()) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        line += &format!(", ETA {}", left.map_or_else(|| "-".into(), duration));
        line
    }

    /// The longest time a running instance still needs: its steps left at its recent pace
    /// (over the last [`PACE_WINDOW`] or more of its own running time; since its start until
    /// then). Paces change within a run (short episodes first, a frozen policy after the time
    /// limit), so the recent one. `None` while no running instance has a pace.
    fn slowest_left(&self) -> Option<f64> {
        self.running()
            .filter_map(|r| {
                let (steps, total) = (r.steps?, r.total_steps?);
                let rate = match self.paces.get(&r.id) {
                    Some(&(_, _, Some(rate))) => rate,
                    _ => steps as f64 / r.elapsed.as_secs_f64(),
                };
                (rate > 0.0 && rate.is_finite()).then(|| total.saturating_sub(steps) as f64 / rate)
            })
            .reduce(f64::max)
    }

    /// The running instances, a few of them, for plain lines.
    fn running_detail(&self) -> String {
        const SHOWN: usize = 3;
        let mut all: Vec<&RunningInstance> = self.running().collect();
        all.sort_by_key(|r| std::cmp::Reverse(r.elapsed));
        let mut parts: Vec<String> = all
            .iter()
            .take(SHOWN)
            .map(|r| {
                let mut p = format!("{} ({})", r.id, r.label);
                if let Some(s) = r.steps {
                    p += &format!(" {}", count(s as f64));
                    if let Some(t) = r.total_steps {
                        p += &format!("/{}", count(t as f64));
                    }
                    p += " steps";
                }
                p += &format!(" {}", duration(r.elapsed.as_secs_f64()));
                p
            })
            .collect();
        if all.len() > SHOWN {
            parts.push(format!("{} more", all.len() - SHOWN));
        }
        parts.join("; ")
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
                    b.set_length(((self.total as f64) * BAR_UNIT) as u64);
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
                wall,
            } => {
                self.forget(*id);
                let is_error = matches!(status, StatusKind::Error);
                if is_error && self.errors_shown < MAX_ERRORS_SHOWN {
                    self.errors_shown += 1;
                    self.say(&format!(
                        "error: {id} ({label}): {}",
                        message.as_deref().unwrap_or("failed")
                    ));
                    if self.errors_shown == MAX_ERRORS_SHOWN {
                        self.say("(further errors are not shown here; `ludus status --json` and logs/<id>.json have them all)");
                    }
                } else if self.plain {
                    self.finished_lines += 1;
                    if self.finished_lines <= MAX_FINISHED_LINES {
                        eprintln!(
                            "{} {id} ({label}): {} in {}",
                            now_rfc3339(),
                            status.as_str(),
                            duration(wall.as_secs_f64())
                        );
                    } else if self.finished_lines == MAX_FINISHED_LINES + 1 {
                        eprintln!(
                            "{} (more finished instances; counts in the next progress line)",
                            now_rfc3339()
                        );
                    }
                }
            }
            ExecEvent::Elsewhere { id } => self.forget(*id),
            ExecEvent::Failed { id, error } => {
                self.forget(*id);
                if self.errors_shown < MAX_ERRORS_SHOWN {
                    self.errors_shown += 1;
                    self.say(&format!("error: {id}: could not run: {error}"));
                }
            }
            ExecEvent::Progress { rank, running } => self.on_progress(*rank, running),
        }
        // The bar is updated at most every BAR_REDRAW, so a burst of results (under MPI rank 0
        // receives every rank's) is not formatted once per result.
        if let Some(b) = &self.bar
            && (self.drawn.elapsed() >= BAR_REDRAW || matches!(ev, ExecEvent::Start { .. }))
        {
            b.set_position((self.fraction_done() * BAR_UNIT) as u64);
            b.set_message(self.line());
            self.drawn = Instant::now();
        }
        if self.plain && self.last.elapsed() >= self.every {
            self.last = Instant::now();
            self.finished_lines = 0;
            let mut text = format!("{} run-instances: {}", now_rfc3339(), self.line());
            let detail = self.running_detail();
            if !detail.is_empty() {
                text += &format!("; running: {detail}");
            }
            eprintln!("{text}");
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// A count or rate with 3 significant figures and a k, M or G suffix: `987`, `12.3k`, `1.50M`,
/// `0.250`.
pub fn count(x: f64) -> String {
    if !x.is_finite() {
        return "-".into();
    }
    let (v, suffix) = match x.abs() {
        a if a >= 999.5e6 => (x / 1e9, "G"),
        a if a >= 999.5e3 => (x / 1e6, "M"),
        a if a >= 999.5 => (x / 1e3, "k"),
        _ => (x, ""),
    };
    if x == x.trunc() && suffix.is_empty() {
        return format!("{x:.0}");
    }
    let a = v.abs();
    let decimals = if a >= 99.95 {
        0
    } else if a >= 9.995 {
        1
    } else if a >= 0.9995 {
        2
    } else {
        3
    };
    format!("{v:.decimals$}{suffix}")
}

/// A duration for people: `45s`, `3m 20s`, `2h 05m`, `3d 4h`.
pub fn duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "-".into();
    }
    let s = secs.round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h", s / 86400, (s % 86400) / 3600),
    }
}

/// The time left, in seconds, when `done` of `total` units took `elapsed`; `None` while
/// nothing is known.
fn eta_seconds(done: f64, total: f64, elapsed: Duration) -> Option<f64> {
    let secs = elapsed.as_secs_f64();
    if done <= 0.0 || secs < 1.0 || !done.is_finite() {
        return None;
    }
    Some((total - done).max(0.0) * secs / done)
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
    line += &format!(" in {secs:.2} s ({} instances/s)", count(rate));
    let c = &s.coordination;
    if c.requests > 0 && secs > 0.0 {
        let us = |d: std::time::Duration, n: u64| d.as_secs_f64() * 1e6 / n.max(1) as f64;
        line += &format!(
            "; rank 0 coordination: busy {:.1}% of the run, {} requests at {:.1} us, {} results at {:.2} us",
            100.0 * c.busy.as_secs_f64() / secs,
            c.requests,
            us(c.request_time, c.requests),
            c.results,
            us(c.result_time, c.results),
        );
        if c.progress > 0 {
            line += &format!(
                ", {} progress reports at {:.1} us",
                c.progress,
                us(c.progress_time, c.progress)
            );
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_have_three_significant_figures_and_a_suffix() {
        let cases = [
            (0.0, "0"),
            (7.0, "7"),
            (0.25, "0.250"),
            (3.14659, "3.15"),
            (12.345, "12.3"),
            (987.0, "987"),
            (987.4, "987"),
            (999.7, "1.00k"),
            (1234.0, "1.23k"),
            (12_345.0, "12.3k"),
            (123_456.0, "123k"),
            (1_500_000.0, "1.50M"),
            (2.5e9, "2.50G"),
            (f64::NAN, "-"),
        ];
        for (x, want) in cases {
            assert_eq!(count(x), want, "count({x})");
        }
    }

    #[test]
    fn eta_is_unknown_until_something_is_known() {
        let eta = |done, total, elapsed| eta_seconds(done, total, elapsed).map(duration);
        assert_eq!(eta(0.0, 10.0, Duration::from_secs(100)), None);
        assert_eq!(eta(1.0, 10.0, Duration::from_millis(200)), None);
        // A tenth done in 10 s: 90 s left.
        assert_eq!(eta(1.0, 10.0, Duration::from_secs(10)).unwrap(), "1m 30s");
        assert_eq!(eta(0.5, 1.0, Duration::from_secs(3600)).unwrap(), "1h 00m");
        assert_eq!(eta(10.0, 10.0, Duration::from_secs(5)).unwrap(), "0s");
        assert_eq!(duration(59.4), "59s");
        assert_eq!(duration(90_000.0), "1d 1h");
    }

    #[test]
    fn eta_waits_for_the_slowest_running_instance_at_its_recent_pace() {
        // 79 of 80 finished quickly; the last had done 9,100 of 500,000 steps after 254 s,
        // then ran at 200 steps/s. Seen on continuous_ergodic.toml: the ETA said 11 s.
        let mut p = Progress::new(ProgressMode::None, Duration::from_secs(30));
        p.on_event(&ExecEvent::Start {
            selected: 80,
            skipped: 0,
            skipped_errors: 0,
        });
        p.stats.done = 79;
        let last = |steps, secs| ExecEvent::Progress {
            rank: 0,
            running: vec![RunningInstance {
                id: InstanceId(1),
                label: "ucrl2 on minigrid_rooms, seed 0".into(),
                steps: Some(steps),
                total_steps: Some(500_000),
                elapsed: Duration::from_secs(secs),
            }],
        };
        // Its pace since its start (36 steps/s) until one is measured.
        p.on_event(&last(9_100, 254));
        assert!(p.line().ends_with("ETA 3h 48m"), "{}", p.line());
        p.on_event(&last(10_100, 259));
        assert!(p.line().ends_with("ETA 3h 29m"), "{}", p.line());
        // 10 s later at 200 steps/s: (500,000 - 11,100) / 200 s.
        p.on_event(&last(11_100, 264));
        assert!(p.line().ends_with("ETA 40m 45s"), "{}", p.line());
    }

    #[test]
    fn interrupted_instances_are_not_finished() {
        let mut p = Progress::new(ProgressMode::None, Duration::from_secs(30));
        p.on_event(&ExecEvent::Start {
            selected: 2,
            skipped: 0,
            skipped_errors: 0,
        });
        let id = InstanceId(1);
        p.on_event(&ExecEvent::Progress {
            rank: 0,
            running: vec![RunningInstance {
                id,
                label: "a".into(),
                steps: Some(500),
                total_steps: Some(1000),
                elapsed: Duration::from_secs(2),
            }],
        });
        assert!(
            p.line()
                .starts_with("0/2 finished, 1 running at 500/1.00k steps"),
            "{}",
            p.line()
        );
        p.on_event(&ExecEvent::Finished {
            id,
            label: "a".into(),
            status: StatusKind::Interrupted,
            wall: Duration::from_secs(2),
            message: None,
        });
        assert!(
            p.line()
                .starts_with("0/2 finished, 1 interrupted, 0 running"),
            "{}",
            p.line()
        );
    }
}
