//! The local backend: processes on this machine, each tree in its own
//! process group.
//!
//! Nothing outlives the server, however it ends:
//! - a clean stop signals every group ([`Backend::shutdown`]);
//! - each direct child gets `PR_SET_PDEATHSIG(SIGKILL)`;
//! - a watchdog (`/bin/sh`, its stdin a pipe from the server) learns every
//!   process group as it is made; when the server dies, even by SIGKILL,
//!   the pipe closes and the watchdog kills each group still registered;
//! - a group is unregistered (from the server and the watchdog) as soon as
//!   it is empty, before its number can be reused: nothing ever signals a
//!   group that is no longer this server's;
//! - with `subreaper`, the server is the child subreaper of its tree, so
//!   orphaned grandchildren are reparented to it and reaped here instead of
//!   lingering as zombies under a slow PID 1.

use super::error::{BackendError, Result};
use super::{Backend, Conn, Ended, Signaller, SpawnSpec, Spawned};
use crate::procfs::{group_members, proc_table, read_stat};
use async_trait::async_trait;
use process_wrap::tokio::{ProcessGroup, TokioCommandWrap};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const WATCHDOG: &str = r#"trap '' INT TERM HUP QUIT PIPE
set -f
groups=" "
while IFS= read -r line; do
  case "$line" in
    +*) groups="$groups${line#+} " ;;
    -*) g="${line#-}"
        case "$groups" in *" $g "*) groups="${groups%% $g *} ${groups#* $g }" ;; esac ;;
    '?') echo "$groups" ;;
  esac
done
for g in $groups; do kill -KILL -"$g" 2>/dev/null; done
"#;

/// Pipe capacity asked for each child's stdout and stderr (the default
/// /proc/sys/fs/pipe-max-size; a lower limit leaves the default 64 KiB).
const PIPE_SIZE: libc::c_int = 1024 * 1024;

pub struct LocalOptions {
    /// Start the watchdog that kills every group if the server dies.
    pub watchdog: bool,
    /// Make this process the child subreaper of its tree and reap orphans.
    pub subreaper: bool,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            watchdog: true,
            subreaper: true,
        }
    }
}

pub struct LocalBackend {
    shared: Arc<Shared>,
    reaper: Option<tokio::task::JoinHandle<()>>,
}

struct Shared {
    /// Groups of this server: made by it and not empty yet.
    groups: Mutex<HashMap<i32, Arc<Group>>>,
    watchdog: tokio::sync::Mutex<Option<Watchdog>>,
    subreaper: bool,
}

/// A process group this server made.
struct Group {
    pgid: i32,
    /// Still this server's: not seen empty yet. Once false, its number may
    /// belong to someone else and is never signalled again.
    ours: std::sync::atomic::AtomicBool,
}

impl Group {
    fn is_ours(&self) -> bool {
        self.ours.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// Whether no process is left in the group (kill(2) with signal 0 only
/// checks; no /proc scan).
fn group_is_empty(pgid: i32) -> bool {
    // SAFETY: signal 0 sends nothing; it only checks that the group exists.
    let r = unsafe { libc::kill(-pgid, 0) };
    r != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

impl Shared {
    async fn tell_watchdog(&self, line: String) {
        let mut w = self.watchdog.lock().await;
        if let Some(w) = w.as_mut() {
            if let Err(e) = w.stdin.write_all(line.as_bytes()).await {
                tracing::warn!("watchdog unreachable: {e}");
            }
        }
    }

    /// The group is empty: it is no longer ours, anywhere.
    async fn unregister(&self, g: &Arc<Group>) {
        g.ours.store(false, std::sync::atomic::Ordering::Release);
        {
            let mut groups = self.groups.lock().unwrap();
            if groups.get(&g.pgid).is_some_and(|h| Arc::ptr_eq(h, g)) {
                groups.remove(&g.pgid);
            }
        }
        self.tell_watchdog(format!("-{}\n", g.pgid)).await;
    }

    /// The leader has ended: unregister the group once it is empty (at once,
    /// or when its background jobs are gone).
    async fn release_when_empty(self: Arc<Self>, g: Arc<Group>) {
        let mut step = Duration::from_millis(20);
        while g.is_ours() && !group_is_empty(g.pgid) {
            tokio::time::sleep(step).await;
            step = (step * 2).min(Duration::from_secs(1));
        }
        if g.is_ours() {
            self.unregister(&g).await;
        }
    }
}

/// Pids that tokio waits for itself, of every local backend of this process
/// (children are per process, not per backend); the orphan reaper leaves them
/// alone.
static OWN_CHILDREN: std::sync::LazyLock<Mutex<HashSet<u32>>> =
    std::sync::LazyLock::new(|| Mutex::new(HashSet::new()));

struct Watchdog {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::io::BufReader<tokio::process::ChildStdout>,
}

impl LocalBackend {
    pub fn new(opts: LocalOptions) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            groups: Mutex::new(HashMap::new()),
            watchdog: tokio::sync::Mutex::new(None),
            subreaper: opts.subreaper,
        });
        if opts.watchdog {
            let mut cmd = tokio::process::Command::new("/bin/sh");
            cmd.arg("-c")
                .arg(WATCHDOG)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .process_group(0);
            let mut own = OWN_CHILDREN.lock().unwrap();
            let mut child = cmd.spawn()?;
            if let Some(pid) = child.id() {
                own.insert(pid);
            }
            drop(own);
            let stdin = child.stdin.take().expect("piped stdin");
            let stdout = tokio::io::BufReader::new(child.stdout.take().expect("piped stdout"));
            *shared.watchdog.try_lock().expect("new") = Some(Watchdog {
                child,
                stdin,
                stdout,
            });
        }
        let mut reaper = None;
        if opts.subreaper {
            // SAFETY: prctl with integer arguments only.
            let ok = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } == 0;
            // Only when a child has ended (SIGCHLD), and off the runtime's
            // workers: nothing is scanned while nothing ends.
            let chld = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child());
            if let (true, Ok(mut chld)) = (ok, chld) {
                let shared = shared.clone();
                reaper = Some(tokio::spawn(async move {
                    while chld.recv().await.is_some() {
                        // Coalesce a burst of ends into one pass.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        let s = shared.clone();
                        let _ = tokio::task::spawn_blocking(move || reap_orphans(&s)).await;
                    }
                }));
            }
        }
        Ok(LocalBackend { shared, reaper })
    }

    /// The process groups the server holds as its own now.
    pub fn registered_groups(&self) -> Vec<i32> {
        let mut v: Vec<i32> = self.shared.groups.lock().unwrap().keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// The groups the watchdog would kill if the server died now, as the
    /// watchdog itself lists them (`None` without a watchdog).
    pub async fn watchdog_groups(&self) -> Option<Vec<i32>> {
        use tokio::io::AsyncBufReadExt;
        let mut w = self.shared.watchdog.lock().await;
        let w = w.as_mut()?;
        w.stdin.write_all(b"?\n").await.ok()?;
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(5), w.stdout.read_line(&mut line))
            .await
            .ok()?
            .ok()?;
        let mut v: Vec<i32> = line
            .split_ascii_whitespace()
            .filter_map(|g| g.parse().ok())
            .collect();
        v.sort_unstable();
        Some(v)
    }
}

/// Reap zombies reparented to us (we are their subreaper), leaving the
/// children tokio waits for alone.
fn reap_orphans(shared: &Shared) {
    if !shared.subreaper {
        return;
    }
    // Held throughout: a child spawned meanwhile is registered before it
    // can be mistaken for an orphan.
    let own = OWN_CHILDREN.lock().unwrap();
    for p in children() {
        if p.state == 'Z' && !own.contains(&p.pid) {
            let mut status = 0;
            // SAFETY: waitpid on a specific zombie child, non-blocking.
            unsafe { libc::waitpid(p.pid as i32, &mut status, libc::WNOHANG) };
        }
    }
}

/// This process's children: from its `children` files where the kernel has
/// them (a few reads), else from a scan of /proc.
fn children() -> Vec<crate::procfs::ProcEntry> {
    match crate::procfs::own_children() {
        Some(pids) => pids.into_iter().filter_map(read_stat).collect(),
        None => {
            let me = std::process::id();
            proc_table().into_iter().filter(|p| p.ppid == me).collect()
        }
    }
}

struct GroupSignaller {
    pgid: i32,
    group: Option<Arc<Group>>,
}

impl GroupSignaller {
    fn ours(&self) -> bool {
        self.group.as_ref().is_some_and(|g| g.is_ours())
    }
}

#[async_trait]
impl Signaller for GroupSignaller {
    async fn signal_group(&self, sig: i32) -> std::io::Result<()> {
        if !self.ours() {
            // Empty, so its number may be someone else's by now.
            return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
        }
        // SAFETY: kill(2) with a negative pid signals the process group.
        if unsafe { libc::kill(-self.pgid, sig) } == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    async fn members(&self) -> Vec<(u32, String)> {
        if !self.ours() {
            return Vec::new();
        }
        let pgid = self.pgid;
        tokio::task::spawn_blocking(move || group_members(pgid))
            .await
            .unwrap_or_default()
    }

    async fn signal_pids(&self, sig: i32, pids: &[u32]) {
        if !self.ours() {
            return;
        }
        for &p in pids {
            // SAFETY: kill(2) of a process we saw in our group.
            unsafe { libc::kill(p as i32, sig) };
        }
    }
}

#[async_trait]
impl Backend for LocalBackend {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn spawn(&self, spec: SpawnSpec) -> Result<Spawned> {
        let cwd_display = spec.cwd.display().to_string();
        let mut wrap = TokioCommandWrap::with_new("/bin/sh", |c| {
            c.arg("-c")
                .arg(&spec.command)
                .current_dir(&spec.cwd)
                .envs(&spec.env)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            // SAFETY: only async-signal-safe prctl between fork and exec.
            unsafe {
                c.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
                    Ok(())
                });
            }
        });
        wrap.wrap(ProcessGroup::leader());
        let (mut child, pid) = {
            let mut own = OWN_CHILDREN.lock().unwrap();
            let child = wrap
                .spawn()
                .map_err(|e| BackendError::Failed(format!("could not start /bin/sh: {e}")))?;
            let pid = child.id();
            if let Some(pid) = pid {
                own.insert(pid);
            }
            (child, pid)
        };
        let stdout = child.stdout().take().expect("piped stdout");
        let stderr = child.stderr().take().expect("piped stderr");
        {
            use std::os::fd::AsRawFd;
            // Larger pipes: fewer wake-ups of writer and reader under heavy
            // output. Unprivileged users past their pipe quota keep 64 KiB.
            for fd in [stdout.as_raw_fd(), stderr.as_raw_fd()] {
                // SAFETY: fcntl on pipe fds we own; failure leaves the default size.
                unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, PIPE_SIZE) };
            }
        }
        let pgid = pid.unwrap_or(0) as i32;
        let group = pid.map(|_| {
            Arc::new(Group {
                pgid,
                ours: true.into(),
            })
        });
        if let Some(g) = &group {
            self.shared.groups.lock().unwrap().insert(pgid, g.clone());
            self.shared.tell_watchdog(format!("+{pgid}\n")).await;
        }
        let shared = self.shared.clone();
        let released = group.clone();
        let exit = Box::pin(async move {
            // The leader only (tokio's wait): process-wrap's group wait would
            // also block until every background job of the group is gone.
            let status = child.inner_mut().wait().await;
            // The leader is reaped; the group may live on (background jobs):
            // it stays registered until it is empty.
            if let Some(pid) = pid {
                OWN_CHILDREN.lock().unwrap().remove(&pid);
            }
            if let Some(g) = released {
                if group_is_empty(g.pgid) {
                    shared.unregister(&g).await;
                } else {
                    tokio::spawn(shared.release_when_empty(g));
                }
            }
            let status = status?;
            use std::os::unix::process::ExitStatusExt;
            Ok(match (status.code(), status.signal()) {
                (Some(c), _) => Ended::Code(c),
                (None, Some(s)) => Ended::Signal(s),
                (None, None) => Ended::Code(-1),
            })
        });
        Ok(Spawned {
            pid,
            cwd_display,
            stdout: Box::new(stdout),
            stderr: Box::new(stderr),
            signaller: Arc::new(GroupSignaller { pgid, group }),
            exit,
        })
    }

    async fn connect(&self, port: u16) -> std::io::Result<Conn> {
        let v4 = TcpStream::connect(("127.0.0.1", port)).await;
        let s = match v4 {
            Ok(s) => s,
            Err(e4) => match TcpStream::connect(("::1", port)).await {
                Ok(s) => s,
                Err(_) => return Err(e4),
            },
        };
        let _ = s.set_nodelay(true);
        Ok(Box::new(super::quickack::QuickAck::new(s)))
    }

    async fn listening_ports(&self, pids: &[u32]) -> BTreeMap<u32, Vec<u16>> {
        if pids.is_empty() {
            return BTreeMap::new();
        }
        let pids = pids.to_vec();
        tokio::task::spawn_blocking(move || crate::procfs::listening_ports(&pids))
            .await
            .unwrap_or_default()
    }

    async fn shutdown(&self) {
        // Only groups still ours (not seen empty): their numbers cannot have
        // been reused.
        let held: Vec<Arc<Group>> = self
            .shared
            .groups
            .lock()
            .unwrap()
            .drain()
            .map(|(_, g)| g)
            .collect();
        let groups: Vec<i32> = held.iter().map(|g| g.pgid).collect();
        for g in &held {
            if g.is_ours() {
                // SAFETY: see GroupSignaller.
                unsafe { libc::kill(-g.pgid, libc::SIGKILL) };
            }
            g.ours.store(false, std::sync::atomic::Ordering::Release);
        }
        if let Some(mut w) = self.shared.watchdog.lock().await.take() {
            drop(w.stdin);
            let _ = tokio::time::timeout(Duration::from_secs(2), w.child.wait()).await;
        }
        if let Some(r) = &self.reaper {
            r.abort();
        }
        // Reap what the kills left behind (our children and adopted orphans).
        if groups.is_empty() {
            return;
        }
        for _ in 0..20 {
            let s = self.shared.clone();
            let groups = groups.clone();
            let left = tokio::task::spawn_blocking(move || {
                reap_orphans(&s);
                children().iter().any(|p| groups.contains(&p.pgrp))
            })
            .await
            .unwrap_or(false);
            if !left {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for LocalBackend {
    fn drop(&mut self) {
        if let Some(r) = &self.reaper {
            r.abort();
        }
    }
}
