//! The account's event log («События»): what `GET /api/v4/events` lists.
//!
//! Source: amoCRM API v4 «События и примечания» (events-and-notes): events have a string id,
//! a `type` (`lead_added`, `contact_added`, `lead_status_changed`, `incoming_call`,
//! `outgoing_call`, …), the entity in the singular (`lead`, `contact`), `value_after` and
//! `value_before`; filters `filter[type]`, `filter[entity]`, `filter[entity_id]`,
//! `filter[created_at]`, `filter[created_by]`; at most 100 per page.

use serde_json::{Value, json};

use super::state::EntityKind;

/// One event.
#[derive(Clone, Debug)]
pub(crate) struct Event {
    pub(crate) id: String,
    pub(crate) kind: &'static str,
    pub(crate) entity: EntityKind,
    pub(crate) entity_id: u64,
    pub(crate) created_at: i64,
    pub(crate) value_after: Value,
    pub(crate) value_before: Value,
}

/// The event types the mock records (a filter on another type is refused by name).
pub(crate) const TYPES: [&str; 5] = [
    "lead_added",
    "contact_added",
    "lead_status_changed",
    "incoming_call",
    "outgoing_call",
];

/// The append-only log.
#[derive(Clone, Debug, Default)]
pub(crate) struct EventLog {
    pub(crate) events: Vec<Event>,
}

impl EventLog {
    pub(crate) fn push(
        &mut self,
        kind: &'static str,
        entity: EntityKind,
        entity_id: u64,
        created_at: i64,
        after: Value,
        before: Value,
    ) {
        let n = self.events.len() as u64 + 1;
        self.events.push(Event {
            id: format!("01ev{n:022x}"),
            kind,
            entity,
            entity_id,
            created_at,
            value_after: after,
            value_before: before,
        });
    }

    pub(crate) fn get(&self, id: &str) -> Option<&Event> {
        self.events.iter().find(|e| e.id == id)
    }
}

/// `lead` / `contact` / `company`: events name entities in the singular.
pub(crate) fn singular(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Leads => "lead",
        EntityKind::Contacts => "contact",
        EntityKind::Companies => "company",
    }
}

pub(crate) fn render(base: &str, account_id: u64, e: &Event) -> Value {
    json!({
        "id": e.id,
        "type": e.kind,
        "entity_id": e.entity_id,
        "entity_type": singular(e.entity),
        "created_by": 0,
        "created_at": e.created_at,
        "value_after": e.value_after,
        "value_before": e.value_before,
        "account_id": account_id,
        "_links": { "self": { "href": format!("{base}/api/v4/events/{}", e.id) } },
        "_embedded": { "entity": {
            "id": e.entity_id,
            "_links": { "self": { "href": format!("{base}/api/v4/{}/{}", e.entity.as_str(), e.entity_id) } },
        } },
    })
}
