//! Optimistic Q-learning, as Colosseum implements it.
//!
//! Episodic (Jin et al. 2018): `Q[h, s, a]` starts at `H`; learning rate
//! `max(min_at, (H + 1) / (H + n))`; bonus Hoeffding `c_1 * sqrt(H^3 * i / n)` or Bernstein
//! (Colosseum's default) with `i = ln(S * A * T / p)`. Parameters: `c_1` (0.5: Colosseum has no
//! default, its search space is U(0.001, 1.1)), `c_2` (0.5), `min_at` (0), `p` (0.05: the value
//! Colosseum fixes), `UCB_type` ("bernstein" or "hoeffding"; "bernstein").
//!
//! Continuous (Wei et al. 2020): discount `1 - 1 / H'` with `H' = h_weight * min(sqrt(span *
//! T / S / A), (T / S / A / ln(4 T / confidence))^0.333)`, bonus `4 * span * sqrt(H' / n *
//! ln(2 T / confidence))`, `Q` only decreases. Parameters: `h_weight` (1), `span_approx_weight`
//! (1), `min_at` (0; below 0.009 it counts as 0), `confidence` (0.95).
//!
//! Both forms: `policy_ties` ("colosseum", the default, or "first"), how the policy used for
//! regret (greedy for Q) breaks ties; see [`crate::model::ties`].

use super::{Agent, AgentContext, argmax_random_ties};
use crate::model::check::CheckError;
use crate::model::params::ParamReader;
use crate::model::solve::Policy;
use crate::model::ties::PolicyTies;
use crate::rng::Rng;
use crate::value::Params;

/// Episodic optimistic Q-learning.
pub struct QLearningEpisodic {
    ns: usize,
    na: usize,
    h: usize,
    hf: f64,
    c_1: f64,
    c_2: f64,
    min_at: f64,
    i: f64,
    bernstein: bool,
    n: Vec<u32>,
    q: Vec<f64>,
    v: Vec<f64>,
    mu: Vec<f64>,
    sigma: Vec<f64>,
    beta: Vec<f64>,
    ties: PolicyTies,
    rng: Rng,
}

impl QLearningEpisodic {
    /// Checks the parameters.
    pub fn check(params: &Params) -> Result<(), CheckError> {
        Self::read(params).map(|_| ())
    }

    #[allow(clippy::type_complexity, reason = "the parameters, read once")]
    fn read(params: &Params) -> Result<(f64, f64, f64, f64, bool, PolicyTies), CheckError> {
        let mut r = ParamReader::new(params);
        let c_1 = r.positive("c_1", 0.5)?;
        let c_2 = r.positive("c_2", 0.5)?;
        let min_at = r.f64_in("min_at", 0.0, 0.0, 0.99)?;
        let p = r.f64_in("p", 0.05, 1e-12, 0.999_999)?;
        let bern = r.choice("UCB_type", "bernstein", &["bernstein", "hoeffding"])? == "bernstein";
        let ties = PolicyTies::read(&mut r)?;
        r.finish()?;
        Ok((c_1, c_2, min_at, p, bern, ties))
    }

    /// Builds the agent.
    pub fn new(params: &Params, ctx: &AgentContext, rng: Rng) -> Result<Self, CheckError> {
        let (c_1, c_2, min_at, p, bernstein, ties) = Self::read(params)?;
        let h = ctx.horizon.unwrap_or(1);
        let (ns, na) = (ctx.n_states, ctx.n_actions);
        let size = h * ns * na;
        Ok(QLearningEpisodic {
            ns,
            na,
            h,
            hf: h as f64,
            c_1,
            c_2,
            min_at,
            i: ((ns * na) as f64 * ctx.total_steps.max(1) as f64 / p).ln(),
            bernstein,
            n: vec![1; size],
            q: vec![h as f64; size],
            v: vec![0.0; (h + 1) * ns],
            mu: if bernstein {
                vec![0.0; size]
            } else {
                Vec::new()
            },
            sigma: if bernstein {
                vec![0.0; size]
            } else {
                Vec::new()
            },
            beta: if bernstein {
                vec![0.0; size]
            } else {
                Vec::new()
            },
            ties,
            rng,
        })
    }
}

impl Agent for QLearningEpisodic {
    fn select_action(&mut self, s: usize, h: usize) -> usize {
        let i = (h * self.ns + s) * self.na;
        argmax_random_ties(&self.q[i..i + self.na], &mut self.rng)
    }

    fn update(&mut self, s: usize, a: usize, r: f64, next: usize, h: usize, _: bool) {
        let k = (h * self.ns + s) * self.na + a;
        self.n[k] += 1;
        let t = self.n[k] as f64;
        let hf = self.hf;
        let alpha = self.min_at.max((hf + 1.0) / (hf + t));
        let v_next = self.v[(h + 1) * self.ns + next];
        let bonus = if self.bernstein {
            self.mu[k] += v_next;
            self.sigma[k] += v_next * v_next;
            let old = self.beta[k];
            let spread = self.sigma[k] - self.mu[k];
            let first = self.c_1 * ((hf * spread * spread / (t * t) + hf) * self.i).sqrt()
                + (hf.powi(7) * (self.ns * self.na) as f64).sqrt() * self.i / t;
            self.beta[k] = first.min(self.c_2 * (hf.powi(3) * self.i / t).sqrt());
            (self.beta[k] - (1.0 - alpha) * old) / 2.0 / alpha
        } else {
            self.c_1 * (hf.powi(3) * self.i / t).sqrt()
        };
        self.q[k] = alpha * self.q[k] + (1.0 - alpha) * (r + v_next + bonus);
        let i = (h * self.ns + s) * self.na;
        let best = self.q[i..i + self.na]
            .iter()
            .fold(f64::NEG_INFINITY, |m, &x| m.max(x));
        self.v[h * self.ns + s] = hf.min(best);
    }

    fn policy(&mut self) -> Policy {
        debug_assert_eq!(self.q.len(), self.h * self.ns * self.na);
        // Rows in (h, s) order, as Colosseum's argmax_3d walks its (H, S, A) table.
        Policy::Deterministic(self.ties.greedy(&self.q, self.na))
    }
}

/// Continuous optimistic Q-learning.
pub struct QLearningContinuous {
    na: usize,
    gamma: f64,
    min_at: f64,
    hh: f64,
    bonus_scale: f64,
    n: Vec<u32>,
    q: Vec<f64>,
    v: Vec<f64>,
    ties: PolicyTies,
    rng: Rng,
}

impl QLearningContinuous {
    /// Checks the parameters.
    pub fn check(params: &Params) -> Result<(), CheckError> {
        Self::read(params).map(|_| ())
    }

    fn read(params: &Params) -> Result<(f64, f64, f64, f64, PolicyTies), CheckError> {
        let mut r = ParamReader::new(params);
        let h_weight = r.positive("h_weight", 1.0)?;
        let span = r.positive("span_approx_weight", 1.0)?;
        let min_at = r.f64_in("min_at", 0.0, 0.0, 0.99)?;
        let conf = r.f64_in("confidence", 0.95, 1e-12, 0.999_999)?;
        let ties = PolicyTies::read(&mut r)?;
        r.finish()?;
        Ok((h_weight, span, min_at, conf, ties))
    }

    /// Builds the agent.
    pub fn new(params: &Params, ctx: &AgentContext, rng: Rng) -> Result<Self, CheckError> {
        let (h_weight, span, min_at, conf, ties) = Self::read(params)?;
        let (ns, na) = (ctx.n_states as f64, ctx.n_actions as f64);
        let t = ctx.total_steps.max(2) as f64;
        let hh = h_weight
            * (span * t / ns / na)
                .sqrt()
                .min((t / ns / na / (4.0 * t / conf).ln()).powf(0.333));
        // A horizon below 1 would make the discount negative; Colosseum never meets it.
        let hh = hh.max(1.0 + 1e-9);
        let init = hh;
        let size = ctx.n_states * ctx.n_actions;
        Ok(QLearningContinuous {
            na: ctx.n_actions,
            gamma: 1.0 - 1.0 / hh,
            min_at: if min_at > 0.009 { min_at } else { 0.0 },
            hh,
            bonus_scale: 4.0 * span * (hh * (2.0 * t / conf).ln()).sqrt(),
            n: vec![0; size],
            q: vec![init; size],
            v: vec![init; ctx.n_states],
            ties,
            rng,
        })
    }
}

impl Agent for QLearningContinuous {
    #[inline]
    fn select_action(&mut self, s: usize, _: usize) -> usize {
        let i = s * self.na;
        argmax_random_ties(&self.q[i..i + self.na], &mut self.rng)
    }

    #[inline]
    fn update(&mut self, s: usize, a: usize, r: f64, next: usize, _: usize, _: bool) {
        let k = s * self.na + a;
        self.n[k] += 1;
        let n = self.n[k] as f64;
        let alpha = self.min_at.max((self.hh + 1.0) / (self.hh + n));
        let bonus = self.bonus_scale / n.sqrt();
        let main = (1.0 - alpha) * self.q[k] + alpha * (r + self.gamma * self.v[next] + bonus);
        if main < self.q[k] {
            self.q[k] = main;
        }
        let i = next * self.na;
        self.v[next] = self.q[i..i + self.na]
            .iter()
            .fold(f64::NEG_INFINITY, |m, &x| m.max(x));
    }

    fn policy(&mut self) -> Policy {
        // Rows in state order, as Colosseum's argmax_2d walks its (S, A) table.
        Policy::Deterministic(self.ties.greedy(&self.q, self.na))
    }
}
