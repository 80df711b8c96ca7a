//! Two-sample tests for the parity suite: Welch's t-test and the Mann-Whitney U test, both
//! two-sided, computed as SciPy computes them (`scipy.stats.ttest_ind(equal_var=False)` and
//! `scipy.stats.mannwhitneyu(alternative="two-sided")` with its asymptotic method: normal
//! approximation, tie correction, continuity correction).

/// Welch's t-test: `(t, degrees of freedom, two-sided p-value)`.
///
/// Two samples without spread give `p = 1` when their means are equal and `p = 0` otherwise.
pub fn welch(a: &[f64], b: &[f64]) -> (f64, f64, f64) {
    assert!(
        a.len() >= 2 && b.len() >= 2,
        "Welch's test needs 2+ values per sample"
    );
    let (ma, va) = mean_var(a);
    let (mb, vb) = mean_var(b);
    let (sa, sb) = (va / a.len() as f64, vb / b.len() as f64);
    let se2 = sa + sb;
    if se2 == 0.0 {
        let p = if ma == mb { 1.0 } else { 0.0 };
        return (f64::NAN, f64::NAN, p);
    }
    let t = (ma - mb) / se2.sqrt();
    let df = se2 * se2 / (sa * sa / (a.len() as f64 - 1.0) + sb * sb / (b.len() as f64 - 1.0));
    // Two-sided tail of Student's t: I_{df / (df + t^2)}(df / 2, 1 / 2).
    let p = reg_inc_beta(df / 2.0, 0.5, df / (df + t * t));
    (t, df, p)
}

/// Mann-Whitney U test: `(U of the first sample, two-sided p-value)`.
pub fn mann_whitney(a: &[f64], b: &[f64]) -> (f64, f64) {
    assert!(!a.is_empty() && !b.is_empty(), "empty sample");
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let mut all: Vec<(f64, usize)> = a
        .iter()
        .map(|&x| (x, 0))
        .chain(b.iter().map(|&x| (x, 1)))
        .collect();
    assert!(all.iter().all(|(x, _)| x.is_finite()), "non-finite value");
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    // Mid-ranks, and sum over tie groups of (t^3 - t).
    let n = all.len();
    let mut rank_sum_a = 0.0;
    let mut ties = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        let t = (j - i + 1) as f64;
        ties += t * t * t - t;
        rank_sum_a += rank * all[i..=j].iter().filter(|(_, g)| *g == 0).count() as f64;
        i = j + 1;
    }
    let u1 = rank_sum_a - n1 * (n1 + 1.0) / 2.0;
    let u2 = n1 * n2 - u1;
    let big_n = n1 + n2;
    let mu = n1 * n2 / 2.0;
    let sigma = (n1 * n2 / 12.0 * ((big_n + 1.0) - ties / (big_n * (big_n - 1.0)))).sqrt();
    if sigma == 0.0 {
        return (u1, 1.0);
    }
    let z = (u1.max(u2) - mu - 0.5) / sigma;
    let p = (2.0 * normal_sf(z)).min(1.0);
    (u1, p)
}

/// Mean and sample variance (n - 1).
pub fn mean_var(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    let v = x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n - 1.0);
    (m, v)
}

/// Upper tail of the standard normal, `P(Z > z)`.
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// Complementary error function (Numerical Recipes' Chebyshev fit `erfcc`: fractional error
/// below 1.2e-7 everywhere, ample for p-values compared with 0.01).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = [
        -1.265_512_23,
        1.000_023_68,
        0.374_091_96,
        0.096_784_18,
        -0.186_288_06,
        0.278_868_07,
        -1.135_203_98,
        1.488_515_87,
        -0.822_152_23,
        0.170_872_77,
    ]
    .iter()
    .rev()
    .fold(0.0, |acc, &c| acc * t + c);
    let ans = t * (-z * z + poly).exp();
    if x >= 0.0 { ans } else { 2.0 - ans }
}

/// ln Gamma(x) for x > 0 (Lanczos, g = 7, n = 9; relative error ~1e-15).
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut s = C[0];
    for (i, &c) in C.iter().enumerate().skip(1) {
        s += c / (x + i as f64);
    }
    let t = x + 7.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + s.ln()
}

/// The regularized incomplete beta function I_x(a, b) (continued fraction, Lentz's method).
pub fn reg_inc_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_cf(a, b, x) / a
    } else {
        1.0 - ln_front.exp() * beta_cf(b, a, 1.0 - x) / b
    }
}

fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..10_000 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-15 {
            return h;
        }
    }
    panic!("incomplete beta: no convergence for a={a}, b={b}, x={x}");
}

#[test]
fn welch_hand_checked() {
    // a: mean 3, variance 2.5; b: mean 7, variance 14. se^2 = 2.5/5 + 14/6 = 2.8333,
    // t = -4 / sqrt(2.8333) = -2.37635, df = 2.8333^2 / (0.5^2/4 + 2.3333^2/5) = 6.97226.
    // p: SciPy 1.11 `ttest_ind(a, b, equal_var=False)` gives 0.04928433820673049.
    let (t, df, p) = welch(
        &[1.0, 2.0, 3.0, 4.0, 5.0],
        &[2.0, 4.0, 6.0, 8.0, 10.0, 12.0],
    );
    assert!((t - -2.376_354_103_144_018).abs() < 1e-12, "t = {t}");
    assert!((df - 6.972_255_729_794_934).abs() < 1e-12, "df = {df}");
    assert!((p - 0.049_284_338_206_730_49).abs() < 1e-10, "p = {p}");
    // With zeros and unequal sizes (SciPy: t -2.810970366998748, p 0.017523229368528008).
    let c = [0.0, 0.0, 0.0, 1.5, 2.5, 3.0, 0.0, 4.0];
    let d = [0.0, 2.0, 5.0, 6.0, 7.5, 0.0, 9.0, 10.0, 11.0];
    let (t, _, p) = welch(&c, &d);
    assert!((t - -2.810_970_366_998_748).abs() < 1e-12, "t = {t}");
    assert!((p - 0.017_523_229_368_528).abs() < 1e-10, "p = {p}");
    // Symmetric, and degenerate samples.
    assert!((welch(&d, &c).2 - p).abs() < 1e-15);
    assert_eq!(welch(&[1.0, 1.0], &[1.0, 1.0, 1.0]).2, 1.0);
    assert_eq!(welch(&[1.0, 1.0], &[2.0, 2.0]).2, 0.0);
}

#[test]
fn mann_whitney_hand_checked() {
    // Ranks of a in a + b = {1, 2, 3, 4, 5} + {2, 4, 6, 8, 10, 12}: 1, 2.5, 4, 5.5, 7, sum 20,
    // U = 20 - 5 * 6 / 2 = 5. Ties (2, 4) give sum(t^3 - t) = 12: sigma^2 = 30/12 * (12 - 12/110).
    // z = (25 - 15 - 0.5) / sigma; SciPy 1.11 `mannwhitneyu(a, b, method="asymptotic")`:
    // p = 0.08143973230450288.
    let (u, p) = mann_whitney(
        &[1.0, 2.0, 3.0, 4.0, 5.0],
        &[2.0, 4.0, 6.0, 8.0, 10.0, 12.0],
    );
    assert_eq!(u, 5.0);
    assert!((p - 0.081_439_732_304_502_88).abs() < 1e-6, "p = {p}");
    // Many ties at 0 (SciPy's default method is asymptotic with ties): U 15, p 0.04376551194120643.
    let c = [0.0, 0.0, 0.0, 1.5, 2.5, 3.0, 0.0, 4.0];
    let d = [0.0, 2.0, 5.0, 6.0, 7.5, 0.0, 9.0, 10.0, 11.0];
    let (u, p) = mann_whitney(&c, &d);
    assert_eq!(u, 15.0);
    assert!((p - 0.043_765_511_941_206_43).abs() < 1e-6, "p = {p}");
    assert!((mann_whitney(&d, &c).1 - p).abs() < 1e-12);
    // All values equal: no evidence of a difference.
    assert_eq!(mann_whitney(&[3.0, 3.0], &[3.0]).1, 1.0);
}

#[test]
fn tails_hand_checked() {
    // SciPy: norm.sf(1) = 0.15865525393145707, norm.sf(2.5758293035489) = 0.005,
    // 2 * t.sf(2, df=5) = 0.10193947882985828.
    assert!((normal_sf(1.0) - 0.158_655_253_931_457_07).abs() < 1e-8);
    assert!((normal_sf(2.575_829_303_548_9) - 0.005).abs() < 1e-9);
    assert!((normal_sf(-1.0) - (1.0 - 0.158_655_253_931_457_07)).abs() < 1e-8);
    assert!((reg_inc_beta(2.5, 0.5, 5.0 / 9.0) - 0.101_939_478_829_858_28).abs() < 1e-12);
}
