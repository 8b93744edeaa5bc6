//! The amoCRM writes a plan makes, built from the call and the plan as typed requests: contact,
//! lead, Unsorted item, task, note.

use crate::amocrm::requests::{
    CallNote, CallParams, EntityRef, ItemLead, LeadContact, LeadEmbedded, NewContact, NewLead,
    NewSipItem, NewTask, PhoneField, SOURCE, SipEmbedded, SipMetadata, TASK_TEXT,
};
use crate::engine::rules::call::{Call, Direction};
use crate::engine::rules::plan::{LeadPlan, NOT_REACHED, NotePlan, TaskPlan};

pub(crate) fn contact(call: &Call, responsible: Option<u64>) -> NewContact {
    NewContact {
        name: call.client.e164(),
        responsible_user_id: responsible,
        custom_fields_values: vec![PhoneField::work(call.client.e164())],
    }
}

pub(crate) fn lead_name(call: &Call) -> String {
    match call.direction {
        Direction::Incoming => format!("Входящий звонок {}", call.client.e164()),
        Direction::Outgoing => format!("Исходящий звонок {}", call.client.e164()),
    }
}

/// `leads/complex`: the lead with its new contact.
pub(crate) fn lead_with_new_contact(call: &Call, plan: &LeadPlan) -> NewLead {
    let new = LeadContact::New(contact(call, Some(plan.responsible)));
    lead(call, plan, new)
}

/// A lead linked to an existing contact.
pub(crate) fn lead_of_contact(call: &Call, plan: &LeadPlan, contact: u64) -> NewLead {
    lead(call, plan, LeadContact::Existing { id: contact })
}

fn lead(call: &Call, plan: &LeadPlan, contact: LeadContact) -> NewLead {
    NewLead {
        name: lead_name(call),
        responsible_user_id: plan.responsible,
        pipeline_id: plan.pipeline.map(|p| p.id),
        status_id: plan.pipeline.and_then(|p| p.status),
        embedded: Some(LeadEmbedded {
            contacts: vec![contact],
        }),
    }
}

/// The `leads/unsorted/sip` item for a call.
pub(crate) fn unsorted_item(
    call: &Call,
    source_uid: &str,
    pipeline_id: u64,
    responsible: u64,
    with_contact: bool,
) -> NewSipItem {
    NewSipItem {
        source_name: SOURCE,
        source_uid: source_uid.to_string(),
        pipeline_id,
        created_at: call.started_at,
        metadata: SipMetadata {
            is_call_event_needed: true,
            uniq: call.id.to_string(),
            duration: call.talk_secs,
            service_code: "sipuni",
            phone: call.client.e164(),
            called_at: call.started_at,
            from: call.client.e164(),
            call_responsible: responsible,
            link: call.record_link.clone(),
        },
        embedded: SipEmbedded {
            leads: vec![ItemLead {
                name: lead_name(call),
            }],
            contacts: with_contact.then(|| vec![contact(call, None)]),
        },
    }
}

/// The callback task's text: «Перезвонить клиенту» and the phone.
pub(crate) fn task_text(call: &Call) -> String {
    format!("{TASK_TEXT} {}", call.client.e164())
}

/// The callback task on `on`.
pub(crate) fn task(call: &Call, plan: &TaskPlan, on: EntityRef) -> NewTask {
    NewTask {
        task_type_id: 1,
        text: task_text(call),
        complete_till: plan.complete_till,
        entity_id: on.id(),
        entity_type: on.kind(),
        responsible_user_id: plan.responsible,
    }
}

/// The call note («звонок») with `uniq` = call id.
pub(crate) fn note(call: &Call, plan: &NotePlan) -> CallNote {
    CallNote {
        note_type: plan.kind.as_str(),
        responsible_user_id: plan.responsible,
        params: CallParams {
            uniq: call.id.to_string(),
            duration: call.talk_secs,
            source: SOURCE,
            phone: call.client.e164(),
            call_status: plan.call_status,
            call_responsible: plan.responsible,
            link: call.record_link.clone(),
            call_result: plan.not_reached.then_some(NOT_REACHED),
        },
    }
}
