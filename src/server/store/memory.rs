//! The engine's memory in the service's database, SQLite or PostgreSQL by the `--db` URL:
//! written once ([`StoreMemory`]) over the rows each backend keeps ([`MemoryRows`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::postgres::{PgConn, PgError, PgMemory};
use super::sqlite::SqliteMemory;
use crate::clock::Clock;
use crate::engine::memory::{
    Change, MemResult, Memory, ParkedCall, Progress, TaskMemo, Transaction, UnsortedMemo, Write,
};
use crate::sipuni::event::CallId;

/// Where the service keeps its data: `sqlite:PATH` (or a plain path) or `postgres://…`.
#[derive(Clone, PartialEq, Eq)]
pub enum DbUrl {
    Sqlite(PathBuf),
    Postgres(super::postgres::PgUrl),
}

impl DbUrl {
    /// The same database, its PostgreSQL connections from the ingest lane (SQLite: itself).
    pub(crate) fn ingest(&self) -> DbUrl {
        match self {
            DbUrl::Sqlite(p) => DbUrl::Sqlite(p.clone()),
            DbUrl::Postgres(u) => DbUrl::Postgres(u.ingest()),
        }
    }
}

impl std::fmt::Debug for DbUrl {
    /// Never shows a PostgreSQL password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbUrl::Sqlite(p) => write!(f, "sqlite:{}", p.display()),
            DbUrl::Postgres(url) => write!(f, "{url:?}"),
        }
    }
}

impl std::fmt::Display for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// A `--db` value that names no database sipamo can use.
#[derive(Debug, thiserror::Error)]
pub enum BadDbUrl {
    /// PostgreSQL's own words (never the password: the URL is not repeated).
    #[error("the PostgreSQL URL does not parse: {0}")]
    Postgres(String),
    #[error("{0:?} is neither sqlite:PATH nor postgres://USER@HOST:PORT/DB")]
    Neither(String),
}

impl std::str::FromStr for DbUrl {
    type Err = BadDbUrl;
    fn from_str(s: &str) -> Result<Self, BadDbUrl> {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            s.parse::<tokio_postgres::Config>()
                .map_err(|e| BadDbUrl::Postgres(e.to_string()))?;
            return Ok(DbUrl::Postgres(super::postgres::PgUrl::new(s.to_string())));
        }
        let path = s.strip_prefix("sqlite:").unwrap_or(s);
        if path.is_empty() || s.contains("://") {
            return Err(BadDbUrl::Neither(s.to_string()));
        }
        Ok(DbUrl::Sqlite(Path::new(path).to_path_buf()))
    }
}

/// A stored memory value (JSON) read back; an error names the entry that does not decode.
fn decode<T: serde::de::DeserializeOwned>(space: &str, key: &str, text: &str) -> MemResult<T> {
    serde_json::from_str(text).map_err(|e| crate::engine::memory::MemoryError {
        doing: "reading the engine's memory",
        message: format!("{space}/{key} does not decode: {e}"),
    })
}

/// A memory value as stored (JSON).
fn encode<T: serde::Serialize>(value: &T) -> MemResult<String> {
    serde_json::to_string(value).map_err(|e| crate::engine::memory::MemoryError {
        doing: "writing the engine's memory",
        message: e.to_string(),
    })
}

/// One write of a committed [`Transaction`], as rows: a value of the `memory` table set (or
/// removed), or a call finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RowWrite {
    Put {
        space: &'static str,
        key: String,
        /// JSON; `None` removes the row.
        value: Option<String>,
    },
    /// The call is finished: its progress, attempts, intent and parking are gone.
    Done(String),
}

/// What differs between the backends for the engine's memory: the rows of its tables and the
/// transactions. [`StoreMemory`] is the engine's memory written once over it.
pub(crate) trait MemoryRows: Send + Sync {
    /// The value (JSON) of `key` in `space` of the `memory` table.
    fn get(
        &self,
        space: &'static str,
        key: &str,
    ) -> impl Future<Output = MemResult<Option<String>>> + Send;
    /// Records a delivery; false when it was recorded before.
    fn first_delivery(
        &self,
        fingerprint: &str,
        now_ms: i64,
    ) -> impl Future<Output = MemResult<bool>> + Send;
    fn is_done(&self, call_id: &str) -> impl Future<Output = MemResult<bool>> + Send;
    fn park(&self, call: &ParkedCall) -> impl Future<Output = MemResult<()>> + Send;
    fn parked(&self) -> impl Future<Output = MemResult<Vec<ParkedCall>>> + Send;
    fn is_parked(&self, call_id: &str) -> impl Future<Output = MemResult<bool>> + Send;
    /// Applies `writes` in one transaction, stamped `now_ms`: all of them or none (fenced by
    /// the work lease where there is one).
    fn commit(
        &self,
        writes: &[RowWrite],
        now_ms: i64,
    ) -> impl Future<Output = MemResult<()>> + Send;
}

/// The rows of one of the two backends.
pub(crate) enum Rows {
    Sqlite(SqliteMemory),
    Postgres(PgMemory),
}

impl From<SqliteMemory> for Rows {
    fn from(m: SqliteMemory) -> Self {
        Rows::Sqlite(m)
    }
}

/// Calls the same operation on whichever backend holds the rows.
macro_rules! on_rows {
    ($rows:expr, $r:ident => $call:expr) => {
        match $rows {
            Rows::Sqlite($r) => $call.await,
            Rows::Postgres($r) => $call.await,
        }
    };
}

impl MemoryRows for Rows {
    async fn get(&self, space: &'static str, key: &str) -> MemResult<Option<String>> {
        on_rows!(self, r => r.get(space, key))
    }
    async fn first_delivery(&self, fingerprint: &str, now_ms: i64) -> MemResult<bool> {
        on_rows!(self, r => r.first_delivery(fingerprint, now_ms))
    }
    async fn is_done(&self, call_id: &str) -> MemResult<bool> {
        on_rows!(self, r => r.is_done(call_id))
    }
    async fn park(&self, call: &ParkedCall) -> MemResult<()> {
        on_rows!(self, r => r.park(call))
    }
    async fn parked(&self) -> MemResult<Vec<ParkedCall>> {
        on_rows!(self, r => r.parked())
    }
    async fn is_parked(&self, call_id: &str) -> MemResult<bool> {
        on_rows!(self, r => r.is_parked(call_id))
    }
    async fn commit(&self, writes: &[RowWrite], now_ms: i64) -> MemResult<()> {
        on_rows!(self, r => r.commit(writes, now_ms))
    }
}

/// The engine's memory in SQLite or PostgreSQL: every write committed before the step it
/// records is done; a [`Transaction`] is one database transaction.
pub struct StoreMemory {
    rows: Rows,
    /// Stamps what is written, for retention.
    clock: Clock,
}

/// The memory could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open the SQLite database {path}: {message}")]
    Sqlite { path: String, message: String },
    #[error(transparent)]
    Postgres(#[from] PgError),
}

impl StoreMemory {
    /// Opens (and migrates) the database of `url`.
    pub async fn open(url: &DbUrl, clock: Clock) -> Result<Self, OpenError> {
        let rows = match url {
            DbUrl::Sqlite(path) => {
                let conn = super::sqlite::open(path).map_err(|e| OpenError::Sqlite {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
                Rows::Sqlite(SqliteMemory::new(conn))
            }
            DbUrl::Postgres(u) => Rows::Postgres(PgMemory::new(PgConn::connect(u).await?)),
        };
        Ok(StoreMemory::over(rows, clock))
    }

    /// The memory over `rows`.
    pub(crate) fn over(rows: impl Into<Rows>, clock: Clock) -> Self {
        StoreMemory {
            rows: rows.into(),
            clock,
        }
    }

    /// Fences every write with the work lease (PostgreSQL; SQLite has one process and nothing
    /// to fence).
    pub(crate) fn fenced(mut self, state: Arc<crate::server::work::lease::LeaseState>) -> Self {
        if let Rows::Postgres(pg) = &mut self.rows {
            pg.fence(state);
        }
        self
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        space: &'static str,
        key: &str,
    ) -> MemResult<Option<T>> {
        self.rows
            .get(space, key)
            .await?
            .map(|v| decode(space, key, &v))
            .transpose()
    }
}

/// A value of the `memory` table to set (or remove).
fn put<T: serde::Serialize>(
    space: &'static str,
    key: &str,
    value: Option<&T>,
) -> MemResult<RowWrite> {
    Ok(RowWrite::Put {
        space,
        key: key.to_string(),
        value: value.map(encode).transpose()?,
    })
}

/// A change as rows (the space names are the stored format).
fn row_write(change: &Change) -> MemResult<RowWrite> {
    match change {
        Change::Progress(id, p) => put("progress", id, Some(p)),
        Change::UnsortedOfCall(id, m) => put("ring", id, Some(m)),
        Change::AnsweredItem(id, m) => put("answered", id, Some(m)),
        Change::EarlyIntent(id, w) => put("intent", id, w.as_ref()),
        Change::CallbackTask(key, t) => put("task", key, Some(t)),
        Change::PendingUnsorted(key, m) => put("pending", key, m.as_ref()),
        Change::Done(id) => Ok(RowWrite::Done(id.to_string())),
    }
}

impl Memory for StoreMemory {
    async fn first_delivery(&mut self, fingerprint: &str) -> MemResult<bool> {
        let now = self.clock.now_ms();
        self.rows.first_delivery(fingerprint, now).await
    }
    async fn is_done(&self, call_id: &CallId) -> MemResult<bool> {
        self.rows.is_done(call_id).await
    }
    async fn progress(&self, call_id: &CallId) -> MemResult<Option<Progress>> {
        self.get("progress", call_id).await
    }
    async fn unsorted_of_call(&self, call_id: &CallId) -> MemResult<Option<UnsortedMemo>> {
        self.get("ring", call_id).await
    }
    async fn answered_item(&self, call_id: &CallId) -> MemResult<Option<UnsortedMemo>> {
        self.get("answered", call_id).await
    }
    async fn early_intent(&self, call_id: &CallId) -> MemResult<Option<Write>> {
        self.get("intent", call_id).await
    }
    async fn callback_task(&self, phone_key: &str) -> MemResult<Option<TaskMemo>> {
        self.get("task", phone_key).await
    }
    async fn pending_unsorted(&self, phone_key: &str) -> MemResult<Option<UnsortedMemo>> {
        self.get("pending", phone_key).await
    }
    async fn count_attempt(&mut self, call_id: &CallId) -> MemResult<u32> {
        let n = self
            .get::<u32>("attempts", call_id)
            .await?
            .unwrap_or(0)
            .saturating_add(1);
        let write = put("attempts", call_id, Some(&n))?;
        self.rows.commit(&[write], self.clock.now_ms()).await?;
        Ok(n)
    }
    async fn park(&mut self, call: &ParkedCall) -> MemResult<()> {
        self.rows.park(call).await
    }
    async fn parked(&self) -> MemResult<Vec<ParkedCall>> {
        self.rows.parked().await
    }
    async fn is_parked(&self, call_id: &CallId) -> MemResult<bool> {
        self.rows.is_parked(call_id).await
    }
    /// All of `tx`'s writes in one database transaction, or none.
    async fn commit(&mut self, tx: Transaction) -> MemResult<()> {
        let writes = tx
            .changes()
            .iter()
            .map(row_write)
            .collect::<MemResult<Vec<_>>>()?;
        if writes.is_empty() {
            return Ok(());
        }
        self.rows.commit(&writes, self.clock.now_ms()).await
    }
}

#[cfg(test)]
mod tests {
    use super::DbUrl;

    #[test]
    fn db_urls_name_their_store() {
        assert_eq!(
            "sqlite:a/b.db".parse::<DbUrl>().unwrap(),
            DbUrl::Sqlite("a/b.db".into())
        );
        assert_eq!(
            "b.db".parse::<DbUrl>().unwrap(),
            DbUrl::Sqlite("b.db".into())
        );
        let pg: DbUrl = "postgres://u:secret@h:5433/d".parse().unwrap();
        assert_eq!(pg.to_string(), "postgres://h:5433/d");
        assert!("mysql://h/d".parse::<DbUrl>().is_err());
    }
}
