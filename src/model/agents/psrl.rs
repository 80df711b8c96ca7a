//! Posterior sampling (PSRL), as Colosseum implements it.
//!
//! Both forms keep a Normal-Normal-inverse-Gamma posterior on each mean reward (prior
//! `[mean, 1, 1, 1]` in Colosseum's interpretable form: mean, its pseudo-count, precision, its
//! pseudo-count) and a Dirichlet posterior on each transition row.
//!
//! Episodic: a model is sampled at every episode end and solved by backward induction.
//! Parameters: `prior_mean` (1.0, the reward range's top, Colosseum's default prior),
//! `transition_prior` (the Dirichlet concentration; `1 / n_states`, Colosseum's default).
//!
//! Continuous (optimistic PSRL, Agrawal and Jia): an episode ends when some state-action
//! pair's visits in the episode reach its visits before it; `psi` transition samples per pair
//! (from the posterior, or from a pessimistic empirical estimate for pairs seen fewer than `eta`
//! times) form an extended MDP, discounted by 0.99, whose optimal policy is followed. Parameters:
//! `rewards_prior_mean` (1.0), `psi_weight`, `omega_weight`, `kappa_weight`, `eta_weight` (1.0
//! each, Colosseum's defaults), `p` (0.05), `reward_pairing` ("colosseum" or "consistent"),
//! `solver`: how the extended MDP is solved. `"policy_iteration"` solves it exactly
//! ([`PsrlContinuous::solve_extended_exact`]); `"value_iteration"` runs Colosseum's method,
//! discounted value iteration stopped when no value moves by 1e-3 in a sweep, but in float64
//! and warm-started from the previous episode's values where Colosseum starts from zero in
//! float32 ([`PsrlContinuous::solve_extended`]); `"reference"` is the same value iteration evaluating
//! every extended action in every sweep, kept to check and benchmark the other (bit-identical
//! plans); `"auto"`, the default, is policy iteration up to [`EXACT_MAX_STATES`] states and
//! value iteration above. Both methods solve the same sampled model; they differ only in how
//! close to its optimum the plan is (value iteration's values can be off by up to
//! `0.99 / 0.01 * 1e-3 = 0.099`).
//! The policy used for regret comes from the posterior means (MAP), as in Colosseum; both forms
//! take `policy_ties` ("colosseum", the default, or "first"), how that policy breaks ties (see
//! [`crate::model::ties`]).
//!
//! Extended action `j = a * psi + k` takes the `k`-th transition sample of action `a = j / psi`.
//! Its reward, `reward_pairing = "colosseum"` (the default, what Colosseum runs): the sampled
//! reward of action `j % A`, because Colosseum's `PSRLContinuous.episode_end_update`
//! (`colosseum/agent/agents/infinite_horizon/posterior_sampling.py`) extends the rewards with
//! `np.tile(R, (1, psi))` where the transitions are laid out as `np.repeat` would; with
//! `"consistent"`, the sampled reward of action `j / psi`, the one whose transitions it takes.

use super::{Agent, AgentContext, argmax_random_ties, episodic_vi};
use crate::model::check::CheckError;
use crate::model::params::ParamReader;
use crate::model::solve::Policy;
use crate::model::stop;
use crate::model::ties::PolicyTies;
use crate::rng::{PolarNormals, Rng};
use crate::value::Params;

/// The posterior of a tabular model: NNIG per reward, Dirichlet per transition row (dense).
struct Posterior {
    ns: usize,
    na: usize,
    /// Per (s, a): mean, lambda, alpha, beta.
    rew: Vec<[f64; 4]>,
    /// Per (s, a, s'): Dirichlet concentration (prior + counts).
    dir: Vec<f64>,
    /// The prior concentration of every entry.
    trans_prior: f64,
}

impl Posterior {
    fn new(ns: usize, na: usize, prior_mean: f64, trans_prior: f64) -> Posterior {
        // Interpretable (mu, n_mu, tau, n_tau) = (m, 1, 1, 1) -> (m, 1, n_tau / 2, n_tau / 2 / tau).
        Posterior {
            ns,
            na,
            rew: vec![[prior_mean, 1.0, 0.5, 0.5]; ns * na],
            dir: vec![trans_prior; ns * na * ns],
            trans_prior,
        }
    }

    fn update_reward(&mut self, s: usize, a: usize, r: f64) {
        let [mu, lam, alpha, beta] = self.rew[s * self.na + a];
        let lam1 = lam + 1.0;
        self.rew[s * self.na + a] = [
            (lam * mu + r) / lam1,
            lam1,
            alpha + 0.5,
            beta + 0.5 * lam * (r - mu) * (r - mu) / lam1,
        ];
    }

    fn sample_rewards(&self, rng: &mut Rng) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.rew.len());
        self.sample_rewards_into(rng, &mut out);
        out
    }

    /// [`Posterior::sample_rewards`] into a reused buffer.
    fn sample_rewards_into(&self, rng: &mut Rng, out: &mut Vec<f64>) {
        out.clear();
        out.extend(self.rew.iter().map(|&[mu, lam, alpha, beta]| {
            let tau = rng.gamma(alpha) / beta;
            mu + rng.normal() * (1.0 / (lam * tau)).sqrt()
        }));
    }

    fn sample_row(&self, sa: usize, rng: &mut Rng, out: &mut [f64]) {
        let conc = &self.dir[sa * self.ns..(sa + 1) * self.ns];
        let mut sum = 0.0;
        for (o, &c) in out.iter_mut().zip(conc) {
            *o = rng.gamma(c);
            sum += *o;
        }
        let norm = 1.0 / (1e-5 + sum);
        out.iter_mut().for_each(|o| *o *= norm);
    }

    /// [`Posterior::sample_row`] without the dust: an entry holding only the prior
    /// concentration `alpha0 < 1` is `Gamma(alpha0) = Gamma(1 + alpha0) * u^(1 / alpha0)`, and
    /// when `u < dust_cut = e^(-69 alpha0)` its second factor is below `e^-69 = 1e-30`: the
    /// entry is set to 0 without drawing `Gamma(1 + alpha0)` (which exceeds 60 with probability
    /// below 1e-24). So the row has the distribution of a full row but for entries below
    /// 6e-29: the row is divided by `1e-5 + sum` (Colosseum's normalisation), whose rounding
    /// step (1.7e-21 or more) is over 100 times their total up to 10^5 states (the normaliser
    /// can change in its last bit only when the sum lies that close to a rounding boundary),
    /// and after the division they are below 1e-23, under the 1e-10 threshold of the extended
    /// model, which drops them anyway. A 144-state MDP's rows skip the Gamma draw for 62% of
    /// their unobserved entries.
    ///
    /// The prior concentration must be `1 / S` (PSRL continuous's), so that `u^(1 / alpha0)` is
    /// `u^S`, by repeated squaring (relative error up to about `S * 1.1e-16`, against one
    /// rounding for `powf`); the Gamma draws take their normals from `normals`.
    fn sample_row_without_dust(
        &self,
        sa: usize,
        dust_cut: f64,
        rng: &mut Rng,
        normals: &mut PolarNormals,
        out: &mut [f64],
    ) {
        let conc = &self.dir[sa * self.ns..(sa + 1) * self.ns];
        let alpha0 = self.trans_prior;
        debug_assert_eq!(alpha0, 1.0 / self.ns as f64);
        let s = i32::try_from(self.ns).expect("state count fits i32");
        let mut sum = 0.0;
        for (o, &c) in out.iter_mut().zip(conc) {
            *o = if c == alpha0 {
                let u = 1.0 - rng.next_f64();
                if u < dust_cut {
                    0.0
                } else {
                    rng.gamma_polar(alpha0 + 1.0, normals) * u.powi(s)
                }
            } else {
                rng.gamma_polar(c, normals)
            };
            sum += *o;
        }
        let norm = 1.0 / (1e-5 + sum);
        out.iter_mut().for_each(|o| *o *= norm);
    }

    /// A sampled transition table; `None` when [`stop::requested`] said to stop learning.
    fn sample_transitions(&self, rng: &mut Rng) -> Option<Vec<f64>> {
        let mut t = vec![0.0; self.dir.len()];
        for sa in 0..self.ns * self.na {
            if stop::requested() {
                return None;
            }
            self.sample_row(sa, rng, &mut t[sa * self.ns..(sa + 1) * self.ns]);
        }
        Some(t)
    }

    fn map_estimate(&self) -> (Vec<f64>, Vec<f64>) {
        let mut t = self.dir.clone();
        for row in t.chunks_mut(self.ns) {
            let sum: f64 = row.iter().sum();
            row.iter_mut().for_each(|x| *x /= sum);
        }
        (t, self.rew.iter().map(|r| r[0]).collect())
    }
}

/// Episodic PSRL.
pub struct PsrlEpisodic {
    post: Posterior,
    h: usize,
    q: Vec<f64>,
    ties: PolicyTies,
    rng: Rng,
}

fn read_episodic(params: &Params, ns: usize) -> Result<(f64, f64, PolicyTies), CheckError> {
    let mut r = ParamReader::new(params);
    let prior_mean = r.f64("prior_mean", 1.0)?;
    let tp = r.positive("transition_prior", 1.0 / ns.max(1) as f64)?;
    let ties = PolicyTies::read(&mut r)?;
    r.finish()?;
    Ok((prior_mean, tp, ties))
}

impl PsrlEpisodic {
    /// Checks the parameters.
    pub fn check(params: &Params) -> Result<(), CheckError> {
        read_episodic(params, 1).map(|_| ())
    }

    /// Builds the agent.
    pub fn new(params: &Params, ctx: &AgentContext, rng: Rng) -> Result<Self, CheckError> {
        let (prior_mean, tp, ties) = read_episodic(params, ctx.n_states)?;
        let h = ctx.horizon.unwrap_or(1);
        Ok(PsrlEpisodic {
            post: Posterior::new(ctx.n_states, ctx.n_actions, prior_mean, tp),
            h,
            q: vec![0.0; h * ctx.n_states * ctx.n_actions],
            ties,
            rng,
        })
    }
}

impl Agent for PsrlEpisodic {
    fn before_start(&mut self) {
        self.end_episode();
    }

    fn select_action(&mut self, s: usize, h: usize) -> usize {
        let na = self.post.na;
        let i = (h * self.post.ns + s) * na;
        argmax_random_ties(&self.q[i..i + na], &mut self.rng)
    }

    fn update(&mut self, s: usize, a: usize, r: f64, next: usize, _: usize, last: bool) {
        self.post.update_reward(s, a, r);
        if !last {
            self.post.dir[(s * self.post.na + a) * self.post.ns + next] += 1.0;
        }
    }

    fn end_episode(&mut self) {
        // Stopped learning (time limit, interrupt): keep the previous plan.
        let Some(t) = self.post.sample_transitions(&mut self.rng) else {
            return;
        };
        let r = self.post.sample_rewards(&mut self.rng);
        if let Some(q) = episodic_vi(self.post.ns, self.post.na, self.h, &t, &r, true) {
            self.q = q;
        }
    }

    fn policy(&mut self) -> Policy {
        let (t, r) = self.post.map_estimate();
        let q = episodic_vi(self.post.ns, self.post.na, self.h, &t, &r, false).unwrap_or_default();
        // Rows in (h, s) order, as Colosseum's argmax_3d walks its (H + 1, S, A) table (its
        // extra last row, all zeros, comes after every row used here).
        Policy::Deterministic(self.ties.greedy(&q, self.post.na))
    }
}

/// Continuous optimistic PSRL.
pub struct PsrlContinuous {
    post: Posterior,
    counts: Vec<u32>,
    totals: Vec<u32>,
    seen: Vec<Vec<u32>>,
    episode_visits: Vec<u32>,
    touched: Vec<usize>,
    psi: usize,
    eta: f64,
    optimistic: bool,
    tile_rewards: bool,
    trans_prior: f64,
    /// [`Posterior::sample_row_without_dust`]'s cut for the prior concentration.
    dust_cut: f64,
    normals: PolarNormals,
    q: Vec<f64>,
    q_next: Vec<f64>,
    v: Vec<f64>,
    v_keep: Vec<f64>,
    v_map: Vec<f64>,
    ties: PolicyTies,
    ext: Extended,
    solver: Solver,
    rng: Rng,
}

/// How [`PsrlContinuous`] solves its extended MDP (parameter `solver`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Solver {
    /// [`PsrlContinuous::solve_extended_exact`].
    PolicyIteration,
    /// [`PsrlContinuous::solve_extended`].
    ValueIteration,
    /// [`PsrlContinuous::solve_extended_reference`].
    Reference,
}

/// `solver = "auto"` uses policy iteration up to this many states and value iteration above:
/// each policy evaluation factorises a dense `S x S` matrix (up to `S^3 / 3` multiply-adds).
/// Measured on continuous DeepSea (psi_weight 0.05, eta_weight 1e-9, 300 steps, release):
/// 465 states 0.69 s vs 2.05 s, 820 states 1.90 s vs 4.73 s, 1,275 states 10.4 s vs 7.6 s.
pub const EXACT_MAX_STATES: usize = 1000;

/// The most states `solver = "policy_iteration"` accepts (its dense matrix: 200 MB).
const EXACT_HARD_MAX_STATES: usize = 5000;

type PsrlParams = (f64, f64, f64, f64, f64, bool, PolicyTies, &'static str);

fn read_continuous(params: &Params) -> Result<PsrlParams, CheckError> {
    let mut r = ParamReader::new(params);
    let prior_mean = r.f64("rewards_prior_mean", 1.0)?;
    let psi_w = r.positive("psi_weight", 1.0)?;
    let omega_w = r.positive("omega_weight", 1.0)?;
    let kappa_w = r.positive("kappa_weight", 1.0)?;
    let eta_w = r.positive("eta_weight", 1.0)?;
    let p = r.f64_in("p", 0.05, 1e-12, 0.999_999)?;
    let pairing = r.choice("reward_pairing", "colosseum", &["colosseum", "consistent"])?;
    let ties = PolicyTies::read(&mut r)?;
    let solver = r.choice(
        "solver",
        "auto",
        &["auto", "policy_iteration", "value_iteration", "reference"],
    )?;
    r.finish()?;
    let _ = kappa_w; // kappa only shapes a statistic Colosseum computes and never reads.
    Ok((
        prior_mean,
        psi_w,
        omega_w,
        eta_w,
        p,
        pairing == "colosseum",
        ties,
        solver,
    ))
}

/// The action whose sampled reward extended action `j` (transitions of action `j / psi`)
/// receives: Colosseum's `np.tile` pairing gives `j % A`, the consistent one `j / psi`.
fn reward_action(j: usize, na: usize, psi: usize, tile: bool) -> usize {
    if tile { j % na } else { j / psi }
}

impl PsrlContinuous {
    /// Checks the parameters.
    pub fn check(params: &Params) -> Result<(), CheckError> {
        read_continuous(params).map(|_| ())
    }

    /// Builds the agent.
    pub fn new(params: &Params, ctx: &AgentContext, rng: Rng) -> Result<Self, CheckError> {
        let (prior_mean, psi_w, omega_w, eta_w, p, tile_rewards, ties, solver) =
            read_continuous(params)?;
        let (ns, na) = (ctx.n_states, ctx.n_actions);
        let solver = match solver {
            "policy_iteration" if ns > EXACT_HARD_MAX_STATES => {
                return Err(CheckError::Incompatible(format!(
                    "solver = \"policy_iteration\" handles up to {EXACT_HARD_MAX_STATES} states \
                     (a dense {ns} x {ns} matrix would take {} MB); this MDP has {ns}: use \
                     \"value_iteration\" or \"auto\"",
                    ns * ns * 8 / 1_000_000
                )));
            }
            "policy_iteration" => Solver::PolicyIteration,
            "value_iteration" => Solver::ValueIteration,
            "reference" => Solver::Reference,
            _ if ns <= EXACT_MAX_STATES => Solver::PolicyIteration,
            _ => Solver::ValueIteration,
        };
        let (s, a, t) = (ns as f64, na as f64, ctx.total_steps.max(2) as f64);
        let psi = ((psi_w * s * (s * a / p).ln()) as i64).clamp(2, 60) as usize;
        let omega = omega_w * (t / p).ln();
        let eta = (eta_w * ((t * s / a).sqrt() + 12.0 * omega * s.powi(4)))
            .min(10.0 * s)
            .max(5.0);
        let optimistic = (ns * ns * na) as f64 <= 6_000_000.0;
        let psi = if optimistic { psi } else { 1 };
        Ok(PsrlContinuous {
            post: Posterior::new(ns, na, prior_mean, 1.0 / ns as f64),
            counts: vec![0; ns * na * ns],
            totals: vec![0; ns * na],
            seen: vec![Vec::new(); ns * na],
            episode_visits: vec![0; ns * na],
            touched: Vec::new(),
            psi,
            eta,
            optimistic,
            tile_rewards,
            trans_prior: 1.0 / ns as f64,
            dust_cut: (-69.0 / ns as f64).exp(),
            normals: PolarNormals::default(),
            q: vec![0.0; ns * na * psi],
            q_next: Vec::new(),
            v: vec![0.0; ns],
            v_keep: vec![0.0; ns],
            v_map: vec![0.0; ns],
            ties,
            ext: Extended::default(),
            solver,
            rng,
        })
    }

    /// Samples `psi` transition models into the extended model `(s, a * psi + k)`, into
    /// `self.ext` (its buffers are reused: no allocation once grown). Pairs seen fewer than
    /// `eta` times get Colosseum's pessimistic empirical row plus the leftover mass on a random
    /// state `z_k`, built from the observed next states only (sparse): their `psi` extended
    /// rows share one entry list and differ only in `z_k`, so they are stored once. The random
    /// draws are the same, in the same order, as when every extended row was stored.
    /// `false` when [`stop::requested`] said to stop learning.
    fn extended_model(&mut self) -> bool {
        let (ns, na, psi) = (self.post.ns, self.post.na, self.psi);
        let ena = na * psi;
        let ln4s = (4.0 * ns as f64).ln();
        let ext = &mut self.ext;
        ext.zs.clear();
        for _ in 0..psi {
            ext.zs.push(self.rng.below(ns as u64) as usize);
        }
        ext.row.resize(ns, 0.0);
        ext.entries.clear();
        ext.ranges.clear();
        ext.left.clear();
        for sa in 0..ns * na {
            if stop::requested() {
                return false;
            }
            let total = self.totals[sa];
            let simple = self.optimistic && (total as f64) < self.eta;
            if simple {
                let lo = ext.entries.len() as u32;
                let denom = (total as f64).max(1.0);
                let mut sum = 0.0;
                for &j in &self.seen[sa] {
                    let c = self.counts[sa * ns + j as usize] as f64;
                    let p_hat = c / denom;
                    let shrink = ((3.0 * p_hat * ln4s / c).sqrt() + 3.0 * ln4s / c).min(p_hat);
                    let x = p_hat - shrink;
                    sum += x;
                    if x > 1e-10 {
                        ext.entries.push((j, x));
                    }
                }
                let hi = ext.entries.len() as u32;
                // Each kept mass is its empirical frequency less a positive shrink: the
                // leftover is positive but for rounding.
                debug_assert!(1.0 - sum > -1e-12, "leftover mass {}", 1.0 - sum);
                ext.left.push(1.0 - sum);
                for _ in 0..psi {
                    ext.ranges.push((lo, hi));
                }
            } else {
                ext.left.push(f64::NAN);
                for _ in 0..psi {
                    self.post.sample_row_without_dust(
                        sa,
                        self.dust_cut,
                        &mut self.rng,
                        &mut self.normals,
                        &mut ext.row,
                    );
                    let lo = ext.entries.len() as u32;
                    for (j, &p) in ext.row.iter().enumerate() {
                        // Entries below 1e-10: their total effect on a value is far below
                        // the solver's tolerance.
                        if p > 1e-10 {
                            ext.entries.push((j as u32, p));
                        }
                    }
                    ext.ranges.push((lo, ext.entries.len() as u32));
                }
            }
        }
        self.post
            .sample_rewards_into(&mut self.rng, &mut ext.sampled_r);
        ext.r.resize(ns * ena, 0.0);
        for (i, x) in ext.r.iter_mut().enumerate() {
            let (s, j) = (i / ena, i % ena);
            *x = ext.sampled_r[s * na + reward_action(j, na, psi, self.tile_rewards)];
        }
        true
    }

    /// Discounted value iteration (0.99, to 1e-3, Gauss-Seidel in place, warm-started from
    /// `self.v`) on `self.ext`, into `self.q_next`. `false` when stopped.
    ///
    /// A pessimistic pair's `psi` extended actions share their entries and differ only in the
    /// state `z_k` that gets the leftover mass and in the reward; actions `k` with the same
    /// `k % A` have the same reward (both pairings). Since rounding is monotone, the largest
    /// of `r + 0.99 * (base + left * v[z_k])` over such a group is the same expression at the
    /// group's largest `v[z_k]` (smallest when `left < 0`), bit for bit, so a sweep costs
    /// `min(A, psi)` actions per pessimistic pair instead of `psi`, with the group extremes
    /// kept current as values change. The q-values of the last sweep, which the agent acts
    /// on, are filled in afterwards from the values each one saw. The result is bit-identical
    /// to evaluating every extended action in every sweep.
    fn solve_extended(&mut self) -> bool {
        let (ns, na, psi) = (self.post.ns, self.post.na, self.psi);
        let ena = na * psi;
        let groups = na.min(psi);
        let gamma = 0.99;
        let ext = &mut self.ext;
        let (v, q) = (&mut self.v, &mut self.q_next);
        q.clear();
        q.resize(ns * ena, 0.0);
        ext.base.clear();
        ext.base.resize(ns * na, 0.0);
        // Per state, the groups whose extremes it enters (as some z_k), CSR.
        ext.zfirst.clear();
        ext.zfirst.resize(ns + 1, 0);
        for &z in &ext.zs {
            ext.zfirst[z + 1] += 1;
        }
        for i in 0..ns {
            ext.zfirst[i + 1] += ext.zfirst[i];
        }
        ext.zgroup.clear();
        ext.zgroup.resize(ext.zs.len(), 0);
        {
            let mut at: Vec<u32> = Vec::new();
            std::mem::swap(&mut at, &mut ext.zfill);
            at.clear();
            at.extend_from_slice(&ext.zfirst[..ns]);
            for (k, &z) in ext.zs.iter().enumerate() {
                ext.zgroup[at[z] as usize] = (k % groups) as u32;
                at[z] += 1;
            }
            std::mem::swap(&mut at, &mut ext.zfill);
        }
        let extremes = |v: &[f64], zs: &[usize], m: usize| {
            let (mut hi, mut lo) = (f64::NEG_INFINITY, f64::INFINITY);
            for &z in zs.iter().skip(m).step_by(groups) {
                hi = hi.max(v[z]);
                lo = lo.min(v[z]);
            }
            (hi, lo)
        };
        ext.gmax.clear();
        ext.gmin.clear();
        for m in 0..groups {
            let (hi, lo) = extremes(v, &ext.zs, m);
            ext.gmax.push(hi);
            ext.gmin.push(lo);
        }
        for _ in 0..100_000 {
            if stop::requested() {
                return false;
            }
            ext.v_start.clone_from(v);
            let mut diff = 0.0f64;
            for s in 0..ns {
                let mut best = f64::NEG_INFINITY;
                for a in 0..na {
                    let sa = s * na + a;
                    let left = ext.left[sa];
                    let first = sa * psi;
                    if left.is_nan() {
                        for (i, qi) in q.iter_mut().enumerate().skip(first).take(psi) {
                            let ev = ext.expected(i, v);
                            let x = ext.r[i] + gamma * ev;
                            *qi = x;
                            best = best.max(x);
                        }
                    } else {
                        let base = ext.expected(first, v);
                        ext.base[sa] = base;
                        let ext_v = if left >= 0.0 { &ext.gmax } else { &ext.gmin };
                        for (m, &vz) in ext_v.iter().enumerate() {
                            let x = ext.r[first + m] + gamma * (base + left * vz);
                            best = best.max(x);
                        }
                    }
                }
                let old = v[s];
                diff = diff.max((best - old).abs());
                v[s] = best;
                for g in ext.zfirst[s]..ext.zfirst[s + 1] {
                    let m = ext.zgroup[g as usize] as usize;
                    // A full rescan only when the old extreme may have been this value.
                    if (best < old && old >= ext.gmax[m]) || (best > old && old <= ext.gmin[m]) {
                        let (hi, lo) = extremes(v, &ext.zs, m);
                        ext.gmax[m] = hi;
                        ext.gmin[m] = lo;
                    } else {
                        ext.gmax[m] = ext.gmax[m].max(best);
                        ext.gmin[m] = ext.gmin[m].min(best);
                    }
                }
            }
            if diff < 1e-3 {
                break;
            }
        }
        // The last sweep's q-values of the pessimistic pairs: state `s` saw the new values of
        // the states before it and the old ones of the others (itself included).
        for s in 0..ns {
            for a in 0..na {
                let sa = s * na + a;
                let left = ext.left[sa];
                if left.is_nan() {
                    continue;
                }
                let first = sa * psi;
                for (k, &z) in ext.zs.iter().enumerate() {
                    let vz = if z < s { v[z] } else { ext.v_start[z] };
                    q[first + k] = ext.r[first + k] + gamma * (ext.base[sa] + left * vz);
                }
            }
        }
        true
    }

    /// The extended MDP solved exactly (discount 0.99) by policy iteration, into `self.v` (the
    /// optimal values) and `self.q_next` (every extended action's q-value under them). `false`
    /// when stopped.
    ///
    /// The first policy is greedy for the previous episode's values. Each evaluation solves
    /// `(I - 0.99 P) v = r` for the current policy by Gaussian elimination on a dense matrix
    /// (no pivoting: the matrix is strictly diagonally dominant by rows, and stays so as it is
    /// eliminated: every row's probabilities are non-negative and sum to at most 1, leftover
    /// masses included); zero entries are skipped, so sparse rows cost little. Each
    /// improvement switches a state's action only when another is better by more than
    /// `1e-11` times the largest value (far above the evaluation's rounding error, which
    /// scales with it), so rounding cannot make it cycle; it stops when no state switches, at
    /// the optimal values (to rounding), or at a cap of 1,000 improvements it does not come
    /// near (3.3-3.4 evaluations per episode on average, measured on MiniGridEmpty(6)). A
    /// pessimistic pair's best action in a reward group is the one whose `z_k` has the largest
    /// value (smallest when its leftover mass is negative, which only rounding could make
    /// it), as in [`PsrlContinuous::solve_extended`].
    fn solve_extended_exact(&mut self) -> bool {
        let (ns, na, psi) = (self.post.ns, self.post.na, self.psi);
        let ena = na * psi;
        let groups = na.min(psi);
        let gamma = 0.99;
        let ext = &mut self.ext;
        let v = &mut self.v;
        ext.policy.clear();
        ext.policy.resize(ns, u32::MAX);
        for _ in 0..MAX_POLICY_ITERATIONS {
            if stop::requested() {
                return false;
            }
            // Per reward group, the samples whose z_k has the largest and the smallest value.
            ext.gbest.clear();
            for m in 0..groups {
                let (mut hi, mut lo) = (m, m);
                for k in (m..psi).step_by(groups) {
                    if v[ext.zs[k]] > v[ext.zs[hi]] {
                        hi = k;
                    }
                    if v[ext.zs[k]] < v[ext.zs[lo]] {
                        lo = k;
                    }
                }
                ext.gbest.push((hi as u32, lo as u32));
            }
            let margin = 1e-11 * v.iter().fold(1.0f64, |m, x| m.max(x.abs()));
            let mut changed = false;
            for s in 0..ns {
                let (mut best, mut pick) = (f64::NEG_INFINITY, 0);
                for a in 0..na {
                    let sa = s * na + a;
                    let left = ext.left[sa];
                    let first = sa * psi;
                    if left.is_nan() {
                        for i in first..first + psi {
                            let x = ext.r[i] + gamma * ext.expected(i, v);
                            if x > best {
                                (best, pick) = (x, i - s * ena);
                            }
                        }
                    } else {
                        let base = ext.expected(first, v);
                        for &(hi, lo) in &ext.gbest {
                            let k = if left >= 0.0 { hi } else { lo } as usize;
                            let x = ext.r[first + k] + gamma * (base + left * v[ext.zs[k]]);
                            if x > best {
                                (best, pick) = (x, a * psi + k);
                            }
                        }
                    }
                }
                let current = ext.policy[s];
                if current == u32::MAX || best > v[s] + margin {
                    changed |= current != pick as u32;
                    ext.policy[s] = pick as u32;
                }
            }
            if !changed {
                break;
            }
            if !ext.evaluate_policy(ns, na, psi, gamma, v) {
                return false;
            }
        }
        // Every extended action's q-value under the final values.
        let q = &mut self.q_next;
        q.clear();
        q.resize(ns * ena, 0.0);
        for s in 0..ns {
            for a in 0..na {
                let sa = s * na + a;
                let left = ext.left[sa];
                let first = sa * psi;
                if left.is_nan() {
                    for (i, qi) in q.iter_mut().enumerate().skip(first).take(psi) {
                        *qi = ext.r[i] + gamma * ext.expected(i, v);
                    }
                } else {
                    let base = ext.expected(first, v);
                    for (k, &z) in ext.zs.iter().enumerate() {
                        q[first + k] = ext.r[first + k] + gamma * (base + left * v[z]);
                    }
                }
            }
        }
        true
    }

    /// Discounted value iteration (0.99, to 1e-3, in place, warm-started from `self.v`) on
    /// `self.ext`, into `self.q_next`. A pessimistic pair's expectation over its shared entries
    /// is computed once for its `psi` extended actions. `false` when stopped. The reference for
    /// [`PsrlContinuous::solve_extended`] (`solver = "reference"`): every extended action in
    /// every sweep.
    fn solve_extended_reference(&mut self) -> bool {
        let (ns, na, psi) = (self.post.ns, self.post.na, self.psi);
        let ena = na * psi;
        let gamma = 0.99;
        let ext = &self.ext;
        let (v, q) = (&mut self.v, &mut self.q_next);
        q.clear();
        q.resize(ns * ena, 0.0);
        for _ in 0..100_000 {
            if stop::requested() {
                return false;
            }
            let mut diff = 0.0f64;
            for s in 0..ns {
                let mut best = f64::NEG_INFINITY;
                for a in 0..na {
                    let sa = s * na + a;
                    let left = ext.left[sa];
                    let first = sa * psi;
                    if left.is_nan() {
                        for (i, qi) in q.iter_mut().enumerate().skip(first).take(psi) {
                            let ev = ext.expected(i, v);
                            let x = ext.r[i] + gamma * ev;
                            *qi = x;
                            best = best.max(x);
                        }
                    } else {
                        let base = ext.expected(first, v);
                        for (k, &z) in ext.zs.iter().enumerate() {
                            let i = first + k;
                            let x = ext.r[i] + gamma * (base + left * v[z]);
                            q[i] = x;
                            best = best.max(x);
                        }
                    }
                }
                diff = diff.max((best - v[s]).abs());
                v[s] = best;
            }
            if diff < 1e-3 {
                break;
            }
        }
        true
    }
}

/// The extended model of one episode: buffers kept from episode to episode.
#[derive(Default)]
struct Extended {
    /// The random states `z_k` that receive a pessimistic row's leftover mass.
    zs: Vec<usize>,
    /// Per extended row `(s * A + a) * psi + k`: its range in `entries`.
    ranges: Vec<(u32, u32)>,
    /// `(next, prob)` entries of the rows.
    entries: Vec<(u32, f64)>,
    /// Per pair: the leftover mass of its pessimistic row (put on `z_k`), NaN for a pair
    /// whose rows were sampled from the posterior.
    left: Vec<f64>,
    /// Per extended row `s * (A * psi) + j`: its reward.
    r: Vec<f64>,
    /// Scratch: a sampled row, the sampled rewards per pair.
    row: Vec<f64>,
    sampled_r: Vec<f64>,
    /// Solver scratch: per pair, its pessimistic expectation in the current sweep; the values
    /// at the start of the sweep; per group `k % A`, the largest and smallest `v[z_k]`; per
    /// state, the groups it is a `z_k` of (CSR: `zfirst`, `zgroup`; `zfill` a cursor).
    base: Vec<f64>,
    v_start: Vec<f64>,
    gmax: Vec<f64>,
    gmin: Vec<f64>,
    zfirst: Vec<u32>,
    zgroup: Vec<u32>,
    zfill: Vec<u32>,
    /// Policy iteration: the extended action of each state; per reward group, the samples
    /// `k` of the largest and smallest `v[z_k]`; the dense matrix `I - 0.99 P` and the right
    /// side of an evaluation; a row's nonzero columns.
    policy: Vec<u32>,
    gbest: Vec<(u32, u32)>,
    dense: Vec<f64>,
    rhs: Vec<f64>,
    cols: Vec<u32>,
}

/// Policy iteration's cap on improvements per episode (it takes a handful).
const MAX_POLICY_ITERATIONS: usize = 1000;

impl Extended {
    /// Solves `(I - gamma P) v = r` for the extended actions in `self.policy`, into `v`.
    /// `false` when [`stop::requested`] said to stop (checked every 64 pivots: a large MDP's
    /// factorisation takes seconds), `v` then half-written.
    fn evaluate_policy(
        &mut self,
        ns: usize,
        na: usize,
        psi: usize,
        gamma: f64,
        v: &mut [f64],
    ) -> bool {
        let ena = na * psi;
        let m = &mut self.dense;
        m.clear();
        m.resize(ns * ns, 0.0);
        self.rhs.clear();
        for s in 0..ns {
            let j = self.policy[s] as usize;
            let (sa, k) = (s * na + j / psi, j % psi);
            let row = &mut m[s * ns..(s + 1) * ns];
            let (lo, hi) = self.ranges[sa * psi + k];
            for &(t, p) in &self.entries[lo as usize..hi as usize] {
                row[t as usize] -= gamma * p;
            }
            let left = self.left[sa];
            if !left.is_nan() {
                row[self.zs[k]] -= gamma * left;
            }
            row[s] += 1.0;
            self.rhs.push(self.r[s * ena + j]);
        }
        // Forward elimination, skipping zeros: row k's nonzero columns right of the pivot
        // are listed once, and only rows with an entry below the pivot are updated.
        for k in 0..ns {
            if k % 64 == 63 && stop::requested() {
                return false;
            }
            let (top, bottom) = m.split_at_mut((k + 1) * ns);
            let row_k = &top[k * ns..];
            let pivot = row_k[k];
            self.cols.clear();
            self.cols
                .extend((k + 1..ns).filter(|&c| row_k[c] != 0.0).map(|c| c as u32));
            for (i, row) in bottom.chunks_exact_mut(ns).enumerate() {
                if row[k] == 0.0 {
                    continue;
                }
                let f = row[k] / pivot;
                for &c in &self.cols {
                    row[c as usize] -= f * row_k[c as usize];
                }
                self.rhs[k + 1 + i] -= f * self.rhs[k];
            }
        }
        for k in (0..ns).rev() {
            let row = &m[k * ns..(k + 1) * ns];
            let mut acc = self.rhs[k];
            for (c, &x) in row.iter().enumerate().skip(k + 1) {
                if x != 0.0 {
                    acc -= x * v[c];
                }
            }
            v[k] = acc / row[k];
        }
        true
    }

    /// The expected next value of sampled row `i` under `v` (its entries in stored order).
    fn expected(&self, i: usize, v: &[f64]) -> f64 {
        let (lo, hi) = self.ranges[i];
        self.entries[lo as usize..hi as usize]
            .iter()
            .map(|&(j, p)| p * v[j as usize])
            .sum()
    }
}

impl Agent for PsrlContinuous {
    fn before_start(&mut self) {
        self.end_episode();
    }

    fn select_action(&mut self, s: usize, _: usize) -> usize {
        let ena = self.post.na * self.psi;
        argmax_random_ties(&self.q[s * ena..(s + 1) * ena], &mut self.rng) / self.psi
    }

    fn update(&mut self, s: usize, a: usize, r: f64, next: usize, _: usize, _: bool) {
        let (ns, na) = (self.post.ns, self.post.na);
        self.post.update_reward(s, a, r);
        self.post.dir[(s * na + a) * ns + next] += 1.0;
        let k = (s * na + a) * ns + next;
        if self.counts[k] == 0 {
            self.seen[s * na + a].push(next as u32);
        }
        self.counts[k] += 1;
        self.totals[s * na + a] += 1;
        if self.episode_visits[s * na + a] == 0 {
            self.touched.push(s * na + a);
        }
        self.episode_visits[s * na + a] += 1;
    }

    fn is_episode_end(&mut self, s: usize, a: usize, _: bool) -> bool {
        let sa = s * self.post.na + a;
        let nu = self.episode_visits[sa] as u64;
        let total = self.totals[sa] as u64;
        total >= 2 * (total - nu)
    }

    fn end_episode(&mut self) {
        // Stopped learning (time limit, interrupt): keep the previous plan and values.
        if self.extended_model() {
            self.v_keep.clone_from(&self.v);
            let solved = match self.solver {
                Solver::PolicyIteration => self.solve_extended_exact(),
                Solver::ValueIteration => self.solve_extended(),
                Solver::Reference => self.solve_extended_reference(),
            };
            if solved {
                std::mem::swap(&mut self.q, &mut self.q_next);
            } else {
                self.v.clone_from(&self.v_keep);
            }
        }
        for sa in self.touched.drain(..) {
            self.episode_visits[sa] = 0;
        }
    }

    /// Greedy for the posterior means under discounted value iteration (0.99, to 1e-3,
    /// Gauss-Seidel, warm-started). The mean row of a pair is `(counts + prior) / (visits +
    /// S * prior)`: its observed entries plus the same prior weight on every state, so
    /// `P v` is the observed part plus `prior * sum(v)`, with `sum(v)` kept current as
    /// values change: one sweep costs `S * A` plus the observed entries, not `S^2 * A`.
    fn policy(&mut self) -> Policy {
        let (ns, na) = (self.post.ns, self.post.na);
        let prior = self.trans_prior;
        let gamma = 0.99;
        let mut q = vec![0.0; ns * na];
        let v = &mut self.v_map;
        let mut sum_v: f64 = v.iter().sum();
        for _ in 0..100_000 {
            let mut diff = 0.0f64;
            for s in 0..ns {
                let mut best = f64::NEG_INFINITY;
                for a in 0..na {
                    let sa = s * na + a;
                    let denom = self.totals[sa] as f64 + ns as f64 * prior;
                    let mut acc = prior * sum_v;
                    for &j in &self.seen[sa] {
                        acc += self.counts[sa * ns + j as usize] as f64 * v[j as usize];
                    }
                    let x = self.post.rew[sa][0] + gamma * acc / denom;
                    q[sa] = x;
                    best = best.max(x);
                }
                diff = diff.max((best - v[s]).abs());
                sum_v += best - v[s];
                v[s] = best;
            }
            // Refresh the running sum: no drift over many sweeps.
            sum_v = v.iter().sum();
            if diff < 1e-3 {
                break;
            }
        }
        // Rows in state order, as Colosseum's argmax_2d walks its (S, A) table.
        Policy::Deterministic(self.ties.greedy(&q, na))
    }
}

#[cfg(test)]
mod tests {
    use super::{PsrlContinuous, Solver, reward_action};
    use crate::model::agents::{Agent, AgentContext};
    use crate::rng::Rng;
    use crate::value::{Params, Value};

    /// An agent that has seen `steps` transitions of a random MDP (`ns` states, 3 actions,
    /// each pair reaching 3 random next states), its extended model sampled.
    fn agent_with_model(params: &[(&str, Value)], ns: usize, steps: usize) -> PsrlContinuous {
        let ctx = AgentContext {
            n_states: ns,
            n_actions: 3,
            horizon: None,
            total_steps: 100_000,
        };
        let p: Params = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let mut agent = PsrlContinuous::new(&p, &ctx, Rng::new(7)).expect("agent");
        let mut env = Rng::new(11);
        let support: Vec<usize> = (0..ns * 3 * 3)
            .map(|_| env.below(ns as u64) as usize)
            .collect();
        let mut s = 0;
        for _ in 0..steps {
            let a = env.below(3) as usize;
            let next = support[(s * 3 + a) * 3 + env.below(3) as usize];
            agent.update(s, a, env.next_f64(), next, 0, false);
            s = next;
        }
        assert!(agent.extended_model());
        agent
    }

    /// The largest `|T v - v|` of the extended model, every extended action evaluated.
    fn bellman_residual(agent: &PsrlContinuous, v: &[f64]) -> f64 {
        let (ns, na, psi) = (agent.post.ns, agent.post.na, agent.psi);
        let ext = &agent.ext;
        let mut worst = 0.0f64;
        for s in 0..ns {
            let mut best = f64::NEG_INFINITY;
            for sa in s * na..(s + 1) * na {
                for k in 0..psi {
                    let i = sa * psi + k;
                    let ev = if ext.left[sa].is_nan() {
                        ext.expected(i, v)
                    } else {
                        ext.expected(sa * psi, v) + ext.left[sa] * v[ext.zs[k]]
                    };
                    best = best.max(ext.r[i] + 0.99 * ev);
                }
            }
            worst = worst.max((best - v[s]).abs());
        }
        worst
    }

    #[test]
    fn auto_is_policy_iteration_up_to_the_cap_and_value_iteration_above() {
        let build = |ns: usize, solver: &str| {
            let ctx = AgentContext {
                n_states: ns,
                n_actions: 2,
                horizon: None,
                total_steps: 1_000,
            };
            let mut p = Params::new();
            p.insert("solver".into(), Value::Str(solver.into()));
            PsrlContinuous::new(&p, &ctx, Rng::new(1)).map(|a| a.solver)
        };
        let cap = super::EXACT_MAX_STATES;
        assert_eq!(build(cap, "auto"), Ok(Solver::PolicyIteration));
        assert_eq!(build(cap + 1, "auto"), Ok(Solver::ValueIteration));
        assert_eq!(
            build(cap + 1, "policy_iteration"),
            Ok(Solver::PolicyIteration)
        );
        assert_eq!(build(10, "value_iteration"), Ok(Solver::ValueIteration));
        assert_eq!(build(10, "reference"), Ok(Solver::Reference));
        assert!(build(5_001, "policy_iteration").is_err());
    }

    /// Two-sample Kolmogorov-Smirnov distance.
    fn ks(mut a: Vec<f64>, mut b: Vec<f64>) -> f64 {
        a.sort_by(f64::total_cmp);
        b.sort_by(f64::total_cmp);
        let (mut i, mut j, mut d) = (0, 0, 0.0f64);
        while i < a.len() && j < b.len() {
            let x = a[i].min(b[j]);
            while i < a.len() && a[i] <= x {
                i += 1;
            }
            while j < b.len() && b[j] <= x {
                j += 1;
            }
            d = d.max((i as f64 / a.len() as f64 - j as f64 / b.len() as f64).abs());
        }
        d
    }

    #[test]
    fn rows_without_dust_are_distributed_as_full_rows() {
        // A 144-state posterior row with 7 observations on 3 states (a sampled row of a
        // hyperparameter-search run looks like this), sampled 10,000 times each way.
        let ns = 144;
        let mut post = super::Posterior::new(ns, 1, 1.0, 1.0 / ns as f64);
        for (j, n) in [(3, 4.0), (50, 2.0), (143, 1.0)] {
            post.dir[j] += n;
        }
        let cut = (-69.0 / ns as f64).exp();
        let (mut full, mut lean) = (Rng::new(1), Rng::new(2));
        let mut normals = crate::rng::PolarNormals::default();
        let mut row = vec![0.0; ns];
        let v: Vec<f64> = (0..ns).map(|j| ((j * 37) % 101) as f64).collect();
        let n = 10_000;
        let (mut stats_full, mut stats_lean) = (vec![Vec::new(); 4], vec![Vec::new(); 4]);
        let mut skipped = 0;
        for i in 0..2 * n {
            let stats = if i < n {
                post.sample_row(0, &mut full, &mut row);
                &mut stats_full
            } else {
                post.sample_row_without_dust(0, cut, &mut lean, &mut normals, &mut row);
                skipped += row.iter().filter(|&&x| x == 0.0).count();
                &mut stats_lean
            };
            let unobserved: f64 = (0..ns)
                .filter(|j| ![3, 50, 143].contains(j))
                .map(|j| row[j])
                .sum();
            stats[0].push(row[3]);
            stats[1].push(unobserved);
            stats[2].push(row.iter().zip(&v).map(|(p, x)| p * x).sum());
            stats[3].push(row.iter().filter(|&&x| x > 1e-10).count() as f64);
        }
        // About 62% of the 141 unobserved entries are dust.
        let share = skipped as f64 / (n * 141) as f64;
        assert!((0.6..0.64).contains(&share), "{share}");
        // The KS distance's 0.1% critical value for two samples of 10,000 is 0.0276.
        for (k, name) in [
            "observed entry",
            "unobserved mass",
            "expected value",
            "entries kept",
        ]
        .iter()
        .enumerate()
        {
            let d = ks(stats_full[k].clone(), stats_lean[k].clone());
            assert!(d < 0.0276, "{name}: KS distance {d}");
        }
    }

    #[test]
    fn policy_iteration_reaches_the_fixed_point_value_iteration_approaches() {
        // Pessimistic pairs (large eta) and posterior-sampled ones (small eta); psi (40
        // states, 3 actions) 3, 60, 15, 4 (not a multiple of the actions: groups of unequal
        // size) and 2 (fewer samples than actions: one sample per group); Colosseum's reward
        // tiling and the consistent pairing.
        let f = Value::Float;
        let consistent = Value::Str("consistent".into());
        let cases: [&[(&str, Value)]; 6] = [
            &[("eta_weight", f(1.0)), ("psi_weight", f(0.01))],
            &[("eta_weight", f(1e-9)), ("psi_weight", f(1.0))],
            &[("eta_weight", f(1e-7)), ("psi_weight", f(0.05))],
            &[("eta_weight", f(1.0)), ("psi_weight", f(0.015))],
            &[("eta_weight", f(1.0)), ("psi_weight", f(0.001))],
            &[
                ("eta_weight", f(1e-7)),
                ("psi_weight", f(0.05)),
                ("reward_pairing", consistent),
            ],
        ];
        let psis: Vec<usize> = cases
            .iter()
            .map(|c| agent_with_model(c, 40, 30).psi)
            .collect();
        assert_eq!(psis, [3, 60, 15, 4, 2, 15]);
        for (c, params) in cases.iter().enumerate() {
            for steps in [30, 3_000] {
                let mut exact = agent_with_model(params, 40, steps);
                let mut approx = agent_with_model(params, 40, steps);
                assert_eq!(exact.solver, Solver::PolicyIteration, "auto below the cap");
                assert!(exact.solve_extended_exact());
                assert!(approx.solve_extended());
                let scale = exact.v.iter().fold(1.0f64, |m, x| m.max(x.abs()));
                let residual = bellman_residual(&exact, &exact.v);
                assert!(
                    residual <= 1e-9 * scale,
                    "case {c}, {steps} steps: policy iteration's residual {residual:e} (values up to {scale})"
                );
                // Value iteration stops within 0.99 / 0.01 * 1e-3 of the fixed point.
                let gap = exact
                    .v
                    .iter()
                    .zip(&approx.v)
                    .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
                assert!(
                    gap <= 0.0991,
                    "case {c}, {steps} steps: values differ by {gap}"
                );
                assert!(
                    gap > 0.0,
                    "case {c}: the two solvers ran the same computation"
                );
                // The q-values are those of the final values.
                let (na, psi) = (3, exact.psi);
                for s in 0..40 {
                    let best = exact.q_next[s * na * psi..(s + 1) * na * psi]
                        .iter()
                        .fold(f64::NEG_INFINITY, |m, &x| m.max(x));
                    assert!(
                        (best - exact.v[s]).abs() <= 1e-9 * scale,
                        "case {c}, state {s}"
                    );
                }
            }
        }
    }

    #[test]
    fn extended_rewards_follow_colosseums_tile_or_the_transitions() {
        // A = 2 actions, psi = 3 samples: extended actions 0..6 take the transitions of
        // actions 0, 0, 0, 1, 1, 1. `np.tile(R, (1, 3))` gives rewards of 0, 1, 0, 1, 0, 1.
        let tiled: Vec<usize> = (0..6).map(|j| reward_action(j, 2, 3, true)).collect();
        assert_eq!(tiled, [0, 1, 0, 1, 0, 1]);
        let consistent: Vec<usize> = (0..6).map(|j| reward_action(j, 2, 3, false)).collect();
        assert_eq!(consistent, [0, 0, 0, 1, 1, 1]);
    }
}
