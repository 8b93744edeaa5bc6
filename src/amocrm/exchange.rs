//! One amoCRM request and its answer, tagged with the call it was made for, as the service
//! keeps them so that a call can be turned into a scenario later (`sipamo record`).

use std::future::Future;

use serde::{Deserialize, Serialize};
use serde_json::Value;

tokio::task_local! {
    /// The Sipuni call id the engine is working on in this task.
    static CALL: String;
}

/// Runs `work` as work for `call_id`: the client tags the exchanges it makes meanwhile.
pub(crate) async fn for_call<F: Future>(call_id: &str, work: F) -> F::Output {
    CALL.scope(call_id.to_string(), work).await
}

/// The call the current task works for, if any (none: start-up checks, health probes).
pub(crate) fn current_call() -> Option<String> {
    CALL.try_with(Clone::clone).ok()
}

/// A request as sent and what came back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    /// The call it was made for; `None` for account-level requests (start-up checks).
    pub call_id: Option<String>,
    /// When it was sent (clock ms).
    pub at_ms: i64,
    pub method: String,
    pub path: String,
    /// The query string as sent (form-encoded, in order), empty when none.
    pub query: String,
    pub request: Option<Value>,
    /// The answer's status; `None` when no answer came (timeout, connection lost).
    pub status: Option<u16>,
    pub response: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_for_a_call_is_tagged_and_other_work_is_not() {
        assert_eq!(current_call(), None);
        let inside = for_call("c-1", async { current_call() }).await;
        assert_eq!(inside.as_deref(), Some("c-1"));
        assert_eq!(current_call(), None);
    }

    #[test]
    fn the_query_is_encoded_as_sent() {
        let q = crate::http::form_encode(&[("query", "+7 916".into()), ("with", "leads".into())]);
        assert_eq!(q, "query=%2B7+916&with=leads");
    }
}
