//! RiverSwim, DeepSea, FrozenLake and SimpleGrid, with Colosseum's dynamics and rewards.

use super::{dists_or, read_common, read_dist, require};
use crate::model::check::CheckError;
use crate::model::mdp::{Dynamics, Mdp, RewardDist, build};
use crate::model::np_random::{RandomState, generate_random_map};
use crate::model::params::ParamReader;
use crate::value::Params;

use RewardDist::{Beta, Deterministic as Det};

/// A chain of `size` states; LEFT (0) and RIGHT (1) move deterministically (before `p_rand` /
/// `p_lazy`); start at the left end. RIGHT at the right end pays the optimal reward (1, or
/// Beta with mean `optimal_mean_reward` = 0.9), LEFT at the left end the sub-optimal one
/// (0.005, or Beta with mean `sub_optimal_mean_reward` = 0.2, divided by `size` when
/// episodic), everything else 0 (or a Beta with mean `sub_optimal_mean_reward / 10`).
/// Parameters: `size` (5), `optimal_mean_reward`, `sub_optimal_mean_reward`,
/// `optimal_distribution`, `sub_optimal_distribution`, `other_distribution`.
pub fn river_swim(episodic: bool, params: &Params) -> Result<Mdp, CheckError> {
    let mut r = ParamReader::new(params);
    let c = read_common(&mut r, episodic)?;
    let size = r.size_capped("size", 5, 2, super::MAX_RIVER_SWIM, super::CAP_WHY)? as usize;
    let opt_mean = r.f64_in("optimal_mean_reward", 0.9, 1e-6, 1.0)?;
    let sub_mean = r.f64_in("sub_optimal_mean_reward", 0.2, 1e-6, 1.0)?;
    require(
        opt_mean - 0.1 > sub_mean,
        format!("sub_optimal_mean_reward = {sub_mean}: must be below optimal_mean_reward - 0.1"),
    )?;
    let given = [
        read_dist(&mut r, "optimal_distribution")?,
        read_dist(&mut r, "sub_optimal_distribution")?,
        read_dist(&mut r, "other_distribution")?,
    ];
    r.finish()?;
    let m = c.reward_variance_multiplier;
    let [opt, sub, other] = dists_or(given, || {
        if c.make_reward_stochastic {
            let sub = if episodic {
                sub_mean / size as f64
            } else {
                sub_mean
            };
            [
                RewardDist::beta_with_mean(m, opt_mean),
                RewardDist::beta_with_mean(m, sub),
                Beta(m, m * (10.0 / sub - 1.0)),
            ]
        } else {
            [Det(1.0), Det(0.005), Det(0.0)]
        }
    });
    struct River {
        size: usize,
        d: [RewardDist; 3],
    }
    impl Dynamics for River {
        type Node = usize;
        fn n_actions(&self) -> usize {
            2
        }
        fn starts(&self) -> Vec<(usize, f64)> {
            vec![(0, 1.0)]
        }
        fn next(&self, &x: &usize, a: usize) -> Vec<(usize, f64)> {
            let n = if a == 1 {
                (x + 1).min(self.size - 1)
            } else {
                x.saturating_sub(1)
            };
            vec![(n, 1.0)]
        }
        fn reward(&self, &x: &usize, a: usize, _: &usize) -> RewardDist {
            if x == self.size - 1 && a == 1 {
                self.d[0]
            } else if x == 0 && a == 0 {
                self.d[1]
            } else {
                self.d[2]
            }
        }
    }
    Ok(build(
        &River {
            size,
            d: [opt, sub, other],
        },
        &c,
        &mut RandomState::new(c.seed as u32),
    ))
}

/// A `size` x `size` triangle descended one row per step from the top-left corner; LEFT (0)
/// and RIGHT (1) move sideways. LEFT pays the small reward (`1 / size^2`), RIGHT at the
/// bottom-right corner pays 1; the bottom row leads back to the start. No `p_lazy`.
/// Parameters: `size` (5), `optimal_return` (1.0), `suboptimal_return` (0.5),
/// `optimal_distribution`, `sub_optimal_distribution`, `other_distribution`.
pub fn deep_sea(episodic: bool, params: &Params) -> Result<Mdp, CheckError> {
    let mut r = ParamReader::new(params);
    let c = read_common(&mut r, episodic)?;
    require(
        c.p_lazy == 0.0,
        format!(
            "p_lazy = {}: DeepSea has no lazy mechanic (must be 0)",
            c.p_lazy
        ),
    )?;
    let size = r.size_capped("size", 5, 2, super::MAX_DEEP_SEA, super::CAP_WHY)? as usize;
    let opt_ret = r.positive("optimal_return", 1.0)?;
    let sub_ret = r.positive("suboptimal_return", 0.5)?;
    require(
        sub_ret < opt_ret - 0.1,
        format!("suboptimal_return = {sub_ret}: must be below optimal_return - 0.1"),
    )?;
    let given = [
        read_dist(&mut r, "optimal_distribution")?,
        read_dist(&mut r, "sub_optimal_distribution")?,
        read_dist(&mut r, "other_distribution")?,
    ];
    r.finish()?;
    let m = c.reward_variance_multiplier;
    let s = size as f64;
    let d = dists_or(given, || {
        if c.make_reward_stochastic {
            [
                Beta(m * (s / opt_ret - 1.0), m),
                Beta(m, m * (s / sub_ret - 1.0)),
                Beta(m, m * 10.0 * (s / sub_ret - 1.0)),
            ]
        } else {
            [Det(1.0), Det(1.0 / (s * s)), Det(0.0)]
        }
    });
    struct Sea {
        size: usize,
        d: [RewardDist; 3],
    }
    impl Dynamics for Sea {
        type Node = (usize, usize);
        fn n_actions(&self) -> usize {
            2
        }
        fn starts(&self) -> Vec<((usize, usize), f64)> {
            vec![((0, self.size - 1), 1.0)]
        }
        fn next(&self, &(x, y): &(usize, usize), a: usize) -> Vec<((usize, usize), f64)> {
            if y == 0 {
                return vec![((0, self.size - 1), 1.0)];
            }
            let nx = if a == 1 {
                (x + 1).min(self.size - 1)
            } else {
                x.saturating_sub(1)
            };
            vec![((nx, y - 1), 1.0)]
        }
        fn reward(&self, &(x, y): &(usize, usize), a: usize, _: &(usize, usize)) -> RewardDist {
            if x == self.size - 1 && y == 0 && a == 1 {
                self.d[0]
            } else if a == 0 {
                self.d[1]
            } else {
                self.d[2]
            }
        }
    }
    Ok(build(
        &Sea { size, d },
        &c,
        &mut RandomState::new(c.seed as u32),
    ))
}

/// A `size` x `size` lake of frozen cells (probability `p_frozen`) and holes, start at (0, 0),
/// goal at the opposite corner, drawn from `seed` until the goal is reachable. Actions UP,
/// RIGHT, DOWN, LEFT (0..3); slippery (`is_slippery`, true): the intended move with
/// probability 1/2, each perpendicular one with 1/4. A hole or the goal sends back to the
/// start; reaching the goal pays 1. Parameters: `size` (4), `p_frozen` (0.8),
/// `optimal_return` (1.0), `suboptimal_return` (0.1), `is_slippery`, `goal_r`, `default_r`.
pub fn frozen_lake(episodic: bool, params: &Params) -> Result<Mdp, CheckError> {
    let mut r = ParamReader::new(params);
    let c = read_common(&mut r, episodic)?;
    let size = r.size_capped("size", 4, 3, super::MAX_GRID, super::CAP_WHY)? as usize;
    let p_frozen = r.f64_in("p_frozen", 0.8, 0.1, 1.0)?;
    let opt_ret = r.positive("optimal_return", 1.0)?;
    let sub_ret = r.positive("suboptimal_return", 0.1)?;
    require(
        sub_ret + 0.2 < opt_ret,
        format!("suboptimal_return = {sub_ret}: must be below optimal_return - 0.2"),
    )?;
    let slippery = r.bool("is_slippery", true)?;
    let given = [
        read_dist(&mut r, "goal_r")?,
        read_dist(&mut r, "default_r")?,
    ];
    r.finish()?;
    let m = c.reward_variance_multiplier;
    let s2 = (size * size) as f64;
    let d = dists_or(given, || {
        if c.make_reward_stochastic {
            [
                Beta(m * (s2 / opt_ret - 1.0), m),
                Beta(m, m * (s2 / sub_ret - 1.0)),
            ]
        } else {
            [Det(1.0), Det(0.0)]
        }
    });
    // Colosseum seeds NumPy's global generator with the MDP's seed and calls Gym's
    // `generate_random_map`; its own generator (the action relabelling) is another one.
    let mut np_global = RandomState::new(c.seed as u32);
    let lake = generate_random_map(size, p_frozen, &mut np_global, 100_000).ok_or_else(|| {
        CheckError::Invalid(format!(
            "p_frozen = {p_frozen}: no lake with a path to the goal found for this seed"
        ))
    })?;
    struct Lake {
        size: usize,
        lake: Vec<u8>,
        slippery: bool,
        d: [RewardDist; 2],
    }
    impl Lake {
        fn cell(&self, x: usize, y: usize) -> u8 {
            self.lake[x * self.size + y]
        }
        fn moved(&self, x: usize, y: usize, a: usize) -> (usize, usize) {
            if self.cell(x, y) == b'G' {
                return (0, 0);
            }
            let last = self.size - 1;
            let (nx, ny) = match a {
                0 => (x.saturating_sub(1), y),
                1 => (x, y.saturating_sub(1)),
                2 => ((x + 1).min(last), y),
                _ => (x, (y + 1).min(last)),
            };
            if self.cell(nx, ny) == b'H' {
                (0, 0)
            } else {
                (nx, ny)
            }
        }
    }
    impl Dynamics for Lake {
        type Node = (usize, usize);
        fn n_actions(&self) -> usize {
            4
        }
        fn starts(&self) -> Vec<((usize, usize), f64)> {
            vec![((0, 0), 1.0)]
        }
        fn next(&self, &(x, y): &(usize, usize), a: usize) -> Vec<((usize, usize), f64)> {
            if !self.slippery {
                return vec![(self.moved(x, y, a), 1.0)];
            }
            vec![
                (self.moved(x, y, a), 0.5),
                (self.moved(x, y, (a + 3) % 4), 0.25),
                (self.moved(x, y, (a + 1) % 4), 0.25),
            ]
        }
        fn reward(&self, _: &(usize, usize), _: usize, &(x, y): &(usize, usize)) -> RewardDist {
            if self.cell(x, y) == b'G' {
                self.d[0]
            } else {
                self.d[1]
            }
        }
    }
    Ok(build(
        &Lake {
            size,
            lake,
            slippery,
            d,
        },
        &c,
        &mut RandomState::new(c.seed as u32),
    ))
}

/// A `size` x `size` open grid; actions UP, RIGHT, DOWN, LEFT, NO_OP (0..4). Staying in a
/// corner pays the optimal reward when the corner satisfies `reward_type` on its coordinates
/// (`and`, `nand`, `or`, `xor`: default `xor`) and the sub-optimal one otherwise; any other
/// step pays the "other" reward (0.5 when deterministic). Starts: `n_starting_states` (1) of
/// the cells closest to the centre (Colosseum's order: the closest ring shuffled with `seed`,
/// further rings in row-major order). Parameters: `size` (5), `reward_type`,
/// `n_starting_states`, `optimal_mean_reward` (0.9), `sub_optimal_mean_reward` (0.2),
/// `optimal_distribution`, `sub_optimal_distribution`, `other_distribution`.
pub fn simple_grid(episodic: bool, params: &Params) -> Result<Mdp, CheckError> {
    let mut r = ParamReader::new(params);
    let c = read_common(&mut r, episodic)?;
    let size = r.size_capped("size", 5, 2, super::MAX_GRID, super::CAP_WHY)? as usize;
    let kind = match r.raw("reward_type").and_then(|v| v.as_i64()) {
        Some(i) => ["and", "nand", "or", "xor"]
            .get(i as usize)
            .copied()
            .ok_or_else(|| {
                CheckError::Invalid(format!("reward_type = {i}: must be 0..3 or a name"))
            })?,
        None => r.choice("reward_type", "xor", &["and", "nand", "or", "xor"])?,
    };
    let max_starts = ((size - 1) * (size - 1)).max(1) as i64;
    let n_starts = r.int_in("n_starting_states", 1, 1, max_starts)? as usize;
    let opt_mean = r.f64_in("optimal_mean_reward", 0.9, 1e-6, 1.0)?;
    let sub_mean = r.f64_in("sub_optimal_mean_reward", 0.2, 1e-6, 1.0)?;
    let given = [
        read_dist(&mut r, "optimal_distribution")?,
        read_dist(&mut r, "sub_optimal_distribution")?,
        read_dist(&mut r, "other_distribution")?,
    ];
    r.finish()?;
    let m = c.reward_variance_multiplier;
    let d = dists_or(given, || {
        if c.make_reward_stochastic {
            [
                RewardDist::beta_with_mean(m, opt_mean),
                Beta(m, m * (10.0 / sub_mean - 1.0)),
                RewardDist::beta_with_mean(m, sub_mean),
            ]
        } else {
            [Det(1.0), Det(0.0), Det(0.5)]
        }
    });
    // Colosseum's start cells: cells by squared distance to the centre, the closest ones in a
    // shuffled order, every further ring in row-major order; the first (size - 1)^2 are the
    // possible starts, the first `n_starting_states` of them, shuffled, the starts.
    let mut rng = RandomState::new(c.seed as u32);
    let centre = (size as f64 - 1.0) / 2.0;
    let mut dist: Vec<f64> = (0..size * size)
        .map(|i| {
            let (x, y) = ((i / size) as f64, (i % size) as f64);
            (x - centre).powi(2) + (y - centre).powi(2)
        })
        .collect();
    let closest = |dist: &[f64]| -> Vec<(usize, usize)> {
        let m = dist.iter().copied().fold(f64::INFINITY, f64::min);
        (0..size * size)
            .filter(|&i| dist[i] == m && m.is_finite())
            .map(|i| (i / size, i % size))
            .collect()
    };
    let mut batch = closest(&dist);
    rng.shuffle(&mut batch);
    let n_possible = ((size - 1) * (size - 1)).max(1);
    let mut possible: Vec<(usize, usize)> = Vec::with_capacity(n_possible);
    while possible.len() < n_possible && !batch.is_empty() {
        let (x, y) = batch.remove(0);
        dist[x * size + y] = f64::INFINITY;
        possible.push((x, y));
        if batch.is_empty() {
            batch = closest(&dist);
        }
    }
    let mut first = possible[..n_starts].to_vec();
    rng.shuffle(&mut first);
    let p = 1.0 / n_starts as f64;
    let starts: Vec<((usize, usize), f64)> = first.into_iter().map(|c| (c, p)).collect();
    struct Grid {
        size: usize,
        kind: &'static str,
        starts: Vec<((usize, usize), f64)>,
        possible: Vec<(usize, usize)>,
        d: [RewardDist; 3],
    }
    impl Dynamics for Grid {
        type Node = (usize, usize);
        fn n_actions(&self) -> usize {
            5
        }
        fn starts(&self) -> Vec<((usize, usize), f64)> {
            self.starts.clone()
        }
        fn possible_starts(&self) -> Vec<(usize, usize)> {
            self.possible.clone()
        }
        fn next(&self, &(x, y): &(usize, usize), a: usize) -> Vec<((usize, usize), f64)> {
            let last = self.size - 1;
            let n = match a {
                0 => (x, (y + 1).min(last)),
                1 => ((x + 1).min(last), y),
                2 => (x, y.saturating_sub(1)),
                3 => (x.saturating_sub(1), y),
                _ => (x, y),
            };
            vec![(n, 1.0)]
        }
        fn reward(&self, &(x, y): &(usize, usize), _: usize, next: &(usize, usize)) -> RewardDist {
            let last = self.size - 1;
            let corner = (x == 0 || x == last) && (y == 0 || y == last);
            if corner && *next == (x, y) {
                let good = match self.kind {
                    "and" => x != 0 && y != 0,
                    "nand" => !(x != 0 && y != 0),
                    "or" => (x | y) != 0,
                    _ => (x ^ y) != 0,
                };
                if good { self.d[0] } else { self.d[1] }
            } else {
                self.d[2]
            }
        }
    }
    Ok(build(
        &Grid {
            size,
            kind,
            starts,
            possible,
            d,
        },
        &c,
        &mut rng,
    ))
}
