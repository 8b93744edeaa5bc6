//! The amoCRM exchanges the service keeps and the settings it runs with, in SQLite (`sipamo
//! record` reads them back).

use rusqlite::{Connection, params};

/// Keeps one amoCRM exchange (JSON).
pub(crate) fn keep(
    conn: &Connection,
    call_id: Option<&str>,
    at_ms: i64,
    json: &str,
) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT INTO exchanges (call_id, at_ms, exchange) VALUES (?1, ?2, ?3)")?
        .execute(params![call_id, at_ms, json])
        .map(drop)
}

/// Saves the settings text the service runs with.
pub(crate) fn save_settings(conn: &Connection, yaml: &str, now_ms: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO service_settings (id, yaml, saved_ms) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET yaml = excluded.yaml, saved_ms = excluded.saved_ms",
        params![yaml, now_ms],
    )?;
    Ok(())
}
