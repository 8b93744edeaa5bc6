//! Sipuni, the PBX side: the event wire format and the synthetic event generator.

pub mod event;
