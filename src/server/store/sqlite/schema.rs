//! The SQLite database's tables, as versioned migrations (refinery, as PostgreSQL's) applied
//! at start: a database from an older sipamo is brought up to date, never rebuilt. Databases
//! versioned by the earlier tool (`PRAGMA user_version`) are taken over at the version they
//! are at, their migrations recorded as applied without running again.

use rusqlite::Connection;

refinery::embed_migrations!("src/server/store/sqlite/migrations");

/// Why the tables could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MigrateError {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Refinery(#[from] refinery::Error),
}

/// Brings the database to the current version; a database from a newer sipamo (a migration
/// this build does not know) is refused.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), MigrateError> {
    take_over(conn)?;
    migrations::runner().run(conn)?;
    Ok(())
}

/// A database the earlier tool versioned (its `user_version`, no refinery history yet): its
/// migrations up to that version are recorded as applied, not run again.
fn take_over(conn: &mut Connection) -> Result<(), MigrateError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let history: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'refinery_schema_history')",
        [],
        |r| r.get(0),
    )?;
    if version > 0 && !history {
        let at = i32::try_from(version).unwrap_or(i32::MAX);
        migrations::runner()
            .set_target(refinery::Target::FakeVersion(at))
            .run(conn)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = include_str!("migrations/V1__init.sql");

    #[test]
    fn a_database_from_before_versioning_is_upgraded_with_its_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(V1).unwrap();
        conn.execute("INSERT INTO calls_done (call_id) VALUES ('c1')", [])
            .unwrap();
        migrate(&mut conn).unwrap();
        let done_ms: i64 = conn
            .query_row(
                "SELECT done_ms FROM calls_done WHERE call_id = 'c1'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(done_ms > 1_700_000_000_000, "stamped at the upgrade");
        migrate(&mut conn).unwrap();
    }

    /// A database of the earlier tool at version 4 (every table made, `user_version` 4): taken
    /// over, nothing run again (version 3's `CREATE TABLE exchanges` would fail), and at the
    /// newest version afterwards.
    #[test]
    fn a_database_the_earlier_tool_versioned_is_taken_over_without_running_again() {
        let mut conn = Connection::open_in_memory().unwrap();
        for m in migrations::runner().get_migrations() {
            conn.execute_batch(m.sql().unwrap()).unwrap();
        }
        conn.pragma_update(None, "user_version", 4).unwrap();
        conn.execute(
            "INSERT INTO exchanges (call_id, at_ms, exchange) VALUES ('c', 1, '{}')",
            [],
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let (applied, rows): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM refinery_schema_history),
                        (SELECT COUNT(*) FROM exchanges)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((applied, rows), (4, 1));
    }

    #[test]
    fn a_database_from_a_newer_sipamo_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.execute(
            "INSERT INTO refinery_schema_history VALUES (99, 'future', '2030-01-01T00:00:00Z', '1')",
            [],
        )
        .unwrap();
        assert!(migrate(&mut conn).is_err());
    }

    #[test]
    fn event_ids_are_never_reused_after_the_inbox_is_emptied() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(V1).unwrap();
        conn.execute(
            "INSERT INTO events (id, call_id, fingerprint, raw, received_ms) VALUES (7, 'c', 'f', '', 0)",
            [],
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        conn.execute("DELETE FROM events", []).unwrap();
        conn.execute(
            "INSERT INTO events (call_id, fingerprint, raw, received_ms) VALUES ('d', 'g', '', 0)",
            [],
        )
        .unwrap();
        assert_eq!(conn.last_insert_rowid(), 8, "after the worker's cursor");
    }
}
