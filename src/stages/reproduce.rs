//! The whole pipeline for one reproduction target: `ideas → expert → [sft → rl, rl-episode] →
//! eval → report`, each stage run or reused through the store. The language-model stages are
//! separate steps below; until a stage exists its agent or curve is absent and the report says
//! "not built" (never a stand-in number).

use super::report::{PaperSources, Target};
use super::{Context, StageError, eval, expert, ideas, report, rl, sft};
use crate::pipeline::StageRun;
use crate::report::{Agent, RlMethod};

/// The runs of one reproduction.
pub struct Reproduction {
    pub ideas: StageRun,
    pub expert: StageRun,
    /// The language-model stages that exist, by agent.
    pub lm: Vec<(Agent, StageRun)>,
    pub eval: Option<StageRun>,
    /// The report run; its manifest digest is the report digest.
    pub report: StageRun,
    /// What could not be built, as the report shows it.
    pub notes: Vec<String>,
}

/// Runs (or reuses) every stage `target` needs and the report.
pub fn run_all(
    ctx: &Context<'_>,
    target: Target,
    sources: &PaperSources,
) -> Result<Reproduction, StageError> {
    let ideas = ideas::run(ctx)?;
    let expert = expert::run(ctx, &ideas)?;
    let mut notes = Vec::new();

    // ---- language-model stages: each adds (agent, run) to `lm` and, for RL, its curve.
    let mut lm: Vec<(Agent, StageRun)> = Vec::new();
    let mut curves: Vec<(RlMethod, Agent)> = Vec::new();
    let sft = sft::run(ctx, &expert)?;
    let step_wise = rl::run(ctx, &expert, &sft)?;
    let episode_wise = rl::run_episode(ctx, &expert, &sft)?;
    lm.push((Agent::Sft, sft));
    lm.push((Agent::MlAgent, step_wise));
    curves.push((RlMethod::StepWise, Agent::MlAgent));
    lm.push((Agent::MlAgentEpisode, episode_wise));
    curves.push((RlMethod::EpisodeWise, Agent::MlAgentEpisode));
    for (agent, stage) in [
        (Agent::Sft, "sft"),
        (Agent::MlAgent, "rl"),
        (Agent::MlAgentEpisode, "rl-episode"),
    ] {
        if !lm.iter().any(|(a, _)| *a == agent) {
            notes.push(format!(
                "agent {agent}: stage `{stage}` is not built in this version of the code, so it was not evaluated"
            ));
        }
    }
    if target.wants_figure() {
        for (method, stage) in [
            (RlMethod::StepWise, "rl"),
            (RlMethod::EpisodeWise, "rl-episode"),
        ] {
            if !curves.iter().any(|(m, _)| *m == method) {
                notes.push(format!(
                    "Figure 4 {} curve: stage `{stage}` is not built in this version of the code",
                    method.label()
                ));
            }
        }
    }

    let eval = if target.wants_table() {
        let agents: Vec<(Agent, &StageRun)> = lm.iter().map(|(a, r)| (*a, r)).collect();
        Some(eval::run(ctx, &ideas, &agents)?)
    } else {
        None
    };
    let rl: Vec<(RlMethod, &StageRun)> = if target.wants_figure() {
        curves
            .iter()
            .map(|(m, a)| {
                let run = &lm
                    .iter()
                    .find(|(b, _)| b == a)
                    .expect("every curve's agent was pushed to `lm` with it")
                    .1;
                (*m, run)
            })
            .collect()
    } else {
        Vec::new()
    };
    let report = report::run(ctx, target, sources, eval.as_ref(), &rl, &notes)?;
    Ok(Reproduction {
        ideas,
        expert,
        lm,
        eval,
        report,
        notes,
    })
}
