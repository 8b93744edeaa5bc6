//! The database's schema, as versioned migrations applied at start (SQLite's `user_version`
//! holds the version; a database from an older sipamo is brought up to date, never rebuilt).

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

/// Version 1: the inbox, the engine's memory, parked and requeued calls. Written with
/// `IF NOT EXISTS` so that databases made before versioning are taken over as they are.
const V1: &str = "
CREATE TABLE IF NOT EXISTS events (
    id          INTEGER PRIMARY KEY,
    call_id     TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    raw         TEXT NOT NULL,
    received_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_call ON events(call_id);
CREATE TABLE IF NOT EXISTS deliveries (fingerprint TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS calls_done (call_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS memory (
    space TEXT NOT NULL,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (space, key)
);
CREATE TABLE IF NOT EXISTS parked (
    call_id  TEXT PRIMARY KEY,
    reason   TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    at_ms    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS requeued (call_id TEXT PRIMARY KEY);
";

/// Version 2: when each finished call, memory entry and delivery was last written, so that
/// retention can remove what is older (rows from before count from the upgrade); and event ids
/// that are never reused once retention has emptied the inbox (the worker's cursor is an id).
const V2: &str = "
CREATE TABLE events_v2 (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id     TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    raw         TEXT NOT NULL,
    received_ms INTEGER NOT NULL
);
INSERT INTO events_v2 (id, call_id, fingerprint, raw, received_ms)
    SELECT id, call_id, fingerprint, raw, received_ms FROM events;
DROP TABLE events;
ALTER TABLE events_v2 RENAME TO events;
CREATE INDEX events_by_call ON events(call_id);
ALTER TABLE calls_done ADD COLUMN done_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE memory ADD COLUMN touched_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN at_ms INTEGER NOT NULL DEFAULT 0;
UPDATE calls_done SET done_ms = CAST(unixepoch('subsec') * 1000 AS INTEGER);
UPDATE memory SET touched_ms = CAST(unixepoch('subsec') * 1000 AS INTEGER);
UPDATE deliveries SET at_ms = CAST(unixepoch('subsec') * 1000 AS INTEGER);
CREATE INDEX calls_done_by_time ON calls_done(done_ms);
CREATE INDEX memory_by_time ON memory(touched_ms);
CREATE INDEX deliveries_by_time ON deliveries(at_ms);
";

/// Version 3: the amoCRM exchanges of each call (kept for `sipamo record` within the
/// retention; `call_id` NULL for account-level requests such as the start-up check) and the
/// settings the service runs with.
const V3: &str = "
CREATE TABLE exchanges (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id  TEXT,
    at_ms    INTEGER NOT NULL,
    exchange TEXT NOT NULL
);
CREATE INDEX exchanges_by_call ON exchanges(call_id);
CREATE INDEX exchanges_by_time ON exchanges(at_ms);
CREATE TABLE service_settings (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    yaml     TEXT NOT NULL,
    saved_ms INTEGER NOT NULL
);
";

/// Version 4: requests on the secret path that are no event the engine can use, kept with
/// their reason (R-WIRE), as received (bytes, content type).
const V4: &str = "
CREATE TABLE kept (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    received_ms  INTEGER NOT NULL,
    reason       TEXT NOT NULL,
    detail       TEXT NOT NULL,
    content_type TEXT,
    raw          BLOB NOT NULL
);
CREATE INDEX kept_by_time ON kept(received_ms);
";

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![M::up(V1), M::up(V2), M::up(V3), M::up(V4)])
}

/// Brings the database to the current version; a database from a newer sipamo is refused.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), rusqlite_migration::Error> {
    migrations().to_latest(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migrations_are_valid() {
        assert!(migrations().validate().is_ok());
    }

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
