//! The integration engine: Sipuni call events in, amoCRM requests out, by the rules of
//! `spec/behaviour.md`.

pub mod call;
pub mod decide;
pub mod plan;
pub mod settings;
