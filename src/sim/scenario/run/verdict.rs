//! What the end of a run says beside the account: calls kept aside, parked or still queued,
//! and the error the scenario expected.

use super::Outcome;
use crate::sim::scenario::model::{Expect, Scenario};

/// One item per line, indented under the failure that lists them.
pub(super) fn indented(items: impl Iterator<Item = String>) -> String {
    items
        .map(|i| format!("    {i}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `expect.kept`: the raw events kept aside (R-WIRE), each matching the text at its place;
/// without the key, a kept event fails the scenario.
pub(super) fn kept_failures(expect: &Expect, kept: &[String]) -> Vec<String> {
    let list = || indented(kept.iter().cloned());
    match &expect.kept {
        Some(want)
            if want.len() == kept.len()
                && want.iter().zip(kept).all(|(w, k)| k.contains(w.as_str())) =>
        {
            Vec::new()
        }
        Some(want) => vec![format!(
            "expect.kept: {want:?}, got {} request(s) kept aside:\n{}",
            kept.len(),
            list()
        )],
        None if kept.is_empty() => Vec::new(),
        None => vec![format!(
            "events kept aside as unusable (list them under `expect: kept:` if meant):\n{}",
            list()
        )],
    }
}

/// Parked calls fail the scenario unless `expect.parked` counts them (R-ISOLATE: a parked
/// call is never dropped silently).
pub(super) fn parked_failures(
    expect: &Expect,
    parked: &[crate::engine::memory::ParkedCall],
) -> Vec<String> {
    let list = || {
        indented(parked.iter().map(|p| {
            format!(
                "{} after {} attempt(s): {}",
                p.call_id, p.attempts, p.reason
            )
        }))
    };
    match expect.parked {
        Some(n) if n == parked.len() => Vec::new(),
        Some(n) => vec![format!(
            "expect.parked: {n} call(s), got {}:\n{}",
            parked.len(),
            list()
        )],
        None if parked.is_empty() => Vec::new(),
        None => vec![format!(
            "calls parked (amoCRM kept refusing them):\n{}",
            list()
        )],
    }
}

/// `expect.error`: the run must have stopped with an error containing the text (and only
/// then).
pub(super) fn check_expected_error(sc: &Scenario, out: &mut Outcome) {
    match (&sc.expect.error, &out.error) {
        (Some(want), Some(got)) if got.contains(want.as_str()) => {}
        (Some(want), Some(got)) => out.failures.insert(
            0,
            format!("expect.error: expected an error containing {want:?}, got: {got}"),
        ),
        (Some(want), None) => out.failures.insert(
            0,
            format!("expect.error: expected an error containing {want:?}, but everything ran"),
        ),
        (None, Some(got)) => out.failures.insert(0, format!("error: {got}")),
        (None, None) => {}
    }
}
