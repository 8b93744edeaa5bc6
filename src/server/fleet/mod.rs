//! `serve --accounts`: every enabled account of a many-account deployment (PostgreSQL), each
//! served on its own — its inbox, its worker and amoCRM client (queue and rate limiter), its
//! work lease, its metrics — so that one account's amoCRM being down or refusing a call slows
//! no other. The accounts table is read every few seconds: added, disabled, enabled accounts
//! and changed settings take effect without a restart.

pub(crate) mod accounts;
pub(crate) mod config;
pub mod vault;

use crate::server::store::Backend;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use self::accounts::ServedAccount;
use self::vault::Vault;
use super::http::inbox;
use super::work::{exchanges, lease, retention, supervisor};
use super::{ServeConfig, ServeError};
use crate::amocrm::client::SaveToken;
use crate::clock::Clock;
use crate::server::http::health::Health;
use crate::server::http::metrics::Metrics;
use crate::server::http::receiver::{Route, Routes, Status};
use crate::server::store::Db;
use crate::server::store::DbUrl;
use crate::server::store::postgres::{Accounts, PgUrl};
use crate::server::work::worker::Worker;

/// How often the accounts table is read.
pub(crate) const POLL: Duration = Duration::from_secs(2);

/// How often the accounts with work waiting are looked for ([`Fleet::find_work`]).
const FIND_WORK: Duration = Duration::from_secs(1);

/// One account served by this replica.
struct Served {
    account: ServedAccount,
    metrics: Metrics,
    health: Arc<Health>,
    lease: Arc<lease::LeaseState>,
    lease_conn: Arc<crate::server::store::postgres::PgConn>,
    /// Wakes the account's worker (new events stored by any replica).
    stored: Arc<tokio::sync::Notify>,
    stop: watch::Sender<bool>,
    worker: JoinHandle<()>,
    /// The lease keeper and the retention pass: aborted when the account stops.
    others: Vec<JoinHandle<()>>,
}

/// An enabled account this replica cannot work, and why.
struct Failed {
    secret_hash: String,
    reason: String,
}

/// The accounts this replica serves and what they share.
pub(crate) struct Fleet {
    cfg: ServeConfig,
    base: PgUrl,
    vault: Arc<Vault>,
    pub(crate) routes: Routes,
    served: Mutex<HashMap<String, Served>>,
    /// Set at SIGTERM: the engines start no further call.
    stopping: Arc<AtomicBool>,
    /// The last failure to read the accounts table (`/health` is 503 while it lasts).
    trouble: Mutex<Option<String>>,
    /// Enabled accounts that cannot be worked (a token the key does not open, settings that do
    /// not parse, a schema that cannot be opened), with why: their events are still stored and
    /// acknowledged (R-WIRE; worked once the cause is fixed), and `/health` names them.
    failed: Mutex<HashMap<String, Failed>>,
    /// What belongs to no account (an unknown secret path).
    pub(crate) metrics: Metrics,
    /// This replica's share of the accounts' leases.
    share: Arc<lease::Share>,
    /// The secret paths (their SHA-256) of the enabled accounts at the last reading: one not
    /// yet routed is an account starting, answered 503 (Sipuni sends again), never 404.
    known: std::sync::RwLock<std::collections::HashSet<String>>,
    /// Set once the accounts of the first reading are started (or named as failed).
    started: AtomicBool,
    /// The HTTP client every account's amoCRM client shares.
    http: reqwest::Client,
    /// Renews the held leases of every account together.
    renewals: crate::server::work::renewals::Renewals,
    /// A connection to the accounts table for looking up a secret path not yet routed.
    conn: crate::server::store::postgres::PgConn,
    /// Lookups of unrouted paths at once (more are answered 503: a flood of unknown paths
    /// cannot queue work on the database).
    lookups: tokio::sync::Semaphore,
    /// Wakes the accounts' reading early (an account was just added).
    resync: tokio::sync::Notify,
    /// Told when the database answers the lookup for work again after failing: the workers
    /// pausing after a database failure restart at once.
    recovered: Arc<tokio::sync::Notify>,
}

/// Unrouted secret paths looked up in the accounts table at once.
const LOOKUPS_AT_ONCE: usize = 4;

/// Accounts started at once (each waits on the database and on its amoCRM's settings check).
const STARTING_AT_ONCE: usize = 16;

impl Fleet {
    pub(crate) async fn new(
        cfg: &ServeConfig,
        base: PgUrl,
        vault: Vault,
    ) -> Result<Arc<Self>, ServeError> {
        let http = crate::amocrm::client::http_client(cfg.amocrm_timeout)
            .map_err(|e| ServeError::Client(e.to_string()))?;
        let conn = crate::server::store::postgres::PgConn::connect(&base.ingest())
            .await
            .map_err(|e| ServeError::Database {
                db: format!("{base:?}"),
                source: crate::server::store::StoreError {
                    doing: "connecting for the work leases",
                    message: e.to_string(),
                },
            })?;
        let renewals =
            crate::server::work::renewals::Renewals::start(conn.clone(), cfg.replica_id.clone());
        Ok(Arc::new(Fleet {
            cfg: cfg.clone(),
            base,
            vault: Arc::new(vault),
            routes: Routes::default(),
            served: Mutex::new(HashMap::new()),
            stopping: Arc::new(AtomicBool::new(false)),
            trouble: Mutex::new(None),
            failed: Mutex::new(HashMap::new()),
            metrics: Metrics::default(),
            share: Arc::new(lease::Share::default()),
            known: std::sync::RwLock::default(),
            started: AtomicBool::new(false),
            http,
            renewals,
            conn,
            lookups: tokio::sync::Semaphore::new(LOOKUPS_AT_ONCE),
            resync: tokio::sync::Notify::new(),
            recovered: Arc::new(tokio::sync::Notify::new()),
        }))
    }

    fn served(&self) -> std::sync::MutexGuard<'_, HashMap<String, Served>> {
        self.served
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Brings the served accounts in line with the table: starts new and enabled ones, stops
    /// disabled and removed ones, and serves anew those whose settings changed.
    pub(crate) async fn sync(self: &Arc<Self>) -> Result<(), ServeError> {
        let read = self.enabled_accounts().await;
        *self.trouble.lock().unwrap_or_else(|p| p.into_inner()) =
            read.as_ref().err().map(ToString::to_string);
        let (wanted, live) = read?;
        *self.known.write().unwrap_or_else(|p| p.into_inner()) =
            wanted.iter().map(|a| a.secret_hash.clone()).collect();
        self.set_share(wanted.len(), live);
        let by_name: HashMap<&str, &ServedAccount> =
            wanted.iter().map(|a| (a.name.as_str(), a)).collect();
        let stale: Vec<String> = {
            let served = self.served();
            served
                .iter()
                .filter(|(name, s)| {
                    by_name
                        .get(name.as_str())
                        .is_none_or(|w| !w.serves_as(&s.account))
                })
                .map(|(name, _)| name.clone())
                .collect()
        };
        for name in stale {
            self.stop_account(&name).await;
        }
        self.forget_failed_not_in(&wanted);
        let new: Vec<ServedAccount> = {
            let served = self.served();
            wanted
                .into_iter()
                .filter(|a| !served.contains_key(&a.name))
                .collect()
        };
        self.start_all(new).await;
        self.started.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Starts `accounts`, [`STARTING_AT_ONCE`] at a time.
    async fn start_all(self: &Arc<Self>, accounts: Vec<ServedAccount>) {
        let mut starting = tokio::task::JoinSet::new();
        for account in accounts {
            if starting.len() >= STARTING_AT_ONCE
                && let Some(done) = starting.join_next().await
            {
                self.started_one(done).await;
            }
            let fleet = self.clone();
            starting.spawn(async move {
                let (name, hash) = (account.name.clone(), account.secret_hash.clone());
                (name, hash, fleet.start_account(account).await)
            });
        }
        while let Some(done) = starting.join_next().await {
            self.started_one(done).await;
        }
    }

    async fn started_one(
        &self,
        done: Result<(String, String, Result<Served, ServeError>), tokio::task::JoinError>,
    ) {
        match done {
            Ok((name, _, Ok(s))) => {
                tracing::info!(account = %name, "serving the account");
                self.failed().remove(&name);
                self.served().insert(name, s);
            }
            Ok((name, hash, Err(e))) => {
                tracing::error!(account = %name, error = %e, "cannot serve the account; its events are kept, trying again later");
                self.receive_only(&name, &hash, e.to_string()).await;
            }
            Err(e) => tracing::error!(error = %e, "starting an account panicked"),
        }
    }

    /// Live replicas split the accounts: each may hold the accounts over the live replicas
    /// (those whose heartbeat is younger than a lease), rounded up; one lease above that may
    /// be let go at each reading. Leases held are recounted from the accounts served.
    fn set_share(&self, accounts: usize, live: Option<usize>) {
        let max = accounts.div_ceil(live.unwrap_or(1).max(1)).max(1);
        let held = self.served().values().filter(|s| s.lease.holds()).count();
        self.share.max_held.store(max, Ordering::SeqCst);
        self.share.held.store(held, Ordering::SeqCst);
        self.share
            .shed
            .store(held.saturating_sub(max), Ordering::SeqCst);
    }

    fn failed(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failed>> {
        self.failed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An account that cannot be worked still has its events stored and acknowledged: its
    /// secret path is routed to its inbox (never a 404 for an account the table has).
    async fn receive_only(&self, name: &str, secret_hash: &str, reason: String) {
        let known = self.failed().contains_key(name);
        if !known {
            let db = DbUrl::Postgres(self.base.account(name));
            // Another replica may work it: every commit tells the replicas.
            let elsewhere = Box::new(|| true);
            let (stored, parsed) = (Arc::new(tokio::sync::Notify::new()), Arc::default());
            match inbox::Inbox::start(&db, stored, parsed, elsewhere).await {
                Ok(inbox) => {
                    self.routes
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(
                            secret_hash.to_string(),
                            Route {
                                inbox,
                                metrics: Metrics::default(),
                            },
                        );
                }
                Err(e) => {
                    tracing::error!(account = %name, error = %e, "cannot even store the account's events");
                }
            }
        }
        self.failed().insert(
            name.to_string(),
            Failed {
                secret_hash: secret_hash.to_string(),
                reason,
            },
        );
    }

    /// Accounts no longer enabled leave the failed list and lose their route.
    fn forget_failed_not_in(&self, wanted: &[ServedAccount]) {
        let names: std::collections::HashSet<&str> =
            wanted.iter().map(|w| w.name.as_str()).collect();
        let gone: Vec<(String, String)> = self
            .failed()
            .iter()
            .filter(|(name, _)| !names.contains(name.as_str()))
            .map(|(name, f)| (name.clone(), f.secret_hash.clone()))
            .collect();
        for (name, hash) in gone {
            self.failed().remove(&name);
            self.routes
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&hash);
        }
    }

    /// The enabled accounts as the table has them now: their names, secret paths and
    /// settings' times read, and whole only those this replica does not serve as they are
    /// (new, changed, or not started) — thousands of accounts are not read whole every few
    /// seconds. With them, the live replicas (`None` when they cannot be counted).
    async fn enabled_accounts(&self) -> Result<(Vec<ServedAccount>, Option<usize>), ServeError> {
        let lease_ms = i64::try_from(self.cfg.lease.as_millis()).unwrap_or(i64::MAX);
        let db = self.db().await?;
        let versions = db.enabled_versions().await.map_err(|e| self.db_error(e))?;
        let live = db.live_replicas(lease_ms).await.ok();
        let mut wanted = Vec::with_capacity(versions.len());
        let mut changed = Vec::new();
        {
            let served = self.served();
            for (name, hash, updated_ms) in versions {
                match served.get(&name) {
                    Some(s)
                        if s.account.secret_hash == hash && s.account.updated_ms == updated_ms =>
                    {
                        wanted.push(s.account.clone());
                    }
                    _ => changed.push(name),
                }
            }
        }
        if !changed.is_empty() {
            let named = db.enabled_named(changed).await;
            wanted.extend(named.map_err(|e| self.db_error(e))?);
        }
        Ok((wanted, live))
    }

    /// The accounts table's database, on the ingest lane (never waiting behind the accounts'
    /// work).
    async fn db(&self) -> Result<Accounts, ServeError> {
        Accounts::open(&self.base.ingest())
            .await
            .map_err(|e| self.db_error(e))
    }

    /// The database on the work lane: looking for work may wait behind the accounts' work (a
    /// table locked by maintenance), acknowledgements must not.
    async fn work_db(&self) -> Result<Accounts, ServeError> {
        Accounts::open(&self.base)
            .await
            .map_err(|e| self.db_error(e))
    }

    fn db_error(&self, source: crate::server::store::StoreError) -> ServeError {
        ServeError::Database {
            db: format!("{:?}", self.base),
            source,
        }
    }

    /// Stops serving an account: its events are refused from now on, the call in hand is
    /// finished (within the shutdown grace), and its lease is let go.
    async fn stop_account(&self, name: &str) {
        self.stop_account_by(name, tokio::time::Instant::now() + self.cfg.shutdown_grace)
            .await;
    }

    /// [`Self::stop_account`], the call in hand given until `deadline`.
    async fn stop_account_by(&self, name: &str, deadline: tokio::time::Instant) {
        let Some(s) = self.served().remove(name) else {
            return;
        };
        self.routes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&s.account.secret_hash);
        let _ = s.stop.send(true);
        let mut worker = s.worker;
        let finished = tokio::time::timeout_at(deadline, &mut worker).await.is_ok();
        for t in s.others {
            t.abort();
        }
        if finished {
            let (conn, state) = (s.lease_conn, s.lease);
            lease::release(&conn, &state).await;
        } else {
            worker.abort();
            s.lease.forget();
        }
        tracing::info!(account = %name, "no longer serving the account");
    }

    /// Everything one account needs, started.
    async fn start_account(self: &Arc<Self>, a: ServedAccount) -> Result<Served, ServeError> {
        let cfg = &self.cfg;
        let url = self.base.account(&a.name);
        let db = DbUrl::Postgres(url.clone());
        let (settings, client, lease, metrics) = self.account_parts(&a, &url).await?;
        let factory = supervisor::WorkerFactory {
            stopping: self.stopping.clone(),
            lease: Some(lease.state.clone()),
            idle: crate::server::work::worker::IDLE_MANY_ACCOUNTS,
            ..supervisor::WorkerFactory::from_config(
                cfg,
                settings,
                client,
                db.clone(),
                metrics.clone(),
            )
        };
        let (stored, health) = (factory.stored.clone(), factory.health.clone());
        let wake = stored.clone();
        let held = lease.state.clone();
        let inbox = inbox::Inbox::start(
            &db,
            stored,
            factory.parsed.clone(),
            Box::new(move || !held.holds()),
        )
        .await?;
        let (stop, stop_rx) = watch::channel(false);
        let build = move || {
            let f = factory.clone();
            async move { f.build().await }
        };
        let worker = tokio::spawn(supervisor::supervise::<Worker, _, _>(
            None,
            build,
            health.clone(),
            Some(lease.state.clone()),
            Some(self.recovered.clone()),
            stop_rx.clone(),
        ));
        let (state, lease_conn) = (lease.state.clone(), lease.conn.clone());
        let others = vec![
            tokio::spawn(lease::keep(
                lease.conn,
                lease.state,
                lease.changed,
                metrics.clone(),
                self.share.clone(),
                Some(self.renewals.clone()),
            )),
            tokio::spawn(retention::run(
                db,
                cfg.retention,
                Clock::System,
                metrics.clone(),
                stop_rx,
            )),
        ];
        self.routes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                a.secret_hash.clone(),
                Route {
                    inbox,
                    metrics: metrics.clone(),
                },
            );
        Ok(Served {
            account: a,
            metrics,
            health,
            lease: state,
            lease_conn,
            stored: wake,
            stop,
            worker,
            others,
        })
    }

    /// The account's settings, amoCRM client (its token unsealed; a refreshed one sealed
    /// back), work lease and metrics; its settings are kept in its schema for `record`.
    async fn account_parts(
        self: &Arc<Self>,
        a: &ServedAccount,
        url: &PgUrl,
    ) -> Result<
        (
            crate::engine::Settings,
            crate::amocrm::client::AmoClient,
            lease::Lease,
            Metrics,
        ),
        ServeError,
    > {
        let invalid = |message: String| ServeError::Invalid {
            path: format!("the accounts table, account {}", a.name).into(),
            message,
        };
        let settings =
            crate::engine::Settings::from_yaml(&a.settings).map_err(|e| invalid(e.to_string()))?;
        let token_text = self
            .vault
            .open(&a.token, &a.name)
            .map_err(|e| invalid(e.to_string()))?;
        let (token, mut refresh) =
            self::config::parse_token(token_text.expose(), std::path::Path::new("token"))?;
        if let Some(r) = refresh.as_mut() {
            r.file = None;
            r.save = Some(self.token_keeper(&a.name));
        }
        let db = DbUrl::Postgres(url.clone());
        let db_error = |source| ServeError::Database {
            db: format!("{url:?}"),
            source,
        };
        let conn = Db::open(&db).await.map_err(db_error)?;
        let saved = conn.save_settings(a.settings.clone(), Clock::System.now_ms());
        saved.await.map_err(db_error)?;
        let recorder = exchanges::Recorder::open(&db).await.map_err(db_error)?;
        let lease = crate::server::work_lease(&self.cfg, url, &a.amocrm).await?;
        let metrics = Metrics::starting_at(Clock::System.now_ms());
        let mut client_cfg = crate::server::amocrm_config(
            &self.cfg,
            &a.amocrm,
            token,
            refresh,
            &metrics,
            recorder,
            Some(lease.state.clone()),
        );
        // One HTTP client (pools, TLS set-up) for every account of the replica.
        client_cfg.http = Some(self.http.clone());
        let client = crate::server::amocrm_client(client_cfg)?;
        Ok((settings, client, lease, metrics))
    }

    /// Seals a refreshed token pair into the accounts table before it is used.
    fn token_keeper(self: &Arc<Self>, name: &str) -> SaveToken {
        let (fleet, name) = (self.clone(), name.to_string());
        SaveToken(Arc::new(move |text: String| {
            let (fleet, name) = (fleet.clone(), name.clone());
            Box::pin(async move {
                let sealed = fleet.vault.seal(&crate::secret::Secret::new(text), &name)?;
                let db = Accounts::open(&fleet.base).await?;
                db.save_token(name, sealed).await?;
                Ok(())
            })
        }))
    }

    /// Wakes the worker of account `name` (every account's for
    /// [`crate::server::store::postgres::listen::EVERYONE`]).
    fn wake(&self, name: &str) {
        let served = self.served();
        if name == crate::server::store::postgres::listen::EVERYONE {
            served.values().for_each(|s| s.stored.notify_one());
        } else if let Some(s) = served.get(name) {
            s.stored.notify_one();
        }
    }

    /// Reads the table every [`POLL`] until `stop`.
    pub(crate) async fn keep_in_sync(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.sync().await {
                tracing::error!(error = %e, "cannot read the accounts; serving those already served");
            }
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = self.resync.notified() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    /// Every [`FIND_WORK`] until `stop`: wakes the workers of the accounts this replica works
    /// whose inbox holds events not yet taken (or calls put back). The notifications of new
    /// events wake them at once; this finds what a lost notification would leave, for every
    /// account in one statement, so that idle accounts' workers do not poll.
    pub(crate) async fn find_work(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut failing = false;
        loop {
            self.find_free_leases().await;
            let found = match self.work_db().await {
                Ok(db) => db.accounts_with_work().await.map_err(|e| self.db_error(e)),
                Err(e) => Err(e),
            };
            match found {
                Ok(names) => {
                    if std::mem::take(&mut failing) {
                        tracing::info!(
                            "the database answers again; restarting the workers that failed"
                        );
                        self.recovered.notify_waiters();
                    }
                    let served = self.served();
                    for s in names.iter().filter_map(|n| served.get(n.as_str())) {
                        if s.lease.holds() {
                            s.stored.notify_one();
                        }
                    }
                }
                Err(e) => {
                    failing = true;
                    tracing::warn!(error = %e, "cannot look for the accounts with work");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(FIND_WORK) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    /// Marks the leases that have no live holder, so that the keepers of a replica with room
    /// for more try those (a replica that died leaves its leases to be found here within a
    /// second of their expiry); on an error every keeper may try, as without the look.
    async fn find_free_leases(&self) {
        let found = match self.work_db().await {
            Ok(db) => db
                .accounts_without_a_lease()
                .await
                .map_err(|e| self.db_error(e)),
            Err(e) => Err(e),
        };
        let free = match found {
            Ok(names) => Some(names.into_iter().collect::<std::collections::HashSet<_>>()),
            Err(e) => {
                tracing::warn!(error = %e, "cannot look for the free leases");
                None
            }
        };
        for (name, s) in self.served().iter() {
            s.lease
                .set_free(free.as_ref().is_none_or(|f| f.contains(name)));
        }
    }

    /// At SIGTERM: no further call is started, and every account's call in hand is finished
    /// (all within one grace).
    pub(crate) async fn stop_all(self: &Arc<Self>) {
        self.stopping.store(true, Ordering::SeqCst);
        let names: Vec<String> = self.served().keys().cloned().collect();
        let deadline = tokio::time::Instant::now() + self.cfg.shutdown_grace;
        let mut stops = tokio::task::JoinSet::new();
        for name in names {
            let fleet = self.clone();
            stops.spawn(async move { fleet.stop_account_by(&name, deadline).await });
        }
        // Each stop ends by the deadline (a worker still busy then is aborted).
        stops.join_all().await;
    }
}

impl Fleet {
    /// A path not known at the last reading of the accounts table: an account added since is
    /// answered 503 (and the table read at once), one the table does not have `None` (404).
    /// Blocks on the database (at most [`crate::server::store::postgres::CHECK_WAIT`]).
    async fn look_up(&self, secret_hash: &str) -> Option<String> {
        let Ok(_permit) = self.lookups.try_acquire() else {
            return Some("too many unknown paths are being looked up; send the event again".into());
        };
        let wait = crate::server::store::postgres::CHECK_WAIT;
        let c = match self.conn.client_within(wait).await {
            Ok(c) => c,
            Err(e) => return Some(format!("cannot tell whether the path is an account's: {e}")),
        };
        let found = c
            .query_opt(
                "SELECT 1 FROM accounts WHERE secret_hash = $1 AND enabled",
                &[&secret_hash],
            )
            .await;
        match found {
            Ok(None) => None,
            Ok(Some(_)) => {
                self.resync.notify_one();
                Some("the account was just added and is starting; send the event again".into())
            }
            Err(e) => Some(format!(
                "cannot tell whether the path is an account's: {}",
                crate::server::store::postgres::explain(&e)
            )),
        }
    }

    /// Why an unrouted path may be an account's, as far as this replica knows without asking
    /// the database (`None`: ask it).
    fn unrouted_now(&self, secret_hash: &str) -> Option<String> {
        if let Some(t) = &*self.trouble.lock().unwrap_or_else(|p| p.into_inner()) {
            return Some(format!("the accounts cannot be read: {t}"));
        }
        if !self.started.load(Ordering::SeqCst) {
            return Some("the service is starting; send the event again".into());
        }
        let known = self
            .known
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(secret_hash);
        known.then(|| "the account is starting; send the event again".into())
    }
}

impl Status for Fleet {
    /// 200 while the accounts table can be read, with each account's state; one account in
    /// trouble does not make the replica unhealthy (the others are served), it is named.
    fn health(&self, now_ms: i64) -> (u16, serde_json::Value) {
        let mut accounts = serde_json::Map::new();
        let mut troubled = Vec::new();
        for (name, s) in self.served().iter() {
            let (code, body) = s.health.report(now_ms);
            if code != 200 {
                troubled.push(name.clone());
            }
            accounts.insert(name.clone(), body);
        }
        for (name, f) in self.failed().iter() {
            troubled.push(name.clone());
            accounts.insert(
                name.clone(),
                json!({ "status": "cannot be worked", "reason": f.reason }),
            );
        }
        troubled.sort();
        let trouble = self
            .trouble
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match trouble {
            Some(t) => (
                503,
                json!({ "status": "down", "reason": format!("the accounts cannot be read: {t}"), "accounts": accounts }),
            ),
            None if !self.started.load(Ordering::SeqCst) => (
                503,
                json!({ "status": "starting", "reason": "the accounts are being started", "accounts": accounts }),
            ),
            None => (
                200,
                json!({ "status": "ok", "accounts_in_trouble": troubled, "accounts": accounts }),
            ),
        }
    }

    /// An unrouted secret path belongs to no account only when the table was read and the
    /// path is not an enabled account's (one starting now is answered 503, as is any while
    /// the table cannot be read).
    fn unrouted<'a>(&'a self, secret_hash: &'a str) -> crate::server::http::receiver::Unrouted<'a> {
        Box::pin(async move {
            match self.unrouted_now(secret_hash) {
                Some(why) => Some(why),
                None => self.look_up(secret_hash).await,
            }
        })
    }

    fn metrics(&self) -> String {
        let mut each: Vec<_> = self
            .served()
            .iter()
            .map(|(n, s)| (n.clone(), s.metrics.clone()))
            .collect();
        each.sort_by(|a, b| a.0.cmp(&b.0));
        crate::server::http::metrics::render_fleet(
            &self.metrics,
            self.base.pool.connections(),
            each,
        )
    }
}

/// A many-account service ready to run: the accounts table read, every enabled account
/// started, the port bound.
pub struct FleetApp {
    fleet: Arc<Fleet>,
    listener: tokio::net::TcpListener,
    limits: crate::server::http::listen::Limits,
    retention_ms: i64,
    grace: Duration,
    /// Enabled accounts when the service started.
    enabled: usize,
    /// The replica id's heartbeat, stopped with the service.
    _heartbeat: crate::server::work::replica::Beating,
}

impl FleetApp {
    pub async fn build(cfg: &ServeConfig, vault: Vault) -> Result<Self, ServeError> {
        let DbUrl::Postgres(base) = &cfg.db else {
            return Err(ServeError::Options(
                "--accounts serves the accounts kept in PostgreSQL: give --db postgres://USER:PASSWORD@HOST/DB".into(),
            ));
        };
        crate::server::check_options(cfg)?;
        let mut limits = cfg.limits;
        limits.max_connections =
            crate::server::http::listen::connection_cap(limits.max_connections)?;
        let heartbeat = crate::server::claim_replica_id(cfg, base).await?;
        let fleet = Fleet::new(cfg, base.clone(), vault).await?;
        // The table must be readable to start; the accounts are started once the port is
        // bound (events meanwhile are answered 503, and Sipuni sends them again).
        let enabled = fleet
            .db()
            .await?
            .enabled_versions()
            .await
            .map_err(|e| fleet.db_error(e))?;
        let listener = crate::server::http::listen::bind(cfg.listen).await?;
        Ok(FleetApp {
            fleet,
            listener,
            limits,
            retention_ms: i64::try_from(cfg.retention.as_millis()).unwrap_or(i64::MAX),
            grace: cfg.shutdown_grace,
            enabled: enabled.len(),
            _heartbeat: heartbeat,
        })
    }

    pub fn local_addr(&self) -> Result<std::net::SocketAddr, ServeError> {
        self.listener
            .local_addr()
            .map_err(|e| ServeError::Stopped(format!("the listener has no address: {e}")))
    }

    /// How many accounts were enabled at the start (they are started once it runs).
    pub fn accounts(&self) -> usize {
        self.enabled
    }

    /// Serves until `shutdown` resolves; then every account's call in hand is finished within
    /// the shutdown grace and its lease let go.
    pub async fn run_until_stopped(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let fleet = self.fleet;
        let router =
            crate::server::http::receiver::router(crate::server::http::receiver::ReceiverState {
                routes: fleet.routes.clone(),
                metrics: fleet.metrics.clone(),
                clock: Clock::System,
                status: fleet.clone(),
                retention_ms: self.retention_ms,
                db: Some(DbUrl::Postgres(fleet.base.ingest())),
                health_db: Arc::default(),
            });
        let (stop_tx, stop_rx) = watch::channel(false);
        let (stopping, waker) = (fleet.stopping.clone(), Arc::downgrade(&fleet));
        crate::server::store::postgres::listen::spawn(
            &fleet.base,
            move || !stopping.load(Ordering::SeqCst),
            move |name| {
                if let Some(f) = waker.upgrade() {
                    f.wake(name);
                }
            },
        );
        let syncing = tokio::spawn(fleet.clone().keep_in_sync(stop_rx.clone()));
        let finding = tokio::spawn(fleet.clone().find_work(stop_rx.clone()));
        let mut server = tokio::spawn(crate::server::http::listen::serve(
            self.listener,
            router,
            self.limits,
            stop_rx,
        ));
        tokio::select! {
            () = shutdown => {}
            r = &mut server => {
                let _ = stop_tx.send(true);
                return r.map_err(|e| ServeError::Stopped(format!("the receiver failed: {e}")));
            }
        }
        let _ = stop_tx.send(true);
        syncing.abort();
        finding.abort();
        fleet.stop_all().await;
        let _ = tokio::time::timeout(self.grace, &mut server).await;
        server.abort();
        Ok(())
    }
}
