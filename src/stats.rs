//! The statistics behind the claim verdicts, implemented here (they are small) so their exact
//! behaviour is pinned by tests: the exact binomial sign test, a Mann–Kendall trend test with the
//! exact null distribution of inversions, and Holm's step-down correction.

use serde::{Deserialize, Serialize};

/// ln(n!) for n = 0..=n_max, by summation (exact to a few ulps for the sizes used here).
fn ln_factorials(n_max: u64) -> Vec<f64> {
    let mut v = Vec::with_capacity(n_max as usize + 1);
    let mut acc = 0.0f64;
    v.push(0.0);
    for i in 1..=n_max {
        acc += (i as f64).ln();
        v.push(acc);
    }
    v
}

/// P(X ≥ k) for X ~ Binomial(n, 1/2), exactly summed in log space (no underflow for large n).
pub(crate) fn binomial_half_upper_tail(n: u64, k: u64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    let lf = ln_factorials(n);
    let ln2n = n as f64 * std::f64::consts::LN_2;
    let terms: Vec<f64> = (k..=n)
        .map(|i| lf[n as usize] - lf[i as usize] - lf[(n - i) as usize] - ln2n)
        .collect();
    let m = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let s: f64 = terms.iter().map(|t| (t - m).exp()).sum();
    (m + s.ln()).exp().min(1.0)
}

/// The result of an exact binomial sign test on paired differences (ties dropped).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignTest {
    /// Pairs where the subject is better.
    pub wins: u64,
    /// Pairs where the subject is worse.
    pub losses: u64,
    /// Exactly equal pairs (dropped from the test).
    pub ties: u64,
    /// One-sided p-value for "the subject is better": P(X ≥ wins), X ~ Bin(wins + losses, ½).
    pub p_better: f64,
    /// One-sided p-value for "the subject is worse": P(X ≥ losses).
    pub p_worse: f64,
}

impl SignTest {
    pub(crate) fn from_counts(wins: u64, losses: u64, ties: u64) -> Self {
        let n = wins + losses;
        SignTest {
            wins,
            losses,
            ties,
            p_better: binomial_half_upper_tail(n, wins),
            p_worse: binomial_half_upper_tail(n, losses),
        }
    }

    /// Counts wins/losses/ties of `subject` over `other` in pairs, with `better(a, b)` meaning
    /// a strictly better than b.
    pub(crate) fn from_pairs(
        pairs: impl IntoIterator<Item = (f64, f64)>,
        better: impl Fn(f64, f64) -> bool,
    ) -> Self {
        let (mut w, mut l, mut t) = (0, 0, 0);
        for (a, b) in pairs {
            if better(a, b) {
                w += 1;
            } else if better(b, a) {
                l += 1;
            } else {
                t += 1;
            }
        }
        Self::from_counts(w, l, t)
    }

    /// Two-sided p-value: min(1, 2 · min(one-sided)) — exact for p = ½ by symmetry.
    #[cfg(test)]
    fn p_two_sided(&self) -> f64 {
        (2.0 * self.p_better.min(self.p_worse)).min(1.0)
    }
}

/// Above this many points the trend test uses the normal approximation of Kendall's S.
pub(crate) const TREND_EXACT_MAX_N: usize = 200;

/// Mann–Kendall test for an increasing trend of a sequence against its order.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct TrendTest {
    pub n: usize,
    /// Pairs (i < j) with x_j − x_i > tolerance.
    pub concordant: u64,
    /// All other pairs: decreases, ties, and increases within the tolerance (counted against the
    /// trend, which makes the test conservative).
    pub not_concordant: u64,
    /// (concordant − not_concordant) / pairs.
    pub tau: f64,
    /// P(a uniformly random ordering has ≤ `not_concordant` inversions).
    pub p_increasing: f64,
    pub exact: bool,
}

/// Mann–Kendall trend test. `tolerance` ≥ 0 is the size of an increase that may be noise (for
/// digitised data, twice the read-off error); such pairs count against the trend.
pub(crate) fn trend_test(xs: &[f64], tolerance: f64) -> TrendTest {
    let n = xs.len();
    let mut conc = 0u64;
    let mut not = 0u64;
    for i in 0..n {
        for j in i + 1..n {
            if xs[j] - xs[i] > tolerance {
                conc += 1;
            } else {
                not += 1;
            }
        }
    }
    let pairs = conc + not;
    let tau = if pairs == 0 {
        0.0
    } else {
        (conc as f64 - not as f64) / pairs as f64
    };
    let (p, exact) = if n <= TREND_EXACT_MAX_N {
        (inversions_cdf(n, not), true)
    } else {
        // S = C − D; under H0 mean 0, var n(n−1)(2n+5)/18; continuity-corrected.
        let nf = n as f64;
        let s = conc as f64 - not as f64;
        let var = nf * (nf - 1.0) * (2.0 * nf + 5.0) / 18.0;
        let z = (s - 1.0) / var.sqrt();
        (normal_upper_tail(z), false)
    };
    TrendTest {
        n,
        concordant: conc,
        not_concordant: not,
        tau,
        p_increasing: p,
        exact,
    }
}

/// P(inversions ≤ k) for a uniformly random permutation of n items (Mahonian distribution),
/// by dynamic programming over probabilities: adding the m-th item adds 0..m−1 inversions
/// uniformly.
pub(crate) fn inversions_cdf(n: usize, k: u64) -> f64 {
    let max = n * n.saturating_sub(1) / 2;
    if k as usize >= max {
        return 1.0;
    }
    let k = k as usize;
    let mut p = vec![0.0f64; k + 1];
    p[0] = 1.0;
    for m in 2..=n {
        // new[j] = (1/m) Σ_{i=0}^{m−1} old[j − i], via a sliding prefix sum.
        let mut next = vec![0.0f64; k + 1];
        let mut window = 0.0;
        for j in 0..=k {
            window += p[j];
            if j >= m {
                window -= p[j - m];
            }
            next[j] = window / m as f64;
        }
        p = next;
    }
    p.iter().sum::<f64>().min(1.0)
}

/// Upper tail of the standard normal, via erfc (Abramowitz–Stegun 7.1.26 is too coarse for small
/// p; this uses the continued-fraction-free W. J. Cody rational approximation through `erfc`).
fn normal_upper_tail(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// Complementary error function, Numerical Recipes `erfcc` (fractional error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.26551223
            + t * (1.00002368
                + t * (0.37409196
                    + t * (0.09678418
                        + t * (-0.18628806
                            + t * (0.27886807
                                + t * (-1.13520398
                                    + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Holm's step-down procedure: which hypotheses are rejected at family-wise level `alpha`,
/// in the input order.
pub(crate) fn holm(p_values: &[f64], alpha: f64) -> Vec<bool> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]).then(a.cmp(&b)));
    let mut rejected = vec![false; m];
    for (rank, &i) in order.iter().enumerate() {
        if p_values[i] <= alpha / (m - rank) as f64 {
            rejected[i] = true;
        } else {
            break;
        }
    }
    rejected
}

/// A percentile bootstrap interval for a mean.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub estimate: f64,
    pub lo: f64,
    pub hi: f64,
    pub confidence: f64,
    pub resamples: u32,
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom (two-sided 95 %): a table to
/// df 30 (3 decimals, rounded up so intervals never shrink), then the Cornish–Fisher expansion.
pub(crate) fn student_t_975(df: u64) -> f64 {
    const TABLE: [f64; 30] = [
        12.707, 4.303, 3.183, 2.777, 2.571, 2.447, 2.365, 2.307, 2.263, 2.229, 2.201, 2.179, 2.161,
        2.145, 2.132, 2.120, 2.110, 2.101, 2.094, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.049, 2.046, 2.043,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df as usize - 1],
        _ => {
            let z: f64 = 1.959_963_984_540_054;
            let d = df as f64;
            z + (z.powi(3) + z) / (4.0 * d)
                + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * d * d)
        }
    }
}

/// Half-width of the 95 % prediction interval for one more draw from the distribution that
/// gave `xs` (normal model): t₀.₉₇₅(n−1) · s · √(1 + 1/n). `None` below two values.
pub fn prediction_half_width_95(xs: &[f64]) -> Option<f64> {
    let n = xs.len();
    if n < 2 {
        return None;
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    Some(student_t_975(n as u64 - 1) * var.sqrt() * (1.0 + 1.0 / n as f64).sqrt())
}

/// Percentile bootstrap CI of the mean of `xs`: `resamples` resamples with replacement drawn from
/// `rng` (a named stream of [`crate::seed::SeedPath`], so the interval is reproducible).
/// `None` when `xs` is empty.
pub(crate) fn bootstrap_mean_ci(
    xs: &[f64],
    resamples: u32,
    confidence: f64,
    rng: &mut crate::seed::Rng,
) -> Option<Interval> {
    use rand::Rng as _;
    let n = xs.len();
    if n == 0 || resamples == 0 {
        return None;
    }
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| xs[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    let q = |p: f64| means[((p * resamples as f64).floor() as usize).min(means.len() - 1)];
    let tail = (1.0 - confidence) / 2.0;
    Some(Interval {
        estimate: xs.iter().sum::<f64>() / n as f64,
        lo: q(tail),
        hi: q(1.0 - tail),
        confidence,
        resamples,
    })
}

/// Wilcoxon's signed-rank test of paired differences (zeros dropped, tied magnitudes share
/// their mid-rank), with the exact null distribution of W+ under random signs, counted over the
/// doubled ranks so mid-ranks stay integers.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignedRankTest {
    /// Non-zero differences.
    pub n: usize,
    /// Sum of the ranks of the positive differences.
    pub w_plus: f64,
    /// P(W+ ≥ observed) under H0 (one-sided: the differences tend to be positive).
    pub p_greater: f64,
}

/// Wilcoxon's signed-rank test of `diffs` (one value per task); `None` when every difference is 0.
pub(crate) fn signed_rank_test(diffs: &[f64]) -> Option<SignedRankTest> {
    let mut nz: Vec<f64> = diffs.iter().copied().filter(|d| *d != 0.0).collect();
    if nz.is_empty() || nz.iter().any(|d| !d.is_finite()) {
        return None;
    }
    nz.sort_by(|a, b| a.abs().total_cmp(&b.abs()));
    let n = nz.len();
    // Doubled mid-ranks: a tie block over 1-based ranks i..=j gets i + j.
    let mut ranks2 = vec![0u64; n];
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && nz[j + 1].abs() == nz[i].abs() {
            j += 1;
        }
        for r in &mut ranks2[i..=j] {
            *r = (i + 1 + j + 1) as u64;
        }
        i = j + 1;
    }
    let observed: u64 = nz
        .iter()
        .zip(&ranks2)
        .filter(|(d, _)| **d > 0.0)
        .map(|(_, r)| *r)
        .sum();
    let total: u64 = ranks2.iter().sum();
    // counts[s] = number of sign assignments whose doubled W+ is s.
    let mut counts = vec![0f64; total as usize + 1];
    counts[0] = 1.0;
    let mut reach = 0usize;
    for &r in &ranks2 {
        let r = r as usize;
        for s in (0..=reach).rev() {
            if counts[s] > 0.0 {
                counts[s + r] += counts[s];
            }
        }
        reach += r;
    }
    let all: f64 = counts.iter().sum();
    let tail: f64 = counts[observed as usize..].iter().sum();
    Some(SignedRankTest {
        n,
        w_plus: observed as f64 / 2.0,
        p_greater: (tail / all).min(1.0),
    })
}

/// The interquartile mean (rliable): the mean of the middle 50 % of `xs`, the quarter at each
/// end removed, fractional items weighted (so it is defined for any n ≥ 1).
pub(crate) fn interquartile_mean(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    let (lo, hi) = (0.25 * n, 0.75 * n);
    let mut sum = 0.0;
    for (i, x) in v.iter().enumerate() {
        let (a, b) = (i as f64, i as f64 + 1.0);
        let w = (b.min(hi) - a.max(lo)).max(0.0);
        sum += w * x;
    }
    Some(sum / (hi - lo))
}

/// A percentile interval of `stat` over `resamples` stratified bootstrap draws of `strata` (each
/// stratum, a task's trajectory scores, resampled within itself: rliable's stratified
/// bootstrap), with `stat` of the data as the estimate.
pub(crate) fn stratified_bootstrap_ci(
    strata: &[Vec<f64>],
    stat: impl Fn(&[Vec<f64>]) -> Option<f64>,
    resamples: u32,
    confidence: f64,
    rng: &mut crate::seed::Rng,
) -> Option<Interval> {
    use rand::Rng as _;
    let estimate = stat(strata)?;
    let mut draws = Vec::with_capacity(resamples as usize);
    let mut buf: Vec<Vec<f64>> = strata.iter().map(|s| Vec::with_capacity(s.len())).collect();
    for _ in 0..resamples {
        for (b, s) in buf.iter_mut().zip(strata) {
            b.clear();
            for _ in 0..s.len() {
                b.push(s[rng.random_range(0..s.len())]);
            }
        }
        if let Some(x) = stat(&buf) {
            draws.push(x);
        }
    }
    percentile_interval(estimate, draws, confidence, resamples)
}

/// A percentile interval of the mean over tasks of (mean a − mean b), by a two-level bootstrap:
/// tasks resampled with replacement, then within each drawn task its paired trajectories
/// (`pairs[t]` = (a's score, b's score) per trajectory). Both levels of variation enter, so the
/// interval does not treat trajectories as independent tasks.
pub(crate) fn hierarchical_bootstrap_ci(
    pairs: &[Vec<(f64, f64)>],
    resamples: u32,
    confidence: f64,
    rng: &mut crate::seed::Rng,
) -> Option<Interval> {
    use rand::Rng as _;
    let diff = |p: &[(f64, f64)]| p.iter().map(|(a, b)| a - b).sum::<f64>() / p.len() as f64;
    let tasks: Vec<&Vec<(f64, f64)>> = pairs.iter().filter(|p| !p.is_empty()).collect();
    if tasks.is_empty() {
        return None;
    }
    let estimate = tasks.iter().map(|p| diff(p)).sum::<f64>() / tasks.len() as f64;
    let mut draws = Vec::with_capacity(resamples as usize);
    let mut buf = Vec::new();
    for _ in 0..resamples {
        let mut total = 0.0;
        for _ in 0..tasks.len() {
            let p = tasks[rng.random_range(0..tasks.len())];
            buf.clear();
            for _ in 0..p.len() {
                buf.push(p[rng.random_range(0..p.len())]);
            }
            total += diff(&buf);
        }
        draws.push(total / tasks.len() as f64);
    }
    percentile_interval(estimate, draws, confidence, resamples)
}

/// rliable's probability of improvement of `a` over `b`: the mean over tasks of
/// P(X_a > X_b) + ½ P(X_a = X_b), X drawn from each task's trajectory scores (already oriented
/// so that higher is better).
pub(crate) fn probability_of_improvement(a: &[Vec<f64>], b: &[Vec<f64>]) -> Option<f64> {
    let per: Vec<f64> = a
        .iter()
        .zip(b)
        .filter(|(x, y)| !x.is_empty() && !y.is_empty())
        .map(|(x, y)| {
            let mut s = 0.0;
            for u in x {
                for v in y {
                    s += if u > v {
                        1.0
                    } else if u == v {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
            s / (x.len() * y.len()) as f64
        })
        .collect();
    if per.is_empty() {
        None
    } else {
        Some(per.iter().sum::<f64>() / per.len() as f64)
    }
}

fn percentile_interval(
    estimate: f64,
    mut draws: Vec<f64>,
    confidence: f64,
    resamples: u32,
) -> Option<Interval> {
    if draws.is_empty() {
        return None;
    }
    draws.sort_by(f64::total_cmp);
    let q = |p: f64| {
        let i = ((draws.len() - 1) as f64 * p).round() as usize;
        draws[i]
    };
    let tail = (1.0 - confidence) / 2.0;
    Some(Interval {
        estimate,
        lo: q(tail),
        hi: q(1.0 - tail),
        confidence,
        resamples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn student_t_matches_its_table_and_approaches_the_normal() {
        assert_eq!(student_t_975(0), f64::INFINITY);
        assert_eq!(student_t_975(2), 4.303);
        // R: qt(0.975, 31) = 2.039513, qt(0.975, 120) = 1.979930.
        assert!(
            (student_t_975(31) - 2.039513).abs() < 2e-4,
            "{}",
            student_t_975(31)
        );
        assert!((student_t_975(120) - 1.979930).abs() < 1e-4);
        assert!((2..200).all(|d| student_t_975(d) <= student_t_975(d - 1)));
        // Three values 1, 2, 3: s = 1, t(2) = 4.303, sqrt(4/3).
        let w = prediction_half_width_95(&[1.0, 2.0, 3.0]).unwrap();
        assert!((w - 4.303 * (4.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(prediction_half_width_95(&[1.0]), None);
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1e-300)
    }

    #[test]
    fn sign_test_known_values() {
        // Exact binomial tails, computed by hand: Σ C(n,i) / 2^n.
        assert!(close(binomial_half_upper_tail(10, 8), 56.0 / 1024.0));
        assert!(close(binomial_half_upper_tail(13, 13), 1.0 / 8192.0));
        assert!(close(binomial_half_upper_tail(20, 15), 21700.0 / 1048576.0));
        assert_eq!(binomial_half_upper_tail(5, 0), 1.0);
        assert_eq!(binomial_half_upper_tail(5, 6), 0.0);
        // scipy.stats.binomtest(7, 10).pvalue == 0.34375 (two-sided).
        let t = SignTest::from_counts(7, 3, 2);
        assert!(close(t.p_two_sided(), 0.34375));
        assert!(close(t.p_better, 176.0 / 1024.0));
        // Large n does not underflow: P(X ≥ 1000 | n = 1000) = 2^-1000.
        let p = binomial_half_upper_tail(1000, 1000);
        assert!((p.log2() + 1000.0).abs() < 1e-9, "{p}");
        // P(X ≥ 500 | n = 1000) = ½ + ½·P(X = 500); P(X=500) ≈ 0.025225018.
        assert!((binomial_half_upper_tail(1000, 500) - 0.512612509).abs() < 1e-8);
    }

    #[test]
    fn sign_test_counts_pairs_by_direction() {
        let lower = |a: f64, b: f64| a < b;
        let t = SignTest::from_pairs([(0.1, 0.2), (0.3, 0.2), (0.2, 0.2), (0.0, 1.0)], lower);
        assert_eq!((t.wins, t.losses, t.ties), (2, 1, 1));
    }

    #[test]
    fn mahonian_distribution() {
        // Inversion counts of permutations of 4: 1, 3, 5, 6, 5, 3, 1 (sum 24).
        let cum = [1.0, 4.0, 9.0, 15.0, 20.0, 23.0, 24.0];
        for (k, c) in cum.iter().enumerate() {
            assert!(close(inversions_cdf(4, k as u64), c / 24.0), "k={k}");
        }
        // n = 9: I(9, 0..=2) = 1, 8, 35.
        assert!(close(inversions_cdf(9, 2), 44.0 / 362880.0));
    }

    #[test]
    fn trend_test_behaviour() {
        let up = trend_test(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.0);
        assert_eq!((up.concordant, up.not_concordant), (10, 0));
        assert!(close(up.p_increasing, 1.0 / 120.0));
        assert_eq!(up.tau, 1.0);
        let down = trend_test(&[5.0, 4.0, 3.0, 2.0, 1.0], 0.0);
        assert_eq!(down.p_increasing, 1.0);
        // Ties and within-tolerance increases count against the trend.
        let flat = trend_test(&[1.0, 1.0, 1.3], 0.5);
        assert_eq!(flat.concordant, 0);
        // The normal approximation agrees with the exact tail near the switch-over.
        let xs: Vec<f64> = (0..TREND_EXACT_MAX_N)
            .map(|i| ((i * 37) % 101) as f64 + 0.05 * i as f64)
            .collect();
        let exact = trend_test(&xs, 0.0);
        let nf = xs.len() as f64;
        let z = (exact.concordant as f64 - exact.not_concordant as f64 - 1.0)
            / (nf * (nf - 1.0) * (2.0 * nf + 5.0) / 18.0).sqrt();
        let approx = normal_upper_tail(z);
        assert!(exact.exact);
        assert!(
            exact.p_increasing > 0.01 && (exact.p_increasing / approx - 1.0).abs() < 0.05,
            "{} vs {}",
            exact.p_increasing,
            approx
        );
    }

    proptest::proptest! {
        #[test]
        fn sign_test_tails_are_consistent(w in 0u64..300, l in 0u64..300) {
            let t = SignTest::from_counts(w, l, 0);
            // The two one-sided tails overlap in P(X = w), so they sum to at least 1.
            proptest::prop_assert!(t.p_better + t.p_worse >= 1.0 - 1e-12);
            proptest::prop_assert!((0.0..=1.0).contains(&t.p_better));
            // Symmetry: swapping wins and losses swaps the tails.
            let s = SignTest::from_counts(l, w, 0);
            proptest::prop_assert!((s.p_better - t.p_worse).abs() < 1e-12);
            // One more win never makes "better" less significant.
            let u = SignTest::from_counts(w + 1, l, 0);
            proptest::prop_assert!(u.p_better <= t.p_better + 1e-12);
        }

        #[test]
        fn inversions_cdf_is_a_cdf(n in 1usize..40, k in 0u64..800) {
            let p = inversions_cdf(n, k);
            proptest::prop_assert!((0.0..=1.0 + 1e-12).contains(&p));
            proptest::prop_assert!(inversions_cdf(n, k + 1) >= p - 1e-12);
            let max = (n * (n - 1) / 2) as u64;
            // Symmetric distribution: P(I ≤ k) = P(I ≥ max − k) = 1 − P(I ≤ max − k − 1).
            if k < max {
                let q = 1.0 - inversions_cdf(n, max - k - 1);
                proptest::prop_assert!((p - q).abs() < 1e-9, "{} vs {}", p, q);
            }
        }
    }

    #[test]
    fn bootstrap_is_seeded_and_brackets_the_mean() {
        let xs: Vec<f64> = (0..13).map(|i| i as f64).collect();
        let s = crate::seed::SeedPath::root(3).child("boot");
        let a = bootstrap_mean_ci(&xs, 2000, 0.95, &mut s.rng()).unwrap();
        let b = bootstrap_mean_ci(&xs, 2000, 0.95, &mut s.rng()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.estimate, 6.0);
        assert!(a.lo < 6.0 && 6.0 < a.hi, "{a:?}");
        // Standard error of the mean is about 1.04; a 95 % interval spans about ±2.
        assert!(a.hi - a.lo > 3.0 && a.hi - a.lo < 5.5, "{a:?}");
        let c = bootstrap_mean_ci(&[2.5; 5], 100, 0.9, &mut s.rng()).unwrap();
        assert_eq!((c.lo, c.hi), (2.5, 2.5));
        assert!(bootstrap_mean_ci(&[], 100, 0.9, &mut s.rng()).is_none());
    }

    #[test]
    fn holm_step_down() {
        assert_eq!(holm(&[0.01, 0.04, 0.03], 0.05), vec![true, false, false]);
        assert_eq!(holm(&[0.01, 0.02, 0.04], 0.05), vec![true, true, true]);
        assert_eq!(holm(&[0.2, 0.001], 0.05), vec![false, true]);
    }

    /// Exact values: all five positive gives 1/32 (scipy's exact `wilcoxon`); a tie block of
    /// three |1|s shares rank 2, and 4 of the 16 sign patterns reach the observed W+ = 8.
    #[test]
    fn signed_rank_test_is_exact_with_ties() {
        let t = signed_rank_test(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert_eq!((t.n, t.w_plus), (5, 15.0));
        assert!((t.p_greater - 1.0 / 32.0).abs() < 1e-12);
        let t = signed_rank_test(&[1.0, 1.0, -1.0, 2.0, 0.0]).unwrap();
        assert_eq!((t.n, t.w_plus), (4, 8.0));
        assert!((t.p_greater - 0.25).abs() < 1e-12);
        assert!(signed_rank_test(&[0.0, 0.0]).is_none());
        let t = signed_rank_test(&[-1.0, -2.0, -3.0]).unwrap();
        assert_eq!(t.p_greater, 1.0);
    }

    #[test]
    fn interquartile_mean_weights_fractional_items() {
        assert_eq!(
            interquartile_mean(&[8., 1., 2., 3., 4., 5., 6., 7.]),
            Some(4.5)
        );
        assert_eq!(interquartile_mean(&[5., 4., 3., 2., 1.]), Some(3.0));
        assert_eq!(interquartile_mean(&[2.0]), Some(2.0));
        assert_eq!(interquartile_mean(&[]), None);
    }

    #[test]
    fn probability_of_improvement_counts_ties_half() {
        let p = probability_of_improvement(&[vec![1., 2.]], &[vec![1., 1.]]).unwrap();
        assert_eq!(p, 0.75);
        let p = probability_of_improvement(&[vec![1.], vec![0.]], &[vec![0.], vec![1.]]).unwrap();
        assert_eq!(p, 0.5);
    }

    /// Identical agents give a degenerate interval at 0; a constant shift gives it exactly.
    #[test]
    fn hierarchical_bootstrap_brackets_the_paired_difference() {
        let mut rng = crate::seed::SeedPath::root(3).rng();
        let same = vec![vec![(1.0, 1.0), (2.0, 2.0)], vec![(0.5, 0.5)]];
        let i = hierarchical_bootstrap_ci(&same, 500, 0.95, &mut rng).unwrap();
        assert_eq!((i.estimate, i.lo, i.hi), (0.0, 0.0, 0.0));
        let shifted = vec![vec![(2.0, 1.0), (3.0, 2.0)], vec![(1.5, 0.5)]];
        let i = hierarchical_bootstrap_ci(&shifted, 500, 0.95, &mut rng).unwrap();
        assert_eq!((i.estimate, i.lo, i.hi), (1.0, 1.0, 1.0));
        let noisy = vec![vec![(2.0, 0.0), (0.0, 0.0)], vec![(1.0, 0.0), (3.0, 0.0)]];
        let i = hierarchical_bootstrap_ci(&noisy, 2000, 0.95, &mut rng).unwrap();
        assert!(i.lo < i.estimate && i.estimate < i.hi, "{i:?}");
    }
}
