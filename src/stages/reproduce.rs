//! The whole pipeline for one reproduction target: `ideas → expert → sft → rl, rl-episode →
//! eval → report`, each stage run or reused through the store. `table1` evaluates all six agents;
//! `figure4` reports the two RL curves; `all` does both.

use super::report::{PaperSources, Target};
use super::{Context, StageError, eval, expert, ideas, report, rl, sft};
use crate::paper::{Agent, RlMethod};
use crate::pipeline::StageRun;

/// The runs of one reproduction.
pub struct Reproduction {
    pub ideas: StageRun,
    pub expert: StageRun,
    /// The language-model stages that exist, by agent.
    pub lm: Vec<(Agent, StageRun)>,
    pub eval: Option<StageRun>,
    /// The report run; its manifest digest is the report digest.
    pub report: StageRun,
}

/// Runs (or reuses) every stage `target` needs and the report.
pub fn run_all<E: super::StageEnvironment>(
    ctx: &Context<'_, E>,
    target: Target,
    sources: &PaperSources,
) -> Result<Reproduction, StageError> {
    let ideas = ideas::run(ctx)?;
    let expert = expert::run(ctx, &ideas)?;
    let sft = sft::run(ctx, &expert)?;
    let step_wise = rl::run(ctx, &expert, &sft)?;
    let episode_wise = rl::run_episode(ctx, &expert, &sft)?;
    let eval = if target.wants_table() {
        let agents = [
            (Agent::Sft, &sft),
            (Agent::MlAgent, &step_wise),
            (Agent::MlAgentEpisode, &episode_wise),
        ];
        Some(eval::run(ctx, &ideas, &agents)?)
    } else {
        None
    };
    let rl: Vec<(RlMethod, &StageRun)> = if target.wants_figure() {
        vec![
            (RlMethod::StepWise, &step_wise),
            (RlMethod::EpisodeWise, &episode_wise),
        ]
    } else {
        Vec::new()
    };
    let report = report::run(ctx, target, sources, eval.as_ref(), &rl)?;
    Ok(Reproduction {
        ideas,
        expert,
        lm: vec![
            (Agent::Sft, sft),
            (Agent::MlAgent, step_wise),
            (Agent::MlAgentEpisode, episode_wise),
        ],
        eval,
        report,
    })
}
