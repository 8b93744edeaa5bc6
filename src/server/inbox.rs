//! The inbox writer: events are committed to the database in groups (one fsync for many events)
//! and each is acknowledged only after its group is on disk.

use super::db::{Arrival, Db, NewEvent, NewKept};
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

/// A handle to the writer thread. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Inbox {
    tx: mpsc::Sender<Job>,
}

/// Most events one commit takes.
const GROUP: usize = 512;

impl Inbox {
    /// Starts the writer thread on its own connection; `stored` is notified after each commit.
    pub(crate) fn start(db: &DbUrl, stored: Arc<Notify>) -> Result<Self, ServeError> {
        let conn = Db::open_as(db, "inbox").map_err(|source| ServeError::Database {
            db: db.to_string(),
            source,
        })?;
        let (tx, mut rx) = mpsc::channel::<Job>(8192);
        std::thread::Builder::new()
            .name("sipamo-inbox".into())
            .spawn(move || {
                while let Some(first) = rx.blocking_recv() {
                    let mut jobs = vec![first];
                    while jobs.len() < GROUP {
                        match rx.try_recv() {
                            Ok(j) => jobs.push(j),
                            Err(_) => break,
                        }
                    }
                    let events = jobs.iter().map(|j| j.event.clone()).collect();
                    match conn.insert_events(events) {
                        Ok(outcomes) => {
                            for (j, o) in jobs.into_iter().zip(outcomes) {
                                let _ = j.done.send(Ok(o));
                            }
                            stored.notify_one();
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "cannot store events");
                            for j in jobs {
                                let _ = j.done.send(Err(e.to_string()));
                            }
                        }
                    }
                }
            })
            .map_err(|e| ServeError::Inbox(format!("cannot start: {e}")))?;
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

fn stopped() -> ServeError {
    ServeError::Inbox("it has stopped".into())
}
