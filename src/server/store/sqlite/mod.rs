//! The durable store: one SQLite database (WAL) holding the inbox of Sipuni events and the
//! engine's memory, so that a crash at any moment loses no acknowledged event and repeats no
//! amoCRM write.

pub(crate) mod exchanges;
pub(crate) mod inbox;
mod memory;
pub(crate) mod retention;
mod schema;
mod store;

pub(crate) use memory::SqliteMemory;
pub(crate) use store::SqliteStore;

use std::path::Path;

use rusqlite::Connection;

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
