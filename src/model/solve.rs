//! Exact values of an MDP: the optimal, uniformly random and worst policies, and the
//! evaluation of any policy (the expected regret of an agent is measured with it).
//!
//! Episodic MDPs are solved by backward induction over the horizon `H`; an episodic average
//! reward is the expected `H`-step return from the starting distribution divided by `H`, as
//! Colosseum defines it. Continuous MDPs are solved exactly: a fixed policy's gain comes from
//! direct sparse solves (see `exact`: recurrent classes, stationary distributions, absorption
//! into classes, multichain policies included), and the optimal and worst gains from Howard's
//! multichain policy iteration (Puterman, section 9.2) on those exact evaluations, started from
//! a policy that heads for the best (worst) reward along its most likely path, so that
//! communicating MDPs start unichain and slowly mixing ones start without near-closed basins.
//! Policy iteration ends when no action improves the gain or the relative values by more than
//! a relative 1e-10; a policy visited twice (a cycle made by rounding) or the iteration cap is
//! an error naming the gain being solved, never an unconverged value. The average reward of a policy is the starting distribution (or a given
//! state) dotted with its gain vector.

#![allow(
    clippy::needless_range_loop,
    reason = "index arithmetic over band rows reads clearer with ranges"
)]

use super::mdp::Mdp;

pub use super::exact::SolveError;
use super::exact::{Chain, ChainSolver, Values};

/// A policy to evaluate.
#[derive(Clone, Debug, PartialEq)]
pub enum Policy {
    /// One action per state (continuous) or per (in-episode time, state), `h * S + s`.
    Deterministic(Vec<u32>),
    /// Every action with the same probability.
    Uniform,
}

impl Policy {
    #[inline]
    fn action(&self, idx: usize) -> Option<usize> {
        match self {
            Policy::Deterministic(v) => Some(v[idx] as usize),
            Policy::Uniform => None,
        }
    }
}

/// The exact reference values of an MDP.
#[derive(Clone, Debug)]
pub struct Solution {
    /// Average reward of an optimal policy (episodic: expected return / H).
    pub optimal_average_reward: f64,
    /// An optimal policy (continuous: per state; episodic: per `h * S + s`).
    pub optimal_policy: Vec<u32>,
    /// Average reward of the uniformly random policy.
    pub random_average_reward: f64,
    /// Average reward of the worst policy.
    pub worst_average_reward: f64,
    /// Episodic: the optimal value at time zero of every state (continuous: the optimal gain).
    pub optimal_values: Vec<f64>,
    /// Episodic: the worst value at time zero of every state (continuous: the worst gain).
    pub worst_values: Vec<f64>,
}

/// Solves an MDP exactly.
pub fn solve(m: &Mdp) -> Result<Solution, SolveError> {
    solve_with(m, &mut || false)
}

/// [`solve`], giving up with [`SolveError::Cancelled`] once `cancel` says so (it is asked
/// between policy-iteration steps).
pub fn solve_with(m: &Mdp, cancel: &mut dyn FnMut() -> bool) -> Result<Solution, SolveError> {
    solve_capped(m, MAX_PI_ITERS, cancel)
}

/// [`solve_with`] with policy iteration capped at `max_iters` iterations: reaching the cap is
/// [`SolveError::NotConverged`], never a value.
pub fn solve_capped(
    m: &Mdp,
    max_iters: usize,
    cancel: &mut dyn FnMut() -> bool,
) -> Result<Solution, SolveError> {
    Ok(match m.horizon {
        Some(h) => {
            let (v_opt, pol) = backward_induction(m, h, true);
            let (v_worst, _) = backward_induction(m, h, false);
            let v_rand = evaluate_episodic(m, h, &Policy::Uniform);
            let avg = |v: &[f64]| start_dot(m, v) / h as f64;
            Solution {
                optimal_average_reward: avg(&v_opt),
                optimal_policy: pol,
                random_average_reward: avg(&v_rand),
                worst_average_reward: avg(&v_worst),
                optimal_values: v_opt,
                worst_values: v_worst,
            }
        }
        None => {
            let mut sv = ChainSolver::new(m);
            let (g_opt, pol) = policy_iteration(m, &mut sv, true, max_iters, cancel)?;
            let (g_worst, _) = policy_iteration(m, &mut sv, false, max_iters, cancel)?;
            let mut chain = Chain::default();
            policy_chain(m, &Policy::Uniform, None, &mut chain);
            let mut vals = Values::default();
            sv.evaluate(&chain, false, &mut vals)?;
            let g_rand = vals.gain;
            Solution {
                optimal_average_reward: start_dot(m, &g_opt),
                optimal_policy: pol,
                random_average_reward: start_dot(m, &g_rand),
                worst_average_reward: start_dot(m, &g_worst),
                optimal_values: g_opt,
                worst_values: g_worst,
            }
        }
    })
}

/// The starting distribution dotted with a per-state vector.
pub fn start_dot(m: &Mdp, v: &[f64]) -> f64 {
    m.start.iter().map(|&(s, p)| p * v[s]).sum()
}

#[inline]
fn backup(m: &Mdp, s: usize, a: usize, v: &[f64]) -> f64 {
    let (next, prob) = m.row(s, a);
    let mut acc = m.mean_reward[s * m.n_actions + a];
    for (&n, &p) in next.iter().zip(prob) {
        acc += p * v[n as usize];
    }
    acc
}

/// Backward induction: values at time zero and the greedy policy (best or worst) per (h, s).
pub fn backward_induction(m: &Mdp, h: usize, best: bool) -> (Vec<f64>, Vec<u32>) {
    let ns = m.n_states;
    let mut v = vec![0.0; ns];
    let mut nv = vec![0.0; ns];
    let mut pol = vec![0u32; h * ns];
    for t in (0..h).rev() {
        for s in 0..ns {
            let (best_q, best_a) = extreme_action(m, s, &v, best, 1e-12);
            nv[s] = best_q;
            pol[t * ns + s] = best_a as u32;
        }
        std::mem::swap(&mut v, &mut nv);
    }
    (v, pol)
}

/// The best (or worst) one-step backup of state `s` against values `v`, and the first action
/// reaching it: a later action wins only by more than `tol`, so ties go to the lowest action.
fn extreme_action(m: &Mdp, s: usize, v: &[f64], best: bool, tol: f64) -> (f64, usize) {
    let mut best_q = if best {
        f64::NEG_INFINITY
    } else {
        f64::INFINITY
    };
    let mut best_a = 0;
    for a in 0..m.n_actions {
        let q = backup(m, s, a, v);
        if (best && q > best_q + tol) || (!best && q < best_q - tol) {
            best_q = q;
            best_a = a;
        }
    }
    (best_q, best_a)
}

/// The value at time zero of every state under a policy over `h` steps.
pub fn evaluate_episodic(m: &Mdp, h: usize, pol: &Policy) -> Vec<f64> {
    let ns = m.n_states;
    let mut v = vec![0.0; ns];
    let mut nv = vec![0.0; ns];
    let inv_a = 1.0 / m.n_actions as f64;
    for t in (0..h).rev() {
        for (s, out) in nv.iter_mut().enumerate() {
            *out = match pol.action(t * ns + s) {
                Some(a) => backup(m, s, a, &v),
                None => (0..m.n_actions).map(|a| backup(m, s, a, &v)).sum::<f64>() * inv_a,
            };
        }
        std::mem::swap(&mut v, &mut nv);
    }
    v
}

/// Writes the chain of `pol` on `m` into `out`; rewards from `reward` (per `s * A + a`) or,
/// when `None`, the MDP's mean rewards.
pub fn policy_chain(m: &Mdp, pol: &Policy, reward: Option<&[f64]>, out: &mut Chain) {
    let na = m.n_actions;
    let rew = reward.unwrap_or(&m.mean_reward);
    out.clear();
    match pol {
        Policy::Deterministic(p) => {
            for (s, &a) in p.iter().enumerate().take(m.n_states) {
                let a = a as usize;
                let (next, prob) = m.row(s, a);
                out.push_row(
                    next.iter().copied().zip(prob.iter().copied()),
                    rew[s * na + a],
                );
            }
        }
        Policy::Uniform => {
            let inv = 1.0 / na as f64;
            let mut acc: Vec<(u32, f64)> = Vec::new();
            for s in 0..m.n_states {
                acc.clear();
                let mut r = 0.0;
                for a in 0..na {
                    let (next, prob) = m.row(s, a);
                    for (&t, &p) in next.iter().zip(prob) {
                        match acc.iter_mut().find(|e| e.0 == t) {
                            Some(e) => e.1 += p * inv,
                            None => acc.push((t, p * inv)),
                        }
                    }
                    r += rew[s * na + a] * inv;
                }
                out.push_row(acc.iter().copied(), r);
            }
        }
    }
}

#[inline]
fn expect(m: &Mdp, s: usize, a: usize, v: &[f64]) -> f64 {
    let (next, prob) = m.row(s, a);
    next.iter()
        .zip(prob)
        .map(|(&n, &p)| p * v[n as usize])
        .sum()
}

/// A starting policy that heads for the state-action of the highest reward along the most
/// likely path: Dijkstra backwards from it with edge costs `-ln p`, each state taking the
/// action that starts its most probable path (ties to the lowest action). On a communicating
/// MDP this policy has a single recurrent class, so policy iteration starts from exact relative
/// values over the whole MDP. The most likely path matters on slowly mixing MDPs: a start that
/// takes any action merely able to move closer (RiverSwim's LEFT moves right w.p. `p_rand / 2`)
/// splits the chain into basins whose crossing times (`(1 / p)^k` steps) overflow the relative
/// values, and policy iteration would then have to undo it one state per iteration.
fn heading_policy(m: &Mdp, rew: &[f64]) -> Vec<u32> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let (ns, na) = (m.n_states, m.n_actions);
    let mut target = 0;
    for i in 1..ns * na {
        if rew[i] > rew[target] {
            target = i;
        }
    }
    let mut pol: Vec<u32> = (0..ns)
        .map(|s| {
            let row = &rew[s * na..(s + 1) * na];
            let mut b = 0;
            for a in 1..na {
                if row[a] > row[b] {
                    b = a;
                }
            }
            b as u32
        })
        .collect();
    // Reverse edges: for each next state, the (state, action, probability) reaching it.
    let mut rev_start = vec![0u32; ns + 1];
    for s in 0..ns {
        for a in 0..na {
            for &t in m.row(s, a).0 {
                rev_start[t as usize + 1] += 1;
            }
        }
    }
    for i in 0..ns {
        rev_start[i + 1] += rev_start[i];
    }
    let mut fill = rev_start.clone();
    let mut rev = vec![(0u32, 0u32, 0.0f64); rev_start[ns] as usize];
    for s in 0..ns {
        for a in 0..na {
            let (next, prob) = m.row(s, a);
            for (&t, &p) in next.iter().zip(prob) {
                rev[fill[t as usize] as usize] = (s as u32, a as u32, p);
                fill[t as usize] += 1;
            }
        }
    }
    // Costs are non-negative f64, whose bit patterns order as the numbers do.
    let mut best: Vec<(f64, u32)> = vec![(f64::INFINITY, u32::MAX); ns];
    let mut done = vec![false; ns];
    let s0 = target / na;
    best[s0] = (0.0, (target % na) as u32);
    let mut heap = BinaryHeap::new();
    heap.push(Reverse((0u64, s0 as u32)));
    while let Some(Reverse((_, t))) = heap.pop() {
        let t = t as usize;
        if done[t] {
            continue;
        }
        done[t] = true;
        pol[t] = best[t].1;
        let dt = best[t].0;
        for &(s, a, p) in &rev[rev_start[t] as usize..rev_start[t + 1] as usize] {
            let s = s as usize;
            if done[s] || s == t || p <= 0.0 {
                continue;
            }
            let d = dt - p.ln();
            if d < best[s].0 || (d == best[s].0 && a < best[s].1) {
                best[s] = (d, a);
                heap.push(Reverse((d.to_bits(), s as u32)));
            }
        }
    }
    pol
}

/// Iteration cap of policy iteration (each iteration strictly improves the policy; it is not
/// reached in practice).
pub const MAX_PI_ITERS: usize = 100_000;

/// A 64-bit hash of a policy (SipHash with fixed keys: the same in every run).
fn policy_hash(pol: &[u32]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    pol.hash(&mut h);
    h.finish()
}

/// The optimal (or worst) gain of every state and a policy attaining it, by Howard's
/// multichain policy iteration with exact evaluations. Ties go to the lowest action.
fn policy_iteration(
    m: &Mdp,
    sv: &mut ChainSolver,
    best: bool,
    max_iters: usize,
    cancel: &mut dyn FnMut() -> bool,
) -> Result<(Vec<f64>, Vec<u32>), SolveError> {
    let (ns, na) = (m.n_states, m.n_actions);
    let sign = if best { 1.0 } else { -1.0 };
    let rew: Vec<f64> = m.mean_reward.iter().map(|r| sign * r).collect();
    let scale = rew.iter().fold(0.0f64, |x, r| x.max(r.abs())).max(1e-300);
    let mut pol = heading_policy(m, &rew);
    let mut chain = Chain::default();
    let mut vals = Values::default();
    let mut iters = 0;
    let (tol_g, mut tol_h);
    // Every policy visited: each iteration strictly improves the policy in exact arithmetic,
    // so a repeat is a cycle made by rounding (relative values of a nearly decomposable chain
    // lose all their digits) and an error, found at once rather than at the cap.
    let mut visited: std::collections::HashSet<u64> = std::collections::HashSet::new();
    let what = if best { "optimal gain" } else { "worst gain" };
    loop {
        if cancel() {
            return Err(SolveError::Cancelled);
        }
        if !visited.insert(policy_hash(&pol)) {
            // A cycle made by rounding: keep the gain reached when value iteration's bounds pin
            // the optimal gain to it, else say that nothing could be certified.
            let tg = 1e-10 * scale;
            if iters > 0 && gain_is_certified(m, &rew, &vals.gain, tg, cancel)? {
                tol_g = tg;
                tol_h = 1e-10 * (scale + vals.h.iter().fold(0.0f64, |x, v| x.max(v.abs())));
                break;
            }
            return Err(SolveError::Cycling { what, iters });
        }
        iters += 1;
        if iters > max_iters {
            return Err(SolveError::NotConverged {
                what,
                iters: max_iters,
            });
        }
        policy_chain(
            m,
            &Policy::Deterministic(pol.clone()),
            Some(&rew),
            &mut chain,
        );
        sv.evaluate(&chain, true, &mut vals)?;
        let (g, h) = (&vals.gain, &vals.h);
        let hscale = h.iter().fold(0.0f64, |x, v| x.max(v.abs()));
        let tg = 1e-10 * scale;
        let th = 1e-10 * (scale + hscale);
        // Gain improvement: any action whose expected next gain beats the current one.
        let mut changed = false;
        for s in 0..ns {
            let cur = expect(m, s, pol[s] as usize, g);
            let (mut bv, mut ba) = (cur + tg, pol[s] as usize);
            for a in 0..na {
                let x = expect(m, s, a, g);
                if x > bv {
                    bv = x;
                    ba = a;
                }
            }
            if ba != pol[s] as usize {
                pol[s] = ba as u32;
                changed = true;
            }
        }
        if changed {
            continue;
        }
        // Relative-value improvement among the actions that keep the gain.
        for s in 0..ns {
            let cur_a = pol[s] as usize;
            let cur = rew[s * na + cur_a] + expect(m, s, cur_a, h);
            let (mut bv, mut ba) = (cur + th, cur_a);
            for a in 0..na {
                if expect(m, s, a, g) < g[s] - tg {
                    continue;
                }
                let x = rew[s * na + a] + expect(m, s, a, h);
                if x > bv {
                    bv = x;
                    ba = a;
                }
            }
            if ba != cur_a {
                pol[s] = ba as u32;
                changed = true;
            }
        }
        if !changed {
            tol_g = tg;
            tol_h = th;
            break;
        }
    }
    // The lowest action among the optimal ones, kept when its gain is the same.
    let (g, h) = (vals.gain.clone(), vals.h.clone());
    let mut low = pol.clone();
    for s in 0..ns {
        let gmax = (0..na)
            .map(|a| expect(m, s, a, &g))
            .fold(f64::NEG_INFINITY, f64::max);
        let ok: Vec<usize> = (0..na)
            .filter(|&a| expect(m, s, a, &g) >= gmax - tol_g)
            .collect();
        let vmax = ok
            .iter()
            .map(|&a| rew[s * na + a] + expect(m, s, a, &h))
            .fold(f64::NEG_INFINITY, f64::max);
        if let Some(&a) = ok
            .iter()
            .find(|&&a| rew[s * na + a] + expect(m, s, a, &h) >= vmax - tol_h)
        {
            low[s] = a as u32;
        }
    }
    if low != pol {
        policy_chain(
            m,
            &Policy::Deterministic(low.clone()),
            Some(&rew),
            &mut chain,
        );
        sv.evaluate(&chain, false, &mut vals)?;
        tol_h = 1e-9 * scale;
        if vals
            .gain
            .iter()
            .zip(&g)
            .all(|(a, b)| (a - b).abs() <= tol_h)
        {
            pol = low;
        }
    }
    // `+ 0.0` turns the -0.0 of a negated zero into 0.0.
    Ok((g.iter().map(|x| sign * x + 0.0).collect(), pol))
}

/// Sweeps of value iteration allowed to certify a gain that policy iteration reached but could
/// not confirm (it cycled on rounding).
const CERTIFY_SWEEPS: usize = 100_000;

/// True when `gain` is the optimal gain of `rew` (maximised) in every state to within `tol`.
/// For any vector h and every state s, `min (Th - h) <= g*(s) <= max (Th - h)`, T the Bellman
/// operator of the average-reward MDP (by monotonicity `T^n h - h` lies between n times those
/// bounds, and `g* = lim T^n h / n`). Relative value iteration from h = 0 tightens the bounds
/// (the relative values of the cycling policies are no start: their digits are what was
/// lost); the gain is certified when the bounds come within `tol` of each other with every
/// state's gain between them, false when they do not within [`CERTIFY_SWEEPS`] sweeps.
fn gain_is_certified(
    m: &Mdp,
    rew: &[f64],
    gain: &[f64],
    tol: f64,
    cancel: &mut dyn FnMut() -> bool,
) -> Result<bool, SolveError> {
    let (ns, na) = (m.n_states, m.n_actions);
    let gmin = gain.iter().copied().fold(f64::INFINITY, f64::min);
    let gmax = gain.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if gmax - gmin > tol || ns == 0 {
        return Ok(false);
    }
    let mut h = vec![0.0; ns];
    let mut next = vec![0.0; ns];
    for sweep in 0..CERTIFY_SWEEPS {
        if sweep % 1024 == 1023 && cancel() {
            return Err(SolveError::Cancelled);
        }
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for s in 0..ns {
            let best = (0..na)
                .map(|a| rew[s * na + a] + expect(m, s, a, &h))
                .fold(f64::NEG_INFINITY, f64::max);
            lo = lo.min(best - h[s]);
            hi = hi.max(best - h[s]);
            next[s] = best;
        }
        if !(lo.is_finite() && hi.is_finite()) {
            return Ok(false);
        }
        if hi - lo <= tol {
            return Ok(gmin >= lo - tol && gmax <= hi + tol);
        }
        // Relative: values stay near zero and keep their digits.
        let base = next[0];
        for (x, n) in h.iter_mut().zip(&next) {
            *x = n - base;
        }
    }
    Ok(false)
}

/// The optimal (or worst) gain of every state and a policy attaining it.
pub fn optimal_gain(m: &Mdp, best: bool) -> Result<(Vec<f64>, Vec<u32>), SolveError> {
    let mut sv = ChainSolver::new(m);
    policy_iteration(m, &mut sv, best, MAX_PI_ITERS, &mut || false)
}

/// Evaluates policies of one continuous MDP exactly, repeatedly, reusing the result when the
/// policy has not changed (a frozen or converged agent costs nothing) and the state ordering
/// and buffers between calls.
#[derive(Clone, Debug)]
pub struct Evaluator {
    solver: Option<ChainSolver>,
    chain: Chain,
    vals: Values,
    last: Option<Policy>,
    /// Evaluations actually computed (not served from the cache).
    pub computed: u64,
}

impl Evaluator {
    /// An evaluator for MDPs of `n_states` states.
    pub fn new(n_states: usize) -> Evaluator {
        let _ = n_states;
        Evaluator {
            solver: None,
            chain: Chain::default(),
            vals: Values::default(),
            last: None,
            computed: 0,
        }
    }

    /// The gain (long-run average reward) of every state under `pol`.
    pub fn gain(&mut self, m: &Mdp, pol: &Policy) -> Result<&[f64], SolveError> {
        if self.last.as_ref() == Some(pol) {
            return Ok(&self.vals.gain);
        }
        self.computed += 1;
        let sv = self.solver.get_or_insert_with(|| ChainSolver::new(m));
        policy_chain(m, pol, None, &mut self.chain);
        self.last = None;
        sv.evaluate(&self.chain, false, &mut self.vals)?;
        self.last = Some(pol.clone());
        Ok(&self.vals.gain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::mdp::RewardDist::Deterministic as D;

    /// Two states; action 0 stays, action 1 switches. Reward 1 for staying in state 1, else 0.
    fn two_state(horizon: Option<usize>) -> Mdp {
        let rows = vec![
            vec![(0, 1.0, D(0.0))],
            vec![(1, 1.0, D(0.0))],
            vec![(1, 1.0, D(1.0))],
            vec![(0, 1.0, D(0.0))],
        ];
        Mdp::from_rows(2, 2, horizon, vec![(0, 1.0)], &rows)
    }

    #[test]
    fn two_state_chain_continuous() {
        let m = two_state(None);
        let sol = solve(&m).unwrap();
        // Optimal: go to state 1 and stay: gain 1. Worst: gain 0 (stay in 0).
        assert!((sol.optimal_average_reward - 1.0).abs() < 1e-8);
        assert!(sol.worst_average_reward.abs() < 1e-8);
        // Uniform: the chain is symmetric between the two states (each switches w.p. 1/2),
        // stationary (1/2, 1/2); reward 1/2 in state 1: gain 1/4.
        assert!((sol.random_average_reward - 0.25).abs() < 1e-8);
        assert_eq!(sol.optimal_policy, vec![1, 0]);
        // Fixed policy "always switch": periodic, half the time in state 1 earning 0: gain 0.
        let mut ev = Evaluator::new(2);
        let g = ev.gain(&m, &Policy::Deterministic(vec![1, 1])).unwrap();
        assert!(g[0].abs() < 1e-8 && g[1].abs() < 1e-8);
        // Multichain: stay everywhere: gains (0, 1).
        let g = ev
            .gain(&m, &Policy::Deterministic(vec![0, 0]))
            .unwrap()
            .to_vec();
        assert!(g[0].abs() < 1e-8 && (g[1] - 1.0).abs() < 1e-8);
    }

    #[test]
    fn two_state_chain_episodic() {
        let m = two_state(Some(4));
        let sol = solve(&m).unwrap();
        // Optimal from 0 over 4 steps: switch, then stay 3 times: 3 / 4.
        assert!((sol.optimal_average_reward - 0.75).abs() < 1e-12);
        assert_eq!(sol.worst_average_reward, 0.0);
        // Uniform over 4 steps from 0, by hand: P(in 1 at t) = 0, 1/2, 1/2, 1/2 and a reward
        // of 1/2 * 1/2 at each t >= 1: 3 * 1/4 = 3/4 in total, 3/16 per step.
        assert!((sol.random_average_reward - 3.0 / 16.0).abs() < 1e-12);
    }

    #[test]
    fn river_chain_of_100_000_states_is_solved_exactly() {
        // RiverSwim-like: LEFT moves left surely; RIGHT moves right w.p. 0.6, stays 0.35, goes
        // left 0.05; reward 1 for RIGHT at the right end, 0.005 for LEFT at the left end.
        let n: usize = 100_000;
        let mut rows = Vec::new();
        for s in 0..n {
            let r0 = if s == 0 { 0.005 } else { 0.0 };
            rows.push(vec![(s.saturating_sub(1), 1.0, D(r0))]);
            let r1 = if s == n - 1 { 1.0 } else { 0.0 };
            rows.push(vec![
                ((s + 1).min(n - 1), 0.6, D(r1)),
                (s, 0.35, D(r1)),
                (s.saturating_sub(1), 0.05, D(r1)),
            ]);
        }
        let m = Mdp::from_rows(n, 2, None, vec![(0, 1.0)], &rows);
        let t0 = std::time::Instant::now();
        let sol = solve(&m).unwrap();
        let took = t0.elapsed();
        // Always RIGHT: a birth-death chain with ratio 0.6 / 0.05 = 12 whose last state holds
        // 1 - 1/12 of the mass (to 1e-300) and earns 1 there.
        assert!((sol.optimal_average_reward - (1.0 - 0.05 / 0.6)).abs() < 1e-12);
        assert!(sol.optimal_policy.iter().all(|&a| a == 1));
        // Worst: RIGHT then LEFT cycles between two inner states earn 0.
        assert!(sol.worst_average_reward.abs() < 1e-12);
        // Unoptimised test builds on a shared machine: a loose bound (release: see README).
        assert!(took.as_secs_f64() < 60.0, "took {took:?}");
    }

    /// RiverSwim with `p_rand = 0.01`: each action moves its way w.p. 0.995 and the other way
    /// w.p. 0.005. Action 0 (LEFT) can move right, so a start that takes any action able to
    /// move closer to the goal took LEFT everywhere; policy iteration then grew a basin at
    /// the right end one state per iteration until its crossing time (199^k steps)
    /// overflowed the relative values ("fails its own check" from ~280 states, "singular" at
    /// 8,000).
    fn noisy_river(n: usize) -> Mdp {
        let mut rows = Vec::new();
        for s in 0..n {
            let (l, r) = (s.saturating_sub(1), (s + 1).min(n - 1));
            let r0 = if s == 0 { 0.005 } else { 0.0 };
            rows.push(vec![(l, 0.995, D(r0)), (r, 0.005, D(r0))]);
            let r1 = if s == n - 1 { 1.0 } else { 0.0 };
            rows.push(vec![(r, 0.995, D(r1)), (l, 0.005, D(r1))]);
        }
        Mdp::from_rows(n, 2, None, vec![(0, 1.0)], &rows)
    }

    #[test]
    fn slowly_mixing_noisy_river_is_solved_exactly_at_every_size() {
        for n in [5usize, 300, 1_000, 8_000, 50_000] {
            let sol = solve(&noisy_river(n)).unwrap_or_else(|e| panic!("{n} states: {e}"));
            // Always RIGHT: a birth-death chain with ratio 0.995 / 0.005 = 199, the last state
            // holding (1 - 1/199) / (1 - 199^-n) of the mass and earning 1 w.p. 1 there.
            let want = (1.0 - 1.0 / 199.0) / (1.0 - 199f64.powi(-(n as i32)));
            assert!(
                (sol.optimal_average_reward - want).abs() < 1e-12,
                "{n}: {}",
                sol.optimal_average_reward
            );
            assert!(sol.optimal_policy.iter().all(|&a| a == 1), "{n}");
            // Uniform: a symmetric walk, stationary 1/n; earns 0.005 / 2 at 0 and 1 / 2 at n - 1.
            let want = (0.0025 + 0.5) / n as f64;
            assert!(
                (sol.random_average_reward - want).abs() < 1e-12 * want.max(1e-3),
                "{n}: {}",
                sol.random_average_reward
            );
            // Worst: LEFT at n - 1 and RIGHT at 0 never earn.
            assert_eq!(sol.worst_average_reward, 0.0, "{n}");
        }
    }

    /// State 0: stay for 0.9 (action 0) or go to 1; state 1: 1.0 but on to 2; state 2: stay or
    /// go back to 0, both 0. Optimal gain 0.9 (stay in 0); the cycle 0-1-2 is worth 1/3.
    fn stay_or_cycle() -> Mdp {
        let rows = vec![
            vec![(0, 1.0, D(0.9))],
            vec![(1, 1.0, D(0.0))],
            vec![(2, 1.0, D(1.0))],
            vec![(2, 1.0, D(1.0))],
            vec![(2, 1.0, D(0.0))],
            vec![(0, 1.0, D(0.0))],
        ];
        Mdp::from_rows(3, 2, None, vec![(0, 1.0)], &rows)
    }

    #[test]
    fn policy_iteration_cap_is_an_error_never_a_value() {
        // The start heads for the 1.0 (the cycle); staying in 0 is optimal, so a second
        // iteration is needed.
        let m = stay_or_cycle();
        let e = solve_capped(&m, 1, &mut || false).unwrap_err();
        assert_eq!(
            e,
            SolveError::NotConverged {
                what: "optimal gain",
                iters: 1
            }
        );
        assert!(e.to_string().contains("did not converge"), "{e}");
        let sol = solve_capped(&m, 2, &mut || false).unwrap();
        assert!((sol.optimal_average_reward - 0.9).abs() < 1e-12);
        assert_eq!(sol.optimal_policy[0], 0);
    }

    #[test]
    fn value_iteration_certifies_the_right_gain_and_only_it() {
        let m = stay_or_cycle();
        let rew = m.mean_reward.clone();
        let ok = |g: f64| gain_is_certified(&m, &rew, &[g; 3], 1e-10, &mut || false).unwrap();
        assert!(ok(0.9));
        assert!(
            !ok(1.0 / 3.0),
            "a policy's gain below the optimum is not certified"
        );
        assert!(!ok(0.9 + 1e-6), "nor one above it");
        // A gain that differs between states is never certified.
        assert!(!gain_is_certified(&m, &rew, &[0.9, 0.9, 0.5], 1e-10, &mut || false).unwrap());
    }

    #[test]
    fn deterministic_corridor() {
        // Corridor of 4 states, action 1 moves right, 0 moves left; reward 1 for "right" at
        // the end. Optimal gain 1; worst 0; uniform: a reflecting random walk, stationary
        // (1/8, 1/4, 1/4, 3/8)... computed by hand below.
        let n: usize = 4;
        let mut rows = Vec::new();
        for s in 0..n {
            rows.push(vec![(s.saturating_sub(1), 1.0, D(0.0))]);
            let r = if s == n - 1 { 1.0 } else { 0.0 };
            rows.push(vec![((s + 1).min(n - 1), 1.0, D(r))]);
        }
        let m = Mdp::from_rows(n, 2, None, vec![(0, 1.0)], &rows);
        let sol = solve(&m).unwrap();
        assert!((sol.optimal_average_reward - 1.0).abs() < 1e-8);
        assert!(sol.worst_average_reward.abs() < 1e-8);
        // A lazy-at-the-ends symmetric walk has the uniform stationary distribution 1/4; the
        // reward 1 is earned w.p. 1/2 in the last state: gain 1/8.
        assert!((sol.random_average_reward - 0.125).abs() < 1e-8);
    }
}
