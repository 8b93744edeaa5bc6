//! The HTTP receiver: Sipuni posts (or GETs) events to `/sipuni/events/{secret}`; each is
//! acknowledged with `{"success":true}` only after it is durably stored.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::health::Health;
use super::inbox::{Inbox, Stored};
use super::metrics::Metrics;
use super::vault::secret_hash;
use crate::clock::Clock;
use crate::engine::call::fingerprint;
use crate::sipuni::event::CallEvent;

/// Largest event accepted (query string or body).
pub(crate) const MAX_EVENT_BYTES: usize = 64 * 1024;

/// Where the events of one account go.
#[derive(Clone)]
pub(crate) struct Route {
    pub(crate) inbox: Inbox,
    pub(crate) metrics: Metrics,
}

/// The accounts served, by the SHA-256 of their secret path: one in a one-account deployment;
/// in a many-account one, changed as accounts are added, disabled or enabled.
pub(crate) type Routes = Arc<RwLock<HashMap<String, Route>>>;

/// What `/health` and `/metrics` answer.
pub(crate) trait Status: Send + Sync {
    /// The status code and the body of `/health`.
    fn health(&self, now_ms: i64) -> (u16, serde_json::Value);
    /// The Prometheus text of `/metrics`.
    fn metrics(&self) -> String;
}

/// The status of a one-account service.
pub(crate) struct OneAccount {
    pub(crate) health: Arc<Health>,
    pub(crate) metrics: Metrics,
}

impl Status for OneAccount {
    fn health(&self, now_ms: i64) -> (u16, serde_json::Value) {
        self.health.report(now_ms)
    }
    fn metrics(&self) -> String {
        self.metrics.render()
    }
}

#[derive(Clone)]
pub(crate) struct ReceiverState {
    pub(crate) routes: Routes,
    /// Counts what belongs to no account (an unknown secret).
    pub(crate) metrics: Metrics,
    pub(crate) clock: Clock,
    pub(crate) status: Arc<dyn Status>,
    /// Events older than this (by their own timestamp) are acknowledged but not stored: the
    /// store no longer remembers whether their call was handled.
    pub(crate) retention_ms: i64,
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

pub(crate) fn router(state: ReceiverState) -> Router {
    Router::new()
        .route("/sipuni/events/{secret}", get(event_get).post(event_post))
        .route(
            "/health",
            get(|State(s): State<ReceiverState>| async move {
                let (code, body) = s.status.health(s.clock.now_ms());
                answer(
                    StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                    body,
                )
            }),
        )
        .route("/metrics", get(metrics))
        .fallback(|| async {
            answer(
                StatusCode::NOT_FOUND,
                json!({ "success": false, "error": "not found" }),
            )
        })
        .layer(DefaultBodyLimit::max(MAX_EVENT_BYTES))
        .with_state(state)
}

async fn metrics(State(s): State<ReceiverState>) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.status.metrics(),
    )
        .into_response()
}

async fn event_get(
    State(s): State<ReceiverState>,
    Path(secret): Path<String>,
    RawQuery(q): RawQuery,
    method: Method,
) -> Response {
    // axum answers HEAD with the GET handler; a HEAD must never store an event.
    if method == Method::HEAD {
        return answer(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({ "success": false, "error": "send events with GET or POST" }),
        );
    }
    let raw = q.unwrap_or_default();
    receive(&s, &secret, raw.as_bytes()).await
}

async fn event_post(
    State(s): State<ReceiverState>,
    Path(secret): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // A form body; Sipuni may also POST with the fields in the query string.
    if body.is_empty() {
        let raw = q.unwrap_or_default();
        return receive(&s, &secret, raw.as_bytes()).await;
    }
    if !is_form(&headers) {
        s.metrics.event("unsupported_media_type");
        return answer(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            json!({ "success": false, "error": "send events as application/x-www-form-urlencoded (or in the query string), as Sipuni does" }),
        );
    }
    receive(&s, &secret, &body).await
}

/// A body without a type, or one typed as a form (any parameters, e.g. `charset=UTF-8`).
fn is_form(headers: &HeaderMap) -> bool {
    match headers.get(header::CONTENT_TYPE) {
        None => true,
        Some(v) => v.to_str().is_ok_and(|t| {
            t.split(';').next().is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        }),
    }
}

/// The route of a secret path (compared by its SHA-256: no secret is kept in memory).
fn route(s: &ReceiverState, secret: &str) -> Option<Route> {
    let hash = secret_hash(secret);
    s.routes
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&hash)
        .cloned()
}

async fn receive(s: &ReceiverState, secret: &str, raw: &[u8]) -> Response {
    let Some(to) = route(s, secret) else {
        s.metrics.event("unauthorized");
        return answer(
            StatusCode::NOT_FOUND,
            json!({ "success": false, "error": "not found" }),
        );
    };
    accept(s, &to, raw).await
}

/// Stores an event of an account, answering once it is durable.
async fn accept(s: &ReceiverState, to: &Route, raw: &[u8]) -> Response {
    if raw.len() > MAX_EVENT_BYTES {
        to.metrics.event("too_large");
        return answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({ "success": false, "error": format!("an event is at most {MAX_EVENT_BYTES} bytes") }),
        );
    }
    let event = match CallEvent::parse_bytes(raw) {
        Ok(e) => e,
        Err(e) => {
            to.metrics.event("malformed");
            tracing::warn!(error = %e, "malformed Sipuni event refused");
            return answer(
                StatusCode::BAD_REQUEST,
                json!({ "success": false, "error": e.to_string(), "field": e.field() }),
            );
        }
    };
    let now_ms = s.clock.now_ms();
    if event.timestamp.saturating_mul(1000) < now_ms.saturating_sub(s.retention_ms) {
        to.metrics.event("stale");
        tracing::warn!(
            call_id = event.call_id.as_str(),
            timestamp = event.timestamp,
            "an event older than the retention acknowledged and dropped: its call may already have been handled and forgotten"
        );
        return answer(StatusCode::OK, json!({ "success": true }));
    }
    let text = String::from_utf8_lossy(raw).into_owned();
    let call_id = event.call_id.as_str().to_string();
    match to
        .inbox
        .store(call_id.clone(), fingerprint(&event), text, now_ms)
        .await
    {
        Ok(Stored::New) => {
            to.metrics.event("stored");
            tracing::debug!(%call_id, kind = event.kind.code(), "event stored");
            answer(StatusCode::OK, json!({ "success": true }))
        }
        Ok(Stored::Duplicate) => {
            to.metrics.event("duplicate");
            answer(StatusCode::OK, json!({ "success": true }))
        }
        Err(e) => {
            to.metrics.event("store_failed");
            tracing::error!(%call_id, error = %e, "event not stored");
            answer(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "success": false, "error": "the event could not be stored; send it again" }),
            )
        }
    }
}
