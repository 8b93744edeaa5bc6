//! The Sipuni event parser on arbitrary input (proptest): it never panics, and every rejection
//! is an error that says what was wrong (a field, percent-encoding or UTF-8). Cases: 4,000 raw
//! byte strings, 4,000 mutated real events, 2,000 arbitrary name/value pairs.

use proptest::prelude::*;
use sipamo::sipuni::event::{CallEvent, EventError};

const GOOD: &str = "event=2&call_id=1700000000.1&src_num=79161234567&src_type=1&dst_num=015856201&dst_type=2&short_dst_num=201&timestamp=1772434800&status=ANSWER&call_answer_timestamp=1772434700";

fn explained(e: &EventError) -> bool {
    let text = e.to_string();
    !text.is_empty()
        && (e.field().is_some()
            || matches!(
                e,
                EventError::NotUtf8 | EventError::BadEncoding { .. } | EventError::Empty
            ))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4_000))]

    #[test]
    fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Err(e) = CallEvent::parse_bytes(&raw) {
            prop_assert!(explained(&e), "{e:?}");
        }
    }

    #[test]
    fn mutated_events_never_panic(
        at in 0..GOOD.len(),
        cut in 0..40usize,
        insert in "[%&=+0-9A-Za-z\u{0}-\u{1f}\u{fffd}а-я]{0,12}",
    ) {
        let end = (at + cut).min(GOOD.len());
        let raw = format!("{}{}{}", &GOOD[..at], insert, &GOOD[end..]);
        if let Err(e) = CallEvent::parse(&raw) {
            prop_assert!(explained(&e), "{raw}: {e:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn arbitrary_pairs_never_panic(pairs in proptest::collection::vec(("[a-z_%]{0,12}", "\\PC{0,20}"), 0..30)) {
        let raw = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
        if let Err(e) = CallEvent::parse(&format!("{GOOD}&{raw}")) {
            prop_assert!(explained(&e), "{raw}: {e:?}");
        }
    }
}
