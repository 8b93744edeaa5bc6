//! The service's database beyond the engine's memory: the inbox, the worker's reads, operator
//! put-backs, the kept amoCRM exchanges and settings, and retention. [`Backend`] is what either
//! database does, with its own SQL in its own folder (`sqlite/store.rs`, `postgres/store.rs`);
//! [`Db`] is the one the `--db` URL names. Each part of the service holds a handle of its own.

use crate::engine::memory::ParkedCall;

use super::memory::DbUrl;
use super::postgres::{Fence, PgConn, PgStore};
use super::sqlite::SqliteStore;
use crate::server::http::inbox::Stored;
use crate::server::work::retention::Pruned;

/// A database operation that failed: what was being done and why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{doing}: {message}")]
pub struct StoreError {
    pub(crate) doing: &'static str,
    pub(crate) message: String,
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

/// An event to store.
#[derive(Debug, Clone)]
pub(crate) struct NewEvent {
    pub(crate) call_id: String,
    pub(crate) fingerprint: String,
    pub(crate) raw: String,
    pub(crate) received_ms: i64,
}

/// A request on the secret path that is no event the engine can use, to keep with its reason
/// (R-WIRE).
#[derive(Debug, Clone)]
pub(crate) struct NewKept {
    /// A short code (`unknown_event`, `empty`, `content_type`, …): the metrics label.
    pub(crate) reason: &'static str,
    /// What exactly was wrong, for an operator.
    pub(crate) detail: String,
    pub(crate) content_type: Option<String>,
    /// The query string or body as received.
    pub(crate) raw: Vec<u8>,
    pub(crate) received_ms: i64,
}

/// A request kept aside, as `sipamo calls kept` shows it.
#[derive(Debug, Clone)]
pub(crate) struct KeptRequest {
    pub(crate) id: i64,
    pub(crate) received_ms: i64,
    pub(crate) reason: String,
    pub(crate) detail: String,
    pub(crate) content_type: Option<String>,
    pub(crate) raw: Vec<u8>,
}

/// Why arrivals were not stored.
#[derive(Debug)]
pub(crate) enum InsertFailure {
    /// No connection could be had: every request fails alike, none need be tried alone.
    Unreachable(StoreError),
    /// The database refused the statements (perhaps for one request's data).
    Rejected(StoreError),
}

impl InsertFailure {
    /// What was being done and why, whichever the failure.
    pub(crate) fn store_error(&self) -> &StoreError {
        match self {
            InsertFailure::Unreachable(e) | InsertFailure::Rejected(e) => e,
        }
    }
}

impl std::fmt::Display for InsertFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.store_error().fmt(f)
    }
}

/// What the receiver stores: an event for the engine, or a request kept aside.
#[derive(Debug, Clone)]
pub(crate) enum Arrival {
    Event(NewEvent),
    Kept(NewKept),
}

/// What the service asks of its database, implemented once per backend. Where the two differ
/// in kind, the difference is in the backend's body, not the caller: SQLite's worker reads after
/// an id cursor (its ids commit in order) and has nothing to acknowledge; PostgreSQL's several
/// writers commit ids out of order, so its worker reads the events not yet taken and marks them
/// taken under the lease's fence.
pub(crate) trait Backend: Send + Sync {
    /// Stores what arrived in one transaction (one fsync); answers for each whether it was
    /// new. `notify`: tell the other replicas (PostgreSQL) that new events are stored.
    fn insert_events(
        &self,
        arrivals: Vec<Arrival>,
        notify: bool,
    ) -> impl Future<Output = Result<Vec<Stored>, InsertFailure>> + Send;
    /// The worker's next events, in arrival order, after `after` (its cursor).
    fn next_batch(
        &self,
        after: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<StoredEvent>, StoreError>> + Send;
    /// Records that these events were fed to the worker; false when `fence` no longer holds.
    fn ack(
        &self,
        ids: Vec<i64>,
        fence: Option<Fence>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// The last event id, and the events of calls not yet handled up to it (for a restart).
    fn unfinished_events(
        &self,
    ) -> impl Future<Output = Result<(i64, Vec<StoredEvent>), StoreError>> + Send;
    /// The stored events of one call, in arrival order.
    fn events_of(
        &self,
        call_id: &str,
    ) -> impl Future<Output = Result<Vec<StoredEvent>, StoreError>> + Send;
    /// Parked calls an operator asked to retry; each is taken once.
    fn take_requeued(&self) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
    /// Events not yet fed to the worker (after `cursor`).
    fn pending_count(&self, cursor: i64) -> impl Future<Output = Result<i64, StoreError>> + Send;
    /// Keeps one amoCRM exchange (JSON) for `sipamo record`.
    fn keep_exchange(
        &self,
        call_id: Option<String>,
        at_ms: i64,
        json: String,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Saves the settings text the service runs with.
    fn save_settings(
        &self,
        yaml: String,
        now_ms: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// A round trip to the database, for `/health`.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Removes what was finished or last written before `cutoff_ms`.
    fn prune(&self, cutoff_ms: i64) -> impl Future<Output = Result<Pruned, StoreError>> + Send;
    /// Requests kept aside (R-WIRE), oldest first; only the one numbered `only` when given.
    fn kept_requests(
        &self,
        only: Option<i64>,
    ) -> impl Future<Output = Result<Vec<KeptRequest>, StoreError>> + Send;
    /// Parked calls, oldest first.
    fn parked_calls(&self) -> impl Future<Output = Result<Vec<ParkedCall>, StoreError>> + Send;
    /// Whether the call was handled, and its saved progress (JSON) if it has one.
    fn call_state(
        &self,
        call_id: &str,
    ) -> impl Future<Output = Result<(bool, Option<String>), StoreError>> + Send;
    /// Puts a parked call back in the queue; false when it is not parked.
    fn requeue(&self, call_id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// The service's database, as the `--db` URL names it.
pub(crate) enum Db {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Db {
    /// Opens (creating and migrating if needed) the database of `url`: with SQLite a
    /// connection of its own; with PostgreSQL a handle on the process's pool for its database,
    /// for the account's rows if `url` names one.
    pub(crate) async fn open(url: &DbUrl) -> Result<Db, StoreError> {
        match url {
            DbUrl::Sqlite(path) => SqliteStore::open(path).map(Db::Sqlite),
            DbUrl::Postgres(u) => PgConn::connect(u)
                .await
                .map(|c| Db::Postgres(PgStore(c)))
                .map_err(|e| StoreError {
                    doing: "opening the database",
                    message: e.to_string(),
                }),
        }
    }

    /// Opens a database the service made: a SQLite file must exist and hold sipamo's tables
    /// (an operator command never creates one); PostgreSQL is connected (and migrated).
    pub(crate) async fn open_existing(url: &DbUrl) -> Result<Db, StoreError> {
        match url {
            DbUrl::Sqlite(path) => SqliteStore::open_existing(path).map(Db::Sqlite),
            DbUrl::Postgres(_) => Db::open(url).await,
        }
    }
}

/// Calls the same operation on whichever backend the database is.
macro_rules! on_backend {
    ($db:expr, $b:ident => $call:expr) => {
        match $db {
            Db::Sqlite($b) => $call.await,
            Db::Postgres($b) => $call.await,
        }
    };
}

impl Backend for Db {
    async fn insert_events(
        &self,
        arrivals: Vec<Arrival>,
        notify: bool,
    ) -> Result<Vec<Stored>, InsertFailure> {
        on_backend!(self, b => b.insert_events(arrivals, notify))
    }
    async fn next_batch(&self, after: i64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        on_backend!(self, b => b.next_batch(after, limit))
    }
    async fn ack(&self, ids: Vec<i64>, fence: Option<Fence>) -> Result<bool, StoreError> {
        on_backend!(self, b => b.ack(ids, fence))
    }
    async fn unfinished_events(&self) -> Result<(i64, Vec<StoredEvent>), StoreError> {
        on_backend!(self, b => b.unfinished_events())
    }
    async fn events_of(&self, call_id: &str) -> Result<Vec<StoredEvent>, StoreError> {
        on_backend!(self, b => b.events_of(call_id))
    }
    async fn take_requeued(&self) -> Result<Vec<String>, StoreError> {
        on_backend!(self, b => b.take_requeued())
    }
    async fn pending_count(&self, cursor: i64) -> Result<i64, StoreError> {
        on_backend!(self, b => b.pending_count(cursor))
    }
    async fn keep_exchange(
        &self,
        call_id: Option<String>,
        at_ms: i64,
        json: String,
    ) -> Result<(), StoreError> {
        on_backend!(self, b => b.keep_exchange(call_id, at_ms, json))
    }
    async fn save_settings(&self, yaml: String, now_ms: i64) -> Result<(), StoreError> {
        on_backend!(self, b => b.save_settings(yaml, now_ms))
    }
    async fn ping(&self) -> Result<(), StoreError> {
        on_backend!(self, b => b.ping())
    }
    async fn prune(&self, cutoff_ms: i64) -> Result<Pruned, StoreError> {
        on_backend!(self, b => b.prune(cutoff_ms))
    }
    async fn kept_requests(&self, only: Option<i64>) -> Result<Vec<KeptRequest>, StoreError> {
        on_backend!(self, b => b.kept_requests(only))
    }
    async fn parked_calls(&self) -> Result<Vec<ParkedCall>, StoreError> {
        on_backend!(self, b => b.parked_calls())
    }
    async fn call_state(&self, call_id: &str) -> Result<(bool, Option<String>), StoreError> {
        on_backend!(self, b => b.call_state(call_id))
    }
    async fn requeue(&self, call_id: &str) -> Result<bool, StoreError> {
        on_backend!(self, b => b.requeue(call_id))
    }
}
