//! The chat template: LLaMA-Factory's `qwen` template (ChatML), with `<|endoftext|>` closing
//! every turn as the paper's SFT setup does (see docs/lm.md for the exact choice).
//!
//! A turn renders as `<|im_start|>{role}\n{content}<|im_end|><|endoftext|>\n`. Assistant turns
//! are the SFT targets: their `{content}<|im_end|><|endoftext|>\n` tokens carry mask = true,
//! everything else (headers, system, user/feedback turns) false.

use serde::{Deserialize, Serialize};

use super::LmError;
use super::tokenizer::ChatTokenizer;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}

/// Token ids and, per token, whether it is an assistant (trained) token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rendered {
    pub ids: Vec<u32>,
    pub assistant_mask: Vec<bool>,
}

impl Rendered {
    fn push(&mut self, ids: &[u32], assistant: bool) {
        self.ids.extend_from_slice(ids);
        self.assistant_mask
            .extend(std::iter::repeat_n(assistant, ids.len()));
    }
}

/// Renders `messages`; with `generation_prompt`, ends with `<|im_start|>assistant\n` so the
/// model continues with an assistant turn.
pub fn render(
    tok: &ChatTokenizer,
    messages: &[Message],
    generation_prompt: bool,
) -> Result<Rendered, LmError> {
    let mut out = Rendered::default();
    let close = [tok.im_end, tok.end_of_text];
    for m in messages {
        out.push(&[tok.im_start], false);
        out.push(&tok.encode(&format!("{}\n", m.role.name()))?, false);
        let is_asst = m.role == Role::Assistant;
        out.push(&tok.encode(&m.content)?, is_asst);
        out.push(&close, is_asst);
        out.push(&tok.encode("\n")?, is_asst);
    }
    if generation_prompt {
        out.push(&[tok.im_start], false);
        out.push(&tok.encode("assistant\n")?, false);
    }
    Ok(out)
}

/// The stop tokens of an assistant turn.
pub fn stop_tokens(tok: &ChatTokenizer) -> Vec<u32> {
    vec![tok.im_end, tok.end_of_text]
}

/// One agent step of history: the action the agent took and the feedback it got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub action: String,
    pub feedback: String,
}

/// A prompt that fits the context, and how many of the oldest steps were left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FittedPrompt {
    pub messages: Vec<Message>,
    pub rendered: Rendered,
    pub dropped_steps: usize,
}

/// The sentence the prompt carries when history was dropped (so the policy knows).
pub fn omission_note(dropped: usize) -> String {
    format!("[Note: the {dropped} oldest step(s) of the history were omitted to fit the context.]")
}

/// Builds system + task (user) + history (assistant action, user feedback)* with a generation
/// prompt, dropping the oldest steps until it fits in `max_tokens` — deterministic, and the
/// task message then ends with [`omission_note`]. Errors if even no history does not fit.
pub fn fit_prompt(
    tok: &ChatTokenizer,
    system: &str,
    task: &str,
    history: &[Step],
    max_tokens: usize,
) -> Result<FittedPrompt, LmError> {
    let build = |dropped: usize| -> Vec<Message> {
        let mut task_text = task.to_string();
        if dropped > 0 {
            task_text.push_str("\n\n");
            task_text.push_str(&omission_note(dropped));
        }
        let mut msgs = vec![
            Message::new(Role::System, system),
            Message::new(Role::User, task_text),
        ];
        for s in &history[dropped..] {
            msgs.push(Message::new(Role::Assistant, s.action.clone()));
            msgs.push(Message::new(Role::User, s.feedback.clone()));
        }
        msgs
    };
    // Re-render at each candidate (exact token counts, no estimates); oldest dropped first.
    for dropped in 0..=history.len() {
        let messages = build(dropped);
        let rendered = render(tok, &messages, true)?;
        if rendered.ids.len() <= max_tokens {
            return Ok(FittedPrompt {
                messages,
                rendered,
                dropped_steps: dropped,
            });
        }
    }
    let min = render(tok, &build(history.len()), true)?.ids.len();
    Err(LmError::Input(format!(
        "the prompt needs {min} tokens without any history; the context allows {max_tokens}"
    )))
}
