//! R-IN-U3, mode `unsorted_accept_on_answer`: the Unsorted item created at the first ring,
//! accepted for the answerer at the answer, and the note of a call whose item was accepted.

use super::super::call::{Call, Direction};
use super::super::plan::*;
use super::super::rule::Rule;
use super::super::settings::{Settings, UnknownMode};
use super::facts::{AcceptedItem, Facts};
use super::people::{default_manager, missed_responsible, user};
use super::pipelines::unsorted_pipeline;

/// R-IN-U3: the item was accepted when the call was answered; the call adds only its note,
/// on the accepted lead (even when a manager moved or closed it during the talk).
pub(super) fn accepted_at_answer(s: &Settings, call: &Call, item: &AcceptedItem) -> Plan {
    let answerer = user(s, call.answerer.as_ref()).unwrap_or_else(|| default_manager(s, call));
    Plan {
        contact: ContactPlan::None,
        lead: None,
        unsorted: UnsortedPlan::Accept {
            uid: item.uid.clone(),
            user: answerer,
        },
        task: None,
        note: Some(NotePlan::call(
            Target::UnsortedLead,
            NoteKind::CallIn,
            true,
            answerer,
        )),
        because: vec![Rule::InAcceptOnAnswer.because(format!(
            "item {} was accepted at the answer; the note goes on its lead",
            item.uid
        ))],
    }
}

/// R-IN-U3 applies before the hangup: an incoming call from a number with no visible contact,
/// in mode `unsorted_accept_on_answer`.
fn accept_on_answer_unknown(s: &Settings, call: &Call, facts: &Facts) -> bool {
    call.direction == Direction::Incoming
        && s.incoming.unknown.mode == UnknownMode::UnsortedAcceptOnAnswer
        && facts.contact.is_none()
}

/// R-IN-U3 at the first ring: the Unsorted item to create now, if any.
pub(crate) fn decide_ring(
    s: &Settings,
    main_pipeline: u64,
    call: &Call,
    facts: &Facts,
) -> Option<UnsortedPlan> {
    let opts = &s.incoming.unknown;
    if !accept_on_answer_unknown(s, call, facts)
        || !(opts.create_contact || opts.create_lead)
        || facts.pending_unsorted.is_some()
        || facts.unsorted_of_call.is_some()
    {
        return None;
    }
    Some(new_item(
        s,
        main_pipeline,
        call,
        facts,
        missed_responsible(s, call),
        None,
    ))
}

/// A new Unsorted item for the call (R-IN-U2, R-IN-U3), with its own `source_uid`.
pub(super) fn new_item(
    s: &Settings,
    main_pipeline: u64,
    call: &Call,
    facts: &Facts,
    responsible: u64,
    accept: Option<u64>,
) -> UnsortedPlan {
    UnsortedPlan::Create {
        source_uid: next_source_uid(&call.id, facts.call_item.as_deref()),
        pipeline_id: unsorted_pipeline(s, call, main_pipeline),
        responsible,
        with_contact: s.incoming.unknown.create_contact,
        accept,
    }
}

/// R-IN-U3 at the answer event, during the call: the pending item to accept for the answerer,
/// or, when the call's item was declined (or never made), a new item accepted at once. `None`
/// when the number is known (a manager accepted the item) or the mode is another.
pub(crate) fn decide_answer(
    s: &Settings,
    main_pipeline: u64,
    call: &Call,
    facts: &Facts,
) -> Option<UnsortedPlan> {
    let opts = &s.incoming.unknown;
    if !accept_on_answer_unknown(s, call, facts) {
        return None;
    }
    let answerer = user(s, call.answerer.as_ref()).unwrap_or_else(|| default_manager(s, call));
    if let Some(uid) = facts
        .unsorted_of_call
        .as_ref()
        .or(facts.pending_unsorted.as_ref())
    {
        return Some(UnsortedPlan::Accept {
            uid: uid.clone(),
            user: answerer,
        });
    }
    (opts.create_contact || opts.create_lead)
        .then(|| new_item(s, main_pipeline, call, facts, answerer, Some(answerer)))
}
