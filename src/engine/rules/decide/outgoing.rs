//! An outgoing call (R-OUT-K1, R-OUT-U1, R-OUT-UNS, R-NOTE-NOTREACHED).

use super::facts::{ContactFacts, Facts};
use super::notes::note_target;
use super::people::user;
use super::pipelines::lead_pipeline;
use crate::engine::rules::call::Call;
use crate::engine::rules::plan::*;
use crate::engine::rules::rule::Rule;
use crate::engine::rules::settings::Settings;

pub(super) fn decide(s: &Settings, call: &Call, facts: &Facts) -> Plan {
    let caller = user(s, call.employee.as_ref()).unwrap_or(s.default_responsible);
    match (&facts.contact, call.answered) {
        (Some(c), true) => known_reached(s, call, c, caller),
        (Some(c), false) => {
            if !s.outgoing.unanswered.note_not_reached {
                return Plan::nothing(Rule::NoteNotReached.because("note_not_reached is off"));
            }
            Plan {
                contact: ContactPlan::Existing(c.id),
                lead: None,
                unsorted: UnsortedPlan::None,
                task: None,
                note: Some(NotePlan {
                    not_reached: true,
                    ..NotePlan::call(note_target(false, c), NoteKind::CallOut, false, caller)
                }),
                because: vec![Rule::NoteNotReached.id().into()],
            }
        }
        (None, true) => match &facts.pending_unsorted {
            Some(uid) => pending_item_reached(s, uid.clone(), caller),
            None => unknown_reached(s, call, caller),
        },
        (None, false) => Plan::nothing(
            Rule::OutUnknown.because("unanswered call to an unknown number creates nothing"),
        ),
    }
}

/// R-OUT-K1: a known client reached; a lead when the contact has no active one (if set).
fn known_reached(s: &Settings, call: &Call, c: &ContactFacts, caller: u64) -> Plan {
    let mut because = vec![Rule::OutKnown.because(format!("known number, contact {}", c.id))];
    let lead = if s.outgoing.known.create_lead_if_no_active && c.active_leads.is_empty() {
        Some(LeadPlan {
            pipeline: lead_pipeline(s, call),
            responsible: caller,
        })
    } else {
        because.push(Rule::OutKnown.because("no new lead (option off or an active lead exists)"));
        None
    };
    let target = note_target(lead.is_some(), c);
    Plan {
        contact: ContactPlan::Existing(c.id),
        lead,
        unsorted: UnsortedPlan::None,
        task: None,
        note: Some(NotePlan::call(target, NoteKind::CallOut, true, caller)),
        because,
    }
}

/// R-OUT-UNS: the number's contact is hidden in a pending Unsorted item. Reaching the client
/// accepts the item instead of creating a second contact (unless creating contacts is off).
fn pending_item_reached(s: &Settings, uid: String, caller: u64) -> Plan {
    if !s.outgoing.unknown.create_contact {
        return Plan::nothing(Rule::OutPendingUnsorted.because(
            "the number's contact is in a pending Unsorted item and \
             outgoing.unknown.create_contact is off: the item stays pending",
        ));
    }
    Plan {
        contact: ContactPlan::None,
        lead: None,
        unsorted: UnsortedPlan::Accept { uid, user: caller },
        task: None,
        note: Some(NotePlan::call(
            Target::UnsortedLead,
            NoteKind::CallOut,
            true,
            caller,
        )),
        because: vec![
            Rule::OutPendingUnsorted
                .because("the number's contact is in a pending Unsorted item; it is accepted"),
        ],
    }
}

/// R-OUT-U1: an unknown number reached: contact and lead as the settings ask.
fn unknown_reached(s: &Settings, call: &Call, caller: u64) -> Plan {
    let o = &s.outgoing.unknown;
    let contact = if o.create_contact {
        ContactPlan::Create {
            responsible: caller,
        }
    } else {
        ContactPlan::None
    };
    let lead = o.create_lead.then(|| LeadPlan {
        pipeline: lead_pipeline(s, call),
        responsible: caller,
    });
    let target = if lead.is_some() {
        Some(Target::NewLead)
    } else {
        o.create_contact.then_some(Target::NewContact)
    };
    Plan {
        contact,
        lead,
        unsorted: UnsortedPlan::None,
        task: None,
        note: target.map(|t| NotePlan::call(t, NoteKind::CallOut, true, caller)),
        because: vec![Rule::OutUnknown.because("answered call to an unknown number")],
    }
}
