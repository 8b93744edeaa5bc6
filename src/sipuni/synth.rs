//! The synthetic Sipuni generator: a call description becomes the event sequence Sipuni sends
//! (`event=1` per ring leg, `event=3` on answer, `event=4` for the other legs, `event=2` hangup)
//! in the wire form, so the engine sees exactly what the HTTP receiver would parse.

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
    /// Employees rung, in order (incoming); a leg starts each second.
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
    pub record: bool,
}

/// One generated event: its Unix time and its wire form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireEvent {
    pub at: i64,
    pub line: String,
}

fn employee_num(s: &ShortNumber) -> String {
    format!("{ACCOUNT}{s}")
}

impl CallSpec {
    fn answered(&self) -> bool {
        match self.direction {
            SynthDirection::Incoming => self.answer.is_some(),
            SynthDirection::Outgoing => self.answered,
        }
    }

    /// The fields of the final hangup (`event=2`): status, start and answer times, recording.
    fn hangup_fields(&self, p: &mut Vec<(&str, String)>, start: i64, picked: i64) {
        let answered = self.answered();
        let status = if answered {
            HangupStatus::Answer
        } else {
            self.status
        };
        p.push(("status", status.as_str().into()));
        p.push(("call_start_timestamp", start.to_string()));
        p.push((
            "call_answer_timestamp",
            if answered {
                picked.to_string()
            } else {
                "0".into()
            },
        ));
        p.push(("call_record_link", self.record_link().unwrap_or_default()));
    }

    fn record_link(&self) -> Option<String> {
        (self.record && self.answered())
            .then(|| format!("https://sipuni.com/api/crm/record?id={}", self.call_id))
    }

    /// The events of the call, starting at `start` (Unix seconds), in sending order.
    pub fn events(&self, start: i64) -> Vec<WireEvent> {
        match self.direction {
            SynthDirection::Incoming => self.incoming(start),
            SynthDirection::Outgoing => self.outgoing(start),
        }
    }

    fn incoming(&self, start: i64) -> Vec<WireEvent> {
        let id = self.call_id.clone();
        let client = self.client.digits().to_string();
        let tree: Vec<(&str, String)> = match &self.scheme {
            Some(s) => vec![
                ("treeName", format!("Схема {s}")),
                ("treeNumber", s.clone()),
            ],
            None => vec![],
        };
        let common = |event: u8, emp: &ShortNumber, t: i64| -> Vec<(&str, String)> {
            vec![
                ("event", event.to_string()),
                ("call_id", id.clone()),
                ("src_num", client.clone()),
                ("src_type", "1".into()),
                ("dst_num", employee_num(emp)),
                ("dst_type", "2".into()),
                ("short_dst_num", emp.to_string()),
                ("timestamp", t.to_string()),
            ]
        };
        let mut out = Vec::new();
        let legs = &self.ring;
        for (i, emp) in legs.iter().enumerate() {
            let t = start + i as i64;
            let mut p = common(1, emp, t);
            p.push(("is_inner_call", "0".into()));
            p.extend(tree.iter().cloned());
            out.push(WireEvent {
                at: t,
                line: crate::http::form_encode(&p),
            });
        }
        let picked = start + self.ring_time as i64;
        let end = if self.answer.is_some() {
            picked + self.talk as i64
        } else {
            picked
        };
        if let Some(ans) = &self.answer {
            out.push(WireEvent {
                at: picked,
                line: crate::http::form_encode(&common(3, ans, picked)),
            });
        }
        for emp in legs.iter().filter(|e| Some(*e) != self.answer.as_ref()) {
            let mut p = common(4, emp, picked);
            p.push(("status", "NOANSWER".into()));
            p.push(("call_start_timestamp", start.to_string()));
            p.push(("call_answer_timestamp", "0".into()));
            out.push(WireEvent {
                at: picked,
                line: crate::http::form_encode(&p),
            });
        }
        let last = self.answer.clone().or_else(|| legs.last().cloned());
        let Some(last) = last else { return out };
        let mut p = common(2, &last, end);
        self.hangup_fields(&mut p, start, picked);
        p.push(("last_called", last.to_string()));
        p.extend(tree.iter().cloned());
        out.push(WireEvent {
            at: end,
            line: crate::http::form_encode(&p),
        });
        out
    }

    fn outgoing(&self, start: i64) -> Vec<WireEvent> {
        let Some(emp) = self.employee.clone().or_else(|| self.ring.first().cloned()) else {
            return Vec::new();
        };
        let common = |event: u8, t: i64| -> Vec<(&str, String)> {
            vec![
                ("event", event.to_string()),
                ("call_id", self.call_id.clone()),
                ("src_num", employee_num(&emp)),
                ("src_type", "2".into()),
                ("short_src_num", emp.to_string()),
                ("dst_num", self.client.digits().to_string()),
                ("dst_type", "1".into()),
                ("timestamp", t.to_string()),
                ("treeName", OUTGOING_TREE.into()),
                ("pbxdstnum", self.client.digits().to_string()),
            ]
        };
        let mut out = Vec::new();
        let mut p = common(1, start);
        p.push(("is_inner_call", "0".into()));
        out.push(WireEvent {
            at: start,
            line: crate::http::form_encode(&p),
        });
        let picked = start + self.ring_time as i64;
        let end = if self.answered {
            picked + self.talk as i64
        } else {
            picked
        };
        if self.answered {
            out.push(WireEvent {
                at: picked,
                line: crate::http::form_encode(&common(3, picked)),
            });
        }
        let mut p = common(2, end);
        self.hangup_fields(&mut p, start, picked);
        out.push(WireEvent {
            at: end,
            line: crate::http::form_encode(&p),
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::call::{Assembled, Direction, assemble};
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
        let Assembled::Finished(call) = assemble(&parsed) else {
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
        let Assembled::Finished(call) = assemble(&parsed) else {
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
        .map(|_| {
            let n: u64 = (0..10_000_000u64).fake_with_rng(&mut rng);
            let code: u64 = (900..1000u64).fake_with_rng(&mut rng);
            Phone::parse(&format!("7{code}{n:07}"))
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
            let spec = CallSpec {
                call_id: format!("{t}.{}", i + 1),
                client,
                direction: if outgoing {
                    SynthDirection::Outgoing
                } else {
                    SynthDirection::Incoming
                },
                scheme: None,
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
