//! The worker: takes stored events in arrival order into the engine and handles calls once
//! their hangup has settled. After a restart it first rebuilds the calls still open.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tracing::Instrument;

use super::metrics::{Metrics, ReasonLabel};
use super::store::{self, SqliteMemory};
use crate::engine::{Engine, Handled};
use crate::sipuni::event::CallEvent;

pub struct Worker {
    pub engine: Engine<SqliteMemory>,
    pub stored: Arc<Notify>,
    pub metrics: Metrics,
    /// How often ready calls are looked for.
    pub tick: Duration,
}

impl Worker {
    /// Runs until `shutdown` turns true; the call in hand is finished first.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> Result<(), String> {
        let (max, unfinished) = {
            let conn = self.engine.memory().connection();
            let max = store::max_event_id(&conn).map_err(|e| e.to_string())?;
            (
                max,
                store::unfinished_events(&conn, max).map_err(|e| e.to_string())?,
            )
        };
        let restored = unfinished.len();
        for e in unfinished {
            match CallEvent::parse(&e.raw) {
                Ok(ev) => self.engine.restore(ev),
                Err(err) => {
                    tracing::error!(call_id = %e.call_id, error = %err, "a stored event no longer parses; skipped")
                }
            }
        }
        if restored > 0 {
            tracing::info!(
                events = restored,
                calls = self.engine.open_calls(),
                "calls in progress restored"
            );
        }
        let mut cursor = max;
        let mut failures = 0u32;
        loop {
            if *shutdown.borrow() {
                break;
            }
            // New events, in arrival order.
            let batch = store::events_after(&self.engine.memory().connection(), cursor, 256)
                .map_err(|e| e.to_string())?;
            let got = batch.len();
            for e in batch {
                match CallEvent::parse(&e.raw) {
                    Ok(ev) => {
                        let span = tracing::info_span!("event", call_id = %e.call_id);
                        if let Err(err) = self.engine.ingest(ev).instrument(span).await {
                            tracing::warn!(call_id = %e.call_id, error = %err, "early action failed; the call is handled at its hangup");
                        }
                    }
                    Err(err) => {
                        tracing::error!(call_id = %e.call_id, error = %err, "a stored event no longer parses; skipped")
                    }
                }
                cursor = e.id;
            }
            let pending = store::pending_count(&self.engine.memory().connection(), cursor);
            if let Ok(n) = pending {
                self.metrics.queue.set(n);
            }
            match self.engine.settle(false).await {
                Ok(handled) => {
                    failures = 0;
                    for h in handled {
                        let skipped = match &h {
                            Handled::Done { call_id, .. } => {
                                tracing::info!(%call_id, "call handled");
                                None
                            }
                            Handled::Internal { .. } => Some("internal"),
                            Handled::Hidden { call_id, .. } => {
                                tracing::info!(%call_id, "call skipped: the client's number is hidden (R-HIDDEN)");
                                Some("hidden_number")
                            }
                        };
                        if let Some(reason) = skipped {
                            self.metrics
                                .skipped
                                .get_or_create(&ReasonLabel { reason })
                                .inc();
                        }
                        self.metrics.calls.inc();
                    }
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::error!(error = %e, "amoCRM work failed; it stays queued and is retried");
                }
            }
            self.metrics.open_calls.set(self.engine.open_calls() as i64);
            if got == 256 {
                continue;
            }
            let pause = if failures == 0 {
                self.tick
            } else {
                (self.tick * 2u32.saturating_pow(failures.min(6))).min(Duration::from_secs(60))
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
}
