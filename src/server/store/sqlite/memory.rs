//! The rows of the engine's memory in SQLite: one `memory(space, key, value)` table and the
//! deliveries, finished and parked calls, each commit one transaction.

use rusqlite::{Connection, OptionalExtension, params};

use super::inbox::parked_calls;
use crate::engine::memory::{MemResult, MemoryError, ParkedCall};
use crate::server::store::{MemoryRows, RowWrite};

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
            params![call.call_id.as_str(), call.reason, call.attempts, call.at_ms],
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::engine::memory::{Memory, Progress, TaskMemo, Transaction, UnsortedMemo};
    use crate::server::store::StoreMemory;
    use crate::server::store::sqlite::open;

    use crate::sim::testkit::cid;

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
                .mark_done(&cid("c1"));
            m.commit(tx).await?;
        }
        let mut m = memory(&path);
        assert!(!m.first_delivery("a").await?);
        assert_eq!(m.callback_task("9161234567").await?, Some(task));
        assert!(m.is_done(&cid("c1")).await?);
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
        assert!(
            m.save_progress(&cid("c"), &sample_progress())
                .await
                .is_err()
        );
        Ok(())
    }

    fn sample_progress() -> Progress {
        let call: crate::engine::rules::call::Call = serde_json::from_value(serde_json::json!({
            "id": "c", "direction": "incoming", "client": "+79161234567", "scheme": null,
            "legs": [], "answerer": null, "employee": null, "answered": false, "status": "NOANSWER",
            "started_at": 1772434800, "ended_at": 1772434810, "talk_secs": 0, "record_link": null
        }))
        .unwrap();
        Progress {
            call,
            plan: crate::engine::rules::plan::Plan::nothing("test"),
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
