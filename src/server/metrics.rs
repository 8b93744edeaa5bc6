//! Counters served at `GET /metrics` in the Prometheus text format.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ResultLabel {
    pub(crate) result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReasonLabel {
    pub(crate) reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StatusLabel {
    pub(crate) status: String,
}

/// Every counter the service keeps. Cheap to clone (the metrics are shared).
#[derive(Clone, Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) events: Family<ResultLabel, Counter>,
    pub(crate) calls: Counter,
    /// Events the worker has taken from the inbox since this process started.
    pub(crate) taken: Counter,
    /// Calls that needed no amoCRM action, by reason (`internal`, `hidden_number`).
    pub(crate) skipped: Family<ReasonLabel, Counter>,
    pub(crate) amocrm: Family<StatusLabel, Counter>,
    pub(crate) retries: Counter,
    pub(crate) queue: Gauge,
    /// Calls set aside because amoCRM keeps refusing them (R-ISOLATE).
    pub(crate) parked: Gauge,
    pub(crate) open_calls: Gauge,
    /// Rows removed by retention, by table (`events`, `calls`, `memory`, `deliveries`).
    pub(crate) pruned: Family<WhatLabel, Counter>,
    /// Retention passes that failed (the database could not be written).
    pub(crate) prune_failures: Counter,
    /// With several replicas: 1 while this replica holds the work lease.
    pub(crate) lease_held: Gauge,
    /// Takeovers: times this replica gained the lease.
    pub(crate) lease_gained: Counter,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct WhatLabel {
    pub(crate) what: &'static str,
}

impl Metrics {
    pub(crate) fn event(&self, result: &'static str) {
        self.events.get_or_create(&ResultLabel { result }).inc();
    }

    /// The text exposition of every metric.
    pub(crate) fn render(&self) -> String {
        let mut r = Registry::default();
        r.register(
            "sipamo_events_received",
            "Sipuni events received, by result",
            self.events.clone(),
        );
        r.register(
            "sipamo_events_taken",
            "Events the worker has taken from the inbox (equal to those stored when it is idle)",
            self.taken.clone(),
        );
        r.register(
            "sipamo_calls_handled",
            "Calls whose amoCRM actions are done",
            self.calls.clone(),
        );
        r.register(
            "sipamo_calls_skipped",
            "Calls that needed no amoCRM action, by reason (internal; hidden_number: R-HIDDEN)",
            self.skipped.clone(),
        );
        r.register(
            "sipamo_amocrm_requests",
            "amoCRM requests, by answer status (none: no answer)",
            self.amocrm.clone(),
        );
        r.register(
            "sipamo_amocrm_retries",
            "amoCRM requests retried after a transient failure",
            self.retries.clone(),
        );
        r.register(
            "sipamo_queue_depth",
            "Stored events not yet taken by the engine",
            self.queue.clone(),
        );
        r.register(
            "sipamo_calls_parked",
            "Calls set aside because amoCRM keeps refusing them (sipamo calls list)",
            self.parked.clone(),
        );
        r.register(
            "sipamo_open_calls",
            "Calls with events but not yet handled",
            self.open_calls.clone(),
        );
        r.register(
            "sipamo_pruned_rows",
            "Rows removed after the retention, by what they held",
            self.pruned.clone(),
        );
        r.register(
            "sipamo_prune_failures",
            "Retention passes that failed (see the log)",
            self.prune_failures.clone(),
        );
        r.register(
            "sipamo_lease_held",
            "With PostgreSQL: 1 while this replica holds the work lease (does the amoCRM work)",
            self.lease_held.clone(),
        );
        r.register(
            "sipamo_lease_gained",
            "With PostgreSQL: times this replica took the work lease",
            self.lease_gained.clone(),
        );
        let mut out = String::new();
        if encode(&mut out, &r).is_err() {
            out.clear();
        }
        out
    }
}
