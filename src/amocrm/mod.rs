//! amoCRM API v4: the client the engine uses, its data model, and the stateful mock.

pub mod client;
#[cfg(feature = "sim")]
pub mod mock;
pub(crate) mod model;
