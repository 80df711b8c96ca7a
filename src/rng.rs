//! The one random number generator of ludus: xoshiro256++ seeded through splitmix64.
//!
//! Results must be bit-identical on every machine and for every future build, so ludus owns
//! its generator and its conversions (to floats, to bounded integers) instead of depending on
//! a crate whose sampling algorithms may change between versions. Every random draw in a run or
//! in a sweep sample goes through a `Rng` built from an explicit seed; MDP layouts are drawn as
//! Colosseum draws them (see `model::np_random`).

/// A small, fast, seeded generator (xoshiro256++).
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

/// One step of splitmix64, used to expand seeds.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator from a 64-bit seed.
    pub fn new(seed: u64) -> Rng {
        let mut st = seed;
        let s = [
            splitmix64(&mut st),
            splitmix64(&mut st),
            splitmix64(&mut st),
            splitmix64(&mut st),
        ];
        Rng { s }
    }

    /// A generator for one purpose (`stream`) of one seed, independent of the other streams:
    /// e.g. the agent's and the environment's randomness in the same instance.
    pub fn with_stream(seed: u64, stream: u64) -> Rng {
        let mut st = seed ^ splitmix64(&mut stream.wrapping_mul(0xD6E8_FEB8_6659_FD93));
        Rng::new(splitmix64(&mut st))
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A uniform float in [0, 1) with 53 random bits.
    #[inline]
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform integer in `0..n` (`n > 0`), by Lemire's multiply-shift (bias below 2^-64 * n).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// A uniform float in [lo, hi).
    #[inline]
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next_f64()
    }

    /// A standard normal draw (Box-Muller; one value per call, for simplicity and determinism).
    pub fn normal(&mut self) -> f64 {
        // 1 - u is in (0, 1], so the log is finite.
        let u1 = 1.0 - self.next_f64();
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A Gamma(shape, 1) draw (Marsaglia and Tsang; shape < 1 by the boost u^(1/shape)).
    pub fn gamma(&mut self, shape: f64) -> f64 {
        debug_assert!(shape > 0.0);
        if shape < 1.0 {
            let u = 1.0 - self.next_f64();
            return self.gamma(shape + 1.0) * u.powf(1.0 / shape);
        }
        self.gamma_mt(shape - 1.0 / 3.0, Rng::normal)
    }

    /// A Gamma(shape, 1) draw, `shape >= 1`, as [`Rng::gamma`] but with its normals from
    /// `normals` (Marsaglia's polar method, two per logarithm, no cosine): the same
    /// distribution, other numbers drawn, so a sequence differs from [`Rng::gamma`]'s.
    pub fn gamma_polar(&mut self, shape: f64, normals: &mut PolarNormals) -> f64 {
        debug_assert!(shape >= 1.0);
        self.gamma_mt(shape - 1.0 / 3.0, |r| normals.next(r))
    }

    /// Marsaglia and Tsang's rejection loop for shape `d + 1/3 >= 1`.
    ///
    /// The squeeze `u < 1 - 0.0331 x^4` accepts most draws without the two logarithms; it is
    /// used only where it provably makes the same decision as the logarithmic test as computed
    /// in floating point, so every draw (value and random numbers consumed) is bit-identical to
    /// the logarithmic test alone. Where the squeeze accepts, the log bound exceeds the
    /// squeeze's log by at least `9e-5 x^4` for `d >= 2/3` (checked on a grid of 800,000 `x`
    /// per `d` for `d` from 2/3 to 1e6), far above the bound's rounding error (a few ulps of
    /// `d + x^2`) once `x^4 >= 1e-10 (d + 7)`, the guard; below the guard the log test decides.
    #[inline]
    fn gamma_mt(&mut self, d: f64, mut normal: impl FnMut(&mut Rng) -> f64) -> f64 {
        let c = 1.0 / (9.0 * d).sqrt();
        let guard = 1e-10 * (d + 7.0);
        loop {
            let x = normal(self);
            let v = 1.0 + c * x;
            if v <= 0.0 {
                continue;
            }
            let v = v * v * v;
            let u = 1.0 - self.next_f64();
            let x4 = (x * x) * (x * x);
            if x4 >= guard && u < 1.0 - 0.0331 * x4 {
                return d * v;
            }
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }

    /// A Beta(a, b) draw.
    pub fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a);
        let y = self.gamma(b);
        if x + y == 0.0 { 0.5 } else { x / (x + y) }
    }
}

/// Standard normal draws by Marsaglia's polar method: a point drawn uniformly in the unit disk
/// gives two independent normals for one logarithm and one square root; the second is kept for
/// the next call. Faster than [`Rng::normal`] (Box-Muller with a cosine, one value per call),
/// for hot loops that need not draw as it does.
#[derive(Clone, Debug, Default)]
pub struct PolarNormals {
    spare: Option<f64>,
}

impl PolarNormals {
    /// The next standard normal draw.
    #[inline]
    pub fn next(&mut self, rng: &mut Rng) -> f64 {
        if let Some(x) = self.spare.take() {
            return x;
        }
        loop {
            let u = 2.0 * rng.next_f64() - 1.0;
            let v = 2.0 * rng.next_f64() - 1.0;
            let s = u * u + v * v;
            if s < 1.0 && s > 0.0 {
                let f = (-2.0 * s.ln() / s).sqrt();
                self.spare = Some(v * f);
                return u * f;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_is_pinned() {
        // Pins the generator: if these change, every stored result changes.
        let mut r = Rng::new(42);
        let a = r.next_u64();
        let b = r.next_u64();
        let mut r2 = Rng::new(42);
        assert_eq!((a, b), (r2.next_u64(), r2.next_u64()));
        assert_ne!(
            Rng::with_stream(42, 0).next_u64(),
            Rng::with_stream(42, 1).next_u64()
        );
    }

    /// The plain Marsaglia-Tsang draw, the logarithmic test alone (the reference).
    fn gamma_reference(r: &mut Rng, shape: f64) -> f64 {
        if shape < 1.0 {
            let u = 1.0 - r.next_f64();
            return gamma_reference(r, shape + 1.0) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = r.normal();
            let v = 1.0 + c * x;
            if v <= 0.0 {
                continue;
            }
            let v = v * v * v;
            let u = 1.0 - r.next_f64();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }

    #[test]
    fn gamma_squeeze_is_bit_identical_to_the_log_test() {
        let shapes = [
            1e-3,
            1.0 / 144.0,
            0.3,
            0.5,
            1.0,
            1.0 + 1.0 / 144.0,
            1.5,
            3.7,
            40.0,
            1e4,
        ];
        for (i, &shape) in shapes.iter().enumerate() {
            let (mut a, mut b) = (Rng::new(i as u64), Rng::new(i as u64));
            for _ in 0..200_000 {
                let (x, y) = (a.gamma(shape), gamma_reference(&mut b, shape));
                assert_eq!(x.to_bits(), y.to_bits(), "shape {shape}");
            }
            assert_eq!(
                a.next_u64(),
                b.next_u64(),
                "shape {shape}: same numbers consumed"
            );
        }
    }

    /// The largest distance between the empirical CDF of `xs` and `cdf`.
    fn ks_distance(mut xs: Vec<f64>, cdf: impl Fn(f64) -> f64) -> f64 {
        xs.sort_by(f64::total_cmp);
        let n = xs.len() as f64;
        xs.iter().enumerate().fold(0.0f64, |d, (i, &x)| {
            let f = cdf(x);
            d.max((f - i as f64 / n).abs())
                .max((i as f64 + 1.0) / n - f)
        })
    }

    /// The regularized lower incomplete gamma function P(a, x), by its series (x < a + 40).
    fn gamma_cdf(a: f64, x: f64) -> f64 {
        if x <= 0.0 {
            return 0.0;
        }
        let (mut term, mut sum, mut k) = (1.0 / a, 1.0 / a, a);
        while term > sum * 1e-16 {
            k += 1.0;
            term *= x / k;
            sum += term;
        }
        // ln Gamma(a) by Stirling's series after shifting a above 30 (error below 1e-13).
        let (mut z, mut shift) = (a, 0.0);
        while z < 30.0 {
            shift -= z.ln();
            z += 1.0;
        }
        let ln_gamma = (z - 0.5) * z.ln() - z + 0.5 * std::f64::consts::TAU.ln() + 1.0 / (12.0 * z)
            - 1.0 / (360.0 * z.powi(3))
            + 1.0 / (1260.0 * z.powi(5))
            + shift;
        (a * x.ln() - x - ln_gamma).exp() * sum
    }

    #[test]
    fn polar_normals_and_their_gamma_draws_have_the_right_distribution() {
        // The CDFs the draws are checked against, at known values.
        for x in [0.1, 1.0, 4.0, 30.0] {
            assert!(
                (gamma_cdf(1.0, x) - (1.0 - (-x).exp())).abs() < 1e-12,
                "P(1, {x})"
            );
        }
        assert!((libm_erf(1.0) - 0.842_700_792_949_714_9).abs() < 1e-12);
        assert!((libm_erf(-0.5) + 0.520_499_877_813_046_5).abs() < 1e-12);
        // KS distance against the exact CDF; 0.1% critical value for 100,000 draws: 0.0062.
        let n = 100_000;
        let (mut r, mut normals) = (Rng::new(3), PolarNormals::default());
        let xs: Vec<f64> = (0..n).map(|_| normals.next(&mut r)).collect();
        let phi = |x: f64| 0.5 * (1.0 + libm_erf(x / std::f64::consts::SQRT_2));
        let d = ks_distance(xs.clone(), phi);
        assert!(d < 0.0062, "normals: KS distance {d}");
        // Consecutive pairs are independent: their product has mean 0 and variance 1.
        let prod: Vec<f64> = xs.chunks(2).map(|p| p[0] * p[1]).collect();
        let m = prod.iter().sum::<f64>() / prod.len() as f64;
        let var = prod.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / prod.len() as f64;
        // Standard errors over 50,000 pairs: 0.0045 for the mean, 0.013 for the variance.
        assert!(m.abs() < 0.02, "pair correlation {m}");
        assert!(
            (var - 1.0).abs() < 0.055,
            "variance of a pair's product {var}"
        );
        for shape in [1.0 + 1.0 / 144.0, 1.5, 3.7, 40.0] {
            let xs: Vec<f64> = (0..n).map(|_| r.gamma_polar(shape, &mut normals)).collect();
            let d = ks_distance(xs, |x| gamma_cdf(shape, x));
            assert!(d < 0.0062, "gamma({shape}): KS distance {d}");
        }
        // The check has teeth: Gamma(1.5) draws against Gamma(1.55)'s CDF fail it.
        let xs: Vec<f64> = (0..n).map(|_| r.gamma_polar(1.5, &mut normals)).collect();
        assert!(ks_distance(xs, |x| gamma_cdf(1.55, x)) > 0.0062);
    }

    /// The error function, as P(1/2, x^2).
    fn libm_erf(x: f64) -> f64 {
        let sign = x.signum();
        let x = x.abs();
        // erf(x) = P(1/2, x^2).
        sign * if x < 5.0 { gamma_cdf(0.5, x * x) } else { 1.0 }
    }

    #[test]
    fn moments_are_right() {
        let mut r = Rng::new(7);
        let n = 200_000;
        let mean = |f: &mut dyn FnMut() -> f64| (0..n).map(|_| f()).sum::<f64>() / n as f64;
        assert!((mean(&mut || r.next_f64()) - 0.5).abs() < 0.01);
        let mut r = Rng::new(8);
        assert!((mean(&mut || r.gamma(2.5)) - 2.5).abs() < 0.05);
        let mut r = Rng::new(9);
        assert!((mean(&mut || r.gamma(0.3)) - 0.3).abs() < 0.02);
        let mut r = Rng::new(10);
        assert!((mean(&mut || r.beta(2.0, 6.0)) - 0.25).abs() < 0.01);
        let mut r = Rng::new(11);
        let m = mean(&mut || r.below(10) as f64);
        assert!((m - 4.5).abs() < 0.05);
    }
}
