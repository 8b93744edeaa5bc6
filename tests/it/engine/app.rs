//! `spawn_app()`: a mock account on a virtual clock, an engine connected to it, and helpers
//! to place calls the way Sipuni reports them.

use sipamo::amocrm::client::AmoClient;
use sipamo::clock::Clock;
use sipamo::engine::{Engine, EngineError, EngineOptions, InMemory, Memory, Settings};
use sipamo::phone::Phone;
use sipamo::sim::harness::{World, WorldConfig, WorldError};
use sipamo::sim::mock::{CrmSeed, CrmState, MockCrm};
pub use sipamo::sim::mock::{FaultSpec, any, fail, get};
use sipamo::sim::synth::{CallSpec, SynthDirection};
pub use sipamo::sim::testkit::cid;
use sipamo::sipuni::event::{CallEvent, HangupStatus, ShortNumber};

pub const START: i64 = 1_772_434_800;

pub const CRM: &str = r#"
users:     [{ id: 1001, name: Анна }, { id: 1002, name: Борис }, { id: 1003, name: Вера }]
pipelines: [{ id: 3001, name: Продажи, main: true,
              statuses: [{ id: 40, name: Неразобранное, unsorted: true }, { id: 41, name: Первичный контакт }] },
            { id: 3002, name: Опт, statuses: [{ id: 50, name: Новая }] }]
"#;

pub const KNOWN: &str = r#"
contacts:  [{ id: 5001, name: Иван, phone: "+79161234567", responsible: 1003 }]
"#;

pub const BASE: &str =
    "default_responsible: 1001\nusers: { \"201\": 1001, \"202\": 1002, \"203\": 1003 }\n";

pub struct App<M: Memory = InMemory> {
    pub mock: MockCrm,
    pub engine: Engine<M>,
    pub clock: Clock,
    pub client: AmoClient,
    next_call: u32,
}

pub async fn try_spawn(settings: &str, crm_extra: &str) -> Result<App, EngineError> {
    try_spawn_with(settings, crm_extra, InMemory::default()).await
}

/// The app with a memory of the test's choosing.
pub async fn try_spawn_with<M: Memory>(
    settings: &str,
    crm_extra: &str,
    memory: M,
) -> Result<App<M>, EngineError> {
    try_spawn_full(settings, crm_extra, memory, EngineOptions::default()).await
}

/// The app with a memory and engine options of the test's choosing, in the one world the
/// scenario runner uses too.
pub async fn try_spawn_full<M: Memory>(
    settings: &str,
    crm_extra: &str,
    memory: M,
    options: EngineOptions,
) -> Result<App<M>, EngineError> {
    let seed = CrmSeed::from_yaml(&format!("{CRM}{crm_extra}")).expect("test seed parses");
    let mut cfg = WorldConfig::at(START, seed.build(START).expect("test seed builds"));
    cfg.engine = options;
    let settings = Settings::from_yaml(&format!("{BASE}{settings}"))?;
    let world = match World::start(cfg, settings, memory).await {
        Ok(w) => w,
        Err(WorldError::Engine(e)) => return Err(e),
        Err(e) => panic!("{e}"),
    };
    Ok(App {
        mock: world.mock,
        engine: world.engine,
        clock: world.clock,
        client: world.client,
        next_call: 0,
    })
}

pub async fn spawn_app(settings: &str, crm_extra: &str) -> App {
    match try_spawn(settings, crm_extra).await {
        Ok(app) => app,
        Err(e) => panic!("engine did not start: {e}"),
    }
}

fn sn(s: &str) -> ShortNumber {
    ShortNumber::parse(s).expect("short number")
}

/// A call to place, built fluently.
pub fn incoming(client: &str) -> CallSpec {
    CallSpec {
        call_id: String::new(),
        client: Phone::parse(client).expect("phone"),
        direction: SynthDirection::Incoming,
        scheme: None,
        ring: vec![sn("201")],
        answer: None,
        employee: None,
        answered: false,
        ring_time: 10,
        talk: 60,
        status: HangupStatus::NoAnswer,
        record: true,
        transfer: None,
        mobile: None,
        no_hangup: false,
    }
}

pub fn outgoing(client: &str, employee: &str, answered: bool) -> CallSpec {
    CallSpec {
        direction: SynthDirection::Outgoing,
        employee: Some(sn(employee)),
        answered,
        ring: vec![],
        ..incoming(client)
    }
}

pub trait Spec {
    fn ring(self, legs: &[&str]) -> Self;
    fn answer(self, who: &str) -> Self;
    fn scheme(self, s: &str) -> Self;
}

impl Spec for CallSpec {
    fn ring(mut self, legs: &[&str]) -> Self {
        self.ring = legs.iter().map(|l| sn(l)).collect();
        self
    }
    fn answer(mut self, who: &str) -> Self {
        self.answer = Some(sn(who));
        self
    }
    fn scheme(mut self, s: &str) -> Self {
        self.scheme = Some(s.into());
        self
    }
}

/// How the events of a call reach the engine.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    InOrder,
    Reversed,
    Twice,
}

impl<M: Memory> App<M> {
    /// Places a call at `at` seconds after START and handles it completely.
    pub async fn call(&mut self, at: i64, spec: CallSpec) {
        self.call_with(at, spec, Delivery::InOrder).await;
    }

    pub async fn call_with(&mut self, at: i64, mut spec: CallSpec, delivery: Delivery) {
        self.next_call += 1;
        spec.call_id = format!("{}.{}", START + at, self.next_call);
        self.clock.advance_to((START + at) * 1000);
        let mut events = spec.events(START + at);
        match delivery {
            Delivery::InOrder => {}
            Delivery::Reversed => events.reverse(),
            Delivery::Twice => events = events.into_iter().flat_map(|e| [e.clone(), e]).collect(),
        }
        for e in events {
            self.clock.advance_to(e.at * 1000);
            let ev = CallEvent::parse(&e.line).expect("generated events parse");
            self.engine.ingest(ev).await.expect("event ingested");
        }
        self.engine.settle(true).await.expect("call handled");
    }

    pub fn state(&self) -> CrmState {
        self.mock.snapshot()
    }

    pub fn arm(&self, fault: FaultSpec) {
        self.mock.arm(&fault).expect("fault arms");
    }

    /// Visible contacts with this phone.
    pub fn contacts_of(&self, phone: &str) -> Vec<u64> {
        let key = Phone::parse(phone).expect("phone").key().to_string();
        self.state().contacts_by_phone_key(&key)
    }

    /// A compact, comparable picture of the account: entities without ids or times.
    pub fn picture(&self) -> String {
        let s = self.state();
        let mut lines = Vec::new();
        for c in s.contacts.values() {
            lines.push(format!(
                "contact {:?} resp {} visible {}",
                c.phones, c.responsible_user_id, c.visible
            ));
        }
        for l in s.leads.values() {
            lines.push(format!(
                "lead {} pipeline {} status {} resp {} visible {} contacts {}",
                l.name,
                l.pipeline_id,
                l.status_id,
                l.responsible_user_id,
                l.visible,
                s.contacts_of_lead(l.id).len()
            ));
        }
        for u in s.unsorted.values() {
            lines.push(format!("unsorted {} {:?}", u.source_uid, u.state));
        }
        for t in s.tasks.values() {
            lines.push(format!(
                "task {} till {} on {:?} resp {} done {}",
                t.text,
                t.complete_till - START,
                t.entity_type,
                t.responsible_user_id,
                t.is_completed
            ));
        }
        for n in s.notes.values() {
            lines.push(format!(
                "note {} on {:?} status {} call {}",
                n.note_type, n.entity_type, n.params["call_status"], n.params["uniq"]
            ));
        }
        lines.sort();
        lines.join("\n")
    }
}
