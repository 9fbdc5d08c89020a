//! The expert: an ML engineer written as code, the stand-in for the paper's GPT-4o-mini
//! teacher. It is decent but not optimal, and diverse through seeded noise:
//!
//! - at its first step it holds 1–3 ideas drawn from the task's diverse ten (the *enriched*
//!   expert of paper §3.1) and tries them first;
//! - it keeps an edit that improves the validation metric and reverts one that does not, or one
//!   that fails to run;
//! - between ideas it hill-climbs: it nudges a knob one notch (with a seeded choice of knob and
//!   direction), sometimes inspects the script or the data first;
//! - it stops with Final Answer after a run of fruitless steps, or at its step limit.
//!
//! The *non-enriched* expert has no ideas and a narrow greedy habit: it always tunes the same few
//! knobs in a fixed order, one notch upwards. It is the ablation of paper Table 2.

use std::collections::BTreeMap;

use rand::Rng as _;
use serde::{Deserialize, Serialize};

use super::ideas::{Idea, Knob};
use super::policy::{DATA_INPUT, Policy, PolicyError, PolicyInput, PolicyOutput, SCRIPT_INPUT};
use crate::env::{Action, ActionKind, Feedback};
use crate::metrics::Direction;
use crate::seed::{Rng, SeedPath};

/// `expert` section of an experiment: the teacher and how many episodes it plays.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpertStageConfig {
    pub expert: ExpertConfig,
    /// Episodes per held-in task.
    pub episodes_per_task: usize,
    /// The enriched expert starts with between `.0` and `.1` ideas (inclusive; the paper: 1–3).
    pub ideas_per_episode: (usize, usize),
    /// A teacher over an OpenAI-compatible API instead of the scripted expert (the paper's
    /// GPT-4o-mini): it plays the same seats, its episode's ideas added to its system prompt,
    /// its answers recorded in the run (`agent::api`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<crate::agent::api::ApiAgentConfig>,
}

/// What the expert learns from one step's feedback.
#[derive(Clone, Debug, PartialEq)]
pub enum Observation {
    /// The edited script ran; its validation metric.
    Success { metric: f64 },
    /// The edit failed to run, or was over budget: revert it.
    Failed,
    /// The action was not understood: nothing changed.
    Invalid,
    /// Information only: nothing changed.
    Info,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpertKind {
    /// Seeded with diverse ideas, explores broadly.
    Enriched,
    /// No ideas; a fixed, narrow habit.
    NonEnriched,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpertConfig {
    pub kind: ExpertKind,
    /// Step limit of an episode (the paper: 15).
    pub max_steps: usize,
    /// Fruitless steps in a row after which the expert considers stopping.
    pub patience: usize,
    /// Probability of an information action when no idea is pending.
    pub inspect_probability: f64,
}

/// One expert episode's decision state.
#[derive(Clone, Debug)]
pub struct Expert {
    cfg: ExpertConfig,
    direction: Direction,
    knobs: Vec<Knob>,
    /// The values the expert believes the script holds now.
    current: BTreeMap<String, String>,
    /// Values of the last kept (best) script.
    kept: BTreeMap<String, String>,
    best: Option<f64>,
    ideas: Vec<Idea>,
    pending: Option<Vec<(String, String)>>,
    /// The knob and direction of the pending tweak, if the pending edit is one.
    pending_tweak: Option<(String, bool)>,
    /// Where to tweak next: the same way after a gain, the other way after a loss (once).
    momentum: Option<(String, bool)>,
    fruitless: usize,
    steps: usize,
    rng: Rng,
    done: bool,
}

impl Expert {
    /// A new episode. `ideas` are the 1–3 seeded ideas (ignored by the non-enriched expert);
    /// `starter_metric` is the starter script's validation metric when the environment reports it.
    pub fn new(
        cfg: ExpertConfig,
        direction: Direction,
        knobs: Vec<Knob>,
        ideas: Vec<Idea>,
        starter_metric: Option<f64>,
        seed: &SeedPath,
    ) -> Self {
        let current: BTreeMap<String, String> = knobs
            .iter()
            .map(|k| (k.key.clone(), k.current.clone()))
            .collect();
        let ideas = match cfg.kind {
            ExpertKind::Enriched => ideas,
            ExpertKind::NonEnriched => Vec::new(),
        };
        Self {
            kept: current.clone(),
            current,
            cfg,
            direction,
            knobs,
            best: starter_metric,
            ideas,
            pending: None,
            pending_tweak: None,
            momentum: None,
            fruitless: 0,
            steps: 0,
            rng: seed.rng(),
            done: false,
        }
    }

    /// Replaces the knobs with those of the script as it is now, so that hill-climbing moves a
    /// notch from the current value rather than only within reach of the starter's.
    pub(crate) fn update_knobs(&mut self, knobs: &[Knob]) {
        if !knobs.is_empty() {
            self.knobs = knobs.to_vec();
        }
    }

    #[cfg(test)]
    fn is_done(&self) -> bool {
        self.done
    }

    /// The next action text.
    pub fn act(&mut self) -> String {
        self.steps += 1;
        let last_step = self.steps >= self.cfg.max_steps;
        let give_up = self.fruitless >= self.cfg.patience && self.rng.random::<f64>() < 0.5;
        if last_step || give_up || self.done {
            self.done = true;
            return Action::other(
                &format!(
                    "no further gains expected; the best validation score is {}",
                    self.best.map_or("unknown".into(), |b| format!("{b:.6}"))
                ),
                ActionKind::FinalAnswer,
                SCRIPT_INPUT,
            )
            .render();
        }
        // After a bad edit, restore the kept script.
        let revert: Vec<(String, String)> = self
            .current
            .iter()
            .filter(|(k, v)| self.kept.get(*k) != Some(*v))
            .map(|(k, _)| (k.clone(), self.kept[k].clone()))
            .collect();
        if !revert.is_empty() {
            return self.edit("the last change did not help, so revert it", revert);
        }
        if !self.ideas.is_empty() {
            let idea = self.ideas.remove(0);
            return self.edit(&idea.thought, idea.edits);
        }
        if self.cfg.kind == ExpertKind::Enriched
            && self.rng.random::<f64>() < self.cfg.inspect_probability
        {
            self.pending = None;
            return if self.rng.random::<bool>() {
                Action::other(
                    "check the current script before the next change",
                    ActionKind::InspectScript,
                    SCRIPT_INPUT,
                )
                .render()
            } else {
                Action::other(
                    "look at the data to choose the next change",
                    ActionKind::UnderstandData,
                    DATA_INPUT,
                )
                .render()
            };
        }
        match self.next_tweak() {
            Some((thought, edits)) => self.edit(&thought, edits),
            None => {
                self.done = true;
                Action::other(
                    "every knob has been tuned",
                    ActionKind::FinalAnswer,
                    SCRIPT_INPUT,
                )
                .render()
            }
        }
    }

    /// Updates beliefs from the feedback of the action `act` returned last.
    pub(crate) fn observe(&mut self, obs: &Observation) {
        let pending = self.pending.take();
        let tweak = self.pending_tweak.take();
        match obs {
            Observation::Success { metric } => {
                let improved = match self.best {
                    None => true,
                    Some(b) => self.direction.is_better(*metric, b),
                };
                if let Some(edits) = &pending {
                    for (k, v) in edits {
                        self.current.insert(k.clone(), v.clone());
                    }
                }
                if improved {
                    self.best = Some(*metric);
                    self.kept = self.current.clone();
                    self.fruitless = 0;
                } else {
                    self.fruitless += 1;
                }
                self.momentum = self.next_momentum(tweak, improved);
            }
            Observation::Failed => {
                // The script on record did not change; nothing to revert.
                self.fruitless += 1;
                self.momentum = self.next_momentum(tweak, false);
            }
            Observation::Invalid | Observation::Info => {}
        }
    }

    /// After a tweak: keep going the same way if it helped; otherwise try the other way once
    /// (an engineer's line search). The non-enriched expert keeps its fixed habit.
    fn next_momentum(
        &self,
        tweak: Option<(String, bool)>,
        improved: bool,
    ) -> Option<(String, bool)> {
        if self.cfg.kind == ExpertKind::NonEnriched {
            return None;
        }
        let (key, up) = tweak?;
        if improved {
            Some((key, up))
        } else if self.momentum.as_ref() == Some(&(key.clone(), up)) {
            // This direction helped before and has now stopped helping: try the other way.
            Some((key, !up))
        } else if self.momentum.is_none() {
            Some((key, !up))
        } else {
            None
        }
    }

    fn edit(&mut self, thought: &str, edits: Vec<(String, String)>) -> String {
        self.pending = Some(edits.clone());
        Action::edit(thought, edits).render()
    }

    /// One notch of one knob away from the kept script.
    fn next_tweak(&mut self) -> Option<(String, Vec<(String, String)>)> {
        if let Some((key, up)) = self.momentum.take()
            && let Some(knob) = self.knobs.iter().find(|k| k.key == key)
            && let Some(next) = self.notch(knob, up)
        {
            let now = self.kept[&key].clone();
            self.pending_tweak = Some((key.clone(), up));
            let why = if up { "raise" } else { "lower" };
            // The current value first, as the ideas say it (`from 32 to 16`): the next value
            // is then one notch from a value just written, not from one further back.
            let thought = format!("{why} {key} further, from {now} to {next}");
            return Some((thought, vec![(key, next)]));
        }
        let order: Vec<usize> = match self.cfg.kind {
            ExpertKind::NonEnriched => {
                // The narrow habit: learning rate and epochs first, always in that order.
                let mut idx: Vec<usize> = (0..self.knobs.len()).collect();
                idx.sort_by_key(|&i| match self.knobs[i].key.as_str() {
                    "learning_rate" => 0,
                    "epochs" => 1,
                    _ => 2 + i,
                });
                idx
            }
            ExpertKind::Enriched => {
                let mut idx: Vec<usize> = (0..self.knobs.len()).collect();
                for i in (1..idx.len()).rev() {
                    let j = self.rng.random_range(0..=i);
                    idx.swap(i, j);
                }
                idx
            }
        };
        for i in order {
            let up = match self.cfg.kind {
                ExpertKind::NonEnriched => true,
                ExpertKind::Enriched => self.rng.random::<bool>(),
            };
            let knob = &self.knobs[i];
            if let Some(next) = self.notch(knob, up) {
                let key = knob.key.clone();
                let now = &self.kept[&key];
                let thought = format!("tune {key} from {now} to {next}");
                self.pending_tweak = Some((key.clone(), up));
                return Some((thought, vec![(key, next)]));
            }
        }
        None
    }

    /// The value one notch up (or down) from the kept value of `knob`, if any.
    fn notch(&self, knob: &Knob, up: bool) -> Option<String> {
        let mut values: Vec<String> = knob.candidates.clone();
        if !values.contains(&knob.current) {
            values.push(knob.current.clone());
        }
        sort_values(&mut values);
        let now = self.kept.get(&knob.key)?;
        let pos = values.iter().position(|v| v == now)?;
        let next = if up {
            values.get(pos + 1)
        } else {
            pos.checked_sub(1).and_then(|p| values.get(p))
        };
        next.cloned()
    }
}

/// Numbers in numeric order, then words in text order.
fn sort_values(values: &mut [String]) {
    values.sort_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(_), Err(_)) => a.cmp(b),
    });
}

/// One expert per episode of a batch, as a [`Policy`]: episode `i` is played by `experts[i]`,
/// which learns from that episode's feedback.
pub(crate) struct ExpertTeam {
    name: String,
    experts: Vec<Expert>,
}

impl ExpertTeam {
    pub fn new(name: impl Into<String>, experts: Vec<Expert>) -> Self {
        Self {
            name: name.into(),
            experts,
        }
    }
}

/// What an expert learns from the workbench's feedback.
pub fn observation(feedback: &Feedback) -> Observation {
    match feedback {
        Feedback::Success { metric, .. } => Observation::Success { metric: *metric },
        Feedback::ExecutionError { .. } | Feedback::BudgetExceeded { .. } => Observation::Failed,
        Feedback::InvalidAction { .. } => Observation::Invalid,
        Feedback::NonEdit { .. } => Observation::Info,
    }
}

impl Policy for ExpertTeam {
    fn name(&self) -> &str {
        &self.name
    }

    fn act(
        &mut self,
        input: &PolicyInput<'_>,
        _seed: &SeedPath,
    ) -> Result<PolicyOutput, PolicyError> {
        let expert = self
            .experts
            .get_mut(input.episode)
            .ok_or_else(|| PolicyError::Failed {
                policy: self.name.clone(),
                message: format!("no expert for episode {}", input.episode),
            })?;
        expert.update_knobs(input.knobs);
        Ok(PolicyOutput {
            text: expert.act(),
            tokens: None,
        })
    }

    fn observe(&mut self, episode: usize, feedback: &Feedback) {
        if let Some(e) = self.experts.get_mut(episode) {
            e.observe(&observation(feedback));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn knobs() -> Vec<Knob> {
        vec![
            Knob {
                key: "learning_rate".into(),
                current: "0.001".into(),
                candidates: vec!["0.0001".into(), "0.01".into(), "0.1".into()],
            },
            Knob {
                key: "epochs".into(),
                current: "2".into(),
                candidates: vec!["1".into(), "5".into(), "10".into()],
            },
        ]
    }

    fn cfg(kind: ExpertKind) -> ExpertConfig {
        ExpertConfig {
            kind,
            max_steps: 15,
            patience: 3,
            inspect_probability: 0.2,
        }
    }

    /// A toy objective: higher is better, best at learning_rate 0.01 and epochs 10.
    fn score(script: &BTreeMap<String, String>) -> f64 {
        let lr: f64 = script["learning_rate"].parse().unwrap();
        let ep: f64 = script["epochs"].parse().unwrap();
        -(lr.log10() + 2.0).powi(2) - (ep - 10.0).abs() / 10.0
    }

    fn episode(kind: ExpertKind, seed: u64, ideas: Vec<Idea>) -> (Vec<String>, f64) {
        let mut script: BTreeMap<String, String> = knobs()
            .iter()
            .map(|k| (k.key.clone(), k.current.clone()))
            .collect();
        let mut e = Expert::new(
            cfg(kind),
            Direction::HigherIsBetter,
            knobs(),
            ideas,
            Some(score(&script)),
            &SeedPath::root(seed),
        );
        let mut actions = Vec::new();
        let mut best = score(&script);
        while !e.is_done() {
            let a = e.act();
            let edit_input = a
                .contains("Action: Edit Script")
                .then(|| a.split("Action Input: ").nth(1))
                .flatten();
            let obs = match edit_input {
                Some(input) => {
                    for kv in input.split("; ") {
                        let (k, v) = kv.split_once(" = ").unwrap();
                        script.insert(k.into(), v.into());
                    }
                    let s = score(&script);
                    best = best.max(s);
                    Observation::Success { metric: s }
                }
                None => Observation::Info,
            };
            e.observe(&obs);
            actions.push(a);
            assert!(actions.len() <= 15);
        }
        (actions, best)
    }

    #[test]
    fn expert_improves_and_stops() {
        let start = {
            let s: BTreeMap<String, String> = knobs()
                .iter()
                .map(|k| (k.key.clone(), k.current.clone()))
                .collect();
            score(&s)
        };
        let (actions, best) = episode(ExpertKind::Enriched, 1, vec![]);
        assert!(best > start);
        assert!(actions.last().unwrap().contains("Final Answer"));
    }

    #[test]
    fn every_action_parses_and_names_an_input() {
        for seed in 0..8 {
            for a in episode(ExpertKind::Enriched, seed, vec![]).0 {
                let parsed = crate::env::Action::parse(&a).expect("expert actions parse");
                let input = a.split("Action Input: ").nth(1).unwrap_or_default();
                assert!(!input.trim().is_empty(), "{a}");
                if parsed.kind != crate::env::ActionKind::EditScript {
                    assert!([SCRIPT_INPUT, DATA_INPUT].contains(&input), "{a}");
                }
            }
        }
    }

    #[test]
    fn seeded_ideas_come_first_and_seeds_diversify() {
        let idea = Idea {
            thought: "train longer".into(),
            edits: vec![("epochs".into(), "10".into())],
        };
        let (actions, _) = episode(ExpertKind::Enriched, 2, vec![idea.clone()]);
        assert!(
            actions[0].contains("Action Input: epochs = 10"),
            "{}",
            actions[0]
        );
        let (na, _) = episode(ExpertKind::NonEnriched, 2, vec![idea]);
        assert!(!na[0].contains("epochs = 10"));
        assert!(na[0].contains("learning_rate"), "{}", na[0]);
        let runs: std::collections::BTreeSet<Vec<String>> = (0..8)
            .map(|s| episode(ExpertKind::Enriched, s, vec![]).0)
            .collect();
        assert!(runs.len() >= 3, "seeded noise gives different trajectories");
        assert_eq!(
            episode(ExpertKind::Enriched, 5, vec![]),
            episode(ExpertKind::Enriched, 5, vec![])
        );
    }
}
