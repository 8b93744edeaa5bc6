//! The durable store: one SQLite database (WAL) holding the inbox of Sipuni events and the
//! engine's memory, so that a crash at any moment loses no acknowledged event and repeats no
//! amoCRM write.

mod schema;

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use crate::engine::memory::{MemResult, MemoryError, ParkedCall};
use crate::server::http::inbox::Stored;
use crate::server::store::Arrival;
use crate::server::store::MemoryRows;
use crate::server::store::RowWrite;

/// Runs `f`, which waits on the disk (a commit's fsync), without holding up the other tasks of
/// a multi-threaded runtime: its worker thread hands them to another first.
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Opens (creating if needed) the database with the settings every connection needs.
pub(crate) fn open(path: &Path) -> rusqlite::Result<Connection> {
    // Client phones and recording links: the database and its -wal and -shm files are 0600
    // (SQLite gives the side files the database file's permissions).
    if !path.exists() {
        crate::private_file::create_private(path).map_err(|e| io_error(path, e))?;
    }
    crate::private_file::restrict(path).map_err(|e| io_error(path, e))?;
    let mut conn = Connection::open(path)?;
    for side in ["-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(side);
        crate::private_file::restrict(Path::new(&p)).map_err(|e| io_error(path, e))?;
    }
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a commit is on disk (fsync) before it returns, so an acknowledged event survives
    // a power cut, not only a crash.
    conn.pragma_update(None, "synchronous", "FULL")?;
    schema::migrate(&mut conn).map_err(|e| {
        rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(format!(
                "{}: the schema could not be brought up to date: {e}",
                path.display()
            )),
        )
    })?;
    Ok(conn)
}

fn io_error(path: &Path, e: std::io::Error) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
        Some(format!("{}: {e}", path.display())),
    )
}

/// A stored event.
#[derive(Debug, Clone)]
pub(crate) struct StoredEvent {
    pub(crate) id: i64,
    pub(crate) call_id: String,
    pub(crate) raw: String,
    /// When the receiver stored it (Unix ms): the time the engine takes it as arrived.
    pub(crate) received_ms: i64,
}

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

/// The rows of the engine's memory in the same database (written once over them by
/// [`super::StoreMemory`]).
pub(crate) struct SqliteMemory {
    conn: std::sync::Mutex<Connection>,
}

fn failed(doing: &'static str) -> impl Fn(rusqlite::Error) -> MemoryError {
    move |e| MemoryError {
        doing,
        message: e.to_string(),
    }
}

impl SqliteMemory {
    pub(crate) fn new(conn: Connection) -> Self {
        SqliteMemory {
            conn: std::sync::Mutex::new(conn),
        }
    }

    /// The connection (the memory is used by one worker; the lock makes it shareable).
    fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn exec(&self, doing: &'static str, sql: &str, p: impl rusqlite::Params) -> MemResult<usize> {
        self.connection()
            .prepare_cached(sql)
            .and_then(|mut st| st.execute(p))
            .map_err(failed(doing))
    }

    fn exists(&self, doing: &'static str, sql: &str, key: &str) -> MemResult<bool> {
        self.connection()
            .prepare_cached(sql)
            .and_then(|mut st| st.exists(params![key]))
            .map_err(failed(doing))
    }
}

impl MemoryRows for SqliteMemory {
    async fn get(&self, space: &'static str, key: &str) -> MemResult<Option<String>> {
        self.connection()
            .prepare_cached("SELECT value FROM memory WHERE space = ?1 AND key = ?2")
            .and_then(|mut st| st.query_row(params![space, key], |r| r.get(0)).optional())
            .map_err(failed("reading the engine's memory"))
    }
    async fn first_delivery(&self, fingerprint: &str, now_ms: i64) -> MemResult<bool> {
        self.exec(
            "recording a delivery",
            "INSERT OR IGNORE INTO deliveries (fingerprint, at_ms) VALUES (?1, ?2)",
            params![fingerprint, now_ms],
        )
        .map(|n| n == 1)
    }
    async fn is_done(&self, call_id: &str) -> MemResult<bool> {
        self.exists(
            "reading the finished calls",
            "SELECT 1 FROM calls_done WHERE call_id = ?1",
            call_id,
        )
    }
    async fn park(&self, call: &ParkedCall) -> MemResult<()> {
        self.exec(
            "parking a call",
            "INSERT OR REPLACE INTO parked (call_id, reason, attempts, at_ms) VALUES (?1, ?2, ?3, ?4)",
            params![call.call_id, call.reason, call.attempts, call.at_ms],
        )
        .map(|_| ())
    }
    async fn parked(&self) -> MemResult<Vec<ParkedCall>> {
        parked_calls(&self.connection()).map_err(failed("reading the parked calls"))
    }
    async fn is_parked(&self, call_id: &str) -> MemResult<bool> {
        self.exists(
            "reading the parked calls",
            "SELECT 1 FROM parked WHERE call_id = ?1",
            call_id,
        )
    }
    async fn commit(&self, writes: &[RowWrite], now_ms: i64) -> MemResult<()> {
        let mut conn = self.connection();
        let t = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(failed("starting a transaction"))?;
        for w in writes {
            write_row(&t, w, now_ms).map_err(failed("writing the engine's memory"))?;
        }
        t.commit().map_err(failed("committing a transaction"))
    }
}

/// One write of a transaction.
fn write_row(t: &rusqlite::Transaction<'_>, w: &RowWrite, now_ms: i64) -> rusqlite::Result<()> {
    let run = |sql: &str, p: &[&dyn rusqlite::ToSql]| {
        t.prepare_cached(sql).and_then(|mut st| st.execute(p))
    };
    match w {
        RowWrite::Put {
            space,
            key,
            value: Some(v),
        } => run(
            "INSERT OR REPLACE INTO memory (space, key, value, touched_ms) VALUES (?1, ?2, ?3, ?4)",
            params![space, key, v, now_ms],
        )?,
        RowWrite::Put {
            space,
            key,
            value: None,
        } => run(
            "DELETE FROM memory WHERE space = ?1 AND key = ?2",
            params![space, key],
        )?,
        RowWrite::Done(call_id) => {
            run(
                "INSERT OR IGNORE INTO calls_done (call_id, done_ms) VALUES (?1, ?2)",
                params![call_id, now_ms],
            )?;
            run(
                "DELETE FROM memory WHERE space IN ('progress', 'attempts', 'intent') AND key = ?1",
                params![call_id],
            )?;
            run("DELETE FROM parked WHERE call_id = ?1", params![call_id])?
        }
    };
    Ok(())
}

/// Parked calls, oldest first.
pub(crate) fn parked_calls(conn: &Connection) -> rusqlite::Result<Vec<ParkedCall>> {
    let mut st = conn.prepare_cached(
        "SELECT call_id, reason, attempts, at_ms FROM parked ORDER BY at_ms, call_id",
    )?;
    let rows = st.query_map([], |r| {
        Ok(ParkedCall {
            call_id: r.get(0)?,
            reason: r.get(1)?,
            attempts: r.get(2)?,
            at_ms: r.get(3)?,
        })
    })?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::engine::memory::{Memory, Progress, TaskMemo, Transaction, UnsortedMemo};
    use crate::server::store::StoreMemory;

    fn memory(path: &std::path::Path) -> StoreMemory {
        StoreMemory::over(SqliteMemory::new(open(path).unwrap()), Clock::System)
    }

    #[tokio::test]
    async fn memory_survives_reopening() -> MemResult<()> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let memo = UnsortedMemo {
            uid: "u".into(),
            source_uid: "c1".into(),
            contact_id: Some(1),
            lead_id: None,
        };
        let task = TaskMemo {
            task_id: 7,
            deadline: 100,
        };
        {
            let mut m = memory(&path);
            assert!(m.first_delivery("a").await?);
            assert!(!m.first_delivery("a").await?);
            let tx = Transaction::new()
                .set_callback_task("9161234567", &task)
                .set_pending_unsorted("9161234567", Some(&memo))
                .mark_done("c1");
            m.commit(tx).await?;
        }
        let mut m = memory(&path);
        assert!(!m.first_delivery("a").await?);
        assert_eq!(m.callback_task("9161234567").await?, Some(task));
        assert!(m.is_done("c1").await?);
        m.set_pending_unsorted("9161234567", None).await?;
        assert_eq!(m.pending_unsorted("9161234567").await?, None);
        Ok(())
    }

    #[tokio::test]
    async fn errors_are_errors() -> MemResult<()> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let m = memory(&path);
        // A broken value is an error, not "nothing there".
        let conn = open(&path).unwrap();
        conn.execute(
            "INSERT INTO memory (space, key, value) VALUES ('task', 'bad', '{')",
            [],
        )
        .unwrap();
        assert!(m.callback_task("bad").await.is_err());
        // A database that cannot be written answers errors.
        let mut m = StoreMemory::over(
            SqliteMemory::new({
                let c = open(&path).unwrap();
                c.pragma_update(None, "query_only", true).unwrap();
                c
            }),
            Clock::System,
        );
        assert!(m.first_delivery("x").await.is_err());
        assert!(m.save_progress("c", &sample_progress()).await.is_err());
        Ok(())
    }

    fn sample_progress() -> Progress {
        let call: crate::engine::call::Call = serde_json::from_value(serde_json::json!({
            "id": "c", "direction": "incoming", "client": "+79161234567", "scheme": null,
            "legs": [], "answerer": null, "employee": null, "answered": false, "status": "NOANSWER",
            "started_at": 1772434800, "ended_at": 1772434810, "talk_secs": 0, "record_link": null
        }))
        .unwrap();
        Progress {
            call,
            plan: crate::engine::plan::Plan::nothing("test"),
            known_leads: vec![],
            unsorted: None,
            accepted: false,
            contact_id: None,
            lead_id: None,
            task_id: None,
            note_id: None,
            in_flight: None,
            recovered: false,
        }
    }
}
