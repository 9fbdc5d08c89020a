//! The API agent against a local stub endpoint: recorded answers replay without a request,
//! offline refuses what is not recorded, bad answers are invalid actions, 429 then 200 is a
//! success, a hung connection and persistent 5xx are errors naming the endpoint, and the key
//! is sent but never written.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use mlagent::agent::api::{ApiAgentConfig, ApiPolicy, Recording};
use mlagent::agent::conversation::Turn;
use mlagent::agent::policy::{Policy, PolicyInput};
use mlagent::env::Action;
use mlagent::seed::SeedPath;

const ACTION: &str = "Thought: done\nAction: Final Answer\nAction Input: train.py";
const KEY_VAR: &str = "MLAGENT_TEST_API_KEY";
const KEY: &str = "sk-test-7f3a9c1e5b2d4e6f8a0b";

#[derive(Default)]
struct Stub {
    calls: AtomicUsize,
    auth: Mutex<Vec<String>>,
}

async fn answer(
    State(s): State<Arc<Stub>>,
    UrlPath(scenario): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let n = s.calls.fetch_add(1, Ordering::SeqCst);
    if let Some(a) = headers.get("authorization") {
        s.auth
            .lock()
            .unwrap()
            .push(a.to_str().unwrap_or_default().to_string());
    }
    let ok = serde_json::json!({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ACTION}, "finish_reason": "stop"}]})
    .to_string();
    match scenario.as_str() {
        "ok" => (StatusCode::OK, ok).into_response(),
        "truncated" => (StatusCode::OK, "{\"choices\": [{\"mess").into_response(),
        "html" => (StatusCode::OK, "<html><body>502 Bad Gateway</body></html>").into_response(),
        "flaky" if n == 0 => (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response(),
        "flaky" => (StatusCode::OK, ok).into_response(),
        "hang" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            (StatusCode::OK, ok).into_response()
        }
        "down" => (StatusCode::INTERNAL_SERVER_ERROR, "<html>oops</html>").into_response(),
        _ => (StatusCode::NOT_FOUND, "no such scenario").into_response(),
    }
}

fn stub() -> (SocketAddr, Arc<Stub>) {
    let state = Arc::new(Stub::default());
    let app = Router::new()
        .route("/{scenario}/v1/chat/completions", post(answer))
        .with_state(Arc::clone(&state));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    (rx.recv().unwrap(), state)
}

fn config(addr: SocketAddr, scenario: &str) -> ApiAgentConfig {
    ApiAgentConfig {
        name: "stub".into(),
        column: None,
        base_url: format!("http://{addr}/{scenario}/v1"),
        model: "m".into(),
        api_key_env: Some(KEY_VAR.into()),
        temperature: 0.7,
        top_p: 1.0,
        max_tokens: 64,
        concurrency: 2,
        timeout_s: 1,
        retries: 2,
        backoff_ms: 10,
    }
}

fn act(policy: &mut ApiPolicy, seed: u64) -> Result<String, String> {
    let history = [Turn::human("Improve the script.")];
    let input = PolicyInput {
        task_id: "house-price",
        episode: 0,
        history: &history,
        knobs: &[],
    };
    policy
        .act(&input, &SeedPath::root(seed))
        .map(|o| o.text)
        .map_err(|e| e.to_string())
}

fn set_key() {
    // SAFETY: nextest runs each test in its own process, and no other thread reads the
    // environment while the test sets it.
    unsafe { std::env::set_var(KEY_VAR, KEY) };
}

#[test]
fn answers_are_recorded_replayed_and_refused_offline_when_missing() {
    set_key();
    let (addr, stub) = stub();
    let dir = tempfile::tempdir().unwrap();
    let rec = Recording::new(dir.path().join("api"));
    let mut online = ApiPolicy::new(config(addr, "ok"), rec.clone(), false).unwrap();
    assert_eq!(act(&mut online, 1).unwrap(), ACTION);
    assert_eq!(act(&mut online, 1).unwrap(), ACTION, "replayed");
    assert_eq!(online.sent, 1);
    assert_eq!(stub.calls.load(Ordering::SeqCst), 1);
    assert_eq!(stub.auth.lock().unwrap()[0], format!("Bearer {KEY}"));

    let mut offline = ApiPolicy::new(config(addr, "ok"), rec.clone(), true).unwrap();
    assert_eq!(act(&mut offline, 1).unwrap(), ACTION);
    let e = act(&mut offline, 2).unwrap_err();
    assert!(e.contains("offline") && e.contains("house-price"), "{e}");
    assert_eq!(
        stub.calls.load(Ordering::SeqCst),
        1,
        "offline never touches the network"
    );

    // The key was sent, and is nowhere on disk.
    for f in rec.files(dir.path()) {
        let text = std::fs::read_to_string(dir.path().join(&f)).unwrap();
        assert!(!text.contains(KEY), "{f} holds the key");
    }
}

#[test]
fn malformed_answers_are_invalid_actions() {
    set_key();
    let (addr, _) = stub();
    for scenario in ["truncated", "html"] {
        let dir = tempfile::tempdir().unwrap();
        let mut p =
            ApiPolicy::new(config(addr, scenario), Recording::new(dir.path()), false).unwrap();
        let text = act(&mut p, 1).unwrap();
        assert!(text.starts_with("[no action:"), "{scenario}: {text}");
        assert!(
            Action::parse(&text).is_err(),
            "{scenario}: parsed as an action"
        );
    }
}

#[test]
fn a_429_is_retried_and_a_hung_or_failing_endpoint_is_an_error_naming_it() {
    set_key();
    let (addr, stub) = stub();
    let dir = tempfile::tempdir().unwrap();
    let mut p = ApiPolicy::new(config(addr, "flaky"), Recording::new(dir.path()), false).unwrap();
    assert_eq!(act(&mut p, 1).unwrap(), ACTION);
    assert_eq!(stub.calls.load(Ordering::SeqCst), 2, "429, then 200");

    for (scenario, says) in [("hang", "gave up after 3 attempts"), ("down", "HTTP 500")] {
        let dir = tempfile::tempdir().unwrap();
        let mut p =
            ApiPolicy::new(config(addr, scenario), Recording::new(dir.path()), false).unwrap();
        let t = Instant::now();
        let e = act(&mut p, 1).unwrap_err();
        assert!(e.contains(&format!("http://{addr}/{scenario}/v1")), "{e}");
        assert!(e.contains(says), "{scenario}: {e}");
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "{scenario}: {:?}",
            t.elapsed()
        );
        assert!(
            Recording::new(dir.path()).files(dir.path()).is_empty(),
            "failures are not recorded"
        );
    }
}

#[test]
fn a_missing_key_is_an_error_naming_the_variable() {
    let (addr, _) = stub();
    let mut cfg = config(addr, "ok");
    cfg.api_key_env = Some("MLAGENT_TEST_NO_SUCH_KEY".into());
    let dir = tempfile::tempdir().unwrap();
    let mut p = ApiPolicy::new(cfg, Recording::new(dir.path()), false).unwrap();
    let e = act(&mut p, 1).unwrap_err();
    assert!(e.contains("MLAGENT_TEST_NO_SUCH_KEY"), "{e}");
}
