//! The effects: what reaches amoCRM and the engine's memory, in order of use — look-ups
//! ([`lookup`]), the facts a decision needs ([`facts`]), Unsorted items ([`items`]), the actions
//! taken before the hangup ([`early`]), and the plan executed exactly once ([`execute`]). The
//! request bodies are typed ([`bodies`] builds `amocrm::requests` from a plan).

pub(super) mod bodies;
pub(super) mod early;
pub(super) mod execute;
pub(super) mod facts;
pub(super) mod items;
pub(super) mod lookup;

use super::memory::Memory;
use super::rules::settings::Settings;
use crate::amocrm::client::AmoClient;

/// What the effects of one call reach: the settings and the account's fixed facts read at
/// start, the client, and the memory.
pub(super) struct Ctx<'a, M: Memory> {
    pub(super) settings: &'a Settings,
    pub(super) main_pipeline: u64,
    /// Status ids of the account's Unsorted stages, to read an item's state from its lead.
    pub(super) unsorted_stages: &'a [u64],
    pub(super) client: &'a AmoClient,
    pub(super) memory: &'a mut M,
}
