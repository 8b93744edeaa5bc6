//! What `sipamo calls` shows and does against the service's database: the parked calls with
//! their reasons, one call's events and progress, and putting a parked call back in the queue.
//! Safe while the service runs (SQLite WAL; the worker takes a put-back call on its next round).

use std::fmt::Write as _;
use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::store;
use crate::engine::memory::ParkedCall;

/// Why an operator command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OperatorError {
    #[error("cannot open the database {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("the database {path} has no sipamo tables; is it the file `sipamo serve --db` uses?")]
    NotSipamo { path: String },
    #[error("reading the database failed: {0}")]
    Read(#[from] rusqlite::Error),
}

/// Opens an existing service database (never creates one).
fn open(db: &Path) -> Result<Connection, OperatorError> {
    let path = db.display().to_string();
    let conn =
        Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(|source| {
            OperatorError::Open {
                path: path.clone(),
                source,
            }
        })?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let tables: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('events', 'parked', 'requeued')",
        [],
        |r| r.get(0),
    )?;
    if tables != 3 {
        return Err(OperatorError::NotSipamo { path });
    }
    Ok(conn)
}

/// The parked calls, oldest first.
pub(crate) fn list(db: &Path) -> Result<Vec<ParkedCall>, OperatorError> {
    Ok(store::parked_calls(&open(db)?)?)
}

/// A call's state, its stored events and its saved progress, as text; `None` when the
/// database knows no such call.
pub(crate) fn show(db: &Path, call_id: &str) -> Result<Option<String>, OperatorError> {
    let conn = open(db)?;
    let events = store::events_of(&conn, call_id)?;
    if events.is_empty() {
        return Ok(None);
    }
    let done = conn
        .prepare("SELECT 1 FROM calls_done WHERE call_id = ?1")?
        .exists(params![call_id])?;
    let parked = store::parked_calls(&conn)?
        .into_iter()
        .find(|p| p.call_id == call_id);
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
    let progress: Option<String> = conn
        .query_row(
            "SELECT value FROM memory WHERE space = 'progress' AND key = ?1",
            params![call_id],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(p) = progress {
        let _ = writeln!(out, "progress: {p}");
    }
    Ok(Some(out))
}

/// Puts a parked call back in the queue; false when it is not parked.
pub(crate) fn retry(db: &Path, call_id: &str) -> Result<bool, OperatorError> {
    Ok(store::requeue(&mut open(db)?, call_id)?)
}
