//! The one wiremock responder: authentication, rate limit, faults, routing, journal.
//!
//! wiremock matches every request with a single catch-all mock whose [`Respond`] impl is
//! [`CrmResponder`]. It holds a cheap-to-clone handle to the shared account, so tests and
//! the standalone server inspect the very state the HTTP requests changed.

use super::auth::constant_time_eq;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use wiremock::{Request, Respond, ResponseTemplate};

use serde_json::json;

use super::faults::{FaultAction, FaultSpec, Faults};
use super::handlers::unsorted::Category;
use super::handlers::{self, Body, Ctx};
use super::journal::JournalEntry;
use super::query::Query;
use super::reply::Reply;
use super::state::{CrmState, EntityKind};
use crate::clock::Clock;

/// The account plus what the HTTP layer keeps about it, behind one lock so that the journal
/// order is the order in which requests changed the state.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) state: CrmState,
    pub(crate) journal: Vec<JournalEntry>,
    pub(crate) faults: Faults,
    /// Arrival times (ms) of admitted requests in the current rate window.
    window: VecDeque<i64>,
    /// Times (ms) of requests refused with 429 in the last minute.
    violations: VecDeque<i64>,
    /// Every request is refused with 403 until then (ms).
    locked_until: i64,
    /// The account's OAuth tokens.
    pub(crate) auth: super::auth::Auth,
}

/// A cheap handle to the shared account.
#[derive(Clone, Debug, Default)]
pub(crate) struct SharedHandle(Arc<Mutex<Shared>>);

impl SharedHandle {
    pub(crate) fn new(state: CrmState) -> Self {
        SharedHandle(Arc::new(Mutex::new(Shared {
            state,
            ..Shared::default()
        })))
    }

    /// Locks the account; a panic in another holder does not make the data unusable.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Shared> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Serves amoCRM API v4 from a [`CrmState`].
#[derive(Clone, Debug)]
pub(crate) struct CrmResponder {
    pub(crate) shared: SharedHandle,
    pub(crate) clock: Clock,
    pub(crate) token: String,
    pub(crate) base: String,
    /// At most this many requests in any 1-second window; more get 429.
    pub(crate) rate_limit: Option<u32>,
    /// After this many 429s within a minute, every request gets 403 for a while.
    pub(crate) lockout: Option<super::Lockout>,
    /// How long a `hang` fault holds the answer back.
    pub(crate) hang_for: Duration,
}

/// The request body as the handlers see it, and as the journal keeps it.
fn read_body(raw: &[u8]) -> (Body, Option<serde_json::Value>) {
    if raw.is_empty() {
        return (Body::Empty, None);
    }
    match serde_json::from_slice::<serde_json::Value>(raw) {
        Ok(v) => (Body::Json(v.clone()), Some(v)),
        Err(e) => (
            Body::Malformed(e.to_string()),
            Some(serde_json::Value::String(
                String::from_utf8_lossy(raw).into_owned(),
            )),
        ),
    }
}

/// The HTTP answer of a reply.
fn template(reply: &Reply) -> ResponseTemplate {
    let template = ResponseTemplate::new(reply.status);
    match &reply.body {
        Some(b) => template.set_body_raw(b.to_string().into_bytes(), reply.content_type()),
        None => template,
    }
}

impl CrmResponder {
    /// Does the request carry the account's bearer token?
    /// The bearer token sent, if any.
    fn bearer(req: &Request) -> &str {
        req.headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("")
    }
}

impl Respond for CrmResponder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let now_ms = self.clock.now_ms();
        let method = req.method.as_str().to_string();
        let path = req.url.path().to_string();
        let query = Query::parse(req.url.query());
        let (body, journal_body) = read_body(&req.body);
        let bearer = Self::bearer(req);
        let modified_since = modified_since(req);

        if let Some(rest) = path.strip_prefix(ADMIN_PREFIX) {
            // The operator's token, whatever the account's OAuth tokens have become.
            let reply = if constant_time_eq(bearer.as_bytes(), self.token.as_bytes()) {
                self.admin(&method, rest, &body)
            } else {
                Reply::problem(401, "Unauthorized: send Authorization: Bearer <token>")
            };
            return template(&reply);
        }
        let mut shared = self.shared.lock();
        let mut hung = false;
        let reply = if let Some(refused) = self.admit(&mut shared, now_ms) {
            refused
        } else {
            match shared.faults.take(&method, &path, now_ms) {
                Some(FaultAction::Status(status)) => {
                    if status == 429 {
                        too_many_requests()
                    } else {
                        Reply::problem(status, "injected fault")
                    }
                }
                fault => {
                    hung = fault == Some(FaultAction::Hang);
                    if method == "POST" && path == "/oauth2/access_token" {
                        shared.auth.token_request(&body, &req.body, now_ms)
                    } else if !shared.auth.valid(bearer, now_ms) {
                        Reply::problem(401, "Unauthorized: send Authorization: Bearer <token>")
                    } else if let Err(bad) = &modified_since {
                        bad.clone()
                    } else {
                        let ctx = Ctx {
                            method: &method,
                            seg: path
                                .trim_start_matches('/')
                                .split('/')
                                .filter(|s| !s.is_empty())
                                .collect(),
                            query: query.clone(),
                            body,
                            now: now_ms.div_euclid(1000),
                            base: &self.base,
                            modified_since: modified_since.clone().ok().flatten(),
                        };
                        route(&mut shared.state, &ctx)
                    }
                }
            }
        };
        if hung && reply.status >= 400 {
            // Nothing was applied: a hang fault waits for a write amoCRM applies.
            hung = false;
            shared.faults.give_back(&method, &path);
        }
        let seq = shared.journal.len();
        shared.journal.push(JournalEntry {
            seq,
            at_ms: now_ms,
            method,
            path,
            query: query.0,
            body: journal_body,
            status: reply.status,
            hung,
            codes: validation_codes(&reply),
        });
        drop(shared);

        let template = template(&reply);
        match (hung, self.clock.is_virtual()) {
            // On a virtual clock nothing may wait in real time: the write is applied and the
            // answer is marked lost; a client on the same virtual clock takes it as a timeout.
            (true, true) => template.insert_header(super::LOST_ANSWER_HEADER, "1"),
            (true, false) => template.set_delay(self.hang_for),
            (false, _) => template,
        }
    }
}

/// Routes under this prefix control the mock itself (never amoCRM's); they need the token and
/// are neither rate limited nor journaled.
pub(crate) const ADMIN_PREFIX: &str = "/__sipamo/";

/// Why `POST faults` armed nothing.
#[derive(Debug, thiserror::Error)]
enum BadFaults {
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("send a fault as JSON: {{\"path\": \"/api/v4/tasks\", \"status\": 503, \"times\": 2}}")]
    NotJson,
    #[error(transparent)]
    Fault(#[from] super::FaultError),
}

impl CrmResponder {
    /// `POST faults` (a fault or a list, as in scenarios) arms; `DELETE faults` disarms all;
    /// `GET journal` lists every request served (time, method, path, status);
    /// `GET summary` answers the requests journaled and how many of them were held back (`hung`):
    /// a test that arms a hang can tell the instant a write was applied and its answer lost.
    fn admin(&self, method: &str, rest: &str, body: &Body) -> Reply {
        let mut shared = self.shared.lock();
        match (method, rest) {
            ("POST", "faults") => {
                let specs: Result<Vec<FaultSpec>, BadFaults> = match body {
                    Body::Json(v @ serde_json::Value::Array(_)) => {
                        serde_json::from_value(v.clone()).map_err(BadFaults::from)
                    }
                    Body::Json(v) => serde_json::from_value(v.clone())
                        .map(|f| vec![f])
                        .map_err(BadFaults::from),
                    _ => Err(BadFaults::NotJson),
                };
                let armed = specs.and_then(|specs| {
                    specs
                        .iter()
                        .map(|f| f.arm(self.clock.now_ms()).map_err(BadFaults::from))
                        .collect::<Result<Vec<_>, _>>()
                });
                match armed {
                    Ok(faults) => {
                        let n = faults.len();
                        for f in faults {
                            shared.faults.push(f);
                        }
                        Reply::ok(json!({ "armed": n, "pending": shared.faults.pending() }))
                    }
                    Err(e) => Reply::problem(400, e.to_string()),
                }
            }
            ("DELETE", "faults") => {
                shared.faults.clear();
                Reply::ok(json!({ "pending": 0 }))
            }
            ("GET", "summary") => Reply::ok(json!({
                "requests": shared.journal.len(),
                "hung": shared.journal.iter().filter(|j| j.hung).count(),
                "faults_pending": shared.faults.pending(),
                "last": shared
                    .journal
                    .iter()
                    .rev()
                    .take(20)
                    .rev()
                    .map(|j| format!("{} → {}{}", j.request_line(), j.status, if j.hung { " (held)" } else { "" }))
                    .collect::<Vec<_>>(),
            })),
            ("GET", "journal") => Reply::ok(json!(shared
                .journal
                .iter()
                .map(|j| json!({ "at_ms": j.at_ms, "method": j.method, "path": j.path, "status": j.status }))
                .collect::<Vec<_>>())),
            (_, "faults" | "summary" | "journal") => Reply::problem(405, "Method Not Allowed"),
            _ => Reply::problem(404, "unknown admin route; try faults, summary or journal"),
        }
    }

    /// Sliding 1-second window: `None` admits the request; otherwise amoCRM's refusal — 429
    /// past `rate_limit`, and 403 to everything while locked out after repeated 429s.
    fn admit(&self, shared: &mut Shared, now_ms: i64) -> Option<Reply> {
        let limit = self.rate_limit?;
        if now_ms < shared.locked_until {
            return Some(Reply::problem(
                403,
                "Forbidden: too many requests over the limit; access is blocked for a while",
            ));
        }
        while shared.window.front().is_some_and(|t| *t <= now_ms - 1000) {
            shared.window.pop_front();
        }
        if shared.window.len() < limit as usize {
            shared.window.push_back(now_ms);
            return None;
        }
        if let Some(lock) = self.lockout {
            while shared
                .violations
                .front()
                .is_some_and(|t| *t <= now_ms - 60_000)
            {
                shared.violations.pop_front();
            }
            shared.violations.push_back(now_ms);
            if shared.violations.len() >= lock.after as usize {
                shared.violations.clear();
                shared.locked_until = now_ms.saturating_add(lock.for_ms);
            }
        }
        Some(too_many_requests())
    }
}

/// `If-Modified-Since` as Unix seconds (amoCRM: the lists of leads, contacts, companies, tasks
/// and notes then hold only what changed after it); an unreadable date is refused by name.
fn modified_since(req: &Request) -> Result<Option<i64>, Reply> {
    let Some(v) = req.headers.get("if-modified-since") else {
        return Ok(None);
    };
    let text = v.to_str().unwrap_or("");
    match chrono::DateTime::parse_from_rfc2822(text) {
        Ok(t) => Ok(Some(t.timestamp())),
        Err(_) => Err(Reply::bad_request(
            "If-Modified-Since",
            "InvalidType",
            format!("{text:?} is not an HTTP date (e.g. Mon, 02 Mar 2026 07:00:00 GMT)"),
        )),
    }
}

/// amoCRM's answer past the rate limit: 429 with a problem body and `retry_after` (seconds).
fn too_many_requests() -> Reply {
    let mut reply = Reply::problem(
        429,
        "You have sent too many requests: at most 7 per second are allowed",
    );
    if let Some(body) = reply.body.as_mut() {
        body["retry_after"] = serde_json::json!(1);
    }
    reply
}

/// The `validation-errors` codes of an answer.
fn validation_codes(reply: &Reply) -> Vec<String> {
    reply
        .body
        .as_ref()
        .map(|body| {
            crate::amocrm::model::validation_errors(body)
                .filter_map(|e| {
                    e.get("code")
                        .and_then(serde_json::Value::as_str)
                        .map(str::to_string)
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
}

fn id(seg: &str) -> Option<u64> {
    seg.parse().ok()
}

/// Maps method and path to a handler.
pub(crate) fn route(s: &mut CrmState, ctx: &Ctx) -> Reply {
    use handlers::*;
    let seg = ctx.seg.as_slice();
    let Some(rest) = seg.strip_prefix(&["api", "v4"]) else {
        return Reply::not_found(format!("no such route: {} /{}", ctx.method, seg.join("/")));
    };
    let m = ctx.method;
    match rest {
        ["account"] if m == "GET" => account::account(s, ctx),
        ["users"] if m == "GET" => account::users(s, ctx),
        ["users", u] if m == "GET" => match id(u) {
            Some(u) => account::user(s, ctx, u),
            None => not_found(ctx),
        },
        ["leads", "pipelines"] if m == "GET" => account::pipelines(s, ctx),
        ["leads", "pipelines", p] if m == "GET" => match id(p) {
            Some(p) => account::pipeline(s, ctx, p),
            None => not_found(ctx),
        },
        ["leads", "pipelines", p, "statuses"] if m == "GET" => match id(p) {
            Some(p) => account::statuses(s, ctx, p),
            None => not_found(ctx),
        },
        ["leads", "pipelines", p, "statuses", st] if m == "GET" => match (id(p), id(st)) {
            (Some(p), Some(st)) => account::status(s, ctx, p, st),
            _ => not_found(ctx),
        },
        ["calls"] if m == "POST" => calls::create(s, ctx),
        ["events"] if m == "GET" => events::list(s, ctx),
        ["events", e] if m == "GET" => events::get(s, ctx, e),
        ["leads", "unsorted"] if m == "GET" => unsorted::list(s, ctx),
        ["leads", "unsorted", "sip"] if m == "POST" => unsorted::create(s, ctx, Category::Sip),
        ["leads", "unsorted", "forms"] if m == "POST" => unsorted::create(s, ctx, Category::Forms),
        ["leads", "unsorted", "summary"] if m == "GET" => unsorted::summary(s, ctx),
        ["leads", "unsorted", uid] if m == "GET" => unsorted::get(s, ctx, uid),
        ["leads", "unsorted", uid, "accept"] if m == "POST" => unsorted::accept(s, ctx, uid),
        ["leads", "unsorted", uid, "decline"] if m == "DELETE" => unsorted::decline(s, ctx, uid),
        ["leads", "complex"] if m == "POST" => complex::complex(s, ctx),
        // Known paths asked with another method: 405, as amoCRM answers.
        ["account" | "users" | "calls" | "events", ..]
        | ["leads", "pipelines" | "unsorted" | "complex", ..] => not_allowed(ctx),
        [kind, tail @ ..] if EntityKind::parse(kind).is_some() => {
            let Some(kind) = EntityKind::parse(kind) else {
                return not_found(ctx);
            };
            entity_route(s, ctx, kind, tail)
        }
        ["tasks"] => match m {
            "GET" => tasks::list(s, ctx),
            "POST" => tasks::create(s, ctx),
            "PATCH" => tasks::update(s, ctx, None),
            _ => not_allowed(ctx),
        },
        ["tasks", n] => {
            let Some(n) = id(n) else {
                return not_found(ctx);
            };
            match m {
                "GET" => tasks::get(s, ctx, n),
                "PATCH" => tasks::update(s, ctx, Some(n)),
                _ => not_allowed(ctx),
            }
        }

        _ => not_found(ctx),
    }
}

/// The routes every entity kind shares: its list, one entity, custom fields, notes, links.
fn entity_route(s: &mut CrmState, ctx: &Ctx, kind: EntityKind, tail: &[&str]) -> Reply {
    use handlers::*;
    let m = ctx.method;
    match tail {
        [] => match (kind, m) {
            (_, "GET") => entity_list(s, ctx, kind),
            (EntityKind::Leads, "POST") => leads::create(s, ctx),
            (EntityKind::Contacts, "POST") => contacts::create(s, ctx),
            (EntityKind::Companies, "POST") => companies::create(s, ctx),
            (EntityKind::Leads, "PATCH") => leads::update(s, ctx, None),
            (EntityKind::Contacts, "PATCH") => contacts::update(s, ctx, None),
            (EntityKind::Companies, "PATCH") => companies::update(s, ctx, None),
            _ => not_allowed(ctx),
        },
        ["custom_fields"] if m == "GET" => custom_fields::list(s, ctx, kind),
        ["custom_fields", f] if m == "GET" => match id(f) {
            Some(f) => custom_fields::get(s, ctx, kind, f),
            None => not_found(ctx),
        },
        ["notes"] => match m {
            "GET" => notes::list(s, ctx, kind, None),
            "POST" => notes::create(s, ctx, kind, None),
            _ => not_allowed(ctx),
        },
        ["notes", n] if m == "GET" => match id(n) {
            Some(n) => notes::get(s, ctx, kind, None, n),
            None => not_found(ctx),
        },
        [verb @ ("link" | "unlink")] if m == "POST" => {
            links::change(s, ctx, kind, None, *verb == "link")
        }
        ["links"] if m == "GET" => links::list(s, ctx, kind, None),
        ["tags"] => match m {
            "GET" => tags::list(s, ctx, kind),
            "POST" => tags::create(s, ctx, kind),
            _ => not_allowed(ctx),
        },
        [
            "notes" | "link" | "unlink" | "links" | "custom_fields" | "tags",
            ..,
        ] => not_allowed(ctx),
        [n, rest @ ..] => match id(n) {
            Some(n) => one_entity_route(s, ctx, kind, n, rest),
            None => not_found(ctx),
        },
    }
}

fn entity_list(s: &CrmState, ctx: &Ctx, kind: EntityKind) -> Reply {
    match kind {
        EntityKind::Leads => handlers::leads::list(s, ctx),
        EntityKind::Contacts => handlers::contacts::list(s, ctx),
        EntityKind::Companies => handlers::companies::list(s, ctx),
    }
}

/// `/{entity}/{id}` and below.
fn one_entity_route(s: &mut CrmState, ctx: &Ctx, kind: EntityKind, n: u64, rest: &[&str]) -> Reply {
    use handlers::*;
    let m = ctx.method;
    match rest {
        [] => match (kind, m) {
            (EntityKind::Leads, "GET") => leads::get(s, ctx, n),
            (EntityKind::Contacts, "GET") => contacts::get(s, ctx, n),
            (EntityKind::Companies, "GET") => companies::get(s, ctx, n),
            (EntityKind::Leads, "PATCH") => leads::update(s, ctx, Some(n)),
            (EntityKind::Contacts, "PATCH") => contacts::update(s, ctx, Some(n)),
            (EntityKind::Companies, "PATCH") => companies::update(s, ctx, Some(n)),
            _ => not_allowed(ctx),
        },
        ["notes"] => match m {
            "GET" if s.visible(kind, n) => notes::list(s, ctx, kind, Some(n)),
            "GET" => Reply::no_content(),
            "POST" => notes::create(s, ctx, kind, Some(n)),
            _ => not_allowed(ctx),
        },
        ["notes", note] if m == "GET" => match id(note) {
            Some(note) => notes::get(s, ctx, kind, Some(n), note),
            None => not_found(ctx),
        },
        ["links"] if m == "GET" => links::list(s, ctx, kind, Some(n)),
        [verb @ ("link" | "unlink")] if m == "POST" => {
            links::change(s, ctx, kind, Some(n), *verb == "link")
        }
        ["links" | "link" | "unlink"] => not_allowed(ctx),
        _ => not_found(ctx),
    }
}

fn not_found(ctx: &Ctx) -> Reply {
    Reply::not_found(format!(
        "no such route: {} /{}",
        ctx.method,
        ctx.seg.join("/")
    ))
}

fn not_allowed(ctx: &Ctx) -> Reply {
    Reply::problem(
        405,
        format!(
            "method {} is not allowed on /{}",
            ctx.method,
            ctx.seg.join("/")
        ),
    )
}
