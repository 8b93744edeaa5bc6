//! Tasks: create, list with filters, get, complete (`PATCH`).

use serde_json::{Value, json};

use super::{
    Ctx, Item, MAX_BATCH, list_reply, paginate, read_batch, update_id, update_items, updated_reply,
};
use crate::sim::mock::filters::{Facts, Filter};
use crate::sim::mock::render;
use crate::sim::mock::reply::Reply;
use crate::sim::mock::state::{CrmState, EntityKind, Task};

/// The task list's filters and orders. `filter[task_type_id]` is the current name of
/// `filter[task_type]`; the official PHP library's `TasksFilter` sends both
/// (`src/AmoCRM/Filters/TasksFilter.php:274-278`).
const TASK_FILTERS: [&str; 11] = [
    "filter[updated_at]",
    "filter[is_completed]",
    "filter[entity_type]",
    "filter[entity_id]",
    "filter[responsible_user_id]",
    "filter[task_type]",
    "filter[task_type_id]",
    "filter[id]",
    "order[complete_till]",
    "order[created_at]",
    "order[id]",
];

pub(crate) fn list(s: &CrmState, ctx: &Ctx) -> Reply {
    let q = &ctx.query;
    let (page, limit) = match q.list_params(&TASK_FILTERS, &[]) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let completed = match q.get("filter[is_completed]") {
        None => None,
        Some("1" | "true") => Some(true),
        Some("0" | "false") => Some(false),
        Some(v) => {
            return Reply::bad_request(
                "filter[is_completed]",
                "InvalidValue",
                format!("{v:?} is not 0 or 1"),
            );
        }
    };
    let mut kinds = Vec::new();
    for v in q.list("filter[entity_type]") {
        match EntityKind::parse(v) {
            Some(k) => kinds.push(k),
            None => {
                return Reply::bad_request(
                    "filter[entity_type]",
                    "NotSupportedChoice",
                    format!("{v:?} is not leads or contacts"),
                );
            }
        }
    }
    let parsed = (|| {
        Ok::<_, Reply>((
            q.ids("filter[entity_id]")?,
            q.ids("filter[responsible_user_id]")?,
            [q.ids("filter[task_type]")?, q.ids("filter[task_type_id]")?],
            q.ids("filter[id]")?,
        ))
    })();
    let updated = match Filter::parse(q, &["filter[updated_at]"])
        .map(|f| f.modified_since(ctx.modified_since))
    {
        Ok(f) => f,
        Err(r) => return r,
    };
    let (entity_ids, responsibles, types, ids) = match parsed {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut found: Vec<&Task> = s
        .tasks
        .values()
        .filter(|t| completed.is_none_or(|c| t.is_completed == c))
        .filter(|t| kinds.is_empty() || kinds.contains(&t.entity_type))
        .filter(|t| entity_ids.is_empty() || entity_ids.contains(&t.entity_id))
        .filter(|t| responsibles.is_empty() || responsibles.contains(&t.responsible_user_id))
        .filter(|t| {
            types
                .iter()
                .all(|ts| ts.is_empty() || ts.contains(&t.task_type_id))
        })
        .filter(|t| ids.is_empty() || ids.contains(&t.id))
        .filter(|t| {
            updated.matches(&Facts {
                id: t.id,
                updated_at: t.updated_at,
                ..Facts::default()
            })
        })
        .collect();
    if q.get("order[complete_till]") == Some("asc") {
        found.sort_by_key(|t| (t.complete_till, t.id));
    } else if q.get("order[created_at]") == Some("desc") || q.get("order[id]") == Some("desc") {
        found.reverse();
    }
    let (page_items, more) = paginate(found, page, limit);
    let items = page_items
        .into_iter()
        .map(|t| render::task(ctx.base, s, t))
        .collect();
    list_reply(ctx, "tasks", "tasks", items, page, more)
}

pub(crate) fn get(s: &CrmState, ctx: &Ctx, id: u64) -> Reply {
    match s.tasks.get(&id) {
        Some(t) => Reply::ok(render::task(ctx.base, s, t)),
        None => Reply::no_content(),
    }
}

/// Reads `entity_type` + `entity_id`: both or neither, and the entity must exist.
fn target(s: &CrmState, item: &mut Item) -> Option<Option<(EntityKind, u64)>> {
    let id = item.opt_u64("entity_id");
    let kind = item.opt_str("entity_type");
    match (kind, id) {
        (None, None) => Some(None),
        (Some(k), Some(id)) => match EntityKind::parse(&k) {
            // amoCRM takes customers too, when the account has customers on; the mock's
            // account has them off (`customers_mode: disabled`), as a new account does.
            None if k == "customers" => {
                item.fail(
                    "entity_type",
                    "NotSupportedChoice",
                    "customers are off in this account (customers_mode: disabled)",
                );
                None
            }
            None => {
                item.fail(
                    "entity_type",
                    "NotSupportedChoice",
                    format!("{k:?} is not leads, contacts, companies or customers"),
                );
                None
            }
            Some(kind) if s.entity_exists(kind, id) => Some(Some((kind, id))),
            Some(kind) => {
                item.fail(
                    "entity_id",
                    "NotSupportedChoice",
                    format!("{} {id} does not exist", kind.as_str()),
                );
                None
            }
        },
        (Some(_), None) => {
            item.fail(
                "entity_id",
                "Required",
                "entity_id is required with entity_type",
            );
            None
        }
        (None, Some(_)) => {
            item.fail(
                "entity_type",
                "Required",
                "entity_type is required with entity_id",
            );
            None
        }
    }
}

/// `POST /api/v4/tasks`.
pub(crate) fn create(s: &mut CrmState, ctx: &Ctx) -> Reply {
    let news = match read_batch(ctx, MAX_BATCH, |item| {
        let text = item.req_str("text");
        let till = item.req_i64("complete_till");
        let task_type = item.opt_u64("task_type_id").unwrap_or(1);
        if !s.task_types.iter().any(|t| t.id == task_type) {
            item.fail(
                "task_type_id",
                "NotSupportedChoice",
                format!(
                    "task type {task_type} does not exist; see GET /api/v4/account?with=task_types"
                ),
            );
        }
        let responsible = item.user(s, "responsible_user_id");
        let target = target(s, item);
        let rid = item.request_id();
        let duration = item.opt_u64("duration").unwrap_or(0);
        if let (Some(text), Some(till), Some(target)) = (text, till, target) {
            return Some((text, (till, duration), task_type, responsible, target, rid));
        }
        None
    }) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let default_user = s.users.keys().next().copied().unwrap_or(0);
    let mut out = Vec::new();
    for (i, (text, (till, duration), task_type, responsible, target, rid)) in
        news.into_iter().enumerate()
    {
        // A task on nothing keeps entity id 0 (no entity has it) and renders both as null.
        let (entity_type, entity_id) = target.unwrap_or((EntityKind::Leads, 0));
        let id = s.insert_task(
            None,
            Task {
                id: 0,
                duration,
                task_type_id: task_type,
                text,
                complete_till: till,
                entity_type,
                entity_id,
                responsible_user_id: responsible.unwrap_or(default_user),
                is_completed: false,
                result_text: None,
                created_at: ctx.now,
                updated_at: ctx.now,
            },
        );
        let mut r = render::id_ref(ctx.base, "tasks", id);
        r["request_id"] = json!(rid.unwrap_or_else(|| i.to_string()));
        out.push(r);
    }
    Reply::ok(json!({ "_links": { "self": ctx.href("tasks") }, "_embedded": { "tasks": out } }))
}

/// `PATCH /api/v4/tasks` and `PATCH /api/v4/tasks/{id}`: complete, reschedule, reassign.
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
        if let Some(id) = id
            && !s.tasks.contains_key(&id)
        {
            item.fail(
                "id",
                "NotSupportedChoice",
                format!("task {id} does not exist"),
            );
        }
        let completed = item.opt_bool("is_completed");
        let result = match item.opt_object("result") {
            Some(r) => match r.get("text") {
                Some(Value::String(t)) => Some(t.clone()),
                _ => {
                    item.fail("result.text", "InvalidType", "result.text must be a string");
                    None
                }
            },
            None => None,
        };
        let text = item.opt_str("text");
        let till = item.opt_i64("complete_till");
        let responsible = item.user(s, "responsible_user_id");
        changes.push((
            id,
            completed,
            result,
            text,
            till,
            responsible,
            item.request_id(),
        ));
    }
    if !errs.is_empty() {
        return Reply::invalid(errs);
    }
    let mut done = Vec::new();
    for (id, completed, result, text, till, responsible, rid) in changes {
        let Some(id) = id else { continue };
        if let Some(t) = s.tasks.get_mut(&id) {
            if let Some(c) = completed {
                t.is_completed = c;
            }
            if result.is_some() {
                t.result_text = result;
            }
            if let Some(x) = text {
                t.text = x;
            }
            if let Some(x) = till {
                t.complete_till = x;
            }
            if let Some(u) = responsible {
                t.responsible_user_id = u;
            }
            t.updated_at = ctx.now;
        }
        done.push((id, rid));
    }
    updated_reply(ctx, "tasks", done, path_id)
}
