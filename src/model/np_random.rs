//! The random draws Colosseum's MDP families make, reproduced bit for bit, so that an MDP seed
//! means the same layout in ludus as in Colosseum.
//!
//! Colosseum draws its layouts from NumPy's legacy `RandomState` (the Mersenne Twister MT19937
//! seeded with `init_genrand`, and NumPy's own algorithms for uniform floats, bounded integers
//! and shuffles), and MiniGridRooms also from Python's `random.Random` (the same generator
//! seeded with `init_by_array`, bounded integers by rejection on `getrandbits`). This module
//! implements those algorithms from their published descriptions (Matsumoto and Nishimura's
//! MT19937; NumPy's and CPython's documented conversions); the integration tests check its
//! draws against values recorded from NumPy 1.26 and CPython 3.10.
//!
//! MDP construction uses it, and so does the tie rule of the policy used for regret
//! ([`super::ties`]); agents otherwise draw from [`crate::rng::Rng`].

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER: u32 = 0x8000_0000;
const LOWER: u32 = 0x7fff_ffff;

/// The MT19937 generator (32-bit outputs).
#[derive(Clone, Debug)]
pub struct Mt19937 {
    mt: Box<[u32; N]>,
    idx: usize,
}

impl Mt19937 {
    /// Seeded with one 32-bit word (`init_genrand`; NumPy's `RandomState(seed)`).
    pub fn new(seed: u32) -> Mt19937 {
        let mut mt = Box::new([0u32; N]);
        mt[0] = seed;
        for i in 1..N {
            let prev = mt[i - 1];
            mt[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        Mt19937 { mt, idx: N }
    }

    /// Seeded with a key of 32-bit words (`init_by_array`; Python's `random.seed(int)`).
    pub fn from_key(key: &[u32]) -> Mt19937 {
        let mut g = Mt19937::new(19_650_218);
        let mt = &mut g.mt;
        let (mut i, mut j) = (1usize, 0usize);
        let len = key.len().max(1);
        for _ in 0..N.max(len) {
            let prev = mt[i - 1];
            let k = key.get(j).copied().unwrap_or(0);
            mt[i] = (mt[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(k)
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
            if j >= len {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            let prev = mt[i - 1];
            mt[i] =
                (mt[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_566_083_941)).wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
        }
        mt[0] = 0x8000_0000;
        g
    }

    fn twist(&mut self) {
        let mt = &mut self.mt;
        for k in 0..N {
            let y = (mt[k] & UPPER) | (mt[(k + 1) % N] & LOWER);
            let mag = if y & 1 == 1 { MATRIX_A } else { 0 };
            mt[k] = mt[(k + M) % N] ^ (y >> 1) ^ mag;
        }
        self.idx = 0;
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        if self.idx >= N {
            self.twist();
        }
        let mut y = self.mt[self.idx];
        self.idx += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }
}

/// NumPy's legacy `RandomState`, for the calls Colosseum makes.
#[derive(Clone, Debug)]
pub struct RandomState {
    mt: Mt19937,
}

impl RandomState {
    /// `np.random.RandomState(seed)` / `np.random.seed(seed)`.
    pub fn new(seed: u32) -> RandomState {
        RandomState {
            mt: Mt19937::new(seed),
        }
    }

    /// The next raw 32-bit output.
    pub fn next_u32(&mut self) -> u32 {
        self.mt.next_u32()
    }

    /// `random_sample()`: a double in [0, 1) from 53 bits of two outputs (27 + 26).
    pub fn random_sample(&mut self) -> f64 {
        let a = (self.mt.next_u32() >> 5) as f64;
        let b = (self.mt.next_u32() >> 6) as f64;
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// A uniform integer in `0..=max` by masked rejection (NumPy's bounded integers for ranges
    /// within 32 bits): draws until `output & mask <= max`, `mask` the smallest all-ones
    /// number `>= max`; `max = 0` draws nothing.
    pub fn interval(&mut self, max: u32) -> u32 {
        if max == 0 {
            return 0;
        }
        let mut mask = max;
        mask |= mask >> 1;
        mask |= mask >> 2;
        mask |= mask >> 4;
        mask |= mask >> 8;
        mask |= mask >> 16;
        loop {
            let v = self.mt.next_u32() & mask;
            if v <= max {
                return v;
            }
        }
    }

    /// `randint(n)`: a uniform integer in `0..n` (`n >= 1`, at most 2^32).
    pub fn randint(&mut self, n: u64) -> u64 {
        debug_assert!((1..=1 << 32).contains(&n));
        if n == 1 << 32 {
            return self.mt.next_u32() as u64;
        }
        self.interval((n - 1) as u32) as u64
    }

    /// `shuffle(x)`: Fisher-Yates from the end, `j = interval(i)` for `i = n-1 .. 1`.
    pub fn shuffle<T>(&mut self, x: &mut [T]) {
        for i in (1..x.len()).rev() {
            let j = self.interval(i as u32) as usize;
            x.swap(i, j);
        }
    }

    /// `rand(n).argsort()`: the ranks order of `n` uniform draws (Colosseum's per-state action
    /// relabelling). Ties have probability ~2^-53 and are broken by position.
    pub fn rand_argsort(&mut self, n: usize) -> Vec<usize> {
        let u: Vec<f64> = (0..n).map(|_| self.random_sample()).collect();
        let mut idx: Vec<usize> = (0..n).collect();
        idx.sort_by(|&a, &b| u[a].total_cmp(&u[b]).then(a.cmp(&b)));
        idx
    }

    /// `choice(len(p), p=p)` for one draw: the first index whose normalised cumulative
    /// probability exceeds a uniform draw (`cdf = cumsum(p) / sum`, `searchsorted(u, 'right')`).
    pub fn choice_index(&mut self, p: &[f64]) -> usize {
        let u = self.random_sample();
        index_in_cdf(&cdf(p), u)
    }
}

/// NumPy's normalised cumulative sum of `p` (`cumsum`, then divided by its last element).
pub fn cdf(p: &[f64]) -> Vec<f64> {
    let mut acc = 0.0;
    let mut c: Vec<f64> = p
        .iter()
        .map(|&x| {
            acc += x;
            acc
        })
        .collect();
    let last = *c.last().unwrap_or(&1.0);
    c.iter_mut().for_each(|x| *x /= last);
    c
}

/// `searchsorted(cdf, u, side='right')`: the number of entries `<= u`.
pub fn index_in_cdf(cdf: &[f64], u: f64) -> usize {
    cdf.partition_point(|&c| c <= u)
}

/// A random FrozenLake map (row-major bytes `S`, `F`, `H`, `G`) as Gym 0.26's
/// `generate_random_map(size, p)` draws it from NumPy's global generator (`rng`): each attempt
/// draws every cell, row by row, as `choice(["F", "H"], p=[p, 1 - p])`, sets the corners to S
/// and G, and is kept when a path of non-hole cells joins them. `None` after `attempts`
/// rejected maps (Gym would try forever).
pub fn generate_random_map(
    size: usize,
    p: f64,
    rng: &mut RandomState,
    attempts: usize,
) -> Option<Vec<u8>> {
    let p = p.min(1.0);
    let cdf = cdf(&[p, 1.0 - p]);
    for _ in 0..attempts {
        let mut lake: Vec<u8> = (0..size * size)
            .map(|_| {
                if index_in_cdf(&cdf, rng.random_sample()) == 0 {
                    b'F'
                } else {
                    b'H'
                }
            })
            .collect();
        lake[0] = b'S';
        lake[size * size - 1] = b'G';
        if reaches_goal(&lake, size) {
            return Some(lake);
        }
    }
    None
}

/// Whether non-hole cells join the start (0, 0) to the goal (the last cell).
fn reaches_goal(lake: &[u8], size: usize) -> bool {
    let mut seen = vec![false; size * size];
    let mut stack = vec![0usize];
    seen[0] = true;
    while let Some(i) = stack.pop() {
        if lake[i] == b'G' {
            return true;
        }
        let (x, y) = (i / size, i % size);
        let mut next = Vec::with_capacity(4);
        if x > 0 {
            next.push(i - size);
        }
        if x + 1 < size {
            next.push(i + size);
        }
        if y > 0 {
            next.push(i - 1);
        }
        if y + 1 < size {
            next.push(i + 1);
        }
        for j in next {
            if !seen[j] && lake[j] != b'H' {
                seen[j] = true;
                stack.push(j);
            }
        }
    }
    false
}

/// Python's `random.Random`, for the calls Colosseum makes.
#[derive(Clone, Debug)]
pub struct PyRandom {
    mt: Mt19937,
}

impl PyRandom {
    /// `random.Random(seed)` for a non-negative integer seed: `init_by_array` with its 32-bit
    /// words, least significant first (`[0]` for 0).
    pub fn new(seed: u64) -> PyRandom {
        let mut key = vec![seed as u32];
        if seed >> 32 != 0 {
            key.push((seed >> 32) as u32);
        }
        PyRandom {
            mt: Mt19937::from_key(&key),
        }
    }

    /// `getrandbits(k)` for `k <= 32`: the top `k` bits of one output.
    pub fn getrandbits(&mut self, k: u32) -> u32 {
        debug_assert!(k <= 32);
        if k == 0 {
            return 0;
        }
        self.mt.next_u32() >> (32 - k)
    }

    /// `randint(a, b)`: `a + randbelow(b - a + 1)`, where `randbelow(n)` draws
    /// `getrandbits(n.bit_length())` until below `n` (CPython 3.10).
    pub fn randint(&mut self, a: i64, b: i64) -> i64 {
        let n = (b - a + 1) as u64;
        assert!(
            (1..1 << 32).contains(&n),
            "randint({a}, {b}): unsupported range"
        );
        let k = 64 - n.leading_zeros();
        loop {
            let r = self.getrandbits(k) as u64;
            if r < n {
                return a + r as i64;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mt19937_reference_output() {
        // The reference implementation's test vector: init_by_array({0x123, 0x234, 0x345,
        // 0x456}) gives 1067595299 955945823 477289528 ... as its first outputs.
        let mut g = Mt19937::from_key(&[0x123, 0x234, 0x345, 0x456]);
        assert_eq!(
            [g.next_u32(), g.next_u32(), g.next_u32()],
            [1_067_595_299, 955_945_823, 477_289_528]
        );
    }

    #[test]
    fn draws_match_numpy_and_python() {
        // Recorded from NumPy 1.26.4 (legacy RandomState) and CPython 3.10/3.11.
        let mut r = RandomState::new(0);
        let u: Vec<f64> = (0..3).map(|_| r.random_sample()).collect();
        assert_eq!(
            u,
            [0.5488135039273248, 0.7151893663724195, 0.6027633760716439]
        );
        let mut r = RandomState::new(0);
        let k: Vec<u64> = [4, 5, 7, 1, 100].iter().map(|&n| r.randint(n)).collect();
        assert_eq!(k, [0, 0, 3, 0, 67]);
        let mut r = RandomState::new(1);
        let mut l: Vec<u32> = (0..10).collect();
        r.shuffle(&mut l);
        assert_eq!(l, [2, 9, 6, 4, 0, 3, 1, 7, 8, 5]);
        assert_eq!(r.rand_argsort(5), [4, 0, 1, 3, 2]);
        let mut p = PyRandom::new(0);
        let k: Vec<i64> = (0..5).map(|_| p.randint(0, 3)).collect();
        assert_eq!(k, [3, 3, 0, 2, 3]);
        assert_eq!(
            [p.getrandbits(32), p.getrandbits(32)],
            [1739178872, 3943786419]
        );
        let k: Vec<i64> = (0..6).map(|s| PyRandom::new(s).randint(0, 3)).collect();
        assert_eq!(k, [3, 1, 0, 1, 1, 2]);
    }
}
