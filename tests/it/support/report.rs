//! Synthetic reproductions for the report tests: scores drawn around a per-agent quality, with
//! noise from a named seed stream, so each scenario is deterministic.

#![allow(dead_code)]

use std::path::PathBuf;

use mlagent::paper::{Agent, EvalTask, RlMethod};
use mlagent::report::{ClaimSet, PaperFigure4, PaperTable1};
use mlagent::results::{
    AgentScores, Curve, CurvePoint, Figure4Run, ResultsTable, TaskGain, TaskResults,
};
use mlagent::seed::SeedPath;
use rand::Rng as _;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn paper() -> (PaperTable1, PaperFigure4, ClaimSet) {
    (
        PaperTable1::load(&root().join("golden/paper/table1.ron")).unwrap(),
        PaperFigure4::load(&root().join("golden/paper/figure4.ron")).unwrap(),
        ClaimSet::load(&root().join("paper/claims.ron")).unwrap(),
    )
}

/// A table where each agent's trajectory gains (%) are `quality ± noise` over the starter.
pub fn table(quality: &[(Agent, f64)], noise: f64, trajectories: usize, seed: u64) -> ResultsTable {
    let s = SeedPath::root(seed).child("synthetic-results");
    let tasks = EvalTask::ALL
        .iter()
        .map(|t| {
            let starter = 1.0 + (*t as usize) as f64 * 0.5;
            let d = t.direction();
            let agents = quality
                .iter()
                .map(|(a, q)| {
                    let mut rng = s.child(t.id()).child(a.id()).rng();
                    let scores = (0..trajectories)
                        .map(|_| {
                            let g = q + noise * (2.0 * rng.random::<f64>() - 1.0);
                            starter * (1.0 + d.sign() * g / 100.0)
                        })
                        .collect();
                    AgentScores { agent: *a, scores }
                })
                .collect();
            TaskResults {
                task: *t,
                starter,
                // Half the starter: a gain of q % is a normalised improvement of q / 50.
                improvement_range: Some(starter * 0.5),
                agents,
                api: Vec::new(),
            }
        })
        .collect();
    let t = ResultsTable {
        trajectories,
        tasks,
        budgets: Vec::new(),
        api_agents: Vec::new(),
    };
    t.validate().unwrap();
    t
}

/// A curve with `n` checkpoints `cost` work units apart and gain `g0 + slope·step ± noise`.
pub fn curve(
    method: RlMethod,
    n: u32,
    cost: u64,
    g0: f64,
    slope: f64,
    noise: f64,
    seed: u64,
) -> Curve {
    let mut rng = SeedPath::root(seed)
        .child("synthetic-curve")
        .child(format!("{method:?}"))
        .rng();
    Curve {
        method,
        points: (0..n)
            .map(|k| CurvePoint {
                rl_step: k,
                work_units: k as u64 * cost,
                policy_tokens: k as u64 * cost,
                wall_seconds: None,
                task_gains: EvalTask::ALL
                    .iter()
                    .map(|t| TaskGain {
                        task: *t,
                        gain_percent: g0
                            + slope * k as f64
                            + noise * (2.0 * rng.random::<f64>() - 1.0),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// ML-Agent clearly ahead of every other agent, step-wise RL rising faster per work unit.
pub fn winning() -> (ResultsTable, Figure4Run) {
    let t = table(
        &[
            (Agent::Random, 0.0),
            (Agent::NonEnrichedExpert, 6.0),
            (Agent::Expert, 9.0),
            (Agent::Sft, 7.0),
            (Agent::MlAgent, 20.0),
            (Agent::MlAgentEpisode, 11.0),
        ],
        2.0,
        8,
        1,
    );
    let f = Figure4Run {
        curves: vec![
            curve(RlMethod::StepWise, 11, 100, 7.0, 1.3, 0.3, 2),
            curve(RlMethod::EpisodeWise, 3, 500, 7.0, 2.0, 0.3, 3),
        ],
    };
    f.validate().unwrap();
    (t, f)
}

/// ML-Agent behind the expert and SFT; step-wise RL degrades while episode-wise improves.
pub fn losing() -> (ResultsTable, Figure4Run) {
    let t = table(
        &[
            (Agent::Random, 0.0),
            (Agent::NonEnrichedExpert, 6.0),
            (Agent::Expert, 15.0),
            (Agent::Sft, 8.0),
            (Agent::MlAgent, 2.0),
            (Agent::MlAgentEpisode, 9.0),
        ],
        2.0,
        8,
        4,
    );
    let f = Figure4Run {
        curves: vec![
            curve(RlMethod::StepWise, 11, 100, 8.0, -0.5, 0.2, 5),
            curve(RlMethod::EpisodeWise, 3, 500, 8.0, 3.0, 0.2, 6),
        ],
    };
    f.validate().unwrap();
    (t, f)
}
