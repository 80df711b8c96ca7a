//! Runs one instance: the agent-MDP interaction loop, exact regret bookkeeping, periodic log
//! rows, early stop and the time-limit freeze. It never touches files: rows go to a `LogSink`.
//!
//! Randomness: the agent draws from `Rng::with_stream(seed, 1)`, the environment (start
//! states, transitions, rewards) from `Rng::with_stream(seed, 2)`, and the MDP's layout from
//! its own `seed` parameter, so the same instance gives the same log on every machine, thread
//! count or rank (apart from the timing column, see [`COLUMNS`]).

mod interaction;
pub mod steps;

pub use interaction::{COLUMNS, LoopConfig, TIMING_COLUMN, run_loop};

use std::io;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::model::registry::check_solution;
use crate::model::solve::solve;
use crate::model::{AgentContext, Registry};
use crate::plan::{Instance, InstanceKind};
use crate::rng::Rng;

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
///
/// Builds the MDP (with its own seed, or the run's when the spec gives none) and solves it
/// exactly, builds the agent with the instance's seed, then runs [`run_loop`]. Parameter errors (which `plan` should have caught)
/// are `RunError::Build`.
pub fn run_instance(
    instance: &Instance,
    registry: &Registry,
    ctl: &RunControl<'_>,
    sink: &mut dyn LogSink,
) -> Result<RunReport, RunError> {
    let InstanceKind::Builtin { agent, mdp } = &instance.kind else {
        return Err(RunError::Build(
            "not a built-in agent-on-MDP instance (programs run through the executor)".into(),
        ));
    };
    let build_err =
        |what: &str, e: crate::model::CheckError| RunError::Build(format!("{what}: {e}"));
    let model = registry
        .build_mdp(
            &mdp.family,
            mdp.episodic,
            &mdp.params_for_run(instance.seed),
        )
        .map_err(|e| build_err(&format!("MDP {}", mdp.family), e))?;
    let sol = solve(&model).map_err(|e| RunError::Build(format!("MDP {}: {e}", mdp.family)))?;
    check_solution(&model, &sol).map_err(|e| build_err(&format!("MDP {}", mdp.family), e))?;
    let ctx = AgentContext {
        n_states: model.n_states,
        n_actions: model.n_actions,
        horizon: model.horizon,
        total_steps: instance.steps,
    };
    let mut learner = registry
        .build_agent(
            &agent.name,
            &agent.params,
            &ctx,
            Rng::with_stream(instance.seed, 1),
        )
        .map_err(|e| build_err(&format!("agent {}", agent.name), e))?;
    let ctl = RunControl {
        time_limit: match (ctl.time_limit, instance.time_limit()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        },
        kill_after: ctl.kill_after,
        interrupt: ctl.interrupt,
    };
    let cfg = LoopConfig {
        steps: instance.steps,
        log_every: instance.log_every,
        seed: instance.seed,
    };
    // An evaluation failure names the MDP (the loop itself knows only the model).
    run_loop(&model, &sol, learner.as_mut(), &cfg, &ctl, sink).map_err(|e| match e {
        RunError::Build(msg) => RunError::Build(format!("MDP {}: {msg}", mdp.family)),
        other => other,
    })
}
