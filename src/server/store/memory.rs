//! The engine's memory in the service's database, SQLite or PostgreSQL by the `--db` URL:
//! written once ([`StoreMemory`]) over the rows each backend keeps ([`MemoryRows`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::postgres::{PgConn, PgError, PgMemory};
use super::sqlite::SqliteMemory;
use crate::clock::Clock;
use crate::engine::memory::{
    MemResult, Memory, ParkedCall, Progress, TaskMemo, UnsortedMemo, Write,
};

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

impl std::str::FromStr for DbUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            s.parse::<postgres::Config>()
                .map_err(|e| format!("the PostgreSQL URL does not parse: {e}"))?;
            return Ok(DbUrl::Postgres(super::postgres::PgUrl::new(s.to_string())));
        }
        let path = s.strip_prefix("sqlite:").unwrap_or(s);
        if path.is_empty() || s.contains("://") {
            return Err(format!(
                "{s:?} is neither sqlite:PATH nor postgres://USER@HOST:PORT/DB"
            ));
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

/// What differs between the backends for the engine's memory: the rows of its tables and the
/// transactions. [`StoreMemory`] is the engine's memory written once over it.
pub(crate) trait MemoryRows: Send + Sync {
    /// The value (JSON) of `key` in `space` of the `memory` table.
    fn get(&self, space: &'static str, key: &str) -> MemResult<Option<String>>;
    /// Sets (or with `None` removes) the value of `key` in `space`, stamped `now_ms`.
    fn put(
        &self,
        space: &'static str,
        key: &str,
        value: Option<&str>,
        now_ms: i64,
    ) -> MemResult<()>;
    /// Records a delivery; false when it was recorded before.
    fn first_delivery(&self, fingerprint: &str, now_ms: i64) -> MemResult<bool>;
    fn is_done(&self, call_id: &str) -> MemResult<bool>;
    /// Inside a transaction: the call is finished, its progress, attempts, intent and parking
    /// gone.
    fn mark_done(&self, call_id: &str, now_ms: i64) -> MemResult<()>;
    fn park(&self, call: &ParkedCall) -> MemResult<()>;
    fn parked(&self) -> MemResult<Vec<ParkedCall>>;
    fn is_parked(&self, call_id: &str) -> MemResult<bool>;
    /// Begins a transaction (never nested: [`StoreMemory`] counts the scopes).
    fn begin(&mut self) -> MemResult<()>;
    /// Commits (`commit`) or rolls back the transaction.
    fn end(&mut self, commit: bool) -> MemResult<()>;
    /// Fences every write with the work lease of `state` (several replicas; SQLite has one
    /// process and nothing to fence).
    fn fence(&mut self, _state: Arc<crate::server::work::lease::LeaseState>) {}
}

/// The engine's memory in SQLite or PostgreSQL: every write committed before the step it
/// records is done; [`Memory::atomically`] one transaction (scopes nest; the outermost
/// reaches the database).
pub struct StoreMemory {
    rows: Box<dyn MemoryRows>,
    /// Stamps what is written, for retention.
    clock: Clock,
    /// Open `atomically` scopes.
    depth: u32,
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
    pub fn open(url: &DbUrl, clock: Clock) -> Result<Self, OpenError> {
        let rows: Box<dyn MemoryRows> = match url {
            DbUrl::Sqlite(path) => {
                let conn = super::sqlite::open(path).map_err(|e| OpenError::Sqlite {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
                Box::new(SqliteMemory::new(conn))
            }
            DbUrl::Postgres(u) => Box::new(PgMemory::new(Arc::new(PgConn::connect(u)?))),
        };
        Ok(StoreMemory::over(rows, clock))
    }

    /// The memory over `rows`.
    pub(crate) fn over(rows: Box<dyn MemoryRows>, clock: Clock) -> Self {
        StoreMemory {
            rows,
            clock,
            depth: 0,
        }
    }

    /// Fences every write with the work lease (PostgreSQL; SQLite has one process).
    pub(crate) fn fenced(mut self, state: Arc<crate::server::work::lease::LeaseState>) -> Self {
        self.rows.fence(state);
        self
    }

    fn get<T: serde::de::DeserializeOwned>(
        &self,
        space: &'static str,
        key: &str,
    ) -> MemResult<Option<T>> {
        self.rows
            .get(space, key)?
            .map(|v| decode(space, key, &v))
            .transpose()
    }

    fn put<T: serde::Serialize>(
        &self,
        space: &'static str,
        key: &str,
        value: Option<&T>,
    ) -> MemResult<()> {
        let text = value.map(encode).transpose()?;
        self.rows
            .put(space, key, text.as_deref(), self.clock.now_ms())
    }

    fn begin(&mut self) -> MemResult<()> {
        if self.depth == 0 {
            self.rows.begin()?;
        }
        self.depth += 1;
        Ok(())
    }

    fn end(&mut self, commit: bool) -> MemResult<()> {
        self.depth = self.depth.saturating_sub(1);
        if self.depth > 0 {
            return Ok(());
        }
        self.rows.end(commit)
    }
}

/// The spaces of the `memory` table (the names are the stored format).
impl Memory for StoreMemory {
    fn first_delivery(&mut self, fingerprint: &str) -> MemResult<bool> {
        self.rows.first_delivery(fingerprint, self.clock.now_ms())
    }
    fn is_done(&self, call_id: &str) -> MemResult<bool> {
        self.rows.is_done(call_id)
    }
    fn mark_done(&mut self, call_id: &str) -> MemResult<()> {
        let now = self.clock.now_ms();
        self.atomically(|m| m.rows.mark_done(call_id, now))
    }
    fn progress(&self, call_id: &str) -> MemResult<Option<Progress>> {
        self.get("progress", call_id)
    }
    fn save_progress(&mut self, call_id: &str, p: &Progress) -> MemResult<()> {
        self.put("progress", call_id, Some(p))
    }
    fn unsorted_of_call(&self, call_id: &str) -> MemResult<Option<UnsortedMemo>> {
        self.get("ring", call_id)
    }
    fn set_unsorted_of_call(&mut self, call_id: &str, memo: &UnsortedMemo) -> MemResult<()> {
        self.put("ring", call_id, Some(memo))
    }
    fn answered_item(&self, call_id: &str) -> MemResult<Option<UnsortedMemo>> {
        self.get("answered", call_id)
    }
    fn set_answered_item(&mut self, call_id: &str, memo: &UnsortedMemo) -> MemResult<()> {
        self.put("answered", call_id, Some(memo))
    }
    fn early_intent(&self, call_id: &str) -> MemResult<Option<Write>> {
        self.get("intent", call_id)
    }
    fn set_early_intent(&mut self, call_id: &str, w: Option<Write>) -> MemResult<()> {
        self.put("intent", call_id, w.as_ref())
    }
    fn callback_task(&self, phone_key: &str) -> MemResult<Option<TaskMemo>> {
        self.get("task", phone_key)
    }
    fn set_callback_task(&mut self, phone_key: &str, memo: &TaskMemo) -> MemResult<()> {
        self.put("task", phone_key, Some(memo))
    }
    fn pending_unsorted(&self, phone_key: &str) -> MemResult<Option<UnsortedMemo>> {
        self.get("pending", phone_key)
    }
    fn set_pending_unsorted(
        &mut self,
        phone_key: &str,
        memo: Option<&UnsortedMemo>,
    ) -> MemResult<()> {
        self.put("pending", phone_key, memo)
    }
    fn count_attempt(&mut self, call_id: &str) -> MemResult<u32> {
        let n = self
            .get::<u32>("attempts", call_id)?
            .unwrap_or(0)
            .saturating_add(1);
        self.put("attempts", call_id, Some(&n))?;
        Ok(n)
    }
    fn park(&mut self, call: &ParkedCall) -> MemResult<()> {
        self.rows.park(call)
    }
    fn parked(&self) -> MemResult<Vec<ParkedCall>> {
        self.rows.parked()
    }
    fn is_parked(&self, call_id: &str) -> MemResult<bool> {
        self.rows.is_parked(call_id)
    }
    /// All of `f`'s writes or none.
    fn atomically<T>(&mut self, f: impl FnOnce(&mut Self) -> MemResult<T>) -> MemResult<T> {
        self.begin()?;
        match f(self) {
            Ok(v) => self.end(true).map(|()| v),
            Err(e) => {
                let _ = self.end(false);
                Err(e)
            }
        }
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
