//! The integration engine: Sipuni call events in, amoCRM requests out, by the rules of
//! `docs/spec/behaviour.md`. Two layers and a hub:
//!
//! - `rules`: pure — a call assembled from its events, the settings, the plan and the
//!   decision that makes it. No `async`, no client, no memory.
//! - `effects`: what touches amoCRM and the memory, in order of use — look-ups, the facts a
//!   decision needs, Unsorted items, the actions before the hangup, and the plan executed
//!   exactly once.
//! - `handler`: the [`Engine`] — takes events, settles calls, decides with `rules`, acts
//!   through `effects`, parks what keeps failing. The only file that ties the layers.

mod effects;
mod error;
pub(crate) mod handler;
pub mod memory;
pub(crate) mod rules;

pub use error::EngineError;
pub use handler::{Engine, EngineOptions, Handled, Ingested};
pub use memory::{InMemory, Memory};
pub use rules::rule::Rule;
pub use rules::settings::Settings;
