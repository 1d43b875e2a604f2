//! The engine: the one owner of sandbox state (processes, logs, waits,
//! exposures). Front ends (LSP, CLI) call it and subscribe to its events;
//! where processes run is the [`Backend`]'s business.

pub mod access;
pub mod error;
// ---- gateway: exposures (preview URLs) ----
pub mod exposure;
pub use access::Visibility;
pub use exposure::{
    derive_sandbox_id, validate_sandbox_id, ExposeOptions, LoginLink, Route, UrlBase, LOGIN_PATH,
};
// ---- end gateway ----
pub mod files;
pub mod logs;
pub mod paths;
pub mod process;
pub mod services;
pub mod types;
mod waits;

pub(crate) use crate::backend::random_string;
use crate::backend::{signal_from_name, Backend, Conn, SpawnSpec};
use error::{EngineError, Result};
use process::{Proc, Run};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
pub use types::*;

/// Default bound of each process's stdout and stderr buffers.
pub const DEFAULT_LOG_CAP: usize = 4 * 1024 * 1024;
/// Longest wait a caller may ask for (a day); more is a mistake.
pub const MAX_TIMEOUT_MS: u64 = 86_400_000;
/// A kill this soon after the start may race the shell's start-up.
const START_RACE: Duration = Duration::from_millis(500);
/// Ended processes kept (with their logs) unless the settings say otherwise.
pub const DEFAULT_KEEP_ENDED: usize = 100;
/// Bound of the logs of all ended processes together, unless the settings
/// say otherwise.
pub const DEFAULT_ENDED_LOG_BYTES: usize = 16 * 1024 * 1024;
/// Output kept per stream by `exec`.
pub const EXEC_OUTPUT_CAP: usize = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub workspace_root: PathBuf,
    pub log_cap: usize,
    /// How many ended processes are kept; the oldest ended is forgotten first.
    pub keep_ended: usize,
    /// Bound of the logs of all ended processes together; the oldest ended
    /// process's logs are trimmed first.
    pub ended_log_bytes: usize,
}

impl EngineConfig {
    pub fn new(workspace_root: impl Into<PathBuf>) -> Self {
        EngineConfig {
            workspace_root: workspace_root.into(),
            log_cap: DEFAULT_LOG_CAP,
            keep_ended: DEFAULT_KEEP_ENDED,
            ended_log_bytes: DEFAULT_ENDED_LOG_BYTES,
        }
    }
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    log_cap: usize,
    backend: Arc<dyn Backend>,
    procs: Mutex<Table>,
    seq: AtomicU64,
    events: broadcast::Sender<Event>,
    // ---- gateway: exposed ports, see exposure.rs (its `impl Engine`) ----
    exposures: exposure::Exposures,
}

/// The processes the engine knows: every running (or starting) one and the
/// most recent ended ones, within the retention bounds.
struct Table {
    procs: HashMap<String, Arc<Proc>>,
    /// Ended processes by the order they ended (oldest first), with the
    /// log bytes counted for each in `ended_bytes`.
    ended: BTreeMap<u64, (Arc<Proc>, usize)>,
    ended_bytes: usize,
    end_seq: u64,
    keep_ended: usize,
    ended_log_bytes: usize,
}

impl Table {
    /// Forget the oldest ended processes beyond `keep_ended`, then trim the
    /// oldest ended logs beyond `ended_log_bytes`. The ids forgotten.
    fn enforce(&mut self) -> Vec<String> {
        let mut gone = Vec::new();
        while self.ended.len() > self.keep_ended {
            let Some((_, (p, size))) = self.ended.pop_first() else {
                break;
            };
            self.ended_bytes -= size;
            if self.procs.get(&p.id).is_some_and(|q| Arc::ptr_eq(q, &p)) {
                self.procs.remove(&p.id);
            }
            gone.push(p.id.clone());
        }
        let bound = self.ended_log_bytes;
        let mut total = self.ended_bytes;
        for (p, size) in self.ended.values_mut() {
            if total <= bound {
                break;
            }
            let mut bufs = p.bufs.lock().unwrap();
            // Output that came after its end (a background job holding
            // the pipe) is counted from now on.
            let actual: usize = bufs.iter().map(|b| b.len()).sum();
            total = total - *size + actual;
            *size = actual;
            let mut over = total.saturating_sub(bound).min(actual);
            // Half from each stream, the rest from whichever has more.
            let [out, err] = &mut *bufs;
            let mut cut = out.trim_front(over.div_ceil(2));
            cut += err.trim_front(over - cut);
            cut += out.trim_front(over - cut);
            over -= cut;
            debug_assert_eq!(over, 0);
            *size -= cut;
            total -= cut;
        }
        self.ended_bytes = total;
        gone
    }

    /// Forget one process (it has ended) and what its logs counted.
    fn forget(&mut self, p: &Arc<Proc>) {
        self.procs.remove(&p.id);
        let order = p.end_order.load(Ordering::Acquire);
        if let Some((_, size)) = self.ended.remove(&order) {
            self.ended_bytes -= size;
        }
    }
}

/// Lines read by [`Engine::read_lines`].
#[derive(Debug, Default)]
pub struct LineRead {
    /// Whole lines (with their newlines); a final partial line only once the
    /// stream has ended.
    pub text: Vec<u8>,
    /// Where to read from next time.
    pub next: u64,
    /// Bytes lost to the buffer bound since `from`.
    pub dropped: u64,
}

impl Engine {
    pub fn new(config: EngineConfig, backend: Arc<dyn Backend>) -> Result<Engine> {
        let root = config.workspace_root.canonicalize().map_err(|e| {
            EngineError::invalid(format!(
                "workspace {} is not usable: {e}",
                config.workspace_root.display()
            ))
        })?;
        if !root.is_dir() {
            return Err(EngineError::invalid(format!(
                "workspace {} is not a directory",
                root.display()
            )));
        }
        let events = broadcast::channel(4096).0;
        if let (Some(mut notices), Ok(rt)) =
            (backend.notices(), tokio::runtime::Handle::try_current())
        {
            let tx = events.clone();
            rt.spawn(async move {
                use broadcast::error::RecvError;
                loop {
                    match notices.recv().await {
                        Ok(m) => {
                            let _ = tx.send(Event::Notice(m));
                        }
                        Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => return,
                    }
                }
            });
        }
        // ---- gateway: default sandbox id from the folder name ----
        let sandbox_id = derive_sandbox_id(&root.file_name().unwrap_or_default().to_string_lossy());
        Ok(Engine {
            inner: Arc::new(Inner {
                root,
                log_cap: config.log_cap,
                backend,
                procs: Mutex::new(Table {
                    procs: HashMap::new(),
                    ended: BTreeMap::new(),
                    ended_bytes: 0,
                    end_seq: 0,
                    keep_ended: config.keep_ended,
                    ended_log_bytes: config.ended_log_bytes,
                }),
                seq: AtomicU64::new(0),
                events,
                // ---- gateway ----
                exposures: exposure::Exposures::new(sandbox_id),
            }),
        })
    }

    pub fn workspace_root(&self) -> &Path {
        &self.inner.root
    }

    pub fn backend_name(&self) -> &'static str {
        self.inner.backend.name()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    pub(crate) fn emit(&self, e: Event) {
        let _ = self.inner.events.send(e);
    }

    pub(crate) async fn until_accepting(&self, port: u16) {
        self.inner.backend.until_accepting(port).await
    }

    /// A TCP connection to a port of the sandbox, through the backend.
    pub async fn connect(&self, port: u16) -> std::io::Result<Conn> {
        self.inner.backend.connect(port).await
    }

    fn proc(&self, id: &str) -> Result<Arc<Proc>> {
        self.inner
            .procs
            .lock()
            .unwrap()
            .procs
            .get(id)
            .cloned()
            .ok_or_else(|| EngineError::ProcessNotFound(id.to_string()))
    }

    // ---- retention ----------------------------------------------------

    /// Apply new retention bounds at once (forgetting or trimming what is
    /// now over them).
    pub fn set_retention(&self, keep_ended: usize, ended_log_bytes: usize) {
        let gone = {
            let mut t = self.inner.procs.lock().unwrap();
            t.keep_ended = keep_ended;
            t.ended_log_bytes = ended_log_bytes;
            t.enforce()
        };
        for id in gone {
            self.emit(Event::ProcessRemoved(id));
        }
    }

    /// Forget an ended process and its logs: `Ok(true)` if it was known,
    /// `Ok(false)` if not; a running (or starting) one is refused.
    pub fn remove_process(&self, id: &str) -> Result<bool> {
        {
            let mut t = self.inner.procs.lock().unwrap();
            let Some(p) = t.procs.get(id).cloned() else {
                return Ok(false);
            };
            if p.is_running() {
                return Err(EngineError::ProcessRunning(id.to_string()));
            }
            t.forget(&p);
        }
        self.emit(Event::ProcessRemoved(id.to_string()));
        Ok(true)
    }

    /// A process has ended: its logs are copied into buffers of their own,
    /// it joins the ended ones, and the retention bounds are applied.
    fn retire(&self, p: &Arc<Proc>) {
        p.bufs.lock().unwrap().iter_mut().for_each(|b| b.compact());
        let size = p.log_bytes();
        let gone = {
            let mut t = self.inner.procs.lock().unwrap();
            // Removed meanwhile (it had ended), and maybe its id reused.
            if !t.procs.get(&p.id).is_some_and(|q| Arc::ptr_eq(q, p)) {
                return;
            }
            t.end_seq += 1;
            let order = t.end_seq;
            p.end_order.store(order, Ordering::Release);
            t.ended.insert(order, (p.clone(), size));
            t.ended_bytes += size;
            t.enforce()
        };
        for id in gone {
            self.emit(Event::ProcessRemoved(id));
        }
    }

    // ---- processes ----------------------------------------------------

    pub async fn start_process(&self, req: StartProcess) -> Result<ProcessInfo> {
        if req.command.trim().is_empty() {
            return Err(EngineError::invalid("command must not be empty"));
        }
        if let Some(id) = &req.process_id {
            validate_id(id)?;
        }
        check_env(&req.env)?;
        let cwd = paths::resolve_dir(&self.inner.root, req.cwd.as_deref())?;
        let id = req.process_id.clone().unwrap_or_else(new_process_id);
        // Reserve the id before spawning so two racing starts cannot share
        // it; until the backend has spawned it, it is `starting`.
        let seq = self.inner.seq.fetch_add(1, Ordering::Relaxed);
        let proc = Arc::new(Proc::starting(
            id.clone(),
            req.name,
            req.command.clone(),
            cwd.display().to_string(),
            seq,
            self.inner.log_cap,
        ));
        {
            let mut t = self.inner.procs.lock().unwrap();
            if t.procs.contains_key(&id) {
                return Err(EngineError::ProcessIdInUse(id));
            }
            t.procs.insert(id.clone(), proc.clone());
        }
        // If this future is dropped while the backend spawns (a cancelled
        // request), the process did not start: say so rather than leave it
        // `starting` for ever.
        struct Unstarted<'a>(&'a Engine, &'a Arc<Proc>, bool);
        impl Drop for Unstarted<'_> {
            fn drop(&mut self) {
                if self.2 {
                    self.1.set_failed();
                    self.0.emit(Event::ProcessChanged(self.1.info()));
                    self.0.retire(self.1);
                }
            }
        }
        let mut guard = Unstarted(self, &proc, true);
        let spawned = self
            .inner
            .backend
            .spawn(SpawnSpec {
                command: req.command,
                cwd,
                env: req.env,
            })
            .await;
        // Recorded as `error` (could not be started) by the guard, and said so.
        let spawned = spawned?;
        guard.2 = false;
        drop(guard);
        proc.set_running(Run {
            pid: spawned.pid,
            cwd_display: spawned.cwd_display,
            signaller: spawned.signaller,
            spawned: Instant::now(),
        });
        let ev = self.inner.events.clone();
        tokio::spawn(process::pump(
            proc.clone(),
            Stream::Stdout,
            spawned.stdout,
            ev.clone(),
        ));
        tokio::spawn(process::pump(
            proc.clone(),
            Stream::Stderr,
            spawned.stderr,
            ev.clone(),
        ));
        let info = proc.info();
        self.emit(Event::ProcessChanged(info.clone()));
        let engine = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            process::watch_exit(proc.clone(), spawned.exit, ev).await;
            if let Some(inner) = Weak::upgrade(&engine) {
                Engine { inner }.retire(&proc);
            }
        });
        Ok(info)
    }

    pub fn list_processes(&self) -> Vec<ProcessInfo> {
        let mut v: Vec<Arc<Proc>> = self
            .inner
            .procs
            .lock()
            .unwrap()
            .procs
            .values()
            .cloned()
            .collect();
        v.sort_by_key(|p| p.seq);
        v.iter().map(|p| p.info()).collect()
    }

    /// [`Engine::list_processes`] with `listeningPorts` filled in for
    /// running processes (from the OS: the sockets of each process tree).
    pub async fn list_processes_with_ports(&self) -> Vec<ProcessInfo> {
        let mut list = self.list_processes();
        let pids: Vec<u32> = list
            .iter()
            .filter(|p| p.status == Status::Running)
            .filter_map(|p| p.pid)
            .collect();
        // Nothing runs: nothing to scan.
        let ports = if pids.is_empty() {
            Default::default()
        } else {
            self.inner.backend.listening_ports(&pids).await
        };
        for p in &mut list {
            p.listening_ports = Some(
                p.pid
                    .filter(|_| p.status == Status::Running)
                    .and_then(|pid| ports.get(&pid).cloned())
                    .unwrap_or_default(),
            );
        }
        list
    }

    /// How many processes run (or start) now.
    pub fn running_count(&self) -> usize {
        let t = self.inner.procs.lock().unwrap();
        t.procs.len() - t.ended.len()
    }

    pub fn get_process(&self, id: &str) -> Result<ProcessInfo> {
        Ok(self.proc(id)?.info())
    }

    /// Signal the whole group; SIGKILL it if still alive after `grace`.
    /// Returns the process once it has ended.
    pub async fn kill_process(
        &self,
        id: &str,
        signal: Option<&str>,
        grace: Option<Duration>,
    ) -> Result<ProcessInfo> {
        let sig = match signal {
            None => libc::SIGTERM,
            Some(s) => signal_from_name(s)
                .ok_or_else(|| EngineError::invalid(format!("unknown signal {s:?}")))?,
        };
        let grace = grace.unwrap_or(Duration::from_millis(5000));
        if grace > Duration::from_millis(MAX_TIMEOUT_MS) {
            return Err(EngineError::invalid("graceMs is out of range"));
        }
        let p = self.proc(id)?;
        kill_proc(&p, sig, grace).await;
        Ok(p.info())
    }

    pub async fn kill_all(&self) -> usize {
        self.kill_running(Duration::from_millis(5000)).await
    }

    // ---- logs -----------------------------------------------------------

    /// The contract's getLogs: everything after `since` (or all that is
    /// kept), optionally only the last `tail` lines of each stream.
    pub fn get_logs(&self, id: &str, since: Option<&str>, tail: Option<usize>) -> Result<Logs> {
        let p = self.proc(id)?;
        let from = match since {
            Some(c) => parse_cursor(c)?,
            None => (0, 0),
        };
        let bufs = p.bufs.lock().unwrap();
        let mut truncated = false;
        let mut texts = [String::new(), String::new()];
        let mut next = [0u64; 2];
        for (i, b) in bufs.iter().enumerate() {
            let start = if i == 0 { from.0 } else { from.1 };
            let mut s = b.read(start, usize::MAX);
            if !b.closed {
                let keep = logs::utf8_safe_len(&s.bytes);
                s.next -= (s.bytes.len() - keep) as u64;
                s.bytes.truncate(keep);
            }
            // Output the caller asked for that the bound already dropped.
            if s.dropped > 0 {
                truncated = true;
            }
            if let Some(n) = tail {
                let cut = tail_cut(&s.bytes, n);
                s.bytes.drain(..cut);
            }
            texts[i] = String::from_utf8_lossy(&s.bytes).into_owned();
            next[i] = s.next;
        }
        let [stdout, stderr] = texts;
        Ok(Logs {
            stdout,
            stderr,
            cursor: format!("{}-{}", next[0], next[1]),
            truncated,
        })
    }

    /// Whole lines of one stream from `from`, at most about `max` bytes
    /// (never cutting a line unless a single line is longer than `max`).
    /// What subscribers of [`Event::Output`] call.
    pub fn read_lines(&self, id: &str, stream: Stream, from: u64, max: usize) -> Result<LineRead> {
        let p = self.proc(id)?;
        let bufs = p.bufs.lock().unwrap();
        let b = &bufs[stream as usize];
        let mut s = b.read(from, max);
        let at_end = s.next == b.end();
        if !(b.closed && at_end) {
            match s.bytes.iter().rposition(|&c| c == b'\n') {
                Some(i) => {
                    let cut = s.bytes.len() - (i + 1);
                    s.bytes.truncate(i + 1);
                    s.next -= cut as u64;
                }
                // One line longer than `max`: hand it over in pieces.
                None if s.bytes.len() >= max => {}
                None => {
                    s.next -= s.bytes.len() as u64;
                    s.bytes.clear();
                }
            }
        }
        Ok(LineRead {
            text: s.bytes,
            next: s.next,
            dropped: s.dropped,
        })
    }

    /// Whether the process has ended and its output is fully read.
    pub fn output_finished(&self, id: &str) -> bool {
        self.proc(id)
            .map(|p| !p.is_running() && p.streams_closed())
            .unwrap_or(true)
    }

    // ---- waits ------------------------------------------------------------

    pub async fn wait_for_port(&self, req: WaitPort) -> Result<PortReady> {
        waits::wait_for_port(self, req).await
    }

    pub async fn wait_for_log(&self, req: WaitLog) -> Result<LogMatch> {
        waits::wait_for_log(self, req).await
    }

    pub async fn wait_for_exit(&self, id: &str, timeout_ms: Option<u64>) -> Result<ExitInfo> {
        let p = self.proc(id)?;
        let timeout = check_timeout(timeout_ms.unwrap_or(MAX_TIMEOUT_MS))?;
        match tokio::time::timeout(Duration::from_millis(timeout), p.ended()).await {
            Ok(()) => {
                let info = p.info();
                Ok(ExitInfo {
                    exit_code: info.exit_code,
                    status: info.status,
                })
            }
            Err(_) => Err(EngineError::ReadyTimeout {
                condition: format!("process {id} to exit"),
                timeout_ms: timeout,
                log_tail: p.log_tail(20),
            }),
        }
    }

    // ---- exec -------------------------------------------------------------

    pub async fn exec(&self, req: Exec) -> Result<ExecResult> {
        if req.command.trim().is_empty() {
            return Err(EngineError::invalid("command must not be empty"));
        }
        check_env(&req.env)?;
        let timeout = check_timeout(req.timeout_ms)?;
        let cwd = paths::resolve_dir(&self.inner.root, req.cwd.as_deref())?;
        let started = Instant::now();
        let spawned = self
            .inner
            .backend
            .spawn(SpawnSpec {
                command: req.command,
                cwd,
                env: req.env,
            })
            .await?;
        // Whatever happens to this future (timeout, cancel), the group dies.
        struct KillOnDrop(Arc<dyn crate::backend::Signaller>, bool);
        impl Drop for KillOnDrop {
            fn drop(&mut self) {
                if self.1 {
                    let s = self.0.clone();
                    tokio::spawn(async move { s.signal_group(libc::SIGKILL).await });
                }
            }
        }
        let mut guard = KillOnDrop(spawned.signaller.clone(), true);
        let out = tokio::spawn(read_capped(spawned.stdout, EXEC_OUTPUT_CAP));
        let err = tokio::spawn(read_capped(spawned.stderr, EXEC_OUTPUT_CAP));
        let ended = tokio::time::timeout(Duration::from_millis(timeout), spawned.exit).await;
        let timed_out = ended.is_err();
        if timed_out {
            let _ = spawned.signaller.signal_group(libc::SIGKILL).await;
        }
        // Background jobs may hold the pipes; don't wait on them long.
        let drain = Duration::from_millis(150);
        let (o, o_trunc) = tokio::time::timeout(drain, out)
            .await
            .ok()
            .and_then(|r| r.ok())
            .unwrap_or_default();
        let (e, e_trunc) = tokio::time::timeout(drain, err)
            .await
            .ok()
            .and_then(|r| r.ok())
            .unwrap_or_default();
        let exit_code = match ended {
            Ok(Ok(crate::backend::Ended::Code(c))) => Some(c),
            Ok(Ok(crate::backend::Ended::Signal(s))) => Some(128 + s),
            _ => None,
        };
        guard.1 = timed_out;
        drop(guard);
        Ok(ExecResult {
            exit_code,
            stdout: String::from_utf8_lossy(&o).into_owned(),
            stderr: String::from_utf8_lossy(&e).into_owned(),
            duration_ms: started.elapsed().as_millis() as u64,
            timed_out,
            truncated: o_trunc || e_trunc,
        })
    }

    // ---- lifecycle ----------------------------------------------------

    /// SIGTERM every running process (all at once), SIGKILL after `grace`.
    async fn kill_running(&self, grace: Duration) -> usize {
        let running: Vec<Arc<Proc>> = self
            .inner
            .procs
            .lock()
            .unwrap()
            .procs
            .values()
            .filter(|p| p.is_running())
            .cloned()
            .collect();
        let kills = running.iter().map(|p| kill_proc(p, libc::SIGTERM, grace));
        futures_util::future::join_all(kills).await;
        running.len()
    }

    /// Stop everything: every process group (SIGTERM, then SIGKILL after a
    /// short grace), then the backend.
    pub async fn shutdown(&self, grace: Duration) {
        self.kill_running(grace).await;
        self.inner.backend.shutdown().await;
    }
}

async fn kill_proc(p: &Arc<Proc>, sig: i32, grace: Duration) {
    // A kill during the start applies once it has started.
    p.started().await;
    let Some(sg) = p.signaller() else {
        return;
    };
    let mut seen: HashMap<u32, String> = sg.members().await.into_iter().collect();
    if !p.is_running() && seen.is_empty() {
        return;
    }
    p.signalled.store(true, Ordering::Release);
    let _ = sg.signal_group(sig).await;
    if sig == libc::SIGKILL {
        tokio::time::timeout(Duration::from_secs(5), p.ended())
            .await
            .ok();
        return;
    }
    // Until the leader has ended and the rest of the group is gone, or the
    // grace runs out. Right after a start the signal can be lost to a race:
    // the shell catches it (dash does, for SIGINT) and goes on to fork or
    // exec its command, whose program never saw it. So in that window a
    // process that joined the group after the signal, or has exec'd another
    // program since, gets it again. (Later, a process forked by a trap is
    // the program's own business: it is left alone.)
    let racy_start = p.run().is_some_and(|r| r.spawned.elapsed() < START_RACE);
    let deadline = tokio::time::Instant::now() + grace;
    // The grace is the caller's: however slow a look at the group is (on
    // Docker each is an exec), SIGKILL goes out when it is over.
    let polite = async {
        let mut step = Duration::from_millis(5);
        loop {
            let members = sg.members().await;
            if members.is_empty() && !p.is_running() {
                return;
            }
            let fresh: Vec<u32> = members
                .into_iter()
                .filter(|(pid, comm)| seen.insert(*pid, comm.clone()).as_ref() != Some(comm))
                .map(|(pid, _)| pid)
                .collect();
            if racy_start && !fresh.is_empty() {
                sg.signal_pids(sig, &fresh).await;
            }
            let _ = tokio::time::timeout(step, p.ended()).await;
            step = (step * 2).min(Duration::from_millis(100));
        }
    };
    if tokio::time::timeout_at(deadline, polite).await.is_err() {
        let _ = sg.signal_group(libc::SIGKILL).await;
    }
    tokio::time::timeout(Duration::from_secs(5), p.ended())
        .await
        .ok();
}

async fn read_capped(
    mut r: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    cap: usize,
) -> (Vec<u8>, bool) {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut truncated = false;
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = cap.saturating_sub(out.len());
                if n > room {
                    truncated = true;
                }
                out.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    (out, truncated)
}

/// The `condition` a log wait reports (`log "Server ready"`, `log /re/`).
pub fn waits_condition(w: &WaitLog) -> String {
    waits::Pattern::parse(&w.pattern, w.regex)
        .map(|p| p.describe())
        .unwrap_or_else(|_| format!("log {:?}", w.pattern))
}

/// Byte index where the last `n` lines of `b` begin.
fn tail_cut(b: &[u8], n: usize) -> usize {
    if n == 0 {
        return b.len();
    }
    let end = if b.last() == Some(&b'\n') {
        b.len() - 1
    } else {
        b.len()
    };
    let mut seen = 0;
    for i in (0..end).rev() {
        if b[i] == b'\n' {
            seen += 1;
            if seen == n {
                return i + 1;
            }
        }
    }
    0
}

fn parse_cursor(c: &str) -> Result<(u64, u64)> {
    let bad = || EngineError::invalid(format!("since: {c:?} is not a cursor this server gave"));
    let (a, b) = c.split_once('-').ok_or_else(bad)?;
    Ok((a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?))
}

pub(crate) fn check_timeout(ms: u64) -> Result<u64> {
    if ms == 0 || ms > MAX_TIMEOUT_MS {
        return Err(EngineError::invalid(format!(
            "timeout must be between 1 and {MAX_TIMEOUT_MS} ms, got {ms}"
        )));
    }
    Ok(ms)
}

fn check_env(env: &std::collections::BTreeMap<String, String>) -> Result<()> {
    for (k, v) in env {
        if k.is_empty() || k.contains('=') || k.contains('\0') || v.contains('\0') {
            return Err(EngineError::invalid(format!(
                "env: {k:?} is not a valid variable"
            )));
        }
    }
    Ok(())
}

fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c));
    if ok {
        Ok(())
    } else {
        Err(EngineError::invalid(format!(
            "processId {id:?} must be 1-128 characters of [A-Za-z0-9_.:-]"
        )))
    }
}

fn new_process_id() -> String {
    format!("proc_{}", random_string(12))
}
