//! `POST /api/v4/calls`: amoCRM attaches each call to the contact found by phone (last 10
//! digits): to its single active lead when it has exactly one, else to the contact.

use serde_json::{Value, json};

use super::notes::{CallFields, check_call_params};
use super::{Ctx, MAX_BATCH, read_batch};
use crate::phone::digits_key;
use crate::sim::mock::render;
use crate::sim::mock::reply::Reply;
use crate::sim::mock::state::{CrmState, EntityKind, Note};

/// Where amoCRM puts a call for this phone, or `None` for an unknown phone.
pub(crate) fn attachment(s: &CrmState, phone: &str) -> Option<(EntityKind, u64)> {
    let key = digits_key(phone)?;
    let contact = *s.contacts_by_phone_key(&key).first()?;
    let active: Vec<u64> = s
        .leads_of_contact(contact)
        .iter()
        .copied()
        .filter(|l| s.visible_lead(*l).is_some_and(|l| l.is_active()))
        .collect();
    Some(match active.as_slice() {
        [one] => (EntityKind::Leads, *one),
        _ => (EntityKind::Contacts, contact),
    })
}

/// The call note's params: the call's fields as sent, and who was responsible.
fn note_params(obj: &serde_json::Map<String, Value>, user: u64) -> Value {
    let mut params = serde_json::Map::new();
    for k in [
        "uniq",
        "duration",
        "source",
        "link",
        "phone",
        "call_status",
        "call_result",
    ] {
        if let Some(v) = obj.get(k) {
            params.insert(k.into(), v.clone());
        }
    }
    // A `call_responsible` sent (a user id or a text) is kept as sent; else the responsible.
    let responsible = obj
        .get("call_responsible")
        .filter(|v| !v.is_null())
        .cloned()
        .unwrap_or_else(|| json!(user));
    params.insert("call_responsible".into(), responsible);
    Value::Object(params)
}

/// The entity a call went to, as the official PHP library reads it from `_embedded.entity`
/// (EntitiesServices/Calls.php, processModelAction).
fn rendered(s: &CrmState, ctx: &Ctx, kind: EntityKind, id: u64) -> Option<Value> {
    match kind {
        EntityKind::Leads => s
            .visible_lead(id)
            .map(|l| render::lead(ctx.base, s, l, false)),
        _ => s
            .visible_contact(id)
            .map(|c| render::contact(ctx.base, s, c, false)),
    }
}

pub(crate) fn create(s: &mut CrmState, ctx: &Ctx) -> Reply {
    let news = match read_batch(ctx, MAX_BATCH, |item| {
        let obj = item.obj;
        let i = item.index;
        let direction = match item.req_str("direction").as_deref() {
            Some("inbound") => Some("call_in"),
            Some("outbound") => Some("call_out"),
            Some(other) => {
                item.fail(
                    "direction",
                    "NotSupportedChoice",
                    format!("direction {other:?} is not inbound or outbound"),
                );
                None
            }
            None => None,
        };
        check_call_params(item, Some(obj), s, CallFields::CallsApi);
        let responsible = item.user(s, "responsible_user_id");
        if let Some(d) = direction {
            return Some((
                d,
                (*obj).clone(),
                responsible,
                item.request_id().unwrap_or_else(|| i.to_string()),
            ));
        }
        None
    }) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let default_user = s.users.keys().next().copied().unwrap_or(0);
    let mut calls = Vec::new();
    let mut errors = Vec::new();
    for (note_type, obj, responsible, rid) in news {
        let phone = obj
            .get("phone")
            .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_string))
            .unwrap_or_default();
        let Some((kind, entity_id)) = attachment(s, &phone) else {
            errors.push(json!({ "title": "Entity not found", "status": 263, "detail": "Entity not found", "request_id": rid }));
            continue;
        };
        let user = responsible.unwrap_or(default_user);
        let id = s.insert_note(Note {
            id: 0,
            entity_type: kind,
            entity_id,
            note_type: note_type.into(),
            params: note_params(&obj, user),
            responsible_user_id: user,
            created_at: ctx.now,
        });
        let entity = rendered(s, ctx, kind, entity_id);
        calls.push(json!({ "id": id, "entity_id": entity_id, "entity_type": kind.as_str(), "account_id": s.account_id, "request_id": rid, "_embedded": { "entity": entity } }));
    }
    let body =
        json!({ "_total_items": calls.len(), "errors": errors, "_embedded": { "calls": calls } });
    if calls.is_empty() {
        return Reply {
            status: 400,
            body: Some(body),
        };
    }
    Reply::ok(body)
}
