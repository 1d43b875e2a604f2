//! `workspace/executeCommand`: every command of the contract (and the
//! documented additions), its params validated, its result shaped.

use super::params::Args;
use super::progress;
use super::Shared;
use crate::engine::error::{EngineError, Result};
use crate::engine::files::Encoding;
use crate::engine::{Engine, Exec, StartProcess, StreamSel, WaitLog, WaitMode, WaitPort};
use serde_json::{json, Value};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tower_lsp_server::lsp_types::ProgressToken;

/// Commands of the contract (and additions) this server answers.
pub const COMMANDS: &[&str] = &[
    "sandport.startProcess",
    "sandport.listProcesses",
    "sandport.getProcess",
    "sandport.killProcess",
    "sandport.killAllProcesses",
    "sandport.removeProcess",
    "sandport.getLogs",
    "sandport.waitForPort",
    "sandport.waitForLog",
    "sandport.waitForExit",
    "sandport.exec",
    "sandport.writeFile",
    "sandport.readFile",
    "sandport.checkout",
    "sandport.exposePort",
    "sandport.getExposedPorts",
    "sandport.closePort",
    "sandport.openPreview",
    "sandport.info",
];

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
    if !COMMANDS.contains(&command) {
        return Err(EngineError::invalid(format!(
            "command: unknown command {command:?}"
        )));
    }
    let a = Args::from_arguments(args)?;
    let e = &ctx.engine;
    if let Some(r) = super::ports::run(&ctx.shared, e, command, &a).await {
        return r;
    }
    match command {
        "sandport.startProcess" => {
            let req = StartProcess {
                command: a.non_empty("command")?,
                cwd: a.opt_str("cwd")?,
                env: a.env("env")?,
                name: a.opt_str("name")?,
                process_id: a.opt_str("processId")?,
            };
            to_value(e.start_process(req).await?)
        }
        "sandport.listProcesses" => {
            let list = e.list_processes_with_ports().await;
            Ok(json!({ "processes": list }))
        }
        "sandport.getProcess" => to_value(e.get_process(&a.non_empty("processId")?)?),
        "sandport.killProcess" => {
            let id = a.non_empty("processId")?;
            let signal = a.opt_str("signal")?;
            let grace = a
                .opt_int("graceMs", 0, crate::engine::MAX_TIMEOUT_MS as i64)?
                .map(|n| Duration::from_millis(n as u64));
            to_value(e.kill_process(&id, signal.as_deref(), grace).await?)
        }
        "sandport.killAllProcesses" => Ok(json!({ "killed": e.kill_all().await })),
        "sandport.removeProcess" => {
            Ok(json!({ "removed": e.remove_process(&a.non_empty("processId")?)? }))
        }
        "sandport.getLogs" => {
            let id = a.non_empty("processId")?;
            let since = a.opt_str("since")?;
            let tail = a.opt_int("tail", 0, 100_000_000)?.map(|n| n as usize);
            to_value(e.get_logs(&id, since.as_deref(), tail)?)
        }
        "sandport.waitForPort" => {
            let port = a.port("port", 1)?;
            let mut req = WaitPort::new(port);
            req.process_id = a.opt_str("processId")?;
            if let Some(m) = a.opt_choice("mode", &["http", "tcp"])? {
                req.mode = if m == "tcp" {
                    WaitMode::Tcp
                } else {
                    WaitMode::Http
                };
            }
            if let Some(p) = a.opt_str("path")? {
                req.path = p;
            }
            match a.raw("status") {
                None => {}
                Some(Value::Number(_)) => {
                    let s = a.opt_int("status", 100, 599)?.unwrap_or(200) as u16;
                    req.status_min = s;
                    req.status_max = s;
                }
                Some(Value::Object(m)) => {
                    let inner = Args::from_arguments(vec![Value::Object(m.clone())])?;
                    let min = inner
                        .opt_int("min", 100, 599)
                        .map_err(|e| prefix("status.", e))?;
                    let max = inner
                        .opt_int("max", 100, 599)
                        .map_err(|e| prefix("status.", e))?;
                    req.status_min = min.unwrap_or(100) as u16;
                    req.status_max = max.unwrap_or(599) as u16;
                    if req.status_min > req.status_max {
                        return Err(EngineError::invalid("status: min must be <= max"));
                    }
                }
                Some(other) => {
                    return Err(EngineError::invalid(format!(
                        "status: expected a number or {{min, max}}, got {other}"
                    )))
                }
            }
            if let Some(t) = a.opt_ms("timeout")? {
                req.timeout_ms = t;
            }
            if let Some(i) = a.opt_ms("interval")? {
                req.interval_ms = i.clamp(10, 10_000);
            }
            let title = format!("Waiting for {}", req.condition());
            let fut = ctx.cancellable(e.wait_for_port(req));
            to_value(progress::around(&ctx, title, fut).await?)
        }
        "sandport.waitForLog" => {
            let stream = match a.opt_choice("stream", &["stdout", "stderr", "both"])? {
                Some(s) if s == "stdout" => StreamSel::Stdout,
                Some(s) if s == "stderr" => StreamSel::Stderr,
                _ => StreamSel::Both,
            };
            let req = WaitLog {
                process_id: a.non_empty("processId")?,
                pattern: a.non_empty("pattern")?,
                regex: a.opt_bool("regex")?.unwrap_or(false),
                stream,
                timeout_ms: a.opt_ms("timeout")?.unwrap_or(60_000),
            };
            let title = format!("Waiting for {:?} in {}", req.pattern, req.process_id);
            let fut = ctx.cancellable(e.wait_for_log(req));
            to_value(progress::around(&ctx, title, fut).await?)
        }
        "sandport.waitForExit" => {
            let id = a.non_empty("processId")?;
            let timeout = a.opt_ms("timeout")?;
            to_value(ctx.cancellable(e.wait_for_exit(&id, timeout)).await?)
        }
        "sandport.exec" => {
            let req = Exec {
                command: a.non_empty("command")?,
                cwd: a.opt_str("cwd")?,
                env: a.env("env")?,
                timeout_ms: a.opt_ms("timeout")?.unwrap_or(EXEC_DEFAULT_TIMEOUT_MS),
            };
            to_value(ctx.cancellable(e.exec(req)).await?)
        }
        "sandport.writeFile" => {
            let path = a.non_empty("path")?;
            let content = a.str("content")?;
            let enc = Encoding::parse(a.opt_str("encoding")?.as_deref())
                .map_err(|e| prefix("encoding: ", e))?;
            to_value(e.write_file(&path, &content, enc).await?)
        }
        "sandport.readFile" => {
            let path = a.non_empty("path")?;
            let enc = Encoding::parse(a.opt_str("encoding")?.as_deref())
                .map_err(|e| prefix("encoding: ", e))?;
            to_value(e.read_file(&path, enc).await?)
        }
        "sandport.checkout" => {
            let url = a.non_empty("url")?;
            let dir = a.opt_str("dir")?;
            let branch = a.opt_str("branch")?;
            let depth = a.opt_int("depth", 1, 1_000_000)?.map(|d| d as u32);
            let timeout = a.opt_ms("timeout")?.unwrap_or(CHECKOUT_DEFAULT_TIMEOUT_MS);
            let fut = e.checkout(&url, dir.as_deref(), branch.as_deref(), depth, timeout);
            to_value(ctx.cancellable(fut).await?)
        }
        _ => unreachable!("checked against COMMANDS"),
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
