//! The HTTP receiver: Sipuni posts (or GETs) events to `/sipuni/events/{secret}`. Every request
//! on a secret path that fits the limits is durably stored, then acknowledged with
//! `{"success":true}` (R-WIRE): an event for the engine, or, when it is no event the engine can
//! use (an unknown kind, an empty settings-save ping, a body of another type, broken encoding),
//! a request kept aside with its reason for `sipamo calls kept`.

use crate::server::store::Backend;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::health::Health;
use super::inbox::{Inbox, Stored};
use super::metrics::Metrics;
use crate::clock::Clock;
use crate::server::fleet::vault::secret_hash;
use crate::server::store::NewKept;
use crate::sipuni::event::{CallEvent, EventError};

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

/// The answer of [`Status::unrouted`], to be awaited.
pub(crate) type Unrouted<'a> = std::pin::Pin<Box<dyn Future<Output = Option<String>> + Send + 'a>>;

/// What `/health` and `/metrics` answer.
pub(crate) trait Status: Send + Sync {
    /// The status code and the body of `/health`.
    fn health(&self, now_ms: i64) -> (u16, serde_json::Value);
    /// The Prometheus text of `/metrics`.
    fn metrics(&self) -> String;
    /// Why a secret path with no route might still be an account's (then answered 503, not
    /// 404): the accounts cannot be read, or the account is starting (it may ask the database).
    fn unrouted<'a>(&'a self, _secret_hash: &'a str) -> Unrouted<'a> {
        Box::pin(std::future::ready(None))
    }
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
    /// The database `/health` checks with a deadline: a replica that cannot reach it cannot
    /// acknowledge events, and says so.
    pub(crate) db: Option<crate::server::store::DbUrl>,
    /// The connection those checks use, opened at the first and kept (dropped after a failure).
    pub(crate) health_db: Arc<tokio::sync::Mutex<Option<crate::server::store::Db>>>,
}

/// How long `/health` waits for the database.
pub(crate) const HEALTH_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

/// Why the database cannot be used now, if it cannot: an error, or no answer within
/// [`HEALTH_DEADLINE`] (a frozen connection).
async fn database_down(
    db: Option<crate::server::store::DbUrl>,
    conn: Arc<tokio::sync::Mutex<Option<crate::server::store::Db>>>,
) -> Option<String> {
    let db = db?;
    let shown = db.to_string();
    let probe = tokio::spawn(async move {
        // A check still stuck on a frozen connection holds this lock: the next one waits here
        // and times out too, until the database answers again.
        let mut held = conn.lock().await;
        if held.is_none() {
            *held = Some(crate::server::store::Db::open(&db).await?);
        }
        let result = match held.as_ref() {
            Some(db) => db.ping().await,
            None => Ok(()),
        };
        if result.is_err() {
            *held = None;
        }
        result
    });
    match tokio::time::timeout(HEALTH_DEADLINE, probe).await {
        Ok(Ok(Ok(()))) => None,
        Ok(Ok(Err(e))) => Some(format!("the database cannot be used: {e}")),
        Ok(Err(e)) => Some(format!("the database check failed: {e}")),
        Err(_) => Some(format!(
            "the database {shown} did not answer within {} s: events cannot be acknowledged",
            HEALTH_DEADLINE.as_secs()
        )),
    }
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
                if let Some(why) = database_down(s.db.clone(), s.health_db.clone()).await {
                    return answer(
                        StatusCode::SERVICE_UNAVAILABLE,
                        json!({ "status": "down", "reason": why }),
                    );
                }
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
    receive(&s, &secret, raw.as_bytes(), None).await
}

async fn event_post(
    State(s): State<ReceiverState>,
    Path(secret): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => return body_refused(&s, &secret, &e).await,
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    // A form body; Sipuni may also POST with the fields in the query string.
    if body.is_empty() {
        let raw = q.unwrap_or_default();
        return receive(&s, &secret, raw.as_bytes(), content_type).await;
    }
    receive(&s, &secret, &body, content_type).await
}

/// A body that could not be read: over the limit (413), or cut off by the client.
async fn body_refused(s: &ReceiverState, secret: &str, e: &BytesRejection) -> Response {
    if route(s, secret).is_none() {
        return not_found(s, secret).await;
    }
    let status = e.status();
    let error = if status == StatusCode::PAYLOAD_TOO_LARGE {
        format!("an event is at most {MAX_EVENT_BYTES} bytes")
    } else {
        "the request body could not be read; send it again".to_string()
    };
    answer(status, json!({ "success": false, "error": error }))
}

/// A body without a type, or one typed as a form (any parameters, e.g. `charset=UTF-8`).
fn is_form(content_type: Option<&str>) -> bool {
    content_type.is_none_or(|t| {
        t.split(';').next().is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    })
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

/// No route: 404, unless the path may be an account's that is not served yet (503). The check
/// may ask the database (an account added a moment ago).
async fn not_found(s: &ReceiverState, secret: &str) -> Response {
    let hash = secret_hash(secret);
    let unrouted = s.status.unrouted(&hash).await;
    if let Some(why) = unrouted {
        s.metrics.event("unavailable");
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "success": false, "error": why }),
        );
    }
    s.metrics.event("unauthorized");
    answer(
        StatusCode::NOT_FOUND,
        json!({ "success": false, "error": "not found" }),
    )
}

/// R-WIRE: every request on a secret path is stored before it is answered — an event for the
/// engine, or, when it is no event the engine can use, kept aside with its reason; only a body
/// over the size limit is refused.
async fn receive(
    s: &ReceiverState,
    secret: &str,
    raw: &[u8],
    content_type: Option<String>,
) -> Response {
    let Some(to) = route(s, secret) else {
        return not_found(s, secret).await;
    };
    if raw.len() > MAX_EVENT_BYTES {
        to.metrics.event("too_large");
        return answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({ "success": false, "error": format!("an event is at most {MAX_EVENT_BYTES} bytes") }),
        );
    }
    let parsed = if is_form(content_type.as_deref()) {
        parse_with_time(raw, s.clock.now_ms()).map_err(|e| (e.reason(), e.to_string()))
    } else {
        Err((
            "content_type",
            "the body is not application/x-www-form-urlencoded; kept as received".to_string(),
        ))
    };
    match parsed {
        Ok((event, raw)) => accept(s, &to, &raw, event).await,
        Err((reason, detail)) => {
            let kept = NewKept {
                reason,
                detail: printable(&detail),
                content_type: content_type.map(|t| printable(&t)),
                raw: raw.to_vec(),
                received_ms: s.clock.now_ms(),
            };
            keep(&to, kept).await
        }
    }
}

/// An event and the text to store for it. An event without `timestamp` is taken as sent when
/// it arrived, and stored so (R-WIRE: a field in an unexpected form loses nothing).
fn parse_with_time(
    raw: &[u8],
    now_ms: i64,
) -> Result<(CallEvent, std::borrow::Cow<'_, [u8]>), EventError> {
    match CallEvent::parse_bytes(raw) {
        Ok(event) => Ok((event, std::borrow::Cow::Borrowed(raw))),
        Err(EventError::Missing { field: "timestamp" }) => {
            let mut timed = raw.to_vec();
            timed.extend_from_slice(format!("&timestamp={}", now_ms.div_euclid(1000)).as_bytes());
            match CallEvent::parse_bytes(&timed) {
                Ok(event) => Ok((event, std::borrow::Cow::Owned(timed))),
                // `timestamp=0` or empty: a time was given, and it says nothing.
                Err(EventError::Conflict { field, .. }) if field == "timestamp" => {
                    Err(EventError::Missing { field: "timestamp" })
                }
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// Keeps a request that is no usable event, answering once it is durable (R-WIRE).
async fn keep(to: &Route, kept: NewKept) -> Response {
    let reason = kept.reason;
    match to.inbox.keep(kept).await {
        Ok(_) => {
            to.metrics.event("kept");
            to.metrics.kept(reason);
            tracing::warn!(
                reason,
                "a request that is no usable event was acknowledged and kept aside (sipamo calls kept)"
            );
            answer(StatusCode::OK, json!({ "success": true }))
        }
        Err(e) => store_failed(to, "", &e),
    }
}

fn store_failed(to: &Route, call_id: &str, e: &crate::server::error::ServeError) -> Response {
    to.metrics.event("store_failed");
    tracing::error!(%call_id, error = %e, "request not stored");
    answer(
        StatusCode::SERVICE_UNAVAILABLE,
        json!({ "success": false, "error": "the event could not be stored; send it again" }),
    )
}

/// Text safe for any database column: control characters (NUL among them, which PostgreSQL
/// text refuses) written as `%XX`. A form-encoded request decodes the same after this.
pub(crate) fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && u32::from(c) < 0x80 {
            out.push_str(&format!("%{:02X}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// Stores an event of an account, answering once it is durable.
async fn accept(s: &ReceiverState, to: &Route, raw: &[u8], event: CallEvent) -> Response {
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
    let text = printable(&String::from_utf8_lossy(raw));
    let (call_id, fingerprint) = (event.call_id.as_str().to_string(), event.fingerprint());
    let kind = event.kind.code();
    // The worker takes the event as parsed here when the text stored is exactly what was
    // parsed (almost always: it differs only for control characters, written as `%XX`).
    let parsed = (text.as_bytes() == raw).then_some(event);
    match to
        .inbox
        .store(call_id.clone(), fingerprint, text, now_ms, parsed)
        .await
    {
        Ok(Stored::New | Stored::Kept) => {
            to.metrics.event("stored");
            tracing::debug!(%call_id, kind, "event stored");
            answer(StatusCode::OK, json!({ "success": true }))
        }
        Ok(Stored::Duplicate) => {
            to.metrics.event("duplicate");
            answer(StatusCode::OK, json!({ "success": true }))
        }
        Err(e) => store_failed(to, &call_id, &e),
    }
}
