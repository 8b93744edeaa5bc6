//! amoCRM API v4: the client the engine uses, its data model, and the stateful mock.

pub mod client;
pub mod exchange;
#[cfg(feature = "sim")]
pub mod mock;
pub(crate) mod model;

/// The header the mock puts on an answer it "loses" (a hang fault) when it runs on a virtual
/// clock. Only a client on a virtual clock honours it; production's system clock never does.
pub(crate) const LOST_ANSWER_HEADER: &str = "x-sipamo-answer-lost";
