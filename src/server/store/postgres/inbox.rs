//! The inbox, the worker's reads and retention in PostgreSQL: the same statements as SQLite's
//! (`../sqlite/mod.rs`, `src/server/retention.rs`) in PostgreSQL's dialect.

use futures_util::future::try_join_all;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Error, Row};

use crate::engine::memory::ParkedCall;
use crate::server::http::inbox::Stored;
use crate::server::store::Arrival;
use crate::server::store::StoredEvent;
use crate::sipuni::event::CallId;

fn stored_event(r: &Row) -> StoredEvent {
    StoredEvent {
        id: r.get(0),
        call_id: r.get(1),
        raw: r.get(2),
        received_ms: r.get(3),
    }
}

/// Stores `arrivals` in one transaction; with `notify`, the commit tells the listening
/// replicas that new events are stored (`super::listen`).
pub(crate) async fn insert_events(
    c: &mut Client,
    account: &str,
    arrivals: &[Arrival],
    notify: bool,
) -> Result<Vec<Stored>, Error> {
    let t = c.transaction().await?;
    let (event, kept) = tokio::try_join!(
        t.prepare(
            "INSERT INTO events (account, call_id, fingerprint, raw, received_ms)
             VALUES ($5, $1, $2, $3, $4) ON CONFLICT (account, fingerprint) DO NOTHING",
        ),
        t.prepare(
            "INSERT INTO kept (account, received_ms, reason, detail, content_type, raw)
             VALUES ($6, $1, $2, $3, $4, $5)",
        ),
    )?;
    // Each row's parameters, then every statement sent at once: the connection pipelines
    // them (one round trip for the group, not one per row), and they run in order.
    let params: Vec<Vec<&(dyn ToSql + Sync)>> = arrivals
        .iter()
        .map(|a| match a {
            Arrival::Event(e) => vec![
                &e.call_id as &(dyn ToSql + Sync),
                &e.fingerprint,
                &e.raw,
                &e.received_ms,
                &account,
            ],
            Arrival::Kept(k) => vec![
                &k.received_ms as &(dyn ToSql + Sync),
                &k.reason,
                &k.detail,
                &k.content_type,
                &k.raw,
                &account,
            ],
        })
        .collect();
    let sent = arrivals.iter().zip(&params).map(|(a, p)| {
        let statement = match a {
            Arrival::Event(_) => &event,
            Arrival::Kept(_) => &kept,
        };
        t.execute(statement, p)
    });
    let changed = try_join_all(sent).await?;
    let out: Vec<Stored> = arrivals
        .iter()
        .zip(changed)
        .map(|(a, n)| match a {
            Arrival::Event(_) if n == 1 => Stored::New,
            Arrival::Event(_) => Stored::Duplicate,
            Arrival::Kept(_) => Stored::Kept,
        })
        .collect();
    if notify && out.contains(&Stored::New) {
        // Delivered at the commit to every replica listening (`super::listen`).
        t.execute(
            "SELECT pg_notify($1, $2)",
            &[&super::listen::CHANNEL, &account],
        )
        .await?;
    }
    t.commit().await?;
    Ok(out)
}

/// Events not yet fed to a worker, in id order. Replicas' ids commit out of order, so a late
/// commit with a lower id is still found here (an id cursor would pass it by).
pub(crate) async fn untaken(
    c: &Client,
    account: &str,
    limit: usize,
) -> Result<Vec<StoredEvent>, Error> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = c
        .query(
            "SELECT id, call_id, raw, received_ms FROM events
          WHERE account = $2 AND NOT taken ORDER BY id LIMIT $1",
            &[&limit, &account],
        )
        .await?;
    Ok(rows.iter().map(stored_event).collect())
}

/// Marks events fed to the worker, only while `fence` (the work lease) still holds:
/// a replica that lost the lease must not hide events from the one that took over.
pub(crate) async fn mark_taken(
    c: &mut Client,
    account: &str,
    ids: &[i64],
    fence: Option<&super::fence::Fence>,
) -> Result<bool, Error> {
    let t = c.transaction().await?;
    if let Some(f) = fence
        && !f.holds(&t, account).await?
    {
        return Ok(false);
    }
    t.execute(
        "UPDATE events SET taken = true WHERE account = $2 AND id = ANY($1)",
        &[&ids, &account],
    )
    .await?;
    t.commit().await?;
    Ok(true)
}

pub(crate) async fn unfinished_events(
    c: &Client,
    account: &str,
) -> Result<(i64, Vec<StoredEvent>), Error> {
    let max: i64 = c
        .query_one(
            "SELECT COALESCE(MAX(id), 0) FROM events WHERE account = $1",
            &[&account],
        )
        .await?
        .get(0);
    let rows = c
        .query(
            "SELECT id, call_id, raw, received_ms FROM events WHERE account = $2 AND id <= $1
           AND call_id NOT IN (SELECT call_id FROM calls_done WHERE account = $2)
           AND call_id NOT IN (SELECT call_id FROM parked WHERE account = $2) ORDER BY id",
            &[&max, &account],
        )
        .await?;
    Ok((max, rows.iter().map(stored_event).collect()))
}

pub(crate) async fn events_of(
    c: &Client,
    account: &str,
    call_id: &str,
) -> Result<Vec<StoredEvent>, Error> {
    let rows = c
        .query(
            "SELECT id, call_id, raw, received_ms FROM events
          WHERE account = $2 AND call_id = $1 ORDER BY id",
            &[&call_id, &account],
        )
        .await?;
    Ok(rows.iter().map(stored_event).collect())
}

pub(crate) async fn take_requeued(c: &mut Client, account: &str) -> Result<Vec<String>, Error> {
    let t = c.transaction().await?;
    let ids = t
        .query(
            "DELETE FROM requeued WHERE account = $1 RETURNING call_id",
            &[&account],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect::<Vec<String>>();
    t.commit().await?;
    let mut ids = ids;
    ids.sort();
    Ok(ids)
}

/// The account's parked calls, oldest first.
pub(crate) async fn parked(c: &Client, account: &str) -> Result<Vec<ParkedCall>, Error> {
    let rows = c
        .query(
            "SELECT call_id, reason, attempts, at_ms FROM parked WHERE account = $1
          ORDER BY at_ms, call_id",
            &[&account],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| ParkedCall {
            call_id: CallId::from_stored(r.get(0)),
            reason: r.get(1),
            attempts: u32::try_from(r.get::<_, i32>(2)).unwrap_or(0),
            at_ms: r.get(3),
        })
        .collect())
}

/// Puts a parked call back in the queue and wakes the replicas; false when it is not parked.
pub(crate) async fn requeue(c: &mut Client, account: &str, call_id: &str) -> Result<bool, Error> {
    let t = c.transaction().await?;
    let n = t
        .execute(
            "DELETE FROM parked WHERE account = $2 AND call_id = $1",
            &[&call_id, &account],
        )
        .await?;
    if n == 1 {
        t.execute(
            "DELETE FROM memory WHERE account = $2 AND space = 'attempts' AND key = $1",
            &[&call_id, &account],
        )
        .await?;
        t.execute(
            "INSERT INTO requeued (account, call_id) VALUES ($2, $1) ON CONFLICT DO NOTHING",
            &[&call_id, &account],
        )
        .await?;
        t.execute(
            "SELECT pg_notify($1, $2)",
            &[&super::listen::CHANNEL, &account],
        )
        .await?;
    }
    t.commit().await?;
    Ok(n == 1)
}

/// Requests kept aside (R-WIRE), oldest first; only the one numbered `only` when given.
pub(crate) async fn kept_requests(
    c: &Client,
    account: &str,
    only: Option<i64>,
) -> Result<Vec<crate::server::store::KeptRequest>, Error> {
    let rows = c
        .query(
            "SELECT id, received_ms, reason, detail, content_type, raw FROM kept
              WHERE account = $2 AND ($1::BIGINT IS NULL OR id = $1) ORDER BY id",
            &[&only, &account],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| crate::server::store::KeptRequest {
            id: r.get(0),
            received_ms: r.get(1),
            reason: r.get(2),
            detail: r.get(3),
            content_type: r.get(4),
            raw: r.get(5),
        })
        .collect())
}

/// Whether the call was handled, and its saved progress (JSON) if it has one.
pub(crate) async fn call_state(
    c: &Client,
    account: &str,
    call_id: &str,
) -> Result<(bool, Option<String>), Error> {
    let done = c
        .query_opt(
            "SELECT 1 FROM calls_done WHERE account = $2 AND call_id = $1",
            &[&call_id, &account],
        )
        .await?
        .is_some();
    let progress = c
        .query_opt(
            "SELECT value FROM memory WHERE account = $2 AND space = 'progress' AND key = $1",
            &[&call_id, &account],
        )
        .await?
        .map(|r| r.get(0));
    Ok((done, progress))
}

/// Events not yet taken by a worker.
pub(crate) async fn pending_count(c: &Client, account: &str) -> Result<i64, Error> {
    let row = c
        .query_one(
            "SELECT COUNT(*) FROM events WHERE account = $1 AND NOT taken",
            &[&account],
        )
        .await?;
    Ok(row.get(0))
}
