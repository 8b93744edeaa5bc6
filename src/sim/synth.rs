//! The synthetic Sipuni generator: a call description becomes the event sequence Sipuni sends
//! (`event=1` per ring leg, `event=3` on answer, `event=4` for the other legs, `event=2` hangup)
//! in the wire form real cabinets use (`reference/sipuni-events.md`, «What real cabinets
//! send»): an outside party's short field repeating its number, `is_inner_call=1` on an outside
//! caller's operator legs after a greeting, event 4 with and without `status`, an outgoing
//! call's event 1 twice a second apart, recording links (unencoded on some calls, on missed
//! calls too), no `call_answer_timestamp` on some unanswered calls, employees answering on a
//! mobile (`NUMBER_idNNN`) and transfers. The engine sees exactly what the receiver would parse.

use crate::phone::Phone;
use crate::sipuni::event::{HangupStatus, ShortNumber};

/// The Sipuni account number that prefixes employee numbers (`015856` + `201`).
pub(crate) const ACCOUNT: &str = "015856";
/// The scheme name of outgoing calls.
pub(crate) const OUTGOING_TREE: &str = "Исходящая";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SynthDirection {
    Incoming,
    Outgoing,
}

/// One call to generate.
#[derive(Clone, Debug)]
pub struct CallSpec {
    pub call_id: String,
    pub client: Phone,
    pub direction: SynthDirection,
    /// `treeNumber` (incoming); outgoing calls use «Исходящая».
    pub scheme: Option<String>,
    /// Employees rung, in order (incoming); a leg starts each second. An `idNNN` employee is
    /// rung on a mobile.
    pub ring: Vec<ShortNumber>,
    /// Who answered (incoming); `None` = missed.
    pub answer: Option<ShortNumber>,
    /// Who dials (outgoing).
    pub employee: Option<ShortNumber>,
    /// Did the client pick up (outgoing).
    pub answered: bool,
    pub ring_time: u64,
    pub talk: u64,
    /// Hangup status when not answered.
    pub status: HangupStatus,
    /// A recording link is sent (on answered and missed calls alike, as cabinets do).
    pub record: bool,
    /// The answerer transfers the call to this employee halfway through the talk (R-TRANSFER).
    pub transfer: Option<ShortNumber>,
    /// The mobile number `idNNN` employees are rung on (digits); default: one made from the id.
    pub mobile: Option<String>,
    /// The hangup (`event=2`) never arrives (a storm's lost hangups).
    pub no_hangup: bool,
}

/// One generated event: its Unix time and its wire form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireEvent {
    pub at: i64,
    pub line: String,
}

impl WireEvent {
    fn new(at: i64, p: &Fields, raw_link: Option<&str>) -> Self {
        WireEvent {
            at,
            line: line(p, raw_link),
        }
    }
}

/// The wire's variations a call takes, chosen by its id (the same id, the same shapes).
#[derive(Clone, Copy)]
struct Quirks {
    /// Event 4 of a leg that was not answered carries no `status`.
    leg_without_status: bool,
    /// `call_record_link` is sent unencoded, its `hash` and `user` split off as parameters.
    unencoded_link: bool,
    /// An unanswered hangup has no `call_answer_timestamp` (else `0`).
    no_answer_time: bool,
}

impl Quirks {
    fn of(call_id: &str) -> Self {
        let h = fnv(call_id.as_bytes());
        Quirks {
            leg_without_status: h & 1 == 1,
            unencoded_link: h & 2 == 2,
            no_answer_time: h & 4 == 4,
        }
    }
}

/// FNV-1a: a stable hash for choosing quirks and making recording hashes.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

type Fields = Vec<(&'static str, String)>;

/// An event's line: form-encoded, with an unencoded recording link appended as cabinets send it.
fn line(p: &Fields, raw_link: Option<&str>) -> String {
    let mut out = crate::http::form_encode(p);
    if let Some(link) = raw_link {
        out.push_str("&call_record_link=");
        out.push_str(link);
    }
    out
}

impl CallSpec {
    fn answered(&self) -> bool {
        match self.direction {
            SynthDirection::Incoming => self.answer.is_some(),
            SynthDirection::Outgoing => self.answered,
        }
    }

    /// An employee as a destination: an internal party, or an outside one carrying the
    /// employee's Sipuni id when rung on a mobile.
    fn employee_dst(&self, emp: &ShortNumber) -> Fields {
        match emp.as_str().strip_prefix("id") {
            Some(id) => {
                let mobile = self.mobile.clone().unwrap_or_else(|| mobile_of(id));
                let num = format!("{mobile}_{emp}");
                vec![
                    ("dst_num", num.clone()),
                    ("dst_type", "1".into()),
                    ("short_dst_num", num),
                    ("pbxdstnum", mobile),
                ]
            }
            None => vec![
                ("dst_num", format!("{ACCOUNT}{emp}")),
                ("dst_type", "2".into()),
                ("short_dst_num", emp.to_string()),
            ],
        }
    }

    /// The fields of the final hangup (`event=2`): status, start and answer times, recording;
    /// returns the recording link when it is to go unencoded.
    fn hangup_fields(&self, p: &mut Fields, start: i64, picked: i64) -> Option<String> {
        let quirks = Quirks::of(&self.call_id);
        let answered = self.answered();
        let status = if answered {
            HangupStatus::Answer
        } else {
            self.status
        };
        p.push(("status", status.as_str().into()));
        p.push(("call_start_timestamp", start.to_string()));
        if answered {
            p.push(("call_answer_timestamp", picked.to_string()));
        } else if !quirks.no_answer_time {
            p.push(("call_answer_timestamp", "0".into()));
        }
        let link = self.record_link();
        match (&link, quirks.unencoded_link) {
            (Some(_), true) => link,
            (Some(l), false) => {
                p.push(("call_record_link", l.clone()));
                None
            }
            (None, _) => {
                p.push(("call_record_link", String::new()));
                None
            }
        }
    }

    fn record_link(&self) -> Option<String> {
        self.record.then(|| {
            let hash = format!(
                "{:016x}{:016x}",
                fnv(self.call_id.as_bytes()),
                fnv(format!("{}.rec", self.call_id).as_bytes())
            );
            format!(
                "https://sipuni.com/api/crm/record?id={}&hash={hash}&user={ACCOUNT}",
                self.call_id
            )
        })
    }

    /// The events of the call, starting at `start` (Unix seconds), in sending order.
    pub fn events(&self, start: i64) -> Vec<WireEvent> {
        let mut events = match self.direction {
            SynthDirection::Incoming => self.incoming(start),
            SynthDirection::Outgoing => self.outgoing(start),
        };
        if self.no_hangup {
            events.retain(|e| !e.line.starts_with("event=2&"));
        }
        events
    }

    /// An incoming call's event between the client and employee `emp`, sent at `t`.
    fn incoming_event(&self, event: u8, emp: &ShortNumber, t: i64) -> Fields {
        let client = self.client.digits().to_string();
        let mut p: Fields = vec![
            ("event", event.to_string()),
            ("call_id", self.call_id.clone()),
            ("src_num", client.clone()),
            ("src_type", "1".into()),
            // Real cabinets repeat an outside party's number in its short field.
            ("short_src_num", client),
        ];
        p.extend(self.employee_dst(emp));
        p.push(("timestamp", t.to_string()));
        p
    }

    fn tree(&self) -> Fields {
        match &self.scheme {
            Some(s) => vec![
                ("treeName", format!("Схема {s}")),
                ("treeNumber", s.clone()),
            ],
            None => vec![],
        }
    }

    fn incoming(&self, start: i64) -> Vec<WireEvent> {
        let quirks = Quirks::of(&self.call_id);
        let mut out = Vec::new();
        // After a scheme's greeting the operator legs of an outside caller carry
        // `is_inner_call=1` (seen in live cabinets); direction comes from the types.
        let inner = if self.scheme.is_some() { "1" } else { "0" };
        for (i, emp) in self.ring.iter().enumerate() {
            let t = start + i as i64;
            let mut p = self.incoming_event(1, emp, t);
            p.push(("is_inner_call", inner.into()));
            p.extend(self.tree());
            out.push(WireEvent::new(t, &p, None));
        }
        let picked = start + self.ring_time as i64;
        let mut end = if self.answer.is_some() {
            picked + self.talk as i64
        } else {
            picked
        };
        if let Some(ans) = &self.answer {
            out.push(WireEvent::new(
                picked,
                &self.incoming_event(3, ans, picked),
                None,
            ));
        }
        for emp in self
            .ring
            .iter()
            .filter(|e| Some(*e) != self.answer.as_ref())
        {
            let mut p = self.incoming_event(4, emp, picked);
            if !quirks.leg_without_status {
                p.push(("status", "NOANSWER".into()));
                p.push(("call_start_timestamp", start.to_string()));
                p.push(("call_answer_timestamp", "0".into()));
            }
            out.push(WireEvent::new(picked, &p, None));
        }
        let mut last = self.answer.clone().or_else(|| self.ring.last().cloned());
        if let (Some(from), Some(to)) = (&self.answer, &self.transfer) {
            let at = picked + (self.talk as i64 / 2).max(1);
            out.extend(self.transfer_events(from, to, at));
            last = Some(to.clone());
            end = end.max(at + 1);
        }
        let Some(last) = last else { return out };
        let mut p = self.incoming_event(2, &last, end);
        let raw_link = self.hangup_fields(&mut p, start, picked);
        p.push(("last_called", last.to_string()));
        p.extend(self.tree());
        out.push(WireEvent::new(end, &p, raw_link.as_deref()));
        out
    }

    /// R-TRANSFER at `at`: the new leg rings, the first leg ends (event 4 without a status, as
    /// Sipuni's proxy builds it), the new employee answers; each names `transfer_from`.
    fn transfer_events(&self, from: &ShortNumber, to: &ShortNumber, at: i64) -> Vec<WireEvent> {
        [(1, to, at), (4, from, at + 1), (3, to, at + 1)]
            .into_iter()
            .map(|(event, emp, t)| {
                let mut p = self.incoming_event(event, emp, t);
                p.push(("transfer_from", from.to_string()));
                WireEvent::new(t, &p, None)
            })
            .collect()
    }

    fn outgoing(&self, start: i64) -> Vec<WireEvent> {
        let Some(emp) = self.employee.clone().or_else(|| self.ring.first().cloned()) else {
            return Vec::new();
        };
        let client = self.client.digits().to_string();
        let common = |event: u8, t: i64| -> Fields {
            vec![
                ("event", event.to_string()),
                ("call_id", self.call_id.clone()),
                ("src_num", format!("{ACCOUNT}{emp}")),
                ("src_type", "2".into()),
                ("short_src_num", emp.to_string()),
                ("dst_num", client.clone()),
                ("dst_type", "1".into()),
                ("short_dst_num", client.clone()),
                ("timestamp", t.to_string()),
                ("treeName", OUTGOING_TREE.into()),
                ("pbxdstnum", client.clone()),
            ]
        };
        let mut out = Vec::new();
        let picked = start + self.ring_time as i64;
        // A live cabinet's log shows an outgoing call's event 1 twice, a second apart.
        let repeated = (picked > start).then_some(start + 1);
        for t in std::iter::once(start).chain(repeated) {
            let mut p = common(1, t);
            p.push(("is_inner_call", "0".into()));
            out.push(WireEvent {
                at: t,
                line: line(&p, None),
            });
        }
        let end = if self.answered {
            picked + self.talk as i64
        } else {
            picked
        };
        if self.answered {
            out.push(WireEvent {
                at: picked,
                line: line(&common(3, picked), None),
            });
        }
        let mut p = common(2, end);
        let raw_link = self.hangup_fields(&mut p, start, picked);
        out.push(WireEvent {
            at: end,
            line: line(&p, raw_link.as_deref()),
        });
        out
    }
}

/// The mobile number of an employee rung on a mobile, made from the Sipuni id.
fn mobile_of(id: &str) -> String {
    let n = fnv(id.as_bytes()) % 10_000_000;
    format!("7903{n:07}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::call::{Assembled, Direction, assemble};
    use crate::phone::Country;
    use crate::sipuni::event::CallEvent;

    fn sn(s: &str) -> ShortNumber {
        ShortNumber::parse(s).unwrap()
    }

    fn spec() -> CallSpec {
        CallSpec {
            call_id: "1700000000.1".into(),
            client: Phone::parse("+79161234567").unwrap(),
            direction: SynthDirection::Incoming,
            scheme: Some("000123".into()),
            ring: vec![sn("201"), sn("202")],
            answer: Some(sn("202")),
            employee: None,
            answered: false,
            ring_time: 15,
            talk: 95,
            status: HangupStatus::NoAnswer,
            record: true,
            transfer: None,
            mobile: None,
            no_hangup: false,
        }
    }

    #[test]
    fn an_answered_group_ring_has_the_documented_sequence_and_parses_back() {
        let events = spec().events(1_700_000_000);
        let kinds: Vec<&str> = events.iter().map(|e| &e.line[..7]).collect();
        assert_eq!(
            kinds,
            vec!["event=1", "event=1", "event=3", "event=4", "event=2"]
        );
        let parsed: Vec<CallEvent> = events
            .iter()
            .map(|e| CallEvent::parse(&e.line).unwrap())
            .collect();
        let Assembled::Finished(call) = assemble(&parsed, Country::default()) else {
            panic!("not finished")
        };
        assert_eq!(call.direction, Direction::Incoming);
        assert_eq!(call.answerer.as_deref(), Some("202"));
        assert_eq!(
            call.legs.iter().map(|l| &**l).collect::<Vec<_>>(),
            vec!["201", "202"]
        );
        assert_eq!((call.talk_secs, call.ended_at), (95, 1_700_000_110));
        assert!(call.record_link.is_some());
    }

    fn lines_of(s: &CallSpec) -> Vec<String> {
        s.events(1_700_000_000)
            .into_iter()
            .map(|e| e.line)
            .collect()
    }

    fn assembled(s: &CallSpec) -> crate::engine::rules::call::Call {
        let parsed: Vec<CallEvent> = s
            .events(1_700_000_000)
            .iter()
            .map(|e| CallEvent::parse(&e.line).unwrap())
            .collect();
        let Assembled::Finished(call) = assemble(&parsed, Country::default()) else {
            panic!("not finished")
        };
        *call
    }

    #[test]
    fn a_transfer_is_one_call_answered_by_the_second_employee_for_the_whole_talk() {
        let s = CallSpec {
            answer: Some(sn("201")),
            transfer: Some(sn("203")),
            ..spec()
        };
        let lines = lines_of(&s);
        assert!(
            lines.iter().any(|l| l.starts_with("event=4&")
                && l.contains("transfer_from=201")
                && !l.contains("status=")),
            "{lines:#?}"
        );
        let call = assembled(&s);
        assert_eq!(call.answerer.as_deref(), Some("203"));
        assert_eq!(call.talk_secs, 95);
    }

    #[test]
    fn a_leg_rung_on_a_mobile_is_its_employee_and_the_client_stays_the_caller() {
        let s = CallSpec {
            ring: vec![sn("201"), sn("id265648")],
            answer: Some(sn("id265648")),
            ..spec()
        };
        let lines = lines_of(&s);
        assert!(
            lines.iter().any(|l| l.contains("_id265648&dst_type=1")),
            "{lines:#?}"
        );
        let call = assembled(&s);
        assert_eq!(call.answerer.as_deref(), Some("id265648"));
        assert_eq!(call.client.e164(), "+79161234567");
    }

    #[test]
    fn the_real_shapes_come_with_the_default_traffic() {
        let lines: Vec<String> = random_calls(7, 400, 40, 4, 1_700_000_000)
            .iter()
            .flat_map(|(t, c)| c.events(*t))
            .map(|e| e.line)
            .collect();
        let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
        assert!(has("is_inner_call=1"));
        assert!(has("transfer_from="));
        assert!(has("src_num=998"));
        assert!(has("src_num=7701"));
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("event=4&") && !l.contains("status="))
        );
        assert!(lines.iter().any(|l| {
            l.contains("&call_record_link=https://sipuni.com/api/crm/record?id=")
                && l.contains("&hash=")
        }));
        assert!(lines.iter().any(|l| l.starts_with("event=2&")
            && l.contains("NOANSWER")
            && !l.contains("call_answer_timestamp")));
        let short_src = |l: &&String| {
            form_urlencoded::parse(l.as_bytes()).any(|(k, v)| k == "short_src_num" && v.len() > 6)
        };
        assert!(lines.iter().any(|l| short_src(&l)));
    }

    #[test]
    fn an_outgoing_unanswered_call_parses_back() {
        let s = CallSpec {
            direction: SynthDirection::Outgoing,
            employee: Some(sn("201")),
            answer: None,
            answered: false,
            status: HangupStatus::Busy,
            ..spec()
        };
        let parsed: Vec<CallEvent> = s
            .events(1_700_000_100)
            .iter()
            .map(|e| CallEvent::parse(&e.line).unwrap())
            .collect();
        let Assembled::Finished(call) = assemble(&parsed, Country::default()) else {
            panic!()
        };
        assert_eq!(
            (
                call.direction,
                call.answered,
                call.status.map(HangupStatus::as_str)
            ),
            (Direction::Outgoing, false, Some("BUSY"))
        );
        assert_eq!(call.employee.as_deref(), Some("201"));
    }
}

/// A seeded random stream of calls: a pool of `clients` phones (so numbers repeat), `employees`
/// short numbers from 201, calls spread over a working day from `start`. Same seed, same calls.
pub fn random_calls(
    seed: u64,
    calls: usize,
    clients: usize,
    employees: usize,
    start: i64,
) -> Vec<(i64, CallSpec)> {
    use fake::Fake;
    use fake::rand::SeedableRng;
    use fake::rand::rngs::StdRng;

    let mut rng = StdRng::seed_from_u64(seed);
    let clients = clients.max(1);
    let employees = employees.clamp(1, 99);
    let pool: Vec<Phone> = (0..clients)
        .map(|i| {
            let n: u64 = (0..10_000_000u64).fake_with_rng(&mut rng);
            let code: u64 = (900..1000u64).fake_with_rng(&mut rng);
            // Callers from Kazakhstan and Uzbekistan too, as cabinets see them.
            let number = match i % 10 {
                3 => format!("7701{n:07}"),
                7 => format!("99890{n:07}"),
                _ => format!("7{code}{n:07}"),
            };
            Phone::parse(&number)
                .unwrap_or_else(|_| Phone::parse("79000000000").expect("a valid constant phone"))
        })
        .collect();
    let staff: Vec<ShortNumber> = (0..employees)
        .filter_map(|i| ShortNumber::parse(&(201 + i).to_string()))
        .collect();
    let day = 9 * 3600;
    let gap = (day / calls.max(1) as i64).max(1);
    let mut t = start;
    (0..calls)
        .map(|i| {
            let jitter: i64 = (0..gap).fake_with_rng(&mut rng);
            t += jitter.max(1);
            let client = pool[(0..pool.len()).fake_with_rng::<usize, _>(&mut rng)].clone();
            let outgoing = (0..100u32).fake_with_rng::<u32, _>(&mut rng) < 30;
            let answered = (0..100u32).fake_with_rng::<u32, _>(&mut rng) < 65;
            let legs: usize = (1..=staff.len().min(3)).fake_with_rng(&mut rng);
            let first: usize = (0..staff.len()).fake_with_rng(&mut rng);
            let ring: Vec<ShortNumber> = (0..legs)
                .map(|k| staff[(first + k) % staff.len()].clone())
                .collect();
            let answer = (answered && !outgoing)
                .then(|| ring[(0..ring.len()).fake_with_rng::<usize, _>(&mut rng)].clone());
            // R-TRANSFER: a tenth of the answered calls go on to another employee.
            let transfer = answer
                .as_ref()
                .filter(|_| (0..10u32).fake_with_rng::<u32, _>(&mut rng) == 0)
                .and_then(|a| staff.iter().find(|e| *e != a).cloned());
            // A third of the incoming calls pass a scheme's greeting (`is_inner_call=1`).
            let scheme = (!outgoing && (0..3u32).fake_with_rng::<u32, _>(&mut rng) == 0)
                .then(|| "000123".to_string());
            let spec = CallSpec {
                call_id: format!("{t}.{}", i + 1),
                client,
                direction: if outgoing {
                    SynthDirection::Outgoing
                } else {
                    SynthDirection::Incoming
                },
                scheme,
                employee: outgoing.then(|| ring[0].clone()),
                ring: if outgoing { Vec::new() } else { ring },
                answer,
                answered: outgoing && answered,
                ring_time: (3..30u64).fake_with_rng(&mut rng),
                talk: (10..600u64).fake_with_rng(&mut rng),
                status: [
                    HangupStatus::NoAnswer,
                    HangupStatus::Busy,
                    HangupStatus::Cancel,
                ][(0..3usize).fake_with_rng::<usize, _>(&mut rng)],
                record: true,
                transfer,
                mobile: None,
                no_hangup: false,
            };
            (t, spec)
        })
        .collect()
}

/// An event line as a flat JSON object of its fields, for JSON-lines output.
pub(crate) fn to_json_line(line: &str) -> String {
    let map: serde_json::Map<String, serde_json::Value> = form_urlencoded::parse(line.as_bytes())
        .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
        .collect();
    serde_json::Value::Object(map).to_string()
}

#[cfg(test)]
mod random_tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_calls() {
        let lines = |seed| {
            random_calls(seed, 50, 10, 4, 1_700_000_000)
                .iter()
                .flat_map(|(t, c)| c.events(*t))
                .map(|e| e.line)
                .collect::<Vec<_>>()
        };
        assert_eq!(lines(7), lines(7));
        assert_ne!(lines(7), lines(8));
        for l in lines(7) {
            crate::sipuni::event::CallEvent::parse(&l).unwrap();
        }
    }
}
