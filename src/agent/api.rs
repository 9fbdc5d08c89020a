//! An agent driven by any LLM behind an OpenAI-compatible chat-completions endpoint (vLLM,
//! SGLang, llama.cpp's server, Ollama, hosted APIs, or `mlagent serve`). It reads the same
//! prompt every agent reads (`agent::prompt`: system, task turn, then its actions and the
//! feedback) and its answer goes through the same action parser.
//!
//! **Record and replay.** Every request is canonicalised and hashed; the answer's body is kept
//! under that digest in a [`Recording`] folder, which a stage lists as content outputs, so the
//! report's digest covers every answer and a rerun makes no request. Offline, a missing answer
//! is an error naming the request. The API key is read from the environment at request time
//! and is never part of a request's digest, a recording, a config or a log.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::conversation::{Role, Turn};
use super::policy::{Policy, PolicyError, PolicyInput, PolicyOutput};
use super::prompt;
use crate::provenance::{Digest, atomic, digest_of, files};
use crate::seed::SeedPath;

/// Largest answer body kept (a chat completion of a few thousand tokens is tens of kB).
const MAX_BODY: u64 = 8 << 20;

fn one() -> f64 {
    1.0
}
fn four() -> usize {
    4
}
fn timeout_default() -> u64 {
    120
}
fn retries_default() -> u32 {
    5
}
fn backoff_default() -> u64 {
    500
}

/// One API agent of an experiment: where it is served and how it samples. The transport
/// settings (key variable, concurrency, timeout, retries, backoff) do not change an answer, so
/// they are not serialised: they are no part of a run's key or config digest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiAgentConfig {
    /// The agent's id in results (`[a-z0-9-]`, e.g. `qwen2.5-7b-instruct-vllm`).
    pub name: String,
    /// The paper's Table 1 column this agent stands for (`qwen2.5-7b-instruct`, `gpt-4o`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// The endpoint's base URL, up to `/v1` (e.g. `http://127.0.0.1:8000/v1`).
    pub base_url: String,
    /// The model name the endpoint serves.
    pub model: String,
    /// Name of the environment variable holding the API key (read at request time, never
    /// stored); `None` for endpoints without keys.
    #[serde(default, skip_serializing)]
    pub api_key_env: Option<String>,
    pub temperature: f64,
    #[serde(default = "one")]
    pub top_p: f64,
    /// Longest answer, in the endpoint's tokens.
    pub max_tokens: u32,
    /// Requests in flight at once.
    #[serde(default = "four", skip_serializing)]
    pub concurrency: usize,
    /// Seconds before a request is abandoned (and retried).
    #[serde(default = "timeout_default", skip_serializing)]
    pub timeout_s: u64,
    /// Retries of a request that timed out or got 429 / 5xx.
    #[serde(default = "retries_default", skip_serializing)]
    pub retries: u32,
    /// First retry's delay in milliseconds; each retry doubles it.
    #[serde(default = "backoff_default", skip_serializing)]
    pub backoff_ms: u64,
}

impl ApiAgentConfig {
    /// Checks the settings; `Err((field, message))` with the field relative to the agent.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |f: &str, m: &str| Err((f.to_string(), m.to_string()));
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        {
            return bad("name", "expected a non-empty id of a-z, 0-9, '-' and '.'");
        }
        let url = reqwest::Url::parse(&self.base_url);
        if !url.is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
            return bad(
                "base_url",
                "expected an http(s) URL such as http://127.0.0.1:8000/v1",
            );
        }
        if self.model.is_empty() {
            return bad("model", "expected the model name the endpoint serves");
        }
        if let Some(k) = &self.api_key_env
            && (k.is_empty() || k.contains('='))
        {
            return bad(
                "api_key_env",
                "expected the name of an environment variable (the key itself never goes in a config)",
            );
        }
        if !(self.temperature.is_finite() && (0.0..=2.0).contains(&self.temperature)) {
            return bad("temperature", "expected a number in [0, 2]");
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("top_p", "expected a number in (0, 1]");
        }
        if self.max_tokens == 0 {
            return bad("max_tokens", "expected at least 1");
        }
        if self.concurrency == 0 || self.concurrency > 256 {
            return bad("concurrency", "expected 1 to 256");
        }
        if self.timeout_s == 0 {
            return bad("timeout_s", "expected at least 1");
        }
        if self.retries > 20 {
            return bad("retries", "expected at most 20");
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(
        "offline: no recorded answer for request {digest} of agent {agent} ({what}); run once \
         online to record it"
    )]
    Offline {
        agent: String,
        digest: Digest,
        what: String,
    },
    #[error("{endpoint}: {message}")]
    Endpoint { endpoint: String, message: String },
    #[error("recording {path}: {message}")]
    Recording { path: PathBuf, message: String },
    #[error("agent {agent}: environment variable {var} (its API key) is not set")]
    MissingKey { agent: String, var: String },
}

/// The request body sent for one decision. Its canonical digest names the answer in the
/// recording; the key and the URL are not part of it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct ChatBody {
    pub model: String,
    pub messages: Vec<BodyMessage>,
    pub temperature: f64,
    pub top_p: f64,
    pub max_tokens: u32,
    pub seed: u32,
    pub n: u32,
    pub stream: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BodyMessage {
    pub role: &'static str,
    pub content: String,
}

impl ChatBody {
    pub fn digest(&self) -> Digest {
        digest_of(self).expect("a chat body's numbers are validated finite")
    }
}

/// The messages of a state: the system prompt, the task, then (action, feedback) pairs.
pub fn messages(system: &str, history: &[Turn]) -> Vec<BodyMessage> {
    let mut out = vec![BodyMessage {
        role: "system",
        content: system.to_string(),
    }];
    out.extend(history.iter().map(|t| BodyMessage {
        role: match t.from {
            Role::Human => "user",
            Role::Gpt => "assistant",
        },
        content: t.value.clone(),
    }));
    out
}

/// The answer's action text, or why the body is not a chat completion: a malformed answer is
/// the agent's invalid action, not a failure of the run.
pub fn action_text(body: &[u8]) -> Result<String, String> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| format!("the endpoint's answer is not JSON ({e})"))?;
    v.get("choices")
        .and_then(|c| c.get(0))
        .and_then(|c| c.get("message"))
        .and_then(|m| m.get("content"))
        .and_then(|c| c.as_str())
        .map(str::to_string)
        .ok_or_else(|| "the endpoint's answer has no choices[0].message.content".to_string())
}

/// The answers of an agent, one file per request digest (`<digest>.json`), written atomically.
#[derive(Clone, Debug)]
pub struct Recording {
    dir: PathBuf,
}

impl Recording {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn path(&self, d: &Digest) -> PathBuf {
        self.dir.join(format!("{}.json", d.to_hex()))
    }

    pub fn get(&self, d: &Digest) -> Result<Option<Vec<u8>>, ApiError> {
        let p = self.path(d);
        if std::fs::symlink_metadata(&p).is_err() {
            return Ok(None);
        }
        files::read_bounded(&p, MAX_BODY)
            .map(Some)
            .map_err(|e| ApiError::Recording {
                path: p,
                message: e.to_string(),
            })
    }

    pub(crate) fn put(&self, d: &Digest, body: &[u8]) -> Result<(), ApiError> {
        let wrap = |message: String| ApiError::Recording {
            path: self.dir.clone(),
            message,
        };
        std::fs::create_dir_all(&self.dir).map_err(|e| wrap(e.to_string()))?;
        atomic::write(&self.path(d), body).map_err(|e| wrap(e.to_string()))
    }

    /// Every recorded answer, as `/`-separated paths relative to `root` (content outputs).
    pub fn files(&self, root: &Path) -> Vec<String> {
        let mut out: Vec<String> = files::list_files(&self.dir)
            .unwrap_or_default()
            .into_iter()
            .map(|rel| files::relative(root, &self.dir.join(rel)))
            .collect();
        out.sort();
        out
    }
}

/// An agent answering through an OpenAI-compatible endpoint.
pub struct ApiPolicy {
    cfg: ApiAgentConfig,
    recording: Recording,
    offline: bool,
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
    /// Requests actually sent (not replayed), for tests and logs.
    pub sent: usize,
    /// Per episode of a batch, text appended to the system prompt (a teacher's ideas).
    episode_notes: Vec<String>,
    /// The environment's system prompt (`agent::environment`); the workbench's unless set.
    system: &'static str,
}

impl ApiPolicy {
    /// `offline`: never touch the network; a missing answer is an error.
    pub fn new(cfg: ApiAgentConfig, recording: Recording, offline: bool) -> Result<Self, ApiError> {
        let endpoint = |message: String| ApiError::Endpoint {
            endpoint: cfg.base_url.clone(),
            message,
        };
        cfg.validate()
            .map_err(|(f, m)| endpoint(format!("field `{f}`: {m}")))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| endpoint(format!("starting the async runtime: {e}")))?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.timeout_s))
            .build()
            .map_err(|e| endpoint(format!("building the HTTP client: {e}")))?;
        Ok(Self {
            cfg,
            recording,
            offline,
            runtime,
            client,
            sent: 0,
            episode_notes: Vec::new(),
            system: prompt::SYSTEM,
        })
    }

    /// Acts with `system` as the system prompt (the one its environment states).
    pub fn with_system(mut self, system: &'static str) -> Self {
        self.system = system;
        self
    }

    /// Gives episode `i` of every batch the extra system text `notes[i]` (e.g. the ideas an
    /// enriched teacher starts from). The conversation the episode records stays the common
    /// one: the notes are the teacher's, not the student's.
    pub(crate) fn with_episode_notes(mut self, notes: Vec<String>) -> Self {
        self.episode_notes = notes;
        self
    }

    fn body(&self, input: &PolicyInput<'_>, seed: &SeedPath) -> ChatBody {
        use rand::Rng as _;
        let mut messages = messages(self.system, input.history);
        if let Some(note) = self
            .episode_notes
            .get(input.episode)
            .filter(|n| !n.is_empty())
        {
            messages[0].content.push_str("\n\n");
            messages[0].content.push_str(note);
        }
        ChatBody {
            model: self.cfg.model.clone(),
            messages,
            temperature: self.cfg.temperature,
            top_p: self.cfg.top_p,
            max_tokens: self.cfg.max_tokens,
            seed: seed.rng().random::<u32>(),
            n: 1,
            stream: false,
        }
    }

    fn url(&self) -> String {
        format!(
            "{}/chat/completions",
            self.cfg.base_url.trim_end_matches('/')
        )
    }
}

/// Sends `body` with retries on timeouts, 429 and 5xx; returns the 2xx answer's bytes.
async fn send(
    client: reqwest::Client,
    cfg: Arc<ApiAgentConfig>,
    url: String,
    body: Vec<u8>,
) -> Result<Vec<u8>, ApiError> {
    let endpoint = |message: String| ApiError::Endpoint {
        endpoint: url.clone(),
        message,
    };
    let mut last = String::new();
    for attempt in 0..=cfg.retries {
        if attempt > 0 {
            let ms = cfg.backoff_ms.saturating_mul(1 << (attempt - 1).min(10));
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        let mut req = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(var) = &cfg.api_key_env {
            let key = std::env::var(var).map_err(|_| ApiError::MissingKey {
                agent: cfg.name.clone(),
                var: var.clone(),
            })?;
            req = req.bearer_auth(key);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() || e.is_connect() || e.is_request() => {
                last = format!("attempt {}: {}", attempt + 1, describe(e));
                continue;
            }
            Err(e) => return Err(endpoint(describe(e))),
        };
        let status = resp.status();
        let bytes = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => {
                last = format!(
                    "attempt {}: reading the answer: {}",
                    attempt + 1,
                    describe(e)
                );
                continue;
            }
        };
        if status.is_success() {
            if bytes.len() as u64 > MAX_BODY {
                return Err(endpoint(format!(
                    "answer of {} bytes, more than {MAX_BODY}",
                    bytes.len()
                )));
            }
            return Ok(bytes.to_vec());
        }
        let snippet: String = String::from_utf8_lossy(&bytes).chars().take(200).collect();
        if status.as_u16() == 429 || status.is_server_error() {
            last = format!("attempt {}: HTTP {status}: {snippet}", attempt + 1);
            continue;
        }
        return Err(endpoint(format!("HTTP {status}: {snippet}")));
    }
    Err(endpoint(format!(
        "gave up after {} attempts; last: {last}",
        cfg.retries + 1
    )))
}

/// A transport error with its causes, without the URL: the endpoint is named once by
/// [`ApiError::Endpoint`], and a URL's query may carry credentials.
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut e2 = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(&e);
    while let Some(s) = source {
        if !e2.is_empty() {
            e2.push_str(": ");
        }
        e2.push_str(&s.to_string());
        source = s.source();
    }
    e2
}

impl Policy for ApiPolicy {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    fn act(
        &mut self,
        input: &PolicyInput<'_>,
        seed: &SeedPath,
    ) -> Result<PolicyOutput, PolicyError> {
        Ok(self
            .act_batch(std::slice::from_ref(input), std::slice::from_ref(seed))?
            .remove(0))
    }

    /// Replays what is recorded; sends the rest, `concurrency` at a time, and records them.
    fn act_batch(
        &mut self,
        inputs: &[PolicyInput<'_>],
        seeds: &[SeedPath],
    ) -> Result<Vec<PolicyOutput>, PolicyError> {
        let fail = |e: ApiError| PolicyError::Failed {
            policy: self.cfg.name.clone(),
            message: e.to_string(),
        };
        let bodies: Vec<ChatBody> = inputs
            .iter()
            .zip(seeds)
            .map(|(i, s)| self.body(i, s))
            .collect();
        let mut answers: Vec<Option<Vec<u8>>> = Vec::with_capacity(bodies.len());
        for b in &bodies {
            answers.push(self.recording.get(&b.digest()).map_err(fail)?);
        }
        let missing: Vec<usize> = (0..bodies.len())
            .filter(|&i| answers[i].is_none())
            .collect();
        if let Some(&first) = missing.first() {
            if self.offline {
                let last_user = bodies[first]
                    .messages
                    .last()
                    .map(|m| m.content.chars().take(60).collect::<String>())
                    .unwrap_or_default();
                return Err(fail(ApiError::Offline {
                    agent: self.cfg.name.clone(),
                    digest: bodies[first].digest(),
                    what: format!("task {}, last message {last_user:?}", inputs[first].task_id),
                }));
            }
            let cfg = Arc::new(self.cfg.clone());
            let url = self.url();
            let limit = Arc::new(tokio::sync::Semaphore::new(self.cfg.concurrency));
            let jobs: Vec<_> = missing
                .iter()
                .map(|&i| {
                    let body = serde_json::to_vec(&bodies[i]).expect("a chat body serialises");
                    let (client, cfg, url, limit) = (
                        self.client.clone(),
                        Arc::clone(&cfg),
                        url.clone(),
                        Arc::clone(&limit),
                    );
                    async move {
                        let _permit = limit
                            .acquire_owned()
                            .await
                            .expect("the semaphore is never closed");
                        send(client, cfg, url, body).await
                    }
                })
                .collect();
            let results = self.runtime.block_on(async {
                let mut handles = Vec::new();
                for j in jobs {
                    handles.push(tokio::spawn(j));
                }
                let mut out = Vec::new();
                for h in handles {
                    out.push(h.await);
                }
                out
            });
            for (&i, r) in missing.iter().zip(results) {
                let bytes = r
                    .map_err(|e| PolicyError::Failed {
                        policy: self.cfg.name.clone(),
                        message: format!("request task failed: {e}"),
                    })?
                    .map_err(fail)?;
                self.recording
                    .put(&bodies[i].digest(), &bytes)
                    .map_err(fail)?;
                self.sent += 1;
                answers[i] = Some(bytes);
            }
        }
        Ok(answers
            .into_iter()
            .map(|a| {
                let bytes = a.expect("every answer was replayed or fetched");
                let text = action_text(&bytes).unwrap_or_else(|why| format!("[no action: {why}]"));
                PolicyOutput { text, tokens: None }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(name: &str, api_key_env: Option<&str>) -> ApiAgentConfig {
        ApiAgentConfig {
            name: name.into(),
            column: None,
            base_url: "http://127.0.0.1:1/v1".into(),
            model: "m".into(),
            api_key_env: api_key_env.map(str::to_string),
            temperature: 0.5,
            top_p: 1.0,
            max_tokens: 8,
            concurrency: 1,
            timeout_s: 1,
            retries: 0,
            backoff_ms: 1,
        }
    }

    #[test]
    fn malformed_answers_become_invalid_actions_not_errors() {
        assert_eq!(
            action_text(br#"{"choices":[{"message":{"content":"Thought: x"}}]}"#).unwrap(),
            "Thought: x"
        );
        for bad in [
            &b"{\"choices\": [{\"mess"[..],
            b"<html>502 Bad Gateway</html>",
            b"{}",
        ] {
            assert!(action_text(bad).is_err());
        }
    }

    #[test]
    fn an_episodes_notes_reach_its_system_prompt_only() {
        let cfg = config("teacher", None);
        let d = tempfile::tempdir().unwrap();
        let p = ApiPolicy::new(cfg, Recording::new(d.path()), true)
            .unwrap()
            .with_episode_notes(vec![String::new(), "Ideas: lr = 0.1".into()]);
        let history = [Turn::human("task")];
        let input = |episode| PolicyInput {
            task_id: "t",
            episode,
            history: &history,
            knobs: &[],
        };
        let seed = SeedPath::root(1);
        assert!(
            !p.body(&input(0), &seed).messages[0]
                .content
                .contains("Ideas")
        );
        let b1 = p.body(&input(1), &seed);
        assert!(b1.messages[0].content.ends_with("\n\nIdeas: lr = 0.1"));
        assert_eq!(
            b1.messages[1].content, "task",
            "the recorded conversation is the common one"
        );
    }

    #[test]
    fn the_key_is_never_part_of_a_request() {
        let cfg = config("x", Some("MLAGENT_TEST_KEY"));
        assert!(cfg.validate().is_ok());
        let body = ChatBody {
            model: cfg.model.clone(),
            messages: messages(prompt::SYSTEM, &[Turn::human("task")]),
            temperature: 0.5,
            top_p: 1.0,
            max_tokens: 8,
            seed: 1,
            n: 1,
            stream: false,
        };
        let text = serde_json::to_string(&body).unwrap();
        assert!(!text.contains("MLAGENT_TEST_KEY"));
        let mut bad = cfg.clone();
        bad.api_key_env = Some("sk-abc=1".into());
        assert!(bad.validate().unwrap_err().0 == "api_key_env");
    }
}
