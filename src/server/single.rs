//! One `sipamo serve` per SQLite file: a second process on the same database would work the
//! same calls beside the first (SQLite has no work lease), so it refuses to start.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use super::error::ServeError;

/// Held while the service runs; the lock goes with the process, even on `kill -9`.
#[derive(Debug)]
pub(crate) struct DbLock {
    _file: File,
}

/// The lock file beside the database: `sipamo.db` → `sipamo.db.lock`.
fn lock_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

/// Takes the database's lock, or says which process-free fix applies.
pub(crate) fn lock(db: &Path) -> Result<DbLock, ServeError> {
    let path = lock_path(db);
    let mut open = OpenOptions::new();
    open.read(true).write(true).create(true).truncate(false);
    {
        use std::os::unix::fs::OpenOptionsExt;
        open.mode(0o600);
    }
    let file = open.open(&path).map_err(|source| ServeError::Read {
        what: "database lock",
        path: path.clone(),
        source,
    })?;
    match file.try_lock() {
        Ok(()) => Ok(DbLock { _file: file }),
        Err(TryLockError::WouldBlock) => Err(ServeError::Options(format!(
            "another sipamo serve is using {}: one process per SQLite database (stop the other, \
             give this one its own --db, or use PostgreSQL for several replicas)",
            db.display()
        ))),
        Err(TryLockError::Error(source)) => Err(ServeError::Read {
            what: "database lock",
            path,
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_database_is_refused_and_free_again_once_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        let first = lock(&db).unwrap();
        let e = lock(&db).unwrap_err().to_string();
        assert!(e.contains("another sipamo serve"), "{e}");
        drop(first);
        assert!(lock(&db).is_ok());
    }
}
