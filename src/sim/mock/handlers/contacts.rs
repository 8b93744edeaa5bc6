//! Contacts: search by phone (last 10 digits), get, create, update.

use serde_json::json;

use super::{
    Ctx, Item, MAX_BATCH, list_reply, paginate, read_batch, update_id, update_items, updated_reply,
};
use crate::phone::digits_key;
use crate::sim::mock::fields::FieldValues;
use crate::sim::mock::filters::{COMMON, Filter, Order};
use crate::sim::mock::render;
use crate::sim::mock::reply::Reply;
use crate::sim::mock::state::SearchMode;
use crate::sim::mock::state::{Contact, CrmState, EntityKind};
use crate::sim::mock::tags;

/// `GET /api/v4/contacts`: `query` (full text, as amoCRM: see [`full_text_match`]), the
/// documented filters and orders, `with=leads`.
pub(crate) fn list(s: &CrmState, ctx: &Ctx) -> Reply {
    let (page, limit) = match ctx.query.list_params(&COMMON, &CONTACT_WITH) {
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
        .map(str::trim)
        .filter(|q| !q.is_empty());
    let lenient = s.search == SearchMode::Lenient;
    let mut found: Vec<&Contact> = match query {
        // A query of 10 or more digits (what telephony clients send) is looked up in the
        // 10-digit index (and, lenient, in the index of phones by their last 10 digits), then
        // checked in full: the same answer as the scan below.
        Some(q) if q.len() >= 10 && q.bytes().all(|b| b.is_ascii_digit()) => {
            let mut ids: Vec<u64> = s.contacts_by_gram(&q[..10]).iter().map(|c| c.id).collect();
            if lenient {
                ids.extend(s.contacts_by_phone_key(&q[q.len() - 10..]));
            }
            ids.sort_unstable();
            ids.dedup();
            ids.iter()
                .filter_map(|id| s.contacts.get(id))
                .filter(|c| c.visible && full_text_match(c, q, lenient))
                .collect()
        }
        _ => s
            .contacts
            .values()
            .filter(|c| c.visible && query.is_none_or(|q| full_text_match(c, q, lenient)))
            .collect(),
    };
    found.retain(|c| filter.matches(&s.contact_facts(c)));
    if let Some(o) = order {
        o.sort(&mut found, |c| s.contact_facts(c));
    }
    let with_leads = ctx.query.with("leads");
    let (page_items, more) = paginate(found, page, limit);
    let items = page_items
        .into_iter()
        .map(|c| render::contact(ctx.base, s, c, with_leads))
        .collect();
    list_reply(ctx, "contacts", "contacts", items, page, more)
}

/// The text of every custom field value (PHONE, EMAIL, POSITION, a select's choice…).
pub(crate) fn field_texts(fields: &[FieldValues]) -> impl Iterator<Item = &str> {
    fields
        .iter()
        .flat_map(|f| f.values.iter())
        .filter_map(|v| v.value.as_str())
}

/// amoCRM's `query` is full-text over the filled fields and does not normalise phone notations
/// (`8…` and `+7…` are different text): the query matches a contact whose name, first or last
/// name or any custom field value (EMAIL included) contains it as text, or, for a query of digits and phone punctuation, whose phone digits
/// contain its digits. So `9161234567` finds `8 (916) 123-45-67`, `79161234567` does not.
pub(crate) fn full_text_match(c: &Contact, query: &str, lenient: bool) -> bool {
    let q = query.to_lowercase();
    let texts = [&c.name, &c.first_name, &c.last_name];
    if texts.iter().any(|t| t.to_lowercase().contains(&q))
        || field_texts(&c.fields).any(|t| t.to_lowercase().contains(&q))
    {
        return true;
    }
    let phone_like = q
        .chars()
        .all(|ch| ch.is_ascii_digit() || " +-().".contains(ch));
    let digits: String = q.chars().filter(char::is_ascii_digit).collect();
    if !phone_like || digits.is_empty() {
        return false;
    }
    // `--search lenient`: a phone query also finds other notations of the same number
    // (`89161234567` finds `+7 916 123-45-67`): compared on the last 10 digits.
    let key = lenient.then(|| digits_key(&digits)).flatten();
    c.phones.iter().any(|p| {
        let typed: String = p.chars().filter(char::is_ascii_digit).collect();
        typed.contains(&digits) || key.is_some() && digits_key(&typed) == key
    })
}

/// `with` values of contacts: `leads` (embedded when asked); `companies` and `tags`, embedded
/// anyway (a Python client sends `with=companies,leads,tags` on every contact read).
const CONTACT_WITH: [&str; 3] = ["leads", "companies", "tags"];

pub(crate) fn get(s: &CrmState, ctx: &Ctx, id: u64) -> Reply {
    if let Err(r) = ctx.query.only(&[], &CONTACT_WITH) {
        return r;
    }
    match s.visible_contact(id) {
        Some(c) => Reply::ok(render::contact(ctx.base, s, c, ctx.query.with("leads"))),
        None => Reply::no_content(),
    }
}

/// A contact read from a create body, validated.
pub(crate) struct NewContact {
    pub(crate) name: String,
    pub(crate) first_name: String,
    pub(crate) last_name: String,
    pub(crate) responsible: Option<u64>,
    pub(crate) fields: Vec<FieldValues>,
    /// `_embedded.companies[0].id`: the company it belongs to.
    pub(crate) company: Option<u64>,
    pub(crate) created_at: Option<i64>,
    pub(crate) request_id: Option<String>,
}

/// Reads the fields of a new contact; errors go into the item.
pub(crate) fn read_new(s: &CrmState, item: &mut Item) -> NewContact {
    if item.obj.contains_key("id") {
        item.fail("id", "NotSupported", "a new contact cannot carry an id");
    }
    let name = item.opt_str("name").unwrap_or_default();
    let first = item.opt_str("first_name").unwrap_or_default();
    let last = item.opt_str("last_name").unwrap_or_default();
    let name = if name.is_empty() {
        format!("{first} {last}").trim().to_string()
    } else {
        name
    };
    NewContact {
        name,
        first_name: first,
        last_name: last,
        responsible: item.user(s, "responsible_user_id"),
        fields: item
            .custom_fields(s, EntityKind::Contacts)
            .unwrap_or_default(),
        company: item.company(s),
        created_at: item.opt_i64("created_at"),
        request_id: item.request_id(),
    }
}

/// Inserts a validated contact.
pub(crate) fn insert(
    s: &mut CrmState,
    c: NewContact,
    default_user: u64,
    now: i64,
    visible: bool,
) -> u64 {
    let created = c.created_at.unwrap_or(now);
    let id = s.insert_contact(
        None,
        Contact {
            id: 0,
            name: c.name,
            first_name: c.first_name,
            last_name: c.last_name,
            responsible_user_id: c.responsible.unwrap_or(default_user),
            phones: Vec::new(),
            fields: c.fields,
            created_at: created,
            updated_at: created,
            visible,
        },
    );
    if let Some(company) = c.company {
        s.set_company(EntityKind::Contacts, id, company);
    }
    id
}

/// `POST /api/v4/contacts`.
pub(crate) fn create(s: &mut CrmState, ctx: &Ctx) -> Reply {
    let news = match read_batch(ctx, MAX_BATCH, |item| {
        let tags = tags::read_change(item, &s.tags, EntityKind::Contacts);
        Some((read_new(s, item), tags))
    }) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let default_user = s.users.keys().next().copied().unwrap_or(0);
    let mut out = Vec::new();
    for (i, (c, tags)) in news.into_iter().enumerate() {
        let rid = c.request_id.clone().unwrap_or_else(|| i.to_string());
        let id = insert(s, c, default_user, ctx.now, true);
        s.tags.apply(EntityKind::Contacts, id, &tags);
        let mut r = render::id_ref(ctx.base, "contacts", id);
        r["request_id"] = json!(rid);
        r["is_deleted"] = json!(false);
        r["is_unsorted"] = json!(false);
        out.push(r);
    }
    Reply::ok(
        json!({ "_links": { "self": ctx.href("contacts") }, "_embedded": { "contacts": out } }),
    )
}

/// `PATCH /api/v4/contacts` (batch with ids) and `PATCH /api/v4/contacts/{id}`.
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
        let exists = id.is_some_and(|id| s.visible_contact(id).is_some());
        if id.is_some() && !exists {
            item.fail(
                "id",
                "NotSupportedChoice",
                format!("contact {} does not exist", id.unwrap_or(0)),
            );
        }
        let change = ContactChange {
            name: item.opt_str("name"),
            first_name: item.opt_str("first_name"),
            last_name: item.opt_str("last_name"),
            responsible: item.user(s, "responsible_user_id"),
            fields: item.custom_fields(s, EntityKind::Contacts),
        };
        let tags = tags::read_change(&mut item, &s.tags, EntityKind::Contacts);
        changes.push((id, change, tags, item.request_id()));
    }
    if !errs.is_empty() {
        return Reply::invalid(errs);
    }
    let mut done = Vec::new();
    for (id, change, tags, rid) in changes {
        let Some(id) = id else { continue };
        apply(s, id, change, ctx.now);
        s.tags.apply(EntityKind::Contacts, id, &tags);
        done.push((id, rid));
    }
    updated_reply(ctx, "contacts", done, path_id)
}

/// The fields an update item sets; `None` leaves a field as it is.
struct ContactChange {
    name: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    responsible: Option<u64>,
    fields: Option<Vec<FieldValues>>,
}

fn apply(s: &mut CrmState, id: u64, change: ContactChange, now: i64) {
    if let Some(fields) = change.fields {
        s.set_contact_fields(id, fields);
    }
    if let Some(n) = change.name {
        s.set_contact_name(id, n);
    }
    if let Some(c) = s.contacts.get_mut(&id) {
        if let Some(f) = change.first_name {
            c.first_name = f;
        }
        if let Some(l) = change.last_name {
            c.last_name = l;
        }
        if let Some(u) = change.responsible {
            c.responsible_user_id = u;
        }
        c.updated_at = now;
    }
    s.reindex_contact(id);
}
