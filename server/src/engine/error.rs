//! Typed errors of the core. Each edge (LSP, CLI) turns them into the
//! contract's `data.code` through [`EngineError::code`] and
//! [`EngineError::context`], in one place per edge.

use serde_json::{json, Map, Value};

#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("no process with id {0:?}")]
    ProcessNotFound(String),
    #[error("process id {0:?} is already in use")]
    ProcessIdInUse(String),
    #[error("process {0:?} is running: kill it first")]
    ProcessRunning(String),
    #[error("timed out after {timeout_ms} ms waiting for {condition}")]
    ReadyTimeout {
        condition: String,
        timeout_ms: u64,
        log_tail: Vec<String>,
    },
    #[error("the process ended ({status}) before {condition}")]
    ExitedBeforeReady {
        condition: String,
        exit_code: Option<i32>,
        status: String,
        log_tail: Vec<String>,
    },
    #[error("{0}")]
    InvalidPort(String),
    #[error("token {0:?} is already used by another port")]
    TokenInUse(String),
    #[error("{0}")]
    InvalidToken(String),
    #[error("{0}")]
    LabelTooLong(String),
    #[error("{0}")]
    PathOutsideWorkspace(String),
    #[error("{0}")]
    BackendUnavailable(String),
    #[error("cancelled")]
    Cancelled,
    /// An operation failed for a reason of its own (spawn failed, git clone
    /// failed, an I/O error on a workspace file); the message says what.
    #[error("{0}")]
    Failed(String),
    /// `sandport.toml` names no such service.
    #[error("no service named {0:?}")]
    ServiceNotFound(String),
    /// The services file has errors (`problems` as `listServices` gives them:
    /// `{message, range?}`), so nothing of it is started.
    #[error("the services file has {} problem(s); fix them first", problems.len())]
    ServicesFileInvalid { problems: Vec<Value> },
    /// A dependency of `service` did not meet its condition.
    #[error("service {service:?} was not started: its dependency {dependency:?} failed{}", dependency_error.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    DependencyFailed {
        service: String,
        dependency: String,
        dependency_error: Option<Box<EngineError>>,
    },
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// The one mapping of the backend's errors.
impl From<crate::backend::BackendError> for EngineError {
    fn from(e: crate::backend::BackendError) -> Self {
        use crate::backend::BackendError as B;
        match e {
            B::Unavailable(m) => EngineError::BackendUnavailable(m),
            B::Invalid(m) => EngineError::InvalidArgument(m),
            B::Failed(m) => EngineError::Failed(m),
        }
    }
}

impl EngineError {
    /// The contract's `data.code`.
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::InvalidArgument(_) => "INVALID_ARGUMENT",
            EngineError::ProcessNotFound(_) => "PROCESS_NOT_FOUND",
            EngineError::ProcessIdInUse(_) => "PROCESS_ID_IN_USE",
            EngineError::ProcessRunning(_) => "PROCESS_RUNNING",
            EngineError::ReadyTimeout { .. } => "PROCESS_READY_TIMEOUT",
            EngineError::ExitedBeforeReady { .. } => "PROCESS_EXITED_BEFORE_READY",
            EngineError::InvalidPort(_) => "INVALID_PORT",
            EngineError::TokenInUse(_) => "TOKEN_IN_USE",
            EngineError::InvalidToken(_) => "INVALID_TOKEN",
            EngineError::LabelTooLong(_) => "LABEL_TOO_LONG",
            EngineError::PathOutsideWorkspace(_) => "PATH_OUTSIDE_WORKSPACE",
            EngineError::BackendUnavailable(_) => "BACKEND_UNAVAILABLE",
            EngineError::Cancelled => "CANCELLED",
            EngineError::Failed(_) => "OPERATION_FAILED",
            EngineError::ServiceNotFound(_) => "SERVICE_NOT_FOUND",
            EngineError::ServicesFileInvalid { .. } => "SERVICES_FILE_INVALID",
            EngineError::DependencyFailed { .. } => "DEPENDENCY_FAILED",
        }
    }

    /// `{code, message, …context}` as the contract's error `data`.
    pub fn to_data(&self) -> Value {
        let mut m = Map::new();
        m.insert("code".into(), json!(self.code()));
        m.insert("message".into(), json!(self.to_string()));
        match self {
            EngineError::ReadyTimeout {
                condition,
                timeout_ms,
                log_tail,
            } => {
                m.insert("condition".into(), json!(condition));
                m.insert("timeout".into(), json!(timeout_ms));
                m.insert("logTail".into(), json!(log_tail));
            }
            EngineError::ExitedBeforeReady {
                condition,
                exit_code,
                status,
                log_tail,
            } => {
                m.insert("condition".into(), json!(condition));
                m.insert("exitCode".into(), json!(exit_code));
                m.insert("status".into(), json!(status));
                m.insert("logTail".into(), json!(log_tail));
            }
            EngineError::ProcessNotFound(id)
            | EngineError::ProcessIdInUse(id)
            | EngineError::ProcessRunning(id) => {
                m.insert("processId".into(), json!(id));
            }
            EngineError::ServiceNotFound(name) => {
                m.insert("service".into(), json!(name));
            }
            EngineError::ServicesFileInvalid { problems } => {
                m.insert("problems".into(), json!(problems));
            }
            EngineError::DependencyFailed {
                service,
                dependency,
                dependency_error,
            } => {
                m.insert("service".into(), json!(service));
                m.insert("dependency".into(), json!(dependency));
                m.insert(
                    "dependencyError".into(),
                    dependency_error.as_ref().map_or(
                        Value::Null,
                        |e| json!({"code": e.code(), "message": e.to_string()}),
                    ),
                );
            }
            _ => {}
        }
        Value::Object(m)
    }

    pub fn invalid(msg: impl Into<String>) -> Self {
        EngineError::InvalidArgument(msg.into())
    }
}
