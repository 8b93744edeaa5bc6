//! Companies («компании»): list and search, get, create, update.
//!
//! Source: amoCRM API v4 «Компании» (companies-api): the same list, get, add and edit methods
//! and `custom_fields_values` as contacts; a contact or a lead belongs to at most one company.

use serde_json::json;

use super::{
    Ctx, Item, MAX_BATCH, list_reply, paginate, read_batch, update_id, update_items, updated_reply,
};
use crate::sim::mock::fields::FieldValues;
use crate::sim::mock::filters::{COMMON, Filter, Order};
use crate::sim::mock::render;
use crate::sim::mock::reply::Reply;
use crate::sim::mock::state::{Company, CrmState, EntityKind};
use crate::sim::mock::tags;

/// `GET /api/v4/companies`: `query` (name or phone text), the documented filters and orders,
/// `with=contacts,leads`.
pub(crate) fn list(s: &CrmState, ctx: &Ctx) -> Reply {
    let (page, limit) = match ctx.query.list_params(&COMMON, &COMPANY_WITH) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (filter, order) = match Filter::parse(&ctx.query, &COMMON)
        .map(|f| f.modified_since(ctx.modified_since))
        .and_then(|f| Ok((f, Order::parse(&ctx.query, &COMMON)?)))
    {
        Ok(p) => p,
        Err(r) => return r,
    };
    let query = ctx
        .query
        .get("query")
        .map(|q| q.trim().to_lowercase())
        .filter(|q| !q.is_empty());
    let mut found: Vec<&Company> = s
        .companies
        .values()
        .filter(|c| c.visible && filter.matches(&s.company_facts(c)))
        .filter(|c| query.as_deref().is_none_or(|q| matches(c, q)))
        .collect();
    if let Some(o) = order {
        o.sort(&mut found, |c| s.company_facts(c));
    }
    let (page_items, more) = paginate(found, page, limit);
    let items = page_items
        .into_iter()
        .map(|c| render::company(ctx.base, s, c, &ctx.query))
        .collect();
    list_reply(ctx, "companies", "companies", items, page, more)
}

/// Name or a phone holding the query as text, or a phone's digits holding its digits.
fn matches(c: &Company, q: &str) -> bool {
    let digits: String = q.chars().filter(char::is_ascii_digit).collect();
    c.name.to_lowercase().contains(q)
        || c.phones.iter().any(|p| {
            p.to_lowercase().contains(q)
                || (!digits.is_empty()
                    && p.chars()
                        .filter(char::is_ascii_digit)
                        .collect::<String>()
                        .contains(&digits))
        })
}

pub(crate) fn get(s: &CrmState, ctx: &Ctx, id: u64) -> Reply {
    if let Err(r) = ctx.query.only(&[], &COMPANY_WITH) {
        return r;
    }
    match s.visible_company(id) {
        Some(c) => Reply::ok(render::company(ctx.base, s, c, &ctx.query)),
        None => Reply::no_content(),
    }
}

/// A company read from a create body, validated.
pub(crate) struct NewCompany {
    pub(crate) name: String,
    pub(crate) responsible: Option<u64>,
    pub(crate) fields: Vec<FieldValues>,
    pub(crate) created_at: Option<i64>,
    pub(crate) request_id: Option<String>,
}

pub(crate) fn read_new(s: &CrmState, item: &mut Item) -> NewCompany {
    if item.obj.contains_key("id") {
        item.fail("id", "NotSupported", "a new company cannot carry an id");
    }
    NewCompany {
        name: item.opt_str("name").unwrap_or_default(),
        responsible: item.user(s, "responsible_user_id"),
        fields: item
            .custom_fields(s, EntityKind::Companies)
            .unwrap_or_default(),
        created_at: item.opt_i64("created_at"),
        request_id: item.request_id(),
    }
}

pub(crate) fn insert(
    s: &mut CrmState,
    c: NewCompany,
    default_user: u64,
    now: i64,
    visible: bool,
) -> u64 {
    let created = c.created_at.unwrap_or(now);
    s.insert_company(Company {
        id: 0,
        name: c.name,
        responsible_user_id: c.responsible.unwrap_or(default_user),
        phones: Vec::new(),
        fields: c.fields,
        created_at: created,
        updated_at: created,
        visible,
    })
}

/// `with` values of companies: `contacts` and `leads` (embedded when asked); `tags`, embedded
/// anyway.
const COMPANY_WITH: [&str; 3] = ["contacts", "leads", "tags"];

/// `POST /api/v4/companies`.
pub(crate) fn create(s: &mut CrmState, ctx: &Ctx) -> Reply {
    let news = match read_batch(ctx, MAX_BATCH, |item| {
        let tags = tags::read_change(item, &s.tags, EntityKind::Companies);
        Some((read_new(s, item), tags))
    }) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let default_user = s.users.keys().next().copied().unwrap_or(0);
    let out: Vec<_> = news
        .into_iter()
        .enumerate()
        .map(|(i, (c, tags))| {
            let rid = c.request_id.clone().unwrap_or_else(|| i.to_string());
            let id = insert(s, c, default_user, ctx.now, true);
            s.tags.apply(EntityKind::Companies, id, &tags);
            let mut r = render::id_ref(ctx.base, "companies", id);
            r["request_id"] = json!(rid);
            r
        })
        .collect();
    Reply::ok(
        json!({ "_links": { "self": ctx.href("companies") }, "_embedded": { "companies": out } }),
    )
}

/// `PATCH /api/v4/companies` and `PATCH /api/v4/companies/{id}`.
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
        if let Some(id) = id.filter(|id| s.visible_company(*id).is_none()) {
            item.fail(
                "id",
                "NotSupportedChoice",
                format!("company {id} does not exist"),
            );
        }
        let name = item.opt_str("name");
        let responsible = item.user(s, "responsible_user_id");
        let fields = item.custom_fields(s, EntityKind::Companies);
        let tags = tags::read_change(&mut item, &s.tags, EntityKind::Companies);
        changes.push((id, name, responsible, fields, tags, item.request_id()));
    }
    if !errs.is_empty() {
        return Reply::invalid(errs);
    }
    let mut done = Vec::new();
    for (id, name, responsible, fields, tags, rid) in changes {
        let Some(id) = id else { continue };
        s.tags.apply(EntityKind::Companies, id, &tags);
        if let Some(f) = fields {
            s.set_company_fields(id, f);
        }
        if let Some(c) = s.companies.get_mut(&id) {
            if let Some(n) = name {
                c.name = n;
            }
            if let Some(u) = responsible {
                c.responsible_user_id = u;
            }
            c.updated_at = ctx.now;
        }
        done.push((id, rid));
    }
    updated_reply(ctx, "companies", done, path_id)
}
