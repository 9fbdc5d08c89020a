//! Result semantics (Avg / Best, lower-is-better) and deterministic rendering.

use crate::support::report as report_support;

use mlagent::paper::{Agent, EvalTask, Level};
use mlagent::provenance::Digest;
use mlagent::report::{ReportInput, evaluate, html, markdown, text_table};
use mlagent::results::{AgentScores, ResultsTable, TaskResults};
use report_support::{paper, root, winning};

fn one_task(task: EvalTask, scores: Vec<f64>, starter: f64) -> TaskResults {
    TaskResults {
        task,
        starter,
        improvement_range: None,
        agents: vec![AgentScores {
            agent: Agent::MlAgent,
            scores,
        }],
        api: Vec::new(),
    }
}

#[test]
fn avg_and_best_follow_the_metric_direction() {
    // Lower is better (house-price MAE): Best is the minimum.
    let t = one_task(EvalTask::HousePrice, vec![30.0, 10.0, 20.0, 40.0], 50.0);
    assert_eq!(t.avg(Agent::MlAgent), Some(25.0));
    assert_eq!(t.best(Agent::MlAgent), Some(10.0));
    assert_eq!(t.cell(Agent::MlAgent, Level::Best), Some(10.0));
    // Gain over the starter is positive for a lower score: (50 − 25) / 50 = 50 %.
    assert_eq!(t.gain(Agent::MlAgent, Level::Avg), Some(50.0));
    assert_eq!(t.gain(Agent::MlAgent, Level::Best), Some(80.0));
    // Higher is better (cifar-10 accuracy): Best is the maximum.
    let t = one_task(EvalTask::Cifar10, vec![30.0, 10.0, 20.0, 40.0], 20.0);
    assert_eq!(t.best(Agent::MlAgent), Some(40.0));
    assert_eq!(t.gain(Agent::MlAgent, Level::Avg), Some(25.0));
    assert_eq!(t.avg(Agent::Expert), None);
}

#[test]
fn results_table_validation_names_the_field() {
    let mut t = ResultsTable {
        trajectories: 4,
        tasks: vec![one_task(EvalTask::Cifar10, vec![1.0, 2.0, 3.0], 1.0)],
        budgets: Vec::new(),
        api_agents: Vec::new(),
    };
    let e = t.validate().unwrap_err();
    assert_eq!(e.field, "tasks[0].agents[0].scores");
    t.tasks[0].agents[0].scores.push(f64::NAN);
    assert!(t.validate().unwrap_err().message.contains("finite"));
    t.tasks[0].agents[0].scores[3] = 4.0;
    t.validate().unwrap();
    t.tasks.push(one_task(EvalTask::Cifar10, vec![1.0; 4], 1.0));
    assert_eq!(t.validate().unwrap_err().field, "tasks[1].task");
}

#[test]
fn results_round_trip_through_ron_and_malformed_names_the_file() {
    let (res, _) = winning();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("results.ron");
    std::fs::write(&p, mlagent::report::golden::to_ron_text(&res).unwrap()).unwrap();
    assert_eq!(ResultsTable::load(&p).unwrap(), res);
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replacen("starter", "startr", 1);
    std::fs::write(&p, text).unwrap();
    let msg = ResultsTable::load(&p).unwrap_err().to_string();
    assert!(
        msg.contains("results.ron:") && msg.contains("startr"),
        "{msg}"
    );
}

fn render_all() -> (String, String, String) {
    let (t1, f4, claims) = paper();
    let (res, curves) = winning();
    let outcomes = evaluate(
        &claims,
        &t1,
        &f4,
        Some(&res),
        Some(&curves),
        &mlagent::seed::SeedPath::root(0),
    );
    let digests = vec![
        ("config".to_string(), Digest::of_bytes(b"config")),
        (
            "table1.ron".to_string(),
            Digest::of_bytes(&std::fs::read(root().join("golden/paper/table1.ron")).unwrap()),
        ),
    ];
    let input = ReportInput {
        title: "mlagent report",
        table: &t1,
        figure: &f4,
        results: Some(&res),
        curves: Some(&curves),
        claims: &outcomes,
        digests: &digests,
    };
    (markdown(&input), html(&input).unwrap(), text_table(&input))
}

#[test]
fn rendering_is_deterministic_and_complete() {
    let a = render_all();
    let b = render_all();
    assert_eq!(a, b);
    let (md, page, text) = a;
    // The paper's numbers appear as printed; this run's agents beside them.
    assert!(md.contains("| cifar-10 | held-in | accuracy_percent (↑) | avg | 52.19 | 59.12 | 53.96 | 61.70 | 66.39 | **68.88** |"), "{md}");
    assert!(md.contains("ml-agent-episode (run)"));
    assert!(md.contains("**reproduced**"));
    assert!(md.contains(&Digest::of_bytes(b"config").to_hex()));
    for id in [
        "best-in-all-avg-cells",
        "best-in-all-cells",
        "beats-larger-baselines",
        "improves-with-rl-steps",
        "step-wise-beats-episode-wise",
        "generalises-held-out",
    ] {
        assert!(md.contains(&format!("### {id}")), "{id}");
        assert!(page.contains(&format!("<h3>{id}</h3>")), "{id}");
        assert!(text.contains(id), "{id}");
    }
    // Standalone page: inline SVG plots (paper Figure 4 ×2, this run ×2 splits × 2 compute
    // axes, gains per task).
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert_eq!(page.matches("<svg").count(), 7);
    assert!(!page.contains("<script"));
    assert!(text.contains("68.88*"));
}

#[test]
fn paper_only_report_renders() {
    let (t1, f4, claims) = paper();
    let outcomes = evaluate(
        &claims,
        &t1,
        &f4,
        None,
        None,
        &mlagent::seed::SeedPath::root(0),
    );
    let input = ReportInput {
        title: "paper only",
        table: &t1,
        figure: &f4,
        results: None,
        curves: None,
        claims: &outcomes,
        digests: &[],
    };
    let md = markdown(&input);
    assert!(md.contains("not evaluated (no results)"));
    assert_eq!(html(&input).unwrap().matches("<svg").count(), 2);
    assert!(text_table(&input).contains("holds"));
}
