//! Unsorted («Неразобранное»), categories sip and forms: create, list, get, accept, decline,
//! summary.

use crate::sim::mock::filters::{Facts, Filter};
use serde_json::{Map, Value, json};

use super::companies::{self, NewCompany};
use super::contacts::{self, NewContact};
use super::{Ctx, Item, MAX_BATCH, list_reply, paginate};
use crate::phone::digits_key;
use crate::sim::mock::render;
use crate::sim::mock::reply::Reply;
use crate::sim::mock::state::EntityKind;
use crate::sim::mock::state::{CrmState, Lead, Note, Unsorted, UnsortedState};

/// The kind of an Unsorted item («категория»).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Category {
    Sip,
    Forms,
}

impl Category {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Category::Sip => "sip",
            Category::Forms => "forms",
        }
    }
}

struct NewItem {
    /// Its `source_uid` is already taken.
    repeated: bool,
    company: Option<NewCompany>,
    source_uid: String,
    source_name: String,
    pipeline_id: u64,
    status_id: u64,
    created_at: Option<i64>,
    metadata: Value,
    responsible: Option<u64>,
    contact: Option<NewContact>,
    /// The lead's name and price.
    lead: Option<(String, u64)>,
    request_id: Option<String>,
}

fn embedded_one<'a>(
    item: &mut Item,
    obj: &'a Map<String, Value>,
    what: &str,
) -> Option<&'a Map<String, Value>> {
    match obj.get("_embedded").and_then(|e| e.get(what)) {
        None => None,
        Some(Value::Array(list)) if list.len() <= 1 => match list.first() {
            None => None,
            Some(Value::Object(o)) => Some(o),
            Some(_) => {
                item.fail(
                    &format!("_embedded.{what}.0"),
                    "InvalidType",
                    "must be an object",
                );
                None
            }
        },
        Some(Value::Array(_)) => {
            item.fail(
                &format!("_embedded.{what}"),
                "NotSupportedChoice",
                format!("an Unsorted item holds at most one of {what}"),
            );
            None
        }
        Some(_) => {
            item.fail(
                &format!("_embedded.{what}"),
                "InvalidType",
                "must be an array",
            );
            None
        }
    }
}

/// `POST /api/v4/leads/unsorted/sip` and `POST /api/v4/leads/unsorted/forms` (`category`).
pub(crate) fn create(s: &mut CrmState, ctx: &Ctx, category: Category) -> Reply {
    let items = match ctx.batch(MAX_BATCH) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let mut errs = Vec::new();
    let mut news = Vec::new();
    let mut seen_uids: Vec<String> = Vec::new();
    let mut repeated = None;
    for (i, obj) in items.iter().enumerate() {
        let item = read_sip(s, obj, i, &mut errs, &mut seen_uids, category);
        if let Some(n) = item {
            if repeated.is_none() && n.repeated {
                repeated = Some(n.source_uid.clone());
            }
            news.push(n);
        }
    }
    if !errs.is_empty() {
        return Reply::invalid(errs);
    }
    // amoCRM: "2 identical entities cannot be in Unsorted" gives an error whose code is not
    // documented: a plain 400 without a validation code, so no client comes to depend on one.
    if let Some(uid) = repeated {
        return Reply::problem(
            400,
            format!("an Unsorted item with source_uid {uid:?} already exists"),
        );
    }
    let default_user = s.users.keys().next().copied().unwrap_or(0);
    let out: Vec<Value> = news
        .into_iter()
        .enumerate()
        .map(|(i, n)| insert_sip(s, ctx, i, n, default_user, category))
        .collect();
    Reply::ok(json!({
        "_total_items": out.len(),
        "_page": 1,
        "_page_count": 1,
        "_links": { "self": ctx.href(&format!("leads/unsorted/{}", category.as_str())) },
        "_embedded": { "unsorted": out },
    }))
}

/// One item of the batch, checked; its errors go to `errs`.
fn read_sip(
    s: &CrmState,
    obj: &Map<String, Value>,
    i: usize,
    errs: &mut Vec<crate::sim::mock::reply::Invalid>,
    seen_uids: &mut Vec<String>,
    category: Category,
) -> Option<NewItem> {
    let mut item = Item::new(obj, i, errs);
    let source_uid = item.req_str("source_uid");
    let source_name = item.req_str("source_name");
    let repeated = source_uid.as_ref().is_some_and(|uid| {
        // A forms item may reuse a sip item's `source_uid` (the PHP library's
        // `examples/unsorted_actions.php:70`, `:118` do; UNCONFIRMED) unless the mock is told
        // that amoCRM refuses it across categories.
        let same_scope =
            |u: &&Unsorted| s.source_uid_across_categories || u.category == category.as_str();
        let taken = s
            .unsorted
            .values()
            .filter(same_scope)
            .any(|u| &u.source_uid == uid)
            || seen_uids.contains(uid);
        seen_uids.push(uid.clone());
        taken
    });
    let created_at = item.opt_i64("created_at");
    let metadata = sip_metadata(&mut item);
    let responsible = call_responsible(s, &mut item, metadata.as_ref());
    let placed = placement(s, &mut item);
    let contact = embedded_one(&mut item, obj, "contacts").map(|c| {
        let mut sub = Item {
            obj: c,
            index: i,
            prefix: "_embedded.contacts.0.".into(),
            errs: &mut *item.errs,
        };
        contacts::read_new(s, &mut sub)
    });
    let company = embedded_one(&mut item, obj, "companies").map(|c| {
        let mut sub = Item {
            obj: c,
            index: i,
            prefix: "_embedded.companies.0.".into(),
            errs: &mut *item.errs,
        };
        companies::read_new(s, &mut sub)
    });
    let lead = embedded_one(&mut item, obj, "leads").map(|l| {
        let mut sub = Item {
            obj: l,
            index: i,
            prefix: "_embedded.leads.0.".into(),
            errs: &mut *item.errs,
        };
        let name = sub.opt_str("name").unwrap_or_default();
        (name, sub.opt_u64("price").unwrap_or(0))
    });
    let request_id = item.request_id();
    let (Some(source_uid), Some(source_name), Some(metadata), Some((pipeline_id, status_id))) =
        (source_uid, source_name, metadata, placed)
    else {
        return None;
    };
    Some(NewItem {
        repeated,
        company,
        source_uid,
        source_name,
        pipeline_id,
        status_id,
        created_at,
        metadata,
        responsible,
        contact,
        lead,
        request_id,
    })
}

/// `metadata`, optional: amoCRM requires only `source_uid` and `source_name` of a sip item
/// (API docs «Неразобранное», «Добавление неразобранного»: no metadata field is required; the
/// official PHP library's `SipMetadata::toApi` sends `from`, `link` and `call_responsible` as
/// null when unset).
fn sip_metadata(item: &mut Item) -> Option<Value> {
    item.opt_object("metadata")
        .map(|m| Value::Object(m.clone()))
}

/// `metadata.call_responsible`: amoCRM takes a user id, a phone number or a name (API docs
/// «Неразобранное», metadata of category sip). An id must be a user of the account; a name
/// that is a user's name picks that user; a phone or another name is kept as written and the
/// item goes to the default user.
fn call_responsible(s: &CrmState, item: &mut Item, metadata: Option<&Value>) -> Option<u64> {
    match metadata.and_then(|m| m.get("call_responsible")) {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => s.users.values().find(|u| u.name == *name).map(|u| u.id),
        Some(v) => match v.as_u64() {
            Some(u) if s.users.contains_key(&u) => Some(u),
            _ => {
                item.fail(
                    "metadata.call_responsible",
                    "NotSupportedChoice",
                    format!("user {v} does not exist in this account"),
                );
                None
            }
        },
    }
}

/// The pipeline (given, else the main one) and its Unsorted stage.
fn placement(s: &CrmState, item: &mut Item) -> Option<(u64, u64)> {
    let pipeline = match item.opt_u64("pipeline_id") {
        Some(id) => s.pipeline(id).or_else(|| {
            item.fail(
                "pipeline_id",
                "NotSupportedChoice",
                format!("pipeline {id} does not exist"),
            );
            None
        }),
        None => s.main_pipeline(),
    };
    pipeline.and_then(|p| match p.unsorted_status() {
        Some(st) => Some((p.id, st)),
        None => {
            item.fail(
                "pipeline_id",
                "NotSupportedChoice",
                format!(
                    "pipeline {} has no Unsorted stage (is_unsorted_on is false)",
                    p.id
                ),
            );
            None
        }
    })
}

/// `metadata.is_call_event_needed: true` adds the call to the lead's card (API docs,
/// «Неразобранное», sip metadata: «нужно ли добавлять событие звонка»). With the account's
/// `unsorted_call_events` on it is a `call_in` note made from the metadata, so a client that
/// also writes its own call note makes two; whether amoCRM lists it as a note is not
/// documented, so it is a switch.
fn call_event(s: &mut CrmState, metadata: &Value, lead_id: u64, responsible: u64, at: i64) {
    if !s.unsorted_call_events || metadata.get("is_call_event_needed") != Some(&Value::Bool(true)) {
        return;
    }
    let pick = |k: &str| metadata.get(k).cloned().unwrap_or(Value::Null);
    s.insert_note(Note {
        id: 0,
        entity_type: EntityKind::Leads,
        entity_id: lead_id,
        note_type: "call_in".into(),
        params: json!({
            "uniq": pick("uniq"),
            "duration": pick("duration"),
            "source": pick("service_code"),
            "link": pick("link"),
            "phone": pick("phone"),
        }),
        responsible_user_id: responsible,
        created_at: at,
    });
}

/// The item's lead, in the pipeline's Unsorted stage, hidden until the item is accepted.
fn hidden_lead(s: &mut CrmState, n: &NewItem, responsible: u64, created: i64) -> u64 {
    let (name, price) = n.lead.clone().unwrap_or_default();
    s.insert_lead(
        None,
        Lead {
            id: 0,
            name,
            price,
            pipeline_id: n.pipeline_id,
            status_id: n.status_id,
            responsible_user_id: responsible,
            created_at: created,
            updated_at: created,
            closed_at: None,
            visible: false,
            fields: Vec::new(),
            created_by: 0,
        },
    )
}

/// Creates the item with its hidden contact, company and lead; answers its entry of the reply.
fn insert_sip(
    s: &mut CrmState,
    ctx: &Ctx,
    i: usize,
    n: NewItem,
    default_user: u64,
    category: Category,
) -> Value {
    let created = n.created_at.unwrap_or(ctx.now);
    let responsible = n.responsible.unwrap_or(default_user);
    let phone_key = n
        .contact
        .as_ref()
        .and_then(|c| {
            s.fields
                .phones_in(EntityKind::Contacts, &c.fields)
                .first()
                .cloned()
        })
        .and_then(|p| digits_key(&p))
        .or_else(|| {
            n.metadata
                .get("phone")
                .and_then(|p| digits_key(&p.to_string()))
        });
    let lead_id = hidden_lead(s, &n, responsible, created);
    let contact_ids: Vec<u64> = n
        .contact
        .map(|mut c| {
            c.responsible = c.responsible.or(Some(responsible));
            contacts::insert(s, c, default_user, created, false)
        })
        .into_iter()
        .collect();
    let company_ids: Vec<u64> = n
        .company
        .map(|mut c| {
            c.responsible = c.responsible.or(Some(responsible));
            companies::insert(s, c, default_user, created, false)
        })
        .into_iter()
        .collect();
    for c in &contact_ids {
        s.link(lead_id, *c);
        for co in &company_ids {
            s.set_company(EntityKind::Contacts, *c, *co);
        }
    }
    for co in &company_ids {
        s.set_company(EntityKind::Leads, lead_id, *co);
    }
    call_event(s, &n.metadata, lead_id, responsible, created);
    let uid = s.next_unsorted_uid();
    s.insert_unsorted(Unsorted {
        uid: uid.clone(),
        category: category.as_str(),
        source_uid: n.source_uid,
        source_name: n.source_name,
        pipeline_id: n.pipeline_id,
        created_at: created,
        metadata: n.metadata,
        contact_ids: contact_ids.clone(),
        lead_ids: vec![lead_id],
        company_ids: company_ids.clone(),
        state: UnsortedState::Pending,
        processed_at: None,
        phone_key,
    });
    let refs = |kind: &str, ids: &[u64]| -> Vec<Value> {
        ids.iter()
            .map(|id| render::id_ref(ctx.base, kind, *id))
            .collect()
    };
    json!({
        "uid": uid,
        "account_id": s.account_id,
        "request_id": n.request_id.unwrap_or_else(|| i.to_string()),
        "_links": { "self": ctx.href(&format!("leads/unsorted/{uid}")) },
        "_embedded": {
            "contacts": refs("contacts", &contact_ids),
            "leads": refs("leads", &[lead_id]),
            "companies": refs("companies", &company_ids),
        },
    })
}

/// `GET /api/v4/leads/unsorted`: pending items only.
pub(crate) fn list(s: &CrmState, ctx: &Ctx) -> Reply {
    let taken = [
        "filter[uid]",
        "filter[category]",
        "filter[pipeline_id]",
        "order[created_at]",
    ];
    let (page, limit) = match ctx.query.list_params(&taken, &[]) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let uids = ctx.query.list("filter[uid]");
    let categories = ctx.query.list("filter[category]");
    let pipelines = match ctx.query.ids("filter[pipeline_id]") {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut found: Vec<&Unsorted> = s
        .unsorted_order
        .iter()
        .filter_map(|uid| s.pending_unsorted(uid))
        .filter(|u| uids.is_empty() || uids.contains(&u.uid.as_str()))
        .filter(|u| categories.is_empty() || categories.contains(&u.category))
        .filter(|u| pipelines.is_empty() || pipelines.contains(&u.pipeline_id))
        .collect();
    if ctx.query.get("order[created_at]") == Some("desc") {
        found.reverse();
    }
    let total = found.len();
    let (page_items, more) = paginate(found, page, limit);
    let items = page_items
        .into_iter()
        .map(|u| render::unsorted(ctx.base, s, u))
        .collect();
    let mut r = list_reply(ctx, "leads/unsorted", "unsorted", items, page, more);
    if let Some(b) = r.body.as_mut() {
        b["_total_items"] = json!(total);
    }
    r
}

/// `GET /api/v4/leads/unsorted/{uid}`: a pending item; an accepted or declined one too when
/// the account lists processed items (a declined item has no entities left).
pub(crate) fn get(s: &CrmState, ctx: &Ctx, uid: &str) -> Reply {
    let item = if s.list_processed_unsorted {
        s.unsorted.get(uid)
    } else {
        s.pending_unsorted(uid)
    };
    match item {
        Some(u) => Reply::ok(render::unsorted(ctx.base, s, u)),
        None => Reply::no_content(),
    }
}

fn decision_reply(s: &CrmState, ctx: &Ctx, uid: &str, contacts: &[u64], leads: &[u64]) -> Reply {
    let Some(u) = s.unsorted.get(uid) else {
        return Reply::not_found("Unsorted item not found");
    };
    Reply::ok(json!({
        "uid": u.uid,
        "pipeline_id": u.pipeline_id,
        "category": u.category,
        "created_at": u.created_at,
        "_links": { "self": ctx.href(&format!("leads/unsorted/{uid}")) },
        "_embedded": {
            "leads": leads.iter().map(|l| render::id_ref(ctx.base, "leads", *l)).collect::<Vec<_>>(),
            "contacts": contacts.iter().map(|c| render::id_ref(ctx.base, "contacts", *c)).collect::<Vec<_>>(),
            "companies": u.company_ids.iter().map(|c| render::id_ref(ctx.base, "companies", *c)).collect::<Vec<_>>(),
        },
    }))
}

/// Checks the item exists and is still pending.
fn pending<'s>(s: &'s CrmState, uid: &str) -> Result<&'s Unsorted, Reply> {
    match s.unsorted.get(uid) {
        None => Err(Reply::not_found(format!("Unsorted item {uid} not found"))),
        // amoCRM does not document this answer: a plain 400 without a validation code, so no
        // client can come to depend on one.
        Some(u) if u.state != UnsortedState::Pending => Err(Reply::problem(
            400,
            format!(
                "Unsorted item {uid} was already {}",
                if u.state == UnsortedState::Accepted {
                    "accepted"
                } else {
                    "declined"
                }
            ),
        )),
        Some(u) => Ok(u),
    }
}

/// `POST /api/v4/leads/unsorted/{uid}/accept` with optional `user_id`, `status_id`.
pub(crate) fn accept(s: &mut CrmState, ctx: &Ctx, uid: &str) -> Reply {
    let item = match pending(s, uid) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let pipeline_id = item.pipeline_id;
    let obj = match ctx.object(false) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let empty = Map::new();
    let mut errs = Vec::new();
    let mut it = Item::new(obj.unwrap_or(&empty), 0, &mut errs);
    let user = it.user(s, "user_id");
    let status = it.opt_u64("status_id");
    if let Some(st) = status {
        let ok = s
            .pipeline(pipeline_id)
            .and_then(|p| p.status(st))
            .is_some_and(|x| x.is_normal());
        if !ok {
            it.fail(
                "status_id",
                "NotSupportedChoice",
                format!("status {st} is not a normal stage of pipeline {pipeline_id}"),
            );
        }
    }
    if !errs.is_empty() {
        return Reply::invalid(errs);
    }
    s.accept_unsorted(uid, user, status, ctx.now);
    let (contacts, leads) = s
        .unsorted
        .get(uid)
        .map(|u| (u.contact_ids.clone(), u.lead_ids.clone()))
        .unwrap_or_default();
    decision_reply(s, ctx, uid, &contacts, &leads)
}

/// `DELETE /api/v4/leads/unsorted/{uid}/decline` with optional `user_id`: its contact and lead
/// are deleted for good.
pub(crate) fn decline(s: &mut CrmState, ctx: &Ctx, uid: &str) -> Reply {
    if let Err(r) = pending(s, uid) {
        return r;
    }
    let obj = match ctx.object(false) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let empty = Map::new();
    let mut errs = Vec::new();
    Item::new(obj.unwrap_or(&empty), 0, &mut errs).user(s, "user_id");
    if !errs.is_empty() {
        return Reply::invalid(errs);
    }
    let (contacts, leads) = s
        .unsorted
        .get(uid)
        .map(|u| (u.contact_ids.clone(), u.lead_ids.clone()))
        .unwrap_or_default();
    s.decline_unsorted(uid, ctx.now);
    decision_reply(s, ctx, uid, &contacts, &leads)
}

/// `GET /api/v4/leads/unsorted/summary`: items in all, accepted, declined, the mean seconds from
/// arrival to a decision, and items per category (the official PHP library's
/// `Models/Unsorted/UnsortedSummaryModel.php` reads exactly these keys). Filters:
/// `filter[created_at]` (one time or a `[from]`/`[to]` range: the library's
/// `UnsortedSummaryFilter` sends the range), `filter[pipeline_id]` and `filter[uid]`.
pub(crate) fn summary(s: &CrmState, ctx: &Ctx) -> Reply {
    const TAKEN: [&str; 3] = ["filter[created_at]", "filter[pipeline_id]", "filter[uid]"];
    if let Err(r) = ctx.query.only(&TAKEN, &[]) {
        return r;
    }
    let created = match Filter::parse(&ctx.query, &["filter[created_at]"]) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let pipelines = match ctx.query.ids("filter[pipeline_id]") {
        Ok(p) => p,
        Err(r) => return r,
    };
    let uids = ctx.query.list("filter[uid]");
    let items: Vec<&Unsorted> = s
        .unsorted
        .values()
        .filter(|u| pipelines.is_empty() || pipelines.contains(&u.pipeline_id))
        .filter(|u| uids.is_empty() || uids.contains(&u.uid.as_str()))
        .filter(|u| {
            created.matches(&Facts {
                created_at: u.created_at,
                updated_at: u.created_at,
                ..Facts::default()
            })
        })
        .collect();
    let count = |state| items.iter().filter(|u| u.state == state).count();
    let waits: Vec<i64> = items
        .iter()
        .filter_map(|u| u.processed_at.map(|t| t.saturating_sub(u.created_at)))
        .collect();
    let average = match i64::try_from(waits.len()) {
        Ok(n) if n > 0 => waits.iter().fold(0i64, |a, w| a.saturating_add(*w)) / n,
        _ => 0,
    };
    Reply::ok(json!({
        "total": items.len(),
        "accepted": count(UnsortedState::Accepted),
        "declined": count(UnsortedState::Declined),
        "average_sort_time": average,
        "categories": {
            "sip": items.iter().filter(|u| u.category == "sip").count(),
            "forms": items.iter().filter(|u| u.category == "forms").count(),
        },
    }))
}
