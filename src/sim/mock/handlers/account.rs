//! `GET /api/v4/account`, `/users`, `/leads/pipelines`: the account's fixed data.

use serde_json::{Value, json};

use super::{Ctx, list_reply, paginate};
use crate::sim::mock::render;
use crate::sim::mock::reply::Reply;
use crate::sim::mock::state::CrmState;

/// The `with` values of `GET /api/v4/account`: amoCRM's «Параметры аккаунта» page and the official
/// PHP library's `AccountModel::getAvailableWith()` (`src/AmoCRM/Models/AccountModel.php:872-885`);
/// each part is present when asked, where the library reads it.
const ACCOUNT_WITH: [&str; 11] = [
    "amojo_id",
    "amojo_rights",
    "users_groups",
    "task_types",
    "version",
    "entity_names",
    "datetime_settings",
    "is_api_filter_enabled",
    "uuid",
    "invoices_settings",
    "drive_url",
];

pub(crate) fn account(s: &CrmState, ctx: &Ctx) -> Reply {
    if let Err(r) = ctx.query.only(&[], &ACCOUNT_WITH) {
        return r;
    }
    let mut v = account_base(s, ctx);
    let mut embedded = serde_json::Map::new();
    for w in ctx.query.list("with") {
        if let Some(part) = top_level_part(s, w) {
            v[w] = part;
        } else if let Some(part) = embedded_part(s, w) {
            embedded.insert(w.to_string(), part);
        }
    }
    if !embedded.is_empty() {
        v["_embedded"] = Value::Object(embedded);
    }
    Reply::ok(v)
}

/// A `with` part amoCRM puts at the top level of the account.
fn top_level_part(s: &CrmState, with: &str) -> Option<Value> {
    Some(match with {
        "amojo_id" => json!(format!(
            "{:08x}-0000-4000-8000-{:012x}",
            s.account_id, s.account_id
        )),
        "uuid" => json!(format!(
            "{:08x}-0000-4000-a000-{:012x}",
            s.account_id, s.account_id
        )),
        "version" => json!(27),
        "is_api_filter_enabled" => json!(true),
        "invoices_settings" => json!({ "lang": "ru", "invoices_catalog_id": null }),
        "drive_url" => json!(format!("https://drive-b.amocrm.ru/{}", s.subdomain)),
        _ => return None,
    })
}

/// A `with` part amoCRM puts under the account's `_embedded`.
fn embedded_part(s: &CrmState, with: &str) -> Option<Value> {
    Some(match with {
        "amojo_rights" => json!({ "can_direct": false, "can_create_groups": false }),
        "datetime_settings" => json!({
            "date_pattern": "d.m.Y H:i", "short_date_pattern": "d.m.Y", "short_time_pattern": "H:i",
            "date_format": "d.m.Y", "time_format": "H:i:s", "timezone": "Europe/Moscow",
            "timezone_offset": "+03:00",
        }),
        "users_groups" => json!([{ "id": 0, "name": "Отдел продаж", "uuid": null }]),
        "task_types" => Value::Array(
            s.task_types
                .iter()
                .map(|t| json!({ "id": t.id, "name": t.name, "color": null, "icon_id": null, "code": t.code }))
                .collect(),
        ),
        "entity_names" => json!({
            "leads": { "ru": { "gender": "f", "plural_form": { "dative": "сделкам", "default": "сделки",
                "genitive": "сделок", "accusative": "сделки", "instrumental": "сделками",
                "prepositional": "сделках" }, "singular_form": { "dative": "сделке", "default": "сделка",
                "genitive": "сделки", "accusative": "сделку", "instrumental": "сделкой",
                "prepositional": "сделке" } } },
        }),
        _ => return None,
    })
}

fn account_base(s: &CrmState, ctx: &Ctx) -> Value {
    json!({
        "id": s.account_id,
        "name": s.account_name,
        "subdomain": s.subdomain,
        "created_at": 1_577_836_800,
        "created_by": 0,
        "updated_at": ctx.now,
        "updated_by": 0,
        "current_user_id": s.users.keys().next().copied().unwrap_or(0),
        "country": "RU",
        "currency": "RUB",
        "currency_symbol": "₽",
        "customers_mode": "disabled",
        "is_unsorted_on": s.pipelines.iter().any(|p| p.unsorted_status().is_some()),
        "is_loss_reason_enabled": false,
        "is_helpbot_enabled": false,
        "is_technical_account": false,
        "contact_name_display_order": 1,
        "mobile_feature_version": 0,
        "_links": { "self": ctx.href("account") },
    })
}

/// The `with` values of `GET /api/v4/users` (amoCRM «Пользователи»; the PHP library's
/// `UserModel::getAvailableWith()`, `src/AmoCRM/Models/UserModel.php:433-443`).
const USER_WITH: [&str; 6] = [
    "role",
    "group",
    "uuid",
    "amojo_id",
    "user_rank",
    "phone_number",
];

pub(crate) fn users(s: &CrmState, ctx: &Ctx) -> Reply {
    let (page, limit) = match ctx.query.list_params(&[], &USER_WITH) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let with = |w: &str| ctx.query.with(w);
    let all: Vec<Value> = s
        .users
        .values()
        .map(|u| render::user(ctx.base, u, &with))
        .collect();
    let total = all.len();
    let pages = total.div_ceil(limit.max(1));
    let (items, more) = paginate(all, page, limit);
    let mut r = list_reply(ctx, "users", "users", items, page, more);
    if let Some(b) = r.body.as_mut() {
        b["_total_items"] = json!(total);
        b["_page_count"] = json!(pages);
    }
    r
}

pub(crate) fn user(s: &CrmState, ctx: &Ctx, id: u64) -> Reply {
    if let Err(r) = ctx.query.only(&[], &USER_WITH) {
        return r;
    }
    let with = |w: &str| ctx.query.with(w);
    match s.users.get(&id) {
        Some(u) => Reply::ok(render::user(ctx.base, u, &with)),
        None => Reply::no_content(),
    }
}

pub(crate) fn pipelines(s: &CrmState, ctx: &Ctx) -> Reply {
    let items: Vec<Value> = s
        .pipelines
        .iter()
        .map(|p| render::pipeline(ctx.base, p, s.account_id))
        .collect();
    let total = items.len();
    let mut r = list_reply(ctx, "leads/pipelines", "pipelines", items, 1, false);
    if let Some(b) = r.body.as_mut() {
        b["_total_items"] = json!(total);
        b.as_object_mut().map(|o| o.remove("_page"));
    }
    r
}

pub(crate) fn pipeline(s: &CrmState, ctx: &Ctx, id: u64) -> Reply {
    match s.pipeline(id) {
        Some(p) => Reply::ok(render::pipeline(ctx.base, p, s.account_id)),
        None => Reply::not_found("Pipeline not found"),
    }
}

pub(crate) fn statuses(s: &CrmState, ctx: &Ctx, id: u64) -> Reply {
    match s.pipeline(id) {
        Some(p) => {
            let rendered = render::pipeline(ctx.base, p, s.account_id);
            let statuses = rendered["_embedded"]["statuses"].clone();
            Reply::ok(json!({
                "_total_items": p.statuses.len(),
                "_links": { "self": ctx.href(&format!("leads/pipelines/{id}/statuses")) },
                "_embedded": { "statuses": statuses },
            }))
        }
        None => Reply::not_found("Pipeline not found"),
    }
}

/// `GET /api/v4/leads/pipelines/{id}/statuses/{id}` (API v4 «Воронки и этапы сделок»).
pub(crate) fn status(s: &CrmState, ctx: &Ctx, pipeline: u64, status: u64) -> Reply {
    let Some(p) = s.pipeline(pipeline) else {
        return Reply::not_found("Pipeline not found");
    };
    let rendered = render::pipeline(ctx.base, p, s.account_id);
    let found = rendered["_embedded"]["statuses"]
        .as_array()
        .and_then(|list| list.iter().find(|st| st["id"] == status).cloned());
    match found {
        Some(st) => Reply::ok(st),
        None => Reply::not_found("Status not found"),
    }
}
