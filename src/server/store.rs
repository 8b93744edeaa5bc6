//! The durable store: one SQLite database (WAL) holding the inbox of Sipuni events and the
//! engine's memory, so that a crash at any moment loses no acknowledged event and repeats no
//! amoCRM write.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::engine::memory::{Memory, Progress, TaskMemo, UnsortedMemo};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    id          INTEGER PRIMARY KEY,
    call_id     TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    raw         TEXT NOT NULL,
    received_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_call ON events(call_id);
CREATE TABLE IF NOT EXISTS deliveries (fingerprint TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS calls_done (call_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS memory (
    space TEXT NOT NULL,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (space, key)
);
";

/// Opens (creating if needed) the database with the settings every connection needs.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a commit is on disk (fsync) before it returns, so an acknowledged event survives
    // a power cut, not only a crash.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// A stored event.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub id: i64,
    pub call_id: String,
    pub raw: String,
}

fn stored_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEvent> {
    Ok(StoredEvent {
        id: r.get(0)?,
        call_id: r.get(1)?,
        raw: r.get(2)?,
    })
}

/// Events after `after`, in arrival order.
pub fn events_after(
    conn: &Connection,
    after: i64,
    limit: usize,
) -> rusqlite::Result<Vec<StoredEvent>> {
    let mut st = conn
        .prepare_cached("SELECT id, call_id, raw FROM events WHERE id > ?1 ORDER BY id LIMIT ?2")?;
    let rows = st.query_map(params![after, limit as i64], stored_event)?;
    rows.collect()
}

/// Events of calls not yet handled, up to `max_id`, in arrival order (for a restart).
pub fn unfinished_events(conn: &Connection, max_id: i64) -> rusqlite::Result<Vec<StoredEvent>> {
    let mut st = conn.prepare(
        "SELECT id, call_id, raw FROM events WHERE id <= ?1 AND call_id NOT IN (SELECT call_id FROM calls_done) ORDER BY id",
    )?;
    let rows = st.query_map(params![max_id], stored_event)?;
    rows.collect()
}

pub fn max_event_id(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))
}

/// Events not yet handled (stored after `cursor`, or of calls still open).
pub fn pending_count(conn: &Connection, cursor: i64) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT COUNT(*) FROM events WHERE id > ?1",
        params![cursor],
        |r| r.get(0),
    )
}

/// The engine's memory in the same database. Every write is its own committed statement, made
/// before the step it records is considered done.
pub struct SqliteMemory {
    conn: std::sync::Mutex<Connection>,
}

impl SqliteMemory {
    pub fn new(conn: Connection) -> Self {
        SqliteMemory {
            conn: std::sync::Mutex::new(conn),
        }
    }

    /// The connection (the memory is used by one worker; the lock makes it shareable).
    pub fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get<T: DeserializeOwned>(&self, space: &str, key: &str) -> Option<T> {
        let value: Option<String> = self
            .connection()
            .prepare_cached("SELECT value FROM memory WHERE space = ?1 AND key = ?2")
            .and_then(|mut st| st.query_row(params![space, key], |r| r.get(0)).optional())
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, space, "cannot read the engine's memory");
                None
            });
        value.and_then(|v| serde_json::from_str(&v).ok())
    }

    fn put<T: Serialize>(&self, space: &str, key: &str, value: Option<&T>) {
        let result = match value {
            Some(v) => {
                let text = serde_json::to_string(v).unwrap_or_default();
                self.connection()
                    .prepare_cached(
                        "INSERT OR REPLACE INTO memory (space, key, value) VALUES (?1, ?2, ?3)",
                    )
                    .and_then(|mut st| st.execute(params![space, key, text]))
            }
            None => self
                .connection()
                .prepare_cached("DELETE FROM memory WHERE space = ?1 AND key = ?2")
                .and_then(|mut st| st.execute(params![space, key])),
        };
        if let Err(e) = result {
            tracing::error!(error = %e, space, "cannot write the engine's memory");
        }
    }
}

impl Memory for SqliteMemory {
    fn first_delivery(&mut self, fingerprint: &str) -> bool {
        self.connection()
            .prepare_cached("INSERT OR IGNORE INTO deliveries (fingerprint) VALUES (?1)")
            .and_then(|mut st| st.execute(params![fingerprint]))
            .map(|n| n == 1)
            .unwrap_or(true)
    }
    fn is_done(&self, call_id: &str) -> bool {
        self.connection()
            .prepare_cached("SELECT 1 FROM calls_done WHERE call_id = ?1")
            .and_then(|mut st| st.exists(params![call_id]))
            .unwrap_or(false)
    }
    fn mark_done(&mut self, call_id: &str) {
        let conn = self.connection();
        let r = conn
            .execute(
                "INSERT OR IGNORE INTO calls_done (call_id) VALUES (?1)",
                params![call_id],
            )
            .and_then(|_| {
                conn.execute(
                    "DELETE FROM memory WHERE space = 'progress' AND key = ?1",
                    params![call_id],
                )
            });
        if let Err(e) = r {
            tracing::error!(error = %e, call_id, "cannot record a finished call");
        }
    }
    fn progress(&self, call_id: &str) -> Option<Progress> {
        self.get("progress", call_id)
    }
    fn save_progress(&mut self, call_id: &str, p: &Progress) {
        self.put("progress", call_id, Some(p));
    }
    fn unsorted_of_call(&self, call_id: &str) -> Option<UnsortedMemo> {
        self.get("ring", call_id)
    }
    fn set_unsorted_of_call(&mut self, call_id: &str, memo: UnsortedMemo) {
        self.put("ring", call_id, Some(&memo));
    }
    fn answered_item(&self, call_id: &str) -> Option<UnsortedMemo> {
        self.get("answered", call_id)
    }
    fn set_answered_item(&mut self, call_id: &str, memo: UnsortedMemo) {
        self.put("answered", call_id, Some(&memo));
    }
    fn callback_task(&self, phone_key: &str) -> Option<TaskMemo> {
        self.get("task", phone_key)
    }
    fn set_callback_task(&mut self, phone_key: &str, memo: TaskMemo) {
        self.put("task", phone_key, Some(&memo));
    }
    fn pending_unsorted(&self, phone_key: &str) -> Option<UnsortedMemo> {
        self.get("pending", phone_key)
    }
    fn set_pending_unsorted(&mut self, phone_key: &str, memo: Option<UnsortedMemo>) {
        self.put("pending", phone_key, memo.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_survives_reopening() {
        let dir = std::env::temp_dir().join(format!("sipamo-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.db");
        let _ = std::fs::remove_file(&path);
        {
            let mut m = SqliteMemory::new(open(&path).unwrap());
            assert!(m.first_delivery("a"));
            assert!(!m.first_delivery("a"));
            m.set_callback_task(
                "9161234567",
                TaskMemo {
                    task_id: 7,
                    deadline: 100,
                },
            );
            m.set_pending_unsorted(
                "9161234567",
                Some(UnsortedMemo {
                    uid: "u".into(),
                    source_uid: "c1".into(),
                    contact_id: Some(1),
                    lead_id: None,
                }),
            );
            m.mark_done("c1");
        }
        let mut m = SqliteMemory::new(open(&path).unwrap());
        assert!(!m.first_delivery("a"));
        assert_eq!(
            m.callback_task("9161234567"),
            Some(TaskMemo {
                task_id: 7,
                deadline: 100
            })
        );
        assert!(m.is_done("c1"));
        m.set_pending_unsorted("9161234567", None);
        assert_eq!(m.pending_unsorted("9161234567"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
