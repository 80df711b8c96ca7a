//! Exact evaluation of a fixed policy on a continuous MDP by direct sparse solves.
//!
//! A policy turns the MDP into a Markov chain `P` with rewards `r`. Its gain and a relative
//! value (bias up to one constant per recurrent class) come from one factorisation:
//!
//! 1. The recurrent classes are the closed strongly connected components of `P` (iterative
//!    Tarjan). One state of each, its *root* (its last state in elimination order), is set
//!    apart.
//! 2. Every other state `W` forms the system `I - Q`, `Q = P` restricted to `W`, whose rows
//!    lose mass only towards the roots. It is a nonsingular M-matrix (a root is reachable from
//!    everywhere), factorised by Gaussian elimination without pivoting in the GTH form
//!    (Grassmann, Taksar and Heyman): each pivot is the sum of the remaining off-diagonal
//!    entries and of the mass leaving the system, never a difference, so slowly mixing chains
//!    lose no accuracy to cancellation.
//! 3. One transposed solve started from the roots' rows gives the expected visits to every
//!    state of a class between two visits to its root, hence the stationary distribution and
//!    the gain of each class; one solve gives the gain of transient states (the chance of
//!    ending in each class); one solve gives the relative values `h` with `h(root) = 0`.
//!
//! States are reordered once per MDP by reverse Cuthill-McKee on the MDP's graph (all actions),
//! and the matrix is stored as a band: elimination without pivoting creates no entry outside
//! the band, so chains cost O(n), grids O(n * width^2). A band too large for memory is an
//! error, never an approximation.

#![allow(
    clippy::needless_range_loop,
    reason = "index arithmetic over band rows reads clearer with ranges"
)]

use super::mdp::Mdp;

/// Entries of a band matrix allowed before the solve is refused (8 bytes each: 1.6 GB).
pub const MAX_BAND_ENTRIES: usize = 200_000_000;

/// Why an exact solve failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SolveError {
    /// The band of the reordered system does not fit in memory.
    #[error(
        "the MDP is too large for the exact solver: {states} states with a band of width \
         {width} after reordering ({entries} entries, limit {MAX_BAND_ENTRIES})"
    )]
    TooLarge {
        /// States in the system.
        states: usize,
        /// Band width.
        width: usize,
        /// Entries needed.
        entries: u64,
    },
    /// Policy iteration did not settle within its iteration cap.
    #[error(
        "policy iteration for the {what} did not converge in {iters} iterations \
         (no value is given for an unconverged solve)"
    )]
    NotConverged {
        /// What was being solved: "optimal gain" or "worst gain".
        what: &'static str,
        /// The cap reached.
        iters: usize,
    },
    /// Policy iteration came back to a policy it had left: rounding in the relative values of
    /// a nearly decomposable chain (basins crossed once in more steps than f64 resolves), and
    /// value iteration's bounds did not certify the gain it had reached.
    #[error(
        "policy iteration for the {what} cycles after {iters} iterations: the relative values \
         of a nearly decomposable policy lost their precision and value iteration did not certify \
         the gain (no value is given)"
    )]
    Cycling {
        /// What was being solved: "optimal gain" or "worst gain".
        what: &'static str,
        /// Iterations done.
        iters: usize,
    },
    /// A pivot vanished: a bug or a malformed transition table (rows not summing to 1).
    #[error("singular system at state {0} (transition rows must sum to 1)")]
    Singular(usize),
    /// The solution does not satisfy its equations to 1e-9 (an ill-conditioned chain).
    #[error(
        "the exact solution fails its own check at state {0} (an ill-conditioned chain); \
         the MDP is too badly conditioned for the direct solver"
    )]
    Inaccurate(usize),
    /// The computation was cancelled (time limit or interrupt).
    #[error("cancelled")]
    Cancelled,
}

/// The Markov chain of one policy: per state, `(next, probability)` entries and a reward.
#[derive(Clone, Debug, Default)]
pub struct Chain {
    start: Vec<usize>,
    next: Vec<u32>,
    prob: Vec<f64>,
    /// Expected reward per state.
    pub reward: Vec<f64>,
}

impl Chain {
    /// Empties the chain, keeping its buffers.
    pub fn clear(&mut self) {
        self.start.clear();
        self.start.push(0);
        self.next.clear();
        self.prob.clear();
        self.reward.clear();
    }

    /// Appends the next state's row.
    pub fn push_row(&mut self, entries: impl IntoIterator<Item = (u32, f64)>, reward: f64) {
        if self.start.is_empty() {
            self.start.push(0);
        }
        for (n, p) in entries {
            self.next.push(n);
            self.prob.push(p);
        }
        self.start.push(self.next.len());
        self.reward.push(reward);
    }

    /// Number of states.
    pub fn len(&self) -> usize {
        self.reward.len()
    }

    /// Whether the chain has no state.
    pub fn is_empty(&self) -> bool {
        self.reward.is_empty()
    }

    #[inline]
    fn row(&self, s: usize) -> (&[u32], &[f64]) {
        let (lo, hi) = (self.start[s], self.start[s + 1]);
        (&self.next[lo..hi], &self.prob[lo..hi])
    }
}

/// Gain and relative values of a chain.
#[derive(Clone, Debug, Default)]
pub struct Values {
    /// Long-run average reward from each state.
    pub gain: Vec<f64>,
    /// Relative values: `g + h = r + P h` on every state, `h = 0` at each class's root.
    pub h: Vec<f64>,
}

/// Reverse Cuthill-McKee order of the states of `m` on the symmetrised graph of all its
/// actions: `order[k]` is the state placed at position `k`.
pub fn rcm_order(m: &Mdp) -> Vec<u32> {
    let n = m.n_states;
    let mut adj: Vec<Vec<u32>> = vec![Vec::new(); n];
    for s in 0..n {
        for a in 0..m.n_actions {
            for &t in m.row(s, a).0 {
                if t as usize != s {
                    adj[s].push(t);
                    adj[t as usize].push(s as u32);
                }
            }
        }
    }
    for l in adj.iter_mut() {
        l.sort_unstable();
        l.dedup();
    }
    let deg: Vec<usize> = adj.iter().map(Vec::len).collect();
    let mut seen = vec![false; n];
    let mut order: Vec<u32> = Vec::with_capacity(n);
    let mut by_degree: Vec<u32> = (0..n as u32).collect();
    by_degree.sort_by_key(|&s| deg[s as usize]);
    let mut mark = vec![false; n];
    let mut queue: Vec<u32> = Vec::new();
    for &s0 in &by_degree {
        if seen[s0 as usize] {
            continue;
        }
        // A pseudo-peripheral start: the last state of a breadth-first sweep from s0.
        queue.clear();
        queue.push(s0);
        mark[s0 as usize] = true;
        let mut i = 0;
        while i < queue.len() {
            let v = queue[i] as usize;
            i += 1;
            for &w in &adj[v] {
                if !mark[w as usize] {
                    mark[w as usize] = true;
                    queue.push(w);
                }
            }
        }
        let start = *queue.last().unwrap_or(&s0);
        for &v in &queue {
            mark[v as usize] = false;
        }
        let first = order.len();
        order.push(start);
        seen[start as usize] = true;
        let mut i = first;
        let mut nb: Vec<u32> = Vec::new();
        while i < order.len() {
            let v = order[i] as usize;
            i += 1;
            nb.clear();
            nb.extend(adj[v].iter().copied().filter(|&w| !seen[w as usize]));
            nb.sort_by_key(|&w| deg[w as usize]);
            for &w in &nb {
                seen[w as usize] = true;
                order.push(w);
            }
        }
    }
    order.reverse();
    order
}

/// Reusable workspace of the exact evaluation of chains on one state ordering.
#[derive(Clone, Debug, Default)]
pub struct ChainSolver {
    order: Vec<u32>,
    // Tarjan.
    comp: Vec<u32>,
    closed: Vec<bool>,
    root_of_comp: Vec<u32>,
    // The system over W (non-root states, in ordering position).
    w_of: Vec<u32>,
    w_state: Vec<u32>,
    band: Vec<f64>,
    exit: Vec<f64>,
    pivot: Vec<f64>,
    kl: usize,
    ku: usize,
    b: Vec<f64>,
}

const NONE: u32 = u32::MAX;
/// Scaling applied to a class's visits when they grow past its inverse.
const RESCALE: f64 = 1e-150;

impl ChainSolver {
    /// A solver for chains over the states of `m`, ordered by [`rcm_order`].
    pub fn new(m: &Mdp) -> ChainSolver {
        ChainSolver {
            order: rcm_order(m),
            ..ChainSolver::default()
        }
    }

    /// Strongly connected components; marks the closed ones and picks their roots.
    fn classes(&mut self, c: &Chain) {
        let n = c.len();
        let mut index = vec![NONE; n];
        let mut low = vec![0u32; n];
        let mut on_stack = vec![false; n];
        let mut stack: Vec<u32> = Vec::new();
        let mut call: Vec<(u32, usize)> = Vec::new();
        self.comp.clear();
        self.comp.resize(n, NONE);
        let mut n_comp = 0u32;
        let mut next_index = 0u32;
        // Visit in ordering position so roots are chosen deterministically.
        for k in 0..n {
            let s0 = self.order[k];
            if index[s0 as usize] != NONE {
                continue;
            }
            call.push((s0, 0));
            index[s0 as usize] = next_index;
            low[s0 as usize] = next_index;
            next_index += 1;
            stack.push(s0);
            on_stack[s0 as usize] = true;
            while let Some(&mut (v, ref mut e)) = call.last_mut() {
                let (nexts, _) = c.row(v as usize);
                if *e < nexts.len() {
                    let w = nexts[*e];
                    *e += 1;
                    if index[w as usize] == NONE {
                        index[w as usize] = next_index;
                        low[w as usize] = next_index;
                        next_index += 1;
                        stack.push(w);
                        on_stack[w as usize] = true;
                        call.push((w, 0));
                    } else if on_stack[w as usize] {
                        low[v as usize] = low[v as usize].min(index[w as usize]);
                    }
                } else {
                    call.pop();
                    if let Some(&(u, _)) = call.last() {
                        low[u as usize] = low[u as usize].min(low[v as usize]);
                    }
                    if low[v as usize] == index[v as usize] {
                        while let Some(w) = stack.pop() {
                            on_stack[w as usize] = false;
                            self.comp[w as usize] = n_comp;
                            if w == v {
                                break;
                            }
                        }
                        n_comp += 1;
                    }
                }
            }
        }
        let nc = n_comp as usize;
        self.closed.clear();
        self.closed.resize(nc, true);
        for s in 0..n {
            let cs = self.comp[s];
            for &t in c.row(s).0 {
                if self.comp[t as usize] != cs {
                    self.closed[cs as usize] = false;
                }
            }
        }
        self.root_of_comp.clear();
        self.root_of_comp.resize(nc, NONE);
        for k in 0..n {
            let s = self.order[k];
            let cs = self.comp[s as usize] as usize;
            // The last state of the class in elimination order: every pivot before it then
            // still has a later state of the class to move to.
            if self.closed[cs] {
                self.root_of_comp[cs] = s;
            }
        }
    }

    #[inline]
    fn is_root(&self, s: usize) -> bool {
        let cs = self.comp[s] as usize;
        self.closed[cs] && self.root_of_comp[cs] as usize == s
    }

    /// Builds and factorises the system over the non-root states.
    fn factorise(&mut self, c: &Chain) -> Result<(), SolveError> {
        let n = c.len();
        self.w_of.clear();
        self.w_of.resize(n, NONE);
        self.w_state.clear();
        for k in 0..n {
            let s = self.order[k] as usize;
            if !self.is_root(s) {
                self.w_of[s] = self.w_state.len() as u32;
                self.w_state.push(s as u32);
            }
        }
        let nw = self.w_state.len();
        let (mut kl, mut ku) = (0usize, 0usize);
        for (i, &s) in self.w_state.iter().enumerate() {
            for &t in c.row(s as usize).0 {
                let j = self.w_of[t as usize];
                if j != NONE {
                    let j = j as usize;
                    if j < i {
                        kl = kl.max(i - j);
                    } else {
                        ku = ku.max(j - i);
                    }
                }
            }
        }
        let width = kl + ku + 1;
        let entries = nw as u64 * width as u64;
        if entries > MAX_BAND_ENTRIES as u64 {
            return Err(SolveError::TooLarge {
                states: nw,
                width,
                entries,
            });
        }
        self.kl = kl;
        self.ku = ku;
        self.band.clear();
        self.band.resize(nw * width, 0.0);
        self.exit.clear();
        self.exit.resize(nw, 0.0);
        self.pivot.clear();
        self.pivot.resize(nw, 0.0);
        for (i, &s) in self.w_state.iter().enumerate() {
            let (nexts, probs) = c.row(s as usize);
            for (&t, &p) in nexts.iter().zip(probs) {
                let j = self.w_of[t as usize];
                if j == NONE {
                    self.exit[i] += p;
                } else if j as usize != i {
                    self.band[i * width + (j as usize + kl - i)] += p;
                }
            }
        }
        // GTH elimination: pivots are sums of what leaves the remaining state, never
        // differences.
        for k in 0..nw {
            let row_k = k * width;
            let hi = (k + ku).min(nw - 1);
            let mut d = self.exit[k];
            for j in k + 1..=hi {
                d += self.band[row_k + j + kl - k];
            }
            if d <= 0.0 || !d.is_finite() {
                return Err(SolveError::Singular(self.w_state[k] as usize));
            }
            self.pivot[k] = d;
            let ek = self.exit[k];
            for i in k + 1..=(k + kl).min(nw - 1) {
                let row_i = i * width;
                let q = self.band[row_i + k + kl - i];
                if q == 0.0 {
                    continue;
                }
                let f = q / d;
                self.band[row_i + k + kl - i] = f;
                for j in k + 1..=hi {
                    if j != i {
                        let u = self.band[row_k + j + kl - k];
                        self.band[row_i + j + kl - i] += f * u;
                    }
                }
                self.exit[i] += f * ek;
            }
        }
        Ok(())
    }

    /// Solves `(I - Q) x = b` in place (`b` in system order).
    fn solve_in_place(&self, b: &mut [f64]) {
        let (nw, kl, ku) = (self.w_state.len(), self.kl, self.ku);
        let width = kl + ku + 1;
        for k in 0..nw {
            let bk = b[k];
            if bk == 0.0 {
                continue;
            }
            for i in k + 1..=(k + kl).min(nw.saturating_sub(1)) {
                b[i] += self.band[i * width + k + kl - i] * bk;
            }
        }
        for k in (0..nw).rev() {
            let mut acc = b[k];
            for j in k + 1..=(k + ku).min(nw - 1) {
                acc += self.band[k * width + j + kl - k] * b[j];
            }
            b[k] = acc / self.pivot[k];
        }
    }

    /// Solves `y (I - Q) = c` in place (`c` in system order) for the visits to recurrent
    /// states. Visits relative to a root of small stationary mass can exceed the floating-point
    /// range, so a class whose values pass `1 / RESCALE` is scaled by `RESCALE` (the system
    /// is linear and classes do not mix); `rescaled[class]` counts those scalings.
    fn solve_visits(&self, c: &mut [f64], rescaled: &mut [i32]) {
        let (nw, kl, ku) = (self.w_state.len(), self.kl, self.ku);
        let width = kl + ku + 1;
        let class = |i: usize| self.comp[self.w_state[i] as usize] as usize;
        let rescale = |c: &mut [f64], cs: usize, rescaled: &mut [i32]| {
            rescaled[cs] += 1;
            for (i, x) in c.iter_mut().enumerate() {
                if class(i) == cs {
                    *x *= RESCALE;
                }
            }
        };
        for k in 0..nw {
            let mut acc = c[k];
            for i in k.saturating_sub(ku)..k {
                acc += c[i] * self.band[i * width + k + kl - i];
            }
            c[k] = acc / self.pivot[k];
            if c[k] > 1.0 / RESCALE {
                rescale(c, class(k), rescaled);
            }
        }
        for k in (0..nw).rev() {
            let mut acc = c[k];
            for i in k + 1..=(k + kl).min(nw - 1) {
                acc += c[i] * self.band[i * width + k + kl - i];
            }
            c[k] = acc;
            if c[k] > 1.0 / RESCALE {
                rescale(c, class(k), rescaled);
            }
        }
    }

    /// The gain of every state of `c` and, with `want_h`, relative values.
    pub fn evaluate(
        &mut self,
        c: &Chain,
        want_h: bool,
        out: &mut Values,
    ) -> Result<(), SolveError> {
        let n = c.len();
        self.classes(c);
        let nc = self.closed.len();
        let mut y = std::mem::take(&mut self.b);
        let mut rescaled = vec![0i32; nc];
        // The visits (hence the gains) are accurate from any root, but the solves for the
        // relative values and transient gains are stable only when each class's root is a
        // state of large stationary mass (elimination then runs towards it, as the chain
        // drifts): a second pass re-roots a class at its most visited state.
        for pass in 0..2 {
            self.factorise(c)?;
            let nw = self.w_state.len();
            y.clear();
            y.resize(nw, 0.0);
            for &root in &self.root_of_comp {
                if root == NONE {
                    continue;
                }
                let (nexts, probs) = c.row(root as usize);
                for (&t, &p) in nexts.iter().zip(probs) {
                    let j = self.w_of[t as usize];
                    if j != NONE {
                        y[j as usize] += p;
                    }
                }
            }
            rescaled.iter_mut().for_each(|r| *r = 0);
            if nw > 0 {
                self.solve_visits(&mut y, &mut rescaled);
            }
            if pass == 1 {
                break;
            }
            let mut top: Vec<(f64, u32)> = (0..nc)
                .map(|cs| (2.0 * RESCALE.powi(rescaled[cs]), NONE))
                .collect();
            for (i, &s) in self.w_state.iter().enumerate() {
                let cs = self.comp[s as usize] as usize;
                if self.closed[cs] && y[i] > top[cs].0 {
                    top[cs] = (y[i], s);
                }
            }
            let mut moved = false;
            for (cs, &(_, s)) in top.iter().enumerate() {
                if s != NONE {
                    self.root_of_comp[cs] = s;
                    moved = true;
                }
            }
            if !moved {
                break;
            }
        }
        let nw = self.w_state.len();
        let mut mass = vec![0.0; nc];
        let mut total = vec![0.0; nc];
        for (cs, &root) in self.root_of_comp.iter().enumerate() {
            if root != NONE {
                let w = RESCALE.powi(rescaled[cs]);
                mass[cs] = w;
                total[cs] = w * c.reward[root as usize];
            }
        }
        for (i, &s) in self.w_state.iter().enumerate() {
            let cs = self.comp[s as usize] as usize;
            if self.closed[cs] {
                mass[cs] += y[i];
                total[cs] += y[i] * c.reward[s as usize];
            }
        }
        let class_gain: Vec<f64> = total
            .iter()
            .zip(&mass)
            .map(|(t, m)| t / m.max(1e-300))
            .collect();
        // Gains: constant on each class, absorption-weighted on transient states.
        out.gain.clear();
        out.gain.resize(n, 0.0);
        for (i, &s) in self.w_state.iter().enumerate() {
            let (nexts, probs) = c.row(s as usize);
            let mut acc = 0.0;
            for (&t, &p) in nexts.iter().zip(probs) {
                if self.w_of[t as usize] == NONE {
                    acc += p * class_gain[self.comp[t as usize] as usize];
                }
            }
            y[i] = acc;
        }
        if nw > 0 {
            self.solve_in_place(&mut y);
        }
        for (i, &s) in self.w_state.iter().enumerate() {
            let cs = self.comp[s as usize] as usize;
            out.gain[s as usize] = if self.closed[cs] {
                class_gain[cs]
            } else {
                y[i]
            };
        }
        for &root in &self.root_of_comp {
            if root != NONE {
                out.gain[root as usize] = class_gain[self.comp[root as usize] as usize];
            }
        }
        out.h.clear();
        if want_h {
            out.h.resize(n, 0.0);
            for (i, &s) in self.w_state.iter().enumerate() {
                y[i] = c.reward[s as usize] - out.gain[s as usize];
            }
            if nw > 0 {
                self.solve_in_place(&mut y);
            }
            for (i, &s) in self.w_state.iter().enumerate() {
                out.h[s as usize] = y[i];
            }
        }
        self.b = y;
        self.check(c, want_h, out)
    }

    /// Refuses a solution whose equations do not hold: `g = P g` everywhere and, with
    /// relative values, `g + h = r + P h` (relative to the scale of the values), so that an
    /// ill-conditioned system gives an error, never a wrong number.
    fn check(&self, c: &Chain, want_h: bool, out: &Values) -> Result<(), SolveError> {
        let scale_r = c.reward.iter().fold(0.0f64, |m, r| m.max(r.abs()));
        let scale_h = out.h.iter().fold(0.0f64, |m, h| m.max(h.abs()));
        let tol_g = 1e-9 * scale_r.max(1e-12);
        let tol_h = 1e-9 * (scale_r + scale_h).max(1e-12);
        for s in 0..c.len() {
            let (nexts, probs) = c.row(s);
            let pg: f64 = nexts
                .iter()
                .zip(probs)
                .map(|(&t, &p)| p * out.gain[t as usize])
                .sum();
            // NaN fails too.
            let bad_g = (pg - out.gain[s]).abs() > tol_g || pg.is_nan();
            let bad_h = want_h && {
                let ph: f64 = nexts
                    .iter()
                    .zip(probs)
                    .map(|(&t, &p)| p * out.h[t as usize])
                    .sum();
                let e = (out.gain[s] + out.h[s] - c.reward[s] - ph).abs();
                e > tol_h || e.is_nan()
            };
            if bad_g || bad_h {
                return Err(SolveError::Inaccurate(s));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::mdp::RewardDist::Deterministic as D;

    fn chain_of(rows: &[Vec<(u32, f64)>], r: &[f64]) -> Chain {
        let mut c = Chain::default();
        for (row, &x) in rows.iter().zip(r) {
            c.push_row(row.iter().copied(), x);
        }
        c
    }

    fn mdp_of(rows: &[Vec<(u32, f64)>]) -> Mdp {
        let rr: Vec<_> = rows
            .iter()
            .map(|row| row.iter().map(|&(t, p)| (t as usize, p, D(0.0))).collect())
            .collect();
        Mdp::from_rows(rows.len(), 1, None, vec![(0, 1.0)], &rr)
    }

    #[test]
    fn birth_death_chain_gain_and_bias() {
        // Reflecting walk on 5 states, up w.p. 0.3, down 0.7: stationary pi_k ∝ (3/7)^k.
        let n: usize = 5;
        let rows: Vec<Vec<(u32, f64)>> = (0..n)
            .map(|s| {
                let up = (s + 1).min(n - 1) as u32;
                let down = s.saturating_sub(1) as u32;
                vec![(up, 0.3), (down, 0.7)]
            })
            .collect();
        let r: Vec<f64> = (0..n).map(|s| s as f64).collect();
        let c = chain_of(&rows, &r);
        let mut sv = ChainSolver::new(&mdp_of(&rows));
        let mut out = Values::default();
        sv.evaluate(&c, true, &mut out).unwrap();
        let w: Vec<f64> = (0..n).map(|k| (3.0f64 / 7.0).powi(k as i32)).collect();
        let z: f64 = w.iter().sum();
        let g: f64 = w.iter().zip(&r).map(|(a, b)| a * b).sum::<f64>() / z;
        for s in 0..n {
            assert!((out.gain[s] - g).abs() < 1e-13, "{} vs {g}", out.gain[s]);
            // Poisson equation.
            let ph: f64 = rows[s].iter().map(|&(t, p)| p * out.h[t as usize]).sum();
            assert!((g + out.h[s] - r[s] - ph).abs() < 1e-12);
        }
    }

    #[test]
    fn multichain_with_transients() {
        // 0 -> {1 w.p. 0.25, 2 w.p. 0.75}; 1 absorbing reward 1; 2 <-> 3 periodic, rewards 0, 1.
        let rows = vec![
            vec![(1, 0.25), (2, 0.75)],
            vec![(1, 1.0)],
            vec![(3, 1.0)],
            vec![(2, 1.0)],
        ];
        let c = chain_of(&rows, &[5.0, 1.0, 0.0, 1.0]);
        let mut sv = ChainSolver::new(&mdp_of(&rows));
        let mut out = Values::default();
        sv.evaluate(&c, true, &mut out).unwrap();
        let want = [0.25 + 0.75 * 0.5, 1.0, 0.5, 0.5];
        for s in 0..4 {
            assert!((out.gain[s] - want[s]).abs() < 1e-14, "{:?}", out.gain);
        }
    }

    #[test]
    fn long_slow_chain_is_exact() {
        // RiverSwim-like: 100,000 states, right w.p. 0.6, stay 0.35, left 0.05; reward 1 at the
        // right end. A birth-death chain: pi_k ∝ (0.6 / 0.05)^k, so the gain is ~ 1 - 0.05/0.6
        // plus tiny corrections; checked against the closed form.
        let n = 100_000usize;
        let rows: Vec<Vec<(u32, f64)>> = (0..n)
            .map(|s| {
                let up = (s + 1).min(n - 1) as u32;
                let down = s.saturating_sub(1) as u32;
                vec![(up, 0.6), (s as u32, 0.35), (down, 0.05)]
            })
            .collect();
        let mut r = vec![0.0; n];
        r[n - 1] = 1.0;
        let c = chain_of(&rows, &r);
        let mut sv = ChainSolver::new(&mdp_of(&rows));
        let mut out = Values::default();
        sv.evaluate(&c, false, &mut out).unwrap();
        // Stationary mass of the last state: 1 / sum_k (0.05/0.6)^k = 1 - 1/12 (to 1e-300).
        let want = 1.0 - 0.05 / 0.6;
        assert!((out.gain[0] - want).abs() < 1e-12, "{}", out.gain[0]);
        assert!((out.gain[n - 1] - want).abs() < 1e-12);
    }
}
