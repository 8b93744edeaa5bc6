//! The service's database, SQLite or PostgreSQL by the `--db` URL: each backend in a folder of
//! its own with its SQL and its migrations (`sqlite`, `postgres`); `Db` the service's
//! operations on either (the inbox, the worker's reads, operators' put-backs, the kept
//! exchanges, retention, the accounts), [`StoreMemory`] the engine's memory written once over
//! either's rows.

mod db;
mod memory;
pub(crate) mod postgres;
pub(crate) mod sqlite;

pub(crate) use db::{
    Arrival, Backend, Db, InsertFailure, KeptRequest, NewEvent, NewKept, StoreError, StoredEvent,
};
pub use memory::{BadDbUrl, DbUrl, OpenError, StoreMemory};
pub(crate) use memory::{MemoryRows, RowWrite};
