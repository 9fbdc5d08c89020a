//! The numbers a reproduction produces, in the shape of Table 1 and Figure 4. The evaluation
//! pipeline fills these; the claims and the renderers read them.
//!
//! A trajectory's score is the *test* metric of the script with the best *validation* metric the
//! trajectory reached (the starter script when no edit succeeded). Per task and agent, Avg is the
//! mean of the trajectory scores and Best is the best of them (max for higher-is-better, min for
//! lower-is-better), exactly as Table 1.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config_file::{ConfigError, load_ron};
use crate::paper::{Agent, Direction, EvalTask, Level, RlMethod, Split};

/// Relative gain (%) of `score` over `starter`, sign-corrected so that an improvement is
/// positive whatever the metric's direction: `sign · (score − starter) / |starter| · 100`.
/// `None` when the starter is zero or a value is not finite (the gain is undefined).
pub fn relative_gain(direction: Direction, starter: f64, score: f64) -> Option<f64> {
    if !starter.is_finite() || !score.is_finite() || starter == 0.0 {
        return None;
    }
    Some(direction.sign() * (score - starter) / starter.abs() * 100.0)
}

/// Arithmetic mean; `None` when empty.
pub fn mean(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        None
    } else {
        Some(xs.iter().sum::<f64>() / xs.len() as f64)
    }
}

/// The trajectory scores of one agent on one task, in trajectory order (trajectory `i` of every
/// agent shares its seed path, so index `i` pairs trajectories across agents).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentScores {
    pub agent: Agent,
    pub scores: Vec<f64>,
}

/// One task's results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskResults {
    pub task: EvalTask,
    /// Test metric of the task's starter script.
    pub starter: f64,
    /// |m_best − m_init|: the task's known achievable improvement, the range that sets its
    /// reward scale α = 100 / |m_best − m_init| (`tasks/*.ron`, `reward_scale`); `None` for
    /// tables written without it (the paper's).
    #[serde(default)]
    pub improvement_range: Option<f64>,
    pub agents: Vec<AgentScores>,
    /// Agents over an OpenAI-compatible API (`eval.api_agents`), in the config's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api: Vec<ApiScores>,
}

/// The trajectory scores of one API agent on one task (paired by index like [`AgentScores`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiScores {
    pub name: String,
    pub scores: Vec<f64>,
}

/// An API agent of the table: its id, the model behind it, and the paper column it stands for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiAgentInfo {
    pub name: String,
    pub model: String,
    #[serde(default)]
    pub column: Option<crate::paper::PaperModel>,
}

impl TaskResults {
    pub fn direction(&self) -> Direction {
        self.task.direction()
    }

    /// The scores of API agent `name`.
    pub(crate) fn api_scores(&self, name: &str) -> Option<&[f64]> {
        self.api
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.scores.as_slice())
    }

    /// The normalised improvements of API agent `name` ([`normalised_improvement`]).
    pub(crate) fn api_normalised(&self, name: &str) -> Option<Vec<f64>> {
        let range = self.improvement_range?;
        self.api_scores(name)?
            .iter()
            .map(|s| normalised_improvement(self.direction(), self.starter, range, *s))
            .collect()
    }

    pub fn scores(&self, agent: Agent) -> Option<&[f64]> {
        self.agents
            .iter()
            .find(|a| a.agent == agent)
            .map(|a| a.scores.as_slice())
    }

    /// Mean of the trajectory scores.
    pub fn avg(&self, agent: Agent) -> Option<f64> {
        mean(self.scores(agent)?)
    }

    /// Best trajectory score in the task's direction.
    pub fn best(&self, agent: Agent) -> Option<f64> {
        self.direction().best(self.scores(agent)?)
    }

    pub fn cell(&self, agent: Agent, level: Level) -> Option<f64> {
        match level {
            Level::Avg => self.avg(agent),
            Level::Best => self.best(agent),
        }
    }

    /// Relative gain (%) of the agent's cell over the starter.
    pub fn gain(&self, agent: Agent, level: Level) -> Option<f64> {
        relative_gain(self.direction(), self.starter, self.cell(agent, level)?)
    }

    /// The agent's trajectory scores as normalised improvements ([`normalised_improvement`]).
    pub fn normalised(&self, agent: Agent) -> Option<Vec<f64>> {
        let range = self.improvement_range?;
        self.scores(agent)?
            .iter()
            .map(|s| normalised_improvement(self.direction(), self.starter, range, *s))
            .collect()
    }
}

/// The clip range of [`normalised_improvement`].
pub(crate) const NORMALISED_CLIP: (f64, f64) = (-1.0, 1.0);

/// The primary per-trajectory score: g = dir · (score − starter) / |m_best − m_init|, the share
/// of the task's known achievable improvement the trajectory realised, clipped to [−1, 1]
/// (a script that loses more than the whole range counts as −1, one past the best known as 1),
/// so one broken or lucky task cannot carry an average. Unlike the relative gain it stays
/// finite when the starter's score is near 0. `None` for a range that is not finite and > 0.
pub fn normalised_improvement(
    direction: Direction,
    starter: f64,
    range: f64,
    score: f64,
) -> Option<f64> {
    if !(range.is_finite() && range > 0.0 && starter.is_finite() && score.is_finite()) {
        return None;
    }
    let g = direction.sign() * (score - starter) / range;
    // + 0.0 turns −0 (no change on a lower-is-better task) into 0.
    Some(g.clamp(NORMALISED_CLIP.0, NORMALISED_CLIP.1) + 0.0)
}

/// Table 1 as reproduced: agents × tasks × trajectories.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultsTable {
    /// Trajectories per (agent, task); 8 in the paper and the `mini` profile.
    pub trajectories: usize,
    /// In [`EvalTask::ALL`] order; a profile may evaluate a subset.
    pub tasks: Vec<TaskResults>,
    /// The agents over an OpenAI-compatible API, in the config's order (absent without any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_agents: Vec<ApiAgentInfo>,
    /// How each agent spent its step budget over all its trajectories (absent in the paper's
    /// table and in tables written before it was recorded).
    #[serde(default)]
    pub budgets: Vec<AgentBudget>,
}

/// How an agent spent its trajectories' step budgets: what separates random search (an edit at
/// nearly every step, to the end of the budget) from an agent that inspects and stops.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentBudget {
    pub agent: Agent,
    pub trajectories: usize,
    /// Mean steps taken, and the mean step budget they were allowed.
    pub mean_steps: f64,
    pub mean_budget: f64,
    /// Share of all steps that were Edit Script actions (whatever their outcome).
    pub edit_share: f64,
    /// Share of trajectories that ended with a Final Answer (the rest ran out of steps).
    pub final_answer_share: f64,
    /// Mean 1-based step of the Final Answer, over the trajectories that gave one.
    pub mean_final_answer_step: Option<f64>,
}

/// A [`ResultsTable`] or [`Figure4Run`] that breaks an invariant.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("results: field `{field}`: {message}")]
pub struct ResultsError {
    pub field: String,
    pub message: String,
}

fn rerr(field: String, message: impl Into<String>) -> ResultsError {
    ResultsError {
        field,
        message: message.into(),
    }
}

impl ResultsTable {
    /// Tasks in canonical order, each at most once; each agent at most once per task with exactly
    /// `trajectories` finite scores; finite starters.
    pub fn validate(&self) -> Result<(), ResultsError> {
        if self.trajectories == 0 {
            return Err(rerr("trajectories".into(), "expected at least 1"));
        }
        for (i, w) in self.tasks.windows(2).enumerate() {
            if w[1].task <= w[0].task {
                return Err(rerr(
                    format!("tasks[{}].task", i + 1),
                    "expected tasks in canonical order, each once",
                ));
            }
        }
        for (i, t) in self.tasks.iter().enumerate() {
            if !t.starter.is_finite() {
                return Err(rerr(
                    format!("tasks[{i}].starter"),
                    "expected a finite number",
                ));
            }
            if t.improvement_range
                .is_some_and(|r| !(r.is_finite() && r > 0.0))
            {
                return Err(rerr(
                    format!("tasks[{i}].improvement_range"),
                    "expected a finite number > 0",
                ));
            }
            for (j, a) in t.agents.iter().enumerate() {
                let f = format!("tasks[{i}].agents[{j}]");
                if t.agents[..j].iter().any(|b| b.agent == a.agent) {
                    return Err(rerr(f, format!("agent {} listed twice", a.agent)));
                }
                if a.scores.len() != self.trajectories {
                    return Err(rerr(
                        format!("{f}.scores"),
                        format!(
                            "expected {} scores, found {}",
                            self.trajectories,
                            a.scores.len()
                        ),
                    ));
                }
                if a.scores.iter().any(|s| !s.is_finite()) {
                    return Err(rerr(format!("{f}.scores"), "expected finite numbers"));
                }
            }
            for (j, a) in t.api.iter().enumerate() {
                let f = format!("tasks[{i}].api[{j}]");
                if !self.api_agents.iter().any(|x| x.name == a.name)
                    || t.api[..j].iter().any(|b| b.name == a.name)
                {
                    return Err(rerr(
                        f,
                        format!("API agent {} is not in api_agents, or listed twice", a.name),
                    ));
                }
                if a.scores.len() != self.trajectories || a.scores.iter().any(|s| !s.is_finite()) {
                    return Err(rerr(
                        format!("{f}.scores"),
                        format!("expected {} finite scores", self.trajectories),
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let t: ResultsTable = load_ron(path)?;
        t.validate().map_err(|e| ConfigError::Invalid {
            path: path.to_path_buf(),
            field: e.field,
            message: e.message,
        })?;
        Ok(t)
    }

    pub fn task(&self, task: EvalTask) -> Option<&TaskResults> {
        self.tasks.iter().find(|t| t.task == task)
    }

    /// Agents present anywhere in the table, in canonical order.
    pub fn agents(&self) -> Vec<Agent> {
        Agent::ALL
            .iter()
            .copied()
            .filter(|a| self.tasks.iter().any(|t| t.scores(*a).is_some()))
            .collect()
    }

    /// Mean over the split's tasks of the agent's relative gain (%) at `level`; `None` when no
    /// task of the split has a defined gain for the agent.
    pub fn avg_gain(&self, agent: Agent, split: Split, level: Level) -> Option<f64> {
        let g: Vec<f64> = self
            .tasks
            .iter()
            .filter(|t| t.task.split() == split)
            .filter_map(|t| t.gain(agent, level))
            .collect();
        mean(&g)
    }
}

/// One task's relative gain at a curve point.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskGain {
    pub task: EvalTask,
    /// Relative gain (%) of the checkpoint's Avg score over the starter ([`relative_gain`]).
    pub gain_percent: f64,
}

/// One evaluated checkpoint on an RL curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurvePoint {
    /// RL update steps taken (0 = the SFT checkpoint).
    pub rl_step: u32,
    /// Environment work units spent by RL up to this checkpoint (deterministic compute: the
    /// paper's x axis is GPU hours; this is its counted analogue).
    pub work_units: u64,
    /// Policy tokens RL processed up to this checkpoint, in forward-equivalents (the GPU hours
    /// of the paper's x axis are mostly the policy's): acting, then the update's two scoring
    /// passes and, per epoch, a training pass counted as three (`train::rl::driver`).
    #[serde(default)]
    pub policy_tokens: u64,
    /// Measured wall seconds of RL up to this checkpoint. Machine-dependent: recorded, never
    /// rendered into the report body and never used by a verdict.
    pub wall_seconds: Option<f64>,
    pub task_gains: Vec<TaskGain>,
}

impl CurvePoint {
    /// Average relative gain (%) over the split's tasks present at this point.
    pub fn avg_gain(&self, split: Split) -> Option<f64> {
        let g: Vec<f64> = self
            .task_gains
            .iter()
            .filter(|g| g.task.split() == split)
            .map(|g| g.gain_percent)
            .collect();
        mean(&g)
    }

    pub fn gain(&self, task: EvalTask) -> Option<f64> {
        self.task_gains
            .iter()
            .find(|g| g.task == task)
            .map(|g| g.gain_percent)
    }
}

/// One RL method's learning curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Curve {
    pub method: RlMethod,
    /// In increasing `rl_step` and `work_units` order.
    pub points: Vec<CurvePoint>,
}

/// The Figure 4 analogue of a reproduction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Figure4Run {
    pub curves: Vec<Curve>,
}

impl Figure4Run {
    pub fn curve(&self, method: RlMethod) -> Option<&Curve> {
        self.curves.iter().find(|c| c.method == method)
    }

    /// One curve per method; points ordered by step and compute; finite gains.
    pub fn validate(&self) -> Result<(), ResultsError> {
        for (i, c) in self.curves.iter().enumerate() {
            if self.curves[..i].iter().any(|d| d.method == c.method) {
                return Err(rerr(format!("curves[{i}].method"), "method listed twice"));
            }
            for (j, w) in c.points.windows(2).enumerate() {
                if w[1].rl_step <= w[0].rl_step
                    || w[1].work_units < w[0].work_units
                    || w[1].policy_tokens < w[0].policy_tokens
                {
                    return Err(rerr(
                        format!("curves[{i}].points[{}]", j + 1),
                        "expected increasing rl_step and non-decreasing work_units and policy_tokens",
                    ));
                }
            }
            for (j, p) in c.points.iter().enumerate() {
                if p.task_gains.iter().any(|g| !g.gain_percent.is_finite()) {
                    return Err(rerr(
                        format!("curves[{i}].points[{j}].task_gains"),
                        "expected finite gains",
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_gain_is_sign_corrected() {
        assert_eq!(
            relative_gain(Direction::HigherIsBetter, 50.0, 55.0),
            Some(10.0)
        );
        assert_eq!(
            relative_gain(Direction::LowerIsBetter, 0.5, 0.4).map(|g| (g * 1e9).round()),
            Some(20.0e9)
        );
        assert_eq!(
            relative_gain(Direction::LowerIsBetter, 0.5, 0.6).map(|g| (g * 1e9).round()),
            Some(-20.0e9)
        );
        // A negative starter (e.g. a Pearson correlation): improvement is still positive.
        assert_eq!(
            relative_gain(Direction::HigherIsBetter, -0.5, -0.25),
            Some(50.0)
        );
        assert_eq!(relative_gain(Direction::HigherIsBetter, 0.0, 1.0), None);
    }
}
