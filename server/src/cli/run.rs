//! `sandport run`: one process in the sandbox, driven from a terminal.

use crate::engine::error::EngineError;
use crate::engine::{
    Engine, Event, ProcessInfo, StartProcess, Stream, StreamSel, WaitLog, WaitMode, WaitPort,
};
use crate::sandbox::{BackendKind, DockerSettings, GatewaySettings, Sandbox, SandboxConfig};
use clap::{Args, ValueEnum};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// The options of `sandport run` that concern the sandbox and its gateway;
/// `sandport up` takes them too.
#[derive(Args, Debug)]
pub struct SandboxArgs {
    /// The workspace root (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Where processes run.
    #[arg(long, value_enum, default_value = "local")]
    pub backend: BackendArg,
    /// Image for the docker backend (setting docker.image).
    #[arg(long, value_name = "IMAGE")]
    pub docker_image: Option<String>,
    /// Docker engine to use (setting docker.host).
    #[arg(long, value_name = "URL")]
    pub docker_host: Option<String>,
    /// Extra bind mount HOST:CONTAINER[:ro] (repeatable; setting docker.mounts).
    #[arg(long, value_name = "HOST:CONTAINER[:ro]")]
    pub docker_mount: Vec<String>,
    /// A statically linked sandport to run inside the container (setting
    /// docker.agentPath; default $SANDPORT_AGENT, else this executable when
    /// it is static).
    #[arg(long, value_name = "FILE")]
    pub docker_agent: Option<PathBuf>,
    /// DNS-safe id used in preview URLs (setting sandboxId).
    #[arg(long, value_name = "ID")]
    pub sandbox_id: Option<String>,
    /// Where the preview gateway listens.
    #[arg(long, value_name = "HOST:PORT")]
    pub gateway_listen: Option<String>,
    /// Domain of preview URLs.
    #[arg(long, value_name = "D")]
    pub domain: Option<String>,
    /// scheme://host[:port] shown in URLs behind a wildcard DNS / TLS front.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Wildcard certificate (PEM) to serve HTTPS.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// Key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Machine-readable events on stdout, one JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// Bound of each process's stdout and stderr buffers, in bytes (added).
    #[arg(long, value_name = "BYTES", default_value_t = crate::engine::DEFAULT_LOG_CAP)]
    pub log_buffer: usize,
}

impl SandboxArgs {
    /// The workspace root: `--workspace`, else the current directory.
    pub fn root(&self) -> PathBuf {
        match &self.workspace {
            Some(w) => w.clone(),
            None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        }
    }

    /// The gateway settings the options ask for.
    pub fn gateway_settings(&self) -> Result<GatewaySettings, EngineError> {
        let mut g = GatewaySettings::default();
        if let Some(l) = &self.gateway_listen {
            use std::net::ToSocketAddrs;
            // The user's address: taken is an error, not a silent move.
            g.listen = Some(
                l.to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next())
                    .ok_or_else(|| {
                        EngineError::invalid(format!("--gateway-listen {l:?}: expected HOST:PORT"))
                    })?,
            );
        }
        if let Some(d) = &self.domain {
            g.domain = d.clone();
        }
        g.public_url = self.public_url.clone();
        g.tls_cert = self.tls_cert.clone();
        g.tls_key = self.tls_key.clone();
        Ok(g)
    }

    /// The sandbox to build, with `gateway` (None: no gateway).
    pub fn config(&self, gateway: Option<GatewaySettings>) -> SandboxConfig {
        SandboxConfig {
            workspace_root: self.root(),
            sandbox_id: self.sandbox_id.clone(),
            backend: match self.backend {
                BackendArg::Local => BackendKind::Local,
                BackendArg::Docker => BackendKind::Docker,
            },
            docker: DockerSettings {
                image: self.docker_image.clone(),
                host: self.docker_host.clone(),
                mounts: self.docker_mount.clone(),
                agent_path: self.docker_agent.clone(),
            },
            log_cap: self.log_buffer.max(4096),
            keep_ended: crate::engine::DEFAULT_KEEP_ENDED,
            ended_log_bytes: crate::engine::DEFAULT_ENDED_LOG_BYTES,
            gateway,
        }
    }
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub sandbox: SandboxArgs,
    /// The process's name.
    #[arg(long)]
    pub name: Option<String>,
    /// Working directory, relative to the workspace.
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<String>,
    /// Environment overlay KEY=VALUE (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Wait until PORT is ready.
    #[arg(long, value_name = "PORT")]
    pub wait_port: Option<u16>,
    /// How --wait-port checks readiness.
    #[arg(long, value_enum, default_value = "http")]
    pub wait_mode: WaitModeArg,
    /// HTTP path checked by --wait-port.
    #[arg(long, value_name = "PATH", default_value = "/")]
    pub wait_path: String,
    /// Accepted HTTP status: N or N-M (default 200-399).
    #[arg(long, value_name = "N|N-M")]
    pub wait_status: Option<String>,
    /// Wait until the output contains PATTERN (/re/ for a regular expression).
    #[arg(long, value_name = "PATTERN")]
    pub wait_log: Option<String>,
    /// Timeout of each wait, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 60_000)]
    pub timeout: u64,
    /// Expose PORT (optionally named) once the waits succeed (repeatable).
    #[arg(long, value_name = "PORT[:NAME]")]
    pub expose: Vec<String>,
    /// Exposures end by themselves after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub ttl: Option<u64>,
    /// The command: one word is a shell line (run with /bin/sh -c); several
    /// words are an argv, each kept as written.
    #[arg(last = true, required = true, num_args = 1.., value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BackendArg {
    Local,
    Docker,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum WaitModeArg {
    Http,
    Tcp,
}

/// Prints events, human or JSON, to stdout.
pub(crate) struct Out {
    pub(crate) json: bool,
}

impl Out {
    pub(crate) fn emit(&self, ev: serde_json::Value, human: impl FnOnce() -> Option<String>) {
        let mut o = std::io::stdout().lock();
        if self.json {
            let _ = writeln!(o, "{ev}");
        } else if let Some(line) = human() {
            let _ = writeln!(o, "{line}");
        }
        let _ = o.flush();
    }

    pub(crate) fn error(&self, e: &EngineError) {
        eprintln!("sandport: {} ({})", e, e.code());
        if let EngineError::ReadyTimeout { log_tail, .. }
        | EngineError::ExitedBeforeReady { log_tail, .. } = e
        {
            if !log_tail.is_empty() && !self.json {
                eprintln!("sandport: last output:");
                for l in log_tail {
                    eprintln!("  {l}");
                }
            }
        }
        if self.json {
            let mut data = e.to_data();
            data["event"] = json!("error");
            self.emit(data, || None);
        }
    }
}

struct Plan {
    start: StartProcess,
    waits: Vec<WaitStep>,
    /// Ports to expose once the waits succeed, with their names.
    exposes: Vec<(u16, Option<String>)>,
    gateway: Option<GatewaySettings>,
}

enum WaitStep {
    Port(WaitPort),
    Log(WaitLog),
}

fn plan(args: &RunArgs) -> Result<Plan, EngineError> {
    let mut exposes = Vec::new();
    for e in &args.expose {
        let (port, name) = match e.split_once(':') {
            Some((p, n)) if !n.is_empty() => (p, Some(n.to_string())),
            Some((p, _)) => (p, None),
            None => (e.as_str(), None),
        };
        let port: u16 = port.trim().parse().map_err(|_| {
            EngineError::invalid(format!("--expose {e:?}: expected PORT or PORT:NAME"))
        })?;
        if port < 1024 {
            return Err(EngineError::InvalidPort(format!(
                "--expose {port}: preview ports are 1024-65535"
            )));
        }
        exposes.push((port, name));
    }
    if args.ttl == Some(0) {
        return Err(EngineError::invalid("--ttl must be at least 1 second"));
    }
    let gateway = if exposes.is_empty() {
        None
    } else {
        Some(args.sandbox.gateway_settings()?)
    };
    let mut env = BTreeMap::new();
    for kv in &args.env {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| EngineError::invalid(format!("--env {kv:?}: expected KEY=VALUE")))?;
        env.insert(k.to_string(), v.to_string());
    }
    let start = StartProcess {
        command: command_line(&args.command)?,
        cwd: args.cwd.clone(),
        env,
        name: args.name.clone(),
        process_id: None,
    };
    let mut waits = Vec::new();
    if let Some(port) = args.wait_port {
        let mut w = WaitPort::new(port);
        w.mode = match args.wait_mode {
            WaitModeArg::Http => WaitMode::Http,
            WaitModeArg::Tcp => WaitMode::Tcp,
        };
        w.path = args.wait_path.clone();
        w.timeout_ms = args.timeout;
        if let Some(s) = &args.wait_status {
            let bad = || EngineError::invalid(format!("--wait-status {s:?}: expected N or N-M"));
            let (a, b) = match s.split_once('-') {
                Some((a, b)) => (a, b),
                None => (s.as_str(), s.as_str()),
            };
            w.status_min = a.trim().parse().map_err(|_| bad())?;
            w.status_max = b.trim().parse().map_err(|_| bad())?;
        }
        waits.push(WaitStep::Port(w));
    }
    if let Some(p) = &args.wait_log {
        waits.push(WaitStep::Log(WaitLog {
            process_id: String::new(),
            pattern: p.clone(),
            regex: false,
            stream: StreamSel::Both,
            timeout_ms: args.timeout,
        }));
    }
    Ok(Plan {
        start,
        waits,
        exposes,
        gateway,
    })
}

/// The words after `--` as one shell line: one word is a shell line as it
/// is; several are an argv, each word quoted so that it stays one word.
fn command_line(words: &[String]) -> Result<String, EngineError> {
    match words {
        [line] => Ok(line.clone()),
        words => shlex::try_join(words.iter().map(String::as_str))
            .map_err(|e| EngineError::invalid(format!("COMMAND: {e}"))),
    }
}

/// Resolves on the first Ctrl-C or SIGTERM; the handlers are installed
/// when this is called, so a signal from then on is not lost.
pub(crate) fn stop_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut sigint = signal(SignalKind::interrupt()).ok();
    let mut sigterm = signal(SignalKind::terminate()).ok();
    async move {
        let recv = |s: &mut Option<tokio::signal::unix::Signal>| {
            let s = s.take();
            async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
        };
        tokio::select! {
            () = recv(&mut sigint) => {},
            () = recv(&mut sigterm) => {},
        }
    }
}

pub async fn run(args: RunArgs) -> i32 {
    // Handlers first: a Ctrl-C or SIGTERM from now on stops what we start.
    let stop = stop_signal();
    let out = Arc::new(Out {
        json: args.sandbox.json,
    });
    let plan = match plan(&args) {
        Ok(p) => p,
        Err(e) => {
            out.error(&e);
            return 1;
        }
    };
    // One process: nothing to forget beyond the defaults.
    let cfg = args.sandbox.config(plan.gateway.clone());
    let Sandbox { engine, gateway } = match Sandbox::build(&cfg).await {
        Ok(s) => s,
        Err(e) => {
            out.error(&e);
            return 1;
        }
    };
    let ttl = args.ttl;
    let code = drive(&engine, plan, out.clone(), stop, ttl).await;
    engine.close_all_ports();
    if let Some(g) = gateway {
        g.shutdown().await;
    }
    engine.shutdown(Duration::from_secs(3)).await;
    code
}

async fn drive(
    engine: &Engine,
    plan: Plan,
    out: Arc<Out>,
    stop: impl std::future::Future<Output = ()>,
    ttl: Option<u64>,
) -> i32 {
    let mut events = engine.subscribe();
    let info = match engine.start_process(plan.start).await {
        Ok(i) => i,
        Err(e) => {
            out.error(&e);
            return 1;
        }
    };
    let id = info.id.clone();
    out.emit(json!({"event": "started", "process": info}), || {
        Some(format!(
            "sandport: started {} (pid {})",
            info.command,
            info.pid.map(|p| p.to_string()).unwrap_or_default()
        ))
    });

    // Output follows the buffer from our own offsets; events only wake us.
    // Where the printer is in each stream; shared so that a `ready` line is
    // printed after the output that made it ready.
    let pos = Arc::new(std::sync::Mutex::new([0u64; 2]));
    let printer = {
        let engine = engine.clone();
        let id = id.clone();
        let out = out.clone();
        let pos = pos.clone();
        let mut rx = engine.subscribe();
        tokio::spawn(async move {
            loop {
                print_new(&engine, &id, &mut pos.lock().unwrap(), &out, &Tag::RUN);
                if engine.output_finished(&id) {
                    print_new(&engine, &id, &mut pos.lock().unwrap(), &out, &Tag::RUN);
                    return;
                }
                match rx.recv().await {
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                }
            }
        })
    };

    tokio::pin!(stop);

    for step in plan.waits {
        let fut = async {
            match step {
                WaitStep::Port(mut w) => {
                    w.process_id = Some(id.clone());
                    let cond = w.condition();
                    engine.wait_for_port(w).await.map(|r| (cond, r.elapsed_ms))
                }
                WaitStep::Log(mut w) => {
                    w.process_id = id.clone();
                    let started = std::time::Instant::now();
                    let cond = crate::engine::waits_condition(&w);
                    engine
                        .wait_for_log(w)
                        .await
                        .map(|_| (cond, started.elapsed().as_millis() as u64))
                }
            }
        };
        tokio::select! {
            r = fut => match r {
                Ok((condition, elapsed)) => {
                    print_new(engine, &id, &mut pos.lock().unwrap(), &out, &Tag::RUN);
                    out.emit(
                        json!({"event": "ready", "condition": condition, "elapsedMs": elapsed}),
                        || Some(format!("sandport: ready: {condition} after {elapsed} ms")),
                    )
                }
                Err(e) => {
                    out.error(&e);
                    let _ = engine.kill_process(&id, None, Some(Duration::from_secs(3))).await;
                    finish_output(printer).await;
                    return 1;
                }
            },
            () = &mut stop => {
                let _ = engine.kill_process(&id, None, Some(Duration::from_secs(3))).await;
                finish_output(printer).await;
                return 0;
            }
        }
    }

    for (port, name) in &plan.exposes {
        match engine.expose_port(*port, name.clone(), None, ttl) {
            Ok(x) => out.emit(
                json!({"event": "exposed", "port": x.port, "name": x.name, "url": x.url, "expiresAt": x.expires_at}),
                || {
                    let label = x.name.as_deref().map(|n| format!("{n} ({})", x.port)).unwrap_or_else(|| x.port.to_string());
                    let until = x.expires_at.as_deref().map(|t| format!(" until {t}")).unwrap_or_default();
                    Some(format!("sandport: {label} is live at {}{until}", x.url))
                },
            ),
            Err(e) => {
                out.error(&e);
                let _ = engine.kill_process(&id, None, Some(Duration::from_secs(3))).await;
                finish_output(printer).await;
                return 1;
            }
        }
    }

    // Until the process ends by itself, or the user stops us.
    let ended = async {
        loop {
            match events.recv().await {
                Ok(Event::ProcessChanged(p)) if p.id == id && p.status.is_ended() => {
                    return p;
                }
                Ok(Event::Notice(m)) => eprintln!("sandport: {m}"),
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    if let Ok(p) = engine.get_process(&id) {
                        if p.status.is_ended() {
                            return p;
                        }
                    }
                }
                Err(RecvError::Closed) => return engine.get_process(&id).expect("ours"),
            }
        }
    };
    tokio::select! {
        p = ended => {
            finish_output(printer).await;
            report_exit(&out, &p);
            exit_status(&p)
        }
        () = &mut stop => {
            let p = engine.kill_process(&id, None, Some(Duration::from_secs(3))).await;
            finish_output(printer).await;
            if let Ok(p) = p { report_exit(&out, &p); }
            0
        }
    }
}

async fn finish_output(printer: tokio::task::JoinHandle<()>) {
    // The printer ends once the output is fully read; don't hang on a pipe
    // a background job keeps open.
    let _ = tokio::time::timeout(Duration::from_millis(500), printer).await;
}

pub(crate) fn report_exit(out: &Out, p: &ProcessInfo) {
    out.emit(json!({"event": "exited", "process": p}), || {
        Some(match (p.exit_code, &p.signal) {
            (Some(c), _) => format!("sandport: process {} with exit code {c}", p.status.as_str()),
            (None, Some(s)) => format!("sandport: process {} by {s}", p.status.as_str()),
            _ => format!("sandport: process {}", p.status.as_str()),
        })
    });
}

fn exit_status(p: &ProcessInfo) -> i32 {
    match (p.exit_code, p.signal.as_deref()) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + crate::backend::signal_from_name(s).unwrap_or(0),
        _ => 1,
    }
}

/// How output lines are labelled: the prefix of each stream's human lines
/// and, for `sandport up`, the service in each JSON event.
pub(crate) struct Tag<'a> {
    pub(crate) service: Option<&'a str>,
    pub(crate) stdout: &'a str,
    pub(crate) stderr: &'a str,
}

impl Tag<'static> {
    const RUN: Tag<'static> = Tag {
        service: None,
        stdout: "out | ",
        stderr: "err | ",
    };
}

/// Prints the output of process `id` from `pos` on (and moves `pos`).
pub(crate) fn print_new(engine: &Engine, id: &str, pos: &mut [u64; 2], out: &Out, tag: &Tag) {
    for stream in [Stream::Stdout, Stream::Stderr] {
        let i = stream as usize;
        loop {
            let Ok(r) = engine.read_lines(id, stream, pos[i], 256 * 1024) else {
                return;
            };
            if r.dropped > 0 {
                let n = r.dropped;
                let mut ev = json!({"event": "dropped", "stream": stream, "bytes": n});
                if let Some(s) = tag.service {
                    ev["service"] = json!(s);
                }
                out.emit(ev, || {
                    Some(format!(
                        "sandport: … {n} bytes of {} not shown (buffer bound) …",
                        stream.as_str()
                    ))
                });
            }
            // Past what was dropped even with no whole line yet: each drop
            // is told once.
            pos[i] = r.next;
            if r.text.is_empty() {
                break;
            }
            let text = String::from_utf8_lossy(&r.text);
            // One write per batch, not per line (stdout is line-buffered).
            let mut o = std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout().lock());
            let prefix = if stream == Stream::Stdout {
                tag.stdout
            } else {
                tag.stderr
            };
            for line in text.split_inclusive('\n') {
                let line = line.strip_suffix('\n').unwrap_or(line);
                let line = line.strip_suffix('\r').unwrap_or(line);
                if out.json {
                    let mut ev = json!({"event": "log", "stream": stream, "text": line});
                    if let Some(s) = tag.service {
                        ev["service"] = json!(s);
                    }
                    let _ = serde_json::to_writer(&mut o, &ev);
                    let _ = o.write_all(b"\n");
                } else {
                    let _ = o.write_all(prefix.as_bytes());
                    let _ = o.write_all(line.as_bytes());
                    let _ = o.write_all(b"\n");
                }
            }
            let _ = o.flush();
        }
    }
}
