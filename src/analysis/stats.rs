//! Summary statistics: mean, sample standard deviation and a Student-t 95% confidence interval,
//! accumulated one value at a time so that nothing needs the values kept.

use serde::Serialize;

/// A running sum of values (Welford's update, stable for long runs of similar values).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Accumulator {
    n: usize,
    mean: f64,
    m2: f64,
}

impl Accumulator {
    /// Adds one value.
    pub fn push(&mut self, x: f64) {
        self.n += 1;
        let d = x - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (x - self.mean);
    }

    /// The number of values.
    pub fn count(&self) -> usize {
        self.n
    }

    /// The summary of the values so far.
    pub fn stat(&self) -> Stat {
        if self.n == 0 {
            return Stat::default();
        }
        let std = (self.n > 1).then(|| (self.m2 / (self.n - 1) as f64).max(0.0).sqrt());
        Stat {
            n: self.n,
            mean: Some(self.mean),
            std,
            ci95: std.map(|s| t95(self.n - 1) * s / (self.n as f64).sqrt()),
        }
    }
}

/// Mean, standard deviation and the half-width of the 95% confidence interval of the mean.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Stat {
    /// How many values.
    pub n: usize,
    /// Their mean (none without values).
    pub mean: Option<f64>,
    /// Their sample standard deviation (none with fewer than two values).
    pub std: Option<f64>,
    /// Half-width of the Student-t 95% interval of the mean (none with fewer than two values).
    pub ci95: Option<f64>,
}

impl Stat {
    /// The statistic of a slice of values.
    pub fn of(values: &[f64]) -> Stat {
        let mut a = Accumulator::default();
        values.iter().for_each(|&v| a.push(v));
        a.stat()
    }
}

/// `x` rounded to 12 significant digits, for comparing means: two means that differ only by
/// the rounding of their sums (the same values added in another order) compare equal, so ties
/// are real ties and break the documented way.
pub fn rounded(x: f64) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    format!("{x:.11e}").parse().unwrap_or(x)
}

/// The two-sided 95% quantile of Student's t with `df` degrees of freedom.
pub fn t95(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => TABLE[df - 1],
        // The Cornish-Fisher expansion around the normal quantile; within 1e-3 above 30.
        _ => {
            let z: f64 = 1.959964;
            let d = df as f64;
            z + (z.powi(3) + z) / (4.0 * d)
                + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * d * d)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_checked() {
        let s = Stat::of(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(s.n, 4);
        assert_eq!(s.mean, Some(2.5));
        let std = (5.0f64 / 3.0).sqrt();
        assert!((s.std.unwrap() - std).abs() < 1e-12);
        assert!((s.ci95.unwrap() - 3.182 * std / 2.0).abs() < 1e-12);
        assert_eq!(Stat::of(&[7.0]).std, None);
        assert_eq!(Stat::of(&[]).mean, None);
    }

    #[test]
    fn rounding_makes_order_noise_a_tie() {
        let a = [0.1, 0.2, 0.3].iter().sum::<f64>();
        let b = [0.3, 0.2, 0.1].iter().sum::<f64>();
        assert_ne!(a, b);
        assert_eq!(rounded(a), rounded(b));
        assert_ne!(rounded(1.0), rounded(1.0 + 1e-9));
    }

    #[test]
    fn t_quantiles() {
        assert!((t95(40) - 2.021).abs() < 1e-3);
        assert!((t95(120) - 1.980).abs() < 1e-3);
        assert!((t95(100_000) - 1.960).abs() < 1e-3);
    }
}
