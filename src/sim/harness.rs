//! The one world a scenario, a storm and the engine tests run in: a mock amoCRM account on a
//! virtual clock, the production client pointed at it, and an engine connected through that
//! client with the memory the caller chooses.

use std::time::Duration;

use crate::amocrm::client::{AmoClient, ClientError, RetryPolicy};
use crate::clock::Clock;
use crate::engine::{Engine, EngineError, EngineOptions, Memory, Settings};
use crate::sim::mock::{MockCrm, MockOptions};

/// What a world is made of.
#[derive(Debug)]
pub struct WorldConfig {
    /// The mock account and how it behaves; its clock is the world's clock.
    pub mock: MockOptions,
    /// How long the client waits for an answer (real time: a `hang` fault costs this much).
    pub client_timeout: Duration,
    /// Seeds the retry jitter, so retries land at the same virtual instants on every run.
    pub jitter_seed: u64,
    /// How the engine settles, parks and closes calls.
    pub engine: EngineOptions,
}

impl WorldConfig {
    /// A world on a virtual clock started at `start_secs` (Unix seconds), over `state`.
    pub fn at(start_secs: i64, state: crate::sim::mock::CrmState) -> Self {
        WorldConfig {
            mock: MockOptions {
                clock: Clock::virtual_at(start_secs.saturating_mul(1000)),
                state,
                hang_for: Duration::from_secs(10),
                ..MockOptions::default()
            },
            client_timeout: Duration::from_millis(700),
            jitter_seed: 7,
            engine: EngineOptions::default(),
        }
    }
}

/// A running world. Dropping it stops the mock.
pub struct World<M: Memory> {
    pub mock: MockCrm,
    pub client: AmoClient,
    pub engine: Engine<M>,
    pub clock: Clock,
    /// Requests the engine's start-up made (reading the account to check the settings).
    pub startup_requests: usize,
}

/// Why a world did not start.
#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    #[error("cannot build the amoCRM client: {0}")]
    Client(#[source] ClientError),
    /// The engine refused to start (what a scenario's `expect.error` may expect).
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl<M: Memory> World<M> {
    /// Starts the mock, builds the client as `serve` does (with the mock's lost-answer hook on
    /// a virtual clock) and connects the engine, which checks the settings against the account.
    pub async fn start(
        cfg: WorldConfig,
        settings: Settings,
        memory: M,
    ) -> Result<Self, WorldError> {
        let clock = cfg.mock.clock.clone();
        let mock = MockCrm::start(cfg.mock).await;
        let mut client_cfg = mock.client_config(clock.clone());
        client_cfg.timeout = cfg.client_timeout;
        client_cfg.retry = RetryPolicy {
            jitter_seed: Some(cfg.jitter_seed),
            ..RetryPolicy::default()
        };
        let client = AmoClient::new(client_cfg).map_err(WorldError::Client)?;
        let engine = Engine::connect(settings, client.clone(), memory, cfg.engine).await?;
        let startup_requests = mock.journal_len();
        Ok(World {
            mock,
            client,
            engine,
            clock,
            startup_requests,
        })
    }
}
