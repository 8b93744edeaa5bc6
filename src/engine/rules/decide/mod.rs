//! The rules of `docs/spec/behaviour.md` as a pure function: (settings, call, what amoCRM and the
//! engine's memory say, now) → [`Plan`]. No I/O here; every rule is unit-tested below.

mod accept_on_answer;
mod facts;
mod known;
mod notes;
mod outgoing;
mod people;
mod pipelines;
mod tasks;
mod unknown;

pub(crate) use accept_on_answer::{decide_answer, decide_ring};

pub(crate) use facts::{AcceptedItem, ContactFacts, Facts};

use super::call::{Call, Direction};
use super::plan::Plan;
use super::settings::Settings;
use accept_on_answer::accepted_at_answer;

/// Decides what a finished call does in amoCRM.
pub(crate) fn decide(s: &Settings, main_pipeline: u64, call: &Call, facts: &Facts) -> Plan {
    match call.direction {
        Direction::Incoming => match (&facts.accepted_at_answer, &facts.contact) {
            (Some(item), _) if call.answered => accepted_at_answer(s, call, item),
            (_, Some(c)) => known::incoming(s, call, c, facts),
            (_, None) => unknown::incoming(s, main_pipeline, call, facts),
        },
        Direction::Outgoing => outgoing::decide(s, call, facts),
    }
}

#[cfg(test)]
mod tests;
