//! What `sipamo record` reads back, in SQLite: the kept amoCRM exchanges and the settings the
//! service runs with.

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

/// The kept exchanges (JSON text) of these calls, and the latest account-level one per path,
/// in order sent.
#[cfg(any(feature = "sim", test))]
pub(crate) fn of_calls_text(conn: &Connection, calls: &[String]) -> rusqlite::Result<Vec<String>> {
    let mut st = conn.prepare(
        "SELECT exchange FROM exchanges WHERE call_id IN (SELECT value FROM json_each(?1))
            OR id IN (SELECT MAX(id) FROM exchanges WHERE call_id IS NULL
                      GROUP BY json_extract(exchange, '$.path'))
         ORDER BY id",
    )?;
    let ids = serde_json::to_string(calls).unwrap_or_else(|_| "[]".into());
    let rows = st.query_map([ids], |r| r.get::<_, String>(0))?;
    rows.collect()
}

/// The settings text saved at the last start, if any.
#[cfg(any(feature = "sim", test))]
pub(crate) fn settings(conn: &Connection) -> rusqlite::Result<Option<String>> {
    use rusqlite::OptionalExtension as _;
    conn.query_row("SELECT yaml FROM service_settings WHERE id = 1", [], |r| {
        r.get(0)
    })
    .optional()
}
