//! `mlagent serve`: a policy folder behind the OpenAI chat-completions API. Raw HTTP checks the
//! contract's answers and errors; the official `openai` Python package (pip) gets a completion
//! from it. The Python part needs `openai` importable by `$MLAGENT_PYTHON` (default `python3`);
//! `.ci/run` installs it in a venv and sets `MLAGENT_REQUIRE_OPENAI=1`, which turns its absence
//! into a failure rather than a skip.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mlagent::lm::tokenizer::ChatTokenizer;
use mlagent::lm::{Qwen2, Qwen2Config, hf};
use mlagent::seed::SeedPath;
use serde_json::{Value, json};

/// A tiny policy folder laid out as the sft and rl stages write theirs.
fn policy_folder(dir: &Path) {
    let corpus: Vec<String> = (0..40)
        .map(|i| format!("Thought: try a learning rate of 0.{i}\nAction: Edit Script\nAction Input: lr = 0.{i}"))
        .collect();
    let tok = ChatTokenizer::train_bpe(&corpus, 320).unwrap();
    let cfg = Qwen2Config::tiny(tok.vocab_size());
    let device = burn::tensor::Device::flex();
    let model = Qwen2::init(&cfg, &SeedPath::root(7), &device).unwrap();
    hf::save(dir, &cfg, &model).unwrap();
    tok.save(&dir.join("tokenizer.json")).unwrap();
}

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path, extra: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mlagent"))
        .args(["serve", "--policy"])
        .arg(dir)
        .args(["--addr", "127.0.0.1:0", "--model-name", "ml-agent-tiny"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("serving ml-agent-tiny on http://")
        .and_then(|s| s.strip_suffix("/v1"))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    Server { child, addr }
}

/// One HTTP/1.1 request; returns the status and the parsed JSON body.
fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text.split_once("\r\n\r\n").map(|x| x.1).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn chat(addr: &str, req: &Value) -> (u16, Value) {
    http(
        addr,
        "POST",
        "/v1/chat/completions",
        req.to_string().as_bytes(),
    )
}

#[test]
fn serve_answers_the_chat_completions_contract_and_its_errors() {
    let dir = tempfile::tempdir().unwrap();
    policy_folder(dir.path());
    let server = start(dir.path(), &["--max-body-bytes", "4096"]);
    let addr = server.addr.as_str();

    let (status, models) = http(addr, "GET", "/v1/models", b"");
    assert_eq!(status, 200, "{models}");
    assert_eq!(models["data"][0]["id"], "ml-agent-tiny");

    let req = json!({
        "model": "ml-agent-tiny",
        "messages": [{"role": "system", "content": "You are an ML engineer."},
                     {"role": "user", "content": "Improve the script."}],
        "temperature": 0.7, "top_p": 1.0, "max_tokens": 12, "seed": 3, "n": 2, "logprobs": true
    });
    let (status, a) = chat(addr, &req);
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["object"], "chat.completion");
    assert_eq!(a["choices"].as_array().unwrap().len(), 2);
    let first = &a["choices"][0];
    assert!(first["message"]["content"].is_string());
    assert!(["stop", "length"].contains(&first["finish_reason"].as_str().unwrap()));
    let lp = first["logprobs"]["content"].as_array().unwrap();
    assert!(!lp.is_empty() && lp.iter().all(|t| t["logprob"].as_f64().unwrap() <= 0.0));
    assert_eq!(
        a["usage"]["total_tokens"].as_u64(),
        Some(
            a["usage"]["prompt_tokens"].as_u64().unwrap()
                + a["usage"]["completion_tokens"].as_u64().unwrap()
        )
    );
    // The same seed gives the same answers.
    let (_, b) = chat(addr, &req);
    assert_eq!(a["choices"], b["choices"]);

    // A stop string cuts the same seeded answer just before it.
    let long = json!({"messages": [{"role": "user", "content": "Improve the script."}],
                      "max_tokens": 40, "seed": 5, "temperature": 1.0});
    let (_, whole) = chat(addr, &long);
    let text = whole["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    let chars: Vec<char> = text.chars().collect();
    assert!(chars.len() >= 4, "a 40-token random answer: {text:?}");
    {
        let cut: String = chars[chars.len() / 2..chars.len() / 2 + 2].iter().collect();
        let mut with_stop = long.clone();
        with_stop["stop"] = json!([cut.clone()]);
        let (status, v) = chat(addr, &with_stop);
        assert_eq!(status, 200, "{v}");
        let stopped = v["choices"][0]["message"]["content"].as_str().unwrap();
        assert_eq!(stopped, &text[..text.find(&cut).unwrap()]);
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
    }

    // Errors: OpenAI's body shape, the parameter named, the right status.
    let error = |status: u16, v: &Value, param: &str| {
        assert!(v["error"]["message"].is_string(), "{v}");
        assert_eq!(v["error"]["param"], param, "{v}");
        assert!((400..500).contains(&status), "{status} {v}");
    };
    let (s, v) = http(addr, "POST", "/v1/chat/completions", b"{\"messages\": [");
    assert_eq!(s, 400);
    error(s, &v, "(body)");
    let (s, v) = chat(
        addr,
        &json!({"messages": [{"role": "tool", "content": "x"}]}),
    );
    error(s, &v, "messages[0].role");
    let (s, v) = chat(
        addr,
        &json!({"messages": [{"role": "user", "content": "x"}], "max_tokens": 100000}),
    );
    error(s, &v, "max_tokens");
    assert_eq!(v["error"]["code"], "context_length_exceeded");
    let (s, v) = chat(
        addr,
        &json!({"messages": [{"role": "user", "content": "x"}], "temperature": -1}),
    );
    error(s, &v, "temperature");
    let (s, v) = chat(
        addr,
        &json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}),
    );
    assert_eq!(s, 404);
    error(s, &v, "model");
    let (s, v) = chat(
        addr,
        &json!({"messages": [{"role": "user", "content": "x".repeat(10_000)}]}),
    );
    assert_eq!(s, 413, "{v}");
    assert!(v["error"]["message"].is_string(), "{v}");
    let (s, v) = http(addr, "GET", "/v1/nothing", b"");
    assert_eq!(s, 404);
    assert!(v["error"]["message"].is_string(), "{v}");
}

/// Every file below `dir`, recursively.
fn all_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            all_files(&e.path(), out);
        } else {
            out.push(e.path());
        }
    }
}

fn reproduce(store: &Path, experiment: &Path, extra: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mlagent"))
        .arg("--store")
        .arg(store)
        .args(["reproduce", "table1", "--experiment"])
        .arg(experiment)
        .args(extra)
        .env("MLAGENT_E2E_KEY", "sk-e2e-0d9c8b7a6f5e4d3c2b1a")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The smoke profile with `from` replaced by `to`, written into `dir`.
fn smoke_with(dir: &Path, name: &str, from: &str, to: &str) -> std::path::PathBuf {
    let smoke = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/smoke.ron"),
    )
    .unwrap();
    let text = smoke.replacen(from, to, 1);
    assert_ne!(text, smoke, "the smoke profile no longer holds {from:?}");
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The run folder of `stage` in `store` (the first, in a store holding one).
fn run_dir(store: &Path, stage: &str) -> std::path::PathBuf {
    std::fs::read_dir(store.join("runs").join(stage))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

/// Our own client evaluates an API agent served by `mlagent serve` on the smoke tasks; with the
/// server stopped, `--offline` replays the recorded answers to the same report digest, and the
/// API key is nowhere in the store.
#[test]
fn an_api_agent_served_by_mlagent_serve_is_evaluated_and_replays_offline() {
    let dir = tempfile::tempdir().unwrap();
    policy_folder(dir.path());
    let server = start(dir.path(), &[]);
    let agent = format!(
        r#"api_agents: [(name: "tiny-served", column: Some("qwen2.5-7b-instruct"), base_url: "http://{}/v1", model: "ml-agent-tiny", api_key_env: Some("MLAGENT_E2E_KEY"), temperature: 0.7, max_tokens: 48, concurrency: 2, timeout_s: 60)]"#,
        server.addr
    );
    let exp = smoke_with(
        dir.path(),
        "api-smoke.ron",
        "eval: (trajectories: 4, max_steps: Some(6)),",
        &format!("eval: (trajectories: 4, max_steps: Some(6), {agent}),"),
    );
    let store = tempfile::tempdir().unwrap();
    let (ok, out, err) = reproduce(store.path(), &exp, &[]);
    assert!(ok, "{out}\n{err}");
    let digest = out.lines().last().unwrap().to_string();
    assert!(digest.starts_with("report digest: "), "{out}");
    let reports: Vec<_> = std::fs::read_dir(store.path().join("runs/report"))
        .unwrap()
        .map(|e| e.unwrap().path().join("report.md"))
        .collect();
    let md = std::fs::read_to_string(&reports[0]).unwrap();
    assert!(
        md.contains("## Agents over an OpenAI-compatible API"),
        "{md}"
    );
    assert!(
        md.contains("| qwen2.5-7b-instruct | tiny-served | ml-agent-tiny | evaluated |"),
        "{md}"
    );
    assert!(md.contains("| gpt-4o | – | – | not run"), "{md}");

    // The server goes; the eval run is made incomplete, so it is redone from its recorded
    // answers, offline, to the same digest.
    drop(server);
    let eval_dir = run_dir(store.path(), "eval");
    let recorded = std::fs::read_dir(eval_dir.join("resume/api/tiny-served"))
        .unwrap()
        .count();
    assert!(recorded > 0);
    std::fs::remove_file(eval_dir.join("manifest.json")).unwrap();
    let (ok, out2, err2) = reproduce(store.path(), &exp, &["--offline"]);
    assert!(ok, "{out2}\n{err2}");
    assert_eq!(out2.lines().last().unwrap(), digest);

    // Offline without the recordings: an error naming the request, never a request.
    std::fs::remove_file(eval_dir.join("manifest.json")).unwrap();
    std::fs::remove_dir_all(eval_dir.join("resume/api")).unwrap();
    let (ok, _, err3) = reproduce(store.path(), &exp, &["--offline"]);
    assert!(!ok);
    assert!(
        err3.contains("offline: no recorded answer for request"),
        "{err3}"
    );

    let mut files = Vec::new();
    all_files(store.path(), &mut files);
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("sk-e2e-0d9c8b7a6f5e4d3c2b1a"),
            "{} holds the API key",
            f.display()
        );
    }
}

/// The API teacher: `mlagent run --until expert` with `expert.api` plays the expert's seats
/// through `mlagent serve`; its answers are content outputs, and offline they replay to the same
/// expert digest.
#[test]
fn an_api_teacher_writes_the_expert_trajectories_and_replays_offline() {
    let dir = tempfile::tempdir().unwrap();
    policy_folder(dir.path());
    let server = start(dir.path(), &[]);
    let teacher = format!(
        r#"ideas_per_episode: (1, 3), api: Some((name: "teacher", base_url: "http://{}/v1", model: "ml-agent-tiny", temperature: 1.0, max_tokens: 32)),"#,
        server.addr
    );
    let exp = smoke_with(
        dir.path(),
        "teacher-smoke.ron",
        "ideas_per_episode: (1, 3),",
        &teacher,
    );
    let store = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_mlagent"))
            .arg("--store")
            .arg(store.path())
            .args(["run", "--until", "expert", "--experiment"])
            .arg(&exp)
            .args(extra)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
            .lines()
            .find(|l| l.starts_with("expert"))
            .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
            .unwrap()
    };
    let digest = run(&[]);
    let expert_dir = run_dir(store.path(), "expert");
    let manifest = std::fs::read_to_string(expert_dir.join("manifest.json")).unwrap();
    assert!(
        manifest.contains("resume/api/teacher/"),
        "answers are outputs: {manifest}"
    );
    let lines = std::fs::read_to_string(expert_dir.join("trajectories.jsonl")).unwrap();
    assert!(!lines.is_empty());

    drop(server);
    std::fs::remove_file(expert_dir.join("manifest.json")).unwrap();
    assert_eq!(run(&["--offline"]), digest);
}

#[test]
fn the_official_openai_client_gets_a_completion() {
    let python = std::env::var("MLAGENT_PYTHON").unwrap_or_else(|_| "python3".into());
    let has_openai = Command::new(&python)
        .args(["-c", "import openai"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_openai {
        assert!(
            std::env::var("MLAGENT_REQUIRE_OPENAI").is_err(),
            "MLAGENT_REQUIRE_OPENAI is set but `{python} -c 'import openai'` fails"
        );
        eprintln!("skipped: the openai package is not importable by {python} (pip install openai)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    policy_folder(dir.path());
    let server = start(dir.path(), &[]);
    let script = format!(
        r#"
import json, openai
client = openai.OpenAI(base_url="http://{addr}/v1", api_key="not-needed", max_retries=0)
models = [m.id for m in client.models.list()]
r = client.chat.completions.create(
    model="ml-agent-tiny",
    messages=[{{"role": "user", "content": "Improve the script."}}],
    max_tokens=10, temperature=0.5, seed=11)
print(json.dumps({{"models": models, "content": r.choices[0].message.content,
                  "finish": r.choices[0].finish_reason, "usage": r.usage.total_tokens}}))
"#,
        addr = server.addr
    );
    let out = Command::new(&python)
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["models"], json!(["ml-agent-tiny"]));
    assert!(got["content"].is_string());
    assert!(got["usage"].as_u64().unwrap() > 0);
    // The client's answer is the server's seeded answer.
    let (_, raw) = chat(
        &server.addr,
        &json!({"model": "ml-agent-tiny", "messages": [{"role": "user", "content": "Improve the script."}],
                "max_tokens": 10, "temperature": 0.5, "seed": 11}),
    );
    assert_eq!(raw["choices"][0]["message"]["content"], got["content"]);
}

/// A Llama folder as transformers writes one: `model_type: "llama"`, no attention biases, a
/// tokenizer without ChatML tokens, its own Jinja chat template and `</s>` as end of sequence.
fn llama_folder(dir: &Path) {
    let words = [
        "hello",
        "world",
        "user",
        "assistant",
        "script",
        "improve",
        "the",
        "lr",
        "=",
        "0.1",
    ];
    let mut vocab = serde_json::Map::new();
    for (i, w) in ["<s>", "</s>", "[UNK]"]
        .iter()
        .chain(words.iter())
        .enumerate()
    {
        vocab.insert(w.to_string(), json!(i));
    }
    let special = |id: u32, content: &str| {
        json!({"id": id, "content": content, "single_word": false, "lstrip": false,
               "rstrip": false, "normalized": false, "special": true})
    };
    let tokenizer = json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": [special(0, "<s>"), special(1, "</s>")],
        "normalizer": null, "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": null, "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}
    });
    std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string()).unwrap();
    let template = "{{ bos_token }}{% for m in messages %}{{ m.role }} {{ m.content.strip() }} {% endfor %}{% if add_generation_prompt %}assistant {% endif %}";
    std::fs::write(
        dir.join("tokenizer_config.json"),
        json!({"chat_template": template, "bos_token": "<s>", "eos_token": "</s>"}).to_string(),
    )
    .unwrap();
    let mut cfg = Qwen2Config::tiny(13);
    cfg.attention_bias = false;
    cfg.tie_word_embeddings = false;
    let device = burn::tensor::Device::flex();
    let model = Qwen2::init(&cfg, &SeedPath::root(3), &device).unwrap();
    hf::save(dir, &cfg, &model).unwrap();
}

#[test]
fn a_llama_folder_is_served_with_its_own_template_and_scaled_rope_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    llama_folder(dir.path());
    let config = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    assert!(
        config.contains("\"model_type\": \"llama\"")
            && config.contains("\"attention_bias\": false")
    );
    {
        let server = start(dir.path(), &[]);
        let (status, v) = chat(
            &server.addr,
            &json!({"messages": [{"role": "user", "content": "improve the script"}],
                    "max_tokens": 6, "seed": 1}),
        );
        assert_eq!(status, 200, "{v}");
        assert!(v["choices"][0]["message"]["content"].is_string(), "{v}");
        // The prompt is the template's: <s> user improve the script assistant.
        assert_eq!(v["usage"]["prompt_tokens"], 6, "{v}");
    }
    // Llama 3.1's scaled RoPE (transformers 4 and 5 spellings) is refused naming the type.
    for scaled in [
        config.replace("\"rope_scaling\": null", "\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0}"),
        config.replace(
            "\"rope_theta\": 1000000.0",
            "\"rope_parameters\": {\"rope_theta\": 500000.0, \"rope_type\": \"llama3\", \"factor\": 8.0}",
        ),
    ] {
        assert_ne!(scaled, config);
        std::fs::write(dir.path().join("config.json"), &scaled).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_mlagent"))
            .args(["serve", "--addr", "127.0.0.1:0", "--policy"])
            .arg(dir.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(err.contains("llama3") && err.contains("not implemented"), "{err}");
    }
}
