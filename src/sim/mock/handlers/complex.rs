//! `POST /api/v4/leads/complex`: each lead with its new or existing contact and company in one
//! request; with `_embedded.metadata` the lead goes to Unsorted.
//!
//! Source: amoCRM API v4 «Сделки», «Комплексное добавление сделок с контактом и компанией»
//! (leads-api): at most 50 leads, one contact and one company each, a plain JSON array answer
//! with `id`, `contact_id`, `company_id`, `request_id`, `merged`; `_embedded.metadata` creates
//! the lead in Unsorted (category `forms` or `sip`). Duplicate control (`merged: true`) is an
//! account setting the mock does not have: it never merges.

use serde_json::{Map, Value, json};

use super::companies::{self, NewCompany};
use super::contacts::{self, NewContact};
use super::leads::{self, NewLead};
use super::{Ctx, Item};
use crate::sim::mock::reply::Reply;
use crate::sim::mock::state::{CrmState, EntityKind, Unsorted, UnsortedState};

/// Most leads one `leads/complex` request takes.
pub(crate) const MAX_COMPLEX: usize = 50;

/// A contact or company of an item: none, a new one, or an existing one's id.
enum Side<T> {
    None,
    New(T),
    Existing(u64),
}

struct Plan {
    lead: NewLead,
    contact: Side<NewContact>,
    company: Side<NewCompany>,
    /// `_embedded.metadata`: the lead goes to Unsorted with this.
    metadata: Option<Map<String, Value>>,
}

pub(crate) fn complex(s: &mut CrmState, ctx: &Ctx) -> Reply {
    let items = match ctx.batch(MAX_COMPLEX) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let mut errs = Vec::new();
    let mut plans = Vec::new();
    for (i, obj) in items.iter().enumerate() {
        let mut item = Item::new(obj, i, &mut errs);
        let contact = side(s, &mut item, obj, "contacts", i, |s, it| {
            contacts::read_new(s, it)
        });
        let company = side(s, &mut item, obj, "companies", i, |s, it| {
            companies::read_new(s, it)
        });
        let metadata = metadata(s, &mut item, obj);
        if let Some(lead) = leads::read_new(s, &mut item) {
            plans.push(Plan {
                lead,
                contact,
                company,
                metadata,
            });
        }
    }
    if !errs.is_empty() {
        return Reply::invalid(errs);
    }
    let out: Vec<Value> = plans
        .into_iter()
        .enumerate()
        .map(|(i, p)| apply(s, ctx, i, p))
        .collect();
    Reply::ok(Value::Array(out))
}

fn apply(s: &mut CrmState, ctx: &Ctx, i: usize, mut p: Plan) -> Value {
    let default_user = s.users.keys().next().copied().unwrap_or(0);
    let rid = p.lead.request_id.clone().unwrap_or_else(|| i.to_string());
    let responsible = p.lead.responsible.unwrap_or(default_user);
    let visible = p.metadata.is_none();
    let contact_id = match p.contact {
        Side::New(mut c) => {
            c.responsible = c.responsible.or(Some(responsible));
            Some(contacts::insert(s, c, default_user, ctx.now, visible))
        }
        Side::Existing(id) => Some(id),
        Side::None => None,
    };
    let company_id = match p.company {
        Side::New(mut c) => {
            c.responsible = c.responsible.or(Some(responsible));
            Some(companies::insert(s, c, default_user, ctx.now, visible))
        }
        Side::Existing(id) => Some(id),
        Side::None => None,
    };
    if p.metadata.is_some()
        && let Some(st) = s
            .pipeline(p.lead.pipeline_id)
            .and_then(|pl| pl.unsorted_status())
    {
        p.lead.status_id = st;
        p.lead.hidden = true;
    }
    p.lead.contacts = contact_id.into_iter().collect();
    p.lead.company = company_id;
    let pipeline_id = p.lead.pipeline_id;
    let id = leads::insert(s, p.lead, ctx.now);
    if let (Some(c), Some(co)) = (contact_id, company_id) {
        s.set_company(EntityKind::Contacts, c, co);
    }
    if let Some(meta) = p.metadata {
        unsorted_item(s, ctx.now, pipeline_id, meta, id, contact_id, company_id);
    }
    json!({
        "id": id,
        "contact_id": contact_id,
        "company_id": company_id,
        "request_id": [rid],
        "merged": false,
    })
}

/// The Unsorted item a lead with `_embedded.metadata` goes into.
fn unsorted_item(
    s: &mut CrmState,
    now: i64,
    pipeline_id: u64,
    meta: Map<String, Value>,
    lead: u64,
    contact: Option<u64>,
    company: Option<u64>,
) {
    let uid = s.next_unsorted_uid();
    let text = |k: &str| meta.get(k).and_then(Value::as_str).map(str::to_string);
    let category = if text("category").as_deref() == Some("sip") {
        "sip"
    } else {
        "forms"
    };
    s.insert_unsorted(Unsorted {
        uid: uid.clone(),
        category,
        source_uid: text("source_uid").unwrap_or_else(|| uid.clone()),
        source_name: text("source_name").unwrap_or_else(|| "leads/complex".into()),
        pipeline_id,
        created_at: now,
        metadata: Value::Object(meta),
        contact_ids: contact.into_iter().collect(),
        lead_ids: vec![lead],
        company_ids: company.into_iter().collect(),
        state: UnsortedState::Pending,
        processed_at: None,
        phone_key: None,
    });
}

/// `_embedded.metadata`: an object, and the lead's pipeline must have an Unsorted stage.
fn metadata(s: &CrmState, item: &mut Item, obj: &Map<String, Value>) -> Option<Map<String, Value>> {
    let meta = match obj.get("_embedded").and_then(|e| e.get("metadata")) {
        None | Some(Value::Null) => return None,
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            item.fail("_embedded.metadata", "InvalidType", "must be an object");
            return None;
        }
    };
    let pipeline = obj
        .get("pipeline_id")
        .and_then(Value::as_u64)
        .and_then(|p| s.pipeline(p))
        .or_else(|| s.main_pipeline());
    if pipeline.is_some_and(|p| p.unsorted_status().is_none()) {
        item.fail(
            "_embedded.metadata",
            "NotSupportedChoice",
            "the lead's pipeline has no Unsorted stage (is_unsorted_on is false)",
        );
    }
    Some(meta)
}

/// `_embedded.<what>` of an item: at most one object, `{id}` for an existing visible entity,
/// else a new one read by `read`.
fn side<T>(
    s: &CrmState,
    item: &mut Item,
    obj: &Map<String, Value>,
    what: &str,
    i: usize,
    read: impl Fn(&CrmState, &mut Item) -> T,
) -> Side<T> {
    let list = match obj.get("_embedded").and_then(|e| e.get(what)) {
        None | Some(Value::Null) => return Side::None,
        Some(Value::Array(list)) => list,
        Some(_) => {
            item.fail(
                &format!("_embedded.{what}"),
                "InvalidType",
                "must be an array",
            );
            return Side::None;
        }
    };
    let one = match list.as_slice() {
        [] => return Side::None,
        [Value::Object(o)] => o,
        [_] => {
            item.fail(
                &format!("_embedded.{what}.0"),
                "InvalidType",
                "must be an object",
            );
            return Side::None;
        }
        _ => {
            item.fail(
                &format!("_embedded.{what}"),
                "NotSupportedChoice",
                format!("leads/complex takes at most one of {what} per lead"),
            );
            return Side::None;
        }
    };
    if let Some(id) = one.get("id") {
        let kind = EntityKind::parse(what).unwrap_or(EntityKind::Contacts);
        return match id.as_u64().filter(|id| s.visible(kind, *id)) {
            Some(id) => Side::Existing(id),
            None => {
                item.fail(
                    &format!("_embedded.{what}.0.id"),
                    "NotSupportedChoice",
                    format!("{what} {id} does not exist"),
                );
                Side::None
            }
        };
    }
    let mut sub = Item {
        obj: one,
        index: i,
        prefix: format!("_embedded.{what}.0."),
        errs: &mut *item.errs,
    };
    Side::New(read(s, &mut sub))
}
