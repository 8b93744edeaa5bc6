//! Notes on leads, contacts and companies: every documented note type with its required
//! params, lists, and a note by id.
//!
//! Source: amoCRM API v4 «Примечания» (events-and-notes, «Типы примечаний»): the types and
//! the params each requires.

use serde_json::{Value, json};

use super::{Ctx, Item, MAX_BATCH, list_reply, paginate, read_batch};
use crate::sim::mock::render;
use crate::sim::mock::reply::Reply;
use crate::sim::mock::state::{CrmState, EntityKind, Note};

/// The documented note types and the string params each requires (call notes are checked
/// by [`check_call_params`]).
const NOTE_TYPES: [(&str, &[&str]); 10] = [
    ("common", &["text"]),
    ("call_in", &[]),
    ("call_out", &[]),
    ("service_message", &["service", "text"]),
    ("extended_service_message", &["service", "text"]),
    ("message_cashier", &["status", "text"]),
    ("geolocation", &["text", "address", "longitude", "latitude"]),
    ("sms_in", &["text", "phone"]),
    ("sms_out", &["text", "phone"]),
    ("attachment", &["file_uuid", "version_uuid", "file_name"]),
];

/// Checks `params` against the note type's required fields.
fn check_params(
    item: &mut Item,
    s: &CrmState,
    note_type: &str,
    params: Option<&serde_json::Map<String, Value>>,
) {
    let Some((_, required)) = NOTE_TYPES.iter().find(|(t, _)| *t == note_type) else {
        let known: Vec<&str> = NOTE_TYPES.iter().map(|(t, _)| *t).collect();
        item.fail(
            "note_type",
            "NotSupportedChoice",
            format!("note_type {note_type:?} is not one of {}", known.join(", ")),
        );
        return;
    };
    if matches!(note_type, "call_in" | "call_out") {
        check_call_params(item, params, s, CallFields::NoteParams);
        return;
    }
    for field in *required {
        let ok = params
            .and_then(|p| p.get(*field))
            .is_some_and(|v| v.as_str().is_some_and(|t| !t.is_empty()) || v.is_number());
        if !ok {
            item.fail(
                &format!("params.{field}"),
                "Required",
                format!("params.{field} is required for a {note_type} note"),
            );
        }
    }
}

/// Checks a call note's `params`; the fields amoCRM requires are `uniq`, `duration`,
/// `source` and `phone`.
/// Where the call fields are: a call note's `params`, or the top level of `POST /calls`
/// (where amoCRM requires only direction, duration, source and phone: `uniq` is optional).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallFields {
    NoteParams,
    CallsApi,
}

pub(crate) fn check_call_params(
    item: &mut Item,
    params: Option<&serde_json::Map<String, Value>>,
    s: &CrmState,
    at: CallFields,
) {
    let prefix = if at == CallFields::NoteParams {
        "params."
    } else {
        ""
    };
    let Some(p) = params else {
        item.fail(
            "params",
            "Required",
            "params (uniq, duration, source, phone) are required for call notes",
        );
        return;
    };
    for field in ["uniq", "source", "phone"] {
        let optional = field == "uniq" && at == CallFields::CallsApi;
        match p.get(field) {
            Some(Value::String(v)) if !v.is_empty() => {}
            Some(Value::Number(_)) if field == "phone" => {}
            None | Some(Value::Null) if optional => {}
            None | Some(Value::Null) => item.fail(
                &format!("{prefix}{field}"),
                "Required",
                format!("{prefix}{field} is required"),
            ),
            Some(_) => item.fail(
                &format!("{prefix}{field}"),
                "InvalidType",
                format!("{prefix}{field} must be a string"),
            ),
        }
    }
    match p.get("duration") {
        Some(v) if v.as_u64().is_some() => {}
        None | Some(Value::Null) => item.fail(
            &format!("{prefix}duration"),
            "Required",
            format!("{prefix}duration is required"),
        ),
        Some(_) => item.fail(
            &format!("{prefix}duration"),
            "InvalidType",
            format!("{prefix}duration must be a whole number of seconds"),
        ),
    }
    if let Some(v) = p.get("call_status").filter(|v| !v.is_null())
        && !v.as_u64().is_some_and(|n| (1..=7).contains(&n))
    {
        item.fail(
            &format!("{prefix}call_status"),
            "NotSupportedChoice",
            format!("call_status {v} is not 1 to 7"),
        );
    }
    if let Some(v) = p.get("link").filter(|v| !v.is_null())
        && !v.is_string()
    {
        item.fail(
            &format!("{prefix}link"),
            "InvalidType",
            format!("{prefix}link must be a string"),
        );
    }
    // The calls API takes a user id or a text («можно id пользователя, или строку»: the
    // official PHP library's `examples/calls.php:38`, `Models/Traits/CallTrait.php:44-52`).
    let text_allowed = at == CallFields::CallsApi;
    if let Some(v) = p.get("call_responsible").filter(|v| !v.is_null())
        && !(text_allowed && v.is_string())
        && !v.as_u64().is_some_and(|u| s.users.contains_key(&u))
    {
        item.fail(
            &format!("{prefix}call_responsible"),
            "NotSupportedChoice",
            format!("user {v} does not exist in this account"),
        );
    }
}

/// `POST /api/v4/{leads|contacts}/notes` (items carry `entity_id`) and
/// `POST /api/v4/{leads|contacts}/{id}/notes`.
pub(crate) fn create(s: &mut CrmState, ctx: &Ctx, kind: EntityKind, path_id: Option<u64>) -> Reply {
    let news = match read_batch(ctx, MAX_BATCH, |item| {
        let entity_id = match path_id {
            Some(id) => Some(id),
            None => item.req_u64("entity_id"),
        };
        if let Some(id) = entity_id
            && !s.entity_exists(kind, id)
        {
            item.fail(
                "entity_id",
                "NotSupportedChoice",
                format!("{} {id} does not exist", kind.as_str()),
            );
        }
        let note_type = item.req_str("note_type");
        let params = item.opt_object("params");
        if let Some(t) = &note_type {
            check_params(item, s, t, params);
        }
        let responsible = item.user(s, "responsible_user_id");
        let rid = item.request_id();
        if let (Some(entity_id), Some(note_type)) = (entity_id, note_type) {
            return Some((entity_id, note_type, params.cloned(), responsible, rid));
        }
        None
    }) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let default_user = s.users.keys().next().copied().unwrap_or(0);
    let mut out = Vec::new();
    for (i, (entity_id, note_type, params, responsible, rid)) in news.into_iter().enumerate() {
        let id = s.insert_note(Note {
            id: 0,
            entity_type: kind,
            entity_id,
            note_type,
            params: params.map(Value::Object).unwrap_or(Value::Null),
            responsible_user_id: responsible.unwrap_or(default_user),
            created_at: ctx.now,
        });
        out.push(json!({
            "id": id,
            "entity_id": entity_id,
            "request_id": rid.unwrap_or_else(|| i.to_string()),
            "_links": { "self": ctx.href(&format!("{}/{entity_id}/notes/{id}", kind.as_str())) },
        }));
    }
    Reply::ok(
        json!({ "_links": { "self": ctx.href(&format!("{}/notes", kind.as_str())) }, "_embedded": { "notes": out } }),
    )
}

/// `GET /api/v4/{leads|contacts}/notes` and `GET /api/v4/{leads|contacts}/{id}/notes`.
pub(crate) fn list(s: &CrmState, ctx: &Ctx, kind: EntityKind, path_id: Option<u64>) -> Reply {
    let taken = ["filter[entity_id]", "filter[note_type]"];
    let (page, limit) = match ctx.query.list_params(&taken, &[]) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let entity_ids = match path_id {
        Some(id) => vec![id],
        None => match ctx.query.ids("filter[entity_id]") {
            Ok(ids) => ids,
            Err(r) => return r,
        },
    };
    let types = ctx.query.list("filter[note_type]");
    let visible = |id: u64| s.visible(kind, id);
    let found: Vec<&Note> = s
        .notes
        .values()
        .filter(|n| n.entity_type == kind && visible(n.entity_id))
        .filter(|n| entity_ids.is_empty() || entity_ids.contains(&n.entity_id))
        .filter(|n| types.is_empty() || types.contains(&n.note_type.as_str()))
        .collect();
    let (page_items, more) = paginate(found, page, limit);
    let items = page_items
        .into_iter()
        .map(|n| render::note(ctx.base, s, n))
        .collect();
    let path = match path_id {
        Some(id) => format!("{}/{id}/notes", kind.as_str()),
        None => format!("{}/notes", kind.as_str()),
    };
    list_reply(ctx, &path, "notes", items, page, more)
}

/// `GET /api/v4/{entity}/notes/{id}` and `GET /api/v4/{entity}/{entity_id}/notes/{id}`.
pub(crate) fn get(
    s: &CrmState,
    ctx: &Ctx,
    kind: EntityKind,
    entity_id: Option<u64>,
    id: u64,
) -> Reply {
    if let Err(r) = ctx.query.only(&[], &[]) {
        return r;
    }
    let found = s.notes.get(&id).filter(|n| {
        n.entity_type == kind
            && entity_id.is_none_or(|e| e == n.entity_id)
            && s.visible(kind, n.entity_id)
    });
    match found {
        Some(n) => Reply::ok(render::note(ctx.base, s, n)),
        None => Reply::no_content(),
    }
}
