//! The Sipuni event wire format (GET query or POST form, any order, URL-encoded UTF-8)
//! parsed into a typed [`CallEvent`]. A bad or missing field is an error naming the field and
//! value; unknown extra fields are kept, as Sipuni adds fields over time.

use std::fmt;

use crate::phone::{Phone, PhoneError};

/// Sipuni's call id, shared by all events of one call (`1700000000.12345`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct CallId(String);

impl CallId {
    pub(crate) fn parse(raw: &str) -> Option<Self> {
        let t = raw.trim();
        (!t.is_empty() && t.len() <= 128 && !t.chars().any(char::is_control))
            .then(|| CallId(t.to_string()))
    }
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An employee's short number in Sipuni (`201`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShortNumber(String);

impl ShortNumber {
    /// 2 to 6 digits.
    pub fn parse(raw: &str) -> Option<Self> {
        let t = raw.trim();
        ((2..=6).contains(&t.len()) && t.chars().all(|c| c.is_ascii_digit()))
            .then(|| ShortNumber(t.to_string()))
    }
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ShortNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The event type (`event=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum EventKind {
    /// 1: a ring leg starts (one per employee rung).
    Ring,
    /// 2: the call ended (final; carries `status`).
    Hangup,
    /// 3: an employee answered.
    Answer,
    /// 4: one leg ended (transfer, group ring leg not answered).
    LegHangup,
}

impl EventKind {
    pub(crate) fn code(self) -> u8 {
        match self {
            EventKind::Ring => 1,
            EventKind::Hangup => 2,
            EventKind::Answer => 3,
            EventKind::LegHangup => 4,
        }
    }
}

/// Serde for the types of the wire as the strings Sipuni sends, checked on the way back in
/// (they are kept in the service's database inside a call's progress).
macro_rules! serde_as_wire_str {
    ($t:ty, $parse:expr, $what:literal) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = <String as serde::Deserialize>::deserialize(d)?;
                $parse(&raw)
                    .ok_or_else(|| serde::de::Error::custom(format!("{raw:?} is not {}", $what)))
            }
        }
    };
}

serde_as_wire_str!(CallId, CallId::parse, "a call id");

/// A checked id or number reads as the text it was parsed from.
macro_rules! deref_to_str {
    ($t:ty) => {
        impl std::ops::Deref for $t {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }
    };
}

deref_to_str!(CallId);
deref_to_str!(ShortNumber);
serde_as_wire_str!(ShortNumber, ShortNumber::parse, "a short number");
serde_as_wire_str!(HangupStatus, HangupStatus::parse, "a hangup status");

/// How a call or leg ended (`status=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HangupStatus {
    Answer,
    Busy,
    NoAnswer,
    Cancel,
    Congestion,
    ChanUnavail,
}

impl HangupStatus {
    pub(crate) fn parse(raw: &str) -> Option<Self> {
        Some(match raw.trim().to_ascii_uppercase().as_str() {
            "ANSWER" => HangupStatus::Answer,
            "BUSY" => HangupStatus::Busy,
            "NOANSWER" => HangupStatus::NoAnswer,
            "CANCEL" => HangupStatus::Cancel,
            "CONGESTION" => HangupStatus::Congestion,
            "CHANUNAVAIL" => HangupStatus::ChanUnavail,
            _ => return None,
        })
    }
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            HangupStatus::Answer => "ANSWER",
            HangupStatus::Busy => "BUSY",
            HangupStatus::NoAnswer => "NOANSWER",
            HangupStatus::Cancel => "CANCEL",
            HangupStatus::Congestion => "CONGESTION",
            HangupStatus::ChanUnavail => "CHANUNAVAIL",
        }
    }
}

/// One side of a call.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Party {
    /// `*_type=1`: an outside number (the client).
    External(Phone),
    /// `*_type=1` with a number that is absent, empty or no phone number (`anonymous`,
    /// `unknown`, fewer than 3 digits): a hidden caller (R-HIDDEN). Kept as sent, for logs.
    Hidden(String),
    /// `*_type=2`: an employee; `number` is the account number + short number.
    Internal {
        number: String,
        short: Option<ShortNumber>,
    },
}

impl Party {
    pub(crate) fn short(&self) -> Option<&ShortNumber> {
        match self {
            Party::Internal { short, .. } => short.as_ref(),
            Party::External(_) | Party::Hidden(_) => None,
        }
    }
    pub(crate) fn phone(&self) -> Option<&Phone> {
        match self {
            Party::External(p) => Some(p),
            Party::Internal { .. } | Party::Hidden(_) => None,
        }
    }
    /// An outside party, with a number or hidden.
    pub(crate) fn is_external(&self) -> bool {
        matches!(self, Party::External(_) | Party::Hidden(_))
    }
}

/// What events 2 and 4 say about the end of a call or leg.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct HangupInfo {
    pub(crate) status: HangupStatus,
    pub(crate) call_start: Option<i64>,
    /// `None` when unanswered (`0` or absent on the wire).
    pub(crate) call_answer: Option<i64>,
    pub(crate) record_link: Option<String>,
}

/// A parsed Sipuni event.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CallEvent {
    pub(crate) kind: EventKind,
    pub(crate) call_id: CallId,
    pub(crate) src: Party,
    pub(crate) dst: Party,
    /// Unix seconds of this event.
    pub(crate) timestamp: i64,
    /// Events 2 and 4 only.
    pub(crate) hangup: Option<HangupInfo>,
    /// Scheme name (`treeName`); outgoing calls carry «Исходящая».
    pub(crate) tree_name: Option<String>,
    /// Scheme id (`treeNumber`).
    pub(crate) tree_number: Option<String>,
    pub(crate) is_inner_call: Option<bool>,
    /// `last_called`: employees rung last (`&`-separated on the wire).
    pub(crate) last_called: Vec<ShortNumber>,
    /// Fields this parser does not know, kept as sent.
    pub(crate) extra: Vec<(String, String)>,
}

/// A field that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("field `{field}` is missing; every Sipuni event carries it")]
    Missing { field: &'static str },
    #[error("field `{field}` has value {value:?}: {expected}")]
    Invalid {
        field: String,
        value: String,
        expected: String,
    },
    #[error("field `{field}` is given twice with different values ({first:?}, {second:?})")]
    Conflict {
        field: String,
        first: String,
        second: String,
    },
    #[error("the event is not UTF-8 text")]
    NotUtf8,
    #[error("bad percent-encoding in {near:?}: `%` must be followed by two hex digits")]
    BadEncoding { near: String },
}

impl EventError {
    /// The field at fault, if one is.
    pub fn field(&self) -> Option<&str> {
        match self {
            EventError::Missing { field } => Some(field),
            EventError::Invalid { field, .. } | EventError::Conflict { field, .. } => Some(field),
            EventError::NotUtf8 | EventError::BadEncoding { .. } => None,
        }
    }
}

fn invalid(field: &str, value: &str, expected: &str) -> EventError {
    EventError::Invalid {
        field: field.into(),
        value: value.into(),
        expected: expected.into(),
    }
}

/// Known field names; everything else goes to `extra`.
const KNOWN: [&str; 20] = [
    "event",
    "call_id",
    "src_num",
    "src_type",
    "dst_num",
    "dst_type",
    "timestamp",
    "short_src_num",
    "short_dst_num",
    "status",
    "call_start_timestamp",
    "call_answer_timestamp",
    "call_record_link",
    "treeName",
    "treeNumber",
    "is_inner_call",
    "last_called",
    "channel",
    "user_id",
    "pbxdstnum",
];

/// Unix seconds an event may carry: 2000-01-01 to 2100-01-01. Anything else is a bad clock or
/// a forged value, and would wrap deadlines computed from it.
pub(crate) const PLAUSIBLE_TIME: std::ops::RangeInclusive<i64> = 946_684_800..=4_102_444_800;

struct Fields(Vec<(String, String)>);

impl Fields {
    fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }
    fn non_empty(&self, k: &str) -> Option<&str> {
        self.get(k).map(str::trim).filter(|v| !v.is_empty())
    }
    fn required(&self, k: &'static str) -> Result<&str, EventError> {
        self.non_empty(k).ok_or(EventError::Missing { field: k })
    }
    /// Unix seconds within [`PLAUSIBLE_TIME`]; `0` (Sipuni's "none") and absence are `None`.
    fn time(&self, k: &'static str) -> Result<Option<i64>, EventError> {
        let Some(v) = self.non_empty(k) else {
            return Ok(None);
        };
        let expected = || {
            format!(
                "expected Unix seconds between {} (2000-01-01) and {} (2100-01-01), or 0 for none",
                PLAUSIBLE_TIME.start(),
                PLAUSIBLE_TIME.end()
            )
        };
        match v.parse::<i64>() {
            Ok(0) => Ok(None),
            Ok(t) if PLAUSIBLE_TIME.contains(&t) => Ok(Some(t)),
            _ => Err(invalid(k, v, &expected())),
        }
    }
}

impl CallEvent {
    /// Parses raw bytes of a query string or form body.
    pub fn parse_bytes(raw: &[u8]) -> Result<Self, EventError> {
        let text = std::str::from_utf8(raw).map_err(|_| EventError::NotUtf8)?;
        Self::parse(text)
    }

    /// Parses `event=1&call_id=...` (a query string or an `x-www-form-urlencoded` body). Names
    /// and values must be well-formed percent-encoding of UTF-8 text.
    pub fn parse(raw: &str) -> Result<Self, EventError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for part in raw.trim_start_matches('?').split('&') {
            if part.is_empty() {
                continue;
            }
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let (k, v) = (decode(k)?, decode(v)?);
            match seen.get(&k) {
                Some(&i) if pairs[i].1 != v => {
                    return Err(EventError::Conflict {
                        field: k,
                        first: pairs[i].1.clone(),
                        second: v,
                    });
                }
                Some(_) => {}
                None => {
                    seen.insert(k.clone(), pairs.len());
                    pairs.push((k, v));
                }
            }
        }
        Self::from_pairs(pairs)
    }

    fn from_pairs(pairs: Vec<(String, String)>) -> Result<Self, EventError> {
        let f = Fields(pairs);
        let kind = event_kind(&f)?;
        let call_id_raw = f.required("call_id")?;
        let call_id = CallId::parse(call_id_raw).ok_or_else(|| {
            invalid(
                "call_id",
                call_id_raw,
                "expected a call id of up to 128 printable characters",
            )
        })?;
        let src = party(&f, "src_num", "src_type", "short_src_num")?;
        // Some senders (and hand-written events) leave the employee side out of a hangup:
        // an absent destination is an unknown employee, not an error.
        let dst = if f.non_empty("dst_num").is_none() && f.non_empty("dst_type").is_none() {
            Party::Internal {
                number: String::new(),
                short: None,
            }
        } else {
            party(&f, "dst_num", "dst_type", "short_dst_num")?
        };
        let timestamp = f
            .time("timestamp")?
            .ok_or(EventError::Missing { field: "timestamp" })?;
        let hangup = match kind {
            EventKind::Hangup | EventKind::LegHangup => Some(hangup_info(&f)?),
            _ => None,
        };
        let is_inner_call = match f.non_empty("is_inner_call") {
            None => None,
            Some("0") => Some(false),
            Some("1") => Some(true),
            Some(v) => return Err(invalid("is_inner_call", v, "expected 0 or 1")),
        };
        let last_called = last_called(&f)?;
        let tree_name = f.non_empty("treeName").map(str::to_string);
        let tree_number = f.non_empty("treeNumber").map(str::to_string);
        let extra =
            f.0.into_iter()
                .filter(|(k, _)| !KNOWN.contains(&k.as_str()))
                .collect();
        Ok(CallEvent {
            kind,
            call_id,
            src,
            dst,
            timestamp,
            hangup,
            tree_name,
            tree_number,
            is_inner_call,
            last_called,
            extra,
        })
    }
}

/// `event`: which of the four events this is.
fn event_kind(f: &Fields) -> Result<EventKind, EventError> {
    Ok(match f.required("event")? {
        "1" => EventKind::Ring,
        "2" => EventKind::Hangup,
        "3" => EventKind::Answer,
        "4" => EventKind::LegHangup,
        v => {
            return Err(invalid(
                "event",
                v,
                "expected 1 (ring), 2 (hangup), 3 (answer) or 4 (leg hangup)",
            ));
        }
    })
}

/// The fields only a hangup carries.
fn hangup_info(f: &Fields) -> Result<HangupInfo, EventError> {
    let raw = f.required("status")?;
    let status = HangupStatus::parse(raw).ok_or_else(|| {
        invalid(
            "status",
            raw,
            "expected ANSWER, BUSY, NOANSWER, CANCEL, CONGESTION or CHANUNAVAIL",
        )
    })?;
    Ok(HangupInfo {
        status,
        call_start: f.time("call_start_timestamp")?,
        call_answer: f.time("call_answer_timestamp")?,
        record_link: f.non_empty("call_record_link").map(str::to_string),
    })
}

/// `last_called`: short numbers separated by `&`.
fn last_called(f: &Fields) -> Result<Vec<ShortNumber>, EventError> {
    let Some(v) = f.non_empty("last_called") else {
        return Ok(Vec::new());
    };
    v.split('&')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|part| {
            ShortNumber::parse(part)
                .ok_or_else(|| invalid("last_called", v, "expected short numbers separated by &"))
        })
        .collect()
}

/// One form-encoded name or value: `+` is a space, `%XX` a byte; the bytes must be UTF-8.
fn decode(raw: &str) -> Result<String, EventError> {
    let bytes = raw.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
        if *b == b'%' && !(hex(i + 1) && hex(i + 2)) {
            let near: String = raw[i..].chars().take(8).collect();
            return Err(EventError::BadEncoding { near });
        }
    }
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| EventError::NotUtf8)
}

fn party(
    f: &Fields,
    num: &'static str,
    kind: &'static str,
    short: &'static str,
) -> Result<Party, EventError> {
    let number = f.non_empty(num).unwrap_or("");
    let short_number = match f.non_empty(short) {
        None => None,
        Some(v) => Some(ShortNumber::parse(v).ok_or_else(|| {
            invalid(
                short,
                v,
                "expected an employee short number (2 to 6 digits)",
            )
        })?),
    };
    match f.required(kind)? {
        // A bad caller number never makes an event malformed (R-HIDDEN).
        "1" => Ok(Phone::parse(number).map_or_else(
            |_: PhoneError| Party::Hidden(number.to_string()),
            Party::External,
        )),
        "2" => {
            if number.is_empty() {
                return Err(EventError::Missing { field: num });
            }
            if !number.chars().all(|c| c.is_ascii_digit()) {
                return Err(invalid(
                    num,
                    number,
                    "expected the digits of an internal number",
                ));
            }
            Ok(Party::Internal {
                number: number.to_string(),
                short: short_number,
            })
        }
        v => Err(invalid(kind, v, "expected 1 (external) or 2 (internal)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const HANGUP: &str = "event=2&call_id=1700000000.12345&status=ANSWER&src_num=79161234567&src_type=1&dst_num=015856202&dst_type=2&short_dst_num=202&timestamp=1700000095&call_start_timestamp=1700000000&call_answer_timestamp=1700000007&call_record_link=https%3A%2F%2Fsipuni.com%2Fapi%2Fcrm%2Frecord%3Fid%3D1700000000.12345&last_called=202&treeName=%D0%9E%D1%82%D0%B4%D0%B5%D0%BB+%D0%BF%D1%80%D0%BE%D0%B4%D0%B0%D0%B6&treeNumber=000123&roistatgoogleid=x";

    #[test]
    fn parses_the_reference_hangup() {
        let e = CallEvent::parse(HANGUP).unwrap();
        assert_eq!(e.kind, EventKind::Hangup);
        assert_eq!(e.call_id.as_str(), "1700000000.12345");
        assert_eq!(e.src.phone().unwrap().key(), "9161234567");
        assert_eq!(e.dst.short().unwrap().as_str(), "202");
        let h = e.hangup.unwrap();
        assert_eq!(h.status, HangupStatus::Answer);
        assert_eq!(h.call_answer, Some(1_700_000_007));
        assert_eq!(
            h.record_link.as_deref(),
            Some("https://sipuni.com/api/crm/record?id=1700000000.12345")
        );
        assert_eq!(e.tree_name.as_deref(), Some("Отдел продаж"));
        assert_eq!(
            e.extra,
            vec![("roistatgoogleid".to_string(), "x".to_string())]
        );
    }

    #[test]
    fn parameter_order_does_not_matter() {
        let mut parts: Vec<&str> = HANGUP.split('&').collect();
        parts.reverse();
        assert_eq!(
            CallEvent::parse(&parts.join("&")).unwrap(),
            CallEvent::parse(HANGUP).unwrap()
        );
    }

    #[test]
    fn a_missing_destination_is_an_unknown_employee() {
        let e = CallEvent::parse(
            "event=2&call_id=raw-1&src_num=79160000000&src_type=1&status=ANSWER&timestamp=1700000005",
        )
        .unwrap();
        assert_eq!(
            e.dst,
            Party::Internal {
                number: String::new(),
                short: None
            }
        );
    }

    #[test]
    fn zero_answer_timestamp_means_unanswered() {
        let raw = "event=4&call_id=c&status=NOANSWER&src_num=79161234567&src_type=1&dst_num=015856201&dst_type=2&short_dst_num=201&timestamp=1700000007&call_start_timestamp=1700000001&call_answer_timestamp=0";
        assert_eq!(
            CallEvent::parse(raw).unwrap().hangup.unwrap().call_answer,
            None
        );
    }

    #[rstest]
    #[case(
        "call_id=c&src_num=79161234567&src_type=1&dst_num=1&dst_type=2&timestamp=1700000001",
        "event"
    )]
    #[case(
        "event=9&call_id=c&src_num=79161234567&src_type=1&dst_num=1&dst_type=2&timestamp=1700000001",
        "event"
    )]
    #[case(
        "event=1&src_num=79161234567&src_type=1&dst_num=1&dst_type=2&timestamp=1700000001",
        "call_id"
    )]
    #[case(
        "event=1&call_id=c&src_num=79161234567&src_type=1&dst_num=1&dst_type=2&timestamp=9223372036854775807",
        "timestamp"
    )]
    #[case(
        "event=1&call_id=c&src_num=79161234567&src_type=1&dst_num=1&dst_type=2&timestamp=-1",
        "timestamp"
    )]
    #[case(
        "event=2&call_id=c&status=ANSWER&src_num=79161234567&src_type=1&dst_num=1&dst_type=2&timestamp=1700000001&call_answer_timestamp=-9223372036854775808",
        "call_answer_timestamp"
    )]
    #[case(
        "event=1&call_id=c&src_type=2&dst_num=79161234567&dst_type=1&timestamp=1700000001",
        "src_num"
    )]
    #[case(
        "event=1&call_id=c&src_num=79161234567&src_type=3&dst_num=1&dst_type=2&timestamp=1700000001",
        "src_type"
    )]
    #[case(
        "event=1&call_id=c&src_num=79161234567&src_type=1&dst_num=1&dst_type=2&timestamp=soon",
        "timestamp"
    )]
    #[case(
        "event=2&call_id=c&src_num=79161234567&src_type=1&dst_num=1&dst_type=2&timestamp=1700000001",
        "status"
    )]
    #[case(
        "event=2&call_id=c&status=MAYBE&src_num=79161234567&src_type=1&dst_num=1&dst_type=2&timestamp=1700000001",
        "status"
    )]
    #[case(
        "event=1&call_id=c&src_num=79161234567&src_type=1&dst_num=1&dst_type=2&short_dst_num=x1&timestamp=1700000001",
        "short_dst_num"
    )]
    #[case(
        "event=1&event=2&call_id=c&src_num=79161234567&src_type=1&dst_num=1&dst_type=2&timestamp=1700000001",
        "event"
    )]
    fn a_bad_field_is_named(#[case] raw: &str, #[case] field: &str) {
        let e = CallEvent::parse(raw).unwrap_err();
        assert_eq!(e.field(), Some(field), "{e}");
    }

    #[rstest]
    #[case("")]
    #[case("anonymous")]
    #[case("unknown")]
    #[case("12")]
    #[case("Private Number")]
    fn a_hidden_caller_is_no_error(#[case] src: &str) {
        let raw = format!(
            "event=1&call_id=c&src_num={src}&src_type=1&dst_num=015856201&dst_type=2&short_dst_num=201&timestamp=1700000001"
        );
        let e = CallEvent::parse(&raw).unwrap();
        assert_eq!(e.src, Party::Hidden(src.trim().to_string()));
        let absent =
            "event=1&call_id=c&src_type=1&dst_num=015856201&dst_type=2&timestamp=1700000001";
        assert_eq!(
            CallEvent::parse(absent).unwrap().src,
            Party::Hidden(String::new())
        );
    }

    #[rstest]
    #[case("event=1&call_id=%&src_num=1")]
    #[case("event=1&call_id=%G1")]
    #[case("event=1&%%%=1")]
    #[case("event=1&call_id=a%2")]
    fn bad_percent_encoding_is_refused(#[case] raw: &str) {
        assert!(matches!(
            CallEvent::parse(raw),
            Err(EventError::BadEncoding { .. })
        ));
    }

    #[test]
    fn non_utf8_in_names_and_values_is_refused_even_beside_a_literal_replacement_char() {
        assert_eq!(
            CallEvent::parse("event=1&%FF%FE=1").unwrap_err(),
            EventError::NotUtf8
        );
        assert_eq!(
            CallEvent::parse("event=1&call_id=%FF&x=\u{FFFD}").unwrap_err(),
            EventError::NotUtf8
        );
    }

    #[test]
    fn non_utf8_is_refused() {
        assert_eq!(
            CallEvent::parse_bytes(b"event=1&call_id=\xff"),
            Err(EventError::NotUtf8)
        );
        assert_eq!(
            CallEvent::parse("event=1&call_id=%FF").unwrap_err(),
            EventError::NotUtf8
        );
    }
}
