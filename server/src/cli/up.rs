//! `sandport up`: the workspace's services, driven from a terminal, on the
//! engine's service manager and the sandbox `sandport run` builds.

use super::run::{print_new, stop_signal, Out, SandboxArgs, Tag};
use crate::engine::error::EngineError;
use crate::engine::services::{problem_json, Service, ServiceState, Services};
use crate::engine::{Engine, Event, WaitLog, WaitMode, WaitPort};
use crate::sandbox::Sandbox;
use crate::workspace::services::Ready;
use crate::workspace::{self, ServicesFile, Severity};
use clap::Args;
use serde_json::json;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio_util::sync::CancellationToken;

#[derive(Args, Debug)]
pub struct UpArgs {
    #[command(flatten)]
    pub sandbox: SandboxArgs,
    /// Services to start, with what they depend on (default: every service
    /// with `autostart`).
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

pub async fn up(args: UpArgs) -> i32 {
    // Handlers first: a Ctrl-C or SIGTERM from now on stops what we start.
    let stop = stop_signal();
    let out = Arc::new(Out {
        json: args.sandbox.json,
    });
    let root = args.sandbox.root();
    let Some((path, file)) = workspace::read_services(&root) else {
        out.error(&EngineError::invalid(format!(
            "no {} or {} in {}",
            workspace::SERVICES_FILE,
            workspace::PROCFILE,
            root.display()
        )));
        return 1;
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !file.is_valid() {
        let errors: Vec<_> = file
            .problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .collect();
        for p in &errors {
            match p.range {
                Some(r) => eprintln!("sandport: {file_name}:{}: {}", r.start.line + 1, p.message),
                None => eprintln!("sandport: {file_name}: {}", p.message),
            }
        }
        out.error(&EngineError::ServicesFileInvalid {
            problems: errors.iter().map(|p| problem_json(p)).collect(),
        });
        return 1;
    }
    let names: Vec<&str> = args.services.iter().map(String::as_str).collect();
    if let Err(n) = file.start_order(&names) {
        out.error(&EngineError::ServiceNotFound(n));
        return 1;
    }
    let gateway = if file.services.iter().any(|s| !s.expose.is_empty()) {
        match args.sandbox.gateway_settings() {
            Ok(g) => Some(g),
            Err(e) => {
                out.error(&e);
                return 1;
            }
        }
    } else {
        None
    };
    let Sandbox { engine, gateway } = match Sandbox::build(&args.sandbox.config(gateway)).await {
        Ok(s) => s,
        Err(e) => {
            out.error(&e);
            return 1;
        }
    };
    let services = Services::new(engine.clone());
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let reporter = Reporter::new(&engine, &services, &file, out.clone(), colour);
    let done = CancellationToken::new();
    let task = tokio::spawn(reporter.run(done.clone()));
    services.load(Some(path), Some(file)).await;

    tokio::pin!(stop);
    let code = tokio::select! {
        r = services.up(&names) => match r {
            Ok(_) => {
                stop.await;
                0
            }
            Err(e) => {
                out.error(&e);
                1
            }
        },
        () = &mut stop => 0,
    };
    // Dependents first, each with its stop signal and grace.
    let _ = services.down(&[]).await;
    done.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
    engine.close_all_ports();
    if let Some(g) = gateway {
        g.shutdown().await;
    }
    engine.shutdown(Duration::from_secs(3)).await;
    code
}

/// A process a service started, and where its printer is.
struct Tracked {
    id: String,
    service: String,
    pos: [u64; 2],
    exited: bool,
}

/// Turns the manager's lists and the engine's output into events.
struct Reporter {
    engine: Engine,
    services: Services,
    out: Arc<Out>,
    /// Per service: the human prefixes of stdout and stderr, and what
    /// `ready` means.
    labels: HashMap<String, (String, String, String)>,
    procs: Vec<Tracked>,
    last: HashMap<String, Service>,
    started_at: HashMap<String, Instant>,
}

const COLOURS: [anstyle::AnsiColor; 6] = [
    anstyle::AnsiColor::Cyan,
    anstyle::AnsiColor::Yellow,
    anstyle::AnsiColor::Green,
    anstyle::AnsiColor::Magenta,
    anstyle::AnsiColor::Blue,
    anstyle::AnsiColor::Red,
];

impl Reporter {
    fn new(
        engine: &Engine,
        services: &Services,
        file: &ServicesFile,
        out: Arc<Out>,
        colour: bool,
    ) -> Reporter {
        let width = file
            .services
            .iter()
            .map(|s| s.name.len())
            .max()
            .unwrap_or(0);
        let labels = file
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let name = format!("{:<width$}", s.name);
                let label = if colour {
                    let st =
                        anstyle::Style::new().fg_color(Some(COLOURS[i % COLOURS.len()].into()));
                    format!("{}{name}{}", st.render(), st.render_reset())
                } else {
                    name
                };
                (
                    s.name.clone(),
                    (format!("{label} | "), format!("{label} ! "), condition(s)),
                )
            })
            .collect();
        Reporter {
            engine: engine.clone(),
            services: services.clone(),
            out,
            labels,
            procs: Vec::new(),
            last: HashMap::new(),
            started_at: HashMap::new(),
        }
    }

    async fn run(mut self, done: CancellationToken) {
        let mut lists = self.services.subscribe();
        let mut events = self.engine.subscribe();
        loop {
            tokio::select! {
                l = lists.recv() => match l {
                    Ok(list) => self.list(list),
                    Err(RecvError::Lagged(_)) => self.list(self.services.list()),
                    Err(RecvError::Closed) => return,
                },
                e = events.recv() => match e {
                    Ok(Event::Notice(m)) => eprintln!("sandport: {m}"),
                    Ok(_) | Err(RecvError::Lagged(_)) => self.output(),
                    Err(RecvError::Closed) => return,
                },
                () = done.cancelled() => {
                    // What happened before the cancel, in order.
                    loop {
                        match lists.try_recv() {
                            Ok(list) => self.list(list),
                            Err(TryRecvError::Lagged(_)) => continue,
                            Err(_) => break,
                        }
                    }
                    self.list(self.services.list());
                    return;
                }
            }
        }
    }

    /// Prints new output of every process, then reports those that ended.
    fn output(&mut self) {
        for t in &mut self.procs {
            if t.exited {
                continue;
            }
            let (o, e, _) = &self.labels[&t.service];
            let tag = Tag {
                service: Some(&t.service),
                stdout: o,
                stderr: e,
            };
            print_new(&self.engine, &t.id, &mut t.pos, &self.out, &tag);
            if self.engine.output_finished(&t.id) {
                print_new(&self.engine, &t.id, &mut t.pos, &self.out, &tag);
                t.exited = true;
                if let Ok(p) = self.engine.get_process(&t.id) {
                    self.out.emit(
                        json!({"event": "exited", "service": t.service, "process": p}),
                        || {
                            Some(match (p.exit_code, &p.signal) {
                                (Some(c), _) => format!(
                                    "sandport: {}: process {} with exit code {c}",
                                    t.service,
                                    p.status.as_str()
                                ),
                                (None, Some(s)) => format!(
                                    "sandport: {}: process {} by {s}",
                                    t.service,
                                    p.status.as_str()
                                ),
                                _ => format!(
                                    "sandport: {}: process {}",
                                    t.service,
                                    p.status.as_str()
                                ),
                            })
                        },
                    );
                }
            }
        }
    }

    /// One list from the manager: new processes, output, then each change.
    fn list(&mut self, list: Vec<Service>) {
        for s in &list {
            let Some(id) = &s.process_id else { continue };
            if self.procs.iter().any(|t| &t.id == id) {
                continue;
            }
            self.procs.push(Tracked {
                id: id.clone(),
                service: s.name.clone(),
                pos: [0; 2],
                exited: false,
            });
            self.started_at.insert(s.name.clone(), Instant::now());
            if let Ok(p) = self.engine.get_process(id) {
                self.out.emit(
                    json!({"event": "started", "service": s.name, "process": p}),
                    || {
                        Some(format!(
                            "sandport: {}: started {} (pid {})",
                            s.name,
                            p.command,
                            p.pid.map(|p| p.to_string()).unwrap_or_default()
                        ))
                    },
                );
            }
        }
        self.output();
        for s in list {
            let before = self.last.get(&s.name);
            if before == Some(&s) {
                continue;
            }
            let was = before.map(|b| b.state);
            let old_ports: Vec<u16> = before
                .map(|b| b.ports.iter().map(|p| p.port).collect())
                .unwrap_or_default();
            self.out
                .emit(json!({"event": "service", "service": s}), || None);
            if was != Some(s.state) && !(was.is_none() && s.state == ServiceState::Stopped) {
                self.state_changed(&s);
            }
            for x in s.ports.iter().filter(|p| !old_ports.contains(&p.port)) {
                self.out.emit(
                    json!({"event": "exposed", "service": s.name, "port": x.port, "name": x.name, "url": x.url, "expiresAt": x.expires_at}),
                    || {
                        let label = x.name.as_deref().map(|n| format!("{n} ({})", x.port)).unwrap_or_else(|| x.port.to_string());
                        let until = x.expires_at.as_deref().map(|t| format!(" until {t}")).unwrap_or_default();
                        Some(format!("sandport: {label} is live at {}{until}", x.url))
                    },
                );
            }
            self.last.insert(s.name.clone(), s);
        }
    }

    fn state_changed(&self, s: &Service) {
        let name = &s.name;
        match s.state {
            ServiceState::Ready => {
                let condition = &self.labels[name].2;
                let elapsed = self
                    .started_at
                    .get(name)
                    .map(|t| t.elapsed().as_millis() as u64)
                    .unwrap_or(0);
                self.out.emit(
                    json!({"event": "ready", "service": name, "condition": condition, "elapsedMs": elapsed}),
                    || Some(format!("sandport: {name}: ready: {condition} after {elapsed} ms")),
                );
            }
            ServiceState::Failed => {
                if !self.out.json {
                    let why = s
                        .error
                        .as_ref()
                        .map(|e| format!(": {} ({})", e.message, e.code));
                    println!("sandport: {name}: failed{}", why.unwrap_or_default());
                }
            }
            st => {
                if !self.out.json {
                    let st = serde_json::to_value(st).unwrap_or_default();
                    println!("sandport: {name}: {}", st.as_str().unwrap_or_default());
                }
            }
        }
    }
}

/// What `ready` waits for, as `run`'s `ready` event says it.
fn condition(def: &workspace::ServiceDef) -> String {
    match &def.ready {
        None => "started".into(),
        Some(Ready::Port {
            port, mode, path, ..
        }) => {
            let mut w = WaitPort::new(*port);
            if let Some(m) = mode {
                w.mode = match m {
                    workspace::read::Mode::Http => WaitMode::Http,
                    workspace::read::Mode::Tcp => WaitMode::Tcp,
                };
            }
            if let Some(p) = path {
                w.path = p.clone();
            }
            w.condition()
        }
        Some(Ready::Log { pattern, .. }) => crate::engine::waits_condition(&WaitLog {
            process_id: String::new(),
            pattern: pattern.clone(),
            regex: pattern.len() > 1
                && pattern.starts_with('/')
                && pattern[1..].rfind('/').is_some(),
            stream: crate::engine::StreamSel::Both,
            timeout_ms: 0,
        }),
    }
}
