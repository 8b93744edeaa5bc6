//! Leads: list with filters, get, create, `leads/complex`, update (close), link to contacts.

use serde_json::json;

use super::contacts;
use super::{Ctx, Item, MAX_BATCH, list_reply, paginate, update_id, update_items, updated_reply};
use crate::sim::mock::fields::FieldValues;
use crate::sim::mock::filters::{COMMON, Filter, Order};
use crate::sim::mock::render;
use crate::sim::mock::reply::Reply;
use crate::sim::mock::state::{CrmState, EntityKind, Lead, SearchMode};
use crate::sim::mock::tags;

/// The lead list's filters and orders beyond the common ones.
const LEAD_FILTERS: [&str; 4] = [
    "filter[pipeline_id]",
    "filter[statuses]",
    "filter[price]",
    "filter[closed_at]",
];

/// `with` values of leads: `contacts` (embedded when asked); `companies` and `tags`, which are
/// embedded anyway (a Python client sends `with=companies,leads,tags` on every read); and
/// `loss_reason`, `catalog_elements` and `is_price_modified_by_robot`, whose parts an account
/// without loss reasons, catalogs or robots has empty (each present when asked).
pub(crate) const LEAD_WITH: [&str; 6] = [
    "contacts",
    "companies",
    "tags",
    "loss_reason",
    "catalog_elements",
    "is_price_modified_by_robot",
];

/// `GET /api/v4/leads`: `query`, the documented filters and orders, `with` ([`LEAD_WITH`]).
pub(crate) fn list(s: &CrmState, ctx: &Ctx) -> Reply {
    let q = &ctx.query;
    let taken: Vec<&str> = COMMON.iter().chain(&LEAD_FILTERS).copied().collect();
    let (page, limit) = match q.list_params(&taken, &LEAD_WITH) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let parsed = (|| {
        Ok::<_, Reply>((
            Filter::parse(q, &taken)?.modified_since(ctx.modified_since),
            Order::parse(q, &taken)?,
            q.ids("filter[id]")?,
            q.ids("filter[pipeline_id]")?,
            q.status_filters()?,
        ))
    })();
    let (filter, order, ids, pipelines, statuses) = match parsed {
        Ok(p) => p,
        Err(r) => return r,
    };
    let query = q
        .get("query")
        .map(str::to_lowercase)
        .filter(|s| !s.is_empty());
    // With `filter[id]` only those leads are looked at (the engine asks for a contact's few).
    let candidates: Box<dyn Iterator<Item = &Lead>> = if ids.is_empty() {
        Box::new(s.leads.values())
    } else {
        let mut wanted = ids;
        wanted.sort_unstable();
        wanted.dedup();
        Box::new(wanted.into_iter().filter_map(|id| s.leads.get(&id)))
    };
    let mut found: Vec<&Lead> = candidates
        .filter(|l| pipelines.is_empty() || pipelines.contains(&l.pipeline_id))
        .filter(|l| {
            statuses.is_empty()
                || statuses.iter().any(|(p, st)| {
                    p.is_none_or(|p| p == l.pipeline_id) && st.is_none_or(|st| st == l.status_id)
                })
        })
        .filter(|l| query.as_ref().is_none_or(|qq| lead_matches(s, l, qq)))
        .filter(|l| filter.matches(&s.lead_facts(l)))
        .collect();
    if let Some(o) = order {
        o.sort(&mut found, |l| s.lead_facts(l));
    }
    let with_contacts = q.with("contacts");
    let (page_items, more) = paginate(found, page, limit);
    let items = page_items
        .into_iter()
        .map(|l| with_parts(render::lead(ctx.base, s, l, with_contacts), ctx))
        .collect();
    list_reply(ctx, "leads", "leads", items, page, more)
}

/// A leads `query`: the lead's name, id or field values, or a linked visible contact's text
/// (a leads query is reported to find leads by their contact's phone: amocrm/amocrm-api-php
/// issue 303).
fn lead_matches(s: &CrmState, l: &Lead, q: &str) -> bool {
    l.name.to_lowercase().contains(q)
        || l.id.to_string() == q
        || contacts::field_texts(&l.fields).any(|t| t.to_lowercase().contains(q))
        || s.contacts_of_lead(l.id)
            .iter()
            .filter_map(|c| s.visible_contact(*c))
            .any(|c| contacts::full_text_match(c, q, s.search == SearchMode::Lenient))
}

pub(crate) fn get(s: &CrmState, ctx: &Ctx, id: u64) -> Reply {
    if let Err(r) = ctx.query.only(&[], &LEAD_WITH) {
        return r;
    }
    match s.api_lead(id) {
        Some(l) => Reply::ok(with_parts(
            render::lead(ctx.base, s, l, ctx.query.with("contacts")),
            ctx,
        )),
        None => Reply::no_content(),
    }
}

/// A lead read from a create body, validated.
pub(crate) struct NewLead {
    name: String,
    price: u64,
    pub(crate) pipeline_id: u64,
    pub(crate) status_id: u64,
    pub(crate) responsible: Option<u64>,
    pub(crate) contacts: Vec<u64>,
    pub(crate) company: Option<u64>,
    fields: Vec<FieldValues>,
    created_at: Option<i64>,
    pub(crate) request_id: Option<String>,
    /// Inside a pending Unsorted item (`leads/complex` with `_embedded.metadata`).
    pub(crate) hidden: bool,
}

/// Reads pipeline and status: both checked, the status defaults to the first normal stage.
fn placement(s: &CrmState, item: &mut Item) -> Option<(u64, u64)> {
    let pipeline_id = item.opt_u64("pipeline_id");
    let status_id = item.opt_u64("status_id");
    let pipeline = match pipeline_id {
        Some(id) => match s.pipeline(id) {
            Some(p) => p,
            None => {
                item.fail(
                    "pipeline_id",
                    "NotSupportedChoice",
                    format!("pipeline {id} does not exist"),
                );
                return None;
            }
        },
        None => {
            match status_id.and_then(|st| s.pipelines.iter().find(|p| p.status(st).is_some())) {
                Some(p) => p,
                None => s.main_pipeline()?,
            }
        }
    };
    let status = match status_id {
        Some(st) => match pipeline.status(st) {
            Some(found) if found.unsorted => {
                item.fail("status_id", "NotSupportedChoice", format!("status {st} is the Unsorted stage; leads get there only through /api/v4/leads/unsorted"));
                return None;
            }
            Some(_) => st,
            None => {
                item.fail(
                    "status_id",
                    "NotSupportedChoice",
                    format!("status {st} is not in pipeline {}", pipeline.id),
                );
                return None;
            }
        },
        None => pipeline.first_normal()?,
    };
    Some((pipeline.id, status))
}

pub(crate) fn read_new(s: &CrmState, item: &mut Item) -> Option<NewLead> {
    if item.obj.contains_key("id") {
        item.fail("id", "NotSupported", "a new lead cannot carry an id");
    }
    let name = item.opt_str("name").unwrap_or_default();
    let price = item.opt_u64("price").unwrap_or(0);
    let responsible = item.user(s, "responsible_user_id");
    let created_at = item.opt_i64("created_at");
    let placed = placement(s, item);
    let request_id = item.request_id();
    let fields = item.custom_fields(s, EntityKind::Leads).unwrap_or_default();
    Some(NewLead {
        name,
        price,
        pipeline_id: placed?.0,
        status_id: placed?.1,
        responsible,
        contacts: Vec::new(),
        company: None,
        fields,
        hidden: false,
        created_at,
        request_id,
    })
}

pub(crate) fn insert(s: &mut CrmState, l: NewLead, now: i64) -> u64 {
    let default_user = s.users.keys().next().copied().unwrap_or(0);
    let created = l.created_at.unwrap_or(now);
    let id = s.insert_lead(
        None,
        Lead {
            id: 0,
            name: l.name,
            price: l.price,
            pipeline_id: l.pipeline_id,
            status_id: l.status_id,
            responsible_user_id: l.responsible.unwrap_or(default_user),
            created_at: created,
            updated_at: created,
            closed_at: None,
            visible: !l.hidden,
            fields: l.fields,
            created_by: 0,
        },
    );
    for c in l.contacts {
        s.link(id, c);
    }
    if let Some(company) = l.company {
        s.set_company(EntityKind::Leads, id, company);
    }
    if let Some(lead) = s.leads.get(&id) {
        let (p, st) = (lead.pipeline_id, lead.status_id);
        s.set_lead_status(id, p, st, created);
    }
    id
}

/// The parts of `with` values that need no data of the mock's: present when asked.
pub(crate) fn with_parts(mut lead: serde_json::Value, ctx: &Ctx) -> serde_json::Value {
    if ctx.query.with("is_price_modified_by_robot") {
        lead["is_price_modified_by_robot"] = json!(false);
    }
    for part in ["loss_reason", "catalog_elements"] {
        if ctx.query.with(part) {
            lead["_embedded"][part] = json!([]);
        }
    }
    lead
}

/// `_embedded.contacts` of a new lead, the one marked `is_main` first (amoCRM shows the first
/// linked contact as the main one; the official PHP library sends `is_main` on each,
/// `Models/ContactModel.php:746-756`).
fn main_first(item: &Item, mut contacts: Vec<u64>) -> Vec<u64> {
    let main = item
        .obj
        .get("_embedded")
        .and_then(|e| e.get("contacts"))
        .and_then(serde_json::Value::as_array)
        .and_then(|list| {
            list.iter()
                .find(|c| c.get("is_main") == Some(&json!(true)))
                .and_then(|c| c.get("id").and_then(serde_json::Value::as_u64))
        });
    if let Some(i) = main.and_then(|m| contacts.iter().position(|c| *c == m)) {
        let m = contacts.remove(i);
        contacts.insert(0, m);
    }
    contacts
}

/// `POST /api/v4/leads`.
pub(crate) fn create(s: &mut CrmState, ctx: &Ctx) -> Reply {
    let items = match ctx.batch(MAX_BATCH) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let mut errs = Vec::new();
    let mut news = Vec::new();
    for (i, obj) in items.iter().enumerate() {
        let mut item = Item::new(obj, i, &mut errs);
        let contacts = item.embedded_ids("contacts");
        for (j, c) in contacts.iter().enumerate() {
            if s.visible_contact(*c).is_none() {
                item.fail(
                    &format!("_embedded.contacts.{j}.id"),
                    "NotSupportedChoice",
                    format!("contact {c} does not exist"),
                );
            }
        }
        let company = item.company(s);
        let contacts = main_first(&item, contacts);
        let tags = tags::read_change(&mut item, &s.tags, EntityKind::Leads);
        if let Some(mut l) = read_new(s, &mut item) {
            l.contacts = contacts;
            l.company = company;
            news.push((l, tags));
        }
    }
    if !errs.is_empty() {
        return Reply::invalid(errs);
    }
    let mut out = Vec::new();
    for (i, (l, tags)) in news.into_iter().enumerate() {
        let rid = l.request_id.clone().unwrap_or_else(|| i.to_string());
        let id = insert(s, l, ctx.now);
        s.tags.apply(EntityKind::Leads, id, &tags);
        let mut r = render::id_ref(ctx.base, "leads", id);
        r["request_id"] = json!(rid);
        out.push(r);
    }
    Reply::ok(json!({ "_links": { "self": ctx.href("leads") }, "_embedded": { "leads": out } }))
}

/// `PATCH /api/v4/leads` and `PATCH /api/v4/leads/{id}`: name, price, stage, responsible.
pub(crate) fn update(s: &mut CrmState, ctx: &Ctx, path_id: Option<u64>) -> Reply {
    let items = match update_items(ctx, path_id) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let mut errs = Vec::new();
    let mut changes = Vec::new();
    for (i, obj) in items.iter().enumerate() {
        let mut item = Item::new(obj, i, &mut errs);
        let id = update_id(&mut item, path_id);
        let lead = id.and_then(|id| s.visible_lead(id));
        if id.is_some() && lead.is_none() {
            item.fail(
                "id",
                "NotSupportedChoice",
                format!("lead {} does not exist", id.unwrap_or(0)),
            );
        }
        let name = item.opt_str("name");
        let price = item.opt_u64("price");
        let responsible = item.user(s, "responsible_user_id");
        let fields = item.custom_fields(s, EntityKind::Leads);
        let pipeline_id = item.opt_u64("pipeline_id").or(lead.map(|l| l.pipeline_id));
        let status_id = item.opt_u64("status_id");
        let placed = match (pipeline_id, lead) {
            (Some(p), Some(lead)) => update_placement(s, &mut item, p, status_id, lead),
            _ => None,
        };
        let change = LeadChange {
            name,
            price,
            responsible,
            placed,
            fields,
        };
        let tags = tags::read_change(&mut item, &s.tags, EntityKind::Leads);
        changes.push((id, change, tags, item.request_id()));
    }
    if !errs.is_empty() {
        return Reply::invalid(errs);
    }
    let mut done = Vec::new();
    for (id, change, tags, rid) in changes {
        let Some(id) = id else { continue };
        apply(s, id, change, ctx.now);
        s.tags.apply(EntityKind::Leads, id, &tags);
        done.push((id, rid));
    }
    updated_reply(ctx, "leads", done, path_id)
}

/// Where an updated lead goes: pipeline `p` at the stage asked (else its own stage there, else
/// the pipeline's first); never into the Unsorted stage.
fn update_placement(
    s: &CrmState,
    item: &mut Item,
    p: u64,
    status_id: Option<u64>,
    lead: &Lead,
) -> Option<(u64, u64)> {
    let Some(pipe) = s.pipeline(p) else {
        item.fail(
            "pipeline_id",
            "NotSupportedChoice",
            format!("pipeline {p} does not exist"),
        );
        return None;
    };
    let st = status_id
        .or_else(|| (lead.pipeline_id == p).then_some(lead.status_id))
        .or_else(|| pipe.first_normal());
    match st.and_then(|st| pipe.status(st)) {
        Some(found) if found.unsorted => {
            item.fail(
                "status_id",
                "NotSupportedChoice",
                "a lead cannot be moved into the Unsorted stage",
            );
            None
        }
        Some(found) => Some((p, found.id)),
        None => {
            item.fail(
                "status_id",
                "NotSupportedChoice",
                format!("status {} is not in pipeline {p}", st.unwrap_or(0)),
            );
            None
        }
    }
}

/// What one update item changes; `None` leaves a field as it is.
struct LeadChange {
    name: Option<String>,
    price: Option<u64>,
    responsible: Option<u64>,
    placed: Option<(u64, u64)>,
    fields: Option<Vec<FieldValues>>,
}

fn apply(s: &mut CrmState, id: u64, change: LeadChange, now: i64) {
    if let Some((p, st)) = change.placed {
        let moved = s
            .leads
            .get(&id)
            .is_some_and(|l| l.pipeline_id != p || l.status_id != st);
        if moved {
            s.set_lead_status(id, p, st, now);
        }
    }
    if let Some(l) = s.leads.get_mut(&id) {
        if let Some(n) = change.name {
            l.name = n;
        }
        if let Some(p) = change.price {
            l.price = p;
        }
        if let Some(u) = change.responsible {
            l.responsible_user_id = u;
        }
        if let Some(f) = change.fields {
            crate::sim::mock::fields::merge(&mut l.fields, f);
        }
        l.updated_at = now;
    }
}
