//! `GET` and `POST /api/v4/{leads|contacts|companies}/tags`: a kind's tag list (amoCRM «Теги»;
//! the official PHP library's `EntitiesServices/EntityTags.php` and `Filters/TagsFilter.php`:
//! `filter[id]`, `filter[name]`, `query`, `limit`, `page`).

use serde_json::{Value, json};

use super::{Ctx, MAX_BATCH, list_reply, paginate, read_batch};
use crate::sim::mock::reply::Reply;
use crate::sim::mock::state::{CrmState, EntityKind};
use crate::sim::mock::tags;

/// The colours amoCRM offers for tags (hex, no `#`): the PHP library refuses any other
/// (`Enum/Tags/TagColorsEnum.php`).
const COLORS: [&str; 23] = [
    "EBEBEB", "D0D0D0", "FFE6E6", "FFCCCC", "FFE4CC", "FFF2CC", "FFFAD1", "EBFFB1", "DBF9C9",
    "CCF2E2", "CCF2F2", "CCEBFF", "DCE2FF", "E6E6FF", "F2E6FF", "FFE6F2", "FFCCE5", "F2F2CC",
    "FFCCA6", "FFB3B3", "FF8F92", "B8A6FF", "247BA0",
];

pub(crate) fn list(s: &CrmState, ctx: &Ctx, kind: EntityKind) -> Reply {
    let q = &ctx.query;
    let (page, limit) = match q.list_params(&["filter[id]", "filter[name]"], &[]) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let ids = match q.ids("filter[id]") {
        Ok(i) => i,
        Err(r) => return r,
    };
    let name = q.get("filter[name]");
    let query = q.get("query").map(str::to_lowercase);
    let found: Vec<Value> = s
        .tags
        .list(kind)
        .filter(|(id, _)| ids.is_empty() || ids.contains(id))
        .filter(|(_, d)| name.is_none_or(|n| d.name.eq_ignore_ascii_case(n)))
        .filter(|(_, d)| {
            query
                .as_ref()
                .is_none_or(|q| d.name.to_lowercase().contains(q.as_str()))
        })
        .map(|(id, d)| tags::render(id, d))
        .collect();
    let (items, more) = paginate(found, page, limit);
    list_reply(
        ctx,
        &format!("{}/tags", kind.as_str()),
        "tags",
        items,
        page,
        more,
    )
}

/// `POST`: each item `{name, color?, request_id?}`; a name already in the list gives that tag.
pub(crate) fn create(s: &mut CrmState, ctx: &Ctx, kind: EntityKind) -> Reply {
    let news = match read_batch(ctx, MAX_BATCH, |item| {
        let name = item.req_str("name").filter(|n| !n.trim().is_empty());
        let color = item.opt_str("color");
        if let Some(c) = &color
            && !COLORS.contains(&c.as_str())
        {
            item.fail(
                "color",
                "NotSupportedChoice",
                format!("{c:?} is not one of amoCRM's tag colours"),
            );
        }
        Some((name?, color, item.request_id()))
    }) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let out: Vec<Value> = news
        .into_iter()
        .enumerate()
        .map(|(i, (name, color, rid))| {
            let id = s.tags.named(kind, name.trim(), color.clone());
            let def = s
                .tags
                .list(kind)
                .find(|(t, _)| *t == id)
                .map(|(_, d)| d.clone());
            let mut v = def.map_or(Value::Null, |d| tags::render(id, &d));
            v["request_id"] = json!(rid.unwrap_or_else(|| i.to_string()));
            v
        })
        .collect();
    Reply::ok(json!({
        "_links": { "self": ctx.href(&format!("{}/tags", kind.as_str())) },
        "_embedded": { "tags": out },
    }))
}
