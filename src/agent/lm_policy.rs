//! The language-model policy: renders a state with the chat template (system, task turn,
//! then assistant actions and user feedback), fits it to the context by dropping the oldest
//! steps, and samples one action per state, all states of a batch at once.
//!
//! A policy directory holds `tokenizer.json` beside a Hugging Face model directory
//! (`config.json`, `model.safetensors`), so a fine-tuned Qwen loads the same way.

use std::path::Path;

use burn::tensor::Device;

use super::conversation::{Role, Turn};
use super::policy::{ActionTokens, Policy, PolicyError, PolicyInput, PolicyOutput};
use super::prompt;
use crate::lm::chat::{FittedPrompt, Step, fit_prompt, stop_tokens};
use crate::lm::generate::{SamplingConfig, generate_seeded};
use crate::lm::tokenizer::ChatTokenizer;
use crate::lm::{LmError, Qwen2, hf};
use crate::seed::SeedPath;

/// The tokenizer's file name inside a policy directory.
pub(crate) const TOKENIZER_FILE: &str = "tokenizer.json";

/// A state's chat prompt: the first human turn is the task; then (gpt action, human
/// feedback) pairs. The history must end with a human turn (the state to act on).
pub(crate) fn fit_state(
    tok: &ChatTokenizer,
    system: &str,
    history: &[Turn],
    context_tokens: usize,
) -> Result<FittedPrompt, LmError> {
    let (task, rest) = history
        .split_first()
        .filter(|(t, rest)| t.from == Role::Human && rest.len() % 2 == 0)
        .ok_or_else(|| {
            LmError::Input(
                "a state is a human task turn followed by (gpt, human) pairs".to_string(),
            )
        })?;
    let mut steps = Vec::with_capacity(rest.len() / 2);
    for pair in rest.chunks(2) {
        if pair[0].from != Role::Gpt || pair[1].from != Role::Human {
            return Err(LmError::Input(
                "a state's history alternates gpt actions and human feedback".to_string(),
            ));
        }
        steps.push(Step {
            action: pair[0].value.clone(),
            feedback: pair[1].value.clone(),
        });
    }
    fit_prompt(tok, system, &task.value, &steps, context_tokens)
}

/// The tokens a state's prompt may take when acting: the context less the room kept for the
/// answer. SFT windows (`train::sft::render_windows`) open at prompts of this size too.
pub fn prompt_budget(context_tokens: usize, max_new_tokens: usize) -> usize {
    context_tokens.saturating_sub(max_new_tokens)
}

/// States generated together by default: enough to amortise per-token overhead on a CPU.
pub(crate) const DEFAULT_BATCH: usize = 8;

/// A Qwen2 policy with its tokenizer and sampling settings.
pub struct LmPolicy {
    name: String,
    pub model: Qwen2,
    pub tokenizer: ChatTokenizer,
    pub sampling: SamplingConfig,
    /// Prompt + generation must fit in this many tokens.
    pub context_tokens: usize,
    /// States generated together (see `act_batch`).
    pub batch_size: usize,
    /// The environment's system prompt (`agent::environment::Environment::system_prompt`);
    /// the workbench's unless set with [`LmPolicy::with_system`].
    system: &'static str,
    device: Device,
}

impl LmPolicy {
    /// `sampling.stop_tokens` is replaced by the template's stop tokens.
    pub fn new(
        name: impl Into<String>,
        model: Qwen2,
        tokenizer: ChatTokenizer,
        mut sampling: SamplingConfig,
        context_tokens: usize,
        device: Device,
    ) -> Self {
        sampling.stop_tokens = stop_tokens(&tokenizer);
        Self {
            name: name.into(),
            model,
            tokenizer,
            sampling,
            context_tokens,
            batch_size: DEFAULT_BATCH,
            system: prompt::SYSTEM,
            device,
        }
    }

    /// Acts with `system` as the system prompt (the one its environment states).
    pub fn with_system(mut self, system: &'static str) -> Self {
        self.system = system;
        self
    }

    /// Loads a policy directory (tokenizer + HF model) onto `device`.
    pub fn load(
        name: impl Into<String>,
        dir: &Path,
        sampling: SamplingConfig,
        context_tokens: usize,
        device: Device,
    ) -> Result<Self, LmError> {
        let tokenizer = ChatTokenizer::load(&dir.join(TOKENIZER_FILE))?;
        let (_, model) = hf::load(dir, &device)?;
        Ok(Self::new(
            name,
            model,
            tokenizer,
            sampling,
            context_tokens,
            device,
        ))
    }

    /// The prompt budget: the context less the room kept for the answer.
    pub fn prompt_tokens(&self) -> usize {
        prompt_budget(self.context_tokens, self.sampling.max_new_tokens)
    }

    fn fail(&self, e: LmError) -> PolicyError {
        PolicyError::Failed {
            policy: self.name.clone(),
            message: e.to_string(),
        }
    }
}

impl Policy for LmPolicy {
    fn name(&self) -> &str {
        &self.name
    }

    fn act(
        &mut self,
        input: &PolicyInput<'_>,
        seed: &SeedPath,
    ) -> Result<PolicyOutput, PolicyError> {
        let mut out = self.act_batch(std::slice::from_ref(input), std::slice::from_ref(seed))?;
        Ok(out.remove(0))
    }

    /// States are generated in batches of `batch_size` rows (left-padded, pads masked). A
    /// row's tokens then agree with generating it alone only up to float summation order, so
    /// batch composition is part of the computation — it is fixed by the lock-step episode
    /// order, hence deterministic and independent of thread count.
    fn act_batch(
        &mut self,
        inputs: &[PolicyInput<'_>],
        seeds: &[SeedPath],
    ) -> Result<Vec<PolicyOutput>, PolicyError> {
        if seeds.len() != inputs.len() {
            return Err(self.fail(LmError::Input(format!(
                "{} states but {} seeds",
                inputs.len(),
                seeds.len()
            ))));
        }
        let prompts: Vec<Vec<u32>> = inputs
            .iter()
            .map(|input| {
                fit_state(
                    &self.tokenizer,
                    self.system,
                    input.history,
                    self.prompt_tokens(),
                )
                .map(|f| f.rendered.ids)
                .map_err(|e| self.fail(e))
            })
            .collect::<Result<_, _>>()?;
        // Rows of similar length share a batch (less padding); the order is a function of the
        // prompts alone (length, then position), so it is deterministic.
        let mut order: Vec<usize> = (0..prompts.len()).collect();
        order.sort_by_key(|&i| (prompts[i].len(), i));
        let mut generations: Vec<Option<crate::lm::generate::Generation>> =
            vec![None; prompts.len()];
        for rows in order.chunks(self.batch_size.max(1)) {
            let chunk: Vec<Vec<u32>> = rows.iter().map(|&i| prompts[i].clone()).collect();
            let chunk_seeds: Vec<SeedPath> = rows.iter().map(|&i| seeds[i].clone()).collect();
            let gens = generate_seeded(
                &self.model,
                &chunk,
                &self.sampling,
                &chunk_seeds,
                self.tokenizer.end_of_text,
                &self.device,
            )
            .map_err(|e| self.fail(e))?;
            for (&i, g) in rows.iter().zip(gens) {
                generations[i] = Some(g);
            }
        }
        let generations = generations
            .into_iter()
            .map(|g| g.expect("every row belongs to exactly one chunk"));
        let mut outs = Vec::with_capacity(inputs.len());
        for (g, prompt) in generations.zip(prompts) {
            let body: Vec<u32> = g
                .tokens
                .iter()
                .copied()
                .filter(|t| !self.sampling.stop_tokens.contains(t))
                .collect();
            let text = self
                .tokenizer
                .decode(&body, false)
                .map_err(|e| self.fail(e))?;
            outs.push(PolicyOutput {
                text: text.trim_end().to_string(),
                tokens: Some(ActionTokens {
                    prompt,
                    action: g.tokens,
                }),
            });
        }
        Ok(outs)
    }
}
