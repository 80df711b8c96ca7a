//! UCRL2 (Jaksch, Ortner and Auer 2010), continuous only, as Colosseum implements it.
//!
//! Episodes end when a state-action pair's visits in the episode reach its visits before it.
//! At each episode end the optimistic model (rewards plus a Chernoff bonus, transitions within
//! a confidence set around the estimates) is solved by extended value iteration (stopping when
//! the span of the value change is below 1e-3), then the estimates absorb the episode's data
//! (Colosseum's order). Parameters: `alpha_p` (1.0), `alpha_r` (1.0), `bound_type_p`
//! ("bernstein", the bound Colosseum's builder uses, or "chernoff"), `bound_type_rew`
//! ("chernoff" or "bernstein"; "chernoff"), `confidence_set` ("colosseum" or "per_entry").
//!
//! The transition set, `confidence_set = "colosseum"` (the default, what Colosseum runs): the
//! optimistic row moves `radius / 2` of mass to the next state of highest value (capped at 1),
//! taken from the states of lowest value first (an L1 ball). With Chernoff bounds the radius is
//! the Chernoff bound. With Bernstein bounds Colosseum computes one bound per next state but
//! its `_max_proba` (`colosseum/dynamic_programming/infinite_horizon.py`) reads
//! `(p[best] + beta / 2)[0]`: only next state 0's bound is used, as the L1 radius; this code
//! does the same. `confidence_set = "per_entry"` (Bernstein only) keeps a true per-entry set
//! instead: each probability within its own bound, the spare mass given to the states of
//! highest value first. Colosseum's first extended value iteration treats the last state as the
//! best (values all zero, its order is `arange`); so does this code. The regret policy is
//! greedy for the estimated model under discounted value iteration (0.99), as in Colosseum,
//! ties broken by `policy_ties` ("colosseum", the default, or "first"; see
//! [`crate::model::ties`]).

use super::{Agent, AgentContext, SparseModel, argmax_random_ties, sparse_discounted_vi};
use crate::model::check::CheckError;
use crate::model::params::ParamReader;
use crate::model::solve::Policy;
use crate::model::ties::PolicyTies;
use crate::rng::Rng;
use crate::value::Params;

/// Continuous UCRL2.
pub struct Ucrl2 {
    ns: usize,
    na: usize,
    alpha_p: f64,
    alpha_r: f64,
    bernstein_p: bool,
    bernstein_r: bool,
    per_entry: bool,
    p: Vec<f64>,
    est_r: Vec<f64>,
    var_r: Vec<f64>,
    n: Vec<u32>,
    n_sa: Vec<u32>,
    ep_rewards: Vec<Vec<f64>>,
    ep_visits: Vec<u32>,
    touched: Vec<usize>,
    iteration: u64,
    delta: f64,
    q: Vec<f64>,
    q_next: Vec<f64>,
    ties: PolicyTies,
    /// [`Agent::policy`]'s last answer: the estimates it depends on change only at episode
    /// ends, so log rows within an episode reuse it (cleared by [`Ucrl2::model_update`]).
    policy: Option<Policy>,
    rng: Rng,
}

type Ucrl2Params = (f64, f64, bool, bool, bool, PolicyTies);

fn read(params: &Params) -> Result<Ucrl2Params, CheckError> {
    let mut r = ParamReader::new(params);
    let alpha_p = r.positive("alpha_p", 1.0)?;
    let alpha_r = r.positive("alpha_r", 1.0)?;
    let bp = r.choice("bound_type_p", "bernstein", &["bernstein", "chernoff"])?;
    let br = r.choice("bound_type_rew", "chernoff", &["bernstein", "chernoff"])?;
    let set = r.choice("confidence_set", "colosseum", &["colosseum", "per_entry"])?;
    let ties = PolicyTies::read(&mut r)?;
    r.finish()?;
    let per_entry = set == "per_entry";
    if per_entry && bp != "bernstein" {
        return Err(CheckError::Invalid(
            "confidence_set = \"per_entry\" needs bound_type_p = \"bernstein\" (Chernoff \
             bounds give one radius per row, always an L1 set)"
                .into(),
        ));
    }
    Ok((
        alpha_p,
        alpha_r,
        bp == "bernstein",
        br == "bernstein",
        per_entry,
        ties,
    ))
}

impl Ucrl2 {
    /// Checks the parameters.
    pub fn check(params: &Params) -> Result<(), CheckError> {
        read(params).map(|_| ())
    }

    /// Builds the agent.
    pub fn new(params: &Params, ctx: &AgentContext, rng: Rng) -> Result<Self, CheckError> {
        let (alpha_p, alpha_r, bernstein_p, bernstein_r, per_entry, ties) = read(params)?;
        let (ns, na) = (ctx.n_states, ctx.n_actions);
        Ok(Ucrl2 {
            ns,
            na,
            alpha_p,
            alpha_r,
            bernstein_p,
            bernstein_r,
            per_entry,
            p: vec![1.0 / ns as f64; ns * na * ns],
            est_r: vec![1.0; ns * na],
            var_r: vec![0.0; ns * na],
            n: vec![0; ns * na * ns],
            n_sa: vec![0; ns * na],
            ep_rewards: vec![Vec::new(); ns * na],
            ep_visits: vec![0; ns * na],
            touched: Vec::new(),
            iteration: 0,
            delta: 1.0,
            q: vec![0.0; ns * na],
            q_next: Vec::new(),
            ties,
            policy: None,
            rng,
        })
    }

    fn beta_r(&self, sa: usize) -> f64 {
        let (s, a) = (self.ns as f64, self.na as f64);
        let nobs = self.n_sa[sa] as f64;
        let it = self.iteration as f64;
        if self.bernstein_r {
            let n = nobs.max(1.0);
            let nm1 = (nobs - 1.0).max(1.0);
            let lv = (2.0 * s * a * (it + 1.0) / self.delta).ln();
            let var = self.var_r[sa] / nm1;
            self.alpha_r.sqrt() * (14.0 * var / n * lv).sqrt()
                + self.alpha_r * 49.0 / (3.0 * nm1) * lv
        } else {
            self.alpha_r
                * (3.5 * (2.0 * s * a * (it + 1.0) / self.delta).ln() / nobs.max(1.0)).sqrt()
        }
    }

    /// The optimistic next-state distribution of `sa` for values `u`, sorted descending by
    /// `order`, written into `out`.
    fn optimistic_row(&self, sa: usize, order: &[usize], out: &mut [f64]) {
        let ns = self.ns;
        let p = &self.p[sa * ns..(sa + 1) * ns];
        let nobs = self.n_sa[sa] as f64;
        let it = self.iteration as f64;
        if self.bernstein_p && self.per_entry {
            let (s, a) = (ns as f64, self.na as f64);
            let n = nobs.max(1.0);
            let nm1 = (nobs - 1.0).max(1.0);
            let lv = (2.0 * s * a * (it + 1.0) / self.delta).ln();
            let mut hi = vec![0.0; ns];
            let mut mass = 0.0;
            for j in 0..ns {
                let b = self.alpha_p.sqrt() * (14.0 * p[j] * (1.0 - p[j]) / n * lv).sqrt()
                    + self.alpha_p * 49.0 / (3.0 * nm1) * lv;
                out[j] = (p[j] - b).max(0.0);
                hi[j] = (p[j] + b).min(1.0);
                mass += out[j];
            }
            for &j in order {
                if mass >= 1.0 {
                    break;
                }
                let add = (hi[j] - out[j]).min(1.0 - mass);
                out[j] += add;
                mass += add;
            }
        } else {
            let b = if self.bernstein_p {
                // Colosseum's `_max_proba`: the Bernstein bound of next state 0 only.
                let (s, a) = (ns as f64, self.na as f64);
                let n = nobs.max(1.0);
                let nm1 = (nobs - 1.0).max(1.0);
                let lv = (2.0 * s * a * (it + 1.0) / self.delta).ln();
                self.alpha_p.sqrt() * (14.0 * p[0] * (1.0 - p[0]) / n * lv).sqrt()
                    + self.alpha_p * 49.0 / (3.0 * nm1) * lv
            } else {
                self.alpha_p
                    * (14.0 * ns as f64 * (2.0 * self.na as f64 * (it + 1.0) / self.delta).ln()
                        / nobs.max(1.0))
                    .sqrt()
            };
            out.copy_from_slice(p);
            let best = order[0];
            out[best] = (p[best] + b / 2.0).min(1.0);
            let mut excess: f64 = out.iter().sum::<f64>() - 1.0;
            for &j in order.iter().rev() {
                if excess <= 0.0 {
                    break;
                }
                if j == best {
                    continue;
                }
                let cut = out[j].min(excess);
                out[j] -= cut;
                excess -= cut;
            }
        }
    }

    fn extended_value_iteration(&mut self) {
        let (ns, na) = (self.ns, self.na);
        let beta_r: Vec<f64> = (0..ns * na).map(|sa| self.beta_r(sa)).collect();
        let mut u1 = vec![0.0; ns];
        let mut u2 = vec![0.0; ns];
        let mut row = vec![0.0; ns];
        // Highest value first; all values start equal and Colosseum's first order is
        // `arange`, whose best (last) entry is the last state.
        let mut order: Vec<usize> = (0..ns).rev().collect();
        // Planned into a scratch table: when the iteration cap is reached (Colosseum's
        // `extended_value_iteration` then returns None and keeps its Q) or learning must stop
        // (time limit, interrupt), the previous plan stays.
        let mut q = std::mem::take(&mut self.q_next);
        q.clear();
        q.resize(ns * na, 0.0);
        for _ in 0..10_000 {
            if crate::model::stop::requested() {
                break;
            }
            for s in 0..ns {
                let mut best = f64::NEG_INFINITY;
                for a in 0..na {
                    let sa = s * na + a;
                    self.optimistic_row(sa, &order, &mut row);
                    let r = (self.est_r[sa] + beta_r[sa]).min(1.0);
                    let x = r + row.iter().zip(&u1).map(|(p, u)| p * u).sum::<f64>();
                    q[sa] = x - u1[s];
                    best = best.max(x);
                }
                u2[s] = best;
            }
            let (lo, hi) = u2
                .iter()
                .zip(&u1)
                .map(|(a, b)| a - b)
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), d| {
                    (l.min(d), h.max(d))
                });
            std::mem::swap(&mut u1, &mut u2);
            if hi - lo < 1e-3 {
                std::mem::swap(&mut self.q, &mut q);
                break;
            }
            let base = u1[0];
            u1.iter_mut().for_each(|u| *u -= base);
            // Descending; ties put the higher index first, as the last entries of NumPy's
            // (stable for small arrays) ascending `argsort` that Colosseum reads.
            order.sort_by(|&i, &j| u1[j].total_cmp(&u1[i]).then(j.cmp(&i)));
        }
        self.q_next = q;
    }

    fn model_update(&mut self) {
        self.policy = None;
        let ns = self.ns;
        for &sa in &self.touched {
            let mut scale = self.n_sa[sa] as f64;
            for &r in &self.ep_rewards[sa] {
                self.iteration += 1;
                scale += 1.0;
                let old = self.est_r[sa];
                self.est_r[sa] = old * scale / (scale + 1.0) + r / (scale + 1.0);
                self.var_r[sa] += (r - old) * (r - self.est_r[sa]);
            }
            let total = self.n_sa[sa] as f64;
            for j in 0..ns {
                self.p[sa * ns + j] = self.n[sa * ns + j] as f64 / total;
            }
        }
    }
}

impl Agent for Ucrl2 {
    fn before_start(&mut self) {
        self.end_episode();
    }

    fn select_action(&mut self, s: usize, _: usize) -> usize {
        argmax_random_ties(&self.q[s * self.na..(s + 1) * self.na], &mut self.rng)
    }

    fn update(&mut self, s: usize, a: usize, r: f64, next: usize, _: usize, _: bool) {
        let sa = s * self.na + a;
        self.n[sa * self.ns + next] += 1;
        self.n_sa[sa] += 1;
        if self.ep_visits[sa] == 0 {
            self.touched.push(sa);
        }
        self.ep_visits[sa] += 1;
        self.ep_rewards[sa].push(r);
    }

    fn is_episode_end(&mut self, s: usize, a: usize, _: bool) -> bool {
        let sa = s * self.na + a;
        let nu = self.ep_visits[sa];
        nu >= 1.max(self.n_sa[sa] - nu)
    }

    fn end_episode(&mut self) {
        self.delta = 1.0 / ((self.iteration + 1) as f64).sqrt();
        self.extended_value_iteration();
        self.model_update();
        for sa in std::mem::take(&mut self.touched) {
            self.ep_visits[sa] = 0;
            self.ep_rewards[sa].clear();
        }
    }

    fn policy(&mut self) -> Policy {
        if self.policy.is_none() {
            self.policy = Some(self.greedy_for_estimates());
        }
        self.policy.clone().unwrap_or(Policy::Uniform)
    }
}

impl Ucrl2 {
    /// The policy whose regret is measured (Colosseum's): greedy for discounted value
    /// iteration (0.99, to 1e-3, from zero values) on the estimated transitions and rewards.
    fn greedy_for_estimates(&self) -> Policy {
        let mut model = SparseModel::default();
        self.p.chunks(self.ns).for_each(|row| model.push_dense(row));
        let mut v = vec![0.0; self.ns];
        let mut q = Vec::new();
        let (ns, na) = (self.ns, self.na);
        sparse_discounted_vi(
            ns,
            na,
            &model,
            &self.est_r,
            0.99,
            1e-3,
            &mut v,
            &mut q,
            false,
        );
        // Rows in state order, as Colosseum's argmax_2d walks its (S, A) table.
        Policy::Deterministic(self.ties.greedy(&q, self.na))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    fn agent(set: &str) -> Ucrl2 {
        let mut params = Params::new();
        params.insert("confidence_set".into(), Value::Str(set.into()));
        let ctx = AgentContext {
            n_states: 4,
            n_actions: 1,
            horizon: None,
            total_steps: 1000,
        };
        let mut a = Ucrl2::new(&params, &ctx, Rng::new(1)).unwrap();
        // 1,000 observations of pair 0: p = (0.1, 0.2, 0.3, 0.4).
        a.p[..4].copy_from_slice(&[0.1, 0.2, 0.3, 0.4]);
        a.n_sa[0] = 1000;
        a.iteration = 1000;
        a.delta = 0.5;
        a
    }

    #[test]
    fn the_measured_policy_is_kept_within_an_episode_and_renewed_at_its_end() {
        let ctx = AgentContext {
            n_states: 5,
            n_actions: 2,
            horizon: None,
            total_steps: 1000,
        };
        let mut a = Ucrl2::new(&Params::new(), &ctx, Rng::new(3)).unwrap();
        a.before_start();
        let mut env = Rng::new(4);
        let (mut s, mut renewed, mut kept) = (0, 0, 0);
        for _ in 0..400 {
            let act = a.select_action(s, 0);
            let next = env.below(5) as usize;
            let r = if next == 4 { 1.0 } else { 0.0 };
            a.update(s, act, r, next, 0, false);
            if a.is_episode_end(s, act, false) {
                a.end_episode();
            }
            let cached = a.policy.is_some();
            // Whether kept or computed afresh, it is the policy of the current estimates.
            assert_eq!(a.policy(), a.greedy_for_estimates());
            if cached {
                kept += 1
            } else {
                renewed += 1
            }
            s = next;
        }
        assert!(kept > 300 && renewed > 5, "kept {kept}, renewed {renewed}");
    }

    #[test]
    fn colosseum_rule_moves_half_of_next_state_zeros_bound_to_the_best_state() {
        let a = agent("colosseum");
        // Values: state 2 best, then 1, 3, 0 (lowest).
        let order = [2, 1, 3, 0];
        let mut out = [0.0; 4];
        a.optimistic_row(0, &order, &mut out);
        let lv = (2.0f64 * 4.0 * 1.0 * 1001.0 / 0.5).ln();
        let b = (14.0f64 * 0.1 * 0.9 / 1000.0 * lv).sqrt() + 49.0 / (3.0 * 999.0) * lv;
        // Half of the bound of next state 0 goes to state 2, taken from state 0 (lowest
        // value) first, then state 3.
        assert!((out[2] - (0.3 + b / 2.0)).abs() < 1e-15, "{out:?} b={b}");
        let from0 = (b / 2.0).min(0.1);
        assert!((out[0] - (0.1 - from0)).abs() < 1e-15, "{out:?}");
        assert!(
            (out[3] - (0.4 - (b / 2.0 - from0))).abs() < 1e-15,
            "{out:?}"
        );
        assert!((out[1] - 0.2).abs() < 1e-15);
        assert!((out.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn per_entry_rule_keeps_each_probability_within_its_own_bound() {
        let a = agent("per_entry");
        let order = [2, 1, 3, 0];
        let mut out = [0.0; 4];
        a.optimistic_row(0, &order, &mut out);
        let lv = (2.0f64 * 4.0 * 1.0 * 1001.0 / 0.5).ln();
        let bound = |p: f64| (14.0 * p * (1.0 - p) / 1000.0 * lv).sqrt() + 49.0 / 2997.0 * lv;
        let p = [0.1, 0.2, 0.3, 0.4];
        for j in 0..4 {
            assert!(out[j] >= (p[j] - bound(p[j])).max(0.0) - 1e-15, "{out:?}");
            assert!(out[j] <= p[j] + bound(p[j]) + 1e-15, "{out:?}");
        }
        // The best state gets its whole upper bound.
        assert!((out[2] - (0.3 + bound(0.3))).abs() < 1e-15, "{out:?}");
        assert!((out.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}
