//! Property tests of the metrics: invariances, perfect predictions, bounds, and that no input
//! whatsoever yields NaN or a panic.

use mlagent::metrics::*;
use proptest::prelude::*;

/// Labels in {0, 1} with both classes present.
fn binary_labels(max: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(prop::bool::ANY, 2..max)
        .prop_map(|mut v| {
            v[0] = true;
            v[1] = false;
            v
        })
        .prop_shuffle()
        .prop_map(|v| v.into_iter().map(|b| if b { 1.0 } else { 0.0 }).collect())
}

/// Scores on a coarse grid in [0, 1] (ties likely), so every transform below is strictly
/// increasing on them in floating point too.
fn grid_scores(n: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(0u32..=200, n)
        .prop_map(|v| v.into_iter().map(|k| k as f64 / 200.0).collect())
}

fn auc_case() -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
    binary_labels(60).prop_flat_map(|t| {
        let n = t.len();
        (Just(t), grid_scores(n))
    })
}

/// Any f64 at all, special values weighted up.
fn wild() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => any::<f64>(),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(-0.0),
        1 => Just(f64::MAX),
        1 => Just(f64::MIN_POSITIVE / 4.0),
        2 => (-3i32..8).prop_map(|i| i as f64),
        2 => 0.0..1.0f64,
    ]
}

fn wild_vec() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(wild(), 0..8)
}

fn wild_matrix() -> impl Strategy<Value = Vec<Vec<f64>>> {
    prop::collection::vec(prop::collection::vec(wild(), 0..4), 0..5)
}

fn sane(r: Result<f64, MetricError>) -> bool {
    match r {
        Ok(v) => v.is_finite(),
        Err(_) => true,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn auc_invariant_under_increasing_transforms((t, s) in auc_case()) {
        let base = roc_auc(&t, &s).unwrap();
        let transforms: [fn(f64) -> f64; 5] = [
            |x| x * x,
            f64::sqrt,
            |x| x * x * x,
            |x| (x + 0.5) / 1.5,
            |x| (x.exp() - 1.0) / (1f64.exp() - 1.0),
        ];
        for f in transforms {
            let s2: Vec<f64> = s.iter().map(|&x| f(x).clamp(0.0, 1.0)).collect();
            prop_assert_eq!(roc_auc(&t, &s2).unwrap(), base);
        }
        // a decreasing transform mirrors the AUC
        let flipped: Vec<f64> = s.iter().map(|x| 1.0 - x).collect();
        prop_assert!((roc_auc(&t, &flipped).unwrap() - (1.0 - base)).abs() < 1e-12);
        prop_assert!((0.0..=1.0).contains(&base));
    }

    #[test]
    fn auc_matches_the_quadratic_pair_count((t, s) in auc_case()) {
        let (mut wins, mut pairs) = (0.0, 0.0);
        for (i, &ti) in t.iter().enumerate() {
            for (j, &tj) in t.iter().enumerate() {
                if ti == 1.0 && tj == 0.0 {
                    pairs += 1.0;
                    wins += if s[i] > s[j] { 1.0 } else if s[i] == s[j] { 0.5 } else { 0.0 };
                }
            }
        }
        prop_assert!((roc_auc(&t, &s).unwrap() - wins / pairs).abs() < 1e-12);
    }

    #[test]
    fn accuracy_invariant_under_label_renaming(
        pairs in prop::collection::vec((0usize..6, 0usize..6), 1..50),
        perm in Just((0usize..6).collect::<Vec<_>>()).prop_shuffle(),
    ) {
        let (t, p): (Vec<usize>, Vec<usize>) = pairs.into_iter().unzip();
        let base = accuracy(&t, &p).unwrap();
        let rename = |v: &[usize]| v.iter().map(|&x| perm[x]).collect::<Vec<_>>();
        prop_assert_eq!(accuracy(&rename(&t), &rename(&p)).unwrap(), base);
        let names = |v: &[usize]| v.iter().map(|&x| format!("class-{}", perm[x])).collect::<Vec<_>>();
        prop_assert_eq!(accuracy(&names(&t), &names(&p)).unwrap(), base);
        prop_assert!((0.0..=1.0).contains(&base));
    }

    #[test]
    fn qwk_is_symmetric_and_bounded(
        pairs in prop::collection::vec((1i32..7, 1i32..7), 1..60),
    ) {
        let (t, p): (Vec<f64>, Vec<f64>) = pairs.into_iter().map(|(a, b)| (a as f64, b as f64)).unzip();
        let ab = qwk(&t, &p);
        prop_assert_eq!(&ab, &qwk(&p, &t));
        if let Ok(k) = ab {
            prop_assert!((-1.0..=1.0).contains(&k));
        }
        let fixed = qwk_fixed_range(&t, &p, 1, 6);
        prop_assert_eq!(&fixed, &qwk_fixed_range(&p, &t, 1, 6));
        if let Ok(k) = fixed {
            prop_assert!((-1.0..=1.0).contains(&k));
        }
    }

    #[test]
    fn qwk_matches_the_confusion_matrix_formula(
        pairs in prop::collection::vec((0i32..5, 0i32..5), 1..40),
    ) {
        let (t, p): (Vec<f64>, Vec<f64>) = pairs.iter().map(|&(a, b)| (a as f64, b as f64)).unzip();
        // sklearn's definition, literally: labels = sorted union, O, E, W by position.
        let mut labels: Vec<i32> = pairs.iter().flat_map(|&(a, b)| [a, b]).collect();
        labels.sort();
        labels.dedup();
        let l = labels.len();
        let pos = |x: i32| labels.iter().position(|&y| y == x).unwrap();
        let mut o = vec![vec![0.0; l]; l];
        for &(a, b) in &pairs {
            o[pos(a)][pos(b)] += 1.0;
        }
        let n = pairs.len() as f64;
        let rows: Vec<f64> = o.iter().map(|r| r.iter().sum()).collect();
        let cols: Vec<f64> = (0..l).map(|j| o.iter().map(|r| r[j]).sum()).collect();
        let (mut wo, mut we) = (0.0, 0.0);
        for i in 0..l {
            for j in 0..l {
                let w = ((i as f64) - (j as f64)).powi(2);
                wo += w * o[i][j];
                we += w * rows[i] * cols[j] / n;
            }
        }
        match qwk(&t, &p) {
            Ok(k) => prop_assert!((k - (1.0 - wo / we)).abs() < 1e-12),
            Err(_) => prop_assert_eq!(we, 0.0),
        }
    }

    #[test]
    fn pearson_affine_invariance_and_sign_flip(
        pairs in prop::collection::vec((-50i32..50, -50i32..50), 3..40),
        a in 0.1f64..10.0,
        b in -100.0f64..100.0,
    ) {
        let (x, y): (Vec<f64>, Vec<f64>) = pairs.into_iter().map(|(u, v)| (u as f64, v as f64)).unzip();
        let Ok(r) = pearson(&x, &y) else { return Ok(()); };
        prop_assert!((-1.0..=1.0).contains(&r));
        let pos: Vec<f64> = x.iter().map(|v| a * v + b).collect();
        let neg: Vec<f64> = x.iter().map(|v| -a * v + b).collect();
        prop_assert!((pearson(&pos, &y).unwrap() - r).abs() < 1e-9);
        prop_assert!((pearson(&neg, &y).unwrap() + r).abs() < 1e-9);
        prop_assert!((pearson(&y, &x).unwrap() - r).abs() < 1e-12);
    }

    #[test]
    fn perfect_predictions(
        t in binary_labels(40),
        vals in prop::collection::vec(0.0f64..100.0, 2..40),
        ratings in prop::collection::vec(1i32..7, 2..40),
        classes in prop::collection::vec(0usize..4, 1..30),
    ) {
        prop_assert_eq!(accuracy(&t, &t), Ok(1.0));
        prop_assert_eq!(roc_auc(&t, &t), Ok(1.0));
        let ll = log_loss_binary(&t, &t).unwrap();
        prop_assert!((0.0..1e-15).contains(&ll));
        prop_assert!(log_loss_binary_legacy(&t, &t).unwrap() < 1e-14);
        let onehot: Vec<Vec<f64>> = classes.iter().map(|&c| (0..4).map(|j| if j == c { 1.0 } else { 0.0 }).collect()).collect();
        prop_assert!(log_loss_multiclass(&classes, &onehot).unwrap() < 1e-15);
        prop_assert!(log_loss_multiclass_legacy(&classes, &onehot, 4).unwrap() < 1e-14);
        prop_assert_eq!(accuracy_argmax(&onehot, &classes), Ok(1.0));
        prop_assert_eq!(mae(&vals, &vals), Ok(0.0));
        prop_assert_eq!(rmse(&vals, &vals), Ok(0.0));
        prop_assert_eq!(rmsle(&vals, &vals), Ok(0.0));
        let m: Vec<Vec<f64>> = vals.iter().map(|&v| vec![v, v * 0.5]).collect();
        prop_assert_eq!(mcrmse(&m, &m), Ok(0.0));
        prop_assert_eq!(mean_columnwise_rmsle(&m, &m), Ok(0.0));
        let r: Vec<f64> = ratings.iter().map(|&x| x as f64).collect();
        if r.iter().any(|&x| x != r[0]) {
            prop_assert_eq!(qwk(&r, &r), Ok(1.0));
            prop_assert_eq!(qwk_fixed_range(&r, &r, 1, 6), Ok(1.0));
        }
        if vals.iter().any(|&x| x != vals[0]) {
            prop_assert!((pearson(&vals, &vals).unwrap() - 1.0).abs() < 1e-12);
        }
        let labels: Vec<Vec<String>> = classes.iter().map(|c| vec![format!("w_{c}")]).collect();
        prop_assert_eq!(map_at_k(&labels, &labels, 5), Ok(1.0));
    }

    #[test]
    fn bounds(
        t in binary_labels(40),
        p in prop::collection::vec(0.0f64..=1.0, 40),
        a in prop::collection::vec(-1e3f64..1e3, 1..40),
        d in prop::collection::vec(-10.0f64..10.0, 40),
    ) {
        let p = &p[..t.len()];
        let ll = log_loss_binary(&t, p).unwrap();
        prop_assert!((0.0..=-f64::EPSILON.ln()).contains(&ll));
        let legacy = log_loss_binary_legacy(&t, p).unwrap();
        prop_assert!((0.0..=-(1e-15f64).ln() + 1e-3).contains(&legacy));
        let auc = roc_auc(&t, p).unwrap();
        prop_assert!((0.0..=1.0).contains(&auc));
        let b: Vec<f64> = a.iter().zip(&d).map(|(x, y)| x + y).collect();
        let (m, r) = (mae(&a, &b).unwrap(), rmse(&a, &b).unwrap());
        prop_assert!(m >= 0.0 && r >= m * (1.0 - 1e-12), "rmse {} < mae {}", r, m);
        prop_assert!(r <= 10.0 && m <= 10.0);
    }

    #[test]
    fn no_input_yields_nan_or_panics(
        x in wild_vec(), y in wild_vec(), mx in wild_matrix(), my in wild_matrix(),
        idx in prop::collection::vec(0usize..5, 0..8), k in 0usize..7,
        lo in -3i64..3, hi in -3i64..8,
        sa in prop::collection::vec(prop::collection::vec("[ab]{0,1}", 0..4), 0..4),
        sp in prop::collection::vec(prop::collection::vec("[ab]{0,1}", 0..7), 0..4),
    ) {
        prop_assert!(sane(accuracy(&x, &y)));
        prop_assert!(sane(accuracy_argmax(&mx, &idx)));
        prop_assert!(sane(roc_auc(&x, &y)));
        prop_assert!(sane(mean_columnwise_roc_auc(&mx, &my)));
        prop_assert!(sane(mean_columnwise_roc_auc_jigsaw(&mx, &my)));
        prop_assert!(sane(log_loss_binary(&x, &y)));
        prop_assert!(sane(log_loss_binary_legacy(&x, &y)));
        prop_assert!(sane(log_loss_multiclass(&idx, &mx)));
        prop_assert!(sane(log_loss_multiclass_legacy(&idx, &mx, k)));
        prop_assert!(sane(mae(&x, &y)));
        prop_assert!(sane(rmse(&x, &y)));
        prop_assert!(sane(rmsle(&x, &y)));
        prop_assert!(sane(mean_columnwise_rmsle(&mx, &my)));
        prop_assert!(sane(mcrmse(&mx, &my)));
        prop_assert!(sane(map_at_k(&sa, &sp, k)));
        prop_assert!(sane(qwk(&x, &y)));
        prop_assert!(sane(qwk_fixed_range(&x, &y, lo, hi)));
        prop_assert!(sane(pearson(&x, &y)));
    }

    #[test]
    fn evaluate_json_never_panics(
        m in 0usize..18, x in wild_vec(), mx in wild_matrix(), k in -2i64..7,
    ) {
        let metric = Metric::ALL[m];
        let num = |v: &[f64]| serde_json::Value::from(v.iter().map(|f| serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, serde_json::Value::Number)).collect::<Vec<_>>());
        let mat = serde_json::Value::from(mx.iter().map(|r| num(r)).collect::<Vec<_>>());
        let inputs = serde_json::json!({
            "y_true": num(&x), "y_pred": num(&x), "y_score": mat.clone(), "probs": mat,
            "n_classes": k, "k": k, "min_rating": k, "max_rating": 6,
            "actual": [["a"]], "predicted": [["a", "b"]],
        });
        prop_assert!(sane(metric.evaluate_json(&inputs)));
    }
}

#[test]
fn map_at_k_equals_reciprocal_rank_for_one_label() {
    let actual = vec![vec!["w".to_string()]];
    for pos in 0..5 {
        let mut pred: Vec<String> = (0..5).map(|i| format!("x{i}")).collect();
        pred[pos] = "w".into();
        assert_eq!(map_at_k(&actual, &[pred], 5), Ok(1.0 / (pos as f64 + 1.0)));
    }
}
