//! The backend's own errors. The engine maps them to its typed errors once
//! (`impl From<BackendError> for EngineError` in `engine/error.rs`); the
//! backend knows nothing of the engine.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The backend cannot be used (no Docker engine, no agent, the
    /// container is gone).
    #[error("{0}")]
    Unavailable(String),
    /// What the backend was asked is not valid (an option, a mount).
    #[error("{0}")]
    Invalid(String),
    /// An operation failed for a reason of its own; the message says what.
    #[error("{0}")]
    Failed(String),
}

pub type Result<T, E = BackendError> = std::result::Result<T, E>;
