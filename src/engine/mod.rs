//! The integration engine: Sipuni call events in, amoCRM requests out, by the rules of
//! `spec/behaviour.md`.

pub(crate) mod bodies;
pub(crate) mod call;
pub(crate) mod decide;
pub(crate) mod early;
pub(crate) mod execute;
mod facts;
pub(crate) mod handler;
pub(crate) mod items;
pub mod memory;
pub(crate) mod plan;
mod rule;
pub(crate) mod settings;

pub use handler::{Engine, EngineError, Handled, Ingested};
pub use memory::{InMemory, Memory};
pub use rule::Rule;
pub use settings::Settings;
