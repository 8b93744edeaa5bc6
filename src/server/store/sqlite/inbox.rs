//! The inbox in SQLite: events stored (a re-delivery recognised by its fingerprint) and
//! requests kept aside, read by the worker after its id cursor (SQLite commits ids in order),
//! the calls of a restart, the calls put back by an operator, the parked calls.

use rusqlite::{Connection, params};

use crate::engine::memory::ParkedCall;
use crate::server::http::inbox::Stored;
use crate::server::store::{Arrival, StoredEvent};
use crate::sipuni::event::CallId;

fn stored_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEvent> {
    Ok(StoredEvent {
        id: r.get(0)?,
        call_id: r.get(1)?,
        raw: r.get(2)?,
        received_ms: r.get(3)?,
    })
}

/// Stores events (a re-delivery is recognised by its fingerprint) and kept requests, inside
/// the caller's transaction.
pub(crate) fn insert_arrivals(
    t: &Connection,
    arrivals: &[Arrival],
) -> rusqlite::Result<Vec<Stored>> {
    let mut event = t.prepare_cached(
        "INSERT OR IGNORE INTO events (call_id, fingerprint, raw, received_ms) VALUES (?1, ?2, ?3, ?4)",
    )?;
    let mut kept = t.prepare_cached(
        "INSERT INTO kept (received_ms, reason, detail, content_type, raw) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    arrivals
        .iter()
        .map(|a| match a {
            Arrival::Event(e) => {
                let n = event.execute(params![e.call_id, e.fingerprint, e.raw, e.received_ms])?;
                Ok(if n == 1 {
                    Stored::New
                } else {
                    Stored::Duplicate
                })
            }
            Arrival::Kept(k) => {
                kept.execute(params![
                    k.received_ms,
                    k.reason,
                    k.detail,
                    k.content_type,
                    k.raw
                ])?;
                Ok(Stored::Kept)
            }
        })
        .collect()
}

/// Events after `after`, in arrival order.
pub(crate) fn events_after(
    conn: &Connection,
    after: i64,
    limit: usize,
) -> rusqlite::Result<Vec<StoredEvent>> {
    let mut st = conn.prepare_cached(
        "SELECT id, call_id, raw, received_ms FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = st.query_map(params![after, limit as i64], stored_event)?;
    rows.collect()
}

/// Events of calls not yet handled, up to `max_id`, in arrival order (for a restart).
pub(crate) fn unfinished_events(
    conn: &Connection,
    max_id: i64,
) -> rusqlite::Result<Vec<StoredEvent>> {
    let mut st = conn.prepare(
        "SELECT id, call_id, raw, received_ms FROM events WHERE id <= ?1 AND call_id NOT IN (SELECT call_id FROM calls_done) \
         AND call_id NOT IN (SELECT call_id FROM parked) ORDER BY id",
    )?;
    let rows = st.query_map(params![max_id], stored_event)?;
    rows.collect()
}

pub(crate) fn max_event_id(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))
}

/// The stored events of one call, in arrival order (a parked call put back by an operator).
pub(crate) fn events_of(conn: &Connection, call_id: &str) -> rusqlite::Result<Vec<StoredEvent>> {
    let mut st = conn.prepare_cached(
        "SELECT id, call_id, raw, received_ms FROM events WHERE call_id = ?1 ORDER BY id",
    )?;
    let rows = st.query_map(params![call_id], stored_event)?;
    rows.collect()
}

/// Parked calls an operator asked to retry: they leave `parked` and are taken once.
pub(crate) fn take_requeued(conn: &mut Connection) -> rusqlite::Result<Vec<String>> {
    // IMMEDIATE: a read that turns into a write would fail at once, not wait, on a busy file.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let ids: Vec<String> = {
        let mut st = tx.prepare("SELECT call_id FROM requeued ORDER BY call_id")?;
        st.query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?
    };
    tx.execute("DELETE FROM requeued", [])?;
    tx.commit()?;
    Ok(ids)
}

/// Puts a parked call back in the queue (`sipamo calls retry`); false when it is not parked.
pub(crate) fn requeue(conn: &mut Connection, call_id: &str) -> rusqlite::Result<bool> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let n = tx.execute("DELETE FROM parked WHERE call_id = ?1", params![call_id])?;
    if n == 1 {
        tx.execute(
            "DELETE FROM memory WHERE space = 'attempts' AND key = ?1",
            params![call_id],
        )?;
        tx.execute(
            "INSERT OR IGNORE INTO requeued (call_id) VALUES (?1)",
            params![call_id],
        )?;
    }
    tx.commit()?;
    Ok(n == 1)
}

/// Events not yet handled (stored after `cursor`, or of calls still open).
pub(crate) fn pending_count(conn: &Connection, cursor: i64) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT COUNT(*) FROM events WHERE id > ?1",
        params![cursor],
        |r| r.get(0),
    )
}

/// Parked calls, oldest first.
pub(crate) fn parked_calls(conn: &Connection) -> rusqlite::Result<Vec<ParkedCall>> {
    let mut st = conn.prepare_cached(
        "SELECT call_id, reason, attempts, at_ms FROM parked ORDER BY at_ms, call_id",
    )?;
    let rows = st.query_map([], |r| {
        Ok(ParkedCall {
            call_id: CallId::from_stored(r.get(0)?),
            reason: r.get(1)?,
            attempts: r.get(2)?,
            at_ms: r.get(3)?,
        })
    })?;
    rows.collect()
}

/// Requests kept aside (R-WIRE), oldest first; only the one numbered `only` when given.
pub(crate) fn kept_requests(
    conn: &Connection,
    only: Option<i64>,
) -> rusqlite::Result<Vec<crate::server::store::KeptRequest>> {
    let mut st = conn.prepare(
        "SELECT id, received_ms, reason, detail, content_type, raw FROM kept
          WHERE ?1 IS NULL OR id = ?1 ORDER BY id",
    )?;
    let rows = st.query_map([only], |r| {
        Ok(crate::server::store::KeptRequest {
            id: r.get(0)?,
            received_ms: r.get(1)?,
            reason: r.get(2)?,
            detail: r.get(3)?,
            content_type: r.get(4)?,
            raw: r.get(5)?,
        })
    })?;
    rows.collect()
}
