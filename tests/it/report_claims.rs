//! The paper's claims hold on the paper's own numbers, and the evaluator gives the expected
//! verdicts on synthetic reproductions.

use crate::support::report as report_support;

use mlagent::paper::{Agent, Level, PaperModel};
use mlagent::report::Verdict;
use mlagent::report::claims::{Check, check_paper, evaluate};
use report_support::{losing, paper, table, winning};

#[test]
fn every_paper_claim_holds_on_the_paper() {
    let (t1, f4, claims) = paper();
    assert_eq!(claims.claims.len(), 6);
    for o in evaluate(
        &claims,
        &t1,
        &f4,
        None,
        None,
        &mlagent::seed::SeedPath::root(0),
    ) {
        assert!(
            o.paper.holds,
            "{} does not hold on the paper: {}",
            o.id, o.paper.detail
        );
        assert!(o.reproduction.is_none());
    }
}

#[test]
fn ml_agent_best_in_all_26_cells_of_the_paper() {
    let (t1, f4, claims) = paper();
    let c = claims
        .claims
        .iter()
        .find(|c| c.id == "best-in-all-cells")
        .unwrap();
    let o = check_paper(&c.check, &t1, &f4);
    assert!(o.holds);
    assert!(o.detail.contains("26/26"), "{}", o.detail);
}

#[test]
fn paper_check_fails_when_a_cell_is_changed() {
    // The predicate can fail: make DeepSeek-R1 beat ML-Agent on one lower-is-better Best cell.
    let (mut t1, f4, claims) = paper();
    let row = t1
        .rows
        .iter_mut()
        .find(|r| r.task.id() == "feedback" && r.level == Level::Best)
        .unwrap();
    row.scores.deepseek_r1 = row.scores.ml_agent - 0.0001;
    let by_id = |id: &str| &claims.claims.iter().find(|c| c.id == id).unwrap().check;
    let o = check_paper(by_id("best-in-all-cells"), &t1, &f4);
    assert!(!o.holds);
    assert!(
        o.detail.contains("feedback best vs deepseek-r1"),
        "{}",
        o.detail
    );
    // The Avg-only claim does not look at Best cells.
    assert!(check_paper(by_id("best-in-all-avg-cells"), &t1, &f4).holds);
    // A tie is not "best".
    let row = t1
        .rows
        .iter_mut()
        .find(|r| r.task.id() == "cifar-10" && r.level == Level::Avg)
        .unwrap();
    row.scores.gpt_4o = row.scores.get(PaperModel::MlAgent);
    assert!(!check_paper(by_id("best-in-all-avg-cells"), &t1, &f4).holds);
}

#[test]
fn paper_trend_and_efficiency_checks_can_fail() {
    let (t1, mut f4, claims) = paper();
    let by_id = |id: &str| {
        claims
            .claims
            .iter()
            .find(|c| c.id == id)
            .unwrap()
            .check
            .clone()
    };
    // Reverse the held-out step-wise curve: no longer improving, no longer generalising.
    let s = f4
        .series
        .iter_mut()
        .find(|s| {
            s.panel == mlagent::paper::Split::HeldOut
                && s.method == mlagent::paper::RlMethod::StepWise
        })
        .unwrap();
    let ys: Vec<f64> = s.points.iter().rev().map(|p| p.gain_percent).collect();
    for (p, y) in s.points.iter_mut().zip(ys) {
        p.gain_percent = y;
    }
    assert!(!check_paper(&by_id("improves-with-rl-steps"), &t1, &f4).holds);
    assert!(!check_paper(&by_id("generalises-held-out"), &t1, &f4).holds);
    assert!(!check_paper(&by_id("step-wise-beats-episode-wise"), &t1, &f4).holds);
}

#[test]
fn clear_win_is_reproduced() {
    let (t1, f4, claims) = paper();
    let (res, curves) = winning();
    for o in evaluate(
        &claims,
        &t1,
        &f4,
        Some(&res),
        Some(&curves),
        &mlagent::seed::SeedPath::root(0),
    ) {
        let r = o.reproduction.unwrap();
        assert_eq!(r.verdict, Verdict::Reproduced, "{}: {}", o.id, r.detail);
        assert!(!r.stats.is_empty());
    }
}

#[test]
fn clear_loss_is_not_reproduced() {
    let (t1, f4, claims) = paper();
    let (res, curves) = losing();
    for o in evaluate(
        &claims,
        &t1,
        &f4,
        Some(&res),
        Some(&curves),
        &mlagent::seed::SeedPath::root(0),
    ) {
        let r = o.reproduction.unwrap();
        assert_eq!(r.verdict, Verdict::NotReproduced, "{}: {}", o.id, r.detail);
    }
}

#[test]
fn too_little_evidence_is_inconclusive() {
    let (t1, f4, claims) = paper();
    // Two trajectories, ML-Agent ahead by less than the noise: right direction, no significance.
    let small = table(
        &[
            (Agent::Random, 0.0),
            (Agent::NonEnrichedExpert, 5.0),
            (Agent::Expert, 5.0),
            (Agent::Sft, 5.0),
            (Agent::MlAgent, 5.5),
        ],
        0.0,
        1,
        9,
    );
    let mut small = small;
    small.tasks.truncate(2); // cifar-10, house-price only
    small.validate().unwrap();
    let outcomes = evaluate(
        &claims,
        &t1,
        &f4,
        Some(&small),
        None,
        &mlagent::seed::SeedPath::root(0),
    );
    let verdict = |id: &str| {
        outcomes
            .iter()
            .find(|o| o.id == id)
            .unwrap()
            .reproduction
            .as_ref()
            .unwrap()
            .verdict
    };
    assert_eq!(verdict("best-in-all-avg-cells"), Verdict::Inconclusive);
    assert_eq!(verdict("beats-larger-baselines"), Verdict::Inconclusive);
    // No curves at all: the curve claims cannot be decided.
    assert_eq!(verdict("improves-with-rl-steps"), Verdict::Inconclusive);
    assert_eq!(
        verdict("step-wise-beats-episode-wise"),
        Verdict::Inconclusive
    );
    // No held-out task was evaluated.
    assert_eq!(verdict("generalises-held-out"), Verdict::Inconclusive);
}

#[test]
fn a_significant_cell_reversal_is_a_counterexample() {
    let (_, _, claims) = paper();
    let (mut res, curves) = winning();
    // On one task the expert beats ML-Agent in all 8 trajectories (p = 1/256).
    let t = &mut res.tasks[0];
    let d = t.task.direction();
    let starter = t.starter;
    for a in &mut t.agents {
        if a.agent == Agent::Expert {
            for s in &mut a.scores {
                *s = starter * (1.0 + d.sign() * 0.5);
            }
        }
    }
    let c = claims
        .claims
        .iter()
        .find(|c| c.id == "best-in-all-avg-cells")
        .unwrap();
    assert!(matches!(c.check, Check::BestInAllCells { .. }));
    let r = mlagent::report::claims::check_reproduction(
        &c.check,
        &res,
        Some(&curves),
        &mlagent::seed::SeedPath::root(0),
    );
    assert_eq!(r.verdict, Verdict::NotReproduced, "{}", r.detail);
    assert!(r.detail.contains("significant reversals"), "{}", r.detail);
}

#[test]
fn malformed_claims_name_the_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(report_support::root().join("paper/claims.ron")).unwrap();
    let p = dir.path().join("claims.ron");
    std::fs::write(&p, text.replacen("cell_alpha:", "cell_alfa:", 1)).unwrap();
    let msg = mlagent::report::ClaimSet::load(&p).unwrap_err().to_string();
    assert!(
        msg.contains("claims.ron:") && msg.contains("cell_alfa"),
        "{msg}"
    );
    std::fs::write(&p, text.replacen("alpha: 0.05", "alpha: 1.5", 1)).unwrap();
    let msg = mlagent::report::ClaimSet::load(&p).unwrap_err().to_string();
    assert!(msg.contains("claims[0].check.alpha"), "{msg}");
    std::fs::write(&p, text.replacen("\"expert\"", "\"teacher\"", 1)).unwrap();
    let msg = mlagent::report::ClaimSet::load(&p).unwrap_err().to_string();
    assert!(
        msg.contains("claims.ron:") && msg.contains("teacher"),
        "{msg}"
    );
}

#[test]
fn without_table1_only_the_curve_claims_are_evaluated() {
    let (table1, figure, claims) = paper();
    let (_, curves) = winning();
    let seed = mlagent::seed::SeedPath::root(7);
    let out = evaluate(&claims, &table1, &figure, None, Some(&curves), &seed);
    for c in &out {
        let curve_claim = matches!(
            claims.claims.iter().find(|k| k.id == c.id).unwrap().check,
            Check::ImprovesWithRlSteps { .. } | Check::StepWiseBeatsEpisodeWise { .. }
        );
        assert_eq!(c.reproduction.is_some(), curve_claim, "claim {}", c.id);
        if let Some(r) = &c.reproduction {
            assert_eq!(
                r.verdict,
                Verdict::Reproduced,
                "claim {}: {}",
                c.id,
                r.detail
            );
        }
    }
    assert!(
        evaluate(&claims, &table1, &figure, None, None, &seed)
            .iter()
            .all(|c| c.reproduction.is_none())
    );
}
