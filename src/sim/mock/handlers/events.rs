//! `GET /api/v4/events` and `GET /api/v4/events/{id}`: the account's event log, newest first.

use super::{Ctx, list_reply, paginate};
use crate::sim::mock::events::{self, Event};
use crate::sim::mock::filters::{Facts, Filter};
use crate::sim::mock::reply::Reply;
use crate::sim::mock::state::{CrmState, EntityKind};

/// Most events one page holds (amoCRM: 100).
const MAX_EVENTS: usize = 100;

const EVENT_FILTERS: [&str; 5] = [
    "filter[type]",
    "filter[entity]",
    "filter[entity_id]",
    "filter[created_at]",
    "filter[created_by]",
];

pub(crate) fn list(s: &CrmState, ctx: &Ctx) -> Reply {
    let q = &ctx.query;
    let (page, limit) = match q.list_params(&EVENT_FILTERS, &[]) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if limit > MAX_EVENTS {
        return Reply::bad_request(
            "limit",
            "NotSupportedChoice",
            format!("events take a limit of at most {MAX_EVENTS}"),
        );
    }
    let parsed = (|| {
        Ok::<_, Reply>((
            Filter::parse(q, &["filter[created_at]", "filter[created_by]"])?,
            q.ids("filter[entity_id]")?,
        ))
    })();
    let (filter, entity_ids) = match parsed {
        Ok(p) => p,
        Err(r) => return r,
    };
    let types = q.list("filter[type]");
    if let Some(t) = types.iter().find(|t| !events::TYPES.contains(t)) {
        return Reply::bad_request(
            "filter[type]",
            "NotSupportedChoice",
            format!("the mock records {}; not {t:?}", events::TYPES.join(", ")),
        );
    }
    let entities = q.list("filter[entity]");
    let found: Vec<&Event> = s
        .events
        .events
        .iter()
        .rev()
        .filter(|e| types.is_empty() || types.contains(&e.kind))
        .filter(|e| entities.is_empty() || entities.contains(&events::singular(e.entity)))
        .filter(|e| entity_ids.is_empty() || entity_ids.contains(&e.entity_id))
        .filter(|e| {
            filter.matches(&Facts {
                created_at: e.created_at,
                ..Facts::default()
            })
        })
        .filter(|e| visible(s, e.entity, e.entity_id))
        .collect();
    let (page_items, more) = paginate(found, page, limit);
    let items = page_items
        .into_iter()
        .map(|e| events::render(ctx.base, s.account_id, e))
        .collect();
    list_reply(ctx, "events", "events", items, page, more)
}

/// Events of a declined item's (deleted) entities are not shown.
fn visible(s: &CrmState, kind: EntityKind, id: u64) -> bool {
    s.entity_exists(kind, id)
}

pub(crate) fn get(s: &CrmState, ctx: &Ctx, id: &str) -> Reply {
    if let Err(r) = ctx.query.only(&[], &[]) {
        return r;
    }
    match s.events.get(id) {
        Some(e) => Reply::ok(events::render(ctx.base, s.account_id, e)),
        None => Reply::no_content(),
    }
}
