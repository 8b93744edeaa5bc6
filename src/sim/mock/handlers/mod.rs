//! Request handlers, one file per amoCRM resource, and the helpers they share to read and
//! validate JSON bodies the way amoCRM does (every error of the batch, with its path).

pub(crate) mod account;
pub(crate) mod calls;
pub(crate) mod companies;
pub(crate) mod complex;
pub(crate) mod contacts;
pub(crate) mod custom_fields;
pub(crate) mod events;
pub(crate) mod leads;
pub(crate) mod links;
pub(crate) mod notes;
pub(crate) mod tags;
pub(crate) mod tasks;
pub(crate) mod unsorted;

use serde_json::{Map, Value};

use super::fields::FieldValues;
use super::query::Query;
use super::reply::{Invalid, Reply};
use super::state::{CrmState, EntityKind};

/// Most items one create or update accepts.
pub(crate) const MAX_BATCH: usize = 250;

/// The request body as the handlers see it.
#[derive(Clone, Debug)]
pub(crate) enum Body {
    Empty,
    Json(Value),
    /// Not JSON: the parser's message.
    Malformed(String),
}

/// Everything a handler needs to know about one request.
pub(crate) struct Ctx<'a> {
    pub(crate) method: &'a str,
    /// Path segments after `/api/v4/`.
    pub(crate) seg: Vec<&'a str>,
    pub(crate) query: Query,
    pub(crate) body: Body,
    /// Current time, Unix seconds.
    pub(crate) now: i64,
    /// Base URL for `_links`.
    pub(crate) base: &'a str,
    /// The `If-Modified-Since` header (Unix seconds): lists answer only what changed after it.
    pub(crate) modified_since: Option<i64>,
}

/// amoCRM's answer to a write without data.
const EMPTY: &str = "Request data can not be empty";

impl Ctx<'_> {
    /// The body as a non-empty array of objects with at most `max` items.
    pub(crate) fn batch(&self, max: usize) -> Result<Vec<&Map<String, Value>>, Reply> {
        let items = match &self.body {
            Body::Json(Value::Array(items)) => items,
            Body::Json(_) => {
                return Err(Reply::bad_request(
                    "",
                    "InvalidType",
                    "the body must be a JSON array of objects",
                ));
            }
            // amoCRM: 400 {"detail": "Request data can not be empty"}, no validation-errors.
            Body::Empty => return Err(Reply::problem(400, EMPTY)),
            Body::Malformed(e) => return Err(not_json(e)),
        };
        if items.is_empty() {
            return Err(Reply::problem(400, EMPTY));
        }
        if items.len() > max {
            // amoCRM: 422 Unprocessable Entity, "Limit 250 per page".
            return Err(Reply::problem(422, format!("Limit {max} per page")));
        }
        let mut out = Vec::with_capacity(items.len());
        let mut errs = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item.as_object() {
                Some(o) => out.push(o),
                None => errs.push(Invalid {
                    index: i,
                    request_id: None,
                    code: "InvalidType",
                    path: String::new(),
                    detail: "each item must be an object".into(),
                }),
            }
        }
        if errs.is_empty() {
            Ok(out)
        } else {
            Err(Reply::invalid(errs))
        }
    }

    /// The body as one object; `None` when the body is empty and that is allowed.
    pub(crate) fn object(&self, required: bool) -> Result<Option<&Map<String, Value>>, Reply> {
        match &self.body {
            Body::Json(Value::Object(o)) => Ok(Some(o)),
            Body::Json(Value::Array(a)) if a.len() == 1 && a[0].is_object() => Ok(a[0].as_object()),
            // `[]`: what the official PHP library sends by default for an optional body
            // (`Unsorted::accept($model, $body = [])`, sent as JSON).
            Body::Empty if !required => Ok(None),
            Body::Json(Value::Array(a)) if a.is_empty() && !required => Ok(None),
            Body::Empty => Err(Reply::bad_request(
                "",
                "Required",
                "the body is empty; send a JSON object",
            )),
            Body::Json(_) => Err(Reply::bad_request(
                "",
                "InvalidType",
                "the body must be a JSON object",
            )),
            Body::Malformed(e) => Err(not_json(e)),
        }
    }

    pub(crate) fn href(&self, path: &str) -> Value {
        serde_json::json!({ "href": format!("{}/api/v4/{}", self.base, path) })
    }
}

/// A body that is not JSON: a plain 400 problem, no validation code (amoCRM documents none).
fn not_json(e: &str) -> Reply {
    Reply::problem(400, format!("the body is not JSON: {e}"))
}

/// Collects validation errors for one batch item while reading its fields.
pub(crate) struct Item<'a> {
    pub(crate) obj: &'a Map<String, Value>,
    pub(crate) index: usize,
    pub(crate) prefix: String,
    pub(crate) errs: &'a mut Vec<Invalid>,
}

impl<'a> Item<'a> {
    pub(crate) fn new(
        obj: &'a Map<String, Value>,
        index: usize,
        errs: &'a mut Vec<Invalid>,
    ) -> Self {
        Item {
            obj,
            index,
            prefix: String::new(),
            errs,
        }
    }

    pub(crate) fn request_id(&self) -> Option<String> {
        match self.obj.get("request_id") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        }
    }

    pub(crate) fn fail(&mut self, field: &str, code: &'static str, detail: impl Into<String>) {
        let request_id = self.request_id();
        self.errs.push(Invalid {
            index: self.index,
            request_id,
            code,
            path: format!("{}{}", self.prefix, field),
            detail: detail.into(),
        });
    }

    pub(crate) fn opt_u64(&mut self, field: &str) -> Option<u64> {
        match self.obj.get(field) {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64() {
                Some(n) => Some(n),
                None => {
                    self.fail(
                        field,
                        "InvalidType",
                        format!("{field} must be a positive integer"),
                    );
                    None
                }
            },
        }
    }

    pub(crate) fn opt_i64(&mut self, field: &str) -> Option<i64> {
        match self.obj.get(field) {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_i64() {
                Some(n) => Some(n),
                None => {
                    self.fail(field, "InvalidType", format!("{field} must be an integer"));
                    None
                }
            },
        }
    }

    pub(crate) fn req_u64(&mut self, field: &str) -> Option<u64> {
        if self.obj.get(field).is_none_or(Value::is_null) {
            self.fail(field, "Required", format!("{field} is required"));
            return None;
        }
        self.opt_u64(field)
    }

    pub(crate) fn req_i64(&mut self, field: &str) -> Option<i64> {
        if self.obj.get(field).is_none_or(Value::is_null) {
            self.fail(field, "Required", format!("{field} is required"));
            return None;
        }
        self.opt_i64(field)
    }

    pub(crate) fn opt_str(&mut self, field: &str) -> Option<String> {
        match self.obj.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.fail(field, "InvalidType", format!("{field} must be a string"));
                None
            }
        }
    }

    pub(crate) fn req_str(&mut self, field: &str) -> Option<String> {
        match self.opt_str(field) {
            Some(s) if !s.trim().is_empty() => Some(s),
            Some(_) => {
                self.fail(field, "Required", format!("{field} must not be empty"));
                None
            }
            None => {
                if self.obj.get(field).is_none_or(Value::is_null) {
                    self.fail(field, "Required", format!("{field} is required"));
                }
                None
            }
        }
    }

    pub(crate) fn opt_bool(&mut self, field: &str) -> Option<bool> {
        match self.obj.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.fail(
                    field,
                    "InvalidType",
                    format!("{field} must be true or false"),
                );
                None
            }
        }
    }

    pub(crate) fn opt_object(&mut self, field: &str) -> Option<&'a Map<String, Value>> {
        match self.obj.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::Object(o)) => Some(o),
            Some(_) => {
                self.fail(field, "InvalidType", format!("{field} must be an object"));
                None
            }
        }
    }

    /// A user id that must exist in the account.
    pub(crate) fn user(&mut self, state: &CrmState, field: &str) -> Option<u64> {
        let id = self.opt_u64(field)?;
        // `responsible_user_id: 0`, as the official PHP library's `examples/leads_actions.php:209`
        // sends it: amoCRM documents no answer (UNCONFIRMED); by default it changes nothing.
        if id == 0 && field == "responsible_user_id" && !state.refuse_zero_responsible {
            return None;
        }
        if state.users.contains_key(&id) {
            Some(id)
        } else {
            self.fail(
                field,
                "NotSupportedChoice",
                format!("user {id} does not exist in this account"),
            );
            None
        }
    }

    /// `custom_fields_values` read against the account's fields of `kind`; `None` when the
    /// item does not have the key (an update that leaves the fields alone).
    pub(crate) fn custom_fields(
        &mut self,
        state: &CrmState,
        kind: EntityKind,
    ) -> Option<Vec<FieldValues>> {
        let v = self.obj.get("custom_fields_values")?;
        match state.fields.read(kind, v) {
            Ok(values) => Some(values),
            Err(errs) => {
                for e in errs {
                    let path = if e.path.is_empty() {
                        "custom_fields_values".to_string()
                    } else {
                        format!("custom_fields_values.{}", e.path)
                    };
                    self.fail(&path, e.code, e.detail);
                }
                None
            }
        }
    }

    /// `_embedded.companies`: at most one company, which must exist and be visible.
    pub(crate) fn company(&mut self, state: &CrmState) -> Option<u64> {
        let ids = self.embedded_ids("companies");
        match ids.as_slice() {
            [] => None,
            [one] if state.visible_company(*one).is_some() => Some(*one),
            [one] => {
                self.fail(
                    "_embedded.companies.0.id",
                    "NotSupportedChoice",
                    format!("company {one} does not exist"),
                );
                None
            }
            _ => {
                self.fail(
                    "_embedded.companies",
                    "NotSupported",
                    "an entity belongs to at most one company",
                );
                None
            }
        }
    }

    /// Ids listed under `_embedded.<what>` as `[{"id": N}]`.
    pub(crate) fn embedded_ids(&mut self, what: &str) -> Vec<u64> {
        let Some(list) = self.obj.get("_embedded").and_then(|e| e.get(what)) else {
            return Vec::new();
        };
        let Some(list) = list.as_array() else {
            self.fail(
                &format!("_embedded.{what}"),
                "InvalidType",
                "must be an array",
            );
            return Vec::new();
        };
        let mut ids = Vec::new();
        for (i, v) in list.iter().enumerate() {
            match v.get("id").and_then(Value::as_u64) {
                Some(id) => ids.push(id),
                None => self.fail(
                    &format!("_embedded.{what}.{i}.id"),
                    "Required",
                    "id must be a positive integer",
                ),
            }
        }
        ids
    }
}

/// Reads every item of a create batch with `read`; any error in any item rejects the whole
/// request (amoCRM creates all or nothing), listing every error with its path.
pub(crate) fn read_batch<T>(
    ctx: &Ctx,
    max: usize,
    mut read: impl FnMut(&mut Item<'_>) -> Option<T>,
) -> Result<Vec<T>, Reply> {
    let items = ctx.batch(max)?;
    let mut errs = Vec::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, obj) in items.iter().enumerate() {
        let mut item = Item::new(obj, i, &mut errs);
        if let Some(v) = read(&mut item) {
            out.push(v);
        }
    }
    if errs.is_empty() {
        Ok(out)
    } else {
        Err(Reply::invalid(errs))
    }
}

/// The items of an update: the one object of `PATCH /{kind}/{id}`, else a batch with ids.
pub(crate) fn update_items<'a>(
    ctx: &'a Ctx,
    path_id: Option<u64>,
) -> Result<Vec<&'a Map<String, Value>>, Reply> {
    match path_id {
        Some(_) => match ctx.object(true)? {
            Some(o) => Ok(vec![o]),
            None => Err(Reply::bad_request("", "Required", "the body is empty")),
        },
        None => ctx.batch(MAX_BATCH),
    }
}

/// The id an update item is for: the path's, else the item's required `id`.
pub(crate) fn update_id(item: &mut Item, path_id: Option<u64>) -> Option<u64> {
    match path_id {
        Some(id) => Some(id),
        None => item.req_u64("id"),
    }
}

/// The answer to an update: the one object of a single `PATCH`, else the HAL list.
pub(crate) fn updated_reply(
    ctx: &Ctx,
    kind: &str,
    done: Vec<(u64, Option<String>)>,
    path_id: Option<u64>,
) -> Reply {
    let out: Vec<Value> = done
        .into_iter()
        .enumerate()
        .map(|(i, (id, rid))| {
            let mut r = super::render::id_ref(ctx.base, kind, id);
            r["updated_at"] = serde_json::json!(ctx.now);
            r["request_id"] = serde_json::json!(rid.unwrap_or_else(|| i.to_string()));
            r
        })
        .collect();
    if path_id.is_some() {
        return Reply::ok(out.into_iter().next().unwrap_or(Value::Null));
    }
    Reply::ok(
        serde_json::json!({ "_links": { "self": ctx.href(kind) }, "_embedded": { kind: out } }),
    )
}

/// Slices `items` for `page`/`limit`; `None` when the page is empty.
pub(crate) fn paginate<T>(items: Vec<T>, page: usize, limit: usize) -> (Vec<T>, bool) {
    let start = (page - 1).saturating_mul(limit);
    let more = items.len() > start.saturating_add(limit);
    let out = items.into_iter().skip(start).take(limit).collect();
    (out, more)
}

/// The HAL list envelope, or 204 when nothing was found.
pub(crate) fn list_reply(
    ctx: &Ctx,
    path: &str,
    key: &str,
    items: Vec<Value>,
    page: usize,
    more: bool,
) -> Reply {
    if items.is_empty() {
        return Reply::no_content();
    }
    let at = |page: usize| ctx.href(&format!("{path}?{}", ctx.query.with_page(page)));
    let mut links = serde_json::json!({ "self": at(page) });
    if more {
        links["next"] = at(page + 1);
    }
    if page > 1 {
        links["prev"] = at(page - 1);
    }
    Reply::ok(serde_json::json!({
        "_page": page,
        "_links": links,
        "_embedded": { key: items },
    }))
}
