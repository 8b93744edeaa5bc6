//! `GET /api/v4/{leads|contacts|companies}/custom_fields` and a field by id.
//!
//! Source: amoCRM API v4 «Дополнительные поля» (custom-fields): the list is paged with
//! `_embedded.custom_fields`; each field has `id`, `name`, `type`, `code`, `enums`.

use super::{Ctx, list_reply, paginate};
use crate::sim::mock::reply::Reply;
use crate::sim::mock::state::{CrmState, EntityKind};

pub(crate) fn list(s: &CrmState, ctx: &Ctx, kind: EntityKind) -> Reply {
    let (page, limit) = match ctx.query.list_params(&[], &[]) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let defs: Vec<_> = s.fields.of(kind).collect();
    let (page_items, more) = paginate(defs, page, limit);
    let items = page_items
        .into_iter()
        .map(|d| s.fields.render_def(ctx.base, s.account_id, d))
        .collect();
    let path = format!("{}/custom_fields", kind.as_str());
    list_reply(ctx, &path, "custom_fields", items, page, more)
}

pub(crate) fn get(s: &CrmState, ctx: &Ctx, kind: EntityKind, id: u64) -> Reply {
    if let Err(r) = ctx.query.only(&[], &[]) {
        return r;
    }
    match s.fields.get(kind, id) {
        Some(d) => Reply::ok(s.fields.render_def(ctx.base, s.account_id, d)),
        None => Reply::not_found(format!("field {id} is not a field of {}", kind.as_str())),
    }
}
