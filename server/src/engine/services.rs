//! The service manager: the workspace's `sandport.toml` (or `Procfile`)
//! services, started in dependency order, waited for, exposed, restarted by
//! their policy and stopped dependents first.
//!
//! Built only on the engine's public API (processes, waits, exposures): one
//! [`Services`] per [`Engine`] owns every service's state; each started
//! service has one task (its *run*) that waits for its dependencies, starts
//! its process, waits until it is ready, exposes its ports and watches it
//! end. Every change is announced on [`Services::subscribe`].

use super::error::{EngineError, Result};
use super::{Engine, ExposedPort, Status, StreamSel, WaitLog, WaitMode, WaitPort};
use crate::workspace::services::{Condition, Ready, Restart, ServiceDef, Stream as DefStream};
use crate::workspace::{self, Problem, ServicesFile};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// First restart delay; it doubles up to [`BACKOFF_MAX`].
pub const BACKOFF_START: Duration = Duration::from_secs(1);
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A run that stayed up this long ends a series of restarts "in a row".
pub const STABLE_RUN: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceState {
    Stopped,
    Waiting,
    Starting,
    Ready,
    Unhealthy,
    Failed,
    Completed,
}

/// `error` of a Service: `{code, message}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceError {
    pub code: String,
    pub message: String,
}

/// The contract's Service object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub name: String,
    pub state: ServiceState,
    pub process_id: Option<String>,
    pub restarts: u32,
    pub ports: Vec<ExposedPort>,
    pub depends_on: Vec<String>,
    pub error: Option<ServiceError>,
}

/// What `listServices` answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServicesList {
    pub services: Vec<Service>,
    pub file: Option<String>,
    /// `{message, range?}`.
    pub problems: Vec<Value>,
}

/// A problem as the contract's `{message, range?}` (LSP positions).
pub fn problem_json(p: &Problem) -> Value {
    let mut v = json!({ "message": p.message });
    if let Some(r) = p.range {
        v["range"] = json!({
            "start": {"line": r.start.line, "character": r.start.character},
            "end": {"line": r.end.line, "character": r.end.character},
        });
    }
    v
}

struct Svc {
    /// The current definition; a run reads it at each start, so a changed
    /// file applies on the next start.
    def: ServiceDef,
    state: ServiceState,
    process_id: Option<String>,
    restarts: u32,
    /// The ports this service exposed (their URLs come from the engine).
    exposed: Vec<u16>,
    error: Option<EngineError>,
    /// Failed, but a restart is due (so `up` keeps waiting).
    retrying: bool,
    /// How many times it became ready (or completed): `up` waits for this
    /// to move for the services it started.
    came_up: u64,
    run: Option<Run>,
}

struct Run {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl Svc {
    fn new(def: ServiceDef) -> Svc {
        Svc {
            def,
            state: ServiceState::Stopped,
            process_id: None,
            restarts: 0,
            exposed: Vec::new(),
            error: None,
            retrying: false,
            came_up: 0,
            run: None,
        }
    }
}

struct State {
    path: Option<PathBuf>,
    /// The last file read (problems included); its services are `svcs` in
    /// file order unless it is invalid, when the previous services stay.
    file: Option<ServicesFile>,
    order: Vec<String>,
    svcs: HashMap<String, Svc>,
    /// (mtime, len) of the file last read from disk, for [`Services::watch`].
    seen: Option<(SystemTime, u64)>,
}

struct Inner {
    engine: Engine,
    state: Mutex<State>,
    /// Bumped on every change; waits for a condition watch it.
    changed: watch::Sender<u64>,
    /// `servicesChanged`: every service, after every change.
    events: broadcast::Sender<Vec<Service>>,
    /// Held while a list is built and sent, so lists go out in the order
    /// they were built and the last one sent is the latest state.
    emitting: Mutex<()>,
}

/// The service manager of one engine. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Services {
    inner: Arc<Inner>,
}

impl Services {
    /// A manager with no file loaded; [`Services::reload`] reads it.
    pub fn new(engine: Engine) -> Services {
        Services {
            inner: Arc::new(Inner {
                engine,
                state: Mutex::new(State {
                    path: None,
                    file: None,
                    order: Vec::new(),
                    svcs: HashMap::new(),
                    seen: None,
                }),
                changed: watch::channel(0).0,
                events: broadcast::channel(256).0,
                emitting: Mutex::new(()),
            }),
        }
    }

    /// Every service after each change (a state, or the file). Its own
    /// channel rather than an [`Event`] so front ends that match every
    /// engine event need no change; a lagging subscriber loses only stale
    /// lists (the next one is whole).
    pub fn subscribe(&self) -> broadcast::Receiver<Vec<Service>> {
        self.inner.events.subscribe()
    }

    fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Reads the workspace's services file again (`sandport.toml`, else
    /// `Procfile`) and applies it as [`Services::load`] does.
    pub async fn reload(&self) {
        let root = self.engine().workspace_root().to_path_buf();
        let read = workspace::read_services(&root);
        let seen = read.as_ref().and_then(|(p, _)| file_stamp(p));
        match read {
            Some((path, file)) => self.load(Some(path), Some(file)).await,
            None => self.load(None, None).await,
        }
        self.inner.state.lock().unwrap().seen = seen;
    }

    /// Applies a parsed file (`None`: the workspace has none). Services new
    /// to it are added (stopped); a changed definition applies on its next
    /// start; services no longer in it are stopped and forgotten. A file
    /// with errors changes no service: they keep their last good
    /// definitions and `up` answers `SERVICES_FILE_INVALID`.
    pub async fn load(&self, path: Option<PathBuf>, file: Option<ServicesFile>) {
        let removed: Vec<String> = {
            let mut st = self.inner.state.lock().unwrap();
            st.path = path;
            let defs = match &file {
                Some(f) if !f.is_valid() => None,
                Some(f) => Some(f.services.clone()),
                None => Some(Vec::new()),
            };
            st.file = file;
            match defs {
                None => Vec::new(),
                Some(defs) => {
                    let names: Vec<String> = defs.iter().map(|d| d.name.clone()).collect();
                    let removed: Vec<String> = st
                        .order
                        .iter()
                        .filter(|n| !names.contains(n))
                        .cloned()
                        .collect();
                    for d in defs {
                        match st.svcs.get_mut(&d.name) {
                            Some(s) => s.def = d,
                            None => {
                                st.svcs.insert(d.name.clone(), Svc::new(d));
                            }
                        }
                    }
                    st.order = names;
                    removed
                }
            }
        };
        self.changed();
        for name in &removed {
            self.stop_one(name).await;
            self.inner.state.lock().unwrap().svcs.remove(name);
        }
        self.changed();
    }

    /// Polls the services file every `interval` and reloads it when it
    /// appears, changes or goes (for changes made outside the editor).
    /// Ends when the manager is dropped.
    pub fn watch(&self, interval: Duration) -> JoinHandle<()> {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let Some(inner) = weak.upgrade() else { return };
                let me = Services { inner };
                let root = me.engine().workspace_root().to_path_buf();
                let now = [workspace::SERVICES_FILE, workspace::PROCFILE]
                    .iter()
                    .find_map(|n| file_stamp(&root.join(n)));
                let before = me.inner.state.lock().unwrap().seen;
                if now != before {
                    me.reload().await;
                }
            }
        })
    }

    /// Every service, in file order, with `file` and `problems`.
    pub fn list_all(&self) -> ServicesList {
        let st = self.inner.state.lock().unwrap();
        let problems = st
            .file
            .as_ref()
            .map(|f| f.problems.iter().map(problem_json).collect())
            .unwrap_or_default();
        let file = st.path.as_ref().map(|p| p.display().to_string());
        drop(st);
        ServicesList {
            services: self.list(),
            file,
            problems,
        }
    }

    /// Every service, in file order.
    pub fn list(&self) -> Vec<Service> {
        let exposed = self.engine().exposed_ports();
        let st = self.inner.state.lock().unwrap();
        st.order
            .iter()
            .filter_map(|n| st.svcs.get(n))
            .map(|s| service_of(s, &exposed))
            .collect()
    }

    pub fn get(&self, name: &str) -> Result<Service> {
        let exposed = self.engine().exposed_ports();
        let st = self.inner.state.lock().unwrap();
        st.svcs
            .get(name)
            .map(|s| service_of(s, &exposed))
            .ok_or_else(|| EngineError::ServiceNotFound(name.to_string()))
    }

    fn changed(&self) {
        self.inner.changed.send_modify(|n| *n += 1);
        let _order = self.inner.emitting.lock().unwrap();
        let list = self.list();
        let _ = self.inner.events.send(list);
    }

    fn update(&self, name: &str, f: impl FnOnce(&mut Svc)) {
        {
            let mut st = self.inner.state.lock().unwrap();
            let Some(s) = st.svcs.get_mut(name) else {
                return;
            };
            f(s);
        }
        self.changed();
    }

    /// The file to act on, or `SERVICES_FILE_INVALID`.
    fn valid_file(&self) -> Result<ServicesFile> {
        let st = self.inner.state.lock().unwrap();
        match &st.file {
            Some(f) if !f.is_valid() => Err(EngineError::ServicesFileInvalid {
                problems: f
                    .problems
                    .iter()
                    .filter(|p| p.severity == workspace::Severity::Error)
                    .map(problem_json)
                    .collect(),
            }),
            Some(f) => Ok(f.clone()),
            None => Ok(ServicesFile {
                kind: workspace::FileKind::SandportToml,
                services: Vec::new(),
                ports: Vec::new(),
                problems: Vec::new(),
            }),
        }
    }

    /// Starts `names` (every service with `autostart` when empty) and what
    /// they depend on, each once its dependencies meet their condition;
    /// services of one layer start in parallel. Answers once every one is
    /// ready (or completed), with every service; the first failure
    /// otherwise (`DEPENDENCY_FAILED` first: it names the cause).
    /// Services already running are left as they are; a completed one runs
    /// again only when named.
    pub async fn up(&self, names: &[&str]) -> Result<Vec<Service>> {
        let file = self.valid_file()?;
        let layers = file
            .start_order(names)
            .map_err(EngineError::ServiceNotFound)?;
        let targets: Vec<String> = layers.iter().flatten().map(|s| s.to_string()).collect();
        let mut rx = self.inner.changed.subscribe();
        // For each target: the `came_up` it must pass, when this up starts it.
        let mut launched: HashMap<String, u64> = HashMap::new();
        {
            let mut st = self.inner.state.lock().unwrap();
            for name in &targets {
                let named = names.contains(&name.as_str());
                let Some(s) = st.svcs.get_mut(name) else {
                    continue;
                };
                let idle = match s.state {
                    ServiceState::Stopped | ServiceState::Failed => !s.retrying,
                    ServiceState::Completed => named,
                    _ => false,
                };
                if !idle || s.run.as_ref().is_some_and(|r| !r.task.is_finished()) {
                    continue;
                }
                s.state = ServiceState::Waiting;
                s.error = None;
                s.restarts = 0;
                s.process_id = None;
                launched.insert(name.clone(), s.came_up);
                let cancel = CancellationToken::new();
                let task = tokio::spawn(self.clone().run(name.clone(), cancel.clone()));
                s.run = Some(Run { cancel, task });
            }
        }
        self.changed();
        // Until each target is settled; every run is bounded (readiness
        // timeouts, max-restarts), so this is too.
        loop {
            let settled = {
                let st = self.inner.state.lock().unwrap();
                targets.iter().all(|n| {
                    st.svcs.get(n).is_none_or(|s| {
                        launched.get(n).is_some_and(|&base| s.came_up > base)
                            || match s.state {
                                ServiceState::Ready
                                | ServiceState::Completed
                                | ServiceState::Stopped => !launched.contains_key(n),
                                ServiceState::Failed => !s.retrying,
                                _ => false,
                            }
                    })
                })
            };
            if settled {
                break;
            }
            if rx.changed().await.is_err() {
                break;
            }
        }
        let st = self.inner.state.lock().unwrap();
        let came_up = |n: &String, s: &Svc| launched.get(n).is_some_and(|&b| s.came_up > b);
        let errors: Vec<&EngineError> = targets
            .iter()
            .filter_map(|n| st.svcs.get(n).map(|s| (n, s)))
            .filter(|(n, s)| s.state == ServiceState::Failed && !came_up(n, s))
            .map(|(_, s)| s)
            .filter_map(|s| s.error.as_ref())
            .collect();
        if let Some(e) = errors
            .iter()
            .find(|e| matches!(e, EngineError::DependencyFailed { .. }))
            .or(errors.first())
        {
            return Err((*e).clone());
        }
        let stopped = targets.iter().any(|n| {
            st.svcs
                .get(n)
                .is_some_and(|s| s.state == ServiceState::Stopped && !came_up(n, s))
        });
        drop(st);
        if stopped {
            // `down` came while we waited.
            return Err(EngineError::Cancelled);
        }
        Ok(self.list())
    }

    /// Stops `names` (all when empty), dependents first, each with its
    /// `stop-signal` and `stop-grace`; services of one layer in parallel.
    /// A stopped service is not restarted.
    pub async fn down(&self, names: &[&str]) -> Result<Vec<Service>> {
        let layers: Vec<Vec<String>> = {
            let st = self.inner.state.lock().unwrap();
            for n in names {
                if !st.svcs.contains_key(*n) {
                    return Err(EngineError::ServiceNotFound(n.to_string()));
                }
            }
            let defs: Vec<ServiceDef> = st
                .order
                .iter()
                .filter_map(|n| st.svcs.get(n))
                .map(|s| s.def.clone())
                .collect();
            let file = ServicesFile {
                kind: workspace::FileKind::SandportToml,
                services: defs,
                ports: Vec::new(),
                problems: Vec::new(),
            };
            let want: BTreeSet<&str> = if names.is_empty() {
                st.order.iter().map(String::as_str).collect()
            } else {
                names.iter().copied().collect()
            };
            // Everything running that depends on what goes, goes first.
            let mut want = want;
            loop {
                let more: Vec<&str> = file
                    .services
                    .iter()
                    .filter(|s| !want.contains(s.name.as_str()))
                    .filter(|s| s.depends_on.iter().any(|d| want.contains(d.name.as_str())))
                    .map(|s| s.name.as_str())
                    .collect();
                if more.is_empty() {
                    break;
                }
                want.extend(more);
            }
            let want: Vec<&str> = want.into_iter().collect();
            let mut layers: Vec<Vec<String>> = file
                .stop_order(&want)
                .unwrap_or_default()
                .into_iter()
                .map(|l| l.into_iter().map(String::from).collect())
                .collect();
            // Services in a cycle have no layer; stop them too, last.
            let placed: BTreeSet<String> = layers.iter().flatten().cloned().collect();
            let rest: Vec<String> = want
                .iter()
                .filter(|n| !placed.contains(**n))
                .map(|n| n.to_string())
                .collect();
            if !rest.is_empty() {
                layers.push(rest);
            }
            layers
        };
        for layer in layers {
            futures_util::future::join_all(layer.iter().map(|n| self.stop_one(n))).await;
        }
        Ok(self.list())
    }

    /// Stops `name` (and, first, what depends on it), starts it again and
    /// answers the Service once it is ready. Its dependents are started
    /// again too when they were running.
    pub async fn restart(&self, name: &str) -> Result<Service> {
        self.get(name)?;
        let running_before: Vec<String> = self
            .list()
            .into_iter()
            .filter(|s| {
                matches!(
                    s.state,
                    ServiceState::Waiting
                        | ServiceState::Starting
                        | ServiceState::Ready
                        | ServiceState::Unhealthy
                )
            })
            .map(|s| s.name)
            .collect();
        self.down(&[name]).await?;
        let mut again: Vec<&str> = vec![name];
        {
            let st = self.inner.state.lock().unwrap();
            again.extend(
                running_before
                    .iter()
                    .filter(|n| {
                        st.svcs
                            .get(*n)
                            .is_some_and(|s| s.state == ServiceState::Stopped)
                    })
                    .map(String::as_str),
            );
        }
        again.dedup();
        self.up(&again).await?;
        self.get(name)
    }

    /// Ends the run of `name` (no restart after this), stops its process
    /// with the service's stop signal and grace, closes its exposures.
    async fn stop_one(&self, name: &str) {
        let run = {
            let mut st = self.inner.state.lock().unwrap();
            let Some(s) = st.svcs.get_mut(name) else {
                return;
            };
            s.run.take()
        };
        if let Some(run) = run {
            run.cancel.cancel();
            // A run never holds up a cancel for long: it only finishes a
            // start in progress, so its process id is recorded.
            let _ = run.task.await;
        }
        let (def, pid, ports) = {
            let mut st = self.inner.state.lock().unwrap();
            let Some(s) = st.svcs.get_mut(name) else {
                return;
            };
            (
                s.def.clone(),
                s.process_id.clone(),
                std::mem::take(&mut s.exposed),
            )
        };
        if let Some(pid) = pid {
            let _ = self
                .engine()
                .kill_process(
                    &pid,
                    Some(&def.stop_signal),
                    Some(Duration::from_millis(def.stop_grace_ms)),
                )
                .await;
        }
        for p in ports {
            self.engine().close_port(p);
        }
        self.update(name, |s| {
            let was_running = !matches!(
                s.state,
                ServiceState::Stopped | ServiceState::Failed | ServiceState::Completed
            ) || s.retrying;
            if was_running {
                s.state = ServiceState::Stopped;
                s.error = None;
            }
            s.retrying = false;
        });
    }

    fn def_of(&self, name: &str) -> Option<ServiceDef> {
        let st = self.inner.state.lock().unwrap();
        st.svcs.get(name).map(|s| s.def.clone())
    }

    /// The life of one started service, until it settles or is cancelled.
    async fn run(self, name: String, cancel: CancellationToken) {
        let mut in_a_row: u32 = 0;
        let mut first = true;
        loop {
            let Some(def) = self.def_of(&name) else {
                return;
            };
            if first {
                first = false;
                self.update(&name, |s| s.state = ServiceState::Waiting);
                let deps = tokio::select! {
                    _ = cancel.cancelled() => return,
                    r = self.wait_deps(&def) => r,
                };
                if let Err(e) = deps {
                    self.update(&name, |s| {
                        s.state = ServiceState::Failed;
                        s.error = Some(e);
                    });
                    return;
                }
            }
            if cancel.is_cancelled() {
                return;
            }
            self.update(&name, |s| s.state = ServiceState::Starting);
            let started_at = Instant::now();
            // Not cancellable: a start cut short could leave its child
            // untracked. `down` waits for it and stops the process.
            let started = self
                .engine()
                .start_process(super::StartProcess {
                    command: def.command.clone(),
                    cwd: def.cwd.clone(),
                    env: def.env.clone(),
                    name: Some(name.clone()),
                    process_id: None,
                })
                .await;
            let outcome: std::result::Result<(), EngineError> = match started {
                Err(e) => Err(e),
                Ok(info) => {
                    let pid = info.id.clone();
                    self.update(&name, |s| s.process_id = Some(pid.clone()));
                    if cancel.is_cancelled() {
                        return;
                    }
                    let ready = tokio::select! {
                        _ = cancel.cancelled() => return,
                        r = self.ready(&def, &pid) => r,
                    };
                    match ready.and_then(|()| self.expose(&name, &def)) {
                        Err(e) => {
                            let _ = self
                                .engine()
                                .kill_process(
                                    &pid,
                                    Some(&def.stop_signal),
                                    Some(Duration::from_millis(def.stop_grace_ms)),
                                )
                                .await;
                            Err(e)
                        }
                        Ok(()) => {
                            self.update(&name, |s| {
                                s.state = ServiceState::Ready;
                                s.error = None;
                                s.retrying = false;
                                s.came_up += 1;
                            });
                            let ended = tokio::select! {
                                _ = cancel.cancelled() => return,
                                r = self.engine().wait_for_exit(&pid, None) => r,
                            };
                            match ended {
                                Ok(x) if x.status == Status::Completed => {
                                    if def.restart != Restart::Always {
                                        self.update(&name, |s| {
                                            s.state = ServiceState::Completed;
                                        });
                                        self.close_exposed(&name);
                                        return;
                                    }
                                    Ok(())
                                }
                                Ok(x) => Err(EngineError::Failed(match x.exit_code {
                                    Some(c) => format!("service {name:?} exited with code {c}"),
                                    None => {
                                        format!("service {name:?} ended ({})", x.status.as_str())
                                    }
                                })),
                                Err(e) => Err(e),
                            }
                        }
                    }
                }
            };
            // It ended (or never got ready): restart by the policy?
            if started_at.elapsed() >= STABLE_RUN {
                in_a_row = 0;
            }
            let again = match (&outcome, def.restart) {
                (_, Restart::No) => false,
                (Ok(()), Restart::OnFailure) => false,
                _ => in_a_row < def.max_restarts,
            };
            if !again {
                let err = outcome.err();
                self.update(&name, |s| {
                    s.state = ServiceState::Failed;
                    s.error = err;
                    s.retrying = false;
                });
                self.close_exposed(&name);
                return;
            }
            let delay = BACKOFF_START
                .saturating_mul(1u32 << in_a_row.min(5))
                .min(BACKOFF_MAX);
            in_a_row += 1;
            self.update(&name, |s| {
                s.state = ServiceState::Failed;
                s.error = outcome.err();
                s.retrying = true;
            });
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            self.update(&name, |s| s.restarts += 1);
        }
    }

    fn close_exposed(&self, name: &str) {
        let ports = {
            let mut st = self.inner.state.lock().unwrap();
            st.svcs
                .get_mut(name)
                .map(|s| std::mem::take(&mut s.exposed))
                .unwrap_or_default()
        };
        for p in &ports {
            self.engine().close_port(*p);
        }
        if !ports.is_empty() {
            self.changed();
        }
    }

    /// Until every dependency of `def` meets its condition;
    /// `DEPENDENCY_FAILED` as soon as one cannot.
    async fn wait_deps(&self, def: &ServiceDef) -> Result<()> {
        let mut rx = self.inner.changed.subscribe();
        loop {
            let mut pending = false;
            {
                let st = self.inner.state.lock().unwrap();
                for d in &def.depends_on {
                    let fail = |err: Option<EngineError>| EngineError::DependencyFailed {
                        service: def.name.clone(),
                        dependency: d.name.clone(),
                        dependency_error: err.map(Box::new),
                    };
                    let Some(dep) = st.svcs.get(&d.name) else {
                        return Err(fail(Some(EngineError::ServiceNotFound(d.name.clone()))));
                    };
                    use ServiceState::*;
                    let met = match (d.condition, dep.state) {
                        (Condition::Completed, Completed) => true,
                        (Condition::Completed, _) => false,
                        (Condition::Started, Ready | Unhealthy | Completed) => true,
                        (Condition::Started, Starting) => dep.process_id.is_some(),
                        (Condition::Ready | Condition::Healthy, Ready | Completed) => true,
                        _ => false,
                    };
                    let failed = match dep.state {
                        Failed => !dep.retrying,
                        Stopped => true,
                        _ => false,
                    };
                    if failed {
                        return Err(fail(dep.error.clone().or_else(|| {
                            Some(EngineError::Failed(format!(
                                "service {:?} is stopped",
                                d.name
                            )))
                        })));
                    }
                    pending |= !met;
                }
            }
            if !pending {
                return Ok(());
            }
            if rx.changed().await.is_err() {
                return Err(EngineError::Cancelled);
            }
        }
    }

    /// The service's `ready` condition, through the engine's waits.
    async fn ready(&self, def: &ServiceDef, pid: &str) -> Result<()> {
        match &def.ready {
            None => Ok(()),
            Some(Ready::Port {
                port,
                mode,
                path,
                status,
                interval_ms,
                timeout_ms,
            }) => {
                let mut w = WaitPort::new(*port);
                w.process_id = Some(pid.to_string());
                if let Some(m) = mode {
                    w.mode = match m {
                        workspace::read::Mode::Http => WaitMode::Http,
                        workspace::read::Mode::Tcp => WaitMode::Tcp,
                    };
                }
                if let Some(p) = path {
                    w.path = p.clone();
                }
                if let Some(s) = status {
                    w.status_min = s.min;
                    w.status_max = s.max;
                }
                if let Some(i) = interval_ms {
                    w.interval_ms = *i;
                }
                w.timeout_ms = *timeout_ms;
                self.engine().wait_for_port(w).await.map(|_| ())
            }
            Some(Ready::Log {
                pattern,
                stream,
                timeout_ms,
            }) => {
                // `/re/flags` is a regular expression, as `waitForLog` reads it.
                let regex = pattern.len() > 1
                    && pattern.starts_with('/')
                    && pattern[1..].rfind('/').is_some();
                self.engine()
                    .wait_for_log(WaitLog {
                        process_id: pid.to_string(),
                        pattern: pattern.clone(),
                        regex,
                        stream: match stream {
                            DefStream::Stdout => StreamSel::Stdout,
                            DefStream::Stderr => StreamSel::Stderr,
                            DefStream::Both => StreamSel::Both,
                        },
                        timeout_ms: *timeout_ms,
                    })
                    .await
                    .map(|_| ())
            }
        }
    }

    /// Exposes the service's `expose` ports (once ready).
    fn expose(&self, name: &str, def: &ServiceDef) -> Result<()> {
        let mut done = Vec::new();
        for x in &def.expose {
            let r = self.engine().expose_port(
                x.port,
                Some(x.name.clone().unwrap_or_else(|| name.to_string())),
                x.token.clone(),
                x.ttl_seconds,
            );
            if let Err(e) = r {
                for p in done {
                    self.engine().close_port(p);
                }
                return Err(e);
            }
            done.push(x.port);
        }
        self.update(name, |s| s.exposed = done);
        Ok(())
    }
}

fn service_of(s: &Svc, exposed: &[ExposedPort]) -> Service {
    Service {
        name: s.def.name.clone(),
        state: s.state,
        process_id: s.process_id.clone(),
        restarts: s.restarts,
        ports: exposed
            .iter()
            .filter(|p| s.exposed.contains(&p.port))
            .cloned()
            .collect(),
        depends_on: s.def.depends_on.iter().map(|d| d.name.clone()).collect(),
        error: s.error.as_ref().map(|e| ServiceError {
            code: e.code().to_string(),
            message: e.to_string(),
        }),
    }
}

fn file_stamp(p: &std::path::Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.len()))
}
