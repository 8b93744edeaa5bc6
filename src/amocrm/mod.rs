//! amoCRM API v4: the stateful mock (and, with the engine, the client).

pub mod mock;
