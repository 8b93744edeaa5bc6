//! The amoCRM exchanges the service keeps and the settings it runs with, in PostgreSQL, each
//! account's apart (`sipamo record` reads them back).

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
