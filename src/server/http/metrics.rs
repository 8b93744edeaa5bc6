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
    /// Which events `taken` has counted, across the worker's restarts.
    taken_mark: std::sync::Arc<TakenMark>,
    /// Calls that needed no amoCRM action, by reason (`internal`, `hidden_number`).
    pub(crate) skipped: Family<ReasonLabel, Counter>,
    /// Requests on the secret path kept aside as no usable event, by reason (R-WIRE).
    pub(crate) kept: Family<ReasonLabel, Counter>,
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

/// The newest event id counted as taken, and when this process began storing events (clock
/// ms): a worker that restores what is unfinished (at its start, after a restart) counts the
/// events this process stored and no worker took yet — once each.
#[derive(Debug, Default)]
struct TakenMark {
    through_id: std::sync::atomic::AtomicI64,
    since_ms: std::sync::atomic::AtomicI64,
}

impl Metrics {
    /// The counters of a process that begins storing events at `now_ms`.
    pub(crate) fn starting_at(now_ms: i64) -> Self {
        let m = Metrics::default();
        m.taken_mark
            .since_ms
            .store(now_ms, std::sync::atomic::Ordering::SeqCst);
        m
    }

    /// Event `id` was taken from the inbox as it arrived.
    pub(crate) fn taken(&self, id: i64) {
        self.restored(id, i64::MAX);
    }

    /// Event `id`, received at `received_ms`, was restored by a worker starting: it counts as
    /// taken unless it was counted before or arrived before this process.
    pub(crate) fn restored(&self, id: i64, received_ms: i64) {
        use std::sync::atomic::Ordering::SeqCst;
        let before = self.taken_mark.through_id.fetch_max(id, SeqCst);
        if id > before && received_ms >= self.taken_mark.since_ms.load(SeqCst) {
            self.taken.inc();
        }
    }

    pub(crate) fn event(&self, result: &'static str) {
        self.events.get_or_create(&ResultLabel { result }).inc();
    }

    /// A request kept aside (R-WIRE), by its reason.
    pub(crate) fn kept(&self, reason: &'static str) {
        self.kept.get_or_create(&ReasonLabel { reason }).inc();
    }

    /// Registers every metric in `r`.
    fn register(&self, r: &mut Registry) {
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
            "sipamo_requests_kept",
            "Requests on the secret path acknowledged but kept aside as no usable event, by reason (sipamo calls kept)",
            self.kept.clone(),
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
    }

    /// The text exposition of every metric.
    pub(crate) fn render(&self) -> String {
        render(vec![(None, self.clone())])
    }
}

/// The text exposition of the metrics of `accounts` (and those of no account, `None`): each
/// account's metrics carry an `account` label, and each family is written once (the text
/// encoder writes one account at a time, so their samples are gathered under one header).
pub(crate) fn render(accounts: Vec<(Option<String>, Metrics)>) -> String {
    let registries = accounts.iter().map(|(account, m)| {
        let mut r = match account {
            Some(a) => labelled(a),
            None => Registry::default(),
        };
        m.register(&mut r);
        r
    });
    encode_all(registries)
}

/// A many-account service's metrics: every series labelled by its account; requests that reach
/// no account (an unknown secret) are `account="-"`, the only family they have.
pub(crate) fn render_fleet(
    unrouted: &Metrics,
    db_connections: u32,
    accounts: Vec<(String, Metrics)>,
) -> String {
    let mut none = labelled("-");
    none.register(
        "sipamo_events_received",
        "Sipuni events received, by result",
        unrouted.events.clone(),
    );
    let connections = prometheus_client::metrics::gauge::Gauge::<i64>::default();
    connections.set(i64::from(db_connections));
    none.register(
        "sipamo_db_connections",
        "PostgreSQL connections this process holds now (at most --db-pool, whatever the accounts)",
        connections,
    );
    let each = accounts.into_iter().map(|(a, m)| {
        let mut r = labelled(&a);
        m.register(&mut r);
        r
    });
    encode_all(std::iter::once(none).chain(each))
}

fn labelled(account: &str) -> Registry {
    Registry::with_labels(
        [(
            std::borrow::Cow::Borrowed("account"),
            std::borrow::Cow::Owned(account.to_string()),
        )]
        .into_iter(),
    )
}

fn encode_all(registries: impl Iterator<Item = Registry>) -> String {
    let mut families: Vec<(String, String, String)> = Vec::new();
    for r in registries {
        let mut text = String::new();
        if encode(&mut text, &r).is_err() {
            continue;
        }
        gather(&mut families, &text);
    }
    let mut out = String::new();
    for (_, header, samples) in families {
        out.push_str(&header);
        out.push_str(&samples);
    }
    out.push_str("# EOF\n");
    out
}

/// Adds the families of one encoded registry to `families` (name, header, samples).
fn gather(families: &mut Vec<(String, String, String)>, text: &str) {
    let mut current: Option<usize> = None;
    for line in text.lines() {
        if line == "# EOF" {
            break;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or("").to_string();
            current = Some(match families.iter().position(|f| f.0 == name) {
                Some(k) => k,
                None => {
                    families.push((name, String::new(), String::new()));
                    families.len() - 1
                }
            });
        }
        let Some(k) = current else { continue };
        let f = &mut families[k];
        let part = if line.starts_with("# ") {
            &mut f.1
        } else {
            &mut f.2
        };
        if line.starts_with("# ") && part.contains(line) {
            continue;
        }
        part.push_str(line);
        part.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worker restores what is unfinished when it starts, which may be after this process
    /// stored events (the listener is up before the worker's first read; a worker restarted
    /// after a failure): those count as taken once, events of an earlier process never.
    #[test]
    fn taken_counts_each_event_of_this_process_once_whichever_way_it_was_taken() {
        let m = Metrics::starting_at(1_000);
        m.restored(1, 500); // stored by the process before: not counted
        m.restored(2, 1_200); // stored before the first worker read
        m.taken(3); // taken live
        m.restored(2, 1_200); // restored again by a restarted worker
        m.restored(3, 1_300);
        m.restored(4, 1_400); // stored before a restart, never taken
        m.taken(5);
        assert_eq!(m.taken.get(), 4);
    }

    #[test]
    fn each_family_is_written_once_with_every_account_labelled() {
        let (none, a, b) = (Metrics::default(), Metrics::default(), Metrics::default());
        none.event("unauthorized");
        a.event("stored");
        b.event("stored");
        b.calls.inc();
        let text = render_fleet(&none, 3, vec![("acme".into(), a), ("beta".into(), b)]);
        for sample in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(
                sample.contains("account=\""),
                "every series has its account: {sample}"
            );
        }
        assert_eq!(
            text.matches("# HELP sipamo_events_received ").count(),
            1,
            "{text}"
        );
        for line in [
            "sipamo_events_received_total{account=\"-\",result=\"unauthorized\"} 1",
            "sipamo_events_received_total{account=\"acme\",result=\"stored\"} 1",
            "sipamo_events_received_total{account=\"beta\",result=\"stored\"} 1",
            "sipamo_calls_handled_total{account=\"beta\"} 1",
            "sipamo_calls_handled_total{account=\"acme\"} 0",
            "sipamo_db_connections{account=\"-\"} 3",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in {text}");
        }
        assert!(text.ends_with("# EOF\n"));
        let help = text.find("# HELP sipamo_calls_handled").unwrap();
        let sample = text
            .find("sipamo_calls_handled_total{account=\"beta\"}")
            .unwrap();
        assert!(help < sample, "samples follow their family's header");
    }
}
