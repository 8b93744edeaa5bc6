//! The integration engine: Sipuni call events in, amoCRM requests out, by the rules of
//! `spec/behaviour.md`.

pub mod bodies;
pub mod call;
pub mod decide;
pub mod early;
pub mod execute;
mod facts;
pub mod handler;
pub mod items;
pub mod memory;
pub mod plan;
pub mod settings;

pub use handler::{Engine, EngineError, Handled, Ingested};
pub use memory::{InMemory, Memory};
pub use settings::Settings;
