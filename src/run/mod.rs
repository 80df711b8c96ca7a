//! Runs one instance: the agent-MDP interaction loop, exact regret bookkeeping, periodic log
//! rows, early stop and the time-limit freeze. It never touches files: rows go to a `LogSink`.

use std::io;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::model::Registry;
use crate::plan::Instance;

/// Receives the log of one run: the column names once, then one row per log point.
pub trait LogSink {
    /// The column names, called once before any row.
    fn columns(&mut self, names: &[&str]) -> io::Result<()>;
    /// One row, as many values as columns.
    fn row(&mut self, values: &[f64]) -> io::Result<()>;
}

/// What the executor tells a run about its limits.
pub struct RunControl<'a> {
    /// Learning stops (the policy freezes) once this much wall time has passed; the interaction
    /// still runs to the last step, so the regret stays comparable.
    pub time_limit: Option<Duration>,
    /// A stuck run is ended once this much wall time has passed (outcome `Killed`).
    pub kill_after: Option<Duration>,
    /// Set by SIGINT/SIGTERM: stop as soon as possible (outcome `Interrupted`).
    pub interrupt: &'a AtomicBool,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Every step ran, learning was never cut short by the time limit.
    Done,
    /// The time limit froze learning; every step still ran.
    Timeout,
    /// Ended early by SIGINT/SIGTERM.
    Interrupted,
    /// Ended early by the hard cap (`kill_after`).
    Killed,
}

/// What a run reports besides its rows.
#[derive(Clone, Debug, PartialEq)]
pub struct RunReport {
    /// How it ended.
    pub outcome: Outcome,
    /// Interaction steps completed.
    pub steps_completed: u64,
    /// The step at which the time limit froze learning, if it did.
    pub learning_stopped_at: Option<u64>,
    /// The step at which Colosseum's early-stop rule froze learning, if it did.
    pub early_stopped_at: Option<u64>,
}

/// Errors that stop a run before or while it runs (bad parameters, a failing sink).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The instance names something the registry cannot build.
    #[error("cannot build the instance: {0}")]
    Build(String),
    /// The log sink failed.
    #[error("cannot write the log: {0}")]
    Sink(#[from] io::Error),
}

/// Runs one instance to the end (or until interrupted), sending log rows to `sink`.
pub fn run_instance(
    _instance: &Instance,
    _registry: &Registry,
    _ctl: &RunControl<'_>,
    _sink: &mut dyn LogSink,
) -> Result<RunReport, RunError> {
    Err(RunError::Build(
        "the interaction loop is not built yet".into(),
    ))
}
