//! `workspace/executeCommand`: every command of the contract (and the
//! documented additions), its params validated, its result shaped.

use super::params::{Command, ModeArg, StreamArg};
use super::progress;
use super::Shared;
use crate::engine::error::{EngineError, Result};
use crate::engine::files::Encoding;
use crate::engine::{Engine, Exec, StartProcess, StreamSel, WaitLog, WaitMode, WaitPort};
use serde_json::{json, Value};
use std::future::Future;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tower_lsp_server::lsp_types::ProgressToken;

pub use super::params::COMMANDS;

/// Default time limit of `exec` (the contract leaves it open).
pub const EXEC_DEFAULT_TIMEOUT_MS: u64 = 120_000;
/// Default time limit of `checkout`.
pub const CHECKOUT_DEFAULT_TIMEOUT_MS: u64 = 300_000;

/// Everything a command needs besides its params.
pub struct Ctx {
    pub shared: Arc<Shared>,
    pub engine: Engine,
    pub cancel: CancellationToken,
    pub work_done: Option<ProgressToken>,
}

impl Ctx {
    /// Run `fut` unless the client cancels the request first.
    async fn cancellable<T>(&self, fut: impl Future<Output = Result<T>>) -> Result<T> {
        tokio::select! {
            r = fut => r,
            _ = self.cancel.cancelled() => Err(EngineError::Cancelled),
        }
    }
}

fn to_value<T: serde::Serialize>(v: T) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| EngineError::Failed(format!("cannot encode result: {e}")))
}

pub async fn run(ctx: Ctx, command: &str, args: Vec<Value>) -> Result<Value> {
    let cmd = Command::parse(command, args)?;
    let e = &ctx.engine;
    let cmd = match super::ports::run(&ctx.shared, e, cmd) {
        Ok(r) => return r,
        Err(other) => other,
    };
    match cmd {
        Command::StartProcess(p) => {
            let req = StartProcess {
                command: p.command.into_string(),
                cwd: p.cwd,
                env: p.env.0,
                name: p.name,
                process_id: p.process_id,
            };
            to_value(e.start_process(req).await?)
        }
        Command::ListProcesses(_) => {
            let list = e.list_processes_with_ports().await;
            Ok(json!({ "processes": list }))
        }
        Command::GetProcess(p) => to_value(e.get_process(p.process_id.as_str())?),
        Command::KillProcess(p) => {
            let grace = p.grace_ms.map(|g| g.duration());
            to_value(
                e.kill_process(p.process_id.as_str(), p.signal.as_deref(), grace)
                    .await?,
            )
        }
        Command::KillAllProcesses(_) => Ok(json!({ "killed": e.kill_all().await })),
        Command::RemoveProcess(p) => {
            Ok(json!({ "removed": e.remove_process(p.process_id.as_str())? }))
        }
        Command::GetLogs(p) => {
            let tail = p.tail.map(|n| n.get() as usize);
            to_value(e.get_logs(p.process_id.as_str(), p.since.as_deref(), tail)?)
        }
        Command::WaitForPort(p) => {
            let mut req = WaitPort::new(p.port.get()?);
            req.process_id = p.process_id;
            if let Some(m) = p.mode {
                req.mode = match m {
                    ModeArg::Http => WaitMode::Http,
                    ModeArg::Tcp => WaitMode::Tcp,
                };
            }
            if let Some(path) = p.path {
                req.path = path;
            }
            if let Some(s) = p.status {
                req.status_min = s.min;
                req.status_max = s.max;
            }
            if let Some(t) = p.timeout {
                req.timeout_ms = t.ms();
            }
            if let Some(i) = p.interval {
                req.interval_ms = i.ms().clamp(10, 10_000);
            }
            let title = format!("Waiting for {}", req.condition());
            let fut = ctx.cancellable(e.wait_for_port(req));
            to_value(progress::around(&ctx, title, fut).await?)
        }
        Command::WaitForLog(p) => {
            let stream = match p.stream {
                Some(StreamArg::Stdout) => StreamSel::Stdout,
                Some(StreamArg::Stderr) => StreamSel::Stderr,
                Some(StreamArg::Both) | None => StreamSel::Both,
            };
            let req = WaitLog {
                process_id: p.process_id.into_string(),
                pattern: p.pattern.into_string(),
                regex: p.regex.unwrap_or(false),
                stream,
                timeout_ms: p.timeout.map_or(60_000, |t| t.ms()),
            };
            let title = format!("Waiting for {:?} in {}", req.pattern, req.process_id);
            let fut = ctx.cancellable(e.wait_for_log(req));
            to_value(progress::around(&ctx, title, fut).await?)
        }
        Command::WaitForExit(p) => {
            let timeout = p.timeout.map(|t| t.ms());
            let fut = e.wait_for_exit(p.process_id.as_str(), timeout);
            to_value(ctx.cancellable(fut).await?)
        }
        Command::Exec(p) => {
            let req = Exec {
                command: p.command.into_string(),
                cwd: p.cwd,
                env: p.env.0,
                timeout_ms: p.timeout.map_or(EXEC_DEFAULT_TIMEOUT_MS, |t| t.ms()),
            };
            to_value(ctx.cancellable(e.exec(req)).await?)
        }
        Command::WriteFile(p) => {
            let enc =
                Encoding::parse(p.encoding.as_deref()).map_err(|e| prefix("encoding: ", e))?;
            to_value(e.write_file(p.path.as_str(), &p.content, enc).await?)
        }
        Command::ReadFile(p) => {
            let enc =
                Encoding::parse(p.encoding.as_deref()).map_err(|e| prefix("encoding: ", e))?;
            to_value(e.read_file(p.path.as_str(), enc).await?)
        }
        Command::Checkout(p) => {
            let depth = p.depth.map(|d| d.get() as u32);
            let timeout = p.timeout.map_or(CHECKOUT_DEFAULT_TIMEOUT_MS, |t| t.ms());
            let fut = e.checkout(
                p.url.as_str(),
                p.dir.as_deref(),
                p.branch.as_deref(),
                depth,
                timeout,
            );
            to_value(ctx.cancellable(fut).await?)
        }
        Command::ExposePort(_)
        | Command::GetExposedPorts(_)
        | Command::ClosePort(_)
        | Command::OpenPreview(_)
        | Command::Info(_)
        | Command::CreateLoginLink(_) => unreachable!("answered by ports::run"),
    }
}

fn prefix(p: &str, e: EngineError) -> EngineError {
    match e {
        EngineError::InvalidArgument(m) if !m.starts_with(p) => {
            EngineError::InvalidArgument(format!("{p}{m}"))
        }
        other => other,
    }
}
