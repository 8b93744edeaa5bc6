//! What happened in a scenario, in virtual-time order, for the HTML report: the Sipuni events
//! delivered, manager actions and faults, the calls settled with their rule trail, failed
//! rounds, and (merged from the journal) every amoCRM request with its answer.

use serde::Serialize;

use crate::sim::mock::journal::JournalEntry;

/// What a moment is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MomentKind {
    /// A Sipuni event the engine received.
    Event,
    /// A raw event kept aside as unusable (R-WIRE).
    Kept,
    /// A manager's action in amoCRM.
    Manager,
    /// A fault armed on the mock.
    Fault,
    /// A call settled: what it did, and the rules and reasons behind it.
    Call,
    /// A round of amoCRM work failed; the call stays queued.
    Failed,
    /// An amoCRM request and its answer.
    Request,
}

/// One moment of the timeline.
#[derive(Clone, Debug, Serialize)]
pub struct Moment {
    /// Virtual time from the scenario's start, ms.
    pub at_ms: i64,
    pub kind: MomentKind,
    /// One line.
    pub title: String,
    /// What unfolds: an event's fields, a request's body, a call's reasons.
    pub detail: Option<String>,
    /// Rule IDs the moment cites (a settled call's).
    pub rules: Vec<String>,
    /// A request's answer.
    pub status: Option<u16>,
}

impl Moment {
    pub(crate) fn new(at_ms: i64, kind: MomentKind, title: impl Into<String>) -> Self {
        Moment {
            at_ms,
            kind,
            title: title.into(),
            detail: None,
            rules: Vec::new(),
            status: None,
        }
    }

    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// A settled call, from its `--explain` text: the rule IDs it cites are picked out.
    pub(crate) fn call(at_ms: i64, explained: &str) -> Self {
        let mut rules: Vec<String> = explained
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .filter(|w| w.starts_with("R-") && w.len() > 2)
            .map(str::to_string)
            .collect();
        rules.dedup();
        let mut lines = explained.lines();
        let title = lines
            .next()
            .unwrap_or_default()
            .trim_end_matches(':')
            .to_string();
        let rest: Vec<&str> = lines.map(str::trim).collect();
        let moment = Moment {
            rules,
            ..Moment::new(at_ms, MomentKind::Call, title)
        };
        if rest.is_empty() {
            moment
        } else {
            moment.with_detail(rest.join("\n"))
        }
    }

    /// A request of the journal.
    pub(crate) fn request(e: &JournalEntry, origin_ms: i64) -> Self {
        let mut m = Moment::new(
            e.at_ms.saturating_sub(origin_ms),
            MomentKind::Request,
            e.request_line(),
        );
        m.status = Some(e.status);
        m.detail = e
            .body()
            .map(|b| serde_json::to_string_pretty(b).unwrap_or_else(|_| b.to_string()));
        m
    }
}

/// The moments and the journal's requests in one list, ordered by time (a request at the same
/// instant as a moment comes after it: the moment caused it). The first `startup` requests are
/// the engine's settings check at start-up, and say so.
pub(crate) fn merged(
    moments: &[Moment],
    journal: &[JournalEntry],
    origin_ms: i64,
    startup: usize,
) -> Vec<Moment> {
    let mut all: Vec<(i64, u8, usize, Moment)> = moments
        .iter()
        .enumerate()
        .map(|(i, m)| (m.at_ms, 0, i, m.clone()))
        .collect();
    all.extend(journal.iter().enumerate().map(|(i, e)| {
        let mut m = Moment::request(e, origin_ms);
        if i < startup {
            m.title
                .push_str("   (start-up: the settings checked against the account)");
        }
        (m.at_ms, 1, i, m)
    }));
    all.sort_by_key(|(at, class, i, _)| (*at, *class, *i));
    all.into_iter().map(|(_, _, _, m)| m).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settled_call_names_its_rules() {
        let m = Moment::call(
            5,
            "call 1.2:\n  because R-IN-U1\n  because R-MISS-RESP: responsible 1001\n  does creates a contact",
        );
        assert_eq!(m.title, "call 1.2");
        assert_eq!(m.rules, ["R-IN-U1", "R-MISS-RESP"]);
        assert_eq!(
            m.detail.as_deref(),
            Some("because R-IN-U1\nbecause R-MISS-RESP: responsible 1001\ndoes creates a contact")
        );
    }
}
