//! `mlagent serve`: any policy folder this project writes (or a Hugging Face Qwen2 folder)
//! behind an OpenAI-compatible chat-completions API, so other agent scaffolds can use our
//! policies as they use vLLM or llama.cpp's server. [`Served::complete`] answers one request;
//! [`http`] puts it on a socket with bounded bodies and a bounded queue.

pub mod http;
pub mod openai;
pub mod template;

use std::path::Path;

use burn::tensor::Device;

use crate::agent::lm_policy::TOKENIZER_FILE;
use crate::lm::chat::{Message, Role, stop_tokens};

/// The ids that end an answer: the ChatML stops when the tokenizer has them, and the model's
/// end-of-sequence token(s) from `generation_config.json` (`eos_token_id`) or
/// `tokenizer_config.json` (`eos_token`).
fn stop_ids(
    dir: &Path,
    tok: &tokenizers::Tokenizer,
    chat: Option<&ChatTokenizer>,
) -> Result<Vec<u32>, LmError> {
    let mut ids: Vec<u32> = chat.map(stop_tokens).unwrap_or_default();
    let read = |name: &str| -> Option<serde_json::Value> {
        let bytes = crate::provenance::files::read_bounded(&dir.join(name), 16 << 20).ok()?;
        serde_json::from_slice(&bytes).ok()
    };
    if let Some(g) = read("generation_config.json") {
        match g.get("eos_token_id") {
            Some(serde_json::Value::Number(n)) => ids.extend(n.as_u64().map(|x| x as u32)),
            Some(serde_json::Value::Array(a)) => {
                ids.extend(a.iter().filter_map(|x| x.as_u64()).map(|x| x as u32))
            }
            _ => {}
        }
    }
    if let Some(c) = read(template::TOKENIZER_CONFIG_FILE) {
        let eos = match c.get("eos_token") {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(serde_json::Value::Object(o)) => o
                .get("content")
                .and_then(|x| x.as_str())
                .map(str::to_string),
            _ => None,
        };
        ids.extend(eos.and_then(|e| tok.token_to_id(&e)));
    }
    let mut seen = std::collections::BTreeSet::new();
    ids.retain(|i| seen.insert(*i));
    if ids.is_empty() {
        return Err(LmError::Config(format!(
            "{}: no end-of-answer token: expected ChatML tokens in tokenizer.json, `eos_token_id` \
             in generation_config.json or `eos_token` in tokenizer_config.json",
            dir.display()
        )));
    }
    Ok(ids)
}
use crate::lm::generate::{SamplingConfig, generate_seeded};
use crate::lm::tokenizer::ChatTokenizer;
use crate::lm::{LmError, Qwen2, Qwen2Config, hf};
use crate::seed::SeedPath;
use openai::{
    ApiError, ChatCompletion, ChatRequest, Choice, ChoiceLogprobs, Content, ResponseMessage,
    TokenLogprob, Usage,
};
use template::ChatTemplate;

/// Most completions one request may ask for (`n`).
pub(crate) const MAX_N: u64 = 8;

/// A loaded model and what it needs to answer chat requests.
pub struct Served {
    /// The name `/v1/models` lists and answers carry.
    pub name: String,
    pub cfg: Qwen2Config,
    model: Qwen2,
    /// Encodes and decodes every model's text.
    tokenizer: tokenizers::Tokenizer,
    /// The same tokenizer with its ChatML tokens, when it has them (every policy this project
    /// writes, Qwen2.5): the built-in template needs them.
    chat: Option<ChatTokenizer>,
    /// Tokens that end an answer; the first also pads.
    stop: Vec<u32>,
    template: ChatTemplate,
    device: Device,
    /// sha256 of the weights: the `system_fingerprint` of every answer.
    fingerprint: String,
}

impl Served {
    /// Loads model folder `dir` (`config.json`, `model.safetensors` or shards, `tokenizer.json`,
    /// optionally `tokenizer_config.json` with a chat template) onto `device`.
    pub fn load(dir: &Path, name: Option<String>, device: Device) -> Result<Self, LmError> {
        let tok_path = dir.join(TOKENIZER_FILE);
        let bytes = crate::provenance::files::read_bounded(&tok_path, 1 << 30)
            .map_err(|e| LmError::io(&tok_path, e))?;
        let origin = tok_path.display().to_string();
        let tokenizer = tokenizers::Tokenizer::from_bytes(&bytes)
            .map_err(|e| LmError::Input(format!("tokenizer {origin}: {e}")))?;
        let chat = ChatTokenizer::from_json_bytes(&bytes, &origin).ok();
        let template = ChatTemplate::load(dir)?;
        if matches!(template, ChatTemplate::ChatMl) && chat.is_none() {
            return Err(LmError::Config(format!(
                "{}: no chat template: expected `chat_template` in {} or ChatML tokens in {origin}",
                dir.display(),
                template::TOKENIZER_CONFIG_FILE
            )));
        }
        let stop = stop_ids(dir, &tokenizer, chat.as_ref())?;
        let (cfg, model) = hf::load(dir, &device)?;
        let fingerprint = crate::provenance::Digest::of_bytes(&hf::weight_bytes(&model)).short(16);
        let name = name.unwrap_or_else(|| {
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "policy".into())
        });
        Ok(Self {
            name,
            cfg,
            model,
            tokenizer,
            chat,
            stop,
            template,
            device,
            fingerprint,
        })
    }

    fn messages(req: &ChatRequest) -> Result<Vec<Message>, ApiError> {
        if req.messages.is_empty() {
            return Err(ApiError::invalid(
                "messages",
                "expected at least one message",
            ));
        }
        req.messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let role = match m.role.as_str() {
                    "system" | "developer" => Role::System,
                    "user" => Role::User,
                    "assistant" => Role::Assistant,
                    other => {
                        return Err(ApiError::invalid(
                            &format!("messages[{i}].role"),
                            format!(
                                "role {other:?} is not supported: expected system, developer, \
                                 user or assistant"
                            ),
                        ));
                    }
                };
                let content = match &m.content {
                    None => String::new(),
                    Some(Content::Text(t)) => t.clone(),
                    Some(Content::Parts(parts)) => {
                        let mut text = String::new();
                        for (j, p) in parts.iter().enumerate() {
                            match (&*p.kind, &p.text) {
                                ("text", Some(t)) => text.push_str(t),
                                _ => {
                                    return Err(ApiError::invalid(
                                        &format!("messages[{i}].content[{j}]"),
                                        "only text parts are supported",
                                    ));
                                }
                            }
                        }
                        text
                    }
                };
                Ok(Message::new(role, content))
            })
            .collect()
    }

    /// Answers one chat-completions request. Sampling is seeded: the same request with the
    /// same `seed` gives the same answer; without one, `fallback_seed` names the stream.
    pub fn complete(
        &self,
        req: &ChatRequest,
        fallback_seed: u64,
        created: u64,
    ) -> Result<ChatCompletion, ApiError> {
        if req.stream == Some(true) {
            return Err(ApiError::invalid(
                "stream",
                "streaming is not supported: send stream=false",
            ));
        }
        if let Some(m) = &req.model
            && m != &self.name
        {
            return Err(ApiError {
                status: 404,
                kind: "invalid_request_error",
                message: format!(
                    "the model {m:?} does not exist: this server serves {:?}",
                    self.name
                ),
                param: Some("model".into()),
                code: Some("model_not_found"),
            });
        }
        let temperature = req.temperature.unwrap_or(1.0);
        if !(temperature.is_finite() && (0.0..=2.0).contains(&temperature)) {
            return Err(ApiError::invalid(
                "temperature",
                "expected a number in [0, 2]",
            ));
        }
        let top_p = req.top_p.unwrap_or(1.0);
        if !(top_p > 0.0 && top_p <= 1.0) {
            return Err(ApiError::invalid("top_p", "expected a number in (0, 1]"));
        }
        let n = req.n.unwrap_or(1);
        if n == 0 || n > MAX_N {
            return Err(ApiError::invalid("n", format!("expected 1 to {MAX_N}")));
        }
        if req.top_logprobs.is_some_and(|k| k > 0) {
            return Err(ApiError::invalid(
                "top_logprobs",
                "only the chosen token's log-prob is reported: expected 0 or absent",
            ));
        }
        let stops = req.stop.as_ref().map(|s| s.strings()).unwrap_or_default();
        if stops.len() > 4 || stops.iter().any(String::is_empty) {
            return Err(ApiError::invalid(
                "stop",
                "expected up to 4 non-empty strings",
            ));
        }
        let messages = Self::messages(req)?;
        let prompt = self
            .template
            .prompt_ids(self.chat.as_ref(), &self.tokenizer, &messages)
            .map_err(|e| ApiError::invalid("messages", e))?;
        let context = self.cfg.max_position_embeddings;
        if prompt.len() >= context {
            return Err(ApiError::invalid(
                "messages",
                format!(
                    "the prompt is {} tokens; this model's context is {context} tokens",
                    prompt.len()
                ),
            )
            .with_code("context_length_exceeded"));
        }
        let room = (context - prompt.len()) as u64;
        let max_tokens = req.max_completion_tokens.or(req.max_tokens).unwrap_or(room);
        if max_tokens == 0 || max_tokens > room {
            return Err(ApiError::invalid(
                "max_tokens",
                format!(
                    "expected 1 to {room} (the context of {context} tokens less the prompt's {})",
                    prompt.len()
                ),
            )
            .with_code("context_length_exceeded"));
        }
        let sampling = SamplingConfig {
            temperature,
            top_p,
            max_new_tokens: max_tokens as usize,
            stop_tokens: self.stop.clone(),
        };
        let root = match req.seed {
            Some(s) => SeedPath::root(s as u64).child("serve"),
            None => SeedPath::root(fallback_seed).child("serve-unseeded"),
        };
        let seeds: Vec<SeedPath> = (0..n).map(|i| root.child(i)).collect();
        let prompts = vec![prompt.clone(); n as usize];
        let gens = generate_seeded(
            &self.model,
            &prompts,
            &sampling,
            &seeds,
            self.stop[0],
            &self.device,
        )
        .map_err(|e| ApiError {
            status: 500,
            kind: "server_error",
            message: e.to_string(),
            param: None,
            code: None,
        })?;
        let mut choices = Vec::new();
        let mut completion_tokens = 0;
        for (index, g) in gens.into_iter().enumerate() {
            completion_tokens += g.tokens.len();
            let special = &sampling.stop_tokens;
            let body: Vec<u32> = g
                .tokens
                .iter()
                .copied()
                .filter(|t| !special.contains(t))
                .collect();
            let mut text = self
                .tokenizer
                .decode(&body, true)
                .map_err(|e| ApiError::invalid("messages", e.to_string()))?;
            let mut finish = if g.stopped { "stop" } else { "length" };
            if let Some(cut) = stops.iter().filter_map(|s| text.find(s.as_str())).min() {
                text.truncate(cut);
                finish = "stop";
            }
            let logprobs = if req.logprobs == Some(true) {
                let content = g
                    .tokens
                    .iter()
                    .zip(&g.sampled_logprobs)
                    .map(|(&t, &lp)| {
                        let token = self.tokenizer.decode(&[t], false).unwrap_or_default();
                        TokenLogprob {
                            bytes: token.as_bytes().to_vec(),
                            token,
                            logprob: lp,
                            top_logprobs: Vec::new(),
                        }
                    })
                    .collect();
                Some(ChoiceLogprobs { content })
            } else {
                None
            };
            choices.push(Choice {
                index,
                message: ResponseMessage {
                    role: "assistant",
                    content: text,
                },
                finish_reason: finish,
                logprobs,
            });
        }
        let id_digest = crate::provenance::Digest::of_bytes(
            format!("{created}/{fallback_seed}/{:?}", req.seed).as_bytes(),
        );
        Ok(ChatCompletion {
            id: format!("chatcmpl-{}", id_digest.short(24)),
            object: "chat.completion",
            created,
            model: self.name.clone(),
            choices,
            usage: Usage {
                prompt_tokens: prompt.len(),
                completion_tokens,
                total_tokens: prompt.len() + completion_tokens,
            },
            system_fingerprint: format!("fp_{}", self.fingerprint),
        })
    }
}
