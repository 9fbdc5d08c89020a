//! Experiment configs: RON files in `experiments/`, typed with serde, unknown fields rejected.
//! Profiles (`smoke`, `mini`, `paper`) are config files, not code constants.

pub mod bounds;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::agent::expert::ExpertStageConfig;
use crate::agent::ideas::IdeasConfig;
use crate::backend::BackendKind;
pub use crate::config_file::{ConfigError, load_ron, parse_ron};
use crate::eval::EvalConfig;
use crate::lm::generate::SamplingConfig;
use crate::provenance::{Digest, digest_of};
use crate::reward::RewardConfig;
use crate::train::rl::RlConfig;
use crate::train::sft::SftConfig;

/// The scale an experiment runs at (README.md, "Profiles and backends").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Profile {
    /// A cut of `mini` that runs the whole pipeline in about a minute; used by tests and CI.
    Smoke,
    /// CPU scale: small policy trained from scratch, 19 stand-in tasks.
    Mini,
    /// GPU scale: Qwen2.5-7B and the paper's own tasks.
    Paper,
}

/// The environment an experiment's agents act in (`agent::environment`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum EnvironmentKind {
    /// The typed-script workbench (`tasks/*.ron`), trained in-process.
    #[default]
    Workbench,
    /// Python tasks (`tasks/python/*.ron` and prepared ones) run in the sandbox.
    Python,
}

impl EnvironmentKind {
    fn is_workbench(&self) -> bool {
        *self == EnvironmentKind::Workbench
    }
}

/// One experiment: which tasks, which seed, which backend, and each stage's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    pub name: String,
    pub profile: Profile,
    /// Root of every random stream of the experiment.
    pub seed: u64,
    #[serde(default)]
    pub backend: BackendKind,
    /// Where the agents act; the workbench unless set (absent from the config's digest then,
    /// so workbench experiments keep their digests).
    #[serde(default, skip_serializing_if = "EnvironmentKind::is_workbench")]
    pub environment: EnvironmentKind,
    /// Held-in tasks: the fine-tuning and RL tasks (the paper's 9).
    pub train_tasks: Vec<String>,
    /// Evaluation tasks (the paper's 3 held-in + 10 held-out).
    pub eval_tasks: Vec<String>,
    /// The reward every stage scores steps with.
    pub reward: RewardConfig,
    pub ideas: IdeasConfig,
    pub expert: ExpertStageConfig,
    pub policy: PolicyConfig,
    /// How the agents are evaluated (Table 1).
    pub eval: EvalConfig,
    /// Fine-tuning on the expert's trajectories.
    pub sft: SftConfig,
    /// Step-wise RL and the episode-wise baseline.
    pub rl: RlConfig,
}

/// The policy model and how it samples actions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// `tiny` or `mini` (trained from scratch, see `lm::Qwen2Config::named`), or a published
    /// architecture name when `pretrained` is given.
    pub model: String,
    /// A Hugging Face directory (config.json, safetensors, tokenizer.json) to start from
    /// (paper scale: Qwen2.5-7B); absent: a BPE tokenizer is trained on the trajectories.
    #[serde(default)]
    pub pretrained: Option<PathBuf>,
    /// Vocabulary of the trained BPE tokenizer (ignored with `pretrained`).
    pub vocab_size: usize,
    /// Prompt plus answer must fit in this many tokens; older steps are dropped first.
    pub context_tokens: usize,
    /// Sampling temperature of actions (0 = greedy).
    pub temperature: f64,
    pub top_p: f64,
    /// Longest action, in tokens.
    pub max_new_tokens: usize,
}

impl PolicyConfig {
    /// Sampling settings; the stop tokens are the chat template's, set by the policy.
    pub fn sampling(&self) -> SamplingConfig {
        SamplingConfig {
            temperature: self.temperature,
            top_p: self.top_p,
            max_new_tokens: self.max_new_tokens,
            stop_tokens: Vec::new(),
        }
    }
}

impl Experiment {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let exp: Experiment = load_ron(path)?;
        exp.validate(path)?;
        Ok(exp)
    }

    /// Every check [`Self::load`] makes, the one validation of an experiment (stages trust the
    /// experiment they are given): the fields on their own, then against the task
    /// registry of this source tree, the model and this machine's memory (`bounds`).
    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        self.validate_fields(path)?;
        let invalid = |(field, message): (String, String)| ConfigError::Invalid {
            path: path.to_path_buf(),
            field,
            message,
        };
        let facts = bounds::TaskFacts::load(self.environment).map_err(|e| {
            invalid((
                "train_tasks".into(),
                format!("cannot load the task registry: {e}"),
            ))
        })?;
        bounds::check_tasks(self, &facts).map_err(invalid)?;
        let model = bounds::check_model(self).map_err(invalid)?;
        bounds::check_sizes(self, &facts, &model).map_err(invalid)
    }

    fn validate_fields(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |field: &str, message: &str| ConfigError::Invalid {
            path: path.to_path_buf(),
            field: field.to_string(),
            message: message.to_string(),
        };
        if self.name.trim().is_empty() {
            return Err(invalid("name", "expected a non-empty name"));
        }
        if self.train_tasks.is_empty() {
            return Err(invalid("train_tasks", "expected at least one task id"));
        }
        if self.eval_tasks.is_empty() {
            return Err(invalid("eval_tasks", "expected at least one task id"));
        }
        if self.ideas.diverse == 0 || self.ideas.pool_size < self.ideas.diverse {
            return Err(invalid("ideas", "expected 0 < diverse <= pool_size"));
        }
        if self.expert.episodes_per_task == 0 {
            return Err(invalid("expert.episodes_per_task", "expected at least 1"));
        }
        let (lo, hi) = self.expert.ideas_per_episode;
        if lo > hi {
            return Err(invalid(
                "expert.ideas_per_episode",
                "expected (min, max) with min <= max",
            ));
        }
        if self.expert.expert.max_steps == 0 {
            return Err(invalid("expert.expert.max_steps", "expected at least 1"));
        }
        let q = self.expert.expert.inspect_probability;
        if !(0.0..=1.0).contains(&q) {
            return Err(invalid(
                "expert.expert.inspect_probability",
                &format!("{q} is not a probability: expected a number in [0, 1]"),
            ));
        }
        let p = &self.policy;
        if !(p.top_p > 0.0 && p.top_p <= 1.0) {
            return Err(invalid("policy.top_p", "expected a number in (0, 1]"));
        }
        if p.top_p < 1.0 {
            return Err(invalid(
                "policy.top_p",
                "expected 1: RL samples with the policy's top-p, but its scoring (the PPO ratio, \
                 KL and entropy) applies the temperature only, so a truncated nucleus would make \
                 every update off-policy",
            ));
        }
        if !(p.temperature.is_finite() && p.temperature > 0.0) {
            return Err(invalid(
                "policy.temperature",
                "expected a finite number > 0: RL samples and scores its actions at the \
                 temperature the policy is evaluated at (paper/PROVENANCE.md, \"RL\"), and \
                 scoring needs a distribution, not greedy decoding",
            ));
        }
        if p.max_new_tokens == 0 || p.context_tokens <= p.max_new_tokens {
            return Err(invalid(
                "policy.context_tokens",
                "expected context_tokens > max_new_tokens > 0",
            ));
        }
        if self.eval.trajectories == 0 {
            return Err(invalid("eval.trajectories", "expected at least 1"));
        }
        if self.eval.max_steps == Some(0) {
            return Err(invalid("eval.max_steps", "expected at least 1 (or absent)"));
        }
        if let Some(a) = &self.expert.api {
            a.validate()
                .map_err(|(f, m)| invalid(&format!("expert.api.{f}"), &m))?;
        }
        for (i, a) in self.eval.api_agents.iter().enumerate() {
            let field = |f: &str| format!("eval.api_agents[{i}].{f}");
            a.validate().map_err(|(f, m)| invalid(&field(&f), &m))?;
            if self.eval.api_agents[..i].iter().any(|b| b.name == a.name)
                || a.name.parse::<crate::paper::Agent>().is_ok()
            {
                return Err(invalid(
                    &field("name"),
                    &format!(
                        "`{}` is taken: expected a name no other agent (built-in or API) has",
                        a.name
                    ),
                ));
            }
            if let Some(c) = &a.column {
                match c.parse::<crate::paper::PaperModel>() {
                    Ok(m) if crate::paper::PaperModel::BASELINES.contains(&m) => {}
                    _ => {
                        return Err(invalid(
                            &field("column"),
                            &format!(
                                "`{c}`: expected a baseline column of Table 1 ({})",
                                crate::paper::PaperModel::BASELINES
                                    .iter()
                                    .map(|m| m.id())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ));
                    }
                }
            }
        }
        for (i, id) in self.eval_tasks.iter().enumerate() {
            // A Python task may stand for a paper task under its own id (`bounds` checks it).
            if self.environment.is_workbench()
                && let Err(e) = id.parse::<crate::paper::EvalTask>()
            {
                return Err(invalid(&format!("eval_tasks[{i}]"), &e.to_string()));
            }
            if self.eval_tasks[..i].contains(id) {
                return Err(invalid(
                    &format!("eval_tasks[{i}]"),
                    &format!("task `{id}` listed twice"),
                ));
            }
        }
        self.sft
            .validate()
            .map_err(|(field, message)| invalid(&field, &message))?;
        self.rl
            .validate()
            .map_err(|(field, message)| invalid(&field, &message))?;
        if self.rl.probe.held_in_episodes_per_task >= self.expert.episodes_per_task {
            return Err(invalid(
                "rl.probe.held_in_episodes_per_task",
                &format!(
                    "expected fewer than expert.episodes_per_task ({}): the rest form \
                     step-wise RL's state pool",
                    self.expert.episodes_per_task
                ),
            ));
        }
        digest_of(self).map_err(|e| invalid("(numbers)", &e.to_string()))?;
        Ok(())
    }

    /// The digest of the config's canonical encoding.
    pub fn digest(&self) -> Digest {
        digest_of(self).expect("an experiment config holds only finite numbers once parsed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_is_named_with_position() {
        let text = "Experiment(name: \"x\", profile: Smoke, seed: 1, train_tasks: [\"a\"], eval_tasks: [\"a\"], bogus: 3)";
        let err = parse_ron::<Experiment>(text, Path::new("x.ron")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("x.ron:1:"), "{msg}");
        assert!(msg.contains("bogus"), "{msg}");
    }

    #[test]
    fn held_in_and_held_out_mean_one_thing() {
        let path = Path::new("experiments/smoke.ron");
        let text = std::fs::read_to_string(path).unwrap();
        let load = |t: &str| {
            let e: Experiment = parse_ron(t, path).unwrap();
            e.validate(path).map(|_| e)
        };
        load(&text).expect("smoke is valid");
        // A held-out task trained on.
        let trained_out = text.replace(
            "train_tasks: [\"house-price\", \"spaceship-titanic\"]",
            "train_tasks: [\"house-price\", \"spaceship-titanic\", \"tabular-dec-2021\"]",
        );
        assert_ne!(trained_out, text);
        let msg = load(&trained_out).unwrap_err().to_string();
        assert!(
            msg.contains("train_tasks[2]") && msg.contains("held out"),
            "{msg}"
        );
        // A task the paper holds in, evaluated without being trained on.
        let untrained_in = text.replace(
            "eval_tasks: [\"house-price\", \"tabular-dec-2021\"]",
            "eval_tasks: [\"cifar-10\", \"tabular-dec-2021\"]",
        );
        assert_ne!(untrained_in, text);
        let msg = load(&untrained_in).unwrap_err().to_string();
        assert!(
            msg.contains("eval_tasks[0]") && msg.contains("one split"),
            "{msg}"
        );
        // No held-out task at all.
        let none_out = text.replace(
            "eval_tasks: [\"house-price\", \"tabular-dec-2021\"]",
            "eval_tasks: [\"house-price\"]",
        );
        let msg = load(&none_out).unwrap_err().to_string();
        assert!(msg.contains("at least one held-out task"), "{msg}");
    }

    #[test]
    fn eval_section_is_validated_naming_the_field() {
        let path = Path::new("experiments/smoke.ron");
        let text = std::fs::read_to_string(path).unwrap();
        let load = |t: &str| {
            let e: Experiment = parse_ron(t, path).unwrap();
            e.validate(path).map(|_| e)
        };
        let e = load(&text).expect("smoke is valid");
        assert!(e.eval.trajectories > 0);
        let zero = text.replace("trajectories: 4", "trajectories: 0");
        let msg = load(&zero).unwrap_err().to_string();
        assert!(msg.contains("eval.trajectories"), "{msg}");
        let bad_task = text.replace(
            "eval_tasks: [\"house-price\"",
            "eval_tasks: [\"spaceship-titanic\"",
        );
        let msg = load(&bad_task).unwrap_err().to_string();
        assert!(
            msg.contains("eval_tasks[0]") && msg.contains("spaceship-titanic"),
            "{msg}"
        );
    }

    /// A nucleus below 1 would make RL's updates off-policy (scoring applies the temperature
    /// only): refused, naming the field.
    #[test]
    fn top_p_below_one_is_refused() {
        let path = Path::new("experiments/smoke.ron");
        let text = std::fs::read_to_string(path).unwrap();
        let truncated = text.replace("top_p: 1.0", "top_p: 0.9");
        assert_ne!(truncated, text);
        let e: Experiment = parse_ron(&truncated, path).unwrap();
        let msg = e.validate(path).unwrap_err().to_string();
        assert!(
            msg.contains("policy.top_p") && msg.contains("off-policy"),
            "{msg}"
        );
    }

    /// The smoke config with `from` replaced by `to`, validated; the error text.
    fn smoke_with(from: &str, to: &str) -> String {
        let path = Path::new("experiments/smoke.ron");
        let text = std::fs::read_to_string(path).unwrap();
        let edited = text.replace(from, to);
        assert_ne!(edited, text, "{from} is in smoke.ron");
        let e: Experiment = parse_ron(&edited, path).unwrap();
        e.validate(path).unwrap_err().to_string()
    }

    #[test]
    fn every_profile_passes_validation() {
        for p in ["smoke", "mini", "paper", "llm-columns"] {
            Experiment::load(Path::new(&format!("experiments/{p}.ron"))).unwrap();
        }
    }

    #[test]
    fn unknown_task_ids_and_models_are_refused() {
        let msg = smoke_with(
            "\"house-price\", \"spaceship-titanic\"",
            "\"house-price\", \"nope\"",
        );
        assert!(
            msg.contains("train_tasks[1]") && msg.contains("unknown task `nope`"),
            "{msg}"
        );
        let msg = smoke_with("model: \"tiny\"", "model: \"huge\"");
        assert!(
            msg.contains("policy.model") && msg.contains("huge"),
            "{msg}"
        );
    }

    #[test]
    fn sizes_beyond_the_machine_or_sane_bounds_are_refused() {
        for (from, to, field) in [
            (
                "vocab_size: 384",
                "vocab_size: 1000000000000",
                "policy.vocab_size",
            ),
            ("vocab_size: 384", "vocab_size: 0", "policy.vocab_size"),
            (
                "trajectories: 4",
                "trajectories: 1000000000",
                "eval.trajectories",
            ),
            (
                "episodes_per_task: 3,",
                "episodes_per_task: 1000000000,",
                "expert.episodes_per_task",
            ),
            (
                "pool_size: 100",
                "pool_size: 1000000000000",
                "ideas.pool_size",
            ),
        ] {
            let msg = smoke_with(from, to);
            assert!(msg.contains(field), "{to}: {msg}");
        }
        // Within the count bounds but beyond this machine's memory: the steps of 90,000
        // episodes of 100,000 steps each.
        let path = Path::new("experiments/smoke.ron");
        let text = std::fs::read_to_string(path)
            .unwrap()
            .replace("max_steps: 6, patience", "max_steps: 100000, patience")
            .replace("episodes_per_task: 3,", "episodes_per_task: 90000,");
        let e: Experiment = parse_ron(&text, path).unwrap();
        let msg = e.validate(path).unwrap_err().to_string();
        assert!(
            msg.contains("expert.episodes_per_task") && msg.contains("memory"),
            "{msg}"
        );
        // A vocabulary whose logits do not fit.
        let msg = smoke_with("vocab_size: 384", "vocab_size: 4000000");
        assert!(
            msg.contains("policy.vocab_size") && msg.contains("memory"),
            "{msg}"
        );
    }

    #[test]
    fn probabilities_adam_and_context_are_bounded() {
        for (from, to, field) in [
            ("beta_1: 0.9", "beta_1: 2.0", "rl.optim.beta_1"),
            ("beta_2: 0.999", "beta_2: 1.0", "rl.optim.beta_2"),
            ("epsilon: 1e-8", "epsilon: 0", "rl.optim.epsilon"),
            ("lr: 1e-4", "lr: -1.0", "rl.optim.lr"),
            (
                "inspect_probability: 0.2",
                "inspect_probability: 5.0",
                "expert.expert.inspect_probability",
            ),
            (
                "context_tokens: 768",
                "context_tokens: 30000",
                "policy.context_tokens",
            ),
            (
                "cutoff_tokens: 1024",
                "cutoff_tokens: 4096",
                "sft.cutoff_tokens",
            ),
        ] {
            let msg = smoke_with(from, to);
            assert!(msg.contains(field), "{to}: {msg}");
        }
    }

    #[test]
    fn missing_field_is_named() {
        let text = "Experiment(name: \"x\", profile: Smoke, train_tasks: [], eval_tasks: [])";
        let msg = parse_ron::<Experiment>(text, Path::new("y.ron"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("seed"), "{msg}");
    }
}
