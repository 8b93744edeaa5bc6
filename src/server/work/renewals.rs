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
use crate::server::store::postgres::PgConn;

/// Leases renewed in one statement at most (given as arrays: six parameters whatever the size).
const PER_STATEMENT: usize = 1_000;
/// How long the first renewal of a batch waits for others to join it.
const GATHER: Duration = Duration::from_millis(20);

/// One lease to renew.
struct Renewal {
    /// The account whose lease it is.
    account: String,
    name: String,
    token: i64,
    length_ms: i64,
    answer: oneshot::Sender<Result<bool, RenewError>>,
}

/// Why a batch of renewals was not answered.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum RenewError {
    #[error("the lease renewer stopped")]
    Stopped,
    /// The database's words (one answer goes to every renewal of the batch).
    #[error("{0}")]
    Database(String),
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

    /// Renews account `account`'s lease `name` held with `token` for `length`: `Ok(true)` renewed,
    /// `Ok(false)` not held any more as it was (take the one-lease path), `Err` when the
    /// database did not answer.
    pub(crate) async fn renew(
        &self,
        account: &str,
        name: &str,
        token: i64,
        length: Duration,
    ) -> Result<bool, RenewError> {
        let (answer, answered) = oneshot::channel();
        let renewal = Renewal {
            account: account.to_string(),
            name: name.to_string(),
            token,
            length_ms: i64::try_from(length.as_millis()).unwrap_or(i64::MAX),
            answer,
        };
        self.send.send(renewal).map_err(|_| RenewError::Stopped)?;
        answered.await.map_err(|_| RenewError::Stopped)?
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
            .map(|r| (r.answer, (r.account, r.name, r.token, r.length_ms)))
            .unzip();
        let done = renew_all(&conn, &holder, &batch).await;
        for (i, answer) in answers.into_iter().enumerate() {
            let _ = answer.send(
                done.as_ref()
                    .map(|renewed| renewed.contains(&i))
                    .map_err(Clone::clone),
            );
        }
    }
}

/// A lease of the batch: account, name, token, length in ms.
type Item = (String, String, i64, i64);

/// Renews every lease of `batch` still held by `holder` with its token and not expired, in one
/// statement; answers the indexes of those renewed.
async fn renew_all(conn: &PgConn, holder: &str, batch: &[Item]) -> Result<Vec<usize>, RenewError> {
    let accounts: Vec<&str> = batch.iter().map(|b| b.0.as_str()).collect();
    let names: Vec<&str> = batch.iter().map(|b| b.1.as_str()).collect();
    let tokens: Vec<i64> = batch.iter().map(|b| b.2).collect();
    let lengths: Vec<i64> = batch.iter().map(|b| b.3).collect();
    let sql = statement();
    let c = conn
        .client()
        .await
        .map_err(|e| RenewError::Database(e.to_string()))?;
    let rows = c
        .query(&sql, &[&holder, &accounts, &names, &tokens, &lengths])
        .await
        .map_err(|e| RenewError::Database(conn.failed(&e).to_string()))?;
    Ok(rows
        .iter()
        .filter_map(|r| usize::try_from(r.get::<_, i32>(0)).ok())
        .collect())
}

/// The statement renewing a batch given as arrays (account, name, token, length): the indexes
/// (from 0, in the arrays' order) of those renewed. A row locked by a transaction of its account (its fence check)
/// is skipped, not waited for: it alone takes the one-lease path, the batch is not held up.
fn statement() -> String {
    format!(
        "WITH v AS (
           SELECT * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[])
             WITH ORDINALITY AS v(account, name, token, len_ms, n)),
         free AS (
           SELECT l.account, l.name FROM leases l
             JOIN v ON l.account = v.account AND l.name = v.name
            WHERE l.holder = $1 AND l.token = v.token AND l.expires_ms >= {DB_NOW_MS}
              FOR NO KEY UPDATE OF l SKIP LOCKED)
         UPDATE leases l SET expires_ms = {DB_NOW_MS} + v.len_ms
           FROM v JOIN free ON free.account = v.account AND free.name = v.name
          WHERE l.account = v.account AND l.name = v.name
         RETURNING (v.n - 1)::int"
    )
}

#[cfg(test)]
mod tests {
    use super::statement;

    #[test]
    fn the_batch_is_one_statement_whatever_its_size_and_skips_locked_rows() {
        let sql = statement();
        assert!(sql.contains("unnest($2::text[]"), "{sql}");
        assert!(sql.contains("l.holder = $1 AND l.token = v.token"), "{sql}");
        assert!(sql.contains("SKIP LOCKED"), "{sql}");
        assert!(sql.contains("RETURNING (v.n - 1)::int"), "{sql}");
    }
}
