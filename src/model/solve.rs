//! Exact values of an MDP: the optimal, uniformly random and worst policies, and the
//! evaluation of any policy (the expected regret of an agent is measured with it).
//!
//! Episodic MDPs are solved by backward induction over the horizon `H`; an episodic average
//! reward is the expected `H`-step return from the starting distribution divided by `H`, as
//! Colosseum defines it. Continuous MDPs use relative value iteration on the aperiodic transform
//! `P' = TAU * I + (1 - TAU) * P`, which has the same gains as `P` but no periodic chains, so
//! the one-step differences `v_{k+1} - v_k` converge to the gain of every state, multichain
//! policies included. Iteration stops when the span of those differences is below
//! [`SPAN_TOL`] (the usual unichain certificate: the gain lies between their minimum and
//! maximum) or when no state's difference moves by more than [`STEP_TOL`] (multichain
//! policies, whose gains differ between states). The average reward of a policy is the
//! starting distribution (or a given state) dotted with its gain vector.

use super::mdp::Mdp;

/// Weight of the self-loop in the aperiodic transform.
pub const TAU: f64 = 0.25;
/// Stop once the span of the one-step differences is below this.
pub const SPAN_TOL: f64 = 1e-12;
/// Or once no one-step difference changes by more than this.
pub const STEP_TOL: f64 = 1e-11;
/// Iteration cap of the continuous solvers (reached only on pathologically slow chains).
pub const MAX_ITERS: usize = 2_000_000;

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

/// Solves an MDP exactly (within the documented tolerances for continuous ones).
pub fn solve(m: &Mdp) -> Solution {
    match m.horizon {
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
            let (g_opt, pol) = optimal_gain(m, true);
            let (g_worst, _) = optimal_gain(m, false);
            let mut ev = Evaluator::new(m.n_states);
            let g_rand = ev.gain(m, &Policy::Uniform).to_vec();
            Solution {
                optimal_average_reward: start_dot(m, &g_opt),
                optimal_policy: pol,
                random_average_reward: start_dot(m, &g_rand),
                worst_average_reward: start_dot(m, &g_worst),
                optimal_values: g_opt,
                worst_values: g_worst,
            }
        }
    }
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

/// The optimal (or worst) gain of every state and a policy attaining it.
pub fn optimal_gain(m: &Mdp, best: bool) -> (Vec<f64>, Vec<u32>) {
    let ns = m.n_states;
    let mut v = vec![0.0; ns];
    let mut nv = vec![0.0; ns];
    let mut d = vec![0.0; ns];
    let mut pol = vec![0u32; ns];
    for it in 0..MAX_ITERS {
        for s in 0..ns {
            let (best_q, best_a) = extreme_action(m, s, &v, best, 1e-13);
            nv[s] = TAU * v[s] + (1.0 - TAU) * best_q;
            pol[s] = best_a as u32;
        }
        if converged(&v, &nv, &mut d, it) {
            break;
        }
        renormalise(&mut nv);
        std::mem::swap(&mut v, &mut nv);
    }
    // The transform scales every gain by (1 - TAU).
    (d.iter().map(|x| x / (1.0 - TAU)).collect(), pol)
}

/// Updates the one-step differences `d` and says whether they have converged.
fn converged(v: &[f64], nv: &[f64], d: &mut [f64], it: usize) -> bool {
    let (mut lo, mut hi, mut moved) = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64);
    for s in 0..v.len() {
        let x = nv[s] - v[s];
        moved = moved.max((x - d[s]).abs());
        d[s] = x;
        lo = lo.min(x);
        hi = hi.max(x);
    }
    it > 0 && (hi - lo < SPAN_TOL || moved < STEP_TOL)
}

/// Keeps values bounded: subtracting a constant changes neither differences nor the policy.
fn renormalise(v: &mut [f64]) {
    let c = v[0];
    for x in v.iter_mut() {
        *x -= c;
    }
}

/// Evaluates policies of one continuous MDP repeatedly, reusing the result when the policy has
/// not changed (a frozen or converged agent costs nothing). With `warm_start`, an evaluation
/// starts from the previous one's relative values instead of zero; measured on the built-in
/// families (bench `regret_eval`) a cold start is usually faster, because deterministic chains
/// then reach the exact gain in about as many sweeps as their longest path, so it is the default.
#[derive(Clone, Debug)]
pub struct Evaluator {
    v: Vec<f64>,
    nv: Vec<f64>,
    d: Vec<f64>,
    gain: Vec<f64>,
    last: Option<Policy>,
    /// Evaluations actually computed (not served from the cache).
    pub computed: u64,
    /// Start each evaluation from the previous relative values (default false).
    pub warm_start: bool,
}

impl Evaluator {
    /// An evaluator for MDPs of `n_states` states.
    pub fn new(n_states: usize) -> Evaluator {
        Evaluator {
            v: vec![0.0; n_states],
            nv: vec![0.0; n_states],
            d: vec![0.0; n_states],
            gain: vec![0.0; n_states],
            last: None,
            computed: 0,
            warm_start: false,
        }
    }

    /// The gain (long-run average reward) of every state under `pol`.
    pub fn gain(&mut self, m: &Mdp, pol: &Policy) -> &[f64] {
        if self.last.as_ref() == Some(pol) {
            return &self.gain;
        }
        self.computed += 1;
        let inv_a = 1.0 / m.n_actions as f64;
        let (v, nv, d) = (&mut self.v, &mut self.nv, &mut self.d);
        if !self.warm_start {
            v.iter_mut().for_each(|x| *x = 0.0);
        }
        d.iter_mut().for_each(|x| *x = 0.0);
        for it in 0..MAX_ITERS {
            for s in 0..m.n_states {
                let q = match pol.action(s) {
                    Some(a) => backup(m, s, a, v),
                    None => (0..m.n_actions).map(|a| backup(m, s, a, v)).sum::<f64>() * inv_a,
                };
                nv[s] = TAU * v[s] + (1.0 - TAU) * q;
            }
            let done = converged(v, nv, d, it) && it > 0;
            renormalise(nv);
            std::mem::swap(v, nv);
            if done {
                break;
            }
        }
        for (g, x) in self.gain.iter_mut().zip(d.iter()) {
            *g = x / (1.0 - TAU);
        }
        self.last = Some(pol.clone());
        &self.gain
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
        let sol = solve(&m);
        // Optimal: go to state 1 and stay: gain 1. Worst: gain 0 (stay in 0).
        assert!((sol.optimal_average_reward - 1.0).abs() < 1e-8);
        assert!(sol.worst_average_reward.abs() < 1e-8);
        // Uniform: the chain is symmetric between the two states (each switches w.p. 1/2),
        // stationary (1/2, 1/2); reward 1/2 in state 1: gain 1/4.
        assert!((sol.random_average_reward - 0.25).abs() < 1e-8);
        assert_eq!(sol.optimal_policy, vec![1, 0]);
        // Fixed policy "always switch": periodic, half the time in state 1 earning 0: gain 0.
        let mut ev = Evaluator::new(2);
        let g = ev.gain(&m, &Policy::Deterministic(vec![1, 1]));
        assert!(g[0].abs() < 1e-8 && g[1].abs() < 1e-8);
        // Multichain: stay everywhere: gains (0, 1).
        let g = ev.gain(&m, &Policy::Deterministic(vec![0, 0])).to_vec();
        assert!(g[0].abs() < 1e-8 && (g[1] - 1.0).abs() < 1e-8);
    }

    #[test]
    fn two_state_chain_episodic() {
        let m = two_state(Some(4));
        let sol = solve(&m);
        // Optimal from 0 over 4 steps: switch, then stay 3 times: 3 / 4.
        assert!((sol.optimal_average_reward - 0.75).abs() < 1e-12);
        assert_eq!(sol.worst_average_reward, 0.0);
        // Uniform over 4 steps from 0, by hand: P(in 1 at t) = 0, 1/2, 1/2, 1/2 and a reward
        // of 1/2 * 1/2 at each t >= 1: 3 * 1/4 = 3/4 in total, 3/16 per step.
        assert!((sol.random_average_reward - 3.0 / 16.0).abs() < 1e-12);
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
        let sol = solve(&m);
        assert!((sol.optimal_average_reward - 1.0).abs() < 1e-8);
        assert!(sol.worst_average_reward.abs() < 1e-8);
        // A lazy-at-the-ends symmetric walk has the uniform stationary distribution 1/4; the
        // reward 1 is earned w.p. 1/2 in the last state: gain 1/8.
        assert!((sol.random_average_reward - 0.125).abs() < 1e-8);
    }
}
