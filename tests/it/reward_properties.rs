//! Property tests of the agentic reward.

use mlagent::metrics::Direction;
use mlagent::reward::*;
use proptest::prelude::*;

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![
        Just(Direction::HigherIsBetter),
        Just(Direction::LowerIsBetter)
    ]
}

fn config() -> impl Strategy<Value = RewardConfig> {
    prop_oneof![Just(RewardConfig::v1()), Just(RewardConfig::v2())]
}

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -1e3f64..1e3,
        1 => any::<f64>().prop_filter("finite", |x| x.is_finite()),
        1 => Just(f64::MAX),
        1 => Just(-f64::MAX),
    ]
}

fn alpha() -> impl Strategy<Value = f64> {
    prop_oneof![3 => 1e-3f64..1e3, 1 => Just(f64::MAX), 1 => Just(f64::MIN_POSITIVE)]
}

fn outcome() -> impl Strategy<Value = StepOutcome> {
    prop_oneof![
        Just(StepOutcome::InvalidAction),
        Just(StepOutcome::ExecutionError),
        Just(StepOutcome::BudgetExceeded),
        Just(StepOutcome::NonEdit),
        finite().prop_map(|metric| StepOutcome::Success { metric }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn rewards_stay_in_their_range(
        o in outcome(), prev in finite(), d in direction(), a in alpha(), cfg in config(),
    ) {
        let r = reward(&o, prev, d, a, &cfg).unwrap();
        let (lo, hi) = cfg.range();
        prop_assert!(r >= lo && r <= hi, "{r} outside [{lo}, {hi}]");
    }

    #[test]
    fn no_improvement_is_neutral(prev in finite(), d in direction(), a in alpha()) {
        let same = StepOutcome::Success { metric: prev };
        prop_assert_eq!(reward(&same, prev, d, a, &RewardConfig::v1()), Ok(0.5));
        prop_assert_eq!(reward(&same, prev, d, a, &RewardConfig::v2()), Ok(0.0));
    }

    #[test]
    fn error_kinds_earn_exact_constants(prev in finite(), d in direction(), a in alpha()) {
        let r = |o: StepOutcome, c: RewardConfig| reward(&o, prev, d, a, &c).unwrap();
        for (c, fail, neutral) in [(RewardConfig::v1(), 0.0, 0.5), (RewardConfig::v2(), -1.0, 0.0)] {
            prop_assert_eq!(r(StepOutcome::InvalidAction, c.clone()), fail);
            prop_assert_eq!(r(StepOutcome::ExecutionError, c.clone()), fail);
            prop_assert_eq!(r(StepOutcome::NonEdit, c.clone()), neutral);
            prop_assert_eq!(r(StepOutcome::BudgetExceeded, c.clone()), neutral);
        }
    }

    #[test]
    fn strictly_increasing_in_improvement(
        prev in -100.0f64..100.0, a in 0.1f64..10.0,
        x1 in -12.0f64..12.0, gap in 1e-3f64..10.0, cfg in config(),
    ) {
        // Improvements (in units of α) x1 < x2, mapped to metrics either way round. Strict in
        // f64 while σ and tanh have not saturated (|α·Δ| ≲ 36 and ≲ 18); beyond that the
        // reward is non-decreasing (`monotone_everywhere`).
        let x2 = (x1 + gap).min(12.0);
        prop_assume!(x2 - x1 >= 1e-3);
        let up = |x: f64| reward(&StepOutcome::Success { metric: prev + x / a }, prev, Direction::HigherIsBetter, a, &cfg).unwrap();
        let down = |x: f64| reward(&StepOutcome::Success { metric: prev - x / a }, prev, Direction::LowerIsBetter, a, &cfg).unwrap();
        prop_assert!(up(x1) < up(x2), "{} !< {}", up(x1), up(x2));
        prop_assert!(down(x1) < down(x2), "{} !< {}", down(x1), down(x2));
    }

    #[test]
    fn monotone_everywhere(prev in finite(), m1 in finite(), m2 in finite(), a in alpha(), cfg in config()) {
        let (lo, hi) = if m1 <= m2 { (m1, m2) } else { (m2, m1) };
        let r = |m: f64, d: Direction| reward(&StepOutcome::Success { metric: m }, prev, d, a, &cfg).unwrap();
        prop_assert!(r(lo, Direction::HigherIsBetter) <= r(hi, Direction::HigherIsBetter));
        prop_assert!(r(lo, Direction::LowerIsBetter) >= r(hi, Direction::LowerIsBetter));
    }

    #[test]
    fn falling_lower_metric_equals_rising_higher_metric(
        p in -4096i32..4096, d in -4096i32..4096, a in alpha(), cfg in config(),
    ) {
        // dyadic values: every difference is exact, so the rewards must be bit-identical
        let (prev, d) = (p as f64 / 64.0, d as f64 / 64.0);
        let lower = reward(&StepOutcome::Success { metric: prev - d }, prev, Direction::LowerIsBetter, a, &cfg).unwrap();
        let higher = reward(&StepOutcome::Success { metric: prev + d }, prev, Direction::HigherIsBetter, a, &cfg).unwrap();
        prop_assert_eq!(lower, higher);
    }

    #[test]
    fn alpha_from_range_makes_reward_affine_invariant(
        m_init in -10.0f64..10.0, gap in 0.5f64..10.0, improves in prop::bool::ANY,
        prev_t in -0.5f64..1.5, new_t in -0.5f64..1.5,
        scale in 0.1f64..10.0, flip in prop::bool::ANY, shift in -10.0f64..10.0, cfg in config(),
    ) {
        // a task whose best metric lies `gap` above (higher-is-better) or below its start
        let (dir, m_best) = if improves {
            (Direction::HigherIsBetter, m_init + gap)
        } else {
            (Direction::LowerIsBetter, m_init - gap)
        };
        let at = |t: f64| m_init + t * (m_best - m_init);
        let (prev, new) = (at(prev_t), at(new_t));
        let alpha = alpha_from_range(m_init, m_best).unwrap();
        let base = reward(&StepOutcome::Success { metric: new }, prev, dir, alpha, &cfg).unwrap();
        // the same task with the metric rescaled by a·m + b (a < 0 turns the direction round)
        let a = if flip { -scale } else { scale };
        let f = |m: f64| a * m + shift;
        let dir2 = if flip {
            match dir { Direction::HigherIsBetter => Direction::LowerIsBetter, Direction::LowerIsBetter => Direction::HigherIsBetter }
        } else { dir };
        let alpha2 = alpha_from_range(f(m_init), f(m_best)).unwrap();
        let moved = reward(&StepOutcome::Success { metric: f(new) }, f(prev), dir2, alpha2, &cfg).unwrap();
        prop_assert!((moved - base).abs() < 1e-9, "{base} vs {moved}");
    }

    #[test]
    fn rejects_non_finite_inputs(o in outcome(), d in direction(), cfg in config()) {
        prop_assert!(reward(&o, f64::NAN, d, 1.0, &cfg).is_err());
        prop_assert!(reward(&o, 0.0, d, f64::INFINITY, &cfg).is_err());
        prop_assert!(reward(&o, 0.0, d, -1.0, &cfg).is_err());
        let nan = StepOutcome::Success { metric: f64::NAN };
        prop_assert!(reward(&nan, 0.0, d, 1.0, &cfg).is_err());
    }
}

#[test]
fn v1_matches_the_paper_at_known_points() {
    let c = RewardConfig::v1();
    let up = Direction::HigherIsBetter;
    // α = 100/|0.9 − 0.8| = 1000; +0.001 accuracy ⇒ σ(1)
    let alpha = alpha_from_range(0.8, 0.9).unwrap();
    let r = reward(&StepOutcome::Success { metric: 0.851 }, 0.85, up, alpha, &c).unwrap();
    assert!((r - 1.0 / (1.0 + (-1.0f64).exp())).abs() < 1e-9, "{r}");
    // a log loss that rises by 0.01 on a range of 1.0 ⇒ σ(−1)
    let r = reward(
        &StepOutcome::Success { metric: 0.51 },
        0.5,
        Direction::LowerIsBetter,
        100.0,
        &c,
    )
    .unwrap();
    assert!((r - 1.0 / (1.0 + 1.0f64.exp())).abs() < 1e-9, "{r}");
}
