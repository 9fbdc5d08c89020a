//! What SFT trains on: conversations rendered to token ids with loss masks (assistant turns),
//! cut at the cutoff or re-opened in windows at the acting prompt, and the tokenizer's corpus.

use crate::agent::conversation::{Conversation, Role as TurnRole};
use crate::agent::lm_policy::fit_state;
use crate::lm::LmError;
use crate::lm::chat::{Message, Role, render};
use crate::lm::tokenizer::ChatTokenizer;

/// One training sequence: token ids and, per token, whether it is a target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Example {
    pub ids: Vec<u32>,
    pub mask: Vec<bool>,
}

impl Example {
    /// The loss mask of an epoch: every token when it trains on the prompt, else `mask`.
    pub fn targets(&self, train_on_prompt: bool) -> Vec<bool> {
        if train_on_prompt {
            vec![true; self.ids.len()]
        } else {
            self.mask.clone()
        }
    }
}

/// The chat messages of a ShareGPT conversation as the policy sees them: the system prompt of
/// its environment (`agent::environment::Environment::system_prompt`),
/// human turns as user and gpt turns as assistant (so training text equals acting text).
pub fn messages(system: &str, conv: &Conversation) -> Vec<Message> {
    std::iter::once(Message::new(Role::System, system))
        .chain(conv.conversations.iter().map(|t| {
            let role = match t.from {
                TurnRole::Human => Role::User,
                TurnRole::Gpt => Role::Assistant,
            };
            Message::new(role, t.value.clone())
        }))
        .collect()
}

/// Renders every conversation with the chat template (assistant tokens = targets) and cuts it
/// at `cutoff` tokens, keeping its start (LLaMA-Factory's `cutoff_len`). Conversations left
/// with no target after the first token are dropped; returns the examples and how many were
/// dropped. [`render_windows`] trains the rest of a long conversation too.
pub fn render_examples(
    tok: &ChatTokenizer,
    system: &str,
    convs: &[Conversation],
    cutoff: usize,
) -> Result<(Vec<Example>, usize), LmError> {
    let mut out = Vec::with_capacity(convs.len());
    let mut dropped = 0;
    for c in convs {
        let mut r = render(tok, &messages(system, c), false)?;
        r.ids.truncate(cutoff);
        r.assistant_mask.truncate(cutoff);
        if r.ids.len() < 2 || !r.assistant_mask[1..].iter().any(|&m| m) {
            dropped += 1;
            continue;
        }
        out.push(Example {
            ids: r.ids,
            mask: r.assistant_mask,
        });
    }
    Ok((out, dropped))
}

/// Like [`render_examples`], but a conversation longer than `cutoff` is re-opened in windows
/// until every assistant turn is trained: each later window starts with the prompt the policy
/// gets at that state when acting (`lm::chat::fit_prompt` within `prompt_budget`: oldest steps
/// dropped, omission note), then continues the conversation up to `cutoff`. Only the turns
/// after that prompt are targets; the first window is `render_examples`'s example.
pub fn render_windows(
    tok: &ChatTokenizer,
    system: &str,
    convs: &[Conversation],
    cutoff: usize,
    prompt_budget: usize,
) -> Result<(Vec<Example>, usize), LmError> {
    let mut out = Vec::new();
    let mut dropped = 0;
    for c in convs {
        let all = messages(system, c);
        // System and task, then one (assistant, user) pair per action; the last has no user.
        let actions = all.len().saturating_sub(1) / 2;
        if actions == 0 {
            dropped += 1;
            continue;
        }
        let mut j = 0;
        while j < actions {
            // The state before action j, as the policy gets it when acting.
            let history = &c.conversations[..1 + 2 * j];
            let mut msgs = fit_state(tok, system, history, prompt_budget)?.messages;
            let prompt_len = render(tok, &msgs, false)?.ids.len();
            msgs.extend_from_slice(&all[2 + 2 * j..]);
            let mut r = render(tok, &msgs, false)?;
            let truncated = r.ids.len() > cutoff;
            r.ids.truncate(cutoff);
            r.assistant_mask.truncate(cutoff);
            for m in r.assistant_mask.iter_mut().take(prompt_len) {
                *m = false;
            }
            // Assistant turns wholly inside the window: a span of targets closed before the cut.
            let mut whole = 0;
            let mut i = prompt_len;
            while i < r.ids.len() {
                if r.assistant_mask[i] {
                    while i < r.ids.len() && r.assistant_mask[i] {
                        i += 1;
                    }
                    if i < r.ids.len() || !truncated {
                        whole += 1;
                    }
                } else {
                    i += 1;
                }
            }
            if r.ids.len() >= 2 && r.assistant_mask[1..].iter().any(|&m| m) {
                out.push(Example {
                    ids: r.ids,
                    mask: r.assistant_mask,
                });
            } else if j == 0 {
                dropped += 1;
            }
            j += whole.max(1);
        }
    }
    Ok((out, dropped))
}

/// The texts a tokenizer is trained on: the system prompt, the role headers and every turn.
pub fn tokenizer_corpus(system: &str, convs: &[Conversation]) -> Vec<String> {
    let mut out = vec![system.to_string(), "system\nuser\nassistant\n".to_string()];
    out.extend(
        convs
            .iter()
            .flat_map(|c| c.conversations.iter().map(|t| t.value.clone())),
    );
    out
}
