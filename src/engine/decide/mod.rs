//! The rules of `spec/behaviour.md` as a pure function: (settings, call, what amoCRM and the
//! engine's memory say, now) → [`Plan`]. No I/O here; every rule is unit-tested below.

mod known;
mod outgoing;
mod unknown;

use super::call::{Call, Direction};
use super::items::next_source_uid;
use super::plan::*;
use super::rule::Rule;
use super::settings::{Settings, UnknownMode};
use crate::sipuni::event::ShortNumber;

/// The visible contact of the client's phone (lowest id when several share it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ContactFacts {
    pub(crate) id: u64,
    pub(crate) responsible: Option<u64>,
    /// Ids of its active leads (status not 142/143).
    pub(crate) active_leads: Vec<u64>,
}

/// What amoCRM and the engine's memory say about the client's phone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Facts {
    pub(crate) contact: Option<ContactFacts>,
    /// A pending Unsorted item of this phone (verified in amoCRM).
    pub(crate) pending_unsorted: Option<String>,
    /// Deadline of an open engine-made callback task for this phone (verified not completed).
    pub(crate) open_task_deadline: Option<i64>,
    /// This call already created an Unsorted item at its first ring (R-IN-U3), still pending.
    pub(crate) unsorted_of_call: Option<String>,
    /// `source_uid` of the last item this call created, whatever became of it: a call whose
    /// item is gone without its contact becoming visible had it declined.
    pub(crate) call_item: Option<String>,
    /// The item this call accepted when it was answered (R-IN-U3).
    pub(crate) accepted_at_answer: Option<AcceptedItem>,
}

/// An Unsorted item accepted at the answer of the call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AcceptedItem {
    pub(crate) uid: String,
}

fn user(s: &Settings, short: Option<&str>) -> Option<u64> {
    short
        .and_then(ShortNumber::parse)
        .and_then(|n| s.user_of(&n))
}

/// «Менеджер по умолчанию»: the scheme's missed-call responsible, else the global one.
fn default_manager(s: &Settings, call: &Call) -> u64 {
    s.scheme(call.scheme.as_deref())
        .and_then(|sc| sc.missed_responsible)
        .unwrap_or(s.default_responsible)
}

/// «Первый пользователь на линии»: the scheme's first employee, else the first leg rung.
fn first_user(s: &Settings, call: &Call) -> Option<u64> {
    let configured = s
        .scheme(call.scheme.as_deref())
        .and_then(|sc| sc.first_user.as_ref())
        .and_then(|n| s.user_of(n));
    configured.or_else(|| user(s, call.legs.first().map(|l| &**l)))
}

/// R-MISS-RESP: responsible for a missed call from a new client.
fn missed_responsible(s: &Settings, call: &Call) -> u64 {
    if s.incoming.missed.first_user_responsible {
        first_user(s, call).unwrap_or_else(|| default_manager(s, call))
    } else {
        default_manager(s, call)
    }
}

fn lead_pipeline(s: &Settings, call: &Call) -> Option<super::settings::PipelineRef> {
    s.scheme(call.scheme.as_deref())
        .and_then(|sc| sc.pipeline)
        .or(s.pipeline)
}

fn unsorted_pipeline(s: &Settings, call: &Call, main: u64) -> u64 {
    lead_pipeline(s, call).map_or(main, |p| p.id)
}

/// R-NOTE-CALL target: the lead made for this call; else the single active lead; else the contact.
fn note_target(lead_created: bool, contact: &ContactFacts) -> Target {
    if lead_created {
        Target::NewLead
    } else if let [one] = contact.active_leads.as_slice() {
        Target::Lead(*one)
    } else {
        Target::Contact(contact.id)
    }
}

/// R-MISS-TASK with R-MISS-DEDUP: the callback task's deadline, or why there is none.
fn callback_deadline(
    s: &Settings,
    call: &Call,
    facts: &Facts,
    because: &mut Vec<String>,
) -> Option<i64> {
    if !s.incoming.missed.create_task {
        because.push(Rule::MissTask.because("create_task is off"));
        return None;
    }
    if let Some(deadline) = facts.open_task_deadline
        && deadline > call.ended_at
    {
        because.push(Rule::MissDedup.because(format!(
            "an open callback task is due at {deadline}, after this call"
        )));
        return None;
    }
    let deadline = i64::try_from(s.incoming.missed.task_deadline.0)
        .ok()
        .and_then(|d| call.ended_at.checked_add(d));
    if deadline.is_none() {
        because.push(Rule::MissTask.because("the deadline is past the range of Unix time"));
    }
    deadline
}

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

/// R-IN-U3: the item was accepted when the call was answered; the call adds only its note,
/// on the accepted lead (even when a manager moved or closed it during the talk).
fn accepted_at_answer(s: &Settings, call: &Call, item: &AcceptedItem) -> Plan {
    let answerer = user(s, call.answerer.as_deref()).unwrap_or_else(|| default_manager(s, call));
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
fn new_item(
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
    let answerer = user(s, call.answerer.as_deref()).unwrap_or_else(|| default_manager(s, call));
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

#[cfg(test)]
mod tests;
