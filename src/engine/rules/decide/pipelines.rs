//! Where a new lead or Unsorted item goes: the scheme's pipeline, else the settings', else the
//! account's main one («Настройка воронок»).

use super::super::call::Call;
use super::super::settings::{PipelineRef, Settings};

/// The pipeline of a new lead: the scheme's, else the settings' («Настройка воронок»).
pub(super) fn lead_pipeline(s: &Settings, call: &Call) -> Option<PipelineRef> {
    s.scheme(call.scheme.as_deref())
        .and_then(|sc| sc.pipeline)
        .or(s.pipeline)
}

/// The pipeline of a new Unsorted item: the lead's, else the account's main one.
pub(super) fn unsorted_pipeline(s: &Settings, call: &Call, main: u64) -> u64 {
    lead_pipeline(s, call).map_or(main, |p| p.id)
}
