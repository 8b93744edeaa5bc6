//! What `sipamo record` reads back, in PostgreSQL: the kept amoCRM exchanges and the settings
//! the service runs with, each account's apart.

use tokio_postgres::{Client, Error};

/// Keeps one amoCRM exchange (JSON). It serves `record`, not crash safety: its commit does not
/// wait for the disk, so that many accounts' exchanges do not queue behind each other's fsync.
pub(crate) async fn keep(
    c: &mut Client,
    account: &str,
    call_id: Option<&str>,
    at_ms: i64,
    json: &str,
) -> Result<(), Error> {
    let t = c.transaction().await?;
    t.batch_execute("SET LOCAL synchronous_commit TO OFF")
        .await?;
    t.execute(
        "INSERT INTO exchanges (account, call_id, at_ms, exchange) VALUES ($4, $1, $2, $3)",
        &[&call_id, &at_ms, &json, &account],
    )
    .await?;
    t.commit().await
}

/// Saves the settings text the service runs with.
pub(crate) async fn save_settings(
    c: &Client,
    account: &str,
    yaml: &str,
    now_ms: i64,
) -> Result<(), Error> {
    c.execute(
        "INSERT INTO service_settings (account, yaml, saved_ms) VALUES ($3, $1, $2)
         ON CONFLICT (account) DO UPDATE SET yaml = excluded.yaml, saved_ms = excluded.saved_ms",
        &[&yaml, &now_ms, &account],
    )
    .await
    .map(drop)
}

/// The settings text saved at the last start, if any.
#[cfg(any(feature = "sim", test))]
pub(crate) async fn settings(c: &Client, account: &str) -> Result<Option<String>, Error> {
    let row = c
        .query_opt(
            "SELECT yaml FROM service_settings WHERE account = $1",
            &[&account],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// The kept exchanges (JSON) of these calls, and the latest account-level one per path, in
/// the order sent.
#[cfg(any(feature = "sim", test))]
pub(crate) async fn of_calls(
    c: &Client,
    account: &str,
    calls: &[String],
) -> Result<Vec<String>, Error> {
    let rows = c
        .query(
            "SELECT exchange FROM exchanges WHERE account = $2 AND (call_id = ANY($1)
                OR id IN (SELECT MAX(id) FROM exchanges
                           WHERE account = $2 AND call_id IS NULL
                          GROUP BY exchange::json->>'path'))
             ORDER BY id",
            &[&calls, &account],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
