//! A stateful amoCRM account served over real HTTP by wiremock.
//!
//! ```no_run
//! # async fn demo() {
//! use sipamo::sim::mock::{MockCrm, MockOptions};
//! let mock = MockCrm::start(MockOptions::default()).await;
//! let base = mock.uri(); // point any amoCRM client here, with `mock.token()`
//! # let _ = base;
//! let journal = mock.journal(); // every request, in order
//! # let _ = journal;
//! # }
//! ```
//!
//! One catch-all wiremock mock routes every request to `router::CrmResponder`, which
//! answers from a [`CrmState`] behind a lock: searches see what creates made, Unsorted
//! items hide their contact and lead until accepted, and every request lands in the journal
//! with the (virtual) time it arrived.

pub(crate) mod auth;
pub(crate) mod events;
pub(crate) mod faults;
pub(crate) mod fields;
pub(crate) mod filters;
pub(crate) mod handlers;
pub mod journal;
pub(crate) mod query;
pub(crate) mod render;
pub(crate) mod reply;
pub(crate) mod router;
pub(crate) mod seed;
pub mod state;
pub(crate) mod tags;
pub(crate) mod tls;

use std::time::Duration;

use wiremock::matchers::any as any_request;
use wiremock::{Mock, MockServer};

pub use faults::{FaultError, FaultSpec, any, fail, get, post};
pub(crate) use journal::JournalEntry;
pub(crate) use router::SharedHandle;
pub use seed::{CrmSeed, SeedError};
pub use state::{CrmState, UnsortedState};

use crate::amocrm::client::{ClientConfig, Refresh, Secret};
use crate::clock::Clock;
use crate::phone::digits_key;

/// The header the mock puts on an answer it "loses" (a hang fault) when it runs on a virtual
/// clock; [`MockCrm::client_config`] installs the client hook that takes it as a timeout.
pub(crate) const LOST_ANSWER_HEADER: &str = "x-sipamo-answer-lost";

/// amoCRM blocks a client that keeps exceeding the rate limit: every request gets 403 for a
/// while. amoCRM publishes neither number, so both are settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lockout {
    /// 429s within a minute that trigger the lock-out.
    pub after: u32,
    /// How long every request then gets 403.
    pub for_ms: i64,
}

/// How to start a mock account.
#[derive(Debug)]
pub struct MockOptions {
    /// The bearer token clients must send.
    pub token: String,
    pub clock: Clock,
    pub state: CrmState,
    /// At most this many requests in any 1-second window (`None`: unlimited).
    pub rate_limit: Option<u32>,
    /// With a rate limit: the 403 lock-out after repeated 429s (`None`: never).
    pub lockout: Option<Lockout>,
    /// The origin clients call, for `_links` (e.g. the HTTPS front); default the server's URI.
    pub public_base: Option<String>,
    /// How long a `hang` fault holds its answer back.
    pub hang_for: Duration,
    /// Serve on this listener (e.g. a fixed port) instead of a random loopback port.
    pub listener: Option<std::net::TcpListener>,
    /// The refresh token `POST /oauth2/access_token` first accepts (each refresh rotates it).
    pub refresh_token: String,
    /// Lifetime of access tokens, the first one included (`None`: amoCRM's 24 hours).
    pub token_ttl: Option<Duration>,
    /// `GET /leads/unsorted/{uid}` answers accepted and declined items too, instead of 204.
    pub list_processed_unsorted: bool,
    /// An Unsorted sip item with `metadata.is_call_event_needed: true` puts its call on its
    /// lead as a `call_in` note (amoCRM documents "a call event is added"; whether it is a note
    /// the API lists is not documented: clients must cope with both).
    pub unsorted_call_events: bool,
    /// How `query` reads a phone number (strict: as typed; lenient: any notation).
    pub search: state::SearchMode,
    /// `responsible_user_id: 0` in a write is refused instead of changing nothing.
    pub refuse_zero_responsible: bool,
    /// A `source_uid` may not repeat across Unsorted categories.
    pub source_uid_across_categories: bool,
}

impl Default for MockOptions {
    fn default() -> Self {
        let mut state = CrmState::default();
        state.add_pipeline(seed::default_pipeline());
        // An account always has its owner: the user the token belongs to.
        state.users.insert(
            1,
            state::User {
                id: 1,
                name: "Администратор".into(),
            },
        );
        MockOptions {
            token: "mock-token".into(),
            clock: Clock::System,
            state,
            rate_limit: None,
            lockout: None,
            public_base: None,
            hang_for: Duration::from_secs(30),
            listener: None,
            refresh_token: "mock-refresh".into(),
            token_ttl: None,
            list_processed_unsorted: false,
            unsorted_call_events: false,
            search: state::SearchMode::Strict,
            refuse_zero_responsible: false,
            source_uid_across_categories: false,
        }
    }
}

/// A running mock account. Dropping it stops the server.
pub struct MockCrm {
    server: MockServer,
    shared: SharedHandle,
    token: String,
    /// The refresh token the account first accepts.
    refresh_token: String,
    clock: Clock,
}

/// A manager action that found nothing to act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ActionError(pub(crate) String);

impl MockCrm {
    pub async fn start(opts: MockOptions) -> Self {
        let mut builder = MockServer::builder().disable_request_recording();
        if let Some(l) = opts.listener {
            builder = builder.listener(l);
        }
        let server = builder.start().await;
        let mut state = opts.state;
        state.list_processed_unsorted |= opts.list_processed_unsorted;
        state.unsorted_call_events |= opts.unsorted_call_events;
        if opts.search != state::SearchMode::Strict {
            state.search = opts.search;
        }
        state.refuse_zero_responsible |= opts.refuse_zero_responsible;
        state.source_uid_across_categories |= opts.source_uid_across_categories;
        let shared = SharedHandle::new(state);
        shared.lock().auth = auth::Auth::new(
            &opts.token,
            &opts.refresh_token,
            opts.token_ttl
                .map(|t| i64::try_from(t.as_millis()).unwrap_or(i64::MAX)),
            opts.clock.now_ms(),
        );
        let responder = router::CrmResponder {
            shared: shared.clone(),
            clock: opts.clock.clone(),
            token: opts.token.clone(),
            base: opts.public_base.unwrap_or_else(|| server.uri()),
            rate_limit: opts.rate_limit,
            lockout: opts.lockout,
            hang_for: opts.hang_for,
        };
        Mock::given(any_request())
            .respond_with(responder)
            .mount(&server)
            .await;
        MockCrm {
            server,
            shared,
            token: opts.token,
            refresh_token: opts.refresh_token,
            clock: opts.clock,
        }
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The socket address the mock listens on.
    pub(crate) fn address(&self) -> std::net::SocketAddr {
        *self.server.address()
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// A client configuration for this mock on `clock`, as `serve` builds one for an OAuth
    /// integration: its address, its access token and its refresh token (an expired access
    /// token is refreshed on the 401, the same code path as production's), and, on a virtual
    /// clock, the hook that takes an answer the mock marks lost as a timeout (no real time
    /// passes on a virtual clock, so the mock cannot simply keep its answer back).
    pub fn client_config(&self, clock: Clock) -> ClientConfig {
        let virtual_clock = clock.is_virtual();
        let mut cfg = ClientConfig::new(self.uri(), Secret::new(self.token()), clock);
        cfg.refresh = Some(Refresh {
            refresh_token: Secret::new(self.refresh_token.clone()),
            client_id: "sipamo-simulation".into(),
            client_secret: Secret::new("simulation-client-secret"),
            redirect_uri: "https://example.invalid/oauth".into(),
            file: None,
            save: None,
        });
        if virtual_clock {
            cfg.hooks.lost_answer = Some(std::sync::Arc::new(|headers| {
                headers.contains_key(LOST_ANSWER_HEADER)
            }));
        }
        cfg
    }

    /// Reads (or, for test set-up, changes) the account directly, without HTTP.
    pub fn with_state<R>(&self, f: impl FnOnce(&mut CrmState) -> R) -> R {
        f(&mut self.shared.lock().state)
    }

    /// A copy of the account as it is now.
    pub fn snapshot(&self) -> CrmState {
        self.shared.lock().state.clone()
    }

    /// Looks at the account and the journal together, without copying either.
    pub(crate) fn inspect<R>(&self, f: impl FnOnce(&CrmState, &[JournalEntry]) -> R) -> R {
        let g = self.shared.lock();
        f(&g.state, &g.journal)
    }

    pub fn journal(&self) -> Vec<JournalEntry> {
        self.shared.lock().journal.clone()
    }

    pub fn journal_len(&self) -> usize {
        self.shared.lock().journal.len()
    }

    /// Arms a fault: the next `times` requests matching it fail or hang.
    pub fn arm(&self, spec: &FaultSpec) -> Result<(), FaultError> {
        let fault = spec.arm(self.clock.now_ms())?;
        self.shared.lock().faults.push(fault);
        Ok(())
    }

    // ---- manager actions, as done in the amoCRM interface (not journaled) --------------

    /// Accepts the newest pending Unsorted item of this phone on behalf of `user`.
    pub fn accept_unsorted(&self, phone: &str, user: u64) -> Result<String, ActionError> {
        let mut g = self.shared.lock();
        let now = self.clock.now_secs();
        if !g.state.users.contains_key(&user) {
            return Err(ActionError(format!(
                "accept_unsorted: user {user} is not in the account"
            )));
        }
        let uid = pending_uid(&g.state, phone)?;
        g.state.accept_unsorted(&uid, Some(user), None, now);
        Ok(uid)
    }

    /// Declines the newest pending Unsorted item of this phone.
    pub fn decline_unsorted(&self, phone: &str) -> Result<String, ActionError> {
        let now = self.clock.now_secs();
        let mut g = self.shared.lock();
        let uid = pending_uid(&g.state, phone)?;
        g.state.decline_unsorted(&uid, now);
        Ok(uid)
    }

    /// Open tasks on an entity of this phone, or an error naming `action`.
    fn open_tasks_of(s: &CrmState, phone: &str, action: &str) -> Result<Vec<u64>, ActionError> {
        let key = digits_key(phone).unwrap_or_default();
        let ids: Vec<u64> = s
            .tasks
            .values()
            .filter(|t| {
                !t.is_completed && s.phone_keys_of(t.entity_type, t.entity_id).contains(&key)
            })
            .map(|t| t.id)
            .collect();
        if ids.is_empty() {
            return Err(ActionError(format!("{action}: no open task for {phone}")));
        }
        Ok(ids)
    }

    /// Applies `change` to every open task on an entity of this phone; answers how many.
    fn change_tasks(
        &self,
        phone: &str,
        action: &str,
        mut change: impl FnMut(&mut state::Task, i64),
    ) -> Result<usize, ActionError> {
        let mut g = self.shared.lock();
        let now = self.clock.now_secs();
        let ids = Self::open_tasks_of(&g.state, phone, action)?;
        for id in &ids {
            if let Some(t) = g.state.tasks.get_mut(id) {
                change(t, now);
                t.updated_at = now;
            }
        }
        Ok(ids.len())
    }

    /// Completes every open task on an entity of this phone; answers how many.
    pub fn complete_tasks(&self, phone: &str) -> Result<usize, ActionError> {
        self.change_tasks(phone, "complete_task", |t, _| {
            t.is_completed = true;
            t.result_text = Some("Перезвонили".into());
        })
    }

    /// Moves the deadline of every open task of this phone to `complete_till` (Unix seconds).
    pub(crate) fn move_tasks(&self, phone: &str, complete_till: i64) -> Result<usize, ActionError> {
        self.change_tasks(phone, "move_task", |t, _| t.complete_till = complete_till)
    }

    /// Deletes every open task of this phone, as a manager does in the interface.
    pub(crate) fn delete_tasks(&self, phone: &str) -> Result<usize, ActionError> {
        let mut g = self.shared.lock();
        let ids = Self::open_tasks_of(&g.state, phone, "delete_task")?;
        for id in &ids {
            g.state.tasks.remove(id);
        }
        Ok(ids.len())
    }

    /// Closes every active visible lead of this phone's contacts with `status` (142 or 143).
    pub(crate) fn close_leads(&self, phone: &str, status: u64) -> Result<usize, ActionError> {
        if status != state::WON && status != state::LOST {
            return Err(ActionError(format!(
                "close_lead: status {status} is not 142 (won) or 143 (lost)"
            )));
        }
        let key = digits_key(phone).unwrap_or_default();
        let mut g = self.shared.lock();
        let now = self.clock.now_secs();
        let s = &mut g.state;
        let leads: Vec<(u64, u64)> = s
            .contacts_by_phone_key(&key)
            .iter()
            .flat_map(|c| s.leads_of_contact(*c).to_vec())
            .filter_map(|l| {
                s.visible_lead(l)
                    .filter(|l| l.is_active())
                    .map(|l| (l.id, l.pipeline_id))
            })
            .collect();
        if leads.is_empty() {
            return Err(ActionError(format!(
                "close_lead: no active lead for {phone}"
            )));
        }
        for (id, pipeline) in &leads {
            s.set_lead_status(*id, *pipeline, status, now);
        }
        Ok(leads.len())
    }
}

fn pending_uid(s: &CrmState, phone: &str) -> Result<String, ActionError> {
    let key = digits_key(phone).unwrap_or_default();
    s.unsorted_order
        .iter()
        .rev()
        .filter_map(|uid| s.pending_unsorted(uid))
        .find(|u| u.phone_key.as_deref() == Some(key.as_str()))
        .map(|u| u.uid.clone())
        .ok_or_else(|| ActionError(format!("no pending Unsorted item for {phone}")))
}
