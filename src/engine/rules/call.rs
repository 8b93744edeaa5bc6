//! Call assembly: the events of one `call_id`, in any order and with duplicates, become one
//! [`Call`]: direction, client phone, ring legs, answerer, hangup status, talk time, recording.

use serde::{Deserialize, Serialize};

use crate::phone::{Country, Phone};
use crate::sipuni::event::{
    CallEvent, CallId, EventKind, HangupInfo, HangupStatus, Party, ShortNumber,
};

/// The scheme name Sipuni gives outgoing calls.
pub(crate) const OUTGOING_TREE: &str = "Исходящая";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Direction {
    Incoming,
    Outgoing,
}

/// A finished call between a client and the company.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Call {
    pub(crate) id: CallId,
    pub(crate) direction: Direction,
    /// The client's number: `src_num` incoming, `dst_num` outgoing.
    #[serde(with = "phone_serde")]
    pub(crate) client: Phone,
    /// `treeNumber` of the scheme, if any.
    pub(crate) scheme: Option<String>,
    /// Employees rung, in ring order (incoming).
    pub(crate) legs: Vec<ShortNumber>,
    /// Who answered (incoming).
    pub(crate) answerer: Option<ShortNumber>,
    /// Who dialled (outgoing).
    pub(crate) employee: Option<ShortNumber>,
    pub(crate) answered: bool,
    /// How the call ended; none while it is live (a view at its ring or answer).
    #[serde(default, deserialize_with = "status_serde::deserialize")]
    pub(crate) status: Option<HangupStatus>,
    pub(crate) started_at: i64,
    pub(crate) ended_at: i64,
    pub(crate) talk_secs: u64,
    pub(crate) record_link: Option<String>,
}

mod status_serde {
    use serde::{Deserialize, Deserializer, de};

    use crate::sipuni::event::HangupStatus;

    /// A status, or none (written as an empty string by earlier versions).
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<HangupStatus>, D::Error> {
        match Option::<String>::deserialize(d)?.as_deref() {
            None | Some("") => Ok(None),
            Some(raw) => HangupStatus::parse(raw)
                .map(Some)
                .ok_or_else(|| de::Error::custom(format!("{raw:?} is not a hangup status"))),
        }
    }
}

mod phone_serde {
    use serde::{Deserialize, Deserializer, Serializer, de};

    use crate::phone::Phone;

    pub(crate) fn serialize<S: Serializer>(p: &Phone, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&p.e164())
    }
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Phone, D::Error> {
        Phone::from_written(&String::deserialize(d)?).map_err(de::Error::custom)
    }
}

/// What a set of events turns out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Assembled {
    /// Between two employees (R-INT): no CRM action.
    Internal,
    /// The hangup (event 2) has not arrived yet.
    Open,
    /// The client's number is hidden (R-HIDDEN): no CRM action; `number` is what was sent.
    Hidden {
        call_id: CallId,
        number: String,
    },
    Finished(Box<Call>),
}

/// What one event says of its call's direction, by the parties' types first (behaviour.md
/// «Direction»): an outside source is an incoming call whatever `is_inner_call` says (real
/// cabinets set it on an outside caller's operator leg); an employee calling an outside number,
/// or the scheme «Исходящая», is an outgoing one; two employees say nothing by themselves.
pub(crate) fn direction_of(e: &CallEvent) -> Option<Direction> {
    if e.tree_name.as_deref() == Some(OUTGOING_TREE) {
        Some(Direction::Outgoing)
    } else if e.src.is_external() {
        Some(Direction::Incoming)
    } else if e.dst.is_external() {
        Some(Direction::Outgoing)
    } else {
        None
    }
}

/// The direction of a call from all its events: outgoing if any event says so, else incoming
/// if any does; a call none of whose events has an outside party is internal (R-INT).
fn direction_of_call(events: &[CallEvent]) -> Option<Direction> {
    let said: Vec<Direction> = events.iter().filter_map(direction_of).collect();
    [Direction::Outgoing, Direction::Incoming]
        .into_iter()
        .find(|d| said.contains(d))
}

/// A call with no client number: from a hidden number (R-HIDDEN), else internal (R-INT).
fn hidden_or_internal(
    events: &[CallEvent],
    direction: Direction,
    hangup_event: &CallEvent,
) -> Assembled {
    let side = |e: &CallEvent| match direction {
        Direction::Incoming => e.src.clone(),
        Direction::Outgoing => e.dst.clone(),
    };
    match events.iter().map(side).find_map(|p| match p {
        Party::Hidden(n) => Some(n),
        _ => None,
    }) {
        Some(number) => Assembled::Hidden {
            call_id: hangup_event.call_id.clone(),
            number,
        },
        None => Assembled::Internal,
    }
}

/// The short numbers rung, in ring order (by timestamp; legs rung in the same second keep
/// their arrival order), each once.
fn legs_rung(events: &[CallEvent]) -> Vec<ShortNumber> {
    let mut rings: Vec<(i64, usize, &CallEvent)> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.kind == EventKind::Ring)
        .map(|(i, e)| (e.timestamp, i, e))
        .collect();
    rings.sort_by_key(|(t, i, _)| (*t, *i));
    let mut legs: Vec<ShortNumber> = Vec::new();
    for (_, _, e) in rings {
        if let Some(s) = e.dst.short()
            && !legs.contains(s)
        {
            legs.push(s.clone());
        }
    }
    legs
}

/// Who answered an incoming call (behaviour.md «Answerer», R-TRANSFER): the employee of the
/// last answer event (after a transfer, the one it was transferred to), else the hangup's, else
/// the last employee the hangup says was called.
fn answerer(answers: &[&CallEvent], hangup_event: &CallEvent) -> Option<ShortNumber> {
    answers
        .iter()
        .rev()
        .find_map(|e| e.dst.short())
        .or_else(|| hangup_event.dst.short())
        .or_else(|| hangup_event.last_called.last())
        .cloned()
}

/// The answer events in the order they happened (by timestamp, then arrival).
fn answers_in_order(events: &[CallEvent]) -> Vec<&CallEvent> {
    let mut answers: Vec<(usize, &CallEvent)> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.kind == EventKind::Answer)
        .collect();
    answers.sort_by_key(|(i, e)| (e.timestamp, *i));
    answers.into_iter().map(|(_, e)| e).collect()
}

/// Assembles the events of one call (any order, duplicates allowed); the client's number is
/// read in the cabinet's `country`.
pub(crate) fn assemble(events: &[CallEvent], country: Country) -> Assembled {
    if events.is_empty() {
        return Assembled::Open;
    }
    let Some(direction) = direction_of_call(events) else {
        return Assembled::Internal;
    };
    let Some((hangup_event, hangup)) = events.iter().find_map(|e| {
        (e.kind == EventKind::Hangup)
            .then_some(e)
            .zip(e.hangup.as_ref())
    }) else {
        return Assembled::Open;
    };
    let client = match direction {
        Direction::Incoming => events.iter().find_map(|e| e.src.phone()),
        Direction::Outgoing => events.iter().find_map(|e| e.dst.phone()),
    };
    let Some(client) = client.map(|d| d.resolve(country)) else {
        return hidden_or_internal(events, direction, hangup_event);
    };
    // Answered is what the hangup's status says, whatever the answer timestamp says (an
    // «external» callback reports one even when nobody answered).
    let answered = hangup.status == HangupStatus::Answer;
    let answers = answers_in_order(events);
    let answerer = match direction {
        Direction::Incoming if answered => answerer(&answers, hangup_event),
        _ => None,
    };
    let employee = match direction {
        Direction::Outgoing => events.iter().find_map(|e| e.src.short().cloned()),
        Direction::Incoming => None,
    };
    let started_at = hangup.call_start.unwrap_or_else(|| {
        events
            .iter()
            .map(|e| e.timestamp)
            .min()
            .unwrap_or(hangup_event.timestamp)
    });
    Assembled::Finished(Box::new(Call {
        id: hangup_event.call_id.clone(),
        direction,
        client,
        scheme: events.iter().find_map(|e| e.tree_number.clone()),
        legs: legs_rung(events),
        answerer,
        employee,
        answered,
        status: Some(hangup.status),
        started_at,
        ended_at: hangup_event.timestamp,
        talk_secs: talk_secs(answered, hangup, &answers, hangup_event.timestamp),
        record_link: hangup.record_link.clone(),
    }))
}

/// The whole talk (R-TRANSFER): from the first answer to the hangup.
fn talk_secs(answered: bool, hangup: &HangupInfo, answers: &[&CallEvent], ended: i64) -> u64 {
    let first_answer = answers.first().map(|e| e.timestamp);
    let answered_at = match (hangup.call_answer, first_answer) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    match (answered, answered_at) {
        (true, Some(a)) => ended
            .checked_sub(a)
            .and_then(|d| u64::try_from(d).ok())
            .unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(raw: &str) -> CallEvent {
        CallEvent::parse(raw).unwrap()
    }

    fn assemble_ru(events: &[CallEvent]) -> Assembled {
        assemble(events, Country::default())
    }

    /// Calls saved by earlier versions (plain strings, an empty status for a live view) still
    /// load; a saved value that is not what it claims is an error.
    #[test]
    fn saved_calls_load_as_typed_values() {
        let saved = |status: &str| {
            format!(
                r#"{{"id":"x.1","direction":"incoming","client":"+79161234567","scheme":null,
                "legs":["201","202"],"answerer":"202","employee":null,"answered":true,
                "status":"{status}","started_at":1,"ended_at":2,"talk_secs":1,"record_link":null}}"#
            )
        };
        let call: Call = serde_json::from_str(&saved("ANSWER")).unwrap();
        assert_eq!(call.status, Some(HangupStatus::Answer));
        assert_eq!(call.answerer.as_deref(), Some("202"));
        assert_eq!(&*call.id, "x.1");
        let live: Call = serde_json::from_str(&saved("")).unwrap();
        assert_eq!(live.status, None);
        assert!(serde_json::from_str::<Call>(&saved("HUNG")).is_err());
        let back = serde_json::to_string(&call).unwrap();
        assert_eq!(serde_json::from_str::<Call>(&back).unwrap(), call);
    }

    const C: &str = "call_id=1&src_num=79161234567&src_type=1&dst_type=2&treeNumber=000123";

    fn group_ring_answered_by_202() -> Vec<CallEvent> {
        vec![
            ev(&format!(
                "event=1&{C}&dst_num=015856201&short_dst_num=201&timestamp=1700000100"
            )),
            ev(&format!(
                "event=1&{C}&dst_num=015856202&short_dst_num=202&timestamp=1700000101"
            )),
            ev(&format!(
                "event=3&{C}&dst_num=015856202&short_dst_num=202&timestamp=1700000107"
            )),
            ev(&format!(
                "event=4&{C}&dst_num=015856201&short_dst_num=201&timestamp=1700000107&status=NOANSWER"
            )),
            ev(&format!(
                "event=2&{C}&dst_num=015856202&short_dst_num=202&timestamp=1700000195&status=ANSWER&call_start_timestamp=1700000100&call_answer_timestamp=1700000107&call_record_link=https%3A%2F%2Fx"
            )),
        ]
    }

    #[test]
    fn an_answered_group_ring_is_assembled() {
        let Assembled::Finished(c) = assemble_ru(&group_ring_answered_by_202()) else {
            panic!()
        };
        assert_eq!(c.direction, Direction::Incoming);
        assert_eq!(c.client.key(), "9161234567");
        assert_eq!(
            c.legs.iter().map(|l| &**l).collect::<Vec<_>>(),
            vec!["201", "202"]
        );
        assert_eq!(c.answerer.as_deref(), Some("202"));
        assert_eq!(
            (c.started_at, c.ended_at, c.talk_secs),
            (1_700_000_100, 1_700_000_195, 88)
        );
        assert_eq!(c.scheme.as_deref(), Some("000123"));
        assert_eq!(c.record_link.as_deref(), Some("https://x"));
    }

    #[test]
    fn order_and_duplicates_do_not_change_the_call() {
        let mut events = group_ring_answered_by_202();
        let reference = assemble_ru(&events);
        events.reverse();
        events.extend(events.clone());
        assert_eq!(assemble_ru(&events), reference);
    }

    #[test]
    fn without_the_hangup_the_call_is_open() {
        let mut events = group_ring_answered_by_202();
        events.pop();
        assert_eq!(assemble_ru(&events), Assembled::Open);
    }

    #[test]
    fn a_hidden_caller_is_a_hidden_call() {
        for src in ["", "anonymous", "12"] {
            let e = ev(&format!(
                "event=2&call_id=h&src_num={src}&src_type=1&dst_num=015856201&dst_type=2&short_dst_num=201&timestamp=1700000005&status=NOANSWER"
            ));
            assert_eq!(
                assemble_ru(&[e]),
                Assembled::Hidden {
                    call_id: CallId::parse("h").unwrap(),
                    number: src.into()
                }
            );
        }
    }

    #[test]
    fn employee_to_employee_is_internal() {
        let e = ev(
            "event=2&call_id=9&src_num=015856201&src_type=2&short_src_num=201&dst_num=015856202&dst_type=2&short_dst_num=202&timestamp=1700000005&status=ANSWER",
        );
        assert_eq!(assemble_ru(&[e]), Assembled::Internal);
    }

    #[test]
    fn outgoing_is_recognised_by_tree_name_and_types() {
        let e = ev(
            "event=2&call_id=o&src_num=015856201&src_type=2&short_src_num=201&dst_num=89161234567&dst_type=1&timestamp=1700000050&status=NOANSWER&treeName=%D0%98%D1%81%D1%85%D0%BE%D0%B4%D1%8F%D1%89%D0%B0%D1%8F",
        );
        let Assembled::Finished(c) = assemble_ru(&[e]) else {
            panic!()
        };
        assert_eq!(c.direction, Direction::Outgoing);
        assert_eq!(c.employee.as_deref(), Some("201"));
        assert!(!c.answered);
        assert_eq!(c.client.e164(), "+79161234567");
    }
}
