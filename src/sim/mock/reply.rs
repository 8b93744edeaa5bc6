//! What a mock handler answers: HAL JSON, 204, or problem+json, as amoCRM does.

use serde_json::{Value, json};

/// A handler's answer before it becomes an HTTP response.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Option<Value>,
}

/// One entry of `validation-errors`: which item of the batch and which field was wrong.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Invalid {
    pub(crate) index: usize,
    pub(crate) request_id: Option<String>,
    pub(crate) code: &'static str,
    pub(crate) path: String,
    pub(crate) detail: String,
}

impl Reply {
    /// 200 with a HAL JSON body.
    pub(crate) fn ok(body: Value) -> Self {
        Reply {
            status: 200,
            body: Some(body),
        }
    }

    /// 204 with an empty body: what amoCRM answers when a list or search finds nothing.
    pub(crate) fn no_content() -> Self {
        Reply {
            status: 204,
            body: None,
        }
    }

    /// An error in amoCRM's problem+json shape.
    pub(crate) fn problem(status: u16, detail: impl Into<String>) -> Self {
        Reply {
            status,
            body: Some(json!({
                "title": title(status),
                "type": format!("https://httpstatus.es/{status}"),
                "status": status,
                "detail": detail.into(),
            })),
        }
    }

    pub(crate) fn not_found(detail: impl Into<String>) -> Self {
        Reply::problem(404, detail)
    }

    /// 400 with one whole-request error (not tied to a batch item), e.g. a bad `limit`.
    pub(crate) fn bad_request(path: &str, code: &'static str, detail: impl Into<String>) -> Self {
        Reply::invalid(vec![Invalid {
            index: 0,
            request_id: None,
            code,
            path: path.into(),
            detail: detail.into(),
        }])
    }

    /// 400 "Request validation failed" listing every error, grouped by batch item.
    pub(crate) fn invalid(errors: Vec<Invalid>) -> Self {
        let mut groups: Vec<(usize, Option<String>, Vec<Value>)> = Vec::new();
        for e in errors {
            let entry = json!({ "code": e.code, "path": e.path, "detail": e.detail });
            match groups.iter_mut().find(|g| g.0 == e.index) {
                Some(g) => g.2.push(entry),
                None => groups.push((e.index, e.request_id, vec![entry])),
            }
        }
        let list: Vec<Value> = groups
            .into_iter()
            .map(|(i, rid, errs)| {
                json!({ "request_id": rid.unwrap_or_else(|| i.to_string()), "errors": errs })
            })
            .collect();
        Reply {
            status: 400,
            body: Some(json!({
                "title": "Bad Request",
                "type": "https://httpstatus.es/400",
                "status": 400,
                "detail": "Request validation failed",
                "validation-errors": list,
            })),
        }
    }

    /// The content type amoCRM uses for this answer.
    pub(crate) fn content_type(&self) -> &'static str {
        if self.status >= 400 {
            "application/problem+json"
        } else {
            "application/hal+json"
        }
    }
}

fn title(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}
