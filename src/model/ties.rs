//! How the policy used for regret (an agent's [`super::Agent::policy`]) breaks ties between
//! equally valued actions.
//!
//! Colosseum's tabular agents build that policy with `get_policy_from_q_values(Q, True)`,
//! that is `argmax_3d` (episodic) or `argmax_2d` (continuous) in
//! `colosseum/dynamic_programming/utils.py`. Both are numba functions that call
//! `np.random.seed(42)` at every call, walk the rows of Q in order (`(h, s)` for episodic,
//! `s` for continuous) and take `np.random.choice` among the indices of the row's maximum.
//! Under numba that choice is `randint(0, n)` on numba's MT19937 seeded with `init_genrand(42)`:
//! nothing is drawn when `n = 1`; otherwise 32-bit outputs are drawn, their low
//! `bit_length(n - 1)` bits kept, until the result is below `n`. That is NumPy's legacy bounded
//! integer draw, [`RandomState::randint`] here (the unit test below checks the picks against
//! numba's output). So the same Q table always gives the same picks, and which action a tied
//! state gets depends on how many tied rows come before it in Colosseum's state numbering;
//! ludus numbers states as Colosseum does (see [`super::mdp::build`]).
//!
//! This matters where ties are common: states the agent never visited (PSRL's posterior means
//! are the prior for every action there; Q-learning's values are still their initial value),
//! whose actions the regret evaluation then follows.
//!
//! Agent parameter `policy_ties`: `"colosseum"` (the default) for the rule above, `"first"` for
//! the lowest-numbered maximum. Ties are exact equality of ludus's `f64` values; Colosseum
//! compares its `float32` Q tables, so two values that differ only beyond `float32` precision
//! tie there and not here.

use super::check::CheckError;
use super::np_random::RandomState;
use super::params::ParamReader;

/// The seed Colosseum's `argmax_2d` / `argmax_3d` re-seed with at every call (`ARGMAX_SEED`).
pub const ARGMAX_SEED: u32 = 42;

/// The tie rule of the policy used for regret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyTies {
    /// Colosseum's `argmax_2d` / `argmax_3d`: a fixed draw sequence from seed 42 over the tied
    /// rows, in state order.
    Colosseum,
    /// The lowest-numbered maximum.
    First,
}

impl PolicyTies {
    /// Reads the agent parameter `policy_ties` ("colosseum" or "first"; "colosseum").
    pub fn read(r: &mut ParamReader) -> Result<PolicyTies, CheckError> {
        Ok(
            match r.choice("policy_ties", "colosseum", &["colosseum", "first"])? {
                "first" => PolicyTies::First,
                _ => PolicyTies::Colosseum,
            },
        )
    }

    /// The deterministic policy of a Q table with `na` actions per row (rows in state order,
    /// `h`-major for episodic tables): one action per row.
    pub fn greedy(self, q: &[f64], na: usize) -> Vec<u32> {
        match self {
            PolicyTies::Colosseum => colosseum_greedy(q, na),
            PolicyTies::First => q.chunks(na).map(|row| first_max(row) as u32).collect(),
        }
    }
}

/// The index of the first largest value (0 for a row of NaNs).
fn first_max(row: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in row.iter().enumerate() {
        if x > row[best] {
            best = i;
        }
    }
    best
}

/// Colosseum's `argmax_2d` / `argmax_3d` picks: a generator seeded with [`ARGMAX_SEED`], then
/// for each row in order, the `randint(n)`-th of its `n` maxima when `n > 1` (no draw when
/// `n = 1`). NaNs are never a maximum; a row of NaNs gets action 0 and draws nothing.
pub fn colosseum_greedy(q: &[f64], na: usize) -> Vec<u32> {
    let mut rs = RandomState::new(ARGMAX_SEED);
    let mut ties: Vec<u32> = Vec::with_capacity(na);
    q.chunks(na)
        .map(|row| {
            let best = row.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(x));
            ties.clear();
            ties.extend((0..row.len() as u32).filter(|&a| row[a as usize] == best));
            match ties.len() {
                0 => 0,
                1 => ties[0],
                n => ties[rs.randint(n as u64) as usize],
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::np_random::Mt19937;

    /// 16 rows of 5 actions with 1 to 5 tied maxima.
    const ROWS: [[f64; 5]; 16] = [
        [0., 1., 1., 0., 0.],
        [3., 3., 3., 3., 3.],
        [2., 0., 2., 2., 0.],
        [1., 2., 0., 0., 0.],
        [4., 4., 4., 4., 0.],
        [1., 1., 1., 0., 0.],
        [0., 0., 0., 0., 0.],
        [5., 0., 0., 0., 5.],
        [1., 0., 1., 0., 1.],
        [0., 0., 0., 0., 7.],
        [2., 2., 0., 2., 2.],
        [6., 6., 6., 6., 6.],
        [0., 3., 3., 3., 0.],
        [9., 9., 0., 0., 0.],
        [1., 1., 1., 1., 1.],
        [0., 2., 0., 2., 2.],
    ];

    /// Colosseum's `argmax_2d` on `ROWS` (as float32), and `argmax_3d` on the same table
    /// reshaped to (2, 8, 5): the same picks. Recorded with Colosseum 981b344 under numba
    /// 0.58.1, NumPy 1.26.4 (index of the 1 in each output row).
    const NUMBA_PICKS: [u32; 16] = [1, 3, 0, 1, 2, 2, 4, 0, 4, 4, 1, 2, 3, 0, 2, 1];

    /// Colosseum's `argmax_2d` on a (40, 2) table of zeros (every row a two-way tie, as at
    /// PSRL's unvisited states), same versions.
    const NUMBA_TWO_WAY: [u32; 40] = [
        0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1,
        0, 0, 1, 1, 1, 0, 1, 0, 0, 0,
    ];

    fn table() -> Vec<f64> {
        ROWS.iter().flatten().copied().collect()
    }

    #[test]
    fn colosseum_rule_gives_numbas_picks() {
        assert_eq!(colosseum_greedy(&table(), 5), NUMBA_PICKS);
        // Re-seeded at every call: a second call gives the same picks.
        assert_eq!(PolicyTies::Colosseum.greedy(&table(), 5), NUMBA_PICKS);
        assert_eq!(colosseum_greedy(&[0.0; 80], 2), NUMBA_TWO_WAY);
    }

    #[test]
    fn fixture_exercises_rejected_draws() {
        // Replays the masked draws on the raw generator: some outputs are rejected (the low
        // bits are >= the number of ties), so the fixture checks the retry, not only the mask.
        let mut mt = Mt19937::new(ARGMAX_SEED);
        let (mut words, mut tied_rows) = (0, 0);
        for row in ROWS {
            let best = row.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(x));
            let n = row.iter().filter(|&&x| x == best).count() as u32;
            if n == 1 {
                continue;
            }
            tied_rows += 1;
            let mask = u32::MAX >> (n - 1).leading_zeros();
            loop {
                words += 1;
                if mt.next_u32() & mask < n {
                    break;
                }
            }
        }
        assert_eq!(tied_rows, 14);
        assert!(words > tied_rows, "{words} words for {tied_rows} tied rows");
    }

    #[test]
    fn first_rule_takes_the_lowest_maximum() {
        let picks = PolicyTies::First.greedy(&table(), 5);
        let expected: Vec<u32> = ROWS
            .iter()
            .map(|r| {
                let best = r.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(x));
                r.iter().position(|&x| x == best).unwrap() as u32
            })
            .collect();
        assert_eq!(picks, expected);
        assert_ne!(picks, NUMBA_PICKS);
    }

    #[test]
    fn single_maxima_draw_nothing() {
        // A row with one maximum between two tied rows does not move the sequence: the picks
        // of the tied rows are those of two consecutive tied rows.
        let q = [0.0, 0.0, 1.0, 0.0, 0.0, 0.0];
        let picks = colosseum_greedy(&q, 2);
        assert_eq!(picks, [NUMBA_TWO_WAY[0], 0, NUMBA_TWO_WAY[1]]);
    }

    #[test]
    fn parameter_values() {
        use crate::value::{Params, Value};
        let mut p = Params::new();
        let mut r = ParamReader::new(&p);
        assert_eq!(PolicyTies::read(&mut r).unwrap(), PolicyTies::Colosseum);
        p.insert("policy_ties".into(), Value::Str("first".into()));
        let mut r = ParamReader::new(&p);
        assert_eq!(PolicyTies::read(&mut r).unwrap(), PolicyTies::First);
        p.insert("policy_ties".into(), Value::Str("last".into()));
        let mut r = ParamReader::new(&p);
        let e = PolicyTies::read(&mut r).unwrap_err().to_string();
        assert!(e.contains("policy_ties"), "{e}");
    }
}
