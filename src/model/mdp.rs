//! The tabular MDP: states, actions, sparse transition rows, reward distributions and their
//! means, the starting distribution, and an episodic horizon `H` or none (continuous).
//!
//! Transition rows are stored compressed (one flat array of `(next, probability)` entries plus
//! row offsets), so sampling a step is a short scan of a few cumulative probabilities and policy
//! evaluation touches only non-zero entries. Families describe their dynamics on their own node
//! type through [`Dynamics`]; [`build`] explores the states reachable from the start, applies
//! Colosseum's `p_lazy` / `p_rand` mixing and the per-state action relabelling, and produces
//! an [`Mdp`].

use std::collections::HashMap;
use std::hash::Hash;

use super::np_random::RandomState;
use crate::rng::Rng;

/// A reward distribution on [0, 1].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RewardDist {
    /// Always this value.
    Deterministic(f64),
    /// A Beta(a, b) draw.
    Beta(f64, f64),
}

impl RewardDist {
    /// The distribution's mean.
    pub fn mean(&self) -> f64 {
        match *self {
            RewardDist::Deterministic(v) => v,
            RewardDist::Beta(a, b) => a / (a + b),
        }
    }

    /// A Beta distribution with the given mean and first shape parameter `a` (Colosseum writes
    /// its stochastic rewards this way: `Beta(a, a * (1 / mean - 1))`).
    pub fn beta_with_mean(a: f64, mean: f64) -> RewardDist {
        RewardDist::Beta(a, a * (1.0 / mean - 1.0))
    }
}

/// A finite MDP with sparse transitions.
#[derive(Clone, Debug)]
pub struct Mdp {
    /// Number of states.
    pub n_states: usize,
    /// Number of actions (the same in every state).
    pub n_actions: usize,
    /// The episode length `H` for episodic MDPs, `None` for continuous ones.
    pub horizon: Option<usize>,
    /// The starting distribution: `(state, probability)`, probabilities summing to 1.
    pub start: Vec<(usize, f64)>,
    row_start: Vec<u32>,
    next: Vec<u32>,
    prob: Vec<f64>,
    cum: Vec<f64>,
    dist: Vec<u16>,
    dists: Vec<RewardDist>,
    start_cum: Vec<f64>,
    /// Expected reward of each (state, action), row-major (`s * n_actions + a`).
    pub mean_reward: Vec<f64>,
}

/// One row as it is given to [`Mdp::from_rows`]: `(next, probability, reward distribution)`.
pub type Row = Vec<(usize, f64, RewardDist)>;

impl Mdp {
    /// Builds an MDP from explicit rows, `rows[s * n_actions + a]`. Entries with the same next
    /// state must carry the same reward distribution; they are merged. Probabilities must be
    /// non-negative and sum to 1 (checked by the caller, see `custom`).
    pub fn from_rows(
        n_states: usize,
        n_actions: usize,
        horizon: Option<usize>,
        start: Vec<(usize, f64)>,
        rows: &[Row],
    ) -> Mdp {
        let mut m = Mdp {
            n_states,
            n_actions,
            horizon,
            start_cum: Vec::with_capacity(start.len()),
            start,
            row_start: Vec::with_capacity(rows.len() + 1),
            next: Vec::new(),
            prob: Vec::new(),
            cum: Vec::new(),
            dist: Vec::new(),
            dists: Vec::new(),
            mean_reward: Vec::with_capacity(rows.len()),
        };
        let mut acc = 0.0;
        for &(_, p) in &m.start {
            acc += p;
            m.start_cum.push(acc);
        }
        m.row_start.push(0);
        for row in rows {
            let mut merged: Vec<(usize, f64, RewardDist)> = Vec::with_capacity(row.len());
            for &(n, p, d) in row {
                if p <= 0.0 {
                    continue;
                }
                match merged.iter_mut().find(|e| e.0 == n) {
                    Some(e) => e.1 += p,
                    None => merged.push((n, p, d)),
                }
            }
            // Most likely first: the sampling scan then usually stops at the first entry.
            merged.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
            let mut acc = 0.0;
            let mut mean = 0.0;
            for (n, p, d) in merged {
                acc += p;
                mean += p * d.mean();
                let di = match m.dists.iter().position(|x| *x == d) {
                    Some(i) => i,
                    None => {
                        m.dists.push(d);
                        m.dists.len() - 1
                    }
                };
                m.next.push(n as u32);
                m.prob.push(p);
                m.cum.push(acc);
                m.dist.push(di as u16);
            }
            // The last cumulative entry is exactly 1, so a uniform draw in [0, 1) always lands.
            if let Some(c) = m.cum.last_mut() {
                *c = f64::INFINITY;
            }
            m.mean_reward.push(mean);
            m.row_start.push(m.next.len() as u32);
        }
        m
    }

    /// Whether the MDP is episodic.
    pub fn is_episodic(&self) -> bool {
        self.horizon.is_some()
    }

    /// The transition row of `(s, a)`: next states and their probabilities.
    #[inline]
    pub fn row(&self, s: usize, a: usize) -> (&[u32], &[f64]) {
        let i = s * self.n_actions + a;
        let (lo, hi) = (self.row_start[i] as usize, self.row_start[i + 1] as usize);
        (&self.next[lo..hi], &self.prob[lo..hi])
    }

    /// The reward distribution of each entry of the row of `(s, a)`.
    pub fn row_rewards(&self, s: usize, a: usize) -> impl Iterator<Item = RewardDist> + '_ {
        let i = s * self.n_actions + a;
        let (lo, hi) = (self.row_start[i] as usize, self.row_start[i + 1] as usize);
        self.dist[lo..hi].iter().map(|&d| self.dists[d as usize])
    }

    /// Number of stored transition entries.
    pub fn n_entries(&self) -> usize {
        self.next.len()
    }

    /// Whether every reward is deterministic.
    pub fn rewards_deterministic(&self) -> bool {
        self.dists
            .iter()
            .all(|d| matches!(d, RewardDist::Deterministic(_)))
    }

    /// Draws a starting state.
    pub fn sample_start(&self, rng: &mut Rng) -> usize {
        if self.start.len() == 1 {
            return self.start[0].0;
        }
        let u = rng.next_f64();
        let i = self
            .start_cum
            .iter()
            .position(|&c| u < c)
            .unwrap_or(self.start.len() - 1);
        self.start[i].0
    }

    /// Draws the next state and the reward of taking `a` in `s`.
    #[inline]
    pub fn step(&self, s: usize, a: usize, rng: &mut Rng) -> (usize, f64) {
        let i = s * self.n_actions + a;
        let lo = self.row_start[i] as usize;
        let hi = self.row_start[i + 1] as usize;
        let mut k = lo;
        if hi - lo > 1 {
            let u = rng.next_f64();
            while k + 1 < hi && u >= self.cum[k] {
                k += 1;
            }
        }
        let r = match self.dists[self.dist[k] as usize] {
            RewardDist::Deterministic(v) => v,
            RewardDist::Beta(a, b) => rng.beta(a, b),
        };
        (self.next[k] as usize, r)
    }
}

/// Colosseum's parameters shared by every family.
#[derive(Clone, Debug, PartialEq)]
pub struct Common {
    /// The MDP's own seed (layouts, action relabelling).
    pub seed: u64,
    /// Probability that a uniformly random action replaces the chosen one.
    pub p_rand: f64,
    /// Probability of staying put instead of acting.
    pub p_lazy: f64,
    /// Stochastic (Beta) rewards instead of deterministic ones.
    pub make_reward_stochastic: bool,
    /// Scales the Beta parameters: lower means higher variance, same mean.
    pub reward_variance_multiplier: f64,
    /// Relabel actions per state with the seed (Colosseum's `randomize_actions`).
    pub randomize_actions: bool,
    /// Episodic: the requested horizon `H` (raised to the minimum that reaches every state).
    pub horizon: Option<usize>,
    /// Episodic or continuous.
    pub episodic: bool,
}

/// A family's dynamics on its own node type, before `p_rand` / `p_lazy` mixing.
pub trait Dynamics {
    /// A state of the family (coordinates, directions, ...).
    type Node: Copy + Eq + Hash;
    /// Number of actions.
    fn n_actions(&self) -> usize;
    /// The starting distribution, in Colosseum's order (its states are explored from the
    /// first starting node).
    fn starts(&self) -> Vec<(Self::Node, f64)>;
    /// Every node that could have been a starting node for another draw of the layout from
    /// the same parameters (Colosseum's `_possible_starting_nodes`): the default episodic
    /// horizon must reach every state from each of them. Default: the actual starts.
    fn possible_starts(&self) -> Vec<Self::Node> {
        self.starts().into_iter().map(|(n, _)| n).collect()
    }
    /// The next nodes of taking `a` in `n`, with probabilities.
    fn next(&self, n: &Self::Node, a: usize) -> Vec<(Self::Node, f64)>;
    /// The reward distribution of the transition `n --a--> next`.
    fn reward(&self, n: &Self::Node, a: usize, next: &Self::Node) -> RewardDist;
    /// The minimal horizon for the episodic form, if the family fixes it (Taxi does);
    /// otherwise the longest shortest path from a possible starting node, plus one.
    fn minimal_horizon(&self) -> Option<usize> {
        None
    }
}

/// The row of `(node, a)` with Colosseum's `p_lazy` / `p_rand` mixing, entries in its order:
/// the action's own next nodes, the lazy self-loop, then the other actions' next nodes.
fn mixed_row<D: Dynamics>(
    d: &D,
    c: &Common,
    node: &D::Node,
    a: usize,
    na: usize,
) -> Vec<(D::Node, f64)> {
    let keep = 1.0 - c.p_lazy;
    let mut row: Vec<(D::Node, f64)> = d
        .next(node, a)
        .into_iter()
        .map(|(n, p)| (n, keep * ((1.0 - c.p_rand) * p + c.p_rand * p / na as f64)))
        .collect();
    if c.p_lazy > 0.0 {
        row.push((*node, c.p_lazy));
    }
    if c.p_rand > 0.0 {
        for b in (0..na).filter(|&b| b != a) {
            for (n, p) in d.next(node, b) {
                row.push((n, keep * c.p_rand * p / na as f64));
            }
        }
    }
    row
}

/// Explores the states reachable from the start as Colosseum does, mixes in `p_lazy` and
/// `p_rand`, relabels actions per state when asked, and fixes the horizon of the episodic form.
///
/// The result is Colosseum's MDP for the same layout, state for state and label for label:
/// states are numbered in Colosseum's discovery order (a depth-first exploration from each
/// starting node in turn: a state's actions in order, each action's next nodes in row order,
/// a node numbered when first met), and with `randomize_actions` each state's labels are
/// `rng.rand(n_actions).argsort()`, drawn when the exploration first enters the state, the
/// true action `a` answering to label `perm[a]`. `rng` is the MDP's NumPy stream, after the
/// family's own layout draws. (Colosseum computes a label's mean reward with the action
/// `perm[perm[a]]`; every built-in family's relabelled rewards are the same for both, as its
/// rewards depend on the action only with two actions, where `perm` is its own inverse.)
pub fn build<D: Dynamics>(d: &D, c: &Common, rng: &mut RandomState) -> Mdp {
    let na = d.n_actions();
    let mut x = Explorer::<D> {
        na,
        index: HashMap::new(),
        nodes: Vec::new(),
        rows: Vec::new(),
        entered: Vec::new(),
        perms: Vec::new(),
    };
    // One frame per state being explored: its node, the action under way, that action's
    // next nodes and how many of them were visited.
    struct Frame<N> {
        s: usize,
        node: N,
        a: usize,
        nexts: Vec<N>,
        k: usize,
    }
    let starts_nodes = d.starts();
    let mut stack: Vec<Frame<D::Node>> = Vec::new();
    for &(sn, _) in &starts_nodes {
        if x.is_entered(&sn) {
            continue;
        }
        let s = x.enter(sn, c.randomize_actions, rng);
        let nexts = x.expand(d, c, (s, sn, 0));
        stack.push(Frame {
            s,
            node: sn,
            a: 0,
            nexts,
            k: 0,
        });
        while let Some(f) = stack.last_mut() {
            if f.k < f.nexts.len() {
                let n = f.nexts[f.k];
                f.k += 1;
                if !x.is_entered(&n) {
                    let s = x.enter(n, c.randomize_actions, rng);
                    let nexts = x.expand(d, c, (s, n, 0));
                    stack.push(Frame {
                        s,
                        node: n,
                        a: 0,
                        nexts,
                        k: 0,
                    });
                }
                continue;
            }
            f.a += 1;
            if f.a == na {
                stack.pop();
                continue;
            }
            let (s, node, a) = (f.s, f.node, f.a);
            let nexts = x.expand(d, c, (s, node, a));
            let f = stack.last_mut().expect("the frame just read");
            f.nexts = nexts;
            f.k = 0;
        }
    }
    let starts: Vec<(usize, f64)> = starts_nodes
        .iter()
        .map(|&(n, p)| (x.index[&n], p))
        .collect();
    let horizon = if c.episodic {
        let minimal = d.minimal_horizon().unwrap_or_else(|| {
            let possible: Vec<usize> = d
                .possible_starts()
                .iter()
                .filter_map(|n| x.index.get(n).copied())
                .collect();
            eccentricity(x.nodes.len(), &x.rows, &possible) + 1
        });
        Some(c.horizon.map_or(minimal, |h| h.max(minimal)))
    } else {
        None
    };
    Mdp::from_rows(x.nodes.len(), na, horizon, starts, &x.rows)
}

/// The state of [`build`]'s exploration.
struct Explorer<D: Dynamics> {
    na: usize,
    index: HashMap<D::Node, usize>,
    nodes: Vec<D::Node>,
    rows: Vec<Row>,
    entered: Vec<bool>,
    perms: Vec<Vec<usize>>,
}

impl<D: Dynamics> Explorer<D> {
    /// The node's number, numbering it now if it is new.
    fn intern(&mut self, n: D::Node) -> usize {
        if let Some(&s) = self.index.get(&n) {
            return s;
        }
        let s = self.nodes.len();
        self.index.insert(n, s);
        self.nodes.push(n);
        self.rows.extend((0..self.na).map(|_| Row::new()));
        self.entered.push(false);
        self.perms.push(Vec::new());
        s
    }

    fn is_entered(&self, n: &D::Node) -> bool {
        self.index.get(n).is_some_and(|&s| self.entered[s])
    }

    /// Enters a node: numbers it and draws its action labels.
    fn enter(&mut self, n: D::Node, randomize: bool, rng: &mut RandomState) -> usize {
        let s = self.intern(n);
        self.entered[s] = true;
        self.perms[s] = if randomize {
            rng.rand_argsort(self.na)
        } else {
            (0..self.na).collect()
        };
        s
    }

    /// Computes the row of `(s, a)`, numbering its new next nodes in row order, stores it
    /// under the action's label and returns the next nodes (in row order, repeats included).
    fn expand(&mut self, d: &D, c: &Common, (s, node, a): (usize, D::Node, usize)) -> Vec<D::Node> {
        let entries = mixed_row(d, c, &node, a, self.na);
        let mut row = Row::with_capacity(entries.len());
        let mut nexts = Vec::with_capacity(entries.len());
        for (n, p) in entries {
            let r = d.reward(&node, a, &n);
            row.push((self.intern(n), p, r));
            nexts.push(n);
        }
        let label = self.perms[s][a];
        self.rows[s * self.na + label] = row;
        nexts
    }
}

/// The longest shortest path (in steps) from any of `starts` to any state.
pub(crate) fn eccentricity(n: usize, rows: &[Row], starts: &[usize]) -> usize {
    let na = rows.len().checked_div(n).unwrap_or(1);
    let mut worst = 0;
    for &s0 in starts {
        let mut dist = vec![usize::MAX; n];
        dist[s0] = 0;
        let mut queue = std::collections::VecDeque::from([s0]);
        while let Some(s) = queue.pop_front() {
            for row in &rows[s * na..(s + 1) * na] {
                for &(t, p, _) in row {
                    if p > 0.0 && dist[t] == usize::MAX {
                        dist[t] = dist[s] + 1;
                        queue.push_back(t);
                    }
                }
            }
        }
        worst = worst.max(
            dist.iter()
                .filter(|&&d| d != usize::MAX)
                .max()
                .copied()
                .unwrap_or(0),
        );
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_merge_and_sample() {
        let d = RewardDist::Deterministic(1.0);
        let rows = vec![
            vec![(0, 0.25, d), (1, 0.5, d), (0, 0.25, d)],
            vec![(1, 1.0, RewardDist::Deterministic(0.0))],
        ];
        let m = Mdp::from_rows(2, 1, None, vec![(0, 1.0)], &rows);
        assert_eq!(m.row(0, 0).0.len(), 2);
        assert_eq!(m.mean_reward, vec![1.0, 0.0]);
        let mut rng = Rng::new(1);
        let n = 100_000;
        let ones = (0..n).filter(|_| m.step(0, 0, &mut rng).0 == 1).count();
        assert!((ones as f64 / n as f64 - 0.5).abs() < 0.01);
    }
}
