//! The service's database beyond the engine's memory: the inbox, the worker's reads, operator
//! put-backs, the kept amoCRM exchanges and settings, and retention. SQLite or PostgreSQL by
//! the `--db` URL, with the same behaviour; each part of the service holds a connection of its
//! own.

use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::engine::memory::ParkedCall;

use super::memory::DbUrl;
use super::postgres::PgConn;
use super::sqlite::{self as store, StoredEvent};
use crate::server::http::inbox::Stored;
use crate::server::work::retention::Pruned;

/// A database operation that failed: what was being done and why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{doing}: {message}")]
pub struct StoreError {
    pub(crate) doing: &'static str,
    pub(crate) message: String,
}

/// An event to store.
#[derive(Debug, Clone)]
pub(crate) struct NewEvent {
    pub(crate) call_id: String,
    pub(crate) fingerprint: String,
    pub(crate) raw: String,
    pub(crate) received_ms: i64,
}

/// A request on the secret path that is no event the engine can use, to keep with its reason
/// (R-WIRE).
#[derive(Debug, Clone)]
pub(crate) struct NewKept {
    /// A short code (`unknown_event`, `empty`, `content_type`, …): the metrics label.
    pub(crate) reason: &'static str,
    /// What exactly was wrong, for an operator.
    pub(crate) detail: String,
    pub(crate) content_type: Option<String>,
    /// The query string or body as received.
    pub(crate) raw: Vec<u8>,
    pub(crate) received_ms: i64,
}

/// A request kept aside, as `sipamo calls kept` shows it.
#[derive(Debug, Clone)]
pub(crate) struct KeptRequest {
    pub(crate) id: i64,
    pub(crate) received_ms: i64,
    pub(crate) reason: String,
    pub(crate) detail: String,
    pub(crate) content_type: Option<String>,
    pub(crate) raw: Vec<u8>,
}

/// Why arrivals were not stored.
#[derive(Debug)]
pub(crate) enum InsertFailure {
    /// No connection could be had: every request fails alike, none need be tried alone.
    Unreachable(StoreError),
    /// The database refused the statements (perhaps for one request's data).
    Rejected(StoreError),
}

impl std::fmt::Display for InsertFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InsertFailure::Unreachable(e) | InsertFailure::Rejected(e) => e.fmt(f),
        }
    }
}

/// What the receiver stores: an event for the engine, or a request kept aside.
#[derive(Debug, Clone)]
pub(crate) enum Arrival {
    Event(NewEvent),
    Kept(NewKept),
}

/// A connection to the service's database.
pub(crate) enum Db {
    Sqlite(Mutex<Connection>),
    Postgres(PgConn),
}

fn sq(doing: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| StoreError {
        doing,
        message: e.to_string(),
    }
}

impl Db {
    /// Opens (creating and migrating if needed) the database of `url`: with SQLite a
    /// connection of its own; with PostgreSQL a handle on the process's pool for its database,
    /// in the account's schema if `url` names one.
    pub(crate) async fn open(url: &DbUrl) -> Result<Db, StoreError> {
        match url {
            DbUrl::Sqlite(path) => store::open(path)
                .map(|c| Db::Sqlite(Mutex::new(c)))
                .map_err(|e| StoreError {
                    doing: "opening the database",
                    message: format!("{}: {e}", path.display()),
                }),
            DbUrl::Postgres(u) => {
                PgConn::connect(u)
                    .await
                    .map(Db::Postgres)
                    .map_err(|e| StoreError {
                        doing: "opening the database",
                        message: e.to_string(),
                    })
            }
        }
    }

    fn lite(c: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
        c.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stores what arrived in one transaction (one fsync); answers for each whether it was new.
    /// With PostgreSQL a connection is waited for at most [`super::postgres::CHECK_WAIT`]: the
    /// requests waiting on the answer must get one (503) well within their own timeout.
    /// `notify`: tell the other replicas (PostgreSQL) that new events are stored.
    pub(crate) async fn insert_events(
        &self,
        arrivals: Vec<Arrival>,
        notify: bool,
    ) -> Result<Vec<Stored>, InsertFailure> {
        let doing = "storing events";
        let rejected = |e| InsertFailure::Rejected(sq(doing)(e));
        match self {
            Db::Sqlite(c) => store::blocking(|| {
                let mut conn = Self::lite(c);
                let t = conn.transaction().map_err(rejected)?;
                let out = store::insert_arrivals(&t, &arrivals).map_err(rejected)?;
                t.commit().map_err(rejected)?;
                Ok(out)
            }),
            Db::Postgres(p) => {
                let wait = super::postgres::CHECK_WAIT;
                let mut c = p.client_within(wait).await.map_err(|e| {
                    InsertFailure::Unreachable(StoreError {
                        doing,
                        message: e.to_string(),
                    })
                })?;
                super::postgres::inbox::insert_events(&mut c, p.account(), &arrivals, notify)
                    .await
                    .map_err(|e| InsertFailure::Rejected(failed(p, doing, &e)))
            }
        }
    }

    /// Events stored after `after`, in arrival order.
    pub(crate) async fn events_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let doing = "reading the inbox";
        match self {
            Db::Sqlite(c) => store::events_after(&Self::lite(c), after, limit).map_err(sq(doing)),
            // PostgreSQL: the events not yet taken (several writers), whatever the cursor.
            Db::Postgres(p) => {
                let c = client(p, doing).await?;
                let untaken = super::postgres::inbox::untaken(&c, p.account(), limit).await;
                untaken.map_err(|e| failed(p, doing, &e))
            }
        }
    }

    /// The last event id, and the events of calls not yet handled up to it (for a restart).
    pub(crate) async fn unfinished_events(&self) -> Result<(i64, Vec<StoredEvent>), StoreError> {
        let doing = "reading the calls in progress";
        match self {
            Db::Sqlite(c) => {
                let conn = Self::lite(c);
                let max = store::max_event_id(&conn).map_err(sq(doing))?;
                Ok((
                    max,
                    store::unfinished_events(&conn, max).map_err(sq(doing))?,
                ))
            }
            Db::Postgres(p) => {
                let c = client(p, doing).await?;
                let events = super::postgres::inbox::unfinished_events(&c, p.account()).await;
                events.map_err(|e| failed(p, doing, &e))
            }
        }
    }

    /// The stored events of one call, in arrival order.
    pub(crate) async fn events_of(&self, call_id: &str) -> Result<Vec<StoredEvent>, StoreError> {
        let doing = "reading a call's events";
        match self {
            Db::Sqlite(c) => store::events_of(&Self::lite(c), call_id).map_err(sq(doing)),
            Db::Postgres(p) => {
                let c = client(p, doing).await?;
                let events = super::postgres::inbox::events_of(&c, p.account(), call_id).await;
                events.map_err(|e| failed(p, doing, &e))
            }
        }
    }

    /// Parked calls an operator asked to retry; each is taken once.
    pub(crate) async fn take_requeued(&self) -> Result<Vec<String>, StoreError> {
        let doing = "taking the calls put back";
        match self {
            Db::Sqlite(c) => store::take_requeued(&mut Self::lite(c)).map_err(sq(doing)),
            Db::Postgres(p) => {
                let mut c = client(p, doing).await?;
                let ids = super::postgres::inbox::take_requeued(&mut c, p.account()).await;
                ids.map_err(|e| failed(p, doing, &e))
            }
        }
    }

    /// Events stored after `cursor`.
    pub(crate) async fn pending_count(&self, cursor: i64) -> Result<i64, StoreError> {
        let doing = "counting the queue";
        match self {
            Db::Sqlite(c) => store::pending_count(&Self::lite(c), cursor).map_err(sq(doing)),
            Db::Postgres(p) => {
                let c = client(p, doing).await?;
                c.query_one(
                    "SELECT COUNT(*) FROM events WHERE account = $1 AND NOT taken",
                    &[&p.account()],
                )
                .await
                .map(|r| r.get(0))
                .map_err(|e| failed(p, doing, &e))
            }
        }
    }

    /// Records that these events were fed to the worker (PostgreSQL; SQLite's worker keeps an
    /// id cursor, its ids committing in order). False when `fence` no longer holds.
    pub(crate) async fn mark_taken(
        &self,
        ids: Vec<i64>,
        fence: Option<(String, String, i64)>,
    ) -> Result<bool, StoreError> {
        match self {
            Db::Sqlite(_) => Ok(true),
            Db::Postgres(p) => {
                let doing = "recording the events taken";
                let mut c = client(p, doing).await?;
                let inbox = super::postgres::inbox::mark_taken;
                let taken = inbox(&mut c, p.account(), &ids, fence.as_ref()).await;
                taken.map_err(|e| failed(p, doing, &e))
            }
        }
    }

    /// Keeps one amoCRM exchange (JSON) for `sipamo record`.
    pub(crate) async fn keep_exchange(
        &self,
        call_id: Option<String>,
        at_ms: i64,
        json: String,
    ) -> Result<(), StoreError> {
        let doing = "keeping an amoCRM exchange";
        match self {
            Db::Sqlite(c) => Self::lite(c)
                .execute(
                    "INSERT INTO exchanges (call_id, at_ms, exchange) VALUES (?1, ?2, ?3)",
                    params![call_id, at_ms, json],
                )
                .map(|_| ())
                .map_err(sq(doing)),
            // A kept exchange serves `record`, not crash safety: its commit does not wait for
            // the disk, so that many accounts' exchanges do not queue behind each other's fsync.
            Db::Postgres(p) => {
                let mut c = client(p, doing).await?;
                let kept = async {
                    let t = c.transaction().await?;
                    t.batch_execute("SET LOCAL synchronous_commit TO OFF")
                        .await?;
                    t.execute(
                        "INSERT INTO exchanges (account, call_id, at_ms, exchange)
                         VALUES ($4, $1, $2, $3)",
                        &[&call_id, &at_ms, &json, &p.account()],
                    )
                    .await?;
                    t.commit().await
                };
                kept.await.map_err(|e| failed(p, doing, &e))
            }
        }
    }

    /// Saves the settings text the service runs with.
    pub(crate) async fn save_settings(&self, yaml: String, now_ms: i64) -> Result<(), StoreError> {
        let doing = "saving the settings";
        match self {
            Db::Sqlite(c) => {
                crate::server::work::exchanges::save_settings(&Self::lite(c), &yaml, now_ms)
                    .map_err(sq(doing))
            }
            Db::Postgres(p) => {
                let c = client(p, doing).await?;
                c.execute(
                    "INSERT INTO service_settings (account, yaml, saved_ms) VALUES ($3, $1, $2)
                     ON CONFLICT (account) DO UPDATE SET yaml = excluded.yaml, saved_ms = excluded.saved_ms",
                    &[&yaml, &now_ms, &p.account()],
                )
                .await
                .map(drop)
                .map_err(|e| failed(p, doing, &e))
            }
        }
    }

    /// A round trip to the database (`SELECT 1`), for `/health`.
    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        let doing = "checking the database";
        match self {
            Db::Sqlite(c) => Self::lite(c)
                .query_row("SELECT 1", [], |_| Ok(()))
                .map_err(sq(doing)),
            Db::Postgres(p) => {
                let wait = super::postgres::CHECK_WAIT;
                let c = p.client_within(wait).await.map_err(|e| StoreError {
                    doing,
                    message: e.to_string(),
                })?;
                c.simple_query("SELECT 1")
                    .await
                    .map(drop)
                    .map_err(|e| StoreError {
                        doing,
                        message: super::postgres::explain(&e),
                    })
            }
        }
    }

    /// Removes what was finished or last written before `cutoff_ms`.
    pub(crate) async fn prune(&self, cutoff_ms: i64) -> Result<Pruned, StoreError> {
        let doing = "removing what is past the retention";
        match self {
            Db::Sqlite(c) => store::blocking(|| {
                crate::server::work::retention::prune(&Self::lite(c), cutoff_ms).map_err(sq(doing))
            }),
            Db::Postgres(p) => {
                let c = client(p, doing).await?;
                let pruned = super::postgres::inbox::prune(&c, p.account(), cutoff_ms).await;
                pruned.map_err(|e| failed(p, doing, &e))
            }
        }
    }
}

/// What operators and `record` read and do.
impl Db {
    /// Opens a database the service made: a SQLite file must exist and hold sipamo's tables
    /// (an operator command never creates one); PostgreSQL is connected (and migrated).
    pub(crate) async fn open_existing(url: &DbUrl) -> Result<Db, StoreError> {
        if let DbUrl::Sqlite(path) = url {
            let doing = "opening the service's database";
            if !path.exists() {
                return Err(StoreError {
                    doing,
                    message: format!(
                        "{}: no such database; is it what `sipamo serve --db` uses?",
                        path.display()
                    ),
                });
            }
            let conn =
                Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
                    .map_err(sq(doing))?;
            conn.busy_timeout(std::time::Duration::from_secs(10))
                .map_err(sq(doing))?;
            let tables: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('events', 'parked', 'requeued')",
                    [],
                    |r| r.get(0),
                )
                .map_err(sq(doing))?;
            if tables != 3 {
                return Err(StoreError {
                    doing,
                    message: format!(
                        "{} has no sipamo tables; is it the file `sipamo serve --db` uses?",
                        path.display()
                    ),
                });
            }
            return Ok(Db::Sqlite(Mutex::new(conn)));
        }
        Db::open(url).await
    }

    /// Requests kept aside (R-WIRE), oldest first; only the one numbered `only` when given.
    pub(crate) async fn kept_requests(
        &self,
        only: Option<i64>,
    ) -> Result<Vec<KeptRequest>, StoreError> {
        let doing = "reading the requests kept aside";
        match self {
            Db::Sqlite(c) => {
                let conn = Self::lite(c);
                let sql = "SELECT id, received_ms, reason, detail, content_type, raw FROM kept \
                           WHERE ?1 IS NULL OR id = ?1 ORDER BY id";
                let mut st = conn.prepare(sql).map_err(sq(doing))?;
                let rows = st
                    .query_map([only], |r| {
                        Ok(KeptRequest {
                            id: r.get(0)?,
                            received_ms: r.get(1)?,
                            reason: r.get(2)?,
                            detail: r.get(3)?,
                            content_type: r.get(4)?,
                            raw: r.get(5)?,
                        })
                    })
                    .map_err(sq(doing))?;
                rows.collect::<rusqlite::Result<_>>().map_err(sq(doing))
            }
            Db::Postgres(p) => {
                let c = client(p, doing).await?;
                let sql = "SELECT id, received_ms, reason, detail, content_type, raw FROM kept \
                           WHERE account = $2 AND ($1::BIGINT IS NULL OR id = $1) ORDER BY id";
                let rows = c
                    .query(sql, &[&only, &p.account()])
                    .await
                    .map_err(|e| failed(p, doing, &e))?;
                Ok(rows
                    .iter()
                    .map(|r| KeptRequest {
                        id: r.get(0),
                        received_ms: r.get(1),
                        reason: r.get(2),
                        detail: r.get(3),
                        content_type: r.get(4),
                        raw: r.get(5),
                    })
                    .collect())
            }
        }
    }

    /// Parked calls, oldest first.
    pub(crate) async fn parked_calls(&self) -> Result<Vec<ParkedCall>, StoreError> {
        let doing = "reading the parked calls";
        match self {
            Db::Sqlite(c) => store::parked_calls(&Self::lite(c)).map_err(sq(doing)),
            Db::Postgres(p) => {
                let c = client(p, doing).await?;
                let parked = super::postgres::inbox::parked(&c, p.account()).await;
                parked.map_err(|e| failed(p, doing, &e))
            }
        }
    }

    /// Whether the call was handled, and its saved progress (JSON) if it has one.
    pub(crate) async fn call_state(
        &self,
        call_id: &str,
    ) -> Result<(bool, Option<String>), StoreError> {
        let doing = "reading a call's state";
        match self {
            Db::Sqlite(c) => {
                let conn = Self::lite(c);
                let done = conn
                    .prepare("SELECT 1 FROM calls_done WHERE call_id = ?1")
                    .and_then(|mut st| st.exists(params![call_id]))
                    .map_err(sq(doing))?;
                let progress = conn
                    .query_row(
                        "SELECT value FROM memory WHERE space = 'progress' AND key = ?1",
                        params![call_id],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(sq(doing))?;
                Ok((done, progress))
            }
            Db::Postgres(p) => {
                let c = client(p, doing).await?;
                let a = p.account();
                let state = async {
                    let done = c
                        .query_opt(
                            "SELECT 1 FROM calls_done WHERE account = $2 AND call_id = $1",
                            &[&call_id, &a],
                        )
                        .await?
                        .is_some();
                    let progress = c
                        .query_opt(
                            "SELECT value FROM memory
                              WHERE account = $2 AND space = 'progress' AND key = $1",
                            &[&call_id, &a],
                        )
                        .await?
                        .map(|r| r.get(0));
                    Ok((done, progress))
                };
                state.await.map_err(|e| failed(p, doing, &e))
            }
        }
    }

    /// Puts a parked call back in the queue; false when it is not parked.
    pub(crate) async fn requeue(&self, call_id: &str) -> Result<bool, StoreError> {
        let doing = "putting a call back";
        match self {
            Db::Sqlite(c) => store::requeue(&mut Self::lite(c), call_id).map_err(sq(doing)),
            Db::Postgres(p) => {
                let mut c = client(p, doing).await?;
                let put_back = super::postgres::inbox::requeue(&mut c, p.account(), call_id).await;
                put_back.map_err(|e| failed(p, doing, &e))
            }
        }
    }

    /// Every stored event, in id order (read by `sipamo record`).
    #[cfg(any(feature = "sim", test))]
    pub(crate) async fn all_events(&self) -> Result<Vec<StoredEvent>, StoreError> {
        let doing = "reading the inbox";
        match self {
            Db::Sqlite(c) => {
                store::events_after(&Self::lite(c), 0, usize::MAX >> 1).map_err(sq(doing))
            }
            Db::Postgres(p) => {
                let c = client(p, doing).await?;
                let events = super::postgres::inbox::events_of_all(&c, p.account()).await;
                events.map_err(|e| failed(p, doing, &e))
            }
        }
    }

    /// The settings text saved at the last start, if any (read by `sipamo record`).
    #[cfg(any(feature = "sim", test))]
    pub(crate) async fn settings(&self) -> Result<Option<String>, StoreError> {
        let doing = "reading the saved settings";
        match self {
            Db::Sqlite(c) => Self::lite(c)
                .query_row("SELECT yaml FROM service_settings WHERE id = 1", [], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(sq(doing)),
            Db::Postgres(p) => {
                let c = client(p, doing).await?;
                c.query_opt(
                    "SELECT yaml FROM service_settings WHERE account = $1",
                    &[&p.account()],
                )
                .await
                .map(|r| r.map(|r| r.get(0)))
                .map_err(|e| failed(p, doing, &e))
            }
        }
    }

    /// The kept exchanges (JSON) of these calls, and the latest account-level one per path, in
    /// the order sent.
    #[cfg(any(feature = "sim", test))]
    pub(crate) async fn exchanges_of(&self, calls: &[String]) -> Result<Vec<String>, StoreError> {
        let doing = "reading the kept amoCRM exchanges";
        match self {
            Db::Sqlite(c) => crate::server::work::exchanges::of_calls_text(&Self::lite(c), calls)
                .map_err(sq(doing)),
            Db::Postgres(p) => {
                let c = client(p, doing).await?;
                c.query(
                    "SELECT exchange FROM exchanges WHERE account = $2 AND (call_id = ANY($1)
                        OR id IN (SELECT MAX(id) FROM exchanges
                                   WHERE account = $2 AND call_id IS NULL
                                  GROUP BY exchange::json->>'path'))
                     ORDER BY id",
                    &[&calls, &p.account()],
                )
                .await
                .map(|rows| rows.iter().map(|r| r.get(0)).collect())
                .map_err(|e| failed(p, doing, &e))
            }
        }
    }
}

/// The accounts of a many-account deployment (PostgreSQL only).
impl Db {
    fn pg_only(&self) -> Result<&PgConn, StoreError> {
        match self {
            Db::Postgres(p) => Ok(p),
            Db::Sqlite(_) => Err(StoreError {
                doing: "reading the accounts",
                message: "accounts are kept in PostgreSQL only".into(),
            }),
        }
    }

    /// Runs `sql` with `args` on the deployment's tables; the rows it changed.
    async fn pg_execute(
        &self,
        doing: &'static str,
        sql: &str,
        args: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        let p = self.pg_only()?;
        let c = client(p, doing).await?;
        c.execute(sql, args).await.map_err(|e| failed(p, doing, &e))
    }

    /// Runs the query `sql` with `args` on the deployment's tables; its rows.
    async fn pg_query(
        &self,
        doing: &'static str,
        sql: &str,
        args: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let p = self.pg_only()?;
        let c = client(p, doing).await?;
        c.query(sql, args).await.map_err(|e| failed(p, doing, &e))
    }

    pub(crate) async fn add_account(
        &self,
        name: String,
        secret_hash: String,
        amocrm: String,
        settings: String,
        token: Vec<u8>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let doing = "adding the account";
        let added = self
            .pg_execute(
                doing,
                "INSERT INTO accounts (name, secret_hash, amocrm, settings, token, created_ms, updated_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT DO NOTHING",
                &[&name, &secret_hash, &amocrm, &settings, &token, &now_ms],
            )
            .await?;
        if added == 1 {
            Ok(())
        } else {
            Err(StoreError {
                doing,
                message: "an account with this name or this secret path exists already".into(),
            })
        }
    }

    pub(crate) async fn accounts(
        &self,
    ) -> Result<Vec<crate::server::fleet::accounts::AccountRow>, StoreError> {
        let rows = self
            .pg_query(
                "reading the accounts",
                "SELECT name, amocrm, enabled, updated_ms FROM accounts ORDER BY name",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| crate::server::fleet::accounts::AccountRow {
                name: r.get(0),
                amocrm: r.get(1),
                enabled: r.get(2),
                updated_ms: r.get(3),
            })
            .collect())
    }

    /// An account's amoCRM URL and sealed token.
    pub(crate) async fn account_token(
        &self,
        name: String,
    ) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let rows = self
            .pg_query(
                "reading an account",
                "SELECT amocrm, token FROM accounts WHERE name = $1",
                &[&name],
            )
            .await?;
        Ok(rows.first().map(|r| (r.get(0), r.get(1))))
    }

    pub(crate) async fn set_account_settings(
        &self,
        name: String,
        yaml: String,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.pg_execute(
            "changing an account's settings",
            "UPDATE accounts SET settings = $2, updated_ms = $3 WHERE name = $1",
            &[&name, &yaml, &now_ms],
        )
        .await
        .map(drop)
    }

    /// The enabled accounts' names, secret paths (hashed) and settings' times: what a replica
    /// reads every few seconds (the rest only of the accounts that changed).
    pub(crate) async fn enabled_account_versions(
        &self,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = self
            .pg_query(
                "reading the accounts",
                "SELECT name, secret_hash, updated_ms FROM accounts WHERE enabled ORDER BY name",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    /// The accounts with work waiting: events not yet taken or calls put back. One statement
    /// (over the partial index of untaken events) finds the work of thousands of accounts, so
    /// that an idle account's worker need not look at its inbox itself.
    pub(crate) async fn accounts_with_work(&self) -> Result<Vec<String>, StoreError> {
        let rows = self
            .pg_query(
                "finding the accounts with work",
                "SELECT DISTINCT account FROM events WHERE NOT taken
                 UNION SELECT account FROM requeued",
                &[],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// The enabled accounts whose work lease has no live holder (expired, let go, or never
    /// taken): those a replica with room for more leases tries to take.
    pub(crate) async fn accounts_without_a_lease(&self) -> Result<Vec<String>, StoreError> {
        let sql = format!(
            "SELECT a.name FROM accounts a WHERE a.enabled AND NOT EXISTS (
               SELECT 1 FROM leases l WHERE l.account = a.name
                  AND l.expires_ms >= {})",
            crate::server::work::lease::DB_NOW_MS
        );
        let rows = self.pg_query("finding the free leases", &sql, &[]).await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// The enabled accounts of `names`, whole.
    pub(crate) async fn enabled_accounts_named(
        &self,
        names: Vec<String>,
    ) -> Result<Vec<crate::server::fleet::accounts::ServedAccount>, StoreError> {
        let rows = self
            .pg_query(
                "reading the accounts",
                "SELECT name, secret_hash, amocrm, settings, token, updated_ms FROM accounts
                 WHERE enabled AND name = ANY($1) ORDER BY name",
                &[&names],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| crate::server::fleet::accounts::ServedAccount {
                name: r.get(0),
                secret_hash: r.get(1),
                amocrm: r.get(2),
                settings: r.get(3),
                token: r.get(4),
                updated_ms: r.get(5),
            })
            .collect())
    }

    /// Replicas whose heartbeat in `replicas` is younger than `within_ms`.
    pub(crate) async fn live_replicas(&self, within_ms: i64) -> Result<usize, StoreError> {
        let sql = format!(
            "SELECT count(*) FROM replicas WHERE seen_ms > {} - $1",
            crate::server::work::lease::DB_NOW_MS
        );
        let rows = self
            .pg_query("counting the live replicas", &sql, &[&within_ms])
            .await?;
        Ok(rows
            .first()
            .map_or(0, |r| usize::try_from(r.get::<_, i64>(0)).unwrap_or(0)))
    }

    /// Keeps an account's refreshed token (sealed); its settings' time is left as it was, so
    /// the account is not restarted for it.
    pub(crate) async fn save_account_token(
        &self,
        name: String,
        token: Vec<u8>,
    ) -> Result<(), StoreError> {
        let doing = "saving an account's token";
        let n = self
            .pg_execute(
                doing,
                "UPDATE accounts SET token = $2 WHERE name = $1",
                &[&name, &token],
            )
            .await?;
        if n == 1 {
            Ok(())
        } else {
            Err(StoreError {
                doing,
                message: "the account is gone".into(),
            })
        }
    }

    /// Enables an account again; false when there is no such account.
    pub(crate) async fn enable_account(
        &self,
        name: String,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.pg_execute(
            "enabling an account",
            "UPDATE accounts SET enabled = true, updated_ms = $2 WHERE name = $1",
            &[&name, &now_ms],
        )
        .await
        .map(|n| n == 1)
    }

    pub(crate) async fn disable_account(&self, name: String) -> Result<bool, StoreError> {
        self.pg_execute(
            "disabling an account",
            "UPDATE accounts SET enabled = false WHERE name = $1",
            &[&name],
        )
        .await
        .map(|n| n == 1)
    }
}

/// A pooled PostgreSQL connection; its absence an error naming what was being done.
async fn client(p: &PgConn, doing: &'static str) -> Result<super::postgres::Client, StoreError> {
    p.client().await.map_err(|e| StoreError {
        doing,
        message: e.to_string(),
    })
}

/// A failed statement, in PostgreSQL's words (never the URL or password).
fn failed(p: &PgConn, doing: &'static str, e: &tokio_postgres::Error) -> StoreError {
    StoreError {
        doing,
        message: format!(
            "PostgreSQL at {}: {}",
            p.target(),
            super::postgres::explain(e)
        ),
    }
}
