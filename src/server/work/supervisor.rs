//! Keeps the worker running: a worker that returns an error (its database failed) or panics is
//! rebuilt and started again after a pause, while `/health` says it is down and why. The
//! receiver keeps acknowledging events meanwhile; they wait in the inbox.

use crate::server::error::ServeError;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::lease::LeaseState;
use super::worker::Worker;
use crate::amocrm::client::AmoClient;
use crate::engine::{Engine, Settings};
use crate::server::http::health::Health;
use crate::server::http::metrics::Metrics;
use crate::server::store::{DbUrl, StoreMemory};

/// Everything needed to build a worker again after it died.
#[derive(Clone)]
pub(crate) struct WorkerFactory {
    pub(crate) settings: Settings,
    pub(crate) client: AmoClient,
    pub(crate) db: DbUrl,
    pub(crate) settle_ms: i64,
    pub(crate) park_after: u32,
    pub(crate) max_call_ms: i64,
    pub(crate) stored: Arc<Notify>,
    /// The events the receiver parsed, for the worker (each live event parsed once).
    pub(crate) parsed: Arc<crate::server::http::parsed::Parsed>,
    pub(crate) metrics: Metrics,
    pub(crate) health: Arc<Health>,
    pub(crate) tick: Duration,
    /// The pause while the account has nothing open (new events wake the worker at once).
    pub(crate) idle: Duration,
    /// Set at SIGTERM: the engine starts no further call.
    pub(crate) stopping: Arc<std::sync::atomic::AtomicBool>,
    /// With several replicas: the work lease its memory writes are fenced with.
    pub(crate) lease: Option<Arc<LeaseState>>,
}

impl WorkerFactory {
    /// A factory for the account of `settings` and `client` whose data is in `db`, timed by
    /// `cfg`, with fresh health and wake-up signals, not stopping, without a lease.
    pub(crate) fn from_config(
        cfg: &crate::server::ServeConfig,
        settings: Settings,
        client: AmoClient,
        db: DbUrl,
        metrics: Metrics,
    ) -> Self {
        WorkerFactory {
            settings,
            client,
            db,
            settle_ms: i64::try_from(cfg.settle.as_millis()).unwrap_or(2_000),
            park_after: cfg.park_after,
            max_call_ms: i64::try_from(cfg.max_call.as_millis()).unwrap_or(i64::MAX),
            stored: Arc::new(Notify::new()),
            parsed: Arc::default(),
            metrics,
            health: Arc::new(Health::new(
                i64::try_from(cfg.stuck_after.as_millis()).unwrap_or(i64::MAX),
            )),
            tick: cfg.tick,
            idle: super::worker::IDLE_ONE_ACCOUNT,
            stopping: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            lease: None,
        }
    }

    /// Opens the database and connects the engine (the settings are checked against the
    /// account again).
    pub(crate) async fn build(&self) -> Result<Worker, ServeError> {
        if let Some(l) = &self.lease {
            // Nothing is asked of amoCRM (not even the settings check) before the lease is
            // held: replicas never add up past the rate limit. Standing by is healthy.
            if !l.holds() {
                tracing::info!(replica = %l.holder, "standing by: another replica holds the work lease");
                self.health.worker_up();
            }
            l.held().await;
        }
        let db_error = |source| ServeError::Database {
            db: self.db.to_string(),
            source,
        };
        let mut memory = StoreMemory::open(&self.db, crate::clock::Clock::System)
            .await
            .map_err(|e| {
                db_error(crate::server::store::StoreError {
                    doing: "opening the engine's memory",
                    message: e.to_string(),
                })
            })?;
        if let Some(l) = &self.lease {
            memory = memory.fenced(l.clone());
        }
        let db = crate::server::store::Db::open(&self.db)
            .await
            .map_err(db_error)?;
        let options = crate::engine::EngineOptions {
            settle_ms: self.settle_ms,
            park_after: self.park_after,
            max_call_ms: self.max_call_ms,
            stopping: self.stopping.clone(),
            // The inbox stores each event once (its fingerprint is unique): one de-duplication.
            deduplicated: true,
        };
        let engine =
            Engine::connect(self.settings.clone(), self.client.clone(), memory, options).await?;
        Ok(Worker {
            engine,
            db,
            lease: self.lease.clone(),
            stored: self.stored.clone(),
            parsed: self.parsed.clone(),
            metrics: self.metrics.clone(),
            health: self.health.clone(),
            tick: self.tick,
            idle: self.idle,
        })
    }
}

/// Why a worker ended before `stop`.
#[derive(Debug)]
pub(crate) enum Ended {
    /// It failed (its database, a panic): restarted after a growing pause.
    Failed(String),
    /// Another replica took the work lease: nothing is wrong, and a new worker waits for the
    /// lease at once, so that a takeover stays within the lease however often this happened.
    Yielded,
}

/// Something the supervisor can run until `stop`.
pub(crate) trait Runnable: Send + 'static {
    fn run(self, stop: watch::Receiver<bool>) -> impl Future<Output = Result<(), Ended>> + Send;
}

impl Runnable for Worker {
    async fn run(self, stop: watch::Receiver<bool>) -> Result<(), Ended> {
        match Worker::run(self, stop).await {
            Ok(()) => Ok(()),
            Err(super::worker::WorkerError::LeaseLost) => Err(Ended::Yielded),
            Err(e) => Err(Ended::Failed(e.to_string())),
        }
    }
}

const FIRST_PAUSE: Duration = Duration::from_secs(1);
const LONGEST_PAUSE: Duration = Duration::from_secs(60);

/// Runs `first` (or a worker from `make`) until `stop`; restarts it whenever it fails or
/// panics, with a growing pause, reporting on `health`; a pause ends early when `recovered`
/// says the database answers again (a worker that failed for want of it need not wait out a
/// minute's pause after it is back). With a work `lease` not held at the
/// moment of a failure, the failure is its consequence (a write or request refused for want
/// of the lease, while starting or after a takeover): the replica stands by, healthy, and
/// the worker is rebuilt at once to wait for the lease — an error only when the lease is held.
pub(crate) async fn supervise<W, M, F>(
    first: Option<W>,
    mut make: M,
    health: Arc<Health>,
    lease: Option<Arc<crate::server::work::lease::LeaseState>>,
    recovered: Option<Arc<Notify>>,
    mut stop: watch::Receiver<bool>,
) where
    W: Runnable,
    M: FnMut() -> F,
    F: Future<Output = Result<W, ServeError>>,
{
    let mut next = first;
    let mut pause = FIRST_PAUSE;
    loop {
        let worker = match next.take() {
            Some(w) => Ok(w),
            // Building may wait (for the work lease): a stop ends the wait.
            None => tokio::select! {
                w = make() => w,
                _ = stop.wait_for(|s| *s) => return,
            },
        };
        let failure = match worker {
            Err(e) => format!("cannot start: {e}"),
            Ok(w) => match tokio::spawn(w.run(stop.clone())).await {
                Ok(Ok(())) => return,
                Ok(Err(Ended::Failed(e))) => e,
                Ok(Err(Ended::Yielded)) => {
                    tracing::info!("the work lease moved to another replica; standing by");
                    pause = FIRST_PAUSE;
                    continue;
                }
                Err(join) if join.is_panic() => "panicked".to_string(),
                Err(join) => join.to_string(),
            },
        };
        if *stop.borrow() {
            return;
        }
        if lease.as_ref().is_some_and(|l| !l.holds()) {
            tracing::info!(reason = %failure, "the work lease is not held here; standing by");
            pause = FIRST_PAUSE;
            tokio::select! {
                () = tokio::time::sleep(FIRST_PAUSE) => {}
                _ = stop.changed() => return,
            }
            continue;
        }
        tracing::error!(reason = %failure, retry_in_s = pause.as_secs(), "the worker stopped; restarting it");
        health.worker_down(failure);
        let back = async {
            match &recovered {
                Some(r) => r.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => pause = (pause * 2).min(LONGEST_PAUSE),
            () = back => pause = FIRST_PAUSE,
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// Panics, then fails, then runs until stopped.
    struct Flaky(u32);

    impl Runnable for Flaky {
        async fn run(self, mut stop: watch::Receiver<bool>) -> Result<(), Ended> {
            match self.0 {
                0 => panic!("a bug"),
                1 => Err(Ended::Failed("the database failed".into())),
                _ => {
                    let _ = stop.changed().await;
                    Ok(())
                }
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_worker_that_panics_or_fails_is_restarted_and_health_says_why() {
        let health = Arc::new(Health::new(60_000));
        let (tx, rx) = watch::channel(false);
        let built = Arc::new(AtomicU32::new(0));
        let b = built.clone();
        let h = health.clone();
        let sup = tokio::spawn(supervise(
            None,
            move || {
                let n = b.fetch_add(1, Ordering::SeqCst);
                let h = h.clone();
                async move {
                    if n == 2 {
                        h.worker_up();
                    }
                    Ok(Flaky(n))
                }
            },
            health.clone(),
            None,
            None,
            rx,
        ));
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (code, body) = health.report(0);
        assert_eq!(code, 503, "down after the panic: {body}");
        assert!(body["reason"].as_str().unwrap().contains("panicked"));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(
            health.report(0).1["reason"]
                .as_str()
                .unwrap()
                .contains("database failed")
        );
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(built.load(Ordering::SeqCst), 3, "restarted twice");
        assert_eq!(health.report(0).0, 200, "running again");
        tx.send(true).unwrap();
        sup.await.unwrap();
    }

    /// Fails three times, then runs until stopped.
    struct Refused(u32);

    impl Runnable for Refused {
        async fn run(self, mut stop: watch::Receiver<bool>) -> Result<(), Ended> {
            if self.0 < 3 {
                return Err(Ended::Failed(
                    "GET /api/v4/leads/pipelines: not sent: this replica does not hold the work lease"
                        .into(),
                ));
            }
            let _ = stop.changed().await;
            Ok(())
        }
    }

    /// Failures while the replica does not hold the work lease (a request refused for want of
    /// it, at start or after a takeover) are no trouble: health stays 200 and the worker is
    /// rebuilt after the first pause each time, not a growing one.
    #[tokio::test(start_paused = true)]
    async fn failures_for_want_of_the_lease_leave_the_replica_healthy() {
        let health = Arc::new(Health::new(60_000));
        health.worker_up();
        let (tx, rx) = watch::channel(false);
        let built = Arc::new(AtomicU32::new(0));
        let b = built.clone();
        let lease = crate::server::work::lease::LeaseState::new(
            "amocrm:x",
            "r1",
            Duration::from_secs(4),
            Duration::from_secs(2),
        );
        let sup = tokio::spawn(supervise(
            None,
            move || {
                let n = b.fetch_add(1, Ordering::SeqCst);
                async move { Ok(Refused(n)) }
            },
            health.clone(),
            Some(lease),
            None,
            rx,
        ));
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            assert_eq!(health.report(0).0, 200, "{}", health.report(0).1);
            tokio::time::sleep(Duration::from_millis(600)).await;
        }
        assert_eq!(built.load(Ordering::SeqCst), 4, "rebuilt a second apart");
        tx.send(true).unwrap();
        sup.await.unwrap();
    }

    /// Fails while the database is "down" (the first `down` builds), then runs until stopped.
    struct DbDown(u32, u32);

    impl Runnable for DbDown {
        async fn run(self, mut stop: watch::Receiver<bool>) -> Result<(), Ended> {
            if self.0 < self.1 {
                return Err(Ended::Failed("too many clients already".into()));
            }
            let _ = stop.changed().await;
            Ok(())
        }
    }

    /// A worker failing for want of the database backs off up to a minute; told the database
    /// answers again, it is rebuilt at once rather than after the rest of its pause.
    #[tokio::test(start_paused = true)]
    async fn a_worker_pausing_after_database_failures_restarts_when_the_database_is_back() {
        let (tx, rx) = watch::channel(false);
        let built = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (b, start) = (built.clone(), tokio::time::Instant::now());
        let recovered = Arc::new(Notify::new());
        let sup = tokio::spawn(supervise(
            None,
            move || {
                let mut at = b.lock().unwrap();
                at.push(start.elapsed());
                let n = u32::try_from(at.len()).unwrap();
                async move { Ok(DbDown(n, 7)) }
            },
            Arc::new(Health::new(60_000)),
            None,
            Some(recovered.clone()),
            rx,
        ));
        // Six failures: pauses of 1, 2, 4, 8, 16 s, then one of 32 s begins at 31 s.
        tokio::time::sleep(Duration::from_secs(35)).await;
        assert_eq!(
            built.lock().unwrap().len(),
            6,
            "{:?}",
            built.lock().unwrap()
        );
        recovered.notify_waiters();
        tokio::time::sleep(Duration::from_millis(10)).await;
        let at = built.lock().unwrap().clone();
        assert_eq!(at.len(), 7, "rebuilt when the database came back: {at:?}");
        assert!(at[6] < Duration::from_secs(36), "{at:?}");
        tx.send(true).unwrap();
        sup.await.unwrap();
    }

    /// Yields the lease five times, then runs until stopped.
    struct Yielder(u32);

    impl Runnable for Yielder {
        async fn run(self, mut stop: watch::Receiver<bool>) -> Result<(), Ended> {
            if self.0 < 5 {
                return Err(Ended::Yielded);
            }
            let _ = stop.changed().await;
            Ok(())
        }
    }

    /// A worker that lost the lease is rebuilt at once however often it happened: the pause
    /// that follows failures would delay a takeover past the lease.
    #[tokio::test(start_paused = true)]
    async fn a_worker_that_yielded_the_lease_is_rebuilt_without_a_pause() {
        let health = Arc::new(Health::new(60_000));
        let (tx, rx) = watch::channel(false);
        let built = Arc::new(AtomicU32::new(0));
        let b = built.clone();
        let sup = tokio::spawn(supervise(
            None,
            move || {
                let n = b.fetch_add(1, Ordering::SeqCst);
                async move { Ok(Yielder(n)) }
            },
            health.clone(),
            None,
            None,
            rx,
        ));
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(
            built.load(Ordering::SeqCst),
            6,
            "five yields, no pause between"
        );
        tx.send(true).unwrap();
        sup.await.unwrap();
    }
}
