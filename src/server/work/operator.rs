//! What `sipamo calls` shows and does against the service's database (SQLite or PostgreSQL):
//! the parked calls with their reasons, one call's events and progress, and putting a parked
//! call back in the queue; the requests kept aside as no usable event (R-WIRE). Safe while the
//! service runs (the worker takes a put-back call on its
//! next round).

use crate::server::store::Backend;
use std::fmt::Write as _;

use crate::engine::memory::ParkedCall;
use crate::server::store::DbUrl;
use crate::server::store::{Db, KeptRequest, StoreError};

/// The parked calls, oldest first.
pub(crate) async fn list(db: &DbUrl) -> Result<Vec<ParkedCall>, StoreError> {
    Db::open_existing(db).await?.parked_calls().await
}

/// A call's state, its stored events and its saved progress, as text; `None` when the
/// database knows no such call.
pub(crate) async fn show(db: &DbUrl, call_id: &str) -> Result<Option<String>, StoreError> {
    let conn = Db::open_existing(db).await?;
    let events = conn.events_of(call_id).await?;
    if events.is_empty() {
        return Ok(None);
    }
    let (done, progress) = conn.call_state(call_id).await?;
    let parked = conn
        .parked_calls()
        .await?
        .into_iter()
        .find(|p| p.call_id.as_str() == call_id);
    let mut out = String::new();
    let state = match (&parked, done) {
        (Some(p), _) => format!("parked after {} attempt(s): {}", p.attempts, p.reason),
        (None, true) => "handled".into(),
        (None, false) => "open (waiting for its hangup, its settle window or amoCRM)".into(),
    };
    let _ = writeln!(out, "call {call_id}: {state}");
    let _ = writeln!(out, "events ({}):", events.len());
    for e in &events {
        let _ = writeln!(out, "  #{} {}", e.id, e.raw);
    }
    if let Some(p) = progress {
        let _ = writeln!(out, "progress: {p}");
    }
    Ok(Some(out))
}

/// Puts a parked call back in the queue; false when it is not parked.
pub(crate) async fn retry(db: &DbUrl, call_id: &str) -> Result<bool, StoreError> {
    Db::open_existing(db).await?.requeue(call_id).await
}

/// The requests kept aside (R-WIRE), oldest first; only the one numbered `only` when given.
pub(crate) async fn kept(db: &DbUrl, only: Option<i64>) -> Result<Vec<KeptRequest>, StoreError> {
    Db::open_existing(db).await?.kept_requests(only).await
}

/// A kept request's bytes as text: UTF-8 with control characters as `%XX`, anything else with
/// each byte that is not printable ASCII as `\xNN`.
pub(crate) fn kept_text(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(text) => crate::server::http::receiver::printable(text),
        Err(_) => raw.escape_ascii().to_string(),
    }
}

/// One kept request in full, as text.
pub(crate) fn show_kept(k: &KeptRequest) -> String {
    let at = chrono::DateTime::from_timestamp_millis(k.received_ms)
        .map_or_else(|| k.received_ms.to_string(), |t| t.to_rfc3339());
    let mut out = String::new();
    let _ = writeln!(out, "request #{} received {at}", k.id);
    let _ = writeln!(out, "reason: {} — {}", k.reason, k.detail);
    let _ = writeln!(
        out,
        "content type: {}",
        k.content_type.as_deref().unwrap_or("(none)")
    );
    let _ = writeln!(out, "{} byte(s):", k.raw.len());
    let _ = writeln!(out, "{}", kept_text(&k.raw));
    out
}
