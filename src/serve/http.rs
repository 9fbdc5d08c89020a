//! The HTTP face of [`Served`]: `GET /v1/models` and `POST /v1/chat/completions`. Bodies are
//! bounded, generation runs one request at a time off the async threads, and at most
//! `queue` requests wait for it; more get 429 with an OpenAI-style error body, as do malformed
//! requests (400), unknown paths (404) and oversized bodies (413).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::Semaphore;

use super::Served;
use super::openai::{ApiError, ChatRequest, ModelCard, ModelList};

/// Limits of a server.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Requests admitted at once (one generates, the rest wait).
    pub queue: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1 << 20,
            queue: 8,
        }
    }
}

struct AppState {
    served: Mutex<Served>,
    name: String,
    admitted: Semaphore,
    requests: AtomicU64,
    started: u64,
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        (status, Json(self.body())).into_response()
    }
}

async fn models(State(s): State<Arc<AppState>>) -> Json<ModelList> {
    Json(ModelList {
        object: "list",
        data: vec![ModelCard {
            id: s.name.clone(),
            object: "model",
            created: s.started,
            owned_by: "mlagent",
        }],
    })
}

async fn chat(
    State(s): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|e| ApiError {
        status: e.status().as_u16(),
        kind: "invalid_request_error",
        message: format!("the request body could not be read: {e}"),
        param: None,
        code: None,
    })?;
    let req: ChatRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::invalid(
            "(body)",
            format!("expected a chat-completions request: {e}"),
        )
    })?;
    let Ok(permit) = s.admitted.try_acquire() else {
        return Err(ApiError {
            status: 429,
            kind: "rate_limit_error",
            message: "too many requests in flight; retry later".into(),
            param: None,
            code: Some("rate_limit_exceeded"),
        });
    };
    let n = s.requests.fetch_add(1, Ordering::SeqCst);
    let state = Arc::clone(&s);
    let answer = tokio::task::spawn_blocking(move || {
        let served = state
            .served
            .lock()
            .expect("a generation never panics while holding the model");
        served.complete(&req, n, now_s())
    })
    .await
    .map_err(|e| ApiError {
        status: 500,
        kind: "server_error",
        message: format!("generation failed: {e}"),
        param: None,
        code: None,
    })?;
    drop(permit);
    Ok(Json(answer?).into_response())
}

async fn not_found() -> ApiError {
    ApiError {
        status: 404,
        kind: "invalid_request_error",
        message: "unknown path: this server answers GET /v1/models and POST /v1/chat/completions"
            .into(),
        param: None,
        code: Some("not_found"),
    }
}

/// The router over `served`.
pub fn router(served: Served, limits: Limits) -> Router {
    let state = Arc::new(AppState {
        name: served.name.clone(),
        served: Mutex::new(served),
        admitted: Semaphore::new(limits.queue.max(1)),
        requests: AtomicU64::new(0),
        started: now_s(),
    });
    Router::new()
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(chat))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .with_state(state)
}

/// Serves `served` on `addr` until `shutdown` resolves; `bound` is told the address actually
/// bound (port 0 picks a free one).
pub async fn serve(
    served: Served,
    addr: SocketAddr,
    limits: Limits,
    bound: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    bound(listener.local_addr()?);
    axum::serve(listener, router(served, limits))
        .with_graceful_shutdown(shutdown)
        .await
}
