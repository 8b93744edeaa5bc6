//! The amoCRM API v4 client: bearer token, under 7 requests/second, retries with backoff and
//! jitter, typed calls. Time (throttling, backoff) comes from the injected [`Clock`], so under a
//! virtual clock nothing waits in real time and the request times are reproducible.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::Method;
use serde_json::{Value, json};

use super::{model, requests};
use crate::clock::Clock;

pub use crate::secret::Secret;

/// Retry policy for transient failures (429, 5xx, timeouts, dropped connections).
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub max_times: usize,
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// Seed of the jitter; fixed in simulations so that journals are reproducible.
    pub jitter_seed: Option<u64>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_times: 6,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            jitter_seed: None,
        }
    }
}

impl RetryPolicy {
    /// The pauses between tries. `salt` varies the jitter of a seeded policy, so that two
    /// retry loops over one policy (a request's, and the engine's around a step) do not pause
    /// in step.
    pub(crate) fn backoff(&self, salt: u64) -> ExponentialBuilder {
        let b = ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_times)
            .with_jitter();
        match self.jitter_seed {
            Some(seed) => b.with_jitter_seed(seed ^ salt),
            None => b,
        }
    }
}

/// Keeps an exchange (a many-account deployment stores it in its database).
pub(crate) type OnExchange = dyn Fn(super::exchange::Exchange) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>
    + Send
    + Sync;

/// Tells from an answer's headers whether a simulation marked it lost.
pub(crate) type LostAnswer = dyn Fn(&reqwest::header::HeaderMap) -> bool + Send + Sync;

/// Observers of the client's traffic (for metrics).
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    /// Called with each answer's status (`None`: no answer).
    pub(crate) on_answer: Option<Arc<dyn Fn(Option<u16>) + Send + Sync>>,
    /// Called before each retry.
    pub(crate) on_retry: Option<Arc<dyn Fn() + Send + Sync>>,
    /// Called with each request and its answer (or its lack), tagged with the call in hand;
    /// awaited before the answer is used (a kept exchange is stored in order).
    pub(crate) on_exchange: Option<Arc<OnExchange>>,
    /// Asked before each request is sent: false fences it off (a replica whose lease ran out
    /// sends nothing, so replicas never write twice nor together exceed the rate limit).
    pub(crate) may_send: Option<Arc<dyn Fn() -> bool + Send + Sync>>,
    /// Asked of each answer's headers: true takes the answer as lost, as if the timeout had
    /// passed without it. Only a simulation installs it (its mock marks the answers it holds
    /// back on a virtual clock); a real client never has it.
    pub(crate) lost_answer: Option<Arc<LostAnswer>>,
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hooks")
    }
}

/// OAuth2 refresh: when amoCRM answers 401, a new access token is fetched with the refresh
/// token (`POST /oauth2/access_token`) and, with `file`, written back there.
#[derive(Clone, Debug)]
pub(crate) struct Refresh {
    pub(crate) refresh_token: Secret,
    pub(crate) client_id: String,
    pub(crate) client_secret: Secret,
    pub(crate) redirect_uri: String,
    pub(crate) file: Option<std::path::PathBuf>,
    /// Where else a new pair is kept before it is used (a many-account deployment seals it
    /// into its database): given the token JSON, answers why it could not be kept.
    pub(crate) save: Option<SaveToken>,
}

/// Keeps a refreshed token pair (its JSON text) before it is used.
#[derive(Clone)]
pub(crate) struct SaveToken(pub(crate) Arc<SaveFn>);

/// Given a token pair's JSON, keeps it or answers why not.
pub(crate) type SaveFn = dyn Fn(String) -> std::pin::Pin<Box<dyn Future<Output = Result<(), SaveError>> + Send>>
    + Send
    + Sync;

/// Why a refreshed token pair could not be kept (whatever the keeper's own error is).
pub(crate) type SaveError = Box<dyn std::error::Error + Send + Sync>;

impl fmt::Debug for SaveToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SaveToken")
    }
}

/// How to reach an account.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `https://SUBDOMAIN.amocrm.ru`, or the mock's base URL.
    pub(crate) base_url: String,
    pub(crate) token: Secret,
    pub(crate) clock: Clock,
    /// Requests per second the account allows (amoCRM: 7).
    pub(crate) rate_per_second: u32,
    /// Per-request timeout (real time).
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// OAuth2 refresh, when the token is an OAuth access token.
    pub(crate) refresh: Option<Refresh>,
    pub(crate) hooks: Hooks,
    /// An HTTP client to share (its connection pools and TLS set-up) with other accounts'
    /// clients of the same process; built of its own when `None`.
    pub(crate) http: Option<reqwest::Client>,
}

impl ClientConfig {
    pub fn new(base_url: impl Into<String>, token: Secret, clock: Clock) -> Self {
        ClientConfig {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            token,
            clock,
            rate_per_second: 7,
            timeout: Duration::from_secs(20),
            retry: RetryPolicy::default(),
            refresh: None,
            hooks: Hooks::default(),
            http: None,
        }
    }
}

/// What went wrong with a request. Never carries the token.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    #[error("{method} {path}: amoCRM answered {status}: {detail}")]
    Status {
        method: String,
        path: String,
        status: u16,
        detail: String,
        body: Option<Value>,
    },
    #[error("{method} {path}: no answer within {timeout_ms} ms")]
    Timeout {
        method: String,
        path: String,
        timeout_ms: u128,
    },
    #[error("{method} {path}: {message}")]
    Transport {
        method: String,
        path: String,
        message: String,
    },
    #[error("{method} {path}: unexpected answer: {message}")]
    Decode {
        method: String,
        path: String,
        message: String,
    },
    /// A request not sent: this replica does not hold the work (its lease ran out or another
    /// replica took over), so amoCRM must not see it from here.
    #[error("{method} {path}: not sent: this replica does not hold the work lease")]
    Fenced { method: String, path: String },
}

impl ClientError {
    pub(crate) fn status(&self) -> Option<u16> {
        match self {
            ClientError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
    /// Worth retrying: rate limited, server trouble, or no answer.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            ClientError::Status { status, .. } => *status == 429 || *status >= 500,
            ClientError::Timeout { .. } | ClientError::Transport { .. } => true,
            ClientError::Decode { .. } | ClientError::Fenced { .. } => false,
        }
    }
    /// A write may have been applied although it failed (5xx, timeout, dropped connection):
    /// look before writing again.
    pub(crate) fn is_uncertain(&self) -> bool {
        match self {
            ClientError::Status { status, .. } => *status >= 500,
            ClientError::Timeout { .. } | ClientError::Transport { .. } => true,
            ClientError::Decode { .. } | ClientError::Fenced { .. } => false,
        }
    }
    /// amoCRM refused the request itself (a 4xx other than 401 and 429): sending it again
    /// unchanged will not help.
    pub(crate) fn is_refusal(&self) -> bool {
        matches!(self, ClientError::Status { status, .. } if (400..500).contains(status) && *status != 401 && *status != 429)
    }
}

/// A successful answer's JSON body (`None` for 204).
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) body: Option<Value>,
}

/// governor's view of our clock.
#[derive(Clone, Debug)]
struct GovClock(Clock);

impl governor::clock::Clock for GovClock {
    type Instant = Duration;
    fn now(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.0.now_ms()).unwrap_or(0))
    }
}

type Limiter = governor::RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    GovClock,
    governor::middleware::NoOpMiddleware<Duration>,
>;

/// The amoCRM client. Cheap to clone; clones share the rate limiter.
#[derive(Clone)]
pub struct AmoClient {
    http: reqwest::Client,
    cfg: Arc<ClientConfig>,
    limiter: Arc<Limiter>,
    access: Arc<std::sync::RwLock<Secret>>,
    refresh: Option<Arc<tokio::sync::Mutex<Refresh>>>,
}

impl fmt::Debug for AmoClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmoClient")
            .field("base_url", &self.cfg.base_url)
            .finish_non_exhaustive()
    }
}

/// An answer's JSON body (`None` when empty); a success that is not JSON is an error, an
/// error answer that is not JSON has no body worth reading.
fn json_body(bytes: &[u8], status: u16) -> Result<Option<Value>, serde_json::Error> {
    if bytes.is_empty() {
        return Ok(None);
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => Ok(Some(v)),
        Err(e) if status < 300 => Err(e),
        Err(_) => Ok(None),
    }
}

/// Summarises a problem+json body: detail and validation paths.
fn describe(body: &Option<Value>) -> String {
    let Some(b) = body else {
        return "(empty body)".into();
    };
    let mut out = b
        .get("detail")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let errs: Vec<String> = model::validation_errors(b)
        .map(|e| {
            format!(
                "{} {}: {}",
                e["path"].as_str().unwrap_or(""),
                e["code"].as_str().unwrap_or(""),
                e["detail"].as_str().unwrap_or("")
            )
        })
        .collect();
    if !errs.is_empty() {
        out.push_str(&format!(" [{}]", errs.join("; ")));
    }
    if out.is_empty() { b.to_string() } else { out }
}

/// The HTTP client of amoCRM clients whose requests may take `timeout`.
pub(crate) fn http_client(timeout: Duration) -> Result<reqwest::Client, ClientError> {
    crate::http::client_builder()
        .timeout(timeout)
        .pool_max_idle_per_host(4)
        .build()
        .map_err(|e| ClientError::Transport {
            method: "-".into(),
            path: "-".into(),
            message: e.to_string(),
        })
}

impl AmoClient {
    pub fn new(cfg: ClientConfig) -> Result<Self, ClientError> {
        let http = match &cfg.http {
            Some(shared) => shared.clone(),
            None => http_client(cfg.timeout)?,
        };
        // One request every 1/rate seconds and a tenth more, no burst: never more than `rate`
        // in any second as the server counts arrivals, even when one request of a second was
        // delayed on its way (a new connection) and the next ones were not.
        let gap = 1_000_000 / u64::from(cfg.rate_per_second.max(1));
        let period = Duration::from_micros(gap + gap / 10);
        let quota = governor::Quota::with_period(period)
            .unwrap_or_else(|| governor::Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::MIN);
        let limiter = Arc::new(governor::RateLimiter::direct_with_clock(
            quota,
            GovClock(cfg.clock.clone()),
        ));
        let access = Arc::new(std::sync::RwLock::new(cfg.token.clone()));
        let refresh = cfg
            .refresh
            .clone()
            .map(|r| Arc::new(tokio::sync::Mutex::new(r)));
        Ok(AmoClient {
            http,
            cfg: Arc::new(cfg),
            limiter,
            access,
            refresh,
        })
    }

    pub(crate) fn clock(&self) -> &Clock {
        &self.cfg.clock
    }

    /// Waits (on the injected clock) until the rate limit allows one more request.
    async fn throttle(&self) {
        while let Err(not_until) = self.limiter.check() {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(&GovClock(
                self.cfg.clock.clone(),
            )));
            self.cfg
                .clock
                .sleep(wait.max(Duration::from_millis(1)))
                .await;
        }
    }

    /// A request that got no (complete) answer: timed out or the connection failed.
    fn no_answer(&self, method: &str, path: &str, e: reqwest::Error) -> ClientError {
        if e.is_timeout() {
            ClientError::Timeout {
                method: method.into(),
                path: path.into(),
                timeout_ms: self.cfg.timeout.as_millis(),
            }
        } else {
            ClientError::Transport {
                method: method.into(),
                path: path.into(),
                message: e.without_url().to_string(),
            }
        }
    }

    /// The request, with the access token.
    fn request(
        &self,
        method: &Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> reqwest::RequestBuilder {
        let url = format!("{}{}", self.cfg.base_url, path);
        let token = self
            .access
            .read()
            .map(|t| t.clone())
            .unwrap_or_else(|p| p.into_inner().clone());
        let mut req = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(token.expose());
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req
    }

    async fn once(
        &self,
        method: &Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Answer, ClientError> {
        self.throttle().await;
        if let Some(may_send) = &self.cfg.hooks.may_send
            && !may_send()
        {
            return Err(ClientError::Fenced {
                method: method.as_str().into(),
                path: path.into(),
            });
        }
        let m = method.as_str().to_string();
        let sent_ms = self.cfg.clock.now_ms();
        let resp = self.request(method, path, query, body).send().await;
        if let Some(hook) = &self.cfg.hooks.on_answer {
            hook(resp.as_ref().ok().map(|r| r.status().as_u16()));
        }
        let exchange = |status: Option<u16>, response: Option<&Value>| {
            let hook = self.cfg.hooks.on_exchange.clone();
            let x = super::exchange::Exchange {
                call_id: super::exchange::current_call(),
                at_ms: sent_ms,
                method: m.clone(),
                path: path.to_string(),
                query: crate::http::form_encode(query),
                request: body.cloned(),
                status,
                response: response.cloned(),
            };
            async move {
                if let Some(hook) = hook {
                    hook(x).await;
                }
            }
        };
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                exchange(None, None).await;
                return Err(self.no_answer(&m, path, e));
            }
        };
        if let Some(lost) = &self.cfg.hooks.lost_answer
            && lost(resp.headers())
        {
            // A simulated lost answer: what a real client sees after waiting out its timeout.
            return Err(ClientError::Timeout {
                method: m,
                path: path.into(),
                timeout_ms: self.cfg.timeout.as_millis(),
            });
        }
        let status = resp.status().as_u16();
        let bytes = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => {
                exchange(None, None).await;
                return Err(self.no_answer(&m, path, e));
            }
        };
        let body = json_body(&bytes, status).map_err(|e| ClientError::Decode {
            method: m.clone(),
            path: path.into(),
            message: format!("not JSON: {e}"),
        })?;
        exchange(Some(status), body.as_ref()).await;
        if status >= 400 {
            return Err(ClientError::Status {
                method: m,
                path: path.into(),
                status,
                detail: describe(&body),
                body,
            });
        }
        Ok(Answer { body })
    }

    /// Sends a request. Reads (and writes known to be idempotent) retry every transient
    /// failure; other writes retry only 429, which amoCRM answers before doing anything.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        idempotent: bool,
    ) -> Result<Answer, ClientError> {
        match self
            .send_retrying(&method, path, query, body, idempotent)
            .await
        {
            Err(e) if e.status() == Some(401) && self.refresh.is_some() => {
                self.refresh_token().await?;
                self.send_retrying(&method, path, query, body, idempotent)
                    .await
            }
            other => other,
        }
    }

    /// Gets a new access token with the refresh token and stores both.
    async fn refresh_token(&self) -> Result<(), ClientError> {
        let Some(refresh) = &self.refresh else {
            return Ok(());
        };
        let mut r = refresh.lock().await;
        let path = "/oauth2/access_token";
        let fail = |message: String| ClientError::Transport {
            method: "POST".into(),
            path: path.into(),
            message,
        };
        let body = json!({
            "client_id": r.client_id, "client_secret": r.client_secret.expose(), "grant_type": "refresh_token",
            "refresh_token": r.refresh_token.expose(), "redirect_uri": r.redirect_uri,
        });
        let resp = self
            .http
            .post(format!("{}{path}", self.cfg.base_url))
            .json(&body)
            .send()
            .await
            .map_err(|e| fail(e.without_url().to_string()))?;
        let status = resp.status().as_u16();
        let answer: Value = resp
            .json()
            .await
            .map_err(|e| fail(format!("not JSON: {}", e.without_url())))?;
        if status != 200 {
            return Err(ClientError::Status {
                method: "POST".into(),
                path: path.into(),
                status,
                detail: "the refresh token was refused; authorise the integration again".into(),
                body: None,
            });
        }
        let (Some(access), Some(next)) = (
            answer["access_token"].as_str(),
            answer["refresh_token"].as_str(),
        ) else {
            return Err(ClientError::Decode {
                method: "POST".into(),
                path: path.into(),
                message: "no access_token/refresh_token in the answer".into(),
            });
        };
        // amoCRM's refresh tokens are single-use: the new pair is on disk (0600, atomically)
        // before it is used, or a crash would leave only the revoked one.
        let text = json!({
            "access_token": access, "refresh_token": next, "client_id": r.client_id,
            "client_secret": r.client_secret.expose(), "redirect_uri": r.redirect_uri,
        })
        .to_string();
        if let Some(file) = &r.file {
            crate::private_file::write_atomic(file, text.as_bytes()).map_err(|e| {
                fail(format!(
                    "cannot save the new tokens to {}: {e}",
                    file.display()
                ))
            })?;
        }
        if let Some(save) = &r.save {
            (save.0)(text.clone())
                .await
                .map_err(|e| fail(format!("cannot save the new tokens: {e}")))?;
        }
        r.refresh_token = Secret::new(next);
        if let Ok(mut a) = self.access.write() {
            *a = Secret::new(access);
        }
        tracing::info!("amoCRM access token refreshed");
        Ok(())
    }

    async fn send_retrying(
        &self,
        method: &Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        idempotent: bool,
    ) -> Result<Answer, ClientError> {
        let method = method.clone();
        let on_retry = self.cfg.hooks.on_retry.clone();
        let clock = self.cfg.clock.clone();
        (|| self.once(&method, path, query, body))
            .retry(self.cfg.retry.backoff(0))
            .sleep(move |d| {
                let c = clock.clone();
                async move { c.sleep(d).await }
            })
            .when(|e: &ClientError| if idempotent { e.is_transient() } else { e.status() == Some(429) })
            .notify(|e, d| {
                if let Some(h) = &on_retry {
                    h();
                }
                tracing::warn!(error = %e, retry_in_ms = d.as_millis() as u64, "amoCRM request failed; retrying")
            })
            .await
    }

    /// The retry policy, for callers that retry whole operations (look-then-create).
    pub(crate) fn retry_policy(&self) -> RetryPolicy {
        self.cfg.retry
    }

    /// A GET list: `_embedded.<key>` as typed items, empty on 204.
    async fn list<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        key: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<T>, ClientError> {
        let a = self.send(Method::GET, path, query, None, true).await?;
        let Some(body) = a.body else {
            return Ok(Vec::new());
        };
        Self::decode(path, model::embedded(&body, key))
    }

    fn decode<T>(path: &str, r: Result<T, serde_json::Error>) -> Result<T, ClientError> {
        r.map_err(|e| ClientError::Decode {
            method: "-".into(),
            path: path.into(),
            message: e.to_string(),
        })
    }

    // ---- account ---------------------------------------------------------------------------

    pub(crate) async fn users(&self) -> Result<Vec<model::User>, ClientError> {
        let mut out = Vec::new();
        for page in 1.. {
            let a = self
                .send(
                    Method::GET,
                    "/api/v4/users",
                    &[("page", page.to_string()), ("limit", "250".into())],
                    None,
                    true,
                )
                .await?;
            let Some(body) = a.body else { break };
            let users: Vec<model::User> =
                Self::decode("/api/v4/users", model::embedded(&body, "users"))?;
            out.extend(users);
            if body.pointer("/_links/next").is_none() {
                break;
            }
        }
        Ok(out)
    }

    pub(crate) async fn pipelines(&self) -> Result<Vec<model::Pipeline>, ClientError> {
        self.list("/api/v4/leads/pipelines", "pipelines", &[]).await
    }

    // ---- contacts and leads ---------------------------------------------------------------

    /// Visible contacts that amoCRM's full-text `query` finds for `text`, with their lead ids
    /// (`with=leads`). The search also matches names and other fields: re-check the phones.
    pub(crate) async fn search_contacts(
        &self,
        text: &str,
    ) -> Result<Vec<model::Contact>, ClientError> {
        let q = [("query", text.to_string()), ("with", "leads".into())];
        self.list("/api/v4/contacts", "contacts", &q).await
    }

    /// Leads by id (up to 250 ids per request).
    pub(crate) async fn leads_by_ids(&self, ids: &[u64]) -> Result<Vec<model::Lead>, ClientError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(250) {
            let mut q: Vec<(&str, String)> = chunk
                .iter()
                .map(|id| ("filter[id][]", id.to_string()))
                .collect();
            q.push(("limit", "250".into()));
            let a = self
                .send(Method::GET, "/api/v4/leads", &q, None, true)
                .await?;
            if let Some(body) = a.body {
                out.extend(Self::decode::<Vec<model::Lead>>(
                    "/api/v4/leads",
                    model::embedded(&body, "leads"),
                )?);
            }
        }
        Ok(out)
    }

    /// `POST /api/v4/leads/complex` with one lead and one new contact; answers (lead, contact).
    pub(crate) async fn create_complex(
        &self,
        lead: &requests::NewLead,
    ) -> Result<(u64, Option<u64>), ClientError> {
        let path = "/api/v4/leads/complex";
        let body = Self::one(path, lead)?;
        let a = self
            .send(Method::POST, path, &[], Some(&body), false)
            .await?;
        let body = a.body.unwrap_or(Value::Null);
        let created = Self::decode(path, model::complex_created(&body))?;
        let first = created.first().ok_or_else(|| ClientError::Decode {
            method: "POST".into(),
            path: path.into(),
            message: "no lead in the answer".into(),
        })?;
        Ok((first.id, first.contact_id))
    }

    /// `POST /api/v4/contacts` with one contact; answers its id.
    pub(crate) async fn create_contact(
        &self,
        contact: &requests::NewContact,
    ) -> Result<u64, ClientError> {
        self.create_one("/api/v4/contacts", "contacts", contact)
            .await
    }

    /// `POST /api/v4/leads` with one lead; answers its id.
    pub(crate) async fn create_lead(&self, lead: &requests::NewLead) -> Result<u64, ClientError> {
        self.create_one("/api/v4/leads", "leads", lead).await
    }

    /// `POST /api/v4/tasks` with one task; answers its id.
    pub(crate) async fn create_task(&self, task: &requests::NewTask) -> Result<u64, ClientError> {
        self.create_one("/api/v4/tasks", "tasks", task).await
    }

    /// `POST /api/v4/{leads|contacts}/{id}/notes` with one note; answers its id.
    pub(crate) async fn add_note(
        &self,
        on: requests::EntityRef,
        note: &requests::CallNote,
    ) -> Result<u64, ClientError> {
        let path = format!("/api/v4/{}/{}/notes", on.kind(), on.id());
        self.create_one(&path, "notes", note).await
    }

    /// The body of a create: a list of the one item, as every amoCRM create takes.
    fn one(path: &str, item: &impl serde::Serialize) -> Result<Value, ClientError> {
        serde_json::to_value([item]).map_err(|e| ClientError::Decode {
            method: "POST".into(),
            path: path.into(),
            message: format!("cannot write the request body: {e}"),
        })
    }

    /// Creates one entity at `path` and answers its id from `_embedded.<key>`.
    async fn create_one(
        &self,
        path: &str,
        key: &str,
        item: &impl serde::Serialize,
    ) -> Result<u64, ClientError> {
        let body = Self::one(path, item)?;
        let a = self
            .send(Method::POST, path, &[], Some(&body), false)
            .await?;
        let body = a.body.unwrap_or(Value::Null);
        let ids: Vec<model::IdRef> = Self::decode(path, model::embedded(&body, key))?;
        ids.first()
            .map(|r| r.id)
            .ok_or_else(|| ClientError::Decode {
                method: "POST".into(),
                path: path.into(),
                message: format!("no {key} in the answer"),
            })
    }

    // ---- Unsorted -------------------------------------------------------------------------

    pub(crate) async fn create_unsorted_sip(
        &self,
        item: &requests::NewSipItem,
    ) -> Result<model::Unsorted, ClientError> {
        let path = "/api/v4/leads/unsorted/sip";
        let body = Self::one(path, item)?;
        let a = self
            .send(Method::POST, path, &[], Some(&body), false)
            .await?;
        let body = a.body.unwrap_or(Value::Null);
        let items: Vec<model::Unsorted> = Self::decode(path, model::embedded(&body, "unsorted"))?;
        items.into_iter().next().ok_or_else(|| ClientError::Decode {
            method: "POST".into(),
            path: path.into(),
            message: "no item in the answer".into(),
        })
    }

    /// An Unsorted item, or `None` when amoCRM does not return it. Whether amoCRM still
    /// returns an accepted or declined item is not documented: read its state with
    /// `engine`'s item check, never from this answer's presence alone.
    pub(crate) async fn unsorted(&self, uid: &str) -> Result<Option<model::Unsorted>, ClientError> {
        let path = format!("/api/v4/leads/unsorted/{uid}");
        self.get_one(&path).await
    }

    /// One lead, or `None` when it does not exist (204 or 404).
    pub(crate) async fn lead(&self, id: u64) -> Result<Option<model::Lead>, ClientError> {
        self.get_one(&format!("/api/v4/leads/{id}")).await
    }

    /// One visible contact, or `None` (204 or 404).
    pub(crate) async fn contact(&self, id: u64) -> Result<Option<model::Contact>, ClientError> {
        self.get_one(&format!("/api/v4/contacts/{id}")).await
    }

    /// `GET path` of one entity: `None` for 204 (amoCRM's "nothing") and 404.
    async fn get_one<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Option<T>, ClientError> {
        match self.send(Method::GET, path, &[], None, true).await {
            Ok(Answer { body: None, .. }) => Ok(None),
            Ok(Answer { body: Some(b), .. }) => {
                Self::decode(path, serde_json::from_value(b)).map(Some)
            }
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Pending sip items, newest first, for finding one by `source_uid`.
    pub(crate) async fn pending_unsorted(&self) -> Result<Vec<model::Unsorted>, ClientError> {
        let q = [
            ("filter[category][]", "sip".to_string()),
            ("order[created_at]", "desc".into()),
            ("limit", "250".into()),
        ];
        self.list("/api/v4/leads/unsorted", "unsorted", &q).await
    }

    /// Accepts a pending item on behalf of `user_id`. A refusal is returned as it came:
    /// amoCRM documents no code for "already accepted", so the caller reads the item to decide.
    pub(crate) async fn accept_unsorted(&self, uid: &str, user_id: u64) -> Result<(), ClientError> {
        let path = format!("/api/v4/leads/unsorted/{uid}/accept");
        let body = json!({ "user_id": user_id });
        self.send(Method::POST, &path, &[], Some(&body), true)
            .await
            .map(|_| ())
    }

    // ---- tasks and notes -----------------------------------------------------------------

    /// One task, or `None` when it no longer exists.
    pub(crate) async fn task(&self, id: u64) -> Result<Option<model::Task>, ClientError> {
        self.get_one(&format!("/api/v4/tasks/{id}")).await
    }

    /// Open tasks on one entity.
    pub(crate) async fn open_tasks(
        &self,
        on: requests::EntityRef,
    ) -> Result<Vec<model::Task>, ClientError> {
        let (entity_type, entity_id) = (on.kind(), on.id());
        let q = [
            ("filter[is_completed]", "0".to_string()),
            ("filter[entity_type]", entity_type.to_string()),
            ("filter[entity_id][]", entity_id.to_string()),
            ("limit", "250".into()),
        ];
        self.list("/api/v4/tasks", "tasks", &q).await
    }

    /// Notes of one entity.
    pub(crate) async fn notes(
        &self,
        on: requests::EntityRef,
    ) -> Result<Vec<model::Note>, ClientError> {
        let path = format!("/api/v4/{}/{}/notes", on.kind(), on.id());
        self.list(&path, "notes", &[("limit", "250".into())]).await
    }
}
