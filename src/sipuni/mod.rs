//! Sipuni, the PBX side: the event wire format and the synthetic event generator.

pub mod event;
#[cfg(feature = "sim")]
pub mod synth;
