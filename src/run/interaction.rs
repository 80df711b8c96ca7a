//! The agent-MDP interaction loop and Colosseum's performance indicators.
//!
//! Every `log_every` steps, and after the last step, the agent's current policy is evaluated
//! exactly on the true MDP and the gap to the optimum is charged for every step since the
//! previous log row (expected regret, as in Colosseum). Log rows are sent as [`COLUMNS`]; all
//! columns but `steps_per_second` are deterministic given the instance.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::{LogSink, Outcome, RunControl, RunError, RunReport};
use crate::model::mdp::Mdp;
use crate::model::solve::{Evaluator, Policy, Solution, evaluate_episodic, start_dot};
use crate::model::{Agent, stop};
use crate::rng::Rng;

/// The log columns, in order. `t` is the number of steps completed at the row; `opt`, `rand`
/// and `worst` the average rewards of the optimal, uniformly random and worst policies (per
/// step; episodic: expected episode return from the start distribution / H); `gap = opt -
/// worst`.
///
/// - `steps`: t.
/// - `cumulative_reward`: sum of the rewards received.
/// - `cumulative_expected_reward`: sum over the steps of the average reward of the agent's
///   policy as last evaluated (continuous: its gain from the current state; episodic: its
///   expected return / H from the start distribution).
/// - `cumulative_regret`: sum over the steps of the expected per-step regret of the policy at
///   the next log row (continuous: opt - gain from the current state, 0 when within 1e-3 and
///   never negative; episodic: (V*_0(s0) - V^pi_0(s0)) / H for the episode's start state s0).
/// - `normalized_cumulative_regret`: the same with each per-step regret divided by `gap`
///   (episodic: by V*_0(s0) - V^worst_0(s0)).
/// - `normalized_cumulative_reward`: (cumulative_reward - t * worst) / gap.
/// - `random_cumulative_regret`: t * (opt - rand).
/// - `random_normalized_cumulative_regret`: t * (opt - rand) / gap.
/// - `worst_cumulative_regret`: t * gap.
/// - `optimal_cumulative_expected_reward`: t * opt.
/// - `normalized_cumulative_expected_reward`: (cumulative_expected_reward - t * worst) / gap.
/// - `random_cumulative_expected_reward`: t * rand.
/// - `random_normalized_cumulative_expected_reward`: t * (rand - worst) / gap.
/// - `worst_cumulative_expected_reward`: t * worst.
/// - `worst_normalized_cumulative_regret`: t.
/// - `worst_normalized_cumulative_expected_reward`: 0.
/// - `optimal_normalized_cumulative_expected_reward`: t.
/// - `is_training`: 1 while the agent still learns, 0 once frozen (early stop or time limit).
/// - `steps_per_second`: t / wall seconds since the loop started: the one timing column, the
///   only one that differs between two runs of the same instance.
pub const COLUMNS: &[&str] = &[
    "steps",
    "cumulative_reward",
    "cumulative_expected_reward",
    "cumulative_regret",
    "normalized_cumulative_regret",
    "normalized_cumulative_reward",
    "random_cumulative_regret",
    "random_normalized_cumulative_regret",
    "worst_cumulative_regret",
    "optimal_cumulative_expected_reward",
    "normalized_cumulative_expected_reward",
    "random_cumulative_expected_reward",
    "random_normalized_cumulative_expected_reward",
    "worst_cumulative_expected_reward",
    "worst_normalized_cumulative_regret",
    "worst_normalized_cumulative_expected_reward",
    "optimal_normalized_cumulative_expected_reward",
    "is_training",
    "steps_per_second",
];

/// The index of the timing column in [`COLUMNS`].
pub const TIMING_COLUMN: usize = COLUMNS.len() - 1;

/// Check the clock and the interrupt flag this often (steps).
const CHECK_EVERY: u64 = 4096;
/// Colosseum's early stop looks at this many consecutive log rows.
const EARLY_STOP_WINDOW: usize = 10;

/// The loop's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct LoopConfig {
    /// Interaction steps.
    pub steps: u64,
    /// A row every this many steps (and one after the last step); 0: only the final row.
    pub log_every: u64,
    /// The environment's seed stream (the instance seed).
    pub seed: u64,
}

/// Regret bookkeeping of one run.
struct Tally<'a> {
    mdp: &'a Mdp,
    sol: &'a Solution,
    eval: Evaluator,
    frozen: Option<Policy>,
    episodic_cache: Option<(Policy, Vec<f64>)>,
    cum_regret: f64,
    cum_norm_regret: f64,
    cum_expected: f64,
}

impl Tally<'_> {
    /// The per-step regret, normalized regret and expected reward of `pol` at this moment.
    fn measure(
        &mut self,
        pol: &Policy,
        state: usize,
        ep_start: usize,
    ) -> Result<(f64, f64, f64), RunError> {
        let opt = self.sol.optimal_average_reward;
        let gap = opt - self.sol.worst_average_reward;
        match self.mdp.horizon {
            None => {
                let g =
                    self.eval.gain(self.mdp, pol).map_err(|e| {
                        RunError::Build(format!("evaluating the agent's policy: {e}"))
                    })?[state];
                let mut r = opt - g;
                if r.abs() <= 1e-3 || r < 0.0 {
                    r = 0.0;
                }
                Ok((r, r / gap, g))
            }
            Some(h) => {
                let hit = matches!(&self.episodic_cache, Some((p, _)) if p == pol);
                if !hit {
                    self.episodic_cache = Some((pol.clone(), evaluate_episodic(self.mdp, h, pol)));
                }
                let v = match &self.episodic_cache {
                    Some((_, v)) => v,
                    None => unreachable!("the cache was just filled"),
                };
                let hf = h as f64;
                let raw = (self.sol.optimal_values[ep_start] - v[ep_start]).max(0.0);
                let norm =
                    raw / (self.sol.optimal_values[ep_start] - self.sol.worst_values[ep_start]);
                Ok((raw / hf, norm, start_dot(self.mdp, v) / hf))
            }
        }
    }
}

/// Runs the interaction loop of `agent` on `mdp` (solved as `sol`), sending rows to `sink`.
pub fn run_loop(
    mdp: &Mdp,
    sol: &Solution,
    agent: &mut dyn Agent,
    cfg: &LoopConfig,
    ctl: &RunControl<'_>,
    sink: &mut dyn LogSink,
) -> Result<RunReport, RunError> {
    sink.columns(COLUMNS)?;
    let mut env = Rng::with_stream(cfg.seed, 2);
    let horizon = mdp.horizon;
    let h_max = horizon.unwrap_or(usize::MAX);
    // 0 means no periodic rows (Colosseum's convention): only the final one.
    let log_every = if cfg.log_every == 0 {
        cfg.steps.max(1)
    } else {
        cfg.log_every
    };
    let opt = sol.optimal_average_reward;
    let (rand, worst) = (sol.random_average_reward, sol.worst_average_reward);
    let gap = opt - worst;
    let mut tally = Tally {
        mdp,
        sol,
        eval: Evaluator::new(mdp.n_states),
        frozen: None,
        episodic_cache: None,
        cum_regret: 0.0,
        cum_norm_regret: 0.0,
        cum_expected: 0.0,
    };
    let mut report = RunReport {
        outcome: Outcome::Done,
        steps_completed: 0,
        learning_stopped_at: None,
        early_stopped_at: None,
    };
    let timer = Instant::now();
    // Planning loops inside the agent check the learning deadline and the interrupt flag
    // through this scope (see `model::stop`).
    let _scope = stop::Scope::new(ctl.time_limit.map(|l| timer + l), ctl.interrupt);
    agent.before_start();
    let mut check_now = stop::take_hit();
    let mut state = mdp.sample_start(&mut env);
    let mut ep_start = state;
    let mut h = 0usize;
    let mut training = true;
    let mut cum_reward = 0.0;
    let mut since_log = 0u64;
    let mut recent: Vec<f64> = Vec::with_capacity(EARLY_STOP_WINDOW + 1);
    let mut row = vec![0.0; COLUMNS.len()];
    let mut t = 0u64;
    let mut pending_reset = false;
    let mut publish = super::steps::Publisher::new();
    while t < cfg.steps {
        // The hot loop: run to the next log point or clock check, whichever comes first.
        let next_log = (t / log_every + 1) * log_every;
        let next_check = (t / CHECK_EVERY + 1) * CHECK_EVERY;
        let stop_at = next_log.min(next_check).min(cfg.steps);
        while t < stop_at && !check_now {
            let a = agent.select_action(state, h);
            let (next, r) = mdp.step(state, a, &mut env);
            let last = h + 1 == h_max;
            if training {
                agent.update(state, a, r, next, h, last);
                if agent.is_episode_end(state, a, last) {
                    // Slow agents spend their time in episode ends: progress shows the steps
                    // done before (this one included).
                    publish.tick(t + 1);
                    agent.end_episode();
                    // A planning loop gave up at the deadline or an interrupt: act now.
                    check_now = stop::take_hit();
                }
            }
            cum_reward += r;
            t += 1;
            since_log += 1;
            if last {
                h = 0;
                if t.is_multiple_of(log_every) || t == cfg.steps {
                    // Logged below with this episode's start; the next episode begins after.
                    state = next;
                    pending_reset = true;
                    break;
                }
                state = mdp.sample_start(&mut env);
                ep_start = state;
                continue;
            }
            state = next;
            h += 1;
        }
        if (t > 0 && t.is_multiple_of(log_every)) || t == cfg.steps {
            let pol = match &tally.frozen {
                Some(p) => p.clone(),
                None => agent.policy(),
            };
            let expected = mdp.n_states * horizon.unwrap_or(1);
            if let Policy::Deterministic(v) = &pol
                && (v.len() != expected || v.iter().any(|&a| a as usize >= mdp.n_actions))
            {
                return Err(RunError::Build(format!(
                    "the agent's policy has {} entries (expected {expected}) or an action \
                     outside 0..{}",
                    v.len(),
                    mdp.n_actions
                )));
            }
            let (r, nr, g) = tally.measure(&pol, state, ep_start)?;
            let n = since_log as f64;
            tally.cum_regret += r * n;
            tally.cum_norm_regret += nr * n;
            tally.cum_expected += g * n;
            since_log = 0;
            if t.is_multiple_of(log_every) && t < cfg.steps {
                recent.push(nr);
                if recent.len() > EARLY_STOP_WINDOW {
                    recent.remove(0);
                }
                let atol = if horizon.is_some() { 1e-4 } else { 1e-5 };
                if training
                    && (t as f64) > 0.2 * cfg.steps as f64
                    && recent.len() == EARLY_STOP_WINDOW
                    && recent.iter().all(|x| x.abs() <= atol)
                    && nr.abs() <= 1e-8
                {
                    training = false;
                    report.early_stopped_at = Some(t);
                }
            }
            if !training && tally.frozen.is_none() {
                tally.frozen = Some(pol);
            }
            let tf = t as f64;
            let elapsed = timer.elapsed().as_secs_f64();
            row.copy_from_slice(&[
                tf,
                cum_reward,
                tally.cum_expected,
                tally.cum_regret,
                tally.cum_norm_regret,
                (cum_reward - tf * worst) / gap,
                tf * (opt - rand),
                tf * (opt - rand) / gap,
                tf * gap,
                tf * opt,
                (tally.cum_expected - tf * worst) / gap,
                tf * rand,
                tf * (rand - worst) / gap,
                tf * worst,
                tf,
                0.0,
                tf,
                if training { 1.0 } else { 0.0 },
                if elapsed > 0.0 { tf / elapsed } else { 0.0 },
            ]);
            sink.row(&row)?;
        }
        if pending_reset {
            pending_reset = false;
            state = mdp.sample_start(&mut env);
            ep_start = state;
        }
        report.steps_completed = t;
        publish.tick(t);
        if t.is_multiple_of(CHECK_EVERY) || t.is_multiple_of(log_every) || check_now {
            check_now = false;
            if ctl.interrupt.load(Ordering::Relaxed) {
                report.outcome = Outcome::Interrupted;
                return Ok(report);
            }
            let elapsed = timer.elapsed();
            if ctl.kill_after.is_some_and(|k| elapsed >= k) {
                report.outcome = Outcome::Killed;
                return Ok(report);
            }
            if training && ctl.time_limit.is_some_and(|l| elapsed >= l) {
                training = false;
                report.learning_stopped_at = Some(t);
                report.outcome = Outcome::Timeout;
                tally.frozen = Some(agent.policy());
            }
        }
    }
    report.steps_completed = t;
    publish.last(t);
    Ok(report)
}
