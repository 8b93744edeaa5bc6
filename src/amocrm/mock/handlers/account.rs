//! `GET /api/v4/account`, `/users`, `/leads/pipelines`: the account's fixed data.

use serde_json::{Value, json};

use super::{Ctx, list_reply, paginate};
use crate::amocrm::mock::render;
use crate::amocrm::mock::reply::Reply;
use crate::amocrm::mock::state::CrmState;

pub(crate) fn account(s: &CrmState, ctx: &Ctx) -> Reply {
    Reply::ok(json!({
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
        "_links": { "self": ctx.href("account") },
    }))
}

pub(crate) fn users(s: &CrmState, ctx: &Ctx) -> Reply {
    let (page, limit) = match ctx.query.paging() {
        Ok(p) => p,
        Err(r) => return r,
    };
    let all: Vec<Value> = s
        .users
        .values()
        .map(|u| render::user(ctx.base, u))
        .collect();
    let total = all.len();
    let (items, more) = paginate(all, page, limit);
    let mut r = list_reply(ctx, "users", "users", items, page, more);
    if let Some(b) = r.body.as_mut() {
        b["_total_items"] = json!(total);
    }
    r
}

pub(crate) fn user(s: &CrmState, ctx: &Ctx, id: u64) -> Reply {
    match s.users.get(&id) {
        Some(u) => Reply::ok(render::user(ctx.base, u)),
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
