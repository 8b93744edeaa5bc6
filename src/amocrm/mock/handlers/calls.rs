//! `POST /api/v4/calls`: amoCRM attaches each call to the contact found by phone (last 10
//! digits): to its single active lead when it has exactly one, else to the contact.

use serde_json::{Value, json};

use super::notes::check_call_params;
use super::{Ctx, MAX_BATCH, read_batch};
use crate::amocrm::mock::reply::Reply;
use crate::amocrm::mock::state::{CrmState, EntityKind, Note};
use crate::phone::digits_key;

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
        check_call_params(item, Some(obj), s);
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
        let user = responsible.unwrap_or(default_user);
        params.insert("call_responsible".into(), json!(user));
        let id = s.insert_note(Note {
            id: 0,
            entity_type: kind,
            entity_id,
            note_type: note_type.into(),
            params: Value::Object(params),
            responsible_user_id: user,
            created_at: ctx.now,
        });
        calls.push(json!({ "id": id, "entity_id": entity_id, "entity_type": kind.as_str(), "account_id": s.account_id, "request_id": rid }));
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
