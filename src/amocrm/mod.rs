//! amoCRM API v4: the client the engine uses, its data model, and each request's exchange (the mock is in `sim::mock`).

pub mod client;
pub mod exchange;
pub(crate) mod model;
pub(crate) mod requests;
