//! The service's operations on SQLite ([`Backend`]): one connection of its own per part of the
//! service, its statements short and synchronous, its commits (an fsync each) run with
//! [`super::blocking`]. The worker reads after an id cursor: SQLite commits ids in order, so
//! nothing needs marking as taken.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, OptionalExtension, params};

use super::{blocking, exchanges, inbox, retention};
use crate::engine::memory::ParkedCall;
use crate::server::http::inbox::Stored;
use crate::server::store::postgres::Fence;
use crate::server::store::{Arrival, Backend, InsertFailure, KeptRequest, StoreError, StoredEvent};
use crate::server::work::retention::Pruned;

/// A connection to the service's SQLite database.
pub(crate) struct SqliteStore(Mutex<Connection>);

/// A failed statement as the store's error.
fn sq(doing: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| StoreError {
        doing,
        message: e.to_string(),
    }
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) the database at `path`.
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        super::open(path)
            .map(|c| SqliteStore(Mutex::new(c)))
            .map_err(|e| StoreError {
                doing: "opening the database",
                message: format!("{}: {e}", path.display()),
            })
    }

    /// Opens a database the service made: the file must exist and hold sipamo's tables (an
    /// operator command never creates one).
    pub(crate) fn open_existing(path: &Path) -> Result<Self, StoreError> {
        let doing = "opening the service's database";
        let refuse = |message: String| StoreError { doing, message };
        if !path.exists() {
            return Err(refuse(format!(
                "{}: no such database; is it what `sipamo serve --db` uses?",
                path.display()
            )));
        }
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
            .map_err(sq(doing))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sq(doing))?;
        let tables: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('events', 'parked', 'requeued')",
                [],
                |r| r.get(0),
            )
            .map_err(sq(doing))?;
        if tables != 3 {
            return Err(refuse(format!(
                "{} has no sipamo tables; is it the file `sipamo serve --db` uses?",
                path.display()
            )));
        }
        Ok(SqliteStore(Mutex::new(conn)))
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Backend for SqliteStore {
    async fn insert_events(
        &self,
        arrivals: Vec<Arrival>,
        _notify: bool,
    ) -> Result<Vec<Stored>, InsertFailure> {
        let rejected = |e| InsertFailure::Rejected(sq("storing events")(e));
        blocking(|| {
            let mut conn = self.conn();
            let t = conn.transaction().map_err(rejected)?;
            let out = inbox::insert_arrivals(&t, &arrivals).map_err(rejected)?;
            t.commit().map_err(rejected)?;
            Ok(out)
        })
    }

    async fn next_batch(&self, after: i64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        inbox::events_after(&self.conn(), after, limit).map_err(sq("reading the inbox"))
    }

    /// Nothing to record: the worker's cursor is the mark (ids commit in order).
    async fn ack(&self, _ids: Vec<i64>, _fence: Option<Fence>) -> Result<bool, StoreError> {
        Ok(true)
    }

    async fn unfinished_events(&self) -> Result<(i64, Vec<StoredEvent>), StoreError> {
        let doing = "reading the calls in progress";
        let conn = self.conn();
        let max = inbox::max_event_id(&conn).map_err(sq(doing))?;
        let events = inbox::unfinished_events(&conn, max).map_err(sq(doing))?;
        Ok((max, events))
    }

    async fn events_of(&self, call_id: &str) -> Result<Vec<StoredEvent>, StoreError> {
        inbox::events_of(&self.conn(), call_id).map_err(sq("reading a call's events"))
    }

    async fn take_requeued(&self) -> Result<Vec<String>, StoreError> {
        inbox::take_requeued(&mut self.conn()).map_err(sq("taking the calls put back"))
    }

    async fn pending_count(&self, cursor: i64) -> Result<i64, StoreError> {
        inbox::pending_count(&self.conn(), cursor).map_err(sq("counting the queue"))
    }

    async fn keep_exchange(
        &self,
        call_id: Option<String>,
        at_ms: i64,
        json: String,
    ) -> Result<(), StoreError> {
        exchanges::keep(&self.conn(), call_id.as_deref(), at_ms, &json)
            .map_err(sq("keeping an amoCRM exchange"))
    }

    async fn save_settings(&self, yaml: String, now_ms: i64) -> Result<(), StoreError> {
        exchanges::save_settings(&self.conn(), &yaml, now_ms).map_err(sq("saving the settings"))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.conn()
            .query_row("SELECT 1", [], |_| Ok(()))
            .map_err(sq("checking the database"))
    }

    async fn prune(&self, cutoff_ms: i64) -> Result<Pruned, StoreError> {
        blocking(|| retention::prune(&self.conn(), cutoff_ms))
            .map_err(sq("removing what is past the retention"))
    }

    async fn kept_requests(&self, only: Option<i64>) -> Result<Vec<KeptRequest>, StoreError> {
        inbox::kept_requests(&self.conn(), only).map_err(sq("reading the requests kept aside"))
    }

    async fn parked_calls(&self) -> Result<Vec<ParkedCall>, StoreError> {
        inbox::parked_calls(&self.conn()).map_err(sq("reading the parked calls"))
    }

    async fn call_state(&self, call_id: &str) -> Result<(bool, Option<String>), StoreError> {
        let doing = "reading a call's state";
        let conn = self.conn();
        let done = conn
            .prepare("SELECT 1 FROM calls_done WHERE call_id = ?1")
            .and_then(|mut st| st.exists(params![call_id]))
            .map_err(sq(doing))?;
        let progress = conn
            .query_row(
                "SELECT value FROM memory WHERE space = 'progress' AND key = ?1",
                params![call_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(sq(doing))?;
        Ok((done, progress))
    }

    async fn requeue(&self, call_id: &str) -> Result<bool, StoreError> {
        inbox::requeue(&mut self.conn(), call_id).map_err(sq("putting a call back"))
    }
}
