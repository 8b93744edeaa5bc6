//! The inbox writer: events are committed to the database in groups (one fsync for many events)
//! and each is acknowledged only after its group is on disk.

use super::db::{Arrival, Db, InsertFailure, NewEvent, NewKept};
use super::error::ServeError;
use super::memory_store::DbUrl;
use std::sync::Arc;

use tokio::sync::{Notify, mpsc, oneshot};

/// What storing an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stored {
    New,
    /// The same event was stored before (a re-delivery).
    Duplicate,
    /// A request that is no usable event, kept aside with its reason (R-WIRE).
    Kept,
}

struct Job {
    event: Arrival,
    done: oneshot::Sender<Result<Stored, String>>,
}

/// A handle to the writer task. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Inbox {
    tx: mpsc::Sender<Job>,
}

/// Whether another replica may be working the account now (asked at each commit).
pub(crate) type Elsewhere = Box<dyn Fn() -> bool + Send + Sync>;

/// Most events one commit takes.
const GROUP: usize = 512;

impl Inbox {
    /// Starts the writer task (a task, not a thread: a replica serves thousands of accounts);
    /// each commit blocks on the database off the runtime's threads, and `stored` is notified
    /// after it. Call it inside the runtime.
    /// `elsewhere` says, at each commit, whether another replica may be working the account
    /// (then the commit notifies the replicas through PostgreSQL: a NOTIFY serialises commits
    /// across the database, so it is sent only then).
    pub(crate) fn start(
        db: &DbUrl,
        stored: Arc<Notify>,
        elsewhere: Elsewhere,
    ) -> Result<Self, ServeError> {
        let conn = Arc::new(Db::open(db).map_err(|source| ServeError::Database {
            db: db.to_string(),
            source,
        })?);
        let (tx, mut rx) = mpsc::channel::<Job>(8192);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut jobs = vec![first];
                while jobs.len() < GROUP {
                    match rx.try_recv() {
                        Ok(j) => jobs.push(j),
                        Err(_) => break,
                    }
                }
                let (conn, notify) = (conn.clone(), elsewhere());
                // A panic in a commit drops its jobs' senders: those requests are answered 503.
                let _ =
                    tokio::task::spawn_blocking(move || commit_group(&conn, jobs, notify)).await;
                stored.notify_one();
            }
        });
        Ok(Inbox { tx })
    }

    /// Stores an event durably; returns once it is on disk.
    pub(crate) async fn store(
        &self,
        call_id: String,
        fingerprint: String,
        raw: String,
        received_ms: i64,
    ) -> Result<Stored, ServeError> {
        self.commit(Arrival::Event(NewEvent {
            call_id,
            fingerprint,
            raw,
            received_ms,
        }))
        .await
    }

    /// Keeps a request that is no usable event with its reason; returns once it is on disk.
    pub(crate) async fn keep(&self, kept: NewKept) -> Result<Stored, ServeError> {
        self.commit(Arrival::Kept(kept)).await
    }

    async fn commit(&self, event: Arrival) -> Result<Stored, ServeError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Job { event, done })
            .await
            .map_err(|_| stopped())?;
        wait.await
            .map_err(|_| stopped())?
            .map_err(ServeError::Inbox)
    }
}

/// Commits a group in one transaction. When the group fails, each job is committed alone, so
/// that one request the database cannot hold fails by itself and never its neighbours.
fn commit_group(conn: &Db, jobs: Vec<Job>, notify: bool) {
    let events = jobs.iter().map(|j| j.event.clone()).collect();
    match conn.insert_events(events, notify) {
        Ok(outcomes) => {
            for (j, o) in jobs.into_iter().zip(outcomes) {
                let _ = j.done.send(Ok(o));
            }
        }
        Err(InsertFailure::Rejected(e)) if jobs.len() > 1 => {
            tracing::warn!(error = %e, "a group commit failed; committing its requests one by one");
            for j in jobs {
                commit_group(conn, vec![j], notify);
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot store requests");
            for j in jobs {
                let _ = j.done.send(Err(e.to_string()));
            }
        }
    }
}

fn stopped() -> ServeError {
    ServeError::Inbox("it has stopped".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sabotage: the database refuses one row (a trigger). Sent at once with 40 others, so that
    /// it shares their group commit, it alone fails; every other is stored.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_row_the_database_refuses_fails_alone_not_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.db");
        let conn = crate::server::store::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.call_id = 'poison'
             BEGIN SELECT RAISE(ABORT, 'this row cannot be stored'); END;",
        )
        .unwrap();
        let inbox = Inbox::start(
            &DbUrl::Sqlite(path),
            Arc::new(Notify::new()),
            Box::new(|| false),
        )
        .unwrap();
        let mut sent = tokio::task::JoinSet::new();
        for i in 0..41 {
            let inbox = inbox.clone();
            let id = if i == 20 {
                "poison".to_string()
            } else {
                format!("c{i}")
            };
            sent.spawn(async move {
                let r = inbox
                    .store(id.clone(), format!("f{i}"), "event=1".into(), 0)
                    .await;
                (id, r.is_ok())
            });
        }
        let mut failed = Vec::new();
        while let Some(done) = sent.join_next().await {
            let (id, ok) = done.unwrap();
            if !ok {
                failed.push(id);
            }
        }
        assert_eq!(failed, ["poison"]);
        let stored: i64 = conn
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stored, 40);
    }
}
