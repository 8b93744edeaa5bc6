//! The engine's memory in the service's database, SQLite or PostgreSQL by the `--db` URL: one
//! interface ([`StoreMemory`]) over two implementations with the same semantics.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::pg::{PgConn, PgError, PgMemory};
use super::store::SqliteMemory;
use crate::clock::Clock;
use crate::engine::memory::{
    MemResult, Memory, ParkedCall, Progress, TaskMemo, UnsortedMemo, Write,
};

/// Where the service keeps its data: `sqlite:PATH` (or a plain path) or `postgres://…`.
#[derive(Clone, PartialEq, Eq)]
pub enum DbUrl {
    Sqlite(PathBuf),
    Postgres(super::pg::PgUrl),
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
            return Ok(DbUrl::Postgres(super::pg::PgUrl::new(s.to_string())));
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
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    space: &str,
    key: &str,
    text: &str,
) -> MemResult<T> {
    serde_json::from_str(text).map_err(|e| crate::engine::memory::MemoryError {
        doing: "reading the engine's memory",
        message: format!("{space}/{key} does not decode: {e}"),
    })
}

/// A memory value as stored (JSON).
pub(crate) fn encode<T: serde::Serialize>(value: &T) -> MemResult<String> {
    serde_json::to_string(value).map_err(|e| crate::engine::memory::MemoryError {
        doing: "writing the engine's memory",
        message: e.to_string(),
    })
}

/// The [`Memory`] operations that read or write one key of one space of the `memory` table
/// (the space names are the stored format): the same in every store, which gives `get` and
/// `put` (JSON values).
macro_rules! spaced_memory {
    () => {
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
    };
}
pub(crate) use spaced_memory;

/// A transaction scope: `begin` and `end` nest; only the outermost pair reaches the database.
pub(crate) trait Transactional {
    fn begin(&mut self) -> MemResult<()>;
    /// Ends the innermost scope: the outermost commits (`commit`) or rolls back.
    fn end(&mut self, commit: bool) -> MemResult<()>;
}

/// [`Memory::atomically`] over a [`Transactional`] store: all of `f`'s writes or none.
pub(crate) fn atomically<M: Transactional, T>(
    m: &mut M,
    f: impl FnOnce(&mut M) -> MemResult<T>,
) -> MemResult<T> {
    m.begin()?;
    match f(m) {
        Ok(v) => m.end(true).map(|()| v),
        Err(e) => {
            let _ = m.end(false);
            Err(e)
        }
    }
}

/// The engine's memory in SQLite or PostgreSQL.
pub struct StoreMemory(Backend);

enum Backend {
    Sqlite(SqliteMemory),
    Postgres(PgMemory),
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
        match url {
            DbUrl::Sqlite(path) => {
                let conn = super::store::open(path).map_err(|e| OpenError::Sqlite {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
                Ok(StoreMemory(Backend::Sqlite(SqliteMemory::new(conn, clock))))
            }
            DbUrl::Postgres(u) => Ok(StoreMemory(Backend::Postgres(PgMemory::new(
                Arc::new(PgConn::connect(u)?),
                clock,
            )))),
        }
    }
}

impl StoreMemory {
    /// Fences every write with the work lease (PostgreSQL; SQLite has one process).
    pub(crate) fn fenced(self, state: Arc<super::lease::LeaseState>) -> Self {
        match self.0 {
            Backend::Postgres(m) => StoreMemory(Backend::Postgres(m.fenced(state))),
            other => StoreMemory(other),
        }
    }
}

impl Transactional for StoreMemory {
    fn begin(&mut self) -> MemResult<()> {
        match &mut self.0 {
            Backend::Sqlite(m) => m.begin(),
            Backend::Postgres(m) => m.begin(),
        }
    }
    fn end(&mut self, commit: bool) -> MemResult<()> {
        match &mut self.0 {
            Backend::Sqlite(m) => m.end(commit),
            Backend::Postgres(m) => m.end(commit),
        }
    }
}

/// Forwards a [`Memory`] method to the backend.
macro_rules! each {
    ($self:ident, $m:ident => $e:expr) => {
        match &mut $self.0 {
            Backend::Sqlite($m) => $e,
            Backend::Postgres($m) => $e,
        }
    };
    (ref $self:ident, $m:ident => $e:expr) => {
        match &$self.0 {
            Backend::Sqlite($m) => $e,
            Backend::Postgres($m) => $e,
        }
    };
}

impl Memory for StoreMemory {
    fn first_delivery(&mut self, fingerprint: &str) -> MemResult<bool> {
        each!(self, m => m.first_delivery(fingerprint))
    }
    fn is_done(&self, call_id: &str) -> MemResult<bool> {
        each!(ref self, m => m.is_done(call_id))
    }
    fn mark_done(&mut self, call_id: &str) -> MemResult<()> {
        each!(self, m => m.mark_done(call_id))
    }
    fn progress(&self, call_id: &str) -> MemResult<Option<Progress>> {
        each!(ref self, m => m.progress(call_id))
    }
    fn save_progress(&mut self, call_id: &str, p: &Progress) -> MemResult<()> {
        each!(self, m => m.save_progress(call_id, p))
    }
    fn unsorted_of_call(&self, call_id: &str) -> MemResult<Option<UnsortedMemo>> {
        each!(ref self, m => m.unsorted_of_call(call_id))
    }
    fn set_unsorted_of_call(&mut self, call_id: &str, memo: &UnsortedMemo) -> MemResult<()> {
        each!(self, m => m.set_unsorted_of_call(call_id, memo))
    }
    fn answered_item(&self, call_id: &str) -> MemResult<Option<UnsortedMemo>> {
        each!(ref self, m => m.answered_item(call_id))
    }
    fn set_answered_item(&mut self, call_id: &str, memo: &UnsortedMemo) -> MemResult<()> {
        each!(self, m => m.set_answered_item(call_id, memo))
    }
    fn early_intent(&self, call_id: &str) -> MemResult<Option<Write>> {
        each!(ref self, m => m.early_intent(call_id))
    }
    fn set_early_intent(&mut self, call_id: &str, w: Option<Write>) -> MemResult<()> {
        each!(self, m => m.set_early_intent(call_id, w))
    }
    fn callback_task(&self, phone_key: &str) -> MemResult<Option<TaskMemo>> {
        each!(ref self, m => m.callback_task(phone_key))
    }
    fn set_callback_task(&mut self, phone_key: &str, memo: &TaskMemo) -> MemResult<()> {
        each!(self, m => m.set_callback_task(phone_key, memo))
    }
    fn pending_unsorted(&self, phone_key: &str) -> MemResult<Option<UnsortedMemo>> {
        each!(ref self, m => m.pending_unsorted(phone_key))
    }
    fn set_pending_unsorted(
        &mut self,
        phone_key: &str,
        memo: Option<&UnsortedMemo>,
    ) -> MemResult<()> {
        each!(self, m => m.set_pending_unsorted(phone_key, memo))
    }
    fn count_attempt(&mut self, call_id: &str) -> MemResult<u32> {
        each!(self, m => m.count_attempt(call_id))
    }
    fn park(&mut self, call: &ParkedCall) -> MemResult<()> {
        each!(self, m => m.park(call))
    }
    fn parked(&self) -> MemResult<Vec<ParkedCall>> {
        each!(ref self, m => m.parked())
    }
    fn is_parked(&self, call_id: &str) -> MemResult<bool> {
        each!(ref self, m => m.is_parked(call_id))
    }
    fn atomically<T>(&mut self, f: impl FnOnce(&mut Self) -> MemResult<T>) -> MemResult<T> {
        atomically(self, f)
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
