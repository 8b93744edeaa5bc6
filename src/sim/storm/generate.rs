//! Drawing a storm: a seeded day of calls (repeat callers, missed and answered, incoming and
//! outgoing, group rings, duplicated and reordered delivery), manager actions and faults, as the
//! steps of a scenario. Same seed, same storm.

use crate::amocrm::model::{LOST, WON};
use fake::Fake;
use fake::rand::SeedableRng;
use fake::rand::rngs::StdRng;

use crate::duration::Span;
use crate::engine::rules::settings::{Settings, UnknownMode};
use crate::phone::Phone;
use crate::sim::mock::{CrmSeed, FaultSpec, any, fail};
use crate::sim::scenario::model::*;
use crate::sipuni::event::{HangupStatus, ShortNumber};

/// What to draw.
#[derive(Debug, Clone)]
pub struct StormConfig {
    pub seed: u64,
    pub calls: usize,
    pub clients: usize,
    pub employees: usize,
    /// Settings YAML (the keys of a `settings:` block); `None`: defaults for the employees.
    pub settings_yaml: Option<String>,
}

/// Default settings: employees 201.. mapped to users 1001..
pub fn default_settings(employees: usize) -> String {
    let users: Vec<String> = (0..employees)
        .map(|i| format!("\"{}\": {}", 201 + i, 1001 + i))
        .collect();
    format!(
        "default_responsible: 1001\nusers: {{ {} }}\n",
        users.join(", ")
    )
}

/// The storm's account: its users and the default pipeline.
pub fn crm_yaml(employees: usize) -> String {
    let users: Vec<String> = (0..employees)
        .map(|i| format!("{{ id: {}, name: \"Сотрудник {}\" }}", 1001 + i, 201 + i))
        .collect();
    format!("users: [{}]\n", users.join(", "))
}

fn pick<T: Clone>(rng: &mut StdRng, items: &[T]) -> T {
    items[(0..items.len()).fake_with_rng::<usize, _>(rng)].clone()
}

fn percent(rng: &mut StdRng, p: u32) -> bool {
    (0..1000u32).fake_with_rng::<u32, _>(rng) < p * 10
}

/// The calls of a storm whose hangup never comes (they are closed as unfinished, not handled).
pub fn calls_without_hangup(sc: &Scenario) -> usize {
    sc.steps
        .iter()
        .filter(|s| matches!(&s.action, Action::Call(c) if c.hangup == Some(false)))
        .count()
}

/// Why a storm could not be drawn: its settings or its account do not load.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("the storm's settings: {0}")]
    Settings(#[from] crate::engine::rules::settings::SettingsError),
    #[error("the storm's account: {0}")]
    Account(#[from] serde_yaml::Error),
}

/// Draws the storm as a scenario (named after its seed).
pub fn generate(cfg: &StormConfig) -> Result<(Scenario, String), GenerateError> {
    let employees = cfg.employees.clamp(1, 90);
    let settings_yaml = cfg
        .settings_yaml
        .clone()
        .unwrap_or_else(|| default_settings(employees));
    let settings = Settings::from_yaml(&settings_yaml)?;
    let crm = CrmSeed::from_yaml(&crm_yaml(employees))?;
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let pool: Vec<Phone> = (0..cfg.clients.max(1))
        .map(|i| {
            let code = (10..99u32).fake_with_rng::<u32, _>(&mut rng);
            let n = i * 7919 % 10_000_000;
            // Callers of other countries (cabinets see them as dialled): a tenth from
            // Kazakhstan, a tenth from Uzbekistan.
            let number = match i % 10 {
                3 => format!("7701{n:07}"),
                7 => format!("99890{n:07}"),
                _ => format!("79{code:02}{n:07}"),
            };
            Phone::parse(&number)
                .unwrap_or_else(|_| Phone::parse("79000000000").expect("a valid constant"))
        })
        .collect();
    let staff: Vec<ShortNumber> = (0..employees)
        .filter_map(|i| ShortNumber::parse(&(201 + i).to_string()))
        .collect();
    let unsorted = settings.incoming.unknown.mode != UnknownMode::Immediate;
    let gap = (9 * 3600 / cfg.calls.max(1) as u64).max(1);
    let mut t: u64 = 0;
    let mut steps = Vec::with_capacity(cfg.calls + cfg.calls / 10);
    let step = |at: u64, action: Action| Step {
        at: Span(at),
        action,
        line: 0,
    };
    for _ in 0..cfg.calls {
        t += (1..=2 * gap).fake_with_rng::<u64, _>(&mut rng);
        let client = pick(&mut rng, &pool);
        if let Some(action) = manager_action(&mut rng, &pool, unsorted, employees) {
            steps.push(step(t, Action::Crm(action)));
        }
        for fault in faults(&mut rng) {
            steps.push(step(t, Action::Fault(fault)));
        }
        let call = random_call(&mut rng, client, &staff);
        steps.push(step(t, Action::Call(Box::new(call))));
    }
    let scenario = Scenario {
        name: format!(
            "storm seed {}: {} calls, {} clients, {} employees",
            cfg.seed, cfg.calls, cfg.clients, employees
        ),
        rules: Vec::new(),
        tags: vec!["storm".into()],
        start: Start::default(),
        settle: None,
        seed: Some(cfg.seed),
        settings,
        crm,
        steps,
        expect: Expect {
            invariants: true,
            ..Expect::default()
        },
    };
    Ok((scenario, settings_yaml))
}

/// A manager's action between calls, 4% of the time.
fn manager_action(
    rng: &mut StdRng,
    pool: &[Phone],
    unsorted: bool,
    employees: usize,
) -> Option<CrmAction> {
    if percent(rng, 4) {
        let c = PhoneField(pick(rng, pool));
        let action = match (0..4u32).fake_with_rng::<u32, _>(rng) {
            0 if unsorted => CrmAction::AcceptUnsorted(AcceptAction {
                client: c,
                user: 1001 + (0..employees as u64).fake_with_rng::<u64, _>(rng),
            }),
            1 if unsorted => CrmAction::DeclineUnsorted(ClientAction { client: c }),
            2 => CrmAction::CloseLead(CloseAction {
                client: c,
                status: pick(rng, &[WON, LOST]),
            }),
            _ => CrmAction::CompleteTask(ClientAction { client: c }),
        };
        return Some(action);
    }
    None
}

/// amoCRM trouble before a call: a failing status 2% of the time; rarely, a lost answer
/// after the write.
fn faults(rng: &mut StdRng) -> Vec<FaultSpec> {
    let mut out = Vec::new();
    // Faults: amoCRM trouble before some calls.
    if percent(rng, 2) {
        let (path, method, status, times) = pick(
            rng,
            &[
                ("/api/v4/leads/complex", None, 503u16, 1u32),
                ("/api/v4/tasks", None, 502, 1),
                ("/api/v4/contacts", Some("GET"), 429, 3),
                ("/api/v4/leads/unsorted/sip", None, 500, 1),
                ("/api/v4/leads", Some("GET"), 503, 2),
            ],
        );
        out.push(FaultSpec {
            path: path.into(),
            method: method.map(str::to_string),
            status: Some(status),
            hang: false,
            times,
            lasts: None,
        });
    }
    // Rarely, a lost answer after the write.
    if (0..2000u32).fake_with_rng::<u32, _>(rng) == 0 {
        let path = pick(rng, &["/api/v4/leads/complex", "/api/v4/tasks"]);
        out.push(fail(any(path)).hang());
    }
    out
}

/// One call of a client to (or from) the staff, delivered as Sipuni might.
fn random_call(rng: &mut StdRng, client: Phone, staff: &[ShortNumber]) -> CallStep {
    let outgoing = percent(rng, 30);
    let answered = percent(rng, 60);
    let legs: usize = (1..=staff.len().min(3)).fake_with_rng(rng);
    let first: usize = (0..staff.len()).fake_with_rng(rng);
    let ring: Vec<ShortField> = (0..legs)
        .map(|k| ShortField(staff[(first + k) % staff.len()].clone()))
        .collect();
    let answer = (answered && !outgoing).then(|| pick(rng, &ring));
    // R-TRANSFER: some answered calls are transferred to another employee.
    let transfer = answer
        .as_ref()
        .filter(|_| percent(rng, 10))
        .and_then(|a| staff.iter().find(|e| **e != a.0).cloned())
        .map(ShortField);
    let order = match (0..100u32).fake_with_rng::<u32, _>(rng) {
        0..6 => Order::Reversed,
        6..9 => Order::HangupFirst,
        _ => Order::InOrder,
    };
    CallStep {
        client: PhoneField(client),
        direction: if outgoing {
            CallDirection::Outgoing
        } else {
            CallDirection::Incoming
        },
        // After a scheme's greeting the operator legs carry `is_inner_call=1`.
        scheme: (!outgoing && percent(rng, 30)).then(|| Text("000123".into())),
        ring: (!outgoing).then(|| ring.clone()),
        answer,
        employee: outgoing.then(|| ring[0].clone()),
        answered: outgoing.then_some(answered),
        ring_time: Some(Span((3..30u64).fake_with_rng(rng))),
        talk: Some(Span((10..300u64).fake_with_rng(rng))),
        status: (!answered).then(|| {
            StatusField(pick(
                rng,
                &[
                    HangupStatus::NoAnswer,
                    HangupStatus::Busy,
                    HangupStatus::Cancel,
                ],
            ))
        }),
        record: None,
        transfer,
        mobile: None,
        // Real cabinets sometimes never send the hangup.
        hangup: percent(rng, 1).then_some(false),
        delivery: Delivery {
            duplicate: percent(rng, 8),
            order,
        },
        call_id: None,
    }
}
