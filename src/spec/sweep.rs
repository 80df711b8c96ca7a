//! Sweeps: how one `[[agent]]` or `[[mdp]]` table expands into parameter sets.
//!
//! A sweep has fixed `params`, a `grid` (cartesian product), a `zip` (equal-length lists taken
//! together) and a `sample` (n random draws from a seeded generator). The expansion is the
//! product grid x zip x sample, in this order, the later varying faster. Within the grid, keys
//! are taken in alphabetical order and the last key varies fastest. Draws of a sample take keys in
//! alphabetical order too, so a sample is a pure function of its seed and its table.

use crate::rng::Rng;
use crate::value::{Params, Value};

/// The most instances one plan may hold (ten million); the same cap bounds every single sweep,
/// `seeds` and `sample.n`, so counting never overflows and nothing is materialised before it
/// is counted. Documented in the README.
pub const MAX_INSTANCES: u64 = 10_000_000;

/// A distribution a `sample` draws a parameter from.
#[derive(Clone, Debug, PartialEq)]
pub enum Dist {
    /// Uniform in [lo, hi).
    Uniform(f64, f64),
    /// Log-uniform in [lo, hi) (both > 0).
    LogUniform(f64, f64),
    /// A uniform integer in [lo, hi], both ends included.
    Int(i64, i64),
    /// A log-uniform integer in [lo, hi] (both >= 1), both ends included.
    LogInt(i64, i64),
    /// One of the listed values, equally likely.
    Choice(Vec<Value>),
}

impl Dist {
    fn draw(&self, rng: &mut Rng) -> Value {
        match self {
            Dist::Uniform(lo, hi) => Value::Float(rng.uniform(*lo, *hi)),
            Dist::LogUniform(lo, hi) => Value::Float(rng.uniform(lo.ln(), hi.ln()).exp()),
            Dist::Int(lo, hi) => {
                let span = (*hi as i128 - *lo as i128 + 1) as u64;
                Value::Int(lo + rng.below(span) as i64)
            }
            Dist::LogInt(lo, hi) => {
                let x = rng
                    .uniform((*lo as f64).ln(), (*hi as f64 + 1.0).ln())
                    .exp();
                Value::Int((x.floor() as i64).clamp(*lo, *hi))
            }
            Dist::Choice(v) => v[rng.below(v.len() as u64) as usize].clone(),
        }
    }
}

/// Random configurations: `n` draws, reproducible from `seed`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// How many configurations.
    pub n: usize,
    /// The generator's seed.
    pub seed: u64,
    /// The distribution of each parameter, keys in alphabetical order.
    pub dists: Vec<(String, Dist)>,
}

/// One agent's or MDP's parameter sweep.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sweep {
    /// Fixed parameters, in every configuration.
    pub fixed: Params,
    /// Grid keys (alphabetical) and their values: the cartesian product.
    pub grid: Vec<(String, Vec<Value>)>,
    /// Zip keys (alphabetical) and their equal-length lists: taken together.
    pub zip: Vec<(String, Vec<Value>)>,
    /// Random configurations.
    pub sample: Option<Sample>,
}

impl Sweep {
    /// The number of configurations this sweep expands to, counted with checked arithmetic:
    /// `None` when it does not fit in a `u64`.
    pub fn count(&self) -> Option<u64> {
        let mut n: u64 = 1;
        for (_, v) in &self.grid {
            n = n.checked_mul(v.len() as u64)?;
        }
        let zip = self.zip.first().map_or(1, |(_, v)| v.len() as u64);
        let sample = self.sample.as_ref().map_or(1, |s| s.n as u64);
        n.checked_mul(zip)?.checked_mul(sample)
    }

    /// The number of configurations this sweep expands to (`usize::MAX` when it overflows,
    /// which a validated spec never does: see [`MAX_INSTANCES`]).
    pub fn len(&self) -> usize {
        self.count()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(usize::MAX)
    }

    /// True when the sweep has no configuration (never, once validated).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every configuration, in the documented order. Callers count first ([`Sweep::count`]):
    /// a validated spec's sweeps hold at most [`MAX_INSTANCES`] configurations.
    pub fn expand(&self) -> Vec<Params> {
        let samples: Vec<Vec<(String, Value)>> = match &self.sample {
            None => vec![Vec::new()],
            Some(s) => {
                let mut rng = Rng::new(s.seed);
                (0..s.n)
                    .map(|_| {
                        s.dists
                            .iter()
                            .map(|(k, d)| (k.clone(), d.draw(&mut rng)))
                            .collect()
                    })
                    .collect()
            }
        };
        let zip_len = self.zip.first().map_or(1, |(_, v)| v.len());
        let mut out = Vec::with_capacity(self.len());
        let mut odometer = vec![0usize; self.grid.len()];
        loop {
            for z in 0..zip_len {
                for draw in &samples {
                    let mut p = self.fixed.clone();
                    for ((k, vals), &i) in self.grid.iter().zip(&odometer) {
                        p.insert(k.clone(), vals[i].clone());
                    }
                    for (k, vals) in &self.zip {
                        p.insert(k.clone(), vals[z].clone());
                    }
                    for (k, v) in draw {
                        p.insert(k.clone(), v.clone());
                    }
                    out.push(p);
                }
            }
            // Advance the odometer: the last grid key turns fastest.
            let mut pos = self.grid.len();
            loop {
                if pos == 0 {
                    return out;
                }
                pos -= 1;
                odometer[pos] += 1;
                if odometer[pos] < self.grid[pos].1.len() {
                    break;
                }
                odometer[pos] = 0;
            }
        }
    }
}

/// Agent configurations x MDP configurations x seeds, plus experiment configurations x seeds,
/// in checked `u128` arithmetic (`u128::MAX` when even that overflows, or a sweep does).
pub fn upper_bound(
    agents: &[super::AgentEntry],
    mdps: &[super::MdpEntry],
    experiments: &[super::ExperimentEntry],
    seeds: usize,
) -> u128 {
    fn sum<'a>(sweeps: impl Iterator<Item = &'a Sweep>) -> Option<u128> {
        let mut acc: u128 = 0;
        for s in sweeps {
            acc = acc.checked_add(u128::from(s.count()?))?;
        }
        Some(acc)
    }
    let total = || -> Option<u128> {
        let a = sum(agents.iter().map(|a| &a.sweep))?;
        let m = sum(mdps.iter().map(|m| &m.sweep))?;
        let e = sum(experiments.iter().map(|e| &e.sweep))?;
        a.checked_mul(m)?.checked_add(e)?.checked_mul(seeds as u128)
    };
    total().unwrap_or(u128::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(v: &[i64]) -> Vec<Value> {
        v.iter().map(|&i| Value::Int(i)).collect()
    }

    #[test]
    fn grid_last_key_fastest_then_zip() {
        let s = Sweep {
            fixed: [("f".to_string(), Value::Bool(true))].into(),
            grid: vec![
                ("a".into(), ints(&[1, 2])),
                ("b".into(), ints(&[10, 20, 30])),
            ],
            zip: vec![("x".into(), ints(&[7, 8])), ("y".into(), ints(&[70, 80]))],
            sample: None,
        };
        let e = s.expand();
        assert_eq!(e.len(), 12);
        assert_eq!(s.len(), 12);
        let key = |p: &Params| {
            ["a", "b", "x", "y"]
                .map(|k| p[k].as_i64().unwrap())
                .to_vec()
        };
        assert_eq!(key(&e[0]), vec![1, 10, 7, 70]);
        assert_eq!(key(&e[1]), vec![1, 10, 8, 80]);
        assert_eq!(key(&e[2]), vec![1, 20, 7, 70]);
        assert_eq!(key(&e[11]), vec![2, 30, 8, 80]);
        assert!(e.iter().all(|p| p["f"] == Value::Bool(true)));
    }

    #[test]
    fn sample_is_reproducible_and_in_range() {
        let s = Sweep {
            sample: Some(Sample {
                n: 50,
                seed: 7,
                dists: vec![
                    ("c".into(), Dist::LogUniform(0.001, 1.0)),
                    ("k".into(), Dist::Int(1, 10)),
                    (
                        "m".into(),
                        Dist::Choice(vec![Value::Str("x".into()), Value::Str("y".into())]),
                    ),
                    ("n".into(), Dist::LogInt(1, 1000)),
                    ("u".into(), Dist::Uniform(-1.0, 1.0)),
                ],
            }),
            ..Sweep::default()
        };
        let a = s.expand();
        assert_eq!(a, s.expand());
        assert_eq!(a.len(), 50);
        for p in &a {
            let c = p["c"].as_f64().unwrap();
            assert!((0.001..1.0).contains(&c));
            assert!((1..=10).contains(&p["k"].as_i64().unwrap()));
            assert!((1..=1000).contains(&p["n"].as_i64().unwrap()));
            assert!((-1.0..1.0).contains(&p["u"].as_f64().unwrap()));
        }
        let ks: std::collections::BTreeSet<i64> =
            a.iter().map(|p| p["k"].as_i64().unwrap()).collect();
        assert!(ks.len() >= 8, "50 draws should hit most of 1..=10");
        let mut other = s.clone();
        other.sample.as_mut().unwrap().seed = 8;
        assert_ne!(a, other.expand());
    }

    #[test]
    fn huge_grids_count_without_overflow() {
        let big: Vec<Value> = (0..100_000).map(Value::Int).collect();
        let s = Sweep {
            grid: ["a", "b", "c", "d"]
                .iter()
                .map(|k| (k.to_string(), big.clone()))
                .collect(),
            ..Sweep::default()
        };
        assert_eq!(s.count(), None);
        assert_eq!(s.len(), usize::MAX);
        let s = Sweep {
            grid: vec![("a".into(), big.clone()), ("b".into(), big)],
            ..Sweep::default()
        };
        assert_eq!(s.count(), Some(10_000_000_000));
    }

    #[test]
    fn empty_sweep_is_one_config() {
        let s = Sweep::default();
        assert_eq!(s.expand(), vec![Params::new()]);
    }
}
