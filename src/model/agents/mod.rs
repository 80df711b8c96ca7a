//! Agents: the [`Agent`] trait the interaction loop drives, and Colosseum's tabular agents:
//! Q-learning (episodic and continuous), PSRL (episodic and continuous), UCRL2 (continuous)
//! and the uniformly random agent.
//!
//! An agent sees states as indices `0..n_states` and acts with indices `0..n_actions`; it owns
//! its seeded generator. Its [`Agent::policy`] is the policy it would follow if learning
//! stopped now (Colosseum's `current_optimal_stochastic_policy`, here deterministic with ties
//! broken as Colosseum breaks them unless `policy_ties = "first"`, see [`super::ties`]), which
//! the loop evaluates exactly to measure regret.

mod psrl;
mod q_learning;
mod ucrl2;

pub use psrl::{PsrlContinuous, PsrlEpisodic};
pub use q_learning::{QLearningContinuous, QLearningEpisodic};
pub use ucrl2::Ucrl2;

use super::check::CheckError;
use super::solve::Policy;
use crate::rng::Rng;
use crate::value::Params;

/// What an agent may know about the MDP it faces (as in Colosseum's `MDPSpec`) and the run.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentContext {
    /// Number of states.
    pub n_states: usize,
    /// Number of actions.
    pub n_actions: usize,
    /// The episode length for episodic MDPs, `None` for continuous ones.
    pub horizon: Option<usize>,
    /// Total interaction steps of the run (Colosseum's `optimization_horizon`).
    pub total_steps: u64,
}

/// A learning agent, driven by the interaction loop.
pub trait Agent: Send {
    /// Called once before the first step.
    fn before_start(&mut self) {}
    /// The action to take in `state` at in-episode time `h` (always 0 when continuous).
    fn select_action(&mut self, state: usize, h: usize) -> usize;
    /// Learns from one transition; `last` marks the last step of an episode.
    fn update(
        &mut self,
        state: usize,
        action: usize,
        reward: f64,
        next: usize,
        h: usize,
        last: bool,
    );
    /// Whether the transition just learned ends one of the agent's episodes (the loop then
    /// calls [`Agent::end_episode`]). Episodic agents end with the MDP's episodes.
    fn is_episode_end(&mut self, _state: usize, _action: usize, last: bool) -> bool {
        last
    }
    /// The end-of-episode update (re-planning, posterior sampling, ...).
    fn end_episode(&mut self) {}
    /// The policy the agent would follow if learning stopped now: per state (continuous) or
    /// per `h * n_states + state` (episodic).
    fn policy(&mut self) -> Policy;
}

/// The uniformly random agent (episodic and continuous).
pub struct RandomAgent {
    n_actions: u64,
    rng: Rng,
}

impl RandomAgent {
    /// A random agent; it has no parameters.
    pub fn new(params: &Params, ctx: &AgentContext, rng: Rng) -> Result<RandomAgent, CheckError> {
        super::params::ParamReader::new(params).finish()?;
        Ok(RandomAgent {
            n_actions: ctx.n_actions as u64,
            rng,
        })
    }
}

impl Agent for RandomAgent {
    fn select_action(&mut self, _: usize, _: usize) -> usize {
        self.rng.below(self.n_actions) as usize
    }
    fn update(&mut self, _: usize, _: usize, _: f64, _: usize, _: usize, _: bool) {}
    fn policy(&mut self) -> Policy {
        Policy::Uniform
    }
}

/// The index of a largest value, ties broken uniformly at random (a draw only when tied).
#[inline]
pub(crate) fn argmax_random_ties(q: &[f64], rng: &mut Rng) -> usize {
    let mut best = f64::NEG_INFINITY;
    let mut n_best = 0u64;
    let mut pick = 0;
    for (i, &x) in q.iter().enumerate() {
        if x > best {
            best = x;
            n_best = 1;
            pick = i;
        } else if x == best {
            n_best += 1;
        }
    }
    if n_best > 1 {
        let k = rng.below(n_best);
        let mut seen = 0;
        for (i, &x) in q.iter().enumerate() {
            if x == best {
                if seen == k {
                    return i;
                }
                seen += 1;
            }
        }
    }
    pick
}

/// A sparse model for [`sparse_discounted_vi`]: per (state, action) row, `(next, prob)`.
#[derive(Default)]
pub(crate) struct SparseModel {
    pub(crate) row_start: Vec<u32>,
    pub(crate) entries: Vec<(u32, f64)>,
}

impl SparseModel {
    /// Appends a dense row, dropping entries below `1e-10` (their total effect on a value is
    /// far below the solver's tolerance).
    pub(crate) fn push_dense(&mut self, row: &[f64]) {
        if self.row_start.is_empty() {
            self.row_start.push(0);
        }
        for (j, &p) in row.iter().enumerate() {
            if p > 1e-10 {
                self.entries.push((j as u32, p));
            }
        }
        self.row_start.push(self.entries.len() as u32);
    }
}

/// Discounted value iteration on a sparse model, warm-started from `v` (kept for the next
/// call): in-place sweeps until no value moves by `epsilon`; writes Q (`s * na + a`) into `q`.
/// With `cancellable`, gives up when [`crate::model::stop::requested`] says so between two
/// sweeps and returns false (`q` is then partial: keep the previous plan).
#[allow(
    clippy::too_many_arguments,
    reason = "a numeric kernel with its inputs"
)]
pub(crate) fn sparse_discounted_vi(
    ns: usize,
    na: usize,
    m: &SparseModel,
    r: &[f64],
    gamma: f64,
    epsilon: f64,
    v: &mut [f64],
    q: &mut Vec<f64>,
    cancellable: bool,
) -> bool {
    q.clear();
    q.resize(ns * na, 0.0);
    for _ in 0..100_000 {
        if cancellable && crate::model::stop::requested() {
            return false;
        }
        let mut diff = 0.0f64;
        for s in 0..ns {
            let mut best = f64::NEG_INFINITY;
            for a in 0..na {
                let i = s * na + a;
                let (lo, hi) = (m.row_start[i] as usize, m.row_start[i + 1] as usize);
                let ev: f64 = m.entries[lo..hi]
                    .iter()
                    .map(|&(j, p)| p * v[j as usize])
                    .sum();
                let x = r[i] + gamma * ev;
                q[i] = x;
                best = best.max(x);
            }
            diff = diff.max((best - v[s]).abs());
            v[s] = best;
        }
        if diff < epsilon {
            break;
        }
    }
    true
}

/// Backward induction on a dense model over `h` steps: Q per `(t * ns + s) * na + a`. With
/// `cancellable`, gives up (`None`) when [`crate::model::stop::requested`] says so.
pub(crate) fn episodic_vi(
    ns: usize,
    na: usize,
    h: usize,
    t: &[f64],
    r: &[f64],
    cancellable: bool,
) -> Option<Vec<f64>> {
    let mut q = vec![0.0; h * ns * na];
    let mut v = vec![0.0; ns];
    for step in (0..h).rev() {
        if cancellable && crate::model::stop::requested() {
            return None;
        }
        let mut nv = vec![0.0; ns];
        for s in 0..ns {
            let mut best = f64::NEG_INFINITY;
            for a in 0..na {
                let row = &t[(s * na + a) * ns..(s * na + a + 1) * ns];
                let x = r[s * na + a] + row.iter().zip(&v).map(|(p, x)| p * x).sum::<f64>();
                q[(step * ns + s) * na + a] = x;
                best = best.max(x);
            }
            nv[s] = best;
        }
        v = nv;
    }
    Some(q)
}
