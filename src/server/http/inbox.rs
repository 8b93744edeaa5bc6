//! The inbox writer: events are committed to the database in groups (one fsync for many events)
//! and each is acknowledged only after its group is on disk.

use super::parsed::Parsed;
use crate::server::error::ServeError;
use crate::server::store::Backend;
use crate::server::store::DbUrl;
use crate::server::store::{Arrival, Db, InsertFailure, NewEvent, NewKept, StoreError};
use crate::sipuni::event::CallEvent;
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
    /// The event as the receiver parsed it from exactly the text stored, for the worker.
    parsed: Option<CallEvent>,
    done: oneshot::Sender<Result<Stored, StoreError>>,
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
    /// across the database, so it is sent only then). While this replica works the account,
    /// the events parsed on arrival are offered to its worker through `parsed`.
    pub(crate) async fn start(
        db: &DbUrl,
        stored: Arc<Notify>,
        parsed: Arc<Parsed>,
        elsewhere: Elsewhere,
    ) -> Result<Self, ServeError> {
        // Storing events never waits behind the accounts' work for a connection.
        let conn =
            Arc::new(
                Db::open(&db.ingest())
                    .await
                    .map_err(|source| ServeError::Database {
                        db: db.to_string(),
                        source,
                    })?,
            );
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
                // Offered only while this replica works the account (no other worker reads it).
                let offer = (!notify).then(|| parsed.clone());
                // A panic in a commit drops its jobs' senders: those requests are answered 503.
                let _ = tokio::spawn(async move {
                    commit_group(&conn, jobs, notify, offer.as_deref()).await;
                })
                .await;
                stored.notify_one();
            }
        });
        Ok(Inbox { tx })
    }

    /// Stores an event durably as `raw`; returns once it is on disk. `parsed` is the event
    /// parsed from exactly `raw`, if the caller has it (the worker then need not parse it).
    pub(crate) async fn store(
        &self,
        call_id: String,
        fingerprint: String,
        raw: String,
        received_ms: i64,
        parsed: Option<CallEvent>,
    ) -> Result<Stored, ServeError> {
        let event = Arrival::Event(NewEvent {
            call_id,
            fingerprint,
            raw,
            received_ms,
        });
        self.commit(event, parsed).await
    }

    /// Keeps a request that is no usable event with its reason; returns once it is on disk.
    pub(crate) async fn keep(&self, kept: NewKept) -> Result<Stored, ServeError> {
        self.commit(Arrival::Kept(kept), None).await
    }

    async fn commit(
        &self,
        event: Arrival,
        parsed: Option<CallEvent>,
    ) -> Result<Stored, ServeError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Job {
                event,
                parsed,
                done,
            })
            .await
            .map_err(|_| stopped())?;
        wait.await
            .map_err(|_| stopped())?
            .map_err(|e| ServeError::Inbox(e.to_string()))
    }
}

/// Commits a group in one transaction. When the group fails, each job is committed alone, so
/// that one request the database cannot hold fails by itself and never its neighbours.
/// Events parsed on arrival are offered to the worker (`offer`) before the commit, so that they
/// are there before it can read them, and withdrawn when not stored after all.
async fn commit_group(conn: &Db, mut jobs: Vec<Job>, notify: bool, offer: Option<&Parsed>) {
    if let Some(parsed) = offer {
        for j in &mut jobs {
            if let (Arrival::Event(e), Some(event)) = (&j.event, j.parsed.take()) {
                parsed.put(&e.raw, event);
            }
        }
    }
    let withdraw = |j: &Job| {
        if let (Some(parsed), Arrival::Event(e)) = (offer, &j.event) {
            parsed.withdraw(&e.raw);
        }
    };
    let events = jobs.iter().map(|j| j.event.clone()).collect();
    match conn.insert_events(events, notify).await {
        Ok(outcomes) => {
            for (j, o) in jobs.into_iter().zip(outcomes) {
                if o != Stored::New {
                    withdraw(&j);
                }
                let _ = j.done.send(Ok(o));
            }
        }
        Err(InsertFailure::Rejected(e)) if jobs.len() > 1 => {
            tracing::warn!(error = %e, "a group commit failed; committing its requests one by one");
            for j in jobs {
                Box::pin(commit_group(conn, vec![j], notify, offer)).await;
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot store requests");
            for j in jobs {
                withdraw(&j);
                let _ = j.done.send(Err(e.store_error().clone()));
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
        let conn = crate::server::store::sqlite::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.call_id = 'poison'
             BEGIN SELECT RAISE(ABORT, 'this row cannot be stored'); END;",
        )
        .unwrap();
        let inbox = Inbox::start(
            &DbUrl::Sqlite(path),
            Arc::new(Notify::new()),
            Arc::default(),
            Box::new(|| false),
        )
        .await
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
                    .store(id.clone(), format!("f{i}"), "event=1".into(), 0, None)
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

    const TEXT: &str = "event=1&call_id=c1&src_num=79161234567&src_type=1&dst_num=201&dst_type=2&timestamp=1767225600";

    /// A live event goes to the worker as parsed on arrival (its worker takes it by the text
    /// stored, without parsing it again); a re-delivery withdraws the offer, and nothing is
    /// offered while another replica may work the account.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stored_event_is_offered_to_the_worker_as_parsed() {
        let dir = tempfile::tempdir().unwrap();
        let db = DbUrl::Sqlite(dir.path().join("i.db"));
        let elsewhere = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let parsed = Arc::new(Parsed::default());
        let e2 = elsewhere.clone();
        let inbox = Inbox::start(
            &db,
            Arc::new(Notify::new()),
            parsed.clone(),
            Box::new(move || e2.load(std::sync::atomic::Ordering::SeqCst)),
        )
        .await
        .unwrap();
        let fresh = CallEvent::parse(TEXT).unwrap();
        // Marked, to tell the offered event from a fresh parse.
        let mut marked = fresh.clone();
        marked.timestamp += 1;
        let store = |text: &str, fp: &str, event: &CallEvent| {
            inbox.store("c1".into(), fp.into(), text.into(), 0, Some(event.clone()))
        };
        assert_eq!(store(TEXT, "f1", &marked).await.unwrap(), Stored::New);
        assert_eq!(parsed.take_or_parse(TEXT).unwrap(), marked);
        parsed.put(TEXT, marked.clone());
        assert_eq!(store(TEXT, "f1", &marked).await.unwrap(), Stored::Duplicate);
        assert_eq!(parsed.take_or_parse(TEXT).unwrap(), fresh, "withdrawn");
        elsewhere.store(true, std::sync::atomic::Ordering::SeqCst);
        let other = format!("{TEXT}&n=2");
        assert_eq!(store(&other, "f2", &marked).await.unwrap(), Stored::New);
        assert_ne!(parsed.take_or_parse(&other).unwrap(), marked, "not offered");
    }
}
