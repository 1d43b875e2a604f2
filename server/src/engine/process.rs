//! One process of the sandbox: its fixed facts, its changing state, its
//! output buffers, and the tasks that feed them.

use super::logs::StreamBuf;
use super::types::{Event, ProcessInfo, Status, Stream};
use crate::backend::{signal_name, Ended, Signaller};
use bytes::{Bytes, BytesMut};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{broadcast, watch};

const READ_CHUNK: usize = 1024 * 1024;
/// After the leader ends, how long its output may still drain before the
/// end is published (background jobs can hold the pipes open for ever).
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(150);

#[derive(Debug, Clone)]
pub struct State {
    pub status: Status,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    pub ended_at: Option<String>,
}

pub struct Proc {
    pub id: String,
    pub name: Option<String>,
    pub command: String,
    /// The working directory asked for (host path), shown until the backend
    /// says how it shows it.
    cwd: String,
    pub started_at: String,
    pub seq: u64,
    pub state: Mutex<State>,
    /// stdout, stderr.
    pub bufs: Mutex<[StreamBuf; 2]>,
    /// Bumped on every output chunk and state change; waits watch it.
    pub changed: watch::Sender<u64>,
    /// Set once the backend has spawned it (status leaves `starting`).
    run: OnceLock<Run>,
    /// The server sent it a signal (so its end is `killed`).
    pub signalled: AtomicBool,
    open_streams: AtomicU8,
    /// Its place among the ended processes (0: not ended yet); the engine's
    /// retention bound forgets the lowest first.
    pub(crate) end_order: AtomicU64,
}

/// What a process has once it runs.
pub struct Run {
    pub pid: Option<u32>,
    pub cwd_display: String,
    pub signaller: Arc<dyn Signaller>,
    /// When it was spawned (monotonic), for the start-up kill race.
    pub spawned: std::time::Instant,
}

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl Proc {
    /// A process being spawned: status `starting`, no output yet.
    pub fn starting(
        id: String,
        name: Option<String>,
        command: String,
        cwd: String,
        seq: u64,
        log_cap: usize,
    ) -> Self {
        Proc {
            id,
            name,
            command,
            cwd,
            started_at: now_rfc3339(),
            seq,
            state: Mutex::new(State {
                status: Status::Starting,
                exit_code: None,
                signal: None,
                ended_at: None,
            }),
            bufs: Mutex::new([StreamBuf::new(log_cap), StreamBuf::new(log_cap)]),
            changed: watch::channel(0).0,
            run: OnceLock::new(),
            signalled: AtomicBool::new(false),
            open_streams: AtomicU8::new(2),
            end_order: AtomicU64::new(0),
        }
    }

    /// The backend spawned it: it runs now.
    pub fn set_running(&self, run: Run) {
        let _ = self.run.set(run);
        {
            let mut st = self.state.lock().unwrap();
            if st.status == Status::Starting {
                st.status = Status::Running;
            }
        }
        self.bump();
    }

    /// The backend could not spawn it: it ended as `error`, with no output.
    pub fn set_failed(&self) {
        {
            let mut st = self.state.lock().unwrap();
            st.status = Status::Error;
            st.ended_at = Some(now_rfc3339());
        }
        self.bufs
            .lock()
            .unwrap()
            .iter_mut()
            .for_each(|b| b.closed = true);
        self.open_streams.store(0, Ordering::Release);
        self.bump();
    }

    pub fn run(&self) -> Option<&Run> {
        self.run.get()
    }

    pub fn signaller(&self) -> Option<Arc<dyn Signaller>> {
        self.run.get().map(|r| r.signaller.clone())
    }

    pub fn pid(&self) -> Option<u32> {
        self.run.get().and_then(|r| r.pid)
    }

    pub fn info(&self) -> ProcessInfo {
        let st = self.state.lock().unwrap().clone();
        ProcessInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            pid: self.pid(),
            command: self.command.clone(),
            cwd: self
                .run
                .get()
                .map(|r| r.cwd_display.clone())
                .unwrap_or_else(|| self.cwd.clone()),
            status: st.status,
            exit_code: st.exit_code,
            signal: st.signal,
            started_at: self.started_at.clone(),
            ended_at: st.ended_at,
            listening_ports: None,
        }
    }

    /// Resolves once it has left `starting` (at once if it has).
    pub async fn started(&self) {
        let mut rx = self.changed.subscribe();
        while self.state.lock().unwrap().status == Status::Starting {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Bytes its logs hold now.
    pub fn log_bytes(&self) -> usize {
        self.bufs.lock().unwrap().iter().map(|b| b.len()).sum()
    }

    /// Running or starting: not ended.
    pub fn is_running(&self) -> bool {
        !self.state.lock().unwrap().status.is_ended()
    }

    pub fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    pub fn streams_closed(&self) -> bool {
        self.open_streams.load(Ordering::Acquire) == 0
    }

    /// Resolves once the process has ended (immediately if it has).
    pub async fn ended(&self) {
        let mut rx = self.changed.subscribe();
        loop {
            if !self.is_running() {
                return;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Last `n` lines of stdout, then of stderr, for error context.
    pub fn log_tail(&self, n: usize) -> Vec<String> {
        let bufs = self.bufs.lock().unwrap();
        let mut out = Vec::new();
        for b in bufs.iter() {
            let t = b.tail_lines(n);
            let text = String::from_utf8_lossy(&t.bytes);
            out.extend(text.lines().map(str::to_owned));
        }
        out
    }
}

/// Copy one pipe into the process's buffer until end of file. Never waits on
/// subscribers: events only say "there is more", readers pull from the buffer.
pub async fn pump(
    proc: Arc<Proc>,
    stream: Stream,
    mut r: Box<dyn AsyncRead + Send + Unpin>,
    events: broadcast::Sender<Event>,
) {
    let idx = stream as usize;
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    loop {
        if buf.capacity() < READ_CHUNK / 4 {
            buf = BytesMut::with_capacity(READ_CHUNK);
        }
        match r.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                // A chunk that fills most of the read buffer keeps it (no
                // copy, little waste); a smaller one is copied out, so that
                // kept output never pins a mostly empty 1 MiB buffer.
                let chunk = if n >= READ_CHUNK / 2 {
                    buf.split().freeze()
                } else {
                    let c = Bytes::copy_from_slice(&buf[..n]);
                    buf.clear();
                    c
                };
                proc.bufs.lock().unwrap()[idx].push(chunk);
                proc.bump();
                let _ = events.send(Event::Output {
                    process_id: proc.id.clone(),
                    stream,
                });
            }
        }
    }
    drop(buf);
    proc.bufs.lock().unwrap()[idx].closed = true;
    proc.open_streams.fetch_sub(1, Ordering::AcqRel);
    proc.bump();
    // The last partial line (no trailing newline) is now complete.
    let _ = events.send(Event::Output {
        process_id: proc.id.clone(),
        stream,
    });
}

/// Wait for the process to end, let its output drain, publish the end.
pub async fn watch_exit(
    proc: Arc<Proc>,
    exit: futures_util::future::BoxFuture<'static, std::io::Result<Ended>>,
    events: broadcast::Sender<Event>,
) {
    let ended = exit.await;
    let deadline = tokio::time::Instant::now() + DRAIN_AFTER_EXIT;
    let mut rx = proc.changed.subscribe();
    while !proc.streams_closed() {
        if tokio::time::timeout_at(deadline, rx.changed())
            .await
            .is_err()
        {
            break;
        }
    }
    let signalled = proc.signalled.load(Ordering::Acquire);
    {
        let mut st = proc.state.lock().unwrap();
        st.ended_at = Some(now_rfc3339());
        match ended {
            Ok(Ended::Code(c)) => {
                st.exit_code = Some(c);
                st.status = if signalled || c == 137 || c == 143 {
                    Status::Killed
                } else if c == 0 {
                    Status::Completed
                } else {
                    Status::Failed
                };
            }
            Ok(Ended::Signal(s)) => {
                st.signal = Some(signal_name(s));
                // SIGKILL/SIGTERM from elsewhere (the OOM killer, a container
                // stop) is a kill too, as exit 137/143 is.
                st.status = if signalled || s == libc::SIGKILL || s == libc::SIGTERM {
                    Status::Killed
                } else {
                    Status::Failed
                };
            }
            Err(e) => {
                tracing::warn!(process = %proc.id, "lost track of the process: {e}");
                st.status = Status::Error;
            }
        }
    }
    proc.bump();
    let _ = events.send(Event::ProcessChanged(proc.info()));
}
