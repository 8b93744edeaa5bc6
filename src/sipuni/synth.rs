//! The synthetic Sipuni generator: a call description becomes the event sequence Sipuni sends
//! (`event=1` per ring leg, `event=3` on answer, `event=4` for the other legs, `event=2` hangup)
//! in the wire form, so the engine sees exactly what the HTTP receiver would parse.

use crate::phone::Phone;
use crate::sipuni::event::{HangupStatus, ShortNumber};

/// The Sipuni account number that prefixes employee numbers (`015856` + `201`).
pub const ACCOUNT: &str = "015856";
/// The scheme name of outgoing calls.
pub const OUTGOING_TREE: &str = "Исходящая";

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

fn encode(pairs: &[(&str, String)]) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        ser.append_pair(k, v);
    }
    ser.finish()
}

impl CallSpec {
    fn answered(&self) -> bool {
        match self.direction {
            SynthDirection::Incoming => self.answer.is_some(),
            SynthDirection::Outgoing => self.answered,
        }
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
                line: encode(&p),
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
                line: encode(&common(3, ans, picked)),
            });
        }
        for emp in legs.iter().filter(|e| Some(*e) != self.answer.as_ref()) {
            let mut p = common(4, emp, picked);
            p.push(("status", "NOANSWER".into()));
            p.push(("call_start_timestamp", start.to_string()));
            p.push(("call_answer_timestamp", "0".into()));
            out.push(WireEvent {
                at: picked,
                line: encode(&p),
            });
        }
        let last = self.answer.clone().or_else(|| legs.last().cloned());
        let Some(last) = last else { return out };
        let mut p = common(2, &last, end);
        let status = if self.answer.is_some() {
            HangupStatus::Answer
        } else {
            self.status
        };
        p.push(("status", status.as_str().into()));
        p.push(("call_start_timestamp", start.to_string()));
        p.push((
            "call_answer_timestamp",
            if self.answer.is_some() {
                picked.to_string()
            } else {
                "0".into()
            },
        ));
        p.push(("call_record_link", self.record_link().unwrap_or_default()));
        p.push(("last_called", last.to_string()));
        p.extend(tree.iter().cloned());
        out.push(WireEvent {
            at: end,
            line: encode(&p),
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
            line: encode(&p),
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
                line: encode(&common(3, picked)),
            });
        }
        let mut p = common(2, end);
        let status = if self.answered {
            HangupStatus::Answer
        } else {
            self.status
        };
        p.push(("status", status.as_str().into()));
        p.push(("call_start_timestamp", start.to_string()));
        p.push((
            "call_answer_timestamp",
            if self.answered {
                picked.to_string()
            } else {
                "0".into()
            },
        ));
        p.push(("call_record_link", self.record_link().unwrap_or_default()));
        out.push(WireEvent {
            at: end,
            line: encode(&p),
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
        assert_eq!(call.legs, vec!["201", "202"]);
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
            .events(100)
            .iter()
            .map(|e| CallEvent::parse(&e.line).unwrap())
            .collect();
        let Assembled::Finished(call) = assemble(&parsed) else {
            panic!()
        };
        assert_eq!(
            (call.direction, call.answered, call.status.as_str()),
            (Direction::Outgoing, false, "BUSY")
        );
        assert_eq!(call.employee.as_deref(), Some("201"));
    }
}
