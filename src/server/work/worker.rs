//! The worker: takes stored events in arrival order into the engine and handles calls once
//! their hangup has settled. After a (re)start it first rebuilds the calls still open; calls an
//! operator put back (`sipamo calls retry`) are taken in while it runs.

use crate::server::store::Backend;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tracing::Instrument;

use super::lease::LeaseState;
use crate::engine::{Engine, EngineError, Handled, Memory};
use crate::server::http::health::Health;
use crate::server::http::metrics::{Metrics, ReasonLabel};
use crate::server::store::StoreMemory;
use crate::server::store::StoredEvent;
use crate::server::store::{Db, StoreError};

/// Why the worker stopped working: the supervisor restarts it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WorkerError {
    #[error("the database failed: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engine(Box<EngineError>),
    #[error("the work lease moved to another replica; this one waits to take it again")]
    LeaseLost,
}

impl From<EngineError> for WorkerError {
    fn from(e: EngineError) -> Self {
        WorkerError::Engine(Box::new(e))
    }
}

impl From<crate::engine::memory::MemoryError> for WorkerError {
    fn from(e: crate::engine::memory::MemoryError) -> Self {
        EngineError::from(e).into()
    }
}

pub(crate) struct Worker {
    pub(crate) engine: Engine<StoreMemory>,
    /// The inbox and the operator's put-backs, on a connection of the worker's own.
    pub(crate) db: Db,
    /// With several replicas: the work is done only while this lease is held.
    pub(crate) lease: Option<Arc<LeaseState>>,
    pub(crate) stored: Arc<Notify>,
    /// The events the receiver parsed, taken by their stored text.
    pub(crate) parsed: Arc<crate::server::http::parsed::Parsed>,
    pub(crate) metrics: Metrics,
    pub(crate) health: Arc<Health>,
    /// How often ready calls are looked for (doubled after each failure, up to a minute).
    pub(crate) tick: Duration,
    /// How often an idle account's inbox is looked at anyway (new events, an operator's
    /// put-back with PostgreSQL, wake the worker at once; this is the safety net).
    pub(crate) idle: Duration,
}

/// [`Worker::idle`] of a one-account service.
pub(crate) const IDLE_ONE_ACCOUNT: Duration = Duration::from_secs(2);

/// [`Worker::idle`] of each account of a many-account service: thousands of idle accounts
/// must not poll the database; the replica finds the accounts with work in one statement every
/// second (`Fleet::find_work`) and wakes their workers, so this is only the last safety net.
pub(crate) const IDLE_MANY_ACCOUNTS: Duration = Duration::from_secs(300);

/// The pause between two rounds of work while calls are open and nothing fails.
pub(crate) const TICK: Duration = Duration::from_millis(250);

/// Failed attempts after which a call amoCRM keeps failing (while it answers other requests)
/// is parked: with the pauses of [`retry_pause`], about an hour.
pub(crate) const PARK_AFTER: u32 = 60;

/// Longest pause between two rounds while calls keep failing.
const MAX_PAUSE: Duration = Duration::from_secs(60);

/// The pause between two rounds of work: `tick` while nothing fails, then doubling with each
/// round that failed in a row (`tick` × 2^failures, at most 2^8) up to a minute. The scenario
/// runner retries failing calls on its virtual clock with the same pauses.
pub(crate) fn retry_pause(tick: Duration, failures: u32) -> Duration {
    if failures == 0 {
        return tick;
    }
    (tick * 2u32.saturating_pow(failures.min(8))).min(MAX_PAUSE)
}

impl Worker {
    /// Runs until `shutdown` turns true; the call in hand is finished first.
    pub(crate) async fn run(
        mut self,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), WorkerError> {
        if !self.wait_for_lease(&mut shutdown).await {
            return Ok(());
        }
        let mut cursor = self.restore().await?;
        // The gauges say what is open before /health says the worker is up.
        let pending = self.db.pending_count(cursor).await?;
        self.metrics.queue.set(pending);
        self.metrics.open_calls.set(self.engine.open_calls() as i64);
        self.health.worker_up();
        let mut failures = 0u32;
        loop {
            if *shutdown.borrow() {
                break;
            }
            self.check_lease()?;
            self.take_requeued().await?;
            let batch = self.db.next_batch(cursor, 256).await?;
            let got = batch.len();
            let mut taken = Vec::with_capacity(got);
            for e in batch {
                // Calls whose settle window closed before this event arrived come first, as
                // they did live: the order of work is a function of the inbox alone.
                if !self.settle_before(e.received_ms).await? {
                    failures = failures.saturating_add(1);
                    break;
                }
                self.ingest(&e).await?;
                cursor = e.id;
                taken.push(e.id);
                self.metrics.taken(e.id);
                self.metrics.open_calls.set(self.engine.open_calls() as i64);
            }
            if !taken.is_empty() && !self.db.ack(taken, self.fence()).await? {
                return Err(WorkerError::LeaseLost);
            }
            let pending = self.db.pending_count(cursor).await?;
            self.metrics.queue.set(pending);
            failures = self.round(failures).await?;
            self.metrics.open_calls.set(self.engine.open_calls() as i64);
            if got == 256 {
                continue;
            }
            let pause = if failures == 0 && got == 0 && self.engine.open_calls() == 0 {
                self.idle
            } else {
                retry_pause(self.tick, failures)
            };
            tokio::select! {
                _ = self.stored.notified() => {}
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!(
            open_calls = self.engine.open_calls(),
            "worker stopped; open calls continue after the next start"
        );
        Ok(())
    }

    /// With several replicas, waits (healthy, acknowledging events) until this replica holds
    /// the work lease; false when the service stops first.
    async fn wait_for_lease(&mut self, shutdown: &mut watch::Receiver<bool>) -> bool {
        let Some(lease) = self.lease.clone() else {
            return true;
        };
        if !lease.holds() {
            tracing::info!(replica = %lease.holder, "standing by: another replica holds the work lease");
            self.health.worker_up();
        }
        tokio::select! {
            () = lease.held() => true,
            _ = shutdown.wait_for(|s| *s) => false,
        }
    }

    /// Stops the work when the lease is no longer held.
    fn check_lease(&self) -> Result<(), WorkerError> {
        match &self.lease {
            Some(l) if !l.holds() => Err(WorkerError::LeaseLost),
            _ => Ok(()),
        }
    }

    /// The lease's name, holder and token, for the marks that must hold under it.
    fn fence(&self) -> Option<crate::server::store::postgres::Fence> {
        self.lease
            .as_deref()
            .map(crate::server::store::postgres::Fence::of)
    }

    /// Rebuilds the calls still open from the stored events; answers the last event id.
    async fn restore(&mut self) -> Result<i64, WorkerError> {
        // What an earlier worker left offered is read from the inbox again, parsed.
        self.parsed.clear();
        let (max, unfinished) = self.db.unfinished_events().await?;
        let restored = unfinished.len();
        let ids: Vec<i64> = unfinished.iter().map(|e| e.id).collect();
        let mut settling = true;
        for e in unfinished {
            // Replayed as it happened: calls due before each event's arrival first. If amoCRM
            // cannot be reached now, the rest is restored and settled by the main loop.
            if settling && !self.settle_before(e.received_ms).await? {
                settling = false;
            }
            self.restore_one(&e).await?;
            // Stored before this worker began (before a restart, or before the first worker
            // was up): taken now, unless an earlier worker of this process took it.
            self.metrics.restored(e.id, e.received_ms);
        }
        // Restored events are taken (PostgreSQL): the main loop does not feed them again.
        if !ids.is_empty() && !self.db.ack(ids, self.fence()).await? {
            return Err(WorkerError::LeaseLost);
        }
        if restored > 0 {
            tracing::info!(
                events = restored,
                calls = self.engine.open_calls(),
                "calls in progress restored"
            );
        }
        self.update_parked().await?;
        Ok(max)
    }

    async fn restore_one(&mut self, e: &StoredEvent) -> Result<(), WorkerError> {
        self.feed(e, true).await
    }

    /// Parked calls an operator put back: their events go into the engine again.
    async fn take_requeued(&mut self) -> Result<(), WorkerError> {
        let ids = self.db.take_requeued().await?;
        if ids.is_empty() {
            return Ok(());
        }
        for id in ids {
            let events = self.db.events_of(&id).await?;
            tracing::info!(call_id = %id, events = events.len(), "parked call put back by an operator");
            for e in &events {
                self.restore_one(e).await?;
            }
        }
        self.update_parked().await
    }

    async fn ingest(&mut self, e: &StoredEvent) -> Result<(), WorkerError> {
        self.feed(e, false).await
    }

    /// Gives the engine a stored event: a new one, or one put back after a restart (`again`).
    /// Only a storage error stops the worker; an early action that fails is done at hangup.
    async fn feed(&mut self, e: &StoredEvent, again: bool) -> Result<(), WorkerError> {
        let ev = match self.parsed.take_or_parse(&e.raw) {
            Ok(ev) => ev,
            Err(err) => {
                tracing::error!(call_id = %e.call_id, error = %err, "a stored event no longer parses; skipped");
                return Ok(());
            }
        };
        let span = tracing::info_span!("event", call_id = %e.call_id);
        if !again {
            return Ok(self
                .engine
                .take_event(ev, e.received_ms)
                .instrument(span)
                .await?);
        }
        let result = self
            .engine
            .restore(ev, e.received_ms)
            .instrument(span)
            .await;
        match result {
            Ok(()) => Ok(()),
            Err(err @ EngineError::Memory(_)) => Err(err.into()),
            Err(err) => {
                tracing::warn!(call_id = %e.call_id, error = %err, "early action failed; the call is handled at its hangup");
                Ok(())
            }
        }
    }

    /// Handles the calls whose settle window closed before `arrived_ms`; false when one failed
    /// and waits (amoCRM is down): later events then wait too, to keep the order.
    async fn settle_before(&mut self, arrived_ms: i64) -> Result<bool, WorkerError> {
        let result = self.engine.settle_due(arrived_ms.saturating_sub(1)).await;
        self.settled(result, false).await
    }

    /// Handles the ready calls; answers the failures in a row so far.
    async fn round(&mut self, failures: u32) -> Result<u32, WorkerError> {
        let result = self.engine.settle(false).await;
        Ok(if self.settled(result, true).await? {
            0
        } else {
            failures.saturating_add(1)
        })
    }

    /// Counts what a settle handled; false when a call failed and waits. A storage error stops
    /// the worker. A whole round (`round`) without a failure clears /health's waiting state.
    async fn settled(
        &mut self,
        result: Result<Vec<Handled>, EngineError>,
        round: bool,
    ) -> Result<bool, WorkerError> {
        let now = crate::clock::Clock::System.now_ms();
        match result {
            Ok(handled) => {
                for h in &handled {
                    self.count(h);
                }
                if handled.iter().any(|h| matches!(h, Handled::Parked { .. })) {
                    self.update_parked().await?;
                }
                if round {
                    self.health.round(now, None);
                }
                Ok(true)
            }
            Err(e @ EngineError::Memory(_)) => Err(e.into()),
            Err(e) => {
                tracing::error!(error = %e, "amoCRM work failed; it stays queued and is retried");
                self.health.round(now, Some(e.to_string()));
                Ok(false)
            }
        }
    }

    fn count(&self, h: &Handled) {
        let skipped = match h {
            Handled::Done { call_id, .. } => {
                tracing::info!(%call_id, "call handled");
                None
            }
            Handled::Internal { .. } => Some("internal"),
            Handled::Hidden { call_id, .. } => {
                tracing::info!(%call_id, "call skipped: the client's number is hidden (R-HIDDEN)");
                Some("hidden_number")
            }
            Handled::Parked { .. } => return,
        };
        if let Some(reason) = skipped {
            self.metrics
                .skipped
                .get_or_create(&ReasonLabel { reason })
                .inc();
        }
        self.metrics.calls.inc();
    }

    async fn update_parked(&self) -> Result<(), WorkerError> {
        let n = self
            .engine
            .memory()
            .parked()
            .await
            .map_err(EngineError::from)?
            .len();
        self.metrics.parked.set(n as i64);
        Ok(())
    }
}
