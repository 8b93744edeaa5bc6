//! Events the receiver parsed, handed to the account's worker with the text stored for them, so
//! that a live event is parsed once: the worker takes the event by that text instead of parsing
//! it again (after a restart, or for an event stored by another replica, it parses the text).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::sipuni::event::CallEvent;

/// Most events waiting for the worker: a worker that stopped (its lease lost) leaves at most
/// this many behind, cleared at its next start.
const MOST: usize = 1024;

/// Parsed events by the exact text stored for them.
#[derive(Default)]
pub(crate) struct Parsed {
    events: Mutex<HashMap<String, CallEvent>>,
}

impl Parsed {
    fn events(&self) -> std::sync::MutexGuard<'_, HashMap<String, CallEvent>> {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Offers `event`, parsed from exactly `text` (the text stored); dropped when full.
    pub(crate) fn put(&self, text: &str, event: CallEvent) {
        let mut events = self.events();
        if events.len() < MOST {
            events.insert(text.to_string(), event);
        }
    }

    /// Withdraws the event of `text` (not stored after all).
    pub(crate) fn withdraw(&self, text: &str) {
        self.events().remove(text);
    }

    /// The event stored as `text`: the one parsed on arrival, or `text` parsed now.
    pub(crate) fn take_or_parse(
        &self,
        text: &str,
    ) -> Result<CallEvent, crate::sipuni::event::EventError> {
        match self.events().remove(text) {
            Some(event) => Ok(event),
            None => CallEvent::parse(text),
        }
    }

    /// Forgets every event offered (a worker starting reads the inbox afresh).
    pub(crate) fn clear(&self) {
        self.events().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "event=1&call_id=c1&src_num=79161234567&src_type=1&dst_num=201&dst_type=2&timestamp=1767225600";

    #[test]
    fn an_offered_event_is_taken_once_then_parsed() {
        let parsed = Parsed::default();
        let mut event = CallEvent::parse(TEXT).unwrap();
        // Marked, to tell the offered event from a fresh parse.
        event.timestamp += 1;
        parsed.put(TEXT, event.clone());
        assert_eq!(parsed.take_or_parse(TEXT).unwrap(), event);
        assert_eq!(
            parsed.take_or_parse(TEXT).unwrap(),
            CallEvent::parse(TEXT).unwrap()
        );
    }

    #[test]
    fn it_holds_a_bounded_number() {
        let parsed = Parsed::default();
        let event = CallEvent::parse(TEXT).unwrap();
        for i in 0..MOST + 10 {
            parsed.put(&format!("{TEXT}&n={i}"), event.clone());
        }
        assert_eq!(parsed.events().len(), MOST);
        parsed.clear();
        assert!(parsed.events().is_empty());
    }
}
