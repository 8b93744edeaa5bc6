//! OAuth as amoCRM does it (Kommo developer docs "OAuth 2.0" and "Get token"):
//! access tokens that expire, refresh tokens that rotate on every refresh — the previous one
//! works until the new one is used, then answers 401 "Token has been revoked" — form or JSON
//! token requests, `server_time` in the answer, and the `authorization_code` grant (each code
//! once).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::handlers::Body;
use super::reply::Reply;

/// Compares secrets without leaking through timing where they differ (their lengths are not
/// secret).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// The account's tokens.
#[derive(Debug, Default)]
pub(crate) struct Auth {
    /// Access token → when it expires (clock ms).
    access: BTreeMap<String, i64>,
    /// Refresh tokens that still work: the one used last and the one it gave.
    refresh: Vec<String>,
    revoked: BTreeSet<String>,
    used_codes: BTreeSet<String>,
    issued: u64,
    /// Lifetime of the access tokens this mock issues (ms).
    ttl_ms: i64,
}

impl Auth {
    /// The starting pair; `ttl_ms` also limits the first access token (from `now_ms`).
    pub(crate) fn new(access: &str, refresh: &str, ttl_ms: Option<i64>, now_ms: i64) -> Self {
        let ttl_ms = ttl_ms.unwrap_or(86_400_000);
        Auth {
            access: BTreeMap::from([(access.to_string(), now_ms.saturating_add(ttl_ms))]),
            refresh: vec![refresh.to_string()],
            ttl_ms,
            ..Auth::default()
        }
    }

    /// Whether `token` is an access token that has not expired.
    pub(crate) fn valid(&self, token: &str, now_ms: i64) -> bool {
        self.access
            .iter()
            .any(|(t, until)| constant_time_eq(t.as_bytes(), token.as_bytes()) && now_ms < *until)
    }

    /// `POST /oauth2/access_token`.
    pub(crate) fn token_request(&mut self, body: &Body, raw: &[u8], now_ms: i64) -> Reply {
        let fields = match fields(body, raw) {
            Some(f) => f,
            None => {
                return Reply::problem(
                    400,
                    "send grant_type, client_id, client_secret, redirect_uri and refresh_token or code, as JSON or a form",
                );
            }
        };
        let get = |k: &str| fields.get(k).map(String::as_str).unwrap_or("");
        match get("grant_type") {
            "refresh_token" => self.refresh(get("refresh_token"), now_ms),
            "authorization_code" => {
                let code = get("code");
                if code.is_empty() || !self.used_codes.insert(code.to_string()) {
                    return revoked("Authorization code has been revoked");
                }
                self.issue(None, now_ms)
            }
            other => Reply::problem(
                400,
                format!(
                    "grant_type {other:?} is not supported; use refresh_token or authorization_code"
                ),
            ),
        }
    }

    fn refresh(&mut self, token: &str, now_ms: i64) -> Reply {
        let known = |t: &String| constant_time_eq(t.as_bytes(), token.as_bytes());
        if self.revoked.iter().any(known) {
            return revoked("Token has been revoked");
        }
        let Some(i) = self.refresh.iter().position(known) else {
            return Reply::problem(400, "Refresh token is invalid");
        };
        let used = self.refresh.remove(i);
        // Using this one revokes the one before it.
        self.revoked.extend(self.refresh.drain(..));
        self.issue(Some(used), now_ms)
    }

    fn issue(&mut self, used: Option<String>, now_ms: i64) -> Reply {
        self.issued += 1;
        let access = format!("mock-access-{}", self.issued);
        let refresh = format!("mock-refresh-{}", self.issued);
        self.access
            .insert(access.clone(), now_ms.saturating_add(self.ttl_ms));
        self.refresh.extend(used);
        self.refresh.push(refresh.clone());
        Reply::ok(json!({
            "token_type": "Bearer",
            "expires_in": self.ttl_ms / 1000,
            "access_token": access,
            "refresh_token": refresh,
            "server_time": now_ms.div_euclid(1000),
        }))
    }
}

fn revoked(hint: &str) -> Reply {
    Reply {
        status: 401,
        body: Some(json!({
            "title": "Unauthorized",
            "type": "https://developers.amocrm.ru/v3/errors/OAuthProblemJson",
            "status": 401,
            "detail": "The refresh token is invalid.",
            "hint": hint,
        })),
    }
}

/// The token request's fields, from JSON or a form body.
fn fields(body: &Body, raw: &[u8]) -> Option<BTreeMap<String, String>> {
    match body {
        Body::Json(Value::Object(m)) => Some(
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect(),
        ),
        Body::Malformed(_) => {
            let text = std::str::from_utf8(raw).ok()?;
            text.contains('=').then(|| {
                form_urlencoded::parse(text.as_bytes())
                    .into_owned()
                    .collect()
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn equal_only_when_every_byte_is() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
