//! Renewing many accounts' work leases in one statement: a replica holding thousands of leases
//! renews them in a few round trips every third of the lease, not one statement (and one pooled
//! connection) per account. Only the common case is batched — a lease this replica holds, not
//! yet expired, with the token it holds — and exactly as the one-lease renewal would do it;
//! anything else (expired, taken by another replica, its row locked by the account's own
//! transaction) is answered "not renewed", and the account's keeper takes the one-lease path,
//! which knows the rest. One account's trouble never holds up the others' renewal.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::lease::DB_NOW_MS;
use super::pg::PgConn;

/// Leases renewed in one statement at most (two parameters each).
const PER_STATEMENT: usize = 200;
/// How long the first renewal of a batch waits for others to join it.
const GATHER: Duration = Duration::from_millis(20);

/// One lease to renew.
struct Renewal {
    /// The account's schema (`None`: the connection's default one).
    schema: Option<String>,
    name: String,
    token: i64,
    length_ms: i64,
    answer: oneshot::Sender<Result<bool, String>>,
}

/// The replica's renewer: hands renewals to the task that batches them.
#[derive(Clone)]
pub(crate) struct Renewals {
    send: mpsc::UnboundedSender<Renewal>,
}

impl Renewals {
    /// Starts the batching task of `holder` (this replica) on `conn`'s pool.
    pub(crate) fn start(conn: PgConn, holder: String) -> Self {
        let (send, recv) = mpsc::unbounded_channel();
        tokio::spawn(gather(Arc::new(conn), Arc::new(holder), recv));
        Renewals { send }
    }

    /// Renews the lease `name` in `schema` held with `token` for `length`: `Ok(true)` renewed,
    /// `Ok(false)` not held any more as it was (take the one-lease path), `Err` when the
    /// database did not answer.
    pub(crate) async fn renew(
        &self,
        schema: Option<&str>,
        name: &str,
        token: i64,
        length: Duration,
    ) -> Result<bool, String> {
        let (answer, answered) = oneshot::channel();
        let renewal = Renewal {
            schema: schema.map(str::to_string),
            name: name.to_string(),
            token,
            length_ms: i64::try_from(length.as_millis()).unwrap_or(i64::MAX),
            answer,
        };
        self.send
            .send(renewal)
            .map_err(|_| "the lease renewer stopped".to_string())?;
        answered
            .await
            .map_err(|_| "the lease renewer stopped".to_string())?
    }
}

/// Gathers renewals into batches and runs them one after the other, on one connection at a
/// time: the keepers tick together, and thousands of renewals run at once would take every
/// connection of the ingest lane, with acknowledgements waiting behind them. Renewals arriving
/// meanwhile form the next batch.
async fn gather(
    conn: Arc<PgConn>,
    holder: Arc<String>,
    mut recv: mpsc::UnboundedReceiver<Renewal>,
) {
    while let Some(first) = recv.recv().await {
        let mut batch = vec![first];
        let until = tokio::time::Instant::now() + GATHER;
        while batch.len() < PER_STATEMENT {
            match tokio::time::timeout_at(until, recv.recv()).await {
                Ok(Some(r)) => batch.push(r),
                _ => break,
            }
        }
        let (answers, batch): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|r| (r.answer, (r.schema, r.name, r.token, r.length_ms)))
            .unzip();
        let (conn, holder) = (conn.clone(), holder.clone());
        let done = tokio::task::spawn_blocking(move || renew_all(&conn, &holder, &batch))
            .await
            .unwrap_or_else(|e| Err(format!("renewing leases panicked: {e}")));
        for (i, answer) in answers.into_iter().enumerate() {
            let _ = answer.send(
                done.as_ref()
                    .map(|renewed| renewed.contains(&i))
                    .map_err(Clone::clone),
            );
        }
    }
}

/// A lease of the batch: schema, name, token, length in ms.
type Item = (Option<String>, String, i64, i64);

/// Renews every lease of `batch` still held by `holder` with its token and not expired, in one
/// statement; answers the indexes of those renewed.
fn renew_all(conn: &PgConn, holder: &str, batch: &[Item]) -> Result<Vec<usize>, String> {
    let sql = statement(batch);
    let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![&holder];
    for (_, name, token, length_ms) in batch {
        params.push(name);
        params.push(token);
        params.push(length_ms);
    }
    let rows = conn
        .run(|c| c.query(&sql, &params))
        .map_err(|e| e.to_string())?
        .map_err(|e| super::pg::explain(&e))?;
    Ok(rows
        .iter()
        .filter_map(|r| usize::try_from(r.get::<_, i32>(0)).ok())
        .collect())
}

/// The statement renewing `batch`: one data-modifying `WITH` part per lease (each in its
/// account's schema), their indexes returned for those renewed.
fn statement(batch: &[Item]) -> String {
    let mut parts = Vec::with_capacity(batch.len());
    let mut selects = Vec::with_capacity(batch.len());
    for (i, (schema, ..)) in batch.iter().enumerate() {
        let table = match schema {
            Some(s) => format!("\"{}\".leases", s.replace('"', "\"\"")),
            None => "leases".to_string(),
        };
        let (name, token, len) = (3 * i + 2, 3 * i + 3, 3 * i + 4);
        // A row locked by a transaction of the account (its fence check) is skipped, not
        // waited for: it alone takes the one-lease path, the batch is not held up.
        parts.push(format!(
            "r{i} AS (UPDATE {table} SET expires_ms = {DB_NOW_MS} + ${len}
              WHERE name IN (SELECT name FROM {table}
                WHERE name = ${name} AND holder = $1 AND token = ${token}
                  AND expires_ms >= {DB_NOW_MS} FOR NO KEY UPDATE SKIP LOCKED)
              RETURNING {i}::int AS i)"
        ));
        selects.push(format!("SELECT i FROM r{i}"));
    }
    format!("WITH {} {}", parts.join(", "), selects.join(" UNION ALL "))
}

#[cfg(test)]
mod tests {
    use super::statement;

    #[test]
    fn each_lease_is_renewed_in_its_own_schema_with_its_own_parameters() {
        let sql = statement(&[
            (Some("account_a".into()), "amocrm:a".into(), 3, 15_000),
            (None, "amocrm:b".into(), 1, 15_000),
        ]);
        assert!(sql.contains("r0 AS (UPDATE \"account_a\".leases"), "{sql}");
        assert!(sql.contains("r1 AS (UPDATE leases"), "{sql}");
        assert!(
            sql.contains("name = $2 AND holder = $1 AND token = $3"),
            "{sql}"
        );
        assert!(sql.contains("SKIP LOCKED"), "{sql}");
        assert!(sql.contains("+ $7"), "{sql}");
        assert!(
            sql.ends_with("SELECT i FROM r0 UNION ALL SELECT i FROM r1"),
            "{sql}"
        );
    }

    #[test]
    fn a_schema_name_cannot_leave_its_quotes() {
        let sql = statement(&[(Some("a\"b".into()), "n".into(), 1, 1)]);
        assert!(sql.contains("\"a\"\"b\".leases"), "{sql}");
    }
}
