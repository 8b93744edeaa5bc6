//! The Sipuni event wire format (GET query or POST form, any order, URL-encoded UTF-8)
//! parsed into a typed [`CallEvent`]. What the engine needs and cannot read is an error naming
//! the field and value (the request is then kept aside, R-WIRE); a field it does without never
//! makes an event malformed; unknown extra fields are kept, as Sipuni adds fields over time.

use std::fmt;

use crate::phone::{Dialled, PhoneError};

/// Sipuni's call id, shared by all events of one call (`1700000000.12345`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(String);

impl CallId {
    /// A call id as Sipuni sends it: trimmed, 1 to 128 characters, no control characters.
    pub fn parse(raw: &str) -> Option<Self> {
        let t = raw.trim();
        (!t.is_empty() && t.len() <= 128 && !t.chars().any(char::is_control))
            .then(|| CallId(t.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// An id read back from the service's own database, where only parsed ids are written.
    pub(crate) fn from_stored(id: String) -> Self {
        CallId(id)
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An employee as Sipuni names one: a short number (`201`), or `idNNN`, the employee's Sipuni
/// id, for a leg answered on the employee's mobile (behaviour.md «Employee on a mobile»).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShortNumber(String);

impl ShortNumber {
    /// 2 to 6 digits, or `id` and 1 to 12 digits.
    pub fn parse(raw: &str) -> Option<Self> {
        let t = raw.trim();
        let digits = |s: &str, n: std::ops::RangeInclusive<usize>| {
            n.contains(&s.len()) && s.chars().all(|c| c.is_ascii_digit())
        };
        let ok = digits(t, 2..=6) || t.strip_prefix("id").is_some_and(|id| digits(id, 1..=12));
        ok.then(|| ShortNumber(t.to_string()))
    }
    /// The employee of Sipuni id `id` (from a mobile leg's `NUMBER_idNNN`).
    fn of_sipuni_id(id: &str) -> Option<Self> {
        Self::parse(&format!("id{id}"))
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

/// One side of a call, read according to its type (behaviour.md «Party»).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Party {
    /// `*_type=1`: an outside number (the client), as dialled; `short_*_num` is not read.
    External(Dialled),
    /// `*_type=1` with a number that is absent, empty or no phone number (`anonymous`,
    /// `unknown`, fewer than 3 digits): a hidden caller (R-HIDDEN). Kept as sent, for logs.
    Hidden(String),
    /// `*_type=2`: an employee; `number` is the account number + short number.
    Internal {
        number: String,
        short: Option<ShortNumber>,
    },
    /// `*_type=1` with `NUMBER_idNNN`: an employee reached on a mobile (`idNNN`).
    Mobile {
        number: String,
        employee: ShortNumber,
    },
}

impl Party {
    /// The employee on this side, if it is one Sipuni names.
    pub(crate) fn short(&self) -> Option<&ShortNumber> {
        match self {
            Party::Internal { short, .. } => short.as_ref(),
            Party::Mobile { employee, .. } => Some(employee),
            Party::External(_) | Party::Hidden(_) => None,
        }
    }
    pub(crate) fn phone(&self) -> Option<&Dialled> {
        match self {
            Party::External(p) => Some(p),
            Party::Internal { .. } | Party::Hidden(_) | Party::Mobile { .. } => None,
        }
    }
    /// An outside party, with a number or hidden (an employee on a mobile is no outside party).
    pub(crate) fn is_external(&self) -> bool {
        matches!(self, Party::External(_) | Party::Hidden(_))
    }
    /// An employee whom Sipuni does not name (a side the event leaves out).
    fn unknown_employee() -> Party {
        Party::Internal {
            number: String::new(),
            short: None,
        }
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
    /// Event 2 always; event 4 when it carries a status (a transfer's event 4 has none).
    pub(crate) hangup: Option<HangupInfo>,
    /// Scheme name (`treeName`); outgoing calls carry «Исходящая».
    pub(crate) tree_name: Option<String>,
    /// Scheme id (`treeNumber`).
    pub(crate) tree_number: Option<String>,
    pub(crate) is_inner_call: Option<bool>,
    /// `last_called`: employees rung last (`&`- or `,`-separated on the wire).
    pub(crate) last_called: Vec<ShortNumber>,
    /// Fields this parser does not know, kept as sent.
    pub(crate) extra: Vec<(String, String)>,
}

/// Why a request on the secret path is no event the engine can use. The request is still
/// acknowledged and kept with this reason (R-WIRE).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("the request carries no fields (a cabinet calls the URL when its settings are saved)")]
    Empty,
    #[error("field `{field}` is missing; the engine needs it to place the event in a call")]
    Missing { field: &'static str },
    #[error("`event={value}` is a kind the engine does not act on (it acts on 1 to 4)")]
    UnknownKind { value: String },
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
    #[error("the request is not UTF-8 text")]
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
            EventError::UnknownKind { .. } => Some("event"),
            EventError::Empty | EventError::NotUtf8 | EventError::BadEncoding { .. } => None,
        }
    }

    /// The reason as a metrics label and an operator's filter.
    pub fn reason(&self) -> &'static str {
        match self {
            EventError::Empty => "empty",
            EventError::Missing { .. } => "missing_field",
            EventError::UnknownKind { .. } => "unknown_event",
            EventError::Invalid { .. } => "invalid_field",
            EventError::Conflict { .. } => "conflicting_field",
            EventError::NotUtf8 => "not_utf8",
            EventError::BadEncoding { .. } => "bad_encoding",
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

/// Fields the engine reads: a second value that differs makes the event ambiguous.
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

/// Parts of an unencoded `call_record_link` that arrive as parameters of their own
/// (`…record?id=X&hash=Y&user=Z`), joined back in the order they came.
const LINK_PARTS: [&str; 2] = ["hash", "user"];

/// The camelCase spellings one receiver in the wild also reads.
fn snake_case(name: String) -> String {
    let snake = match name.as_str() {
        "srcNum" => "src_num",
        "dstNum" => "dst_num",
        "srcType" => "src_type",
        "dstType" => "dst_type",
        "shortSrcNum" => "short_src_num",
        "shortDstNum" => "short_dst_num",
        _ => return name,
    };
    snake.to_string()
}

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
    /// Unix seconds within [`PLAUSIBLE_TIME`], `0` (Sipuni's "none") and absence being `None`.
    fn time(&self, k: &'static str) -> Result<Option<i64>, EventError> {
        let Some(v) = self.non_empty(k) else {
            return Ok(None);
        };
        match v.parse::<i64>() {
            Ok(0) => Ok(None),
            Ok(t) if PLAUSIBLE_TIME.contains(&t) => Ok(Some(t)),
            _ => Err(invalid(
                k,
                v,
                &format!(
                    "expected Unix seconds between {} (2000-01-01) and {} (2100-01-01), or 0 for none",
                    PLAUSIBLE_TIME.start(),
                    PLAUSIBLE_TIME.end()
                ),
            )),
        }
    }
    /// A time the engine can do without: one it cannot read is taken as absent.
    fn optional_time(&self, k: &'static str) -> Option<i64> {
        self.time(k).ok().flatten()
    }
}

impl CallEvent {
    /// A stable fingerprint of an event, for recognising re-deliveries (R-IDEM).
    pub fn fingerprint(&self) -> String {
        let e = self;
        let party = |p: &Party| match p {
            Party::External(ph) => ph.digits().to_string(),
            Party::Hidden(raw) => format!("hidden:{raw}"),
            Party::Internal { number, short } => {
                format!("{number}/{}", short.as_ref().map_or("", |s| s.as_str()))
            }
            Party::Mobile { number, employee } => format!("{number}_{employee}"),
        };
        let text = format!(
            "{}|{}|{}|{}|{}|{}",
            e.call_id,
            e.kind.code(),
            e.timestamp,
            party(&e.src),
            party(&e.dst),
            e.hangup.as_ref().map_or("", |h| h.status.as_str())
        );
        // What a hidden caller sent may hold control characters, which a database text refuses.
        text.chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect()
    }

    /// Parses raw bytes of a query string or form body.
    pub fn parse_bytes(raw: &[u8]) -> Result<Self, EventError> {
        let text = std::str::from_utf8(raw).map_err(|_| EventError::NotUtf8)?;
        Self::parse(text)
    }

    /// Parses `event=1&call_id=...` (a query string or an `x-www-form-urlencoded` body). Names
    /// and values must be well-formed percent-encoding of UTF-8 text. A parameter given twice
    /// with the same value is one; an unknown one given twice keeps its first value.
    pub fn parse(raw: &str) -> Result<Self, EventError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for part in raw.trim_start_matches('?').split('&') {
            if part.is_empty() {
                continue;
            }
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let (k, v) = (snake_case(decode(k)?), decode(v)?);
            match seen.get(&k) {
                Some(&i) if pairs[i].1 != v && KNOWN.contains(&k.as_str()) => {
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
        if pairs.is_empty() {
            return Err(EventError::Empty);
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
        let (src, dst) = parties(&f, kind)?;
        let timestamp = f
            .time("timestamp")?
            .ok_or(EventError::Missing { field: "timestamp" })?;
        let hangup = match kind {
            EventKind::Hangup => Some(hangup_info(&f)?),
            EventKind::LegHangup => hangup_info(&f).ok(),
            _ => None,
        };
        let is_inner_call = match f.non_empty("is_inner_call") {
            Some("1") => Some(true),
            Some("0") => Some(false),
            _ => None,
        };
        let extra =
            f.0.iter()
                .filter(|(k, _)| !KNOWN.contains(&k.as_str()))
                .cloned()
                .collect();
        Ok(CallEvent {
            kind,
            call_id,
            src,
            dst,
            timestamp,
            hangup,
            tree_name: f.non_empty("treeName").map(str::to_string),
            tree_number: f.non_empty("treeNumber").map(str::to_string),
            is_inner_call,
            last_called: last_called(&f),
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
            return Err(EventError::UnknownKind {
                value: v.chars().take(40).collect(),
            });
        }
    })
}

/// Both sides. An event 4 may name neither (one fixture has only `call_id`, `short_src_num`
/// and `timestamp`), and a hangup may leave the employee side out: a side without its type is
/// then an employee Sipuni does not name.
fn parties(f: &Fields, kind: EventKind) -> Result<(Party, Party), EventError> {
    let absent = |num: &str, ty: &str| f.non_empty(num).is_none() && f.non_empty(ty).is_none();
    let src = if kind == EventKind::LegHangup && f.non_empty("src_type").is_none() {
        Party::unknown_employee()
    } else {
        party(f, "src_num", "src_type", "short_src_num")?
    };
    let dst = if absent("dst_num", "dst_type")
        || (kind == EventKind::LegHangup && f.non_empty("dst_type").is_none())
    {
        Party::unknown_employee()
    } else {
        party(f, "dst_num", "dst_type", "short_dst_num")?
    };
    Ok((src, dst))
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
        call_start: f.optional_time("call_start_timestamp"),
        call_answer: f.optional_time("call_answer_timestamp"),
        record_link: record_link(f),
    })
}

/// `call_record_link`, with the `hash` and `user` an unencoded link lost to the event's own
/// parameters joined back (R-WIRE).
fn record_link(f: &Fields) -> Option<String> {
    let mut link = f.non_empty("call_record_link")?.to_string();
    if link.contains('?') {
        for (k, v) in f.0.iter().filter(|(k, _)| LINK_PARTS.contains(&k.as_str())) {
            let v: String = form_urlencoded::byte_serialize(v.as_bytes()).collect();
            link.push_str(&format!("&{k}={v}"));
        }
    }
    Some(link)
}

/// `last_called`: employees separated by `&` or `,`; what is no employee is left out.
fn last_called(f: &Fields) -> Vec<ShortNumber> {
    f.non_empty("last_called")
        .map(|v| v.split(['&', ',']).filter_map(ShortNumber::parse).collect())
        .unwrap_or_default()
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

/// One side by its type: `1` an outside party (the client, hidden, or an employee's mobile),
/// `2` an employee. Only an employee's `short_*_num` is a short number. A side given by its
/// number without a type is read from the number (behaviour.md is silent; nothing is lost).
fn party(
    f: &Fields,
    num: &'static str,
    kind: &'static str,
    short: &'static str,
) -> Result<Party, EventError> {
    let number = f.non_empty(num).unwrap_or("");
    let internal = || Party::Internal {
        number: number.to_string(),
        short: f.non_empty(short).and_then(ShortNumber::parse),
    };
    match f.non_empty(kind) {
        Some("1") => Ok(outside(number, f.non_empty(short))),
        Some("2") => Ok(internal()),
        Some(v) => Err(invalid(kind, v, "expected 1 (external) or 2 (internal)")),
        // Some senders leave the type out of a side they give the number of: an employee's
        // number ends with its short number, anything else is an outside party.
        None if number.is_empty() => Err(EventError::Missing { field: kind }),
        None => Ok(match f.non_empty(short).and_then(ShortNumber::parse) {
            Some(s) if number.len() > s.as_str().len() && number.ends_with(s.as_str()) => {
                internal()
            }
            _ => outside(number, f.non_empty(short)),
        }),
    }
}

/// An outside party: an employee's mobile (`NUMBER_idNNN` in the number or its short field),
/// a client's number, or a hidden one. A bad caller number never makes an event malformed.
fn outside(number: &str, short: Option<&str>) -> Party {
    for candidate in [Some(number), short].into_iter().flatten() {
        if let Some((mobile, id)) = candidate.rsplit_once("_id")
            && let Some(employee) = ShortNumber::of_sipuni_id(id)
        {
            return Party::Mobile {
                number: mobile.to_string(),
                employee,
            };
        }
    }
    Dialled::parse(number).map_or_else(
        |_: PhoneError| Party::Hidden(number.to_string()),
        Party::External,
    )
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
        assert_eq!(e.src.phone().unwrap().digits(), "79161234567");
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
        "event",
        "missing_field"
    )]
    #[case(
        "event=9&call_id=c&src_num=79161234567&src_type=1&dst_num=1&dst_type=2&timestamp=1700000001",
        "event",
        "unknown_event"
    )]
    #[case(
        "event=1&src_num=79161234567&src_type=1&dst_num=1&dst_type=2&timestamp=1700000001",
        "call_id",
        "missing_field"
    )]
    #[case(
        "event=1&call_id=c&src_num=79161234567&src_type=1&dst_num=1&dst_type=2&timestamp=9223372036854775807",
        "timestamp",
        "invalid_field"
    )]
    #[case(
        "event=1&call_id=c&src_num=79161234567&src_type=1&dst_num=1&dst_type=2&timestamp=-1",
        "timestamp",
        "invalid_field"
    )]
    #[case(
        "event=1&call_id=c&src_num=79161234567&src_type=3&dst_num=1&dst_type=2&timestamp=1700000001",
        "src_type",
        "invalid_field"
    )]
    #[case(
        "event=1&call_id=c&dst_num=015856201&dst_type=2&timestamp=1700000001",
        "src_type",
        "missing_field"
    )]
    #[case(
        "event=1&call_id=c&src_num=79161234567&src_type=1&dst_num=1&dst_type=2&timestamp=soon",
        "timestamp",
        "invalid_field"
    )]
    #[case(
        "event=2&call_id=c&src_num=79161234567&src_type=1&dst_num=1&dst_type=2&timestamp=1700000001",
        "status",
        "missing_field"
    )]
    #[case(
        "event=2&call_id=c&status=MAYBE&src_num=79161234567&src_type=1&dst_num=1&dst_type=2&timestamp=1700000001",
        "status",
        "invalid_field"
    )]
    #[case(
        "event=1&event=2&call_id=c&src_num=79161234567&src_type=1&dst_num=1&dst_type=2&timestamp=1700000001",
        "event",
        "conflicting_field"
    )]
    fn what_the_engine_needs_and_cannot_read_is_named(
        #[case] raw: &str,
        #[case] field: &str,
        #[case] reason: &str,
    ) {
        let e = CallEvent::parse(raw).unwrap_err();
        assert_eq!((e.field(), e.reason()), (Some(field), reason), "{e}");
    }

    /// Fields the engine does without never make an event malformed (behaviour.md «Party»).
    #[rstest]
    #[case(
        "event=1&call_id=c&src_num=79161234567&src_type=1&dst_num=1&dst_type=2&short_dst_num=x1&timestamp=1700000001"
    )]
    #[case("event=1&call_id=c&src_type=2&dst_num=79161234567&dst_type=1&timestamp=1700000001")]
    #[case(
        "event=1&call_id=c&src_num=79161234567&src_type=1&dst_num=1&dst_type=2&timestamp=1700000001&is_inner_call=yes"
    )]
    #[case(
        "event=2&call_id=c&status=ANSWER&src_num=79161234567&src_type=1&dst_num=1&dst_type=2&timestamp=1700000001&call_answer_timestamp=-9223372036854775808"
    )]
    #[case(
        "event=2&call_id=c&status=NOANSWER&src_num=79161234567&src_type=1&timestamp=1700000001&last_called=102,abc"
    )]
    #[case(
        "event=1&call_id=c&src_num=79161234567&src_type=1&dst_num=1&dst_type=2&timestamp=1700000001&x=1&x=2"
    )]
    fn a_field_the_engine_does_without_is_no_error(#[case] raw: &str) {
        CallEvent::parse(raw).unwrap();
    }

    #[test]
    fn an_outside_partys_short_field_is_not_read_as_an_employee() {
        // The client's number repeated in short_src_num (a live cabinet's log; AdvantShop reads
        // the client's phone from it).
        let e = CallEvent::parse("event=2&call_id=1774373436.533962&src_type=1&src_num=951218115&short_src_num=951218115&dst_type=2&dst_num=070196201&short_dst_num=201&timestamp=1774373455&status=ANSWER").unwrap();
        assert_eq!(e.src.phone().map(Dialled::digits), Some("951218115"));
        assert_eq!(e.dst.short().map(ShortNumber::as_str), Some("201"));
    }

    #[test]
    fn a_leg_to_a_mobile_is_the_employee_of_its_sipuni_id() {
        let e = CallEvent::parse("event=2&call_id=1774373436.533962&src_type=1&src_num=951218115&short_src_num=951218115&dst_type=1&dst_num=998783337125_id265648&short_dst_num=998783337125_id265648&pbxdstnum=998783337125&timestamp=1774373455&status=NOANSWER").unwrap();
        assert_eq!(
            e.dst,
            Party::Mobile {
                number: "998783337125".into(),
                employee: ShortNumber::parse("id265648").unwrap()
            }
        );
        assert!(!e.dst.is_external());
    }

    #[test]
    fn an_event_4_without_status_or_parties_is_an_event() {
        let e =
            CallEvent::parse("event=4&call_id=s1&short_src_num=97&timestamp=1700000001").unwrap();
        assert_eq!((e.kind, e.hangup), (EventKind::LegHangup, None));
        assert_eq!(e.src, Party::unknown_employee());
    }

    #[test]
    fn an_unencoded_recording_link_is_joined_back() {
        let e = CallEvent::parse("event=2&call_id=1676107122.1384946&src_type=2&src_num=060863205&short_src_num=205&dst_type=1&dst_num=79603748154&timestamp=1676107150&last_called=205&status=NOANSWER&call_record_link=https://sipuni.com/api/crm/record?id=1676107122.1384946&hash=4a220a5a9e1d943accfcb38965105863&user=060863").unwrap();
        assert_eq!(
            e.hangup.unwrap().record_link.as_deref(),
            Some(
                "https://sipuni.com/api/crm/record?id=1676107122.1384946&hash=4a220a5a9e1d943accfcb38965105863&user=060863"
            )
        );
    }

    #[test]
    fn a_side_without_its_type_is_read_from_its_number() {
        let e = CallEvent::parse("event=2&src_type=2&dst_num=79603748154&timestamp=1676107150&last_called=205&status=NOANSWER&call_id=x").unwrap();
        assert_eq!(e.dst.phone().map(Dialled::digits), Some("79603748154"));
        let e = CallEvent::parse("event=2&status=ANSWER&call_id=y&src_num=77011234567&dst_num=015856201&short_dst_num=201&timestamp=1717171760").unwrap();
        assert!(e.src.is_external());
        assert_eq!(e.dst.short().map(ShortNumber::as_str), Some("201"));
    }

    #[test]
    fn an_empty_request_and_camel_case_names() {
        assert_eq!(CallEvent::parse(""), Err(EventError::Empty));
        assert_eq!(CallEvent::parse("&&"), Err(EventError::Empty));
        let e = CallEvent::parse("event=1&call_id=c&srcNum=79161234567&srcType=1&dstNum=015856201&dstType=2&shortDstNum=201&timestamp=1700000001").unwrap();
        assert_eq!(e.dst.short().map(ShortNumber::as_str), Some("201"));
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
