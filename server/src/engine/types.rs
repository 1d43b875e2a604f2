//! Shapes the engine takes and gives. They serialize to the contract's JSON
//! (camelCase), so front ends pass them through without re-mapping.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being spawned: not running yet, never reported as `error` meanwhile.
    Starting,
    Running,
    Completed,
    Failed,
    Killed,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Starting => "starting",
            Status::Running => "running",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Killed => "killed",
            Status::Error => "error",
        }
    }

    /// Completed, failed, killed or error: it will not change again.
    pub fn is_ended(self) -> bool {
        !matches!(self, Status::Starting | Status::Running)
    }
}

/// The contract's Process object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessInfo {
    pub id: String,
    pub name: Option<String>,
    pub pid: Option<u32>,
    pub command: String,
    pub cwd: String,
    pub status: Status,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    pub started_at: String,
    pub ended_at: Option<String>,
    /// Added (documented in docs/protocol.md): TCP ports the process tree
    /// listens on, when the front end asked for them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listening_ports: Option<Vec<u16>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct StartProcess {
    pub command: String,
    pub cwd: Option<String>,
    pub env: BTreeMap<String, String>,
    pub name: Option<String>,
    pub process_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WaitMode {
    Http,
    Tcp,
}

#[derive(Debug, Clone)]
pub struct WaitPort {
    pub port: u16,
    pub process_id: Option<String>,
    pub mode: WaitMode,
    pub path: String,
    pub status_min: u16,
    pub status_max: u16,
    pub timeout_ms: u64,
    pub interval_ms: u64,
}

impl WaitPort {
    /// The defaults of the contract: HTTP `GET /`, 200–399, every 500 ms, 60 s.
    pub fn new(port: u16) -> Self {
        WaitPort {
            port,
            process_id: None,
            mode: WaitMode::Http,
            path: "/".into(),
            status_min: 200,
            status_max: 399,
            timeout_ms: 60_000,
            interval_ms: 500,
        }
    }

    /// `port 8000 (HTTP /health)` / `port 8000 (TCP)`.
    pub fn condition(&self) -> String {
        match self.mode {
            WaitMode::Tcp => format!("port {} (TCP)", self.port),
            WaitMode::Http => format!("port {} (HTTP {})", self.port, self.path),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortReady {
    pub port: u16,
    pub elapsed_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamSel {
    Stdout,
    Stderr,
    Both,
}

#[derive(Debug, Clone)]
pub struct WaitLog {
    pub process_id: String,
    pub pattern: String,
    pub regex: bool,
    pub stream: StreamSel,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogMatch {
    pub line: String,
    #[serde(rename = "match")]
    pub matches: Vec<Option<String>>,
    pub stream: Stream,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExitInfo {
    pub exit_code: Option<i32>,
    pub status: Status,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Logs {
    pub stdout: String,
    pub stderr: String,
    pub cursor: String,
    pub truncated: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Exec {
    pub command: String,
    pub cwd: Option<String>,
    pub env: BTreeMap<String, String>,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecResult {
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub duration_ms: u64,
    /// Added: the command ran out of time and its process group was killed.
    pub timed_out: bool,
    /// Added: output beyond the exec cap was dropped.
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExposedPort {
    pub port: u16,
    pub name: Option<String>,
    pub url: String,
    pub expires_at: Option<String>,
    /// v2 "Private previews".
    #[serde(default)]
    pub visibility: super::access::Visibility,
}

/// What the engine tells its front ends. Output events carry no text: a
/// subscriber reads the lines it has not seen yet with
/// [`crate::engine::Engine::read_lines`], so a slow subscriber coalesces
/// naturally and never holds up the child's pipe.
#[derive(Debug, Clone)]
pub enum Event {
    ProcessChanged(ProcessInfo),
    Output {
        process_id: String,
        stream: Stream,
    },
    PortsChanged(Vec<ExposedPort>),
    /// Something the user should hear of that is no single process's or
    /// port's change: the sandbox container stopped under us, say.
    Notice(String),
    /// The process (its id) was forgotten: by `remove_process` or by the
    /// bound on ended processes kept. Its id may be used again.
    ProcessRemoved(String),
}
