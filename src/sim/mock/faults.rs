//! Armed faults: the next K requests matching a path (and method) fail or hang.

use serde::Deserialize;

/// What a matching request gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FaultAction {
    /// Answer this status without touching the state.
    Status(u16),
    /// Apply the request, then hold the answer back past the client's timeout. A request the
    /// account refuses (4xx/5xx) is answered at once and the fault waits for the next one.
    Hang,
}

/// A fault as written in a scenario or armed by a test.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Exact request path (query string ignored), e.g. `/api/v4/leads/complex`; a trailing `*`
    /// matches any path with that prefix (`/api/v4/*` with `method: POST`: the next write).
    pub path: String,
    /// Optional HTTP method that narrows the match.
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub hang: bool,
    /// How many matching requests it affects (default 1).
    #[serde(default = "one")]
    pub times: u32,
    /// An outage: for this long (virtual time, from when it is armed) every matching request
    /// fails or hangs, whatever `times` says (`{ path: "/*", status: 503, for: 10m }`: amoCRM
    /// down for ten minutes).
    #[serde(default, rename = "for")]
    pub lasts: Option<crate::duration::Span>,
}

fn one() -> u32 {
    1
}

/// Why a fault cannot be armed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultError {
    #[error("fault on {0}: give either `status` or `hang: true`, not both")]
    Both(String),
    #[error("fault on {0}: give a `status` (e.g. 503) or `hang: true`")]
    Neither(String),
    #[error("fault on {0}: status {1} is not an error status; use 400-599")]
    NotAnError(String, u16),
    #[error("fault path {0:?} must start with /")]
    Path(String),
}

/// An armed fault with its remaining count.
#[derive(Clone, Debug)]
pub(crate) struct Fault {
    pub(crate) path: String,
    pub(crate) method: Option<String>,
    pub(crate) action: FaultAction,
    pub(crate) remaining: u32,
    /// A lasting fault: every match fires until this instant (clock ms), `remaining` unused.
    pub(crate) until_ms: Option<i64>,
}

/// A fault on requests to `path` with any method, to be given a status or a hang
/// (in the style of wiremock's matchers): `fail(post("/api/v4/tasks")).status(502).times(2)`.
pub fn fail(spec: FaultSpec) -> FaultSpec {
    spec
}

/// Requests to `path` with any method.
pub fn any(path: &str) -> FaultSpec {
    FaultSpec {
        path: path.into(),
        method: None,
        status: None,
        hang: false,
        times: 1,
        lasts: None,
    }
}

/// `POST` requests to `path`.
pub fn post(path: &str) -> FaultSpec {
    FaultSpec {
        method: Some("POST".into()),
        ..any(path)
    }
}

/// `GET` requests to `path`.
pub fn get(path: &str) -> FaultSpec {
    FaultSpec {
        method: Some("GET".into()),
        ..any(path)
    }
}

impl FaultSpec {
    /// Answer this status instead of handling the request.
    pub fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Apply the write, then hold its answer back (a lost answer).
    pub fn hang(mut self) -> Self {
        self.hang = true;
        self
    }

    /// Affect this many matching requests (1 unless set).
    pub fn times(mut self, times: u32) -> Self {
        self.times = times;
        self
    }

    /// Affect every matching request for this many seconds from when it is armed.
    pub fn lasting(mut self, secs: u64) -> Self {
        self.lasts = Some(crate::duration::Span(secs));
        self
    }

    /// The fault armed at `now_ms` (a lasting fault ends `lasts` after it).
    pub(crate) fn arm(&self, now_ms: i64) -> Result<Fault, FaultError> {
        if !self.path.starts_with('/') {
            return Err(FaultError::Path(self.path.clone()));
        }
        let action = match (self.status, self.hang) {
            (Some(_), true) => return Err(FaultError::Both(self.path.clone())),
            (None, false) => return Err(FaultError::Neither(self.path.clone())),
            (Some(s), false) if !(400..=599).contains(&s) => {
                return Err(FaultError::NotAnError(self.path.clone(), s));
            }
            (Some(s), false) => FaultAction::Status(s),
            (None, true) => FaultAction::Hang,
        };
        let until_ms = self.lasts.map(|d| now_ms.saturating_add(d.ms()));
        Ok(Fault {
            path: self.path.clone(),
            method: self.method.as_ref().map(|m| m.to_ascii_uppercase()),
            action,
            remaining: self.times,
            until_ms,
        })
    }
}

/// Faults in the order armed; the first live match fires.
#[derive(Clone, Debug, Default)]
pub(crate) struct Faults {
    armed: Vec<Fault>,
    /// The hang fault that fired last, to give back when its request was refused.
    last_hang: Option<Fault>,
    /// The fault that fired last was a lasting one: nothing was used up, nothing to give back.
    last_lasting: bool,
}

impl Faults {
    pub(crate) fn push(&mut self, f: Fault) {
        self.armed.push(f);
    }

    /// Puts back one use of a fault that fired on a request it should not have held (a hang
    /// fault holds only the answer of a write amoCRM applied, not of a refusal).
    pub(crate) fn give_back(&mut self, method: &str, path: &str) {
        if self.last_lasting {
            return;
        }
        let mut f = self.last_hang.take().unwrap_or_else(|| Fault {
            path: path.to_string(),
            method: Some(method.to_string()),
            action: FaultAction::Hang,
            remaining: 0,
            until_ms: None,
        });
        f.remaining = 1;
        self.armed.insert(0, f);
    }

    /// Consumes one use of the first fault matching this request at `now_ms`, if any (a
    /// lasting fault is not used up; it ends at its instant).
    pub(crate) fn take(&mut self, method: &str, path: &str, now_ms: i64) -> Option<FaultAction> {
        self.armed
            .retain(|f| f.until_ms.map_or(f.remaining > 0, |until| now_ms < until));
        let f = self.armed.iter_mut().find(|f| {
            let path_matches = match f.path.strip_suffix('*') {
                Some(prefix) => path.starts_with(prefix),
                None => f.path == path,
            };
            path_matches && f.method.as_deref().is_none_or(|m| m == method)
        })?;
        let action = f.action.clone();
        self.last_lasting = f.until_ms.is_some();
        if !self.last_lasting {
            f.remaining -= 1;
            if action == FaultAction::Hang {
                self.last_hang = Some(f.clone());
            }
        }
        self.armed
            .retain(|f| f.until_ms.is_some() || f.remaining > 0);
        Some(action)
    }

    pub(crate) fn pending(&self) -> usize {
        self.armed.len()
    }

    pub(crate) fn clear(&mut self) {
        self.armed.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_fire_in_order_and_expire() {
        let mut faults = Faults::default();
        let spec = |status, times| FaultSpec {
            path: "/api/v4/tasks".into(),
            method: None,
            status: Some(status),
            hang: false,
            times,
            lasts: None,
        };
        faults.push(spec(503, 2).arm(0).unwrap());
        faults.push(spec(429, 1).arm(0).unwrap());
        let take = |f: &mut Faults, path| f.take("POST", path, 0);
        assert_eq!(faults.take("GET", "/api/v4/leads", 0), None);
        assert_eq!(
            take(&mut faults, "/api/v4/tasks"),
            Some(FaultAction::Status(503))
        );
        assert_eq!(
            take(&mut faults, "/api/v4/tasks"),
            Some(FaultAction::Status(503))
        );
        assert_eq!(
            take(&mut faults, "/api/v4/tasks"),
            Some(FaultAction::Status(429))
        );
        assert_eq!(take(&mut faults, "/api/v4/tasks"), None);
    }

    #[test]
    fn a_lasting_fault_fires_on_every_match_until_it_ends() {
        let mut faults = Faults::default();
        let outage = any("/*").status(503).lasting(600);
        faults.push(outage.arm(1_000).unwrap());
        for at in [1_000, 300_000, 600_999] {
            assert_eq!(
                faults.take("GET", "/api/v4/contacts", at),
                Some(FaultAction::Status(503)),
                "at {at}"
            );
        }
        assert_eq!(faults.take("GET", "/api/v4/contacts", 601_000), None);
        assert_eq!(faults.pending(), 0, "it is gone once over");
    }

    #[test]
    fn a_fault_needs_exactly_one_action() {
        let spec = FaultSpec {
            path: "/x".into(),
            method: None,
            status: None,
            hang: false,
            times: 1,
            lasts: None,
        };
        assert!(matches!(spec.arm(0), Err(FaultError::Neither(_))));
    }
}
