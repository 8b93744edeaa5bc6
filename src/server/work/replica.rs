//! One process per replica id on a PostgreSQL database. Two processes with one id (the
//! default id is the host name, so two on one host collide) would both hold every lease with
//! the same token and work the same calls; so each process claims its id in the `replicas`
//! table and keeps a heartbeat there (in the database's clock). A process whose id is held by
//! a live one (its heartbeat moves) refuses to start; one that finds the id's last holder dead
//! (the heartbeat stopped: a crash, `kill -9`) takes the id over.

use std::time::Duration;

use super::lease::DB_NOW_MS;
use crate::server::error::ServeError;
use crate::server::store::postgres::PgConn;

/// The claim on a replica id, kept alive by [`heartbeat`].
pub(crate) struct Claim {
    conn: PgConn,
    id: String,
    instance: String,
    every: Duration,
}

/// What the table says of an id now: its instance and its last heartbeat, and the database's
/// clock.
async fn seen(conn: &PgConn, id: &str) -> Result<Option<(String, i64, i64)>, ServeError> {
    let fail = |e: String| ServeError::Options(format!("cannot read the replicas table: {e}"));
    let sql = format!("SELECT instance, seen_ms, {DB_NOW_MS} FROM replicas WHERE replica_id = $1");
    let c = conn.client().await.map_err(|e| fail(e.to_string()))?;
    c.query_opt(&sql, &[&id])
        .await
        .map(|row| row.map(|r| (r.get(0), r.get(1), r.get(2))))
        .map_err(|e| fail(conn.failed(&e).to_string()))
}

async fn write(conn: &PgConn, id: &str, instance: &str) -> Result<(), ServeError> {
    let fail = |e: String| ServeError::Options(format!("cannot write the replicas table: {e}"));
    let sql = format!(
        "INSERT INTO replicas (replica_id, instance, seen_ms) VALUES ($1, $2, {DB_NOW_MS})
         ON CONFLICT (replica_id) DO UPDATE SET instance = $2, seen_ms = {DB_NOW_MS}"
    );
    let c = conn.client().await.map_err(|e| fail(e.to_string()))?;
    c.execute(&sql, &[&id, &instance])
        .await
        .map(drop)
        .map_err(|e| fail(conn.failed(&e).to_string()))
}

/// Claims `id` for this process. `lease` is the work lease's length: the heartbeat beats three
/// times within it.
pub(crate) async fn claim(conn: PgConn, id: &str, lease: Duration) -> Result<Claim, ServeError> {
    let instance = format!(
        "{}:{}:{}",
        host(),
        std::process::id(),
        crate::clock::Clock::System.now_ms()
    );
    let every = lease / 3;
    let stale_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    let taken = |id: &str| {
        ServeError::Options(format!(
            "another process is running as replica {id:?}: give this one its own --replica-id \
             (the default is the host name, the same for every process on a host)"
        ))
    };
    if let Some((other, seen_ms, now)) = seen(&conn, id).await?
        && other != instance
        && now.saturating_sub(seen_ms) < stale_ms
    {
        // On this host the other process is known at once: alive (refused) or gone (a crash;
        // its id is taken over without waiting). An earlier service of this very process (a
        // stopped one, as a bench's rounds start them) is no other process.
        if let Some(alive) = same_host_alive(&other).map(|a| a && !ours(&other)) {
            if alive {
                return Err(taken(id));
            }
            write(&conn, id, &instance).await?;
            return Ok(Claim {
                conn,
                id: id.to_string(),
                instance,
                every,
            });
        }
        // Its heartbeat is recent: wait a little over one beat and look again.
        tokio::time::sleep(every + Duration::from_millis(500)).await;
        if let Some((again, later, _)) = seen(&conn, id).await?
            && (again != other || later > seen_ms)
        {
            return Err(taken(id));
        }
    }
    write(&conn, id, &instance).await?;
    Ok(Claim {
        conn,
        id: id.to_string(),
        instance,
        every,
    })
}

/// This machine's name, as instances record it.
fn host() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// For an instance of this host (`HOST:PID:START`): whether its process still runs; `None`
/// for another host's.
fn same_host_alive(instance: &str) -> Option<bool> {
    let mut parts = instance.rsplitn(3, ':');
    let (_start, pid, other_host) = (parts.next()?, parts.next()?, parts.next()?);
    if other_host != host() {
        return None;
    }
    let raw = pid.parse::<i32>().ok()?;
    let pid = rustix::process::Pid::from_raw(raw)?;
    let exists = rustix::process::test_kill_process(pid).is_ok();
    // A killed process its parent has not reaped yet is a zombie: gone all the same.
    let zombie = std::fs::read_to_string(format!("/proc/{raw}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(") ")
                .map(|(_, rest)| rest.starts_with('Z'))
        })
        .unwrap_or(false);
    Some(exists && !zombie)
}

/// Whether an instance of this host is this very process.
fn ours(instance: &str) -> bool {
    instance
        .rsplit(':')
        .nth(1)
        .is_some_and(|pid| pid == std::process::id().to_string())
}

/// Stops the heartbeat when the service that claimed the id is dropped.
pub(crate) struct Beating(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for Beating {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Beats while the process runs; if another process took the id over (this one was paused past
/// a lease), says so in the log.
pub(crate) async fn heartbeat(claim: Claim) {
    let claim = std::sync::Arc::new(claim);
    loop {
        tokio::time::sleep(claim.every).await;
        let sql = format!(
            "UPDATE replicas SET seen_ms = {DB_NOW_MS} WHERE replica_id = $1 AND instance = $2"
        );
        let beat = match claim.conn.client().await {
            Ok(db) => db.execute(&sql, &[&claim.id, &claim.instance]).await.ok(),
            Err(_) => None,
        };
        if beat == Some(0) {
            tracing::error!(
                replica = %claim.id,
                "another process has taken this replica id over; give each process its own --replica-id"
            );
        }
    }
}
