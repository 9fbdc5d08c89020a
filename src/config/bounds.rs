//! What an experiment may ask for, checked before any stage runs: tasks the registry knows, a
//! model `lm::Qwen2Config::named` knows, sequences within the model's context, and sizes whose
//! memory fits in this machine (with sane upper bounds on counts whose cost is time, not memory).
//! Each failure names the field and what was expected, as `(field, message)`.

use crate::backend::BackendKind;
use crate::lm::Qwen2Config;
use crate::paper::{Agent, EvalTask};
use crate::tasks::TaskSplit;

use super::{EnvironmentKind, Experiment};

/// What the checks read of a task, from either environment's task files.
#[derive(Clone, Debug)]
pub(crate) struct TaskFact {
    pub id: String,
    pub split: TaskSplit,
    pub max_steps: usize,
    /// The paper's evaluation task it stands for (its Table 1 row).
    pub paper: Option<EvalTask>,
}

/// Every task an experiment in one environment may name.
pub(crate) struct TaskFacts {
    pub tasks: Vec<TaskFact>,
}

impl TaskFacts {
    /// The workbench's `tasks/*.ron`, or the Python tasks (`tasks/python/*.ron` and those
    /// prepared into `target/mlagent/prepared`).
    pub fn load(env: EnvironmentKind) -> Result<Self, crate::tasks::TaskError> {
        let tasks = match env {
            EnvironmentKind::Workbench => crate::tasks::Registry::load_default()?
                .tasks
                .iter()
                .map(|t| TaskFact {
                    id: t.spec.id.clone(),
                    split: t.spec.split,
                    max_steps: t.spec.budget.max_steps as usize,
                    paper: t.spec.id.parse().ok(),
                })
                .collect(),
            EnvironmentKind::Python => {
                let mut facts: Vec<TaskFact> = crate::tasks::python::load_with_prepared(
                    &crate::tasks::python::default_prepared_root(),
                )?
                .iter()
                .map(|t| TaskFact {
                    id: t.spec.id.clone(),
                    split: t.spec.split,
                    max_steps: t.spec.max_steps,
                    paper: t
                        .spec
                        .stands_for
                        .as_deref()
                        .unwrap_or(&t.spec.id)
                        .parse()
                        .ok(),
                })
                .collect();
                // The paper's tasks are the user's data: one not prepared yet is named, with
                // how to prepare it, by the first stage that reads it
                // (`stages::StageEnvironment::tasks`); here it has its stand-in's split.
                let stand_ins = crate::tasks::Registry::load_default()?;
                for up in crate::tasks::upstream::load_all(&crate::tasks::upstream::default_root())?
                {
                    if facts.iter().any(|f| f.id == up.id) {
                        continue;
                    }
                    if let Ok(t) = stand_ins.get(&up.id) {
                        facts.push(TaskFact {
                            id: up.id.clone(),
                            split: t.spec.split,
                            max_steps: crate::tasks::python::default_max_steps(),
                            paper: up.id.parse().ok(),
                        });
                    }
                }
                facts
            }
        };
        Ok(Self { tasks })
    }

    fn get(&self, id: &str) -> Option<&TaskFact> {
        self.tasks.iter().find(|t| t.id == id)
    }
}

/// The byte-level BPE alphabet (256) plus the chat template's three special tokens: the smallest
/// vocabulary `lm::tokenizer::ChatTokenizer::train_bpe` can produce.
pub(crate) const MIN_VOCAB: usize = 259;
/// Largest vocabulary accepted (Qwen2.5's is 152,064).
pub(crate) const MAX_VOCAB: usize = 1 << 22;
/// Candidate ideas per task: generating them is a rejection loop of up to 100 draws per
/// candidate, so the count bounds the time (the paper asks for at least 100).
pub(crate) const MAX_IDEA_POOL: usize = 100_000;
/// Expert episodes per task (the paper: 1,112).
pub(crate) const MAX_EPISODES_PER_TASK: usize = 100_000;
/// Evaluation trajectories per (agent, task) (the paper: 8).
pub(crate) const MAX_TRAJECTORIES: usize = 10_000;
/// Host bytes an episode step holds while a stage runs: its script, action, feedback and
/// conversation turn, generously.
const STEP_BYTES: f64 = 16.0 * 1024.0;
/// Host bytes of one candidate idea (its edits, thought and hashed embedding), generously.
const IDEA_BYTES: f64 = 4.0 * 1024.0;

type Check = Result<(), (String, String)>;

fn bad(field: &str, message: String) -> Check {
    Err((field.to_string(), message))
}

/// Every task id must be in the registry.
pub(crate) fn check_tasks(exp: &Experiment, registry: &TaskFacts) -> Check {
    for (list, ids) in [
        ("train_tasks", &exp.train_tasks),
        ("eval_tasks", &exp.eval_tasks),
    ] {
        for (i, id) in ids.iter().enumerate() {
            if registry.get(id).is_none() {
                let known: Vec<&str> = registry.tasks.iter().map(|t| t.id.as_str()).collect();
                return bad(
                    &format!("{list}[{i}]"),
                    format!("unknown task `{id}`: expected one of {}", known.join(", ")),
                );
            }
            if ids[..i].contains(id) {
                return bad(&format!("{list}[{i}]"), format!("task `{id}` listed twice"));
            }
        }
    }
    check_splits(exp, registry)
}

/// Held-in and held-out mean one thing: the paper's split of an evaluation task
/// (`paper::EvalTask::split`), its task file's `split` and the experiment's (trained on, or
/// not) must agree, and at least one evaluation task is held out (the SFT probe and Table 1's
/// held-out rows need one).
fn check_splits(exp: &Experiment, registry: &TaskFacts) -> Check {
    use crate::paper::Split;
    for (i, id) in exp.train_tasks.iter().enumerate() {
        let spec = registry.get(id).expect("task ids were checked");
        if spec.split != TaskSplit::HeldIn {
            return bad(
                &format!("train_tasks[{i}]"),
                format!("`{id}` is held out (its task file says so): expected a held-in task"),
            );
        }
    }
    for (i, id) in exp.eval_tasks.iter().enumerate() {
        let trained = exp.train_tasks.contains(id);
        let spec = registry.get(id).expect("task ids were checked");
        let Some(paper) = spec.paper.map(EvalTask::split) else {
            return bad(
                &format!("eval_tasks[{i}]"),
                format!("`{id}` stands for none of the paper's 13 evaluation tasks"),
            );
        };
        let file = match spec.split {
            TaskSplit::HeldIn => Split::HeldIn,
            TaskSplit::HeldOut => Split::HeldOut,
        };
        let here = if trained {
            Split::HeldIn
        } else {
            Split::HeldOut
        };
        if paper != file || file != here {
            return bad(
                &format!("eval_tasks[{i}]"),
                format!(
                    "`{id}` is {} in the paper, {} in its task file and {} here ({}): expected \
                     one split everywhere",
                    paper.label(),
                    file.label(),
                    here.label(),
                    if trained {
                        "a training task"
                    } else {
                        "not a training task"
                    },
                ),
            );
        }
    }
    if exp.eval_tasks.iter().all(|id| exp.train_tasks.contains(id)) {
        return bad(
            "eval_tasks",
            "every evaluation task is a training task: expected at least one held-out task \
             (the SFT probe and Table 1's held-out rows need one)"
                .to_string(),
        );
    }
    Ok(())
}

/// The model the policy is built from: the pretrained directory's `config.json` where it
/// exists, else the named config (with the configured vocabulary, an upper bound on the
/// trained tokenizer's).
pub(crate) fn check_model(exp: &Experiment) -> Result<Qwen2Config, (String, String)> {
    let p = &exp.policy;
    if !(MIN_VOCAB..=MAX_VOCAB).contains(&p.vocab_size) {
        return Err((
            "policy.vocab_size".into(),
            format!(
                "{} is outside [{MIN_VOCAB}, {MAX_VOCAB}]: expected at least the 256 bytes and 3 \
                 special tokens of the chat template",
                p.vocab_size
            ),
        ));
    }
    let named = Qwen2Config::named(&p.model, p.vocab_size)
        .map_err(|e| ("policy.model".into(), e.to_string()))?;
    let cfg = match &p.pretrained {
        Some(dir) if dir.join(crate::lm::hf::CONFIG_FILE).is_file() => {
            Qwen2Config::load(&dir.join(crate::lm::hf::CONFIG_FILE))
                .map_err(|e| ("policy.pretrained".into(), e.to_string()))?
        }
        _ => named,
    };
    let max = cfg.max_position_embeddings;
    for (field, n) in [
        ("policy.context_tokens", p.context_tokens),
        ("sft.cutoff_tokens", exp.sft.cutoff_tokens),
    ] {
        if n > max {
            return Err((
                field.into(),
                format!(
                    "{n} exceeds the model's max_position_embeddings {max}: expected at most {max}"
                ),
            ));
        }
    }
    Ok(cfg)
}

/// Counts whose cost is time, and the host memory of everything a run keeps; with the flex
/// backend also the model's weights, gradients, optimiser state and largest activations.
pub(crate) fn check_sizes(exp: &Experiment, registry: &TaskFacts, model: &Qwen2Config) -> Check {
    for (field, n, max) in [
        ("ideas.pool_size", exp.ideas.pool_size, MAX_IDEA_POOL),
        (
            "expert.episodes_per_task",
            exp.expert.episodes_per_task,
            MAX_EPISODES_PER_TASK,
        ),
        ("eval.trajectories", exp.eval.trajectories, MAX_TRAJECTORIES),
    ] {
        if n > max {
            return bad(field, format!("{n} exceeds the upper bound {max}"));
        }
    }
    let n = |x: usize| x as f64;
    let eval_steps: f64 = exp
        .eval_tasks
        .iter()
        .filter_map(|id| registry.get(id))
        .map(|t| n(exp.eval.steps_on(t.max_steps)))
        .sum();
    let mut needs: Vec<(&str, f64)> = vec![
        (
            "ideas.pool_size",
            n(exp.ideas.pool_size) * n(exp.train_tasks.len()) * IDEA_BYTES,
        ),
        (
            "expert.episodes_per_task",
            n(exp.expert.episodes_per_task)
                * n(exp.train_tasks.len())
                * n(exp.expert.expert.max_steps)
                * STEP_BYTES,
        ),
        (
            "eval.trajectories",
            n(exp.eval.trajectories) * n(Agent::ALL.len()) * eval_steps * STEP_BYTES,
        ),
    ];
    if exp.backend == BackendKind::Flex {
        // On the CPU the model lives in host memory: f32 weights, gradients and AdamW's two
        // moments for the trained policy, plus the frozen reference and the sampler's copy.
        let params = model.param_count() as f64;
        needs.push(("policy.model (with policy.vocab_size)", params * 4.0 * 6.0));
        // The largest batch of sequences a step holds: logits (with their softmax and
        // gradients) over the vocabulary, and every layer's attention scores kept for backward.
        let (batch_field, rows, len) = if n(exp.sft.micro_batch) * n(exp.sft.cutoff_tokens)
            >= n(exp.rl.minibatch_size) * n(exp.policy.context_tokens)
        {
            (
                "sft.micro_batch (× sft.cutoff_tokens × policy.vocab_size)",
                exp.sft.micro_batch,
                exp.sft.cutoff_tokens,
            )
        } else {
            (
                "rl.minibatch_size (× policy.context_tokens × policy.vocab_size)",
                exp.rl.minibatch_size,
                exp.policy.context_tokens,
            )
        };
        let logits = n(rows) * n(len) * n(model.vocab_size) * 4.0 * 3.0;
        let attention = n(rows)
            * n(model.num_attention_heads)
            * n(len)
            * n(len)
            * n(model.num_hidden_layers)
            * 4.0
            * 3.0;
        needs.push((batch_field, logits + attention));
    }
    let total: f64 = needs.iter().map(|(_, b)| b).sum();
    let (field, _) = needs
        .iter()
        .copied()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .expect("at least three terms");
    crate::limits::fits_in_memory(
        &format!(
            "this experiment (largest share: `{field}`; {})",
            needs
                .iter()
                .map(|(f, b)| format!("{f} {}", crate::limits::gib(*b)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        total,
    )
    .or_else(|m| bad(field, m))
}
