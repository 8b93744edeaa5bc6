//! The inbox writer: events are committed to SQLite in groups (one fsync for many events)
//! and each is acknowledged only after its group is on disk.

use super::error::ServeError;
use std::path::PathBuf;
use std::sync::Arc;

use rusqlite::params;
use tokio::sync::{Notify, mpsc, oneshot};

/// What storing an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stored {
    New,
    /// The same event was stored before (a re-delivery).
    Duplicate,
}

struct Job {
    call_id: String,
    fingerprint: String,
    raw: String,
    received_ms: i64,
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
    pub(crate) fn start(db: PathBuf, stored: Arc<Notify>) -> Result<Self, ServeError> {
        let conn = super::store::open(&db).map_err(|source| ServeError::Database {
            path: db.clone(),
            source,
        })?;
        let (tx, mut rx) = mpsc::channel::<Job>(8192);
        std::thread::Builder::new()
            .name("sipamo-inbox".into())
            .spawn(move || {
                let mut conn = conn;
                while let Some(first) = rx.blocking_recv() {
                    let mut jobs = vec![first];
                    while jobs.len() < GROUP {
                        match rx.try_recv() {
                            Ok(j) => jobs.push(j),
                            Err(_) => break,
                        }
                    }
                    let result = (|| {
                        let t = conn.transaction()?;
                        let mut outcomes = Vec::with_capacity(jobs.len());
                        {
                            let mut st = t.prepare_cached("INSERT OR IGNORE INTO events (call_id, fingerprint, raw, received_ms) VALUES (?1, ?2, ?3, ?4)")?;
                            for j in &jobs {
                                let n = st.execute(params![j.call_id, j.fingerprint, j.raw, j.received_ms])?;
                                outcomes.push(if n == 1 { Stored::New } else { Stored::Duplicate });
                            }
                        }
                        t.commit()?;
                        Ok::<_, rusqlite::Error>(outcomes)
                    })();
                    match result {
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
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Job {
                call_id,
                fingerprint,
                raw,
                received_ms,
                done,
            })
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
