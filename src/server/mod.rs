//! `sipamo serve`: the engine as a service. Sipuni events are received over HTTP, stored in a
//! durable inbox (SQLite or PostgreSQL) before they are acknowledged, and worked off by the
//! engine against the real amoCRM account — one from the command line, or every enabled
//! account of the accounts table ([`fleet`]).

mod error;
pub mod fleet;
pub(crate) mod http;
mod single;
pub mod store;
pub(crate) mod work;

use crate::server::store::Backend;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

pub use error::ServeError;
use fleet::{config, vault};
use http::{health, inbox, listen, metrics, receiver};
use store::postgres as pg;
use work::{exchanges, lease, replica, retention, supervisor, worker};

use crate::amocrm::client::{AmoClient, ClientConfig, Hooks, RetryPolicy};
use crate::clock::Clock;

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The one account's files (unused when serving the accounts table, `--accounts`).
    pub settings: PathBuf,
    pub amocrm: String,
    pub token_file: PathBuf,
    pub secret_file: PathBuf,
    pub listen: SocketAddr,
    pub db: store::DbUrl,
    /// How long after a hangup late events of the call are waited for.
    pub settle: Duration,
    /// amoCRM requests per second (amoCRM allows 7).
    pub rate_per_second: u32,
    /// Retries of one amoCRM request.
    pub retry: RetryPolicy,
    /// How often the worker looks for ready calls (doubled after each failure, up to a minute).
    pub tick: Duration,
    /// Failed attempts after which a call is parked while amoCRM answers other requests.
    pub park_after: u32,
    /// `/health` answers 503 when the oldest ready call has waited longer than this.
    pub stuck_after: Duration,
    /// A call whose hangup never came is closed as unfinished this long after its last event.
    pub max_call: Duration,
    /// After SIGTERM, how long the call in hand and open connections may take before the
    /// process exits anyway (the work in hand continues after the next start: every write's
    /// intent is saved, so stopping mid-call is as safe as `kill -9`).
    pub shutdown_grace: Duration,
    /// Timeouts and the connection cap of the receiver.
    pub limits: listen::Limits,
    /// How long events and finished calls are kept (at least `max_call`).
    pub retention: Duration,
    /// How long one amoCRM request may take.
    pub amocrm_timeout: Duration,
    /// With PostgreSQL: the work lease's length (several replicas on one database).
    pub lease: Duration,
    /// This replica's name in the lease.
    pub replica_id: String,
}

/// A service ready to run: settings checked against the account, database open, port bound.
pub struct Application {
    listener: tokio::net::TcpListener,
    router: axum::Router,
    /// Built at start with SQLite (a bad setting stops start-up); with a work lease it is built
    /// once the lease is held, while the replica already acknowledges events.
    worker: Option<worker::Worker>,
    factory: supervisor::WorkerFactory,
    health: Arc<health::Health>,
    stopping: Arc<std::sync::atomic::AtomicBool>,
    grace: Duration,
    limits: listen::Limits,
    db: store::DbUrl,
    retention: Duration,
    metrics: metrics::Metrics,
    /// With PostgreSQL: the work lease, kept while the service runs.
    lease: Option<lease::Lease>,
    /// With SQLite: the database's lock, so that no second process serves it.
    _db_lock: Option<single::DbLock>,
    /// With PostgreSQL: the replica id's heartbeat, stopped with the service.
    _heartbeat: Option<replica::Beating>,
}

impl Application {
    /// Loads and checks everything; any failure stops start-up with the reason.
    pub async fn build(cfg: &ServeConfig) -> Result<Self, ServeError> {
        check_options(cfg)?;
        let db_lock = match &cfg.db {
            store::DbUrl::Sqlite(path) => Some(single::lock(path)?),
            store::DbUrl::Postgres(_) => None,
        };
        let mut limits = cfg.limits;
        limits.max_connections = listen::connection_cap(limits.max_connections)?;
        let (settings, settings_text) = config::read_settings(&cfg.settings)?;
        let secret = config::read_secret(&cfg.secret_file)?;
        let (token, refresh) = config::read_token(&cfg.token_file)?;
        let metrics = metrics::Metrics::starting_at(Clock::System.now_ms());
        let db_error = |source| ServeError::Database {
            db: cfg.db.to_string(),
            source,
        };
        let recorder = exchanges::Recorder::open(&cfg.db).await.map_err(db_error)?;
        let (lease, heartbeat) = replica_parts(cfg).await?;
        let db = store::Db::open(&cfg.db).await.map_err(db_error)?;
        db.save_settings(settings_text, Clock::System.now_ms())
            .await
            .map_err(db_error)?;
        let client = amocrm_client(amocrm_config(
            cfg,
            &cfg.amocrm,
            token,
            refresh,
            &metrics,
            recorder,
            lease.as_ref().map(|l| l.state.clone()),
        ))?;
        let factory = supervisor::WorkerFactory {
            lease: lease.as_ref().map(|l| l.state.clone()),
            ..supervisor::WorkerFactory::from_config(
                cfg,
                settings,
                client,
                cfg.db.clone(),
                metrics.clone(),
            )
        };
        let (stored, stopping, health) = (
            factory.stored.clone(),
            factory.stopping.clone(),
            factory.health.clone(),
        );
        let worker = match &factory.lease {
            None => Some(factory.build().await?),
            Some(_) => None,
        };
        // With replicas, a commit tells the others only while this one does not hold the lease.
        let held = lease.as_ref().map(|l| l.state.clone());
        let elsewhere = Box::new(move || held.as_ref().is_some_and(|l| !l.holds()));
        let inbox =
            inbox::Inbox::start(&cfg.db, stored.clone(), factory.parsed.clone(), elsewhere).await?;
        let listener = listen::bind(cfg.listen).await?;
        let router = one_account_router(cfg, &secret, inbox, &metrics, &health);
        Ok(Application {
            listener,
            router,
            worker,
            factory,
            health,
            stopping,
            grace: cfg.shutdown_grace,
            limits,
            db: cfg.db.clone(),
            retention: cfg.retention,
            metrics,
            lease,
            _db_lock: db_lock,
            _heartbeat: heartbeat,
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr, ServeError> {
        self.listener
            .local_addr()
            .map_err(|e| ServeError::Stopped(format!("the listener has no address: {e}")))
    }

    /// Serves until `shutdown` resolves: stops accepting, lets the worker finish the amoCRM
    /// request in hand (no further call is started), and returns within the shutdown grace
    /// whatever amoCRM or a slow client does. Calls not finished continue after the next start.
    pub async fn run_until_stopped(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let factory = self.factory;
        let stored = factory.stored.clone();
        let lease_state = self.lease.as_ref().map(|l| l.state.clone());
        let mut worker = tokio::spawn(supervisor::supervise(
            self.worker,
            move || {
                let f = factory.clone();
                async move { f.build().await }
            },
            self.health,
            lease_state,
            None,
            stop_rx.clone(),
        ));
        if let Some(l) = self.lease {
            tokio::spawn(lease::keep(
                l.conn,
                l.state,
                l.changed,
                self.metrics.clone(),
                Arc::new(lease::Share::default()),
                None,
            ));
        }
        if let store::DbUrl::Postgres(url) = &self.db {
            // Replicas: the one working is woken by events the others store.
            let (alive, wake) = (self.stopping.clone(), stored.clone());
            pg::listen::spawn(
                url,
                move || !alive.load(std::sync::atomic::Ordering::SeqCst),
                // Its rows are the deployment's own (account `""`).
                move |account| {
                    if account.is_empty() || account == pg::listen::EVERYONE {
                        wake.notify_one();
                    }
                },
            );
        }
        let pruner = tokio::spawn(retention::run(
            self.db,
            self.retention,
            Clock::System,
            self.metrics,
            stop_rx.clone(),
        ));
        let mut server = tokio::spawn(listen::serve(
            self.listener,
            self.router,
            self.limits,
            stop_rx,
        ));
        tokio::select! {
            _ = shutdown => {}
            r = &mut server => {
                self.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
                let _ = stop_tx.send(true);
                return r.map_err(|e| ServeError::Stopped(format!("the receiver failed: {e}")));
            }
        }
        self.stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = stop_tx.send(true);
        let finished = tokio::time::timeout(self.grace, async {
            let _ = (&mut server).await;
            let _ = (&mut worker).await;
        })
        .await;
        if finished.is_err() {
            tracing::warn!(
                grace_s = self.grace.as_secs(),
                "shutdown grace passed: exiting with work in hand; it continues after the next start"
            );
            server.abort();
            worker.abort();
        }
        pruner.abort();
        Ok(())
    }
}

/// The receiver of a one-account service: the one secret path leads to its inbox.
fn one_account_router(
    cfg: &ServeConfig,
    secret: &crate::secret::Secret,
    inbox: inbox::Inbox,
    metrics: &metrics::Metrics,
    health: &Arc<health::Health>,
) -> axum::Router {
    let route = receiver::Route {
        inbox,
        metrics: metrics.clone(),
    };
    let routes = std::collections::HashMap::from([(vault::secret_hash(secret.expose()), route)]);
    receiver::router(receiver::ReceiverState {
        routes: Arc::new(std::sync::RwLock::new(routes)),
        metrics: metrics.clone(),
        clock: Clock::System,
        status: Arc::new(receiver::OneAccount {
            health: health.clone(),
            metrics: metrics.clone(),
        }),
        retention_ms: i64::try_from(cfg.retention.as_millis()).unwrap_or(i64::MAX),
        db: Some(cfg.db.ingest()),
        health_db: Arc::default(),
    })
}

/// Options that contradict each other.
fn check_options(cfg: &ServeConfig) -> Result<(), ServeError> {
    if cfg.retention < cfg.max_call {
        return Err(ServeError::Options(format!(
            "--retention-s ({}) must be at least --max-call-s ({}): a call is kept at least as long as it may last",
            cfg.retention.as_secs(),
            cfg.max_call.as_secs()
        )));
    }
    Ok(())
}

/// With PostgreSQL, this process's replica id claimed (its heartbeat kept) and its work lease;
/// with SQLite (one process), neither.
async fn replica_parts(
    cfg: &ServeConfig,
) -> Result<(Option<lease::Lease>, Option<replica::Beating>), ServeError> {
    match &cfg.db {
        store::DbUrl::Postgres(url) => {
            let beating = claim_replica_id(cfg, url).await?;
            let lease = work_lease(cfg, url, &cfg.amocrm).await?;
            Ok((Some(lease), Some(beating)))
        }
        store::DbUrl::Sqlite(_) => Ok((None, None)),
    }
}

/// Claims this process's replica id (refused while a live process holds it) and keeps its
/// heartbeat while the process runs.
pub(crate) async fn claim_replica_id(
    cfg: &ServeConfig,
    url: &pg::PgUrl,
) -> Result<replica::Beating, ServeError> {
    let conn = pg::PgConn::connect(&url.ingest())
        .await
        .map_err(|e| ServeError::Options(e.to_string()))?;
    let claim = replica::claim(conn, &cfg.replica_id, cfg.lease).await?;
    Ok(replica::Beating(tokio::spawn(replica::heartbeat(claim))))
}

/// With PostgreSQL, the work lease of this replica for the amoCRM account `amocrm` (one lease
/// per account); the margin under which writes stop is the amoCRM timeout and 1 s more.
async fn work_lease(
    cfg: &ServeConfig,
    url: &pg::PgUrl,
    amocrm: &str,
) -> Result<lease::Lease, ServeError> {
    let margin = cfg.amocrm_timeout + Duration::from_secs(1);
    if cfg.lease < margin * 2 {
        return Err(ServeError::Options(format!(
            "--lease-s ({}) must be at least twice --amocrm-timeout-s + 1 s ({} s): a write must be answered or given up well within the lease",
            cfg.lease.as_secs(),
            (margin * 2).as_secs()
        )));
    }
    let conn = pg::PgConn::connect(&url.ingest())
        .await
        .map_err(|e| ServeError::Database {
            db: format!("{url:?}"),
            source: store::StoreError {
                doing: "connecting for the work lease",
                message: e.to_string(),
            },
        })?;
    Ok(lease::Lease {
        conn: Arc::new(conn),
        state: lease::LeaseState::new(
            &format!("amocrm:{amocrm}"),
            &cfg.replica_id,
            cfg.lease,
            margin,
        ),
        changed: Arc::new(Notify::new()),
    })
}

/// The amoCRM client of account `amocrm`, counting its answers and retries in `metrics`,
/// keeping its exchanges with `recorder`, and fenced by `lease`.
fn amocrm_config(
    cfg: &ServeConfig,
    amocrm: &str,
    token: crate::secret::Secret,
    refresh: Option<crate::amocrm::client::Refresh>,
    metrics: &metrics::Metrics,
    recorder: Arc<exchanges::Recorder>,
    lease: Option<Arc<lease::LeaseState>>,
) -> ClientConfig {
    let m = metrics.clone();
    let r = metrics.clone();
    let hooks = Hooks {
        on_answer: Some(Arc::new(move |status: Option<u16>| {
            let status = status.map_or_else(|| "none".to_string(), |s| s.to_string());
            m.amocrm
                .get_or_create(&metrics::StatusLabel { status })
                .inc();
        })),
        on_retry: Some(Arc::new(move || {
            r.retries.inc();
        })),
        on_exchange: Some(Arc::new(move |x| {
            let recorder = recorder.clone();
            Box::pin(async move { recorder.keep(&x).await })
        })),
        may_send: lease.map(|l| Arc::new(move || l.holds()) as Arc<dyn Fn() -> bool + Send + Sync>),
        lost_answer: None,
    };
    let mut client_cfg = ClientConfig::new(amocrm.to_string(), token, Clock::System);
    client_cfg.refresh = refresh;
    client_cfg.rate_per_second = cfg.rate_per_second.max(1);
    client_cfg.retry = cfg.retry;
    client_cfg.hooks = hooks;
    client_cfg.timeout = cfg.amocrm_timeout;
    client_cfg
}

fn amocrm_client(client_cfg: ClientConfig) -> Result<AmoClient, ServeError> {
    AmoClient::new(client_cfg).map_err(|e| ServeError::Client(e.to_string()))
}

/// Resolves on SIGTERM or Ctrl-C.
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutting down");
}
