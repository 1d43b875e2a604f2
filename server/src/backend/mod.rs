//! Where processes run. The engine speaks only to [`Backend`]; `local` runs
//! them on this machine, `docker` (later) in a container. Everything the
//! engine needs from a backend is here: spawn a process tree with piped
//! output, signal its whole group, learn how it ended, and open a TCP
//! connection to a port of the sandbox (for readiness checks and the gateway).

pub mod agent;
pub mod bundle;
pub mod docker;
pub mod error;
pub mod local;
mod quickack;

use async_trait::async_trait;
pub use error::{BackendError, Result};
use futures_util::future::BoxFuture;
use std::collections::BTreeMap;
use std::path::PathBuf;
use tokio::io::{AsyncRead, AsyncWrite};

pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// A connection to a port inside the sandbox.
pub type Conn = Box<dyn Io>;

pub struct SpawnSpec {
    /// A shell command line, run with `/bin/sh -c`.
    pub command: String,
    /// Host path inside the workspace, already checked by the engine.
    pub cwd: PathBuf,
    /// Overlay on the backend's base environment.
    pub env: BTreeMap<String, String>,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Code(i32),
    Signal(i32),
}

/// Sends a signal to every process of a spawned tree.
#[async_trait]
pub trait Signaller: Send + Sync {
    async fn signal_group(&self, sig: i32) -> std::io::Result<()>;
    /// Live processes of the group (zombies count as gone), with the name
    /// of the program each runs.
    async fn members(&self) -> Vec<(u32, String)>;
    /// Signal these processes (of the group) one by one.
    async fn signal_pids(&self, sig: i32, pids: &[u32]);
    /// Whether any process of the group is still alive.
    async fn group_alive(&self) -> bool {
        !self.members().await.is_empty()
    }
}

pub struct Spawned {
    pub pid: Option<u32>,
    /// How the process's working directory is shown to users.
    pub cwd_display: String,
    pub stdout: Box<dyn AsyncRead + Send + Unpin>,
    pub stderr: Box<dyn AsyncRead + Send + Unpin>,
    pub signaller: std::sync::Arc<dyn Signaller>,
    /// Resolves when the process (the group's leader) has ended.
    pub exit: BoxFuture<'static, std::io::Result<Ended>>,
}

#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// `local` or `docker`.
    fn name(&self) -> &'static str;
    async fn spawn(&self, spec: SpawnSpec) -> Result<Spawned>;
    /// A TCP connection to `port` of the sandbox.
    async fn connect(&self, port: u16) -> std::io::Result<Conn>;
    /// Resolves once something accepts TCP connections on `port` (the
    /// caller bounds it in time). The default tries a connection every 5 ms.
    async fn until_accepting(&self, port: u16) {
        loop {
            if self.connect(port).await.is_ok() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    /// TCP ports on which processes of the sandbox listen, by the pid of the
    /// tree's leader (best effort).
    async fn listening_ports(&self, pids: &[u32]) -> BTreeMap<u32, Vec<u16>>;
    /// Notices for the user about the backend itself (the container died…).
    fn notices(&self) -> Option<tokio::sync::broadcast::Receiver<String>> {
        None
    }
    /// Kill whatever is still running and release the backend's resources.
    async fn shutdown(&self);
}

/// Signal numbers by name, as the contract spells them (`SIGTERM`, …).
pub fn signal_from_name(name: &str) -> Option<i32> {
    let n = name.trim().to_ascii_uppercase();
    let n = n.strip_prefix("SIG").unwrap_or(&n);
    Some(match n {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "KILL" => libc::SIGKILL,
        "TERM" => libc::SIGTERM,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "STOP" => libc::SIGSTOP,
        "CONT" => libc::SIGCONT,
        "ABRT" => libc::SIGABRT,
        "ALRM" => libc::SIGALRM,
        "WINCH" => libc::SIGWINCH,
        _ => return None,
    })
}

pub fn signal_name(sig: i32) -> String {
    let s = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSTOP => "SIGSTOP",
        libc::SIGCONT => "SIGCONT",
        libc::SIGWINCH => "SIGWINCH",
        other => return format!("SIG{other}"),
    };
    s.to_string()
}

/// `n` characters of [a-z0-9] from the OS random source (ids, tokens).
pub fn random_string(n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        getrandom::fill(&mut buf).expect("the OS random source");
        for &b in &buf {
            // Rejection sampling keeps the distribution uniform.
            if b < 252 && out.len() < n {
                out.push(ALPHABET[(b % 36) as usize] as char);
            }
        }
    }
    out
}
