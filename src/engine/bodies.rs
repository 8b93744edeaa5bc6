//! The JSON bodies of the amoCRM writes a plan makes: contact, lead, Unsorted item, task, note.

use serde_json::{Value, json};

use super::call::{Call, Direction};
use super::plan::{LeadPlan, NotePlan, TaskPlan};

/// The text of a callback task («Перезвонить клиенту»), followed by the phone.
pub(crate) const TASK_TEXT: &str = "Перезвонить клиенту";
/// `source` of call notes and `source_name` of Unsorted items.
pub(crate) const SOURCE: &str = "Sipuni";
/// `call_result` of R-NOTE-NOTREACHED.
use super::plan::NOT_REACHED;

pub(crate) fn phone_field(call: &Call) -> Value {
    json!([{ "field_code": "PHONE", "values": [{ "value": call.client.e164(), "enum_code": "WORK" }] }])
}

pub(crate) fn contact_json(call: &Call, responsible: Option<u64>) -> Value {
    let mut c = json!({ "name": call.client.e164(), "custom_fields_values": phone_field(call) });
    if let Some(r) = responsible {
        c["responsible_user_id"] = json!(r);
    }
    c
}

pub(crate) fn lead_name(call: &Call) -> String {
    match call.direction {
        Direction::Incoming => format!("Входящий звонок {}", call.client.e164()),
        Direction::Outgoing => format!("Исходящий звонок {}", call.client.e164()),
    }
}

/// `leads/complex`: the lead with its new contact.
pub(crate) fn lead_with_new_contact_json(call: &Call, lead: &LeadPlan) -> Value {
    let mut body = lead_json(call, lead);
    body["_embedded"] = json!({ "contacts": [contact_json(call, Some(lead.responsible))] });
    body
}

/// A lead linked to an existing contact.
pub(crate) fn lead_of_contact_json(call: &Call, lead: &LeadPlan, contact: u64) -> Value {
    let mut body = lead_json(call, lead);
    body["_embedded"] = json!({ "contacts": [{ "id": contact }] });
    body
}

fn lead_json(call: &Call, lead: &LeadPlan) -> Value {
    let mut l = json!({ "name": lead_name(call), "responsible_user_id": lead.responsible });
    if let Some(p) = lead.pipeline {
        l["pipeline_id"] = json!(p.id);
        if let Some(st) = p.status {
            l["status_id"] = json!(st);
        }
    }
    l
}

/// The `leads/unsorted/sip` item for a call.
pub(crate) fn unsorted_json(
    call: &Call,
    source_uid: &str,
    pipeline_id: u64,
    responsible: u64,
    with_contact: bool,
) -> Value {
    let mut metadata = json!({
        "is_call_event_needed": true,
        "uniq": call.id,
        "duration": call.talk_secs,
        "service_code": "sipuni",
        "phone": call.client.e164(),
        "called_at": call.started_at,
        "from": call.client.e164(),
        "call_responsible": responsible,
    });
    if let Some(link) = &call.record_link {
        metadata["link"] = json!(link);
    }
    let mut embedded = json!({ "leads": [{ "name": lead_name(call) }] });
    if with_contact {
        embedded["contacts"] = json!([contact_json(call, None)]);
    }
    json!({
        "source_name": SOURCE,
        "source_uid": source_uid,
        "pipeline_id": pipeline_id,
        "created_at": call.started_at,
        "metadata": metadata,
        "_embedded": embedded,
    })
}

/// The callback task's text: «Перезвонить клиенту» and the phone.
pub(crate) fn task_text(call: &Call) -> String {
    format!("{TASK_TEXT} {}", call.client.e164())
}

/// `POST /api/v4/tasks` item for the callback task on `(kind, entity_id)`.
pub(crate) fn task_json(call: &Call, task: &TaskPlan, kind: &str, entity_id: u64) -> Value {
    json!({
        "task_type_id": 1, "text": task_text(call), "complete_till": task.complete_till,
        "entity_id": entity_id, "entity_type": kind, "responsible_user_id": task.responsible,
    })
}

/// The call note («звонок») with `uniq` = call id.
pub(crate) fn note_json(call: &Call, note: &NotePlan) -> Value {
    let mut params = json!({
        "uniq": call.id, "duration": call.talk_secs, "source": SOURCE,
        "phone": call.client.e164(), "call_status": note.call_status, "call_responsible": note.responsible,
    });
    if let Some(link) = &call.record_link {
        params["link"] = json!(link);
    }
    if note.not_reached {
        params["call_result"] = json!(NOT_REACHED);
    }
    json!({ "note_type": note.kind.as_str(), "responsible_user_id": note.responsible, "params": params })
}
