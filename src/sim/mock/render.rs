//! The mock's entities in amoCRM's wire shapes (HAL objects with `_links`).

use serde_json::{Value, json};

use super::query::Query;
use super::state::{
    Company, Contact, CrmState, EntityKind, Lead, Note, Pipeline, Task, Unsorted, User,
};

fn link(base: &str, path: String) -> Value {
    json!({ "self": { "href": format!("{base}/api/v4/{path}") } })
}

/// A user as `GET /api/v4/users` shows one (API v4 «Пользователи»), with complete `rights`: the
/// official PHP library's `RightModel::fromArray` requires `leads`, `contacts`, `companies`
/// (`view`/`edit`/`add`/`delete`/`export`), `tasks` (`edit`/`delete`), `mail_access` and
/// `catalog_access` (`src/AmoCRM/Models/Rights/RightModel.php:530-556`). `with` adds `uuid`,
/// `amojo_id`, `user_rank`, `phone_number`, and `_embedded.roles` / `_embedded.groups`.
pub(crate) fn user(base: &str, u: &User, with: &dyn Fn(&str) -> bool) -> Value {
    let full = json!({ "view": "A", "edit": "A", "add": "A", "delete": "A", "export": "A" });
    let mut v = json!({
        "id": u.id,
        "name": u.name,
        "email": format!("user{}@example.com", u.id),
        "lang": "ru",
        "rights": {
            "leads": full, "contacts": full, "companies": full,
            "tasks": { "edit": "A", "delete": "A" },
            "mail_access": false, "catalog_access": false, "files_access": false,
            "status_rights": [], "catalog_rights": null, "custom_fields_rights": null,
            "oper_day_reports_view_access": false, "oper_day_user_tracking": false,
            "is_admin": false, "is_free": false, "is_active": true,
            "group_id": null, "role_id": null,
        },
        "_links": link(base, format!("users/{}", u.id)),
    });
    if with("uuid") {
        v["uuid"] = json!(format!("00000000-0000-4000-8000-{:012x}", u.id));
    }
    if with("amojo_id") {
        v["amojo_id"] = json!(format!("00000000-0000-4000-9000-{:012x}", u.id));
    }
    if with("user_rank") {
        v["user_rank"] = json!("newbie");
    }
    if with("phone_number") {
        v["phone_number"] = Value::Null;
    }
    let mut embedded = serde_json::Map::new();
    if with("role") {
        embedded.insert("roles".into(), json!([]));
    }
    if with("group") {
        embedded.insert(
            "groups".into(),
            json!([{ "id": 0, "name": "Отдел продаж" }]),
        );
    }
    if !embedded.is_empty() {
        v["_embedded"] = Value::Object(embedded);
    }
    v
}

pub(crate) fn pipeline(base: &str, p: &Pipeline, account_id: u64) -> Value {
    let statuses: Vec<Value> = p
        .statuses
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "name": s.name,
                "sort": s.sort,
                "is_editable": !s.is_closed() && !s.unsorted,
                "pipeline_id": p.id,
                "color": "#99ccff",
                "type": if s.unsorted { 1 } else { 0 },
                "account_id": account_id,
                "_links": link(base, format!("leads/pipelines/{}/statuses/{}", p.id, s.id)),
            })
        })
        .collect();
    json!({
        "id": p.id,
        "name": p.name,
        "sort": p.sort,
        "is_main": p.is_main,
        "is_unsorted_on": p.unsorted_status().is_some(),
        "is_archive": false,
        "account_id": account_id,
        "_links": link(base, format!("leads/pipelines/{}", p.id)),
        "_embedded": { "statuses": statuses },
    })
}

pub(crate) fn contact(base: &str, s: &CrmState, c: &Contact, with_leads: bool) -> Value {
    let mut v = json!({
        "id": c.id,
        "name": c.name,
        "first_name": c.first_name,
        "last_name": c.last_name,
        "responsible_user_id": c.responsible_user_id,
        "group_id": 0,
        "created_by": 0,
        "updated_by": 0,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
        "closest_task_at": s.closest_task_at(EntityKind::Contacts, c.id),
        "is_deleted": false,
        "is_unsorted": !c.visible,
        "custom_fields_values": s.fields.render(EntityKind::Contacts, &c.fields),
        "account_id": s.account_id,
        "_links": link(base, format!("contacts/{}", c.id)),
    });
    let mut embedded = json!({
        "tags": s.tags.of(EntityKind::Contacts, c.id),
        "companies": company_ref(base, s, EntityKind::Contacts, c.id),
    });
    if with_leads {
        let leads: Vec<Value> = s
            .leads_of_contact(c.id)
            .iter()
            .filter(|l| s.visible_lead(**l).is_some())
            .map(|l| json!({ "id": l, "_links": link(base, format!("leads/{l}")) }))
            .collect();
        embedded["leads"] = Value::Array(leads);
    }
    v["_embedded"] = embedded;
    v
}

/// `_embedded.companies` of a contact or a lead: its one company, or nothing.
fn company_ref(base: &str, s: &CrmState, kind: EntityKind, id: u64) -> Value {
    let list: Vec<Value> = s
        .company_of(kind, id)
        .filter(|c| s.visible_company(*c).is_some())
        .map(|c| json!({ "id": c, "_links": link(base, format!("companies/{c}")) }))
        .into_iter()
        .collect();
    Value::Array(list)
}

pub(crate) fn company(base: &str, s: &CrmState, c: &Company, query: &Query) -> Value {
    let mut v = json!({
        "id": c.id,
        "name": c.name,
        "responsible_user_id": c.responsible_user_id,
        "group_id": 0,
        "created_by": 0,
        "updated_by": 0,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
        "closest_task_at": s.closest_task_at(EntityKind::Companies, c.id),
        "is_deleted": false,
        "custom_fields_values": s.fields.render(EntityKind::Companies, &c.fields),
        "account_id": s.account_id,
        "_links": link(base, format!("companies/{}", c.id)),
    });
    let mut embedded = json!({ "tags": s.tags.of(EntityKind::Companies, c.id) });
    for (with, kind) in [
        ("contacts", EntityKind::Contacts),
        ("leads", EntityKind::Leads),
    ] {
        if query.with(with) {
            let list: Vec<Value> = s
                .company_members(c.id, kind)
                .into_iter()
                .filter(|id| s.visible(kind, *id))
                .map(|id| json!({ "id": id, "_links": link(base, format!("{with}/{id}")) }))
                .collect();
            embedded[with] = Value::Array(list);
        }
    }
    v["_embedded"] = embedded;
    v
}

pub(crate) fn lead(base: &str, s: &CrmState, l: &Lead, with_contacts: bool) -> Value {
    let mut v = json!({
        "id": l.id,
        "name": l.name,
        "price": l.price,
        "responsible_user_id": l.responsible_user_id,
        "group_id": 0,
        "status_id": l.status_id,
        "pipeline_id": l.pipeline_id,
        "loss_reason_id": null,
        "created_by": l.created_by,
        "updated_by": 0,
        "created_at": l.created_at,
        "updated_at": l.updated_at,
        "closed_at": l.closed_at,
        "closest_task_at": s.closest_task_at(EntityKind::Leads, l.id),
        "is_deleted": false,
        "custom_fields_values": s.fields.render(EntityKind::Leads, &l.fields),
        "score": null,
        "labor_cost": null,
        "account_id": s.account_id,
        "_links": link(base, format!("leads/{}", l.id)),
    });
    let mut embedded = json!({
        "tags": s.tags.of(EntityKind::Leads, l.id),
        "companies": company_ref(base, s, EntityKind::Leads, l.id),
    });
    if with_contacts {
        let contacts: Vec<Value> = s
            .contacts_of_lead(l.id)
            .iter()
            .enumerate()
            .filter(|(_, c)| s.visible_contact(**c).is_some())
            .map(|(i, c)| json!({ "id": c, "is_main": i == 0, "_links": link(base, format!("contacts/{c}")) }))
            .collect();
        embedded["contacts"] = Value::Array(contacts);
    }
    v["_embedded"] = embedded;
    v
}

pub(crate) fn task(base: &str, s: &CrmState, t: &Task) -> Value {
    json!({
        "id": t.id,
        "created_by": 0,
        "updated_by": 0,
        "created_at": t.created_at,
        "updated_at": t.updated_at,
        "responsible_user_id": t.responsible_user_id,
        "group_id": 0,
        "entity_id": (t.entity_id != 0).then_some(t.entity_id),
        "entity_type": (t.entity_id != 0).then_some(t.entity_type.as_str()),
        "duration": t.duration,
        "is_completed": t.is_completed,
        "task_type_id": t.task_type_id,
        "text": t.text,
        "result": match &t.result_text { Some(text) => json!({ "text": text }), None => json!([]) },
        "complete_till": t.complete_till,
        "account_id": s.account_id,
        "_links": link(base, format!("tasks/{}", t.id)),
    })
}

pub(crate) fn note(base: &str, s: &CrmState, n: &Note) -> Value {
    json!({
        "id": n.id,
        "entity_id": n.entity_id,
        "created_by": 0,
        "updated_by": 0,
        "created_at": n.created_at,
        "updated_at": n.created_at,
        "responsible_user_id": n.responsible_user_id,
        "group_id": 0,
        "note_type": n.note_type,
        "params": n.params,
        "account_id": s.account_id,
        "_links": link(base, format!("{}/{}/notes/{}", n.entity_type.as_str(), n.entity_id, n.id)),
    })
}

pub(crate) fn unsorted(base: &str, s: &CrmState, u: &Unsorted) -> Value {
    let contacts: Vec<Value> = u
        .contact_ids
        .iter()
        .filter_map(|id| s.contacts.get(id))
        .map(|c| contact(base, s, c, false))
        .collect();
    let leads: Vec<Value> = u
        .lead_ids
        .iter()
        .filter_map(|id| s.leads.get(id))
        .map(|l| lead(base, s, l, false))
        .collect();
    let companies: Vec<Value> = u
        .company_ids
        .iter()
        .filter_map(|id| s.companies.get(id))
        .map(|c| company(base, s, c, &Query::default()))
        .collect();
    json!({
        "uid": u.uid,
        "source_uid": u.source_uid,
        "source_name": u.source_name,
        "category": u.category,
        "pipeline_id": u.pipeline_id,
        "created_at": u.created_at,
        "metadata": u.metadata,
        "account_id": s.account_id,
        "_links": link(base, format!("leads/unsorted/{}", u.uid)),
        "_embedded": { "contacts": contacts, "leads": leads, "companies": companies },
    })
}

/// `{"id": N, "_links": ...}` references used in create answers.
pub(crate) fn id_ref(base: &str, kind: &str, id: u64) -> Value {
    json!({ "id": id, "_links": link(base, format!("{kind}/{id}")) })
}
