//! Retention in SQLite: the steps of `crate::server::work::retention`, in batches.

use rusqlite::{Connection, params};

use crate::server::work::retention::{BATCH, Pruned};

const STEPS: [(&str, &str); 6] = [
    (
        "events",
        "DELETE FROM events WHERE id IN (
             SELECT e.id FROM events e JOIN calls_done d ON d.call_id = e.call_id
             WHERE d.done_ms < ?1 LIMIT ?2)",
    ),
    (
        "exchanges",
        "DELETE FROM exchanges WHERE id IN (
             SELECT id FROM exchanges WHERE at_ms < ?1
               AND (call_id IN (SELECT call_id FROM calls_done WHERE done_ms < ?1)
                    OR (call_id IS NULL AND id NOT IN (
                        SELECT MAX(id) FROM exchanges WHERE call_id IS NULL
                        GROUP BY json_extract(exchange, '$.path'))))
             LIMIT ?2)",
    ),
    (
        "calls",
        "DELETE FROM calls_done WHERE call_id IN (
             SELECT call_id FROM calls_done WHERE done_ms < ?1 LIMIT ?2)",
    ),
    (
        "memory",
        "DELETE FROM memory WHERE rowid IN (
             SELECT rowid FROM memory WHERE touched_ms < ?1
               AND space NOT IN ('progress', 'attempts', 'intent')
               AND key NOT IN (SELECT call_id FROM parked)
             LIMIT ?2)",
    ),
    (
        "deliveries",
        "DELETE FROM deliveries WHERE fingerprint IN (
             SELECT fingerprint FROM deliveries WHERE at_ms < ?1 LIMIT ?2)",
    ),
    (
        "kept",
        "DELETE FROM kept WHERE id IN (SELECT id FROM kept WHERE received_ms < ?1 LIMIT ?2)",
    ),
];

/// Removes what was finished or last written before `cutoff_ms` (Unix ms), in batches.
pub(crate) fn prune(conn: &Connection, cutoff_ms: i64) -> rusqlite::Result<Pruned> {
    let mut counts = [0usize; 6];
    for ((_, sql), count) in STEPS.iter().zip(counts.iter_mut()) {
        let mut st = conn.prepare_cached(sql)?;
        loop {
            let n = st.execute(params![cutoff_ms, BATCH as i64])?;
            *count += n;
            if n < BATCH {
                break;
            }
        }
    }
    Ok(Pruned::from_steps(counts))
}
