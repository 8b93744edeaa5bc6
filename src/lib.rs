//! sipamo: Sipuni PBX call events in, amoCRM API v4 requests out, by the rules of
//! `spec/behaviour.md`; plus the simulation harness that proves it against a stateful mock.

pub mod amocrm;
#[cfg(feature = "sim")]
pub mod bench;
pub mod cli;
pub mod clock;
pub mod duration;
pub mod engine;
pub mod http;
pub mod phone;
pub mod private_file;
#[cfg(feature = "sim")]
pub mod scenario;
pub mod secret;
pub mod server;
pub mod sipuni;
#[cfg(feature = "sim")]
pub mod storm;
