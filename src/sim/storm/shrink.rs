//! Shrinking a broken storm to a minimal sequence of steps that still breaks the same
//! invariant (delta debugging), and writing it as a scenario file `sipamo run` reproduces.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::sim::scenario::load::Loaded;
use crate::sim::scenario::model::*;
use crate::sim::scenario::run::{self, RunOptions};

/// Runs `steps` of `base` and answers the invariant it breaks, if any.
pub(crate) async fn broken_invariant(
    base: &Scenario,
    steps: &[Step],
    opts: &RunOptions,
) -> Option<&'static str> {
    let mut sc = base.clone();
    sc.steps = steps.to_vec();
    let loaded = Loaded {
        path: PathBuf::from("storm"),
        scenario: sc,
    };
    let mut o = opts.clone();
    o.progress = None;
    run::run(&loaded, o).await.violation.map(|v| v.invariant)
}

/// The smallest subsequence of `steps` (1-minimal: dropping any one step loses it) that
/// still breaks `invariant`.
pub async fn shrink(
    base: &Scenario,
    steps: Vec<Step>,
    invariant: &str,
    opts: &RunOptions,
) -> Vec<Step> {
    let mut items = steps;
    let mut n = 2usize;
    while items.len() >= 2 {
        let chunk = items.len().div_ceil(n);
        let parts: Vec<Vec<Step>> = items.chunks(chunk).map(<[Step]>::to_vec).collect();
        let mut reduced = false;
        for (i, part) in parts.iter().enumerate() {
            if broken_invariant(base, part, opts).await == Some(invariant) {
                items = part.clone();
                n = 2;
                reduced = true;
                break;
            }
            let complement: Vec<Step> = parts
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .flat_map(|(_, p)| p.clone())
                .collect();
            if parts.len() > 2 && broken_invariant(base, &complement, opts).await == Some(invariant)
            {
                items = complement;
                n = (n - 1).max(2);
                reduced = true;
                break;
            }
        }
        if !reduced {
            if n >= items.len() {
                break;
            }
            n = (n * 2).min(items.len());
        }
    }
    items
}

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

fn call_yaml(c: &CallStep) -> String {
    let mut parts = vec![format!("client: {}", q(&c.client.0.e164()))];
    if c.direction == CallDirection::Outgoing {
        parts.push("direction: outgoing".into());
    }
    if let Some(s) = &c.scheme {
        parts.push(format!("scheme: {}", q(&s.0)));
    }
    if let Some(r) = &c.ring {
        let legs: Vec<String> = r.iter().map(|l| q(l.0.as_str())).collect();
        parts.push(format!("ring: [{}]", legs.join(", ")));
    }
    if let Some(a) = &c.answer {
        parts.push(format!("answer: {}", q(a.0.as_str())));
    }
    if let Some(e) = &c.employee {
        parts.push(format!("employee: {}", q(e.0.as_str())));
    }
    if let Some(a) = c.answered {
        parts.push(format!("answered: {a}"));
    }
    if let Some(t) = c.ring_time {
        parts.push(format!("ring_time: {t}"));
    }
    if let Some(t) = c.talk {
        parts.push(format!("talk: {t}"));
    }
    if let Some(s) = c.status {
        parts.push(format!("status: {}", s.0.as_str()));
    }
    if let Some(r) = c.record {
        parts.push(format!("record: {r}"));
    }
    let order = match c.delivery.order {
        Order::InOrder => None,
        Order::Reversed => Some("reversed"),
        Order::HangupFirst => Some("hangup_first"),
    };
    if c.delivery.duplicate || order.is_some() {
        let mut d = Vec::new();
        if c.delivery.duplicate {
            d.push("duplicate: true".to_string());
        }
        if let Some(o) = order {
            d.push(format!("order: {o}"));
        }
        parts.push(format!("delivery: {{ {} }}", d.join(", ")));
    }
    format!("{{ {} }}", parts.join(", "))
}

fn step_yaml(s: &Step) -> String {
    let body = match &s.action {
        Action::Call(c) => format!("call: {}", call_yaml(c)),
        Action::Crm(CrmAction::AcceptUnsorted(a)) => format!(
            "crm: {{ accept_unsorted: {{ client: {}, user: {} }} }}",
            q(&a.client.0.e164()),
            a.user
        ),
        Action::Crm(CrmAction::DeclineUnsorted(a)) => format!(
            "crm: {{ decline_unsorted: {{ client: {} }} }}",
            q(&a.client.0.e164())
        ),
        Action::Crm(CrmAction::CompleteTask(a)) => format!(
            "crm: {{ complete_task: {{ client: {} }} }}",
            q(&a.client.0.e164())
        ),
        Action::Crm(CrmAction::CloseLead(a)) => format!(
            "crm: {{ close_lead: {{ client: {}, status: {} }} }}",
            q(&a.client.0.e164()),
            a.status
        ),
        Action::Crm(CrmAction::MoveTask(a)) => format!(
            "crm: {{ move_task: {{ client: {}, due: {} }} }}",
            q(&a.client.0.e164()),
            a.due
        ),
        Action::Crm(CrmAction::DeleteTask(a)) => format!(
            "crm: {{ delete_task: {{ client: {} }} }}",
            q(&a.client.0.e164())
        ),
        Action::Fault(f) => {
            let mut parts = vec![format!("path: {}", f.path)];
            if let Some(m) = &f.method {
                parts.push(format!("method: {m}"));
            }
            match (f.status, f.hang) {
                (_, true) => parts.push("hang: true".into()),
                (Some(st), false) => parts.push(format!("status: {st}")),
                (None, false) => {}
            }
            if f.times != 1 {
                parts.push(format!("times: {}", f.times));
            }
            if let Some(d) = f.lasts {
                parts.push(format!("for: {d}"));
            }
            format!("fault: {{ {} }}", parts.join(", "))
        }
        Action::Settings(_, yaml) => {
            let flow: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap_or_default();
            let inline = serde_json::to_string(&flow).unwrap_or_default();
            format!("settings: {inline}")
        }
        Action::Event(fields) => {
            let kv: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{k}: {}", q(v)))
                .collect();
            format!("event: {{ {} }}", kv.join(", "))
        }
    };
    format!("  - at: {}\n    {}\n", s.at, body)
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

/// The scenario file of a reproducer.
pub fn scenario_yaml(
    name: &str,
    seed: u64,
    settings_yaml: &str,
    crm_yaml: &str,
    steps: &[Step],
    note: &str,
) -> String {
    // Reproducers are kept under scenarios/<folder>/, two folders below the schema's.
    let mut out = crate::sim::scenario::schema::modeline(2);
    out.push('\n');
    for line in note.lines() {
        let _ = writeln!(out, "# {line}");
    }
    let _ = writeln!(out, "name: {}", q(name));
    out.push_str("rules: []\ntags: [storm, reproducer]\n");
    let _ = writeln!(out, "seed: {seed}\n");
    out.push_str("settings:\n");
    out.push_str(&indent(settings_yaml));
    out.push_str("\ncrm:\n");
    out.push_str(&indent(crm_yaml));
    out.push_str("\nsteps:\n");
    for s in steps {
        out.push_str(&step_yaml(s));
    }
    out.push_str("\nexpect:\n  invariants: true\n");
    out
}
