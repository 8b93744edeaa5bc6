//! Entity links («связи сущностей»): list an entity's links, link and unlink one entity or a
//! batch, between leads, contacts and companies.
//!
//! Source: amoCRM API v4 «Связи сущностей» (entity-links-api): `GET /{entity}/{id}/links`,
//! `POST /{entity}/{id}/link|unlink`, `POST /{entity}/link|unlink` with `entity_id` per item;
//! a lead's contact link carries `metadata.main_contact`.

use serde_json::{Value, json};

use super::{Ctx, Item, MAX_BATCH};
use crate::sim::mock::reply::Reply;
use crate::sim::mock::state::{CrmState, EntityKind};

/// One link as the API shows it.
struct Link {
    from: (EntityKind, u64),
    to: (EntityKind, u64),
}

impl Link {
    fn render(&self, s: &CrmState) -> Value {
        let metadata = match (self.from.0, self.to.0) {
            (EntityKind::Leads, EntityKind::Contacts) => {
                let main = s.contacts_of_lead(self.from.1).first() == Some(&self.to.1);
                json!({ "main_contact": main })
            }
            (EntityKind::Contacts, EntityKind::Leads) => {
                let main = s.contacts_of_lead(self.to.1).first() == Some(&self.from.1);
                json!({ "main_contact": main })
            }
            _ => Value::Null,
        };
        json!({
            "entity_id": self.from.1,
            "entity_type": self.from.0.as_str(),
            "to_entity_id": self.to.1,
            "to_entity_type": self.to.0.as_str(),
            "metadata": metadata,
        })
    }
}

/// Every visible entity linked to `(kind, id)`.
fn links_of(s: &CrmState, kind: EntityKind, id: u64) -> Vec<(EntityKind, u64)> {
    let mut out: Vec<(EntityKind, u64)> = match kind {
        EntityKind::Leads => s
            .contacts_of_lead(id)
            .iter()
            .map(|c| (EntityKind::Contacts, *c))
            .collect(),
        EntityKind::Contacts => s
            .leads_of_contact(id)
            .iter()
            .map(|l| (EntityKind::Leads, *l))
            .collect(),
        EntityKind::Companies => s
            .company_members(id, EntityKind::Contacts)
            .into_iter()
            .map(|c| (EntityKind::Contacts, c))
            .chain(
                s.company_members(id, EntityKind::Leads)
                    .into_iter()
                    .map(|l| (EntityKind::Leads, l)),
            )
            .collect(),
    };
    if kind != EntityKind::Companies
        && let Some(co) = s.company_of(kind, id)
    {
        out.push((EntityKind::Companies, co));
    }
    out.retain(|(k, i)| s.visible(*k, *i));
    out
}

/// `GET /api/v4/{entity}/{id}/links` (`path_id`) and `GET /api/v4/{entity}/links` with the
/// required `filter[entity_id]`; both take `filter[to_entity_type]`, `filter[to_entity_id]`.
pub(crate) fn list(s: &CrmState, ctx: &Ctx, kind: EntityKind, path_id: Option<u64>) -> Reply {
    let mut taken = vec!["filter[to_entity_type]", "filter[to_entity_id]"];
    if path_id.is_none() {
        taken.push("filter[entity_id]");
    }
    if let Err(r) = ctx.query.only(&taken, &[]) {
        return r;
    }
    let parsed = (|| {
        Ok::<_, Reply>((
            ctx.query.ids("filter[to_entity_id]")?,
            ctx.query.ids("filter[entity_id]")?,
        ))
    })();
    let (ids, from) = match parsed {
        Ok(p) => p,
        Err(r) => return r,
    };
    let from = match path_id {
        Some(id) => vec![id],
        None if from.is_empty() => {
            return Reply::bad_request(
                "filter[entity_id]",
                "Required",
                "filter[entity_id] is required: the links of which entities?",
            );
        }
        None => from,
    };
    let types = ctx.query.list("filter[to_entity_type]");
    let links: Vec<Value> = from
        .into_iter()
        .filter(|id| s.visible(kind, *id))
        .flat_map(|id| links_of(s, kind, id).into_iter().map(move |to| (id, to)))
        .filter(|(_, (k, i))| {
            (types.is_empty() || types.contains(&k.as_str())) && (ids.is_empty() || ids.contains(i))
        })
        .map(|(id, to)| {
            Link {
                from: (kind, id),
                to,
            }
            .render(s)
        })
        .collect();
    if links.is_empty() {
        return Reply::no_content();
    }
    let path = match path_id {
        Some(id) => format!("{}/{id}/links", kind.as_str()),
        None => format!("{}/links", kind.as_str()),
    };
    Reply::ok(json!({
        "_total_items": links.len(),
        "_links": { "self": ctx.href(&path) },
        "_embedded": { "links": links },
    }))
}

/// `POST /api/v4/{entity}/{id}/link|unlink` (`path_id`) and `POST /api/v4/{entity}/link|unlink`
/// (each item names its `entity_id`).
pub(crate) fn change(
    s: &mut CrmState,
    ctx: &Ctx,
    kind: EntityKind,
    path_id: Option<u64>,
    linking: bool,
) -> Reply {
    if let Some(id) = path_id
        && !s.visible(kind, id)
    {
        return Reply::not_found(format!("{} {id} not found", kind.as_str()));
    }
    let items = match ctx.batch(MAX_BATCH) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let mut errs = Vec::new();
    let mut todo = Vec::new();
    for (i, obj) in items.iter().enumerate() {
        let mut item = Item::new(obj, i, &mut errs);
        if let Some(link) = read_link(s, &mut item, kind, path_id) {
            todo.push(link);
        }
    }
    if !errs.is_empty() {
        return Reply::invalid(errs);
    }
    let done: Vec<Value> = todo
        .into_iter()
        .map(|l| {
            apply(s, &l, linking);
            l.render(s)
        })
        .collect();
    let verb = if linking { "link" } else { "unlink" };
    let path = match path_id {
        Some(id) => format!("{}/{id}/{verb}", kind.as_str()),
        None => format!("{}/{verb}", kind.as_str()),
    };
    if !linking {
        return Reply::no_content();
    }
    Reply::ok(json!({
        "_total_items": done.len(),
        "_links": { "self": ctx.href(&path) },
        "_embedded": { "links": done },
    }))
}

fn read_link(
    s: &CrmState,
    item: &mut Item,
    kind: EntityKind,
    path_id: Option<u64>,
) -> Option<Link> {
    let from = match path_id {
        Some(id) => Some(id),
        None => {
            let id = item.req_u64("entity_id");
            if let Some(id) = id.filter(|id| !s.visible(kind, *id)) {
                item.fail(
                    "entity_id",
                    "NotSupportedChoice",
                    format!("{} {id} does not exist", kind.as_str()),
                );
            }
            id
        }
    };
    let to_id = item.req_u64("to_entity_id");
    let to_kind = match item.opt_str("to_entity_type") {
        None => {
            item.fail("to_entity_type", "Required", "to_entity_type is required");
            None
        }
        Some(t) => match EntityKind::parse(&t).filter(|k| *k != kind) {
            Some(k) => Some(k),
            None => {
                item.fail(
                    "to_entity_type",
                    "NotSupportedChoice",
                    format!(
                        "{} cannot be linked to {t:?}; the mock links leads, contacts and companies",
                        kind.as_str()
                    ),
                );
                None
            }
        },
    };
    if let (Some(k), Some(i)) = (to_kind, to_id)
        && !s.visible(k, i)
    {
        item.fail(
            "to_entity_id",
            "NotSupportedChoice",
            format!("{} {i} does not exist", k.as_str()),
        );
    }
    Some(Link {
        from: (kind, from?),
        to: (to_kind?, to_id?),
    })
}

fn apply(s: &mut CrmState, l: &Link, linking: bool) {
    use EntityKind::{Companies, Contacts, Leads};
    match (l.from, l.to) {
        ((Leads, lead), (Contacts, c)) | ((Contacts, c), (Leads, lead)) => {
            if linking {
                s.link(lead, c);
            } else {
                s.unlink(lead, c);
            }
        }
        ((Companies, co), (k, id)) | ((k, id), (Companies, co)) => {
            if linking {
                s.set_company(k, id, co);
            } else {
                s.unset_company(k, id, co);
            }
        }
        _ => {}
    }
}
