//! The rules of `spec/behaviour.md` as a pure function: (settings, call, what amoCRM and the
//! engine's memory say, now) → [`Plan`]. No I/O here; every rule is unit-tested below.

use super::call::{Call, Direction};
use super::items::next_source_uid;
use super::plan::*;
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
    configured.or_else(|| user(s, call.legs.first().map(String::as_str)))
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
        because.push("R-MISS-TASK: create_task is off".into());
        return None;
    }
    if let Some(deadline) = facts.open_task_deadline
        && deadline > call.ended_at
    {
        because.push(format!(
            "R-MISS-DEDUP: an open callback task is due at {deadline}, after this call"
        ));
        return None;
    }
    let deadline = i64::try_from(s.incoming.missed.task_deadline.0)
        .ok()
        .and_then(|d| call.ended_at.checked_add(d));
    if deadline.is_none() {
        because.push("R-MISS-TASK: the deadline is past the range of Unix time".into());
    }
    deadline
}

/// Decides what a finished call does in amoCRM.
pub(crate) fn decide(s: &Settings, main_pipeline: u64, call: &Call, facts: &Facts) -> Plan {
    match call.direction {
        Direction::Incoming => match (&facts.accepted_at_answer, &facts.contact) {
            (Some(item), _) if call.answered => accepted_at_answer(s, call, item),
            (_, Some(c)) => incoming_known(s, call, c, facts),
            (_, None) => incoming_unknown(s, main_pipeline, call, facts),
        },
        Direction::Outgoing => outgoing(s, call, facts),
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
        note: Some(NotePlan {
            target: Target::UnsortedLead,
            kind: NoteKind::CallIn,
            call_status: CALL_TALKED,
            not_reached: false,
            responsible: answerer,
        }),
        because: vec![format!(
            "R-IN-U3: item {} was accepted at the answer; the note goes on its lead",
            item.uid
        )],
    }
}

fn incoming_known(s: &Settings, call: &Call, c: &ContactFacts, facts: &Facts) -> Plan {
    let mut because = vec![format!("R-IN-K1: known number, contact {}", c.id)];
    let owner = c.responsible.unwrap_or_else(|| default_manager(s, call));
    let answerer = user(s, call.answerer.as_deref()).unwrap_or_else(|| default_manager(s, call));
    let lead = if !s.incoming.known.create_lead_if_no_active {
        because.push("R-IN-K1: create_lead_if_no_active is off".into());
        None
    } else if !c.active_leads.is_empty() {
        because.push(format!(
            "R-IN-K1: contact has active lead(s) {:?}",
            c.active_leads
        ));
        None
    } else {
        let responsible = if call.answered { answerer } else { owner };
        if !call.answered {
            because.push("R-MISS-KNOWN: lead on the contact's responsible".into());
        }
        Some(LeadPlan {
            pipeline: lead_pipeline(s, call),
            responsible,
        })
    };
    let target = note_target(lead.is_some(), c);
    let note = Some(if call.answered {
        NotePlan {
            target,
            kind: NoteKind::CallIn,
            call_status: CALL_TALKED,
            not_reached: false,
            responsible: answerer,
        }
    } else {
        NotePlan {
            target,
            kind: NoteKind::CallIn,
            call_status: CALL_MISSED,
            not_reached: false,
            responsible: owner,
        }
    });
    let task = if call.answered {
        None
    } else {
        callback_deadline(s, call, facts, &mut because).map(|complete_till| {
            because.push("R-MISS-KNOWN: task on the contact's responsible".into());
            let target = if s.incoming.missed.bind_task_to_lead && lead.is_some() {
                Target::NewLead
            } else {
                Target::Contact(c.id)
            };
            TaskPlan {
                target,
                responsible: owner,
                complete_till,
            }
        })
    };
    Plan {
        contact: ContactPlan::Existing(c.id),
        lead,
        unsorted: UnsortedPlan::None,
        task,
        note,
        because,
    }
}

fn incoming_unknown(s: &Settings, main_pipeline: u64, call: &Call, facts: &Facts) -> Plan {
    let opts = &s.incoming.unknown;
    let responsible = if call.answered {
        user(s, call.answerer.as_deref()).unwrap_or_else(|| default_manager(s, call))
    } else {
        missed_responsible(s, call)
    };
    let mut because = vec![format!("unknown number, mode {:?}", opts.mode)];
    if !call.answered {
        because.push(format!("R-MISS-RESP: responsible {responsible}"));
    }
    let wants_entities = opts.create_contact || opts.create_lead;
    let pending = facts
        .unsorted_of_call
        .clone()
        .or_else(|| facts.pending_unsorted.clone());
    match opts.mode {
        // The number's contact is hidden in a pending Unsorted item: creating another contact
        // would leave two once the item is accepted. Answered calls accept the item instead,
        // as in R-IN-U3; missed ones leave it pending with the task on it.
        UnknownMode::Immediate if facts.pending_unsorted.is_some() && wants_entities => {
            let uid = facts.pending_unsorted.clone().unwrap_or_default();
            because.push("pending Unsorted item: no second contact".into());
            unsorted_item_plan(s, call, facts, uid, responsible, because)
        }
        UnknownMode::Immediate => {
            because.push("R-IN-U1".into());
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
            } else if opts.create_contact {
                Some(Target::NewContact)
            } else {
                None
            };
            let note = target.map(|target| NotePlan {
                target,
                kind: NoteKind::CallIn,
                call_status: if call.answered {
                    CALL_TALKED
                } else {
                    CALL_MISSED
                },
                not_reached: false,
                responsible,
            });
            let task = if call.answered {
                None
            } else {
                let task_target = if s.incoming.missed.bind_task_to_lead && lead.is_some() {
                    Some(Target::NewLead)
                } else if opts.create_contact {
                    Some(Target::NewContact)
                } else if pending.is_some() {
                    Some(if s.incoming.missed.bind_task_to_lead {
                        Target::UnsortedLead
                    } else {
                        Target::UnsortedContact
                    })
                } else {
                    because.push("R-MISS-BIND: no entity to put the task on".into());
                    None
                };
                task_target.and_then(|target| {
                    callback_deadline(s, call, facts, &mut because).map(|complete_till| TaskPlan {
                        target,
                        responsible,
                        complete_till,
                    })
                })
            };
            let unsorted = match (&task, &pending) {
                (Some(t), Some(uid))
                    if matches!(t.target, Target::UnsortedLead | Target::UnsortedContact) =>
                {
                    UnsortedPlan::Keep { uid: uid.clone() }
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
        UnknownMode::Unsorted | UnknownMode::UnsortedAcceptOnAnswer => {
            let accept_on_answer = opts.mode == UnknownMode::UnsortedAcceptOnAnswer;
            because.push(if accept_on_answer {
                "R-IN-U3".into()
            } else {
                "R-IN-U2".into()
            });
            if facts.call_item.is_some() && facts.unsorted_of_call.is_none() && !call.answered {
                because.push(
                    "R-UNS-DECLINE: a manager declined this call's item while it rang; \
                     it is not created again"
                        .into(),
                );
                return Plan {
                    because,
                    ..Plan::nothing("")
                }
                .without_empty_reason();
            }
            if !wants_entities && pending.is_none() {
                because.push("create_contact and create_lead are off: no Unsorted item".into());
                return Plan {
                    because,
                    ..Plan::nothing("")
                }
                .without_empty_reason();
            }
            let unsorted = match (&pending, accept_on_answer && call.answered) {
                (Some(uid), true) => UnsortedPlan::Accept {
                    uid: uid.clone(),
                    user: responsible,
                },
                (Some(uid), false) => {
                    if facts.unsorted_of_call.is_none() {
                        because.push(
                            "R-UNS-DEDUP: a pending Unsorted item exists for this phone".into(),
                        );
                    }
                    UnsortedPlan::Keep { uid: uid.clone() }
                }
                (None, accept) => new_item(
                    s,
                    main_pipeline,
                    call,
                    facts,
                    responsible,
                    accept.then_some(responsible),
                ),
            };
            let accepted = accept_on_answer && call.answered;
            let note = accepted.then_some(NotePlan {
                target: Target::UnsortedLead,
                kind: NoteKind::CallIn,
                call_status: CALL_TALKED,
                not_reached: false,
                responsible,
            });
            let task = if call.answered {
                None
            } else {
                let target = if s.incoming.missed.bind_task_to_lead {
                    Target::UnsortedLead
                } else {
                    Target::UnsortedContact
                };
                callback_deadline(s, call, facts, &mut because).map(|complete_till| TaskPlan {
                    target,
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
    }
}

fn outgoing(s: &Settings, call: &Call, facts: &Facts) -> Plan {
    let caller = user(s, call.employee.as_deref()).unwrap_or(s.default_responsible);
    match (&facts.contact, call.answered) {
        (Some(c), true) => {
            let mut because = vec![format!("R-OUT-K1: known number, contact {}", c.id)];
            let lead = if s.outgoing.known.create_lead_if_no_active && c.active_leads.is_empty() {
                Some(LeadPlan {
                    pipeline: lead_pipeline(s, call),
                    responsible: caller,
                })
            } else {
                because.push("R-OUT-K1: no new lead (option off or an active lead exists)".into());
                None
            };
            let note = NotePlan {
                target: note_target(lead.is_some(), c),
                kind: NoteKind::CallOut,
                call_status: CALL_TALKED,
                not_reached: false,
                responsible: caller,
            };
            Plan {
                contact: ContactPlan::Existing(c.id),
                lead,
                unsorted: UnsortedPlan::None,
                task: None,
                note: Some(note),
                because,
            }
        }
        (Some(c), false) => {
            if !s.outgoing.unanswered.note_not_reached {
                return Plan::nothing("R-NOTE-NOTREACHED: note_not_reached is off");
            }
            let note = NotePlan {
                target: note_target(false, c),
                kind: NoteKind::CallOut,
                call_status: CALL_MISSED,
                not_reached: true,
                responsible: caller,
            };
            Plan {
                contact: ContactPlan::Existing(c.id),
                lead: None,
                unsorted: UnsortedPlan::None,
                task: None,
                note: Some(note),
                because: vec!["R-NOTE-NOTREACHED".into()],
            }
        }
        (None, true) if facts.pending_unsorted.is_some() && !s.outgoing.unknown.create_contact => {
            Plan::nothing(
                "R-OUT-UNS: the number's contact is in a pending Unsorted item and \
                 outgoing.unknown.create_contact is off: the item stays pending",
            )
        }
        (None, true) if facts.pending_unsorted.is_some() => {
            // Reaching the client accepts the item that hides its contact, instead of creating
            // a second contact.
            let uid = facts.pending_unsorted.clone().unwrap_or_default();
            let note = NotePlan {
                target: Target::UnsortedLead,
                kind: NoteKind::CallOut,
                call_status: CALL_TALKED,
                not_reached: false,
                responsible: caller,
            };
            Plan {
                contact: ContactPlan::None,
                lead: None,
                unsorted: UnsortedPlan::Accept { uid, user: caller },
                task: None,
                note: Some(note),
                because: vec![
                    "R-OUT-UNS: the number's contact is in a pending Unsorted item; it is accepted"
                        .into(),
                ],
            }
        }
        (None, true) => {
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
            let note = target.map(|target| NotePlan {
                target,
                kind: NoteKind::CallOut,
                call_status: CALL_TALKED,
                not_reached: false,
                responsible: caller,
            });
            Plan {
                contact,
                lead,
                unsorted: UnsortedPlan::None,
                task: None,
                note,
                because: vec!["R-OUT-U1: answered call to an unknown number".into()],
            }
        }
        (None, false) => {
            Plan::nothing("R-OUT-U1: unanswered call to an unknown number creates nothing")
        }
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
        let note = NotePlan {
            target: Target::UnsortedLead,
            kind: NoteKind::CallIn,
            call_status: CALL_TALKED,
            not_reached: false,
            responsible,
        };
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
    let target = if s.incoming.missed.bind_task_to_lead {
        Target::UnsortedLead
    } else {
        Target::UnsortedContact
    };
    let task = callback_deadline(s, call, facts, &mut because).map(|complete_till| TaskPlan {
        target,
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

impl Plan {
    fn without_empty_reason(mut self) -> Self {
        self.because.retain(|b| !b.is_empty());
        self
    }
}

#[cfg(test)]
mod tests;
