//! Retention: events and finished calls older than the retention are removed, so that the
//! database stays the same size under a steady load however long the service runs.
//!
//! What goes: the events of calls finished before the cut-off and those calls' records; memory
//! entries last written before it (an open callback task or a pending Unsorted item a phone
//! has not called about for that long is forgotten, and its next call starts afresh); event
//! fingerprints. What stays: open and parked calls with everything they need, whatever their
//! age. The receiver drops events older than the retention, so a forgotten call is never
//! handled twice. Requests kept aside (R-WIRE) go once they are older than the retention.

use crate::server::store::{Backend, DbUrl};
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::Clock;
use crate::server::http::metrics::{Metrics, WhatLabel};

/// Rows removed per statement, so that the receiver never waits long for the database.
pub(crate) const BATCH: usize = 2_000;

/// Rows removed by one pass.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pruned {
    pub(crate) events: usize,
    pub(crate) exchanges: usize,
    pub(crate) calls: usize,
    pub(crate) memory: usize,
    pub(crate) deliveries: usize,
    /// Requests kept aside (R-WIRE).
    pub(crate) kept: usize,
}

impl Pruned {
    /// The rows each retention step removed, in the order of the steps (both backends').
    pub(crate) fn from_steps(counts: [usize; 6]) -> Self {
        let [events, exchanges, calls, memory, deliveries, kept] = counts;
        Pruned {
            events,
            exchanges,
            calls,
            memory,
            deliveries,
            kept,
        }
    }
}

/// How often a pass runs: an eighth of the retention, between a second and an hour.
pub(crate) fn interval(retention: Duration) -> Duration {
    (retention / 8).clamp(Duration::from_secs(1), Duration::from_secs(3600))
}

/// Prunes `db` every [`interval`] until `stop`. A failed pass is logged and counted, and the
/// next one tries again.
pub(crate) async fn run(
    db: DbUrl,
    retention: Duration,
    clock: Clock,
    metrics: Metrics,
    mut stop: watch::Receiver<bool>,
) {
    let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    loop {
        let stopped = tokio::select! {
            () = tokio::time::sleep(interval(retention)) => false,
            r = stop.wait_for(|s| *s) => { r.map(|_| ()).ok(); true }
        };
        if stopped {
            return;
        }
        let cutoff = clock.now_ms().saturating_sub(retention_ms);
        let pass = match crate::server::store::Db::open(&db).await {
            Ok(conn) => conn.prune(cutoff).await,
            Err(e) => Err(e),
        };
        match pass {
            Ok(p) => {
                for (what, n) in [
                    ("events", p.events),
                    ("calls", p.calls),
                    ("memory", p.memory),
                    ("deliveries", p.deliveries),
                    ("kept", p.kept),
                ] {
                    metrics
                        .pruned
                        .get_or_create(&WhatLabel { what })
                        .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
                }
                if p != Pruned::default() {
                    tracing::info!(?p, "retention: old rows removed");
                }
            }
            Err(e) => {
                metrics.prune_failures.inc();
                tracing::error!(error = %e, "retention pass failed; the next one tries again");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::memory::{Memory, ParkedCall, TaskMemo, Transaction};
    use crate::server::store::StoreMemory;
    use crate::server::store::sqlite::retention::prune;
    use crate::server::store::sqlite::{SqliteMemory, open};
    use rusqlite::{Connection, params};

    use crate::sim::testkit::cid;

    fn count(conn: &Connection, table: &str) -> i64 {
        conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    #[tokio::test]
    async fn old_finished_calls_go_open_and_parked_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let clock = Clock::virtual_at(1_000_000);
        let mut m = StoreMemory::over(SqliteMemory::new(open(&path).unwrap()), clock.clone());
        let conn = open(&path).unwrap();
        for (i, call) in ["old", "open", "parked", "new"].iter().enumerate() {
            conn.execute(
                "INSERT INTO events (call_id, fingerprint, raw, received_ms) VALUES (?1, ?2, '', ?3)",
                params![call, format!("f{i}"), clock.now_ms()],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO exchanges (call_id, at_ms, exchange) VALUES (?1, ?2, '{}')",
                params![call, clock.now_ms()],
            )
            .unwrap();
        }
        for at in [clock.now_ms(), 1_800_000] {
            conn.execute(
                "INSERT INTO kept (received_ms, reason, detail, raw) VALUES (?1, 'empty', '', x'')",
                params![at],
            )
            .unwrap();
        }
        assert!(m.first_delivery("f-old").await.unwrap());
        m.mark_done(&cid("old")).await.unwrap();
        let task = TaskMemo {
            task_id: 1,
            deadline: 2,
        };
        let memo = crate::engine::memory::UnsortedMemo::uid_only("u".into());
        let tx = Transaction::new()
            .set_callback_task("9161234567", &task)
            .set_answered_item(&cid("parked"), &memo);
        m.commit(tx).await.unwrap();
        m.park(&ParkedCall {
            call_id: cid("parked"),
            reason: "refused".into(),
            attempts: 1,
            at_ms: clock.now_ms(),
        })
        .await
        .unwrap();
        clock.advance_to(2_000_000);
        m.mark_done(&cid("new")).await.unwrap();

        let p = prune(&conn, 1_500_000).unwrap();
        assert_eq!(
            p,
            Pruned {
                events: 1,
                exchanges: 1,
                calls: 1,
                memory: 1,
                deliveries: 1,
                kept: 1
            },
            "the old call's event, exchange, record and fingerprint, and the phone's stale task"
        );
        assert_eq!(count(&conn, "events"), 3);
        assert_eq!(
            count(&conn, "exchanges"),
            3,
            "open, parked and new calls keep theirs"
        );
        assert!(!m.is_done(&cid("old")).await.unwrap() && m.is_done(&cid("new")).await.unwrap());
        assert!(
            m.answered_item(&cid("parked")).await.unwrap().is_some(),
            "a parked call keeps its memory"
        );
        assert!(m.callback_task("9161234567").await.unwrap().is_none());
        assert_eq!(prune(&conn, 1_500_000).unwrap(), Pruned::default());
    }

    #[test]
    fn a_failing_database_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        open(&path)
            .unwrap()
            .execute(
                "INSERT INTO calls_done (call_id, done_ms) VALUES ('x', 0)",
                [],
            )
            .unwrap();
        let conn = open(&path).unwrap();
        conn.pragma_update(None, "query_only", true).unwrap();
        assert!(
            prune(&conn, 10).is_err(),
            "an error, never \"nothing to remove\""
        );
    }

    #[test]
    fn passes_run_between_a_second_and_an_hour() {
        assert_eq!(interval(Duration::from_secs(2)), Duration::from_secs(1));
        assert_eq!(interval(Duration::from_secs(80)), Duration::from_secs(10));
        assert_eq!(
            interval(Duration::from_secs(30 * 86_400)),
            Duration::from_secs(3600)
        );
    }
}
