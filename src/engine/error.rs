//! Why the engine could not do something: the settings, the account, the facts of a call, a
//! write, or the memory.

use super::effects::execute::{ExecError, StepFailure};
use super::memory::MemoryError;
use super::rules::settings::SettingsError;
use crate::amocrm::client::ClientError;

/// Why the engine could not do something.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("cannot read the account to check the settings: {0}")]
    Account(ClientError),
    #[error("call {call_id}: cannot read what amoCRM knows about {phone}: {source}")]
    Facts {
        call_id: String,
        phone: String,
        source: ClientError,
    },
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(transparent)]
    Memory(#[from] MemoryError),
}

impl EngineError {
    /// The amoCRM answer behind the failure, if amoCRM answered one.
    pub(super) fn amocrm(&self) -> Option<&ClientError> {
        match self {
            EngineError::Facts { source, .. } | EngineError::Account(source) => Some(source),
            EngineError::Exec(ExecError {
                source: StepFailure::Amo(e),
                ..
            }) => Some(e),
            _ => None,
        }
    }
}
