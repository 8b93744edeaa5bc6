//! An incoming call from a number with no visible contact, by the mode of the settings
//! (R-IN-U1, R-IN-U2, R-IN-U3, R-UNS-DEDUP, R-UNS-DECLINE, R-MISS-RESP, R-MISS-BIND).

use super::accept_on_answer::new_item;
use super::facts::Facts;
use super::people::{default_manager, missed_responsible, user};
use super::pipelines::lead_pipeline;
use super::tasks::callback_deadline;
use crate::engine::rules::call::Call;
use crate::engine::rules::plan::*;
use crate::engine::rules::rule::Rule;
use crate::engine::rules::settings::{Settings, UnknownMode};

pub(super) fn incoming(s: &Settings, main_pipeline: u64, call: &Call, facts: &Facts) -> Plan {
    let opts = &s.incoming.unknown;
    let responsible = if call.answered {
        user(s, call.answerer.as_ref()).unwrap_or_else(|| default_manager(s, call))
    } else {
        missed_responsible(s, call)
    };
    let mut because = vec![format!("unknown number, mode {:?}", opts.mode)];
    if !call.answered {
        because.push(Rule::MissResponsible.because(format!("responsible {responsible}")));
    }
    let wants_entities = opts.create_contact || opts.create_lead;
    match (opts.mode, &facts.pending_unsorted) {
        // The number's contact is hidden in a pending Unsorted item: creating another contact
        // would leave two once the item is accepted. Answered calls accept the item instead,
        // as in R-IN-U3; missed ones leave it pending with the task on it.
        (UnknownMode::Immediate, Some(uid)) if wants_entities => {
            because.push("pending Unsorted item: no second contact".into());
            unsorted_item_plan(s, call, facts, uid.clone(), responsible, because)
        }
        (UnknownMode::Immediate, _) => immediate(s, call, facts, responsible, because),
        (UnknownMode::Unsorted | UnknownMode::UnsortedAcceptOnAnswer, _) => {
            unsorted(s, main_pipeline, call, facts, responsible, because)
        }
    }
}

/// The item this call made at its first ring, else the phone's pending one.
fn pending_item(facts: &Facts) -> Option<String> {
    facts
        .unsorted_of_call
        .clone()
        .or_else(|| facts.pending_unsorted.clone())
}

/// R-IN-U1: contact and lead made at once, as the settings ask.
fn immediate(
    s: &Settings,
    call: &Call,
    facts: &Facts,
    responsible: u64,
    mut because: Vec<String>,
) -> Plan {
    let opts = &s.incoming.unknown;
    because.push(Rule::InUnknownImmediate.id().into());
    let contact = if opts.create_contact {
        ContactPlan::Create { responsible }
    } else {
        ContactPlan::None
    };
    let lead = opts.create_lead.then(|| LeadPlan {
        pipeline: lead_pipeline(s, call),
        responsible,
    });
    let target = if lead.is_some() {
        Some(Target::NewLead)
    } else {
        opts.create_contact.then_some(Target::NewContact)
    };
    let note = target.map(|t| NotePlan::call(t, NoteKind::CallIn, call.answered, responsible));
    let pending = pending_item(facts);
    let task = if call.answered {
        None
    } else {
        immediate_task_target(s, lead.is_some(), pending.is_some(), &mut because).and_then(
            |target| {
                callback_deadline(s, call, facts, &mut because).map(|complete_till| TaskPlan {
                    target,
                    responsible,
                    complete_till,
                })
            },
        )
    };
    let unsorted = match (&task, pending) {
        (Some(t), Some(uid))
            if matches!(t.target, Target::UnsortedLead | Target::UnsortedContact) =>
        {
            UnsortedPlan::Keep { uid }
        }
        _ => UnsortedPlan::None,
    };
    Plan {
        contact,
        lead,
        unsorted,
        task,
        note,
        because,
    }
}

/// R-MISS-BIND in mode `immediate`: the lead when the task goes on leads, else the contact,
/// else the pending Unsorted item's lead or contact.
fn immediate_task_target(
    s: &Settings,
    lead: bool,
    pending: bool,
    because: &mut Vec<String>,
) -> Option<Target> {
    let bind_to_lead = s.incoming.missed.bind_task_to_lead;
    if bind_to_lead && lead {
        Some(Target::NewLead)
    } else if s.incoming.unknown.create_contact {
        Some(Target::NewContact)
    } else if pending {
        Some(unsorted_task_target(s))
    } else {
        because.push(Rule::MissBind.because("no entity to put the task on"));
        None
    }
}

/// R-MISS-BIND for a task on an Unsorted item: its lead or its contact.
fn unsorted_task_target(s: &Settings) -> Target {
    if s.incoming.missed.bind_task_to_lead {
        Target::UnsortedLead
    } else {
        Target::UnsortedContact
    }
}

/// R-IN-U2 and R-IN-U3: the call goes to Unsorted (accepted at once when answered in mode
/// `unsorted_accept_on_answer`); no second item while the phone has a pending one
/// (R-UNS-DEDUP), and none again for a call whose item a manager declined (R-UNS-DECLINE).
fn unsorted(
    s: &Settings,
    main_pipeline: u64,
    call: &Call,
    facts: &Facts,
    responsible: u64,
    mut because: Vec<String>,
) -> Plan {
    let opts = &s.incoming.unknown;
    let accept_on_answer = opts.mode == UnknownMode::UnsortedAcceptOnAnswer;
    because.push(
        if accept_on_answer {
            Rule::InAcceptOnAnswer.id()
        } else {
            Rule::InUnknownUnsorted.id()
        }
        .into(),
    );
    let pending = pending_item(facts);
    if facts.call_item.is_some() && facts.unsorted_of_call.is_none() && !call.answered {
        because.push(Rule::UnsortedDecline.because(
            "a manager declined this call's item while it rang; \
             it is not created again",
        ));
        return Plan::nothing_because(because);
    }
    if !(opts.create_contact || opts.create_lead) && pending.is_none() {
        because.push("create_contact and create_lead are off: no Unsorted item".into());
        return Plan::nothing_because(because);
    }
    let accepted = accept_on_answer && call.answered;
    let unsorted = match pending {
        Some(uid) if accepted => UnsortedPlan::Accept {
            uid,
            user: responsible,
        },
        Some(uid) => {
            if facts.unsorted_of_call.is_none() {
                because.push(
                    Rule::UnsortedDedup.because("a pending Unsorted item exists for this phone"),
                );
            }
            UnsortedPlan::Keep { uid }
        }
        None => new_item(
            s,
            main_pipeline,
            call,
            facts,
            responsible,
            accepted.then_some(responsible),
        ),
    };
    let note =
        accepted.then(|| NotePlan::call(Target::UnsortedLead, NoteKind::CallIn, true, responsible));
    let task = if call.answered {
        None
    } else {
        callback_deadline(s, call, facts, &mut because).map(|complete_till| TaskPlan {
            target: unsorted_task_target(s),
            responsible,
            complete_till,
        })
    };
    let unsorted = match unsorted {
        UnsortedPlan::Keep { .. } if task.is_none() => UnsortedPlan::None,
        other => other,
    };
    Plan {
        contact: ContactPlan::None,
        lead: None,
        unsorted,
        task,
        note,
        because,
    }
}

/// An answered call accepts the phone's pending item (note on its lead); a missed one keeps it
/// (task on its lead or contact).
fn unsorted_item_plan(
    s: &Settings,
    call: &Call,
    facts: &Facts,
    uid: String,
    responsible: u64,
    mut because: Vec<String>,
) -> Plan {
    if call.answered {
        let note = NotePlan::call(Target::UnsortedLead, NoteKind::CallIn, true, responsible);
        return Plan {
            contact: ContactPlan::None,
            lead: None,
            unsorted: UnsortedPlan::Accept {
                uid,
                user: responsible,
            },
            task: None,
            note: Some(note),
            because,
        };
    }
    let task = callback_deadline(s, call, facts, &mut because).map(|complete_till| TaskPlan {
        target: unsorted_task_target(s),
        responsible,
        complete_till,
    });
    let unsorted = if task.is_some() {
        UnsortedPlan::Keep { uid }
    } else {
        UnsortedPlan::None
    };
    Plan {
        contact: ContactPlan::None,
        lead: None,
        unsorted,
        task,
        note: None,
        because,
    }
}
