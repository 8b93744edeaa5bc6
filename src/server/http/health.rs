//! What `GET /health` reports: whether the worker runs and whether calls are being worked off.
//! 503 with the reason when the worker is down or the oldest ready call has waited too long.

use std::sync::Mutex;

use serde_json::{Value, json};

/// Shared between the worker (which reports) and the receiver (which answers `/health`).
#[derive(Debug)]
pub(crate) struct Health {
    state: Mutex<State>,
    /// How long a ready call may wait before the service counts as unhealthy (ms).
    pub(crate) stuck_after_ms: i64,
}

#[derive(Debug, Default)]
struct State {
    /// `None` while the worker runs; the reason it is down otherwise.
    down: Option<String>,
    /// Since when (Unix ms) the oldest ready call has been waiting, if one is.
    waiting_since_ms: Option<i64>,
    /// The last failure that kept a call waiting.
    last_error: Option<String>,
}

impl Health {
    pub(crate) fn new(stuck_after_ms: i64) -> Self {
        Health {
            state: Mutex::new(State {
                down: Some("the worker has not started yet".into()),
                ..State::default()
            }),
            stuck_after_ms,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn worker_up(&self) {
        self.state().down = None;
    }

    pub(crate) fn worker_down(&self, reason: impl Into<String>) {
        self.state().down = Some(reason.into());
    }

    /// After a round: every ready call handled (`None`), or the oldest one still waits.
    pub(crate) fn round(&self, now_ms: i64, failed: Option<String>) {
        let mut s = self.state();
        match failed {
            None => {
                s.waiting_since_ms = None;
                s.last_error = None;
            }
            Some(e) => {
                s.waiting_since_ms.get_or_insert(now_ms);
                s.last_error = Some(e);
            }
        }
    }

    /// The status code and body of `GET /health` at `now_ms`.
    pub(crate) fn report(&self, now_ms: i64) -> (u16, Value) {
        let s = self.state();
        if let Some(reason) = &s.down {
            return (
                503,
                json!({ "status": "down", "reason": format!("worker: {reason}") }),
            );
        }
        match s.waiting_since_ms {
            Some(since) if now_ms.saturating_sub(since) > self.stuck_after_ms => (
                503,
                json!({
                    "status": "stuck",
                    "reason": format!(
                        "the oldest ready call has waited {} s: {}",
                        now_ms.saturating_sub(since) / 1000,
                        s.last_error.as_deref().unwrap_or("amoCRM work keeps failing")
                    ),
                }),
            ),
            _ => (200, json!({ "status": "ok" })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_and_stuck_are_503_with_the_reason() {
        let h = Health::new(60_000);
        assert_eq!(h.report(0).0, 503, "not started");
        h.worker_up();
        assert_eq!(h.report(0).0, 200);
        h.round(1_000, Some("amoCRM answered 503".into()));
        assert_eq!(h.report(30_000).0, 200, "not waiting long yet");
        let (code, body) = h.report(62_000);
        assert_eq!(code, 503);
        assert!(body["reason"].as_str().unwrap().contains("503"), "{body}");
        h.round(63_000, None);
        assert_eq!(h.report(63_000).0, 200);
        h.worker_down("storage failed");
        let (code, body) = h.report(63_000);
        assert_eq!(code, 503);
        assert!(body["reason"].as_str().unwrap().contains("storage failed"));
    }
}
