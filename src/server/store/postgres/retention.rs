//! Retention in PostgreSQL: the steps of `crate::server::work::retention`, each over one
//! account's rows, in batches.

use tokio_postgres::{Client, Error};

use crate::server::work::retention::Pruned;

/// The retention steps of `src/server/retention.rs`, in PostgreSQL's dialect.
/// Each of one account's (`$3`) rows.
const STEPS: [&str; 6] = [
    "DELETE FROM events WHERE id IN (
         SELECT e.id FROM events e
           JOIN calls_done d ON d.account = e.account AND d.call_id = e.call_id
         WHERE e.account = $3 AND d.done_ms < $1 LIMIT $2)",
    "DELETE FROM exchanges WHERE id IN (
         SELECT id FROM exchanges WHERE account = $3 AND at_ms < $1
           AND (call_id IN (SELECT call_id FROM calls_done WHERE account = $3 AND done_ms < $1)
                OR (call_id IS NULL AND id NOT IN (
                    SELECT MAX(id) FROM exchanges WHERE account = $3 AND call_id IS NULL
                    GROUP BY exchange::json->>'path')))
         LIMIT $2)",
    "DELETE FROM calls_done WHERE account = $3 AND call_id IN (
         SELECT call_id FROM calls_done WHERE account = $3 AND done_ms < $1 LIMIT $2)",
    "DELETE FROM memory WHERE account = $3 AND (space, key) IN (
         SELECT space, key FROM memory WHERE account = $3 AND touched_ms < $1
           AND space NOT IN ('progress', 'attempts', 'intent')
           AND key NOT IN (SELECT call_id FROM parked WHERE account = $3)
         LIMIT $2)",
    "DELETE FROM deliveries WHERE account = $3 AND fingerprint IN (
         SELECT fingerprint FROM deliveries WHERE account = $3 AND at_ms < $1 LIMIT $2)",
    "DELETE FROM kept WHERE id IN (
         SELECT id FROM kept WHERE account = $3 AND received_ms < $1 LIMIT $2)",
];

pub(crate) async fn prune(c: &Client, account: &str, cutoff_ms: i64) -> Result<Pruned, Error> {
    let batch = i64::try_from(crate::server::work::retention::BATCH).unwrap_or(2_000);
    let mut counts = [0usize; 6];
    for (sql, count) in STEPS.iter().zip(counts.iter_mut()) {
        let st = c.prepare(sql).await?;
        loop {
            let n = c.execute(&st, &[&cutoff_ms, &batch, &account]).await?;
            *count += usize::try_from(n).unwrap_or(usize::MAX);
            if n < u64::try_from(batch).unwrap_or(u64::MAX) {
                break;
            }
        }
    }
    Ok(Pruned::from_steps(counts))
}
