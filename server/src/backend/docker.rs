//! The Docker backend: one container per sandbox, driven through the Docker
//! Engine API (bollard).
//!
//! The container's PID 1 is the sandport agent ([`super::agent`]); every
//! operation is a `docker exec` of the agent whose standard streams carry the
//! data: a process's output, a TCP connection to a port (relayed by the
//! agent from inside the container's network namespace, so services bound to
//! 127.0.0.1 are reachable and the container needs no routable address or
//! published port), a signal, a readiness probe. That works the same with a
//! local socket, a remote engine over TLS, or Docker Desktop.
//!
//! Lifetime: a new container per server session. Leftovers (same sandbox id,
//! or a dead owner on this host) are removed when the backend starts. A
//! "lifeline" exec holds the agent's stdin; when the server goes away by any
//! means the agent stops the container (removed too when `remove_on_exit`).

use super::agent::MARK;
use super::bundle::{bundle_of, AgentBundle};
use super::error::{BackendError, Result};
use super::{Backend, Conn, Ended, Signaller, SpawnSpec, Spawned};
use async_trait::async_trait;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, EventsOptionsBuilder, ListContainersOptionsBuilder,
    RemoveContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use bollard::Docker;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::oneshot;

/// Used when `docker.image` is not set. Any image works that has `/bin/sh`
/// (commands are shell lines); the agent brings everything else.
pub const DEFAULT_IMAGE: &str = "debian:bookworm-slim";
const WORKSPACE: &str = "/workspace";
/// Buffer between the exec's demultiplexed stream and the engine's reader.
const OUTPUT_PIPE: usize = 1024 * 1024;
const LABEL: &str = "dev.sandport";
const LABEL_SANDBOX: &str = "dev.sandport.sandbox";
const LABEL_OWNER: &str = "dev.sandport.owner";

#[derive(Debug, Clone)]
pub struct DockerOptions {
    pub image: String,
    /// `unix:///…`, `tcp://host:port` (TLS with DOCKER_CERT_PATH /
    /// DOCKER_TLS_VERIFY), or None for DOCKER_HOST / the local socket.
    pub host: Option<String>,
    /// `host:container[:ro]`, besides the workspace at /workspace.
    pub mounts: Vec<String>,
    pub sandbox_id: String,
    /// The sandport binary to run inside the container as the agent, static
    /// or dynamic (default: `$SANDPORT_AGENT`, else this executable).
    pub agent: Option<PathBuf>,
    pub memory_bytes: Option<i64>,
    pub nano_cpus: Option<i64>,
    /// Remove the container when the session ends (else leave it stopped,
    /// for inspection, until the next start cleans it).
    pub remove_on_exit: bool,
    /// With a local engine, reach ports through the agent's TCP relay at the
    /// container's address when it answers (else, and for remote engines,
    /// every connection is a `docker exec`).
    pub tcp_relay: bool,
}

impl DockerOptions {
    pub fn new(sandbox_id: impl Into<String>) -> Self {
        DockerOptions {
            image: DEFAULT_IMAGE.into(),
            host: None,
            mounts: Vec::new(),
            sandbox_id: sandbox_id.into(),
            agent: None,
            memory_bytes: None,
            nano_cpus: None,
            remove_on_exit: true,
            tcp_relay: true,
        }
    }
}

type Exits = Arc<Mutex<HashMap<String, oneshot::Sender<Ended>>>>;

pub struct DockerBackend {
    docker: Docker,
    opts: DockerOptions,
    root: PathBuf,
    agent: Arc<AgentBundle>,
    /// The engine is on this machine (a unix socket): bind-mount the agent's
    /// files (read-only) instead of uploading them.
    local_engine: bool,
    live: tokio::sync::Mutex<Option<Live>>,
    exits: Exits,
    notices: tokio::sync::broadcast::Sender<String>,
}

struct Live {
    id: String,
    lifeline: Pin<Box<dyn AsyncWrite + Send>>,
    /// The agent's TCP relay at the container's address and its token, when
    /// this machine reaches it (a local engine); else every connection is an
    /// exec.
    fast: Option<(std::net::SocketAddr, String)>,
    _relay: Option<LogStream>,
    events: tokio::task::JoinHandle<()>,
    gone: Arc<std::sync::atomic::AtomicBool>,
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> BackendError {
    BackendError::Unavailable(format!(
        "{what}: {e}. Is the Docker engine running? Start it (e.g. `systemctl start docker` or `dockerd`), \
or point sandport.docker.host (or DOCKER_HOST) at a reachable engine"
    ))
}

fn map_err(what: &str, e: bollard::errors::Error) -> BackendError {
    use bollard::errors::Error as E;
    match e {
        E::DockerResponseServerError {
            status_code,
            message,
        } if status_code < 500 => BackendError::Failed(format!("{what}: {message}")),
        other => unavailable(what, other),
    }
}

/// Connect to the engine named by `host` (or the environment's default).
pub fn connect_engine(host: Option<&str>) -> Result<(Docker, bool)> {
    let host = host
        .map(str::to_string)
        .or_else(|| std::env::var("DOCKER_HOST").ok())
        .unwrap_or_else(|| "unix:///var/run/docker.sock".into());
    let v = bollard::API_DEFAULT_VERSION;
    let r = if let Some(path) = host.strip_prefix("unix://") {
        Docker::connect_with_unix(path, 120, v).map(|d| (d, true))
    } else if host.starts_with("tcp://")
        || host.starts_with("https://")
        || host.starts_with("http://")
    {
        let tls = host.starts_with("https://")
            || std::env::var("DOCKER_TLS_VERIFY").is_ok_and(|v| !v.is_empty() && v != "0");
        if tls {
            let dir = std::env::var("DOCKER_CERT_PATH")
                .map(PathBuf::from)
                .unwrap_or_else(|_| {
                    PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".docker")
                });
            Docker::connect_with_ssl(
                &host,
                &dir.join("key.pem"),
                &dir.join("cert.pem"),
                &dir.join("ca.pem"),
                120,
                v,
            )
            .map(|d| (d, false))
        } else {
            Docker::connect_with_http(&host, 120, v).map(|d| (d, false))
        }
    } else {
        return Err(BackendError::Invalid(format!(
            "docker.host {host:?}: expected unix://PATH or tcp://HOST:PORT"
        )));
    };
    r.map_err(|e| unavailable(&format!("cannot use the Docker engine at {host}"), e))
}

/// The agent: `docker.agentPath`, else `$SANDPORT_AGENT`, else this very
/// executable; static or dynamic (see [`super::bundle`]).
fn find_agent(explicit: Option<&Path>) -> Result<AgentBundle> {
    let chosen = explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("SANDPORT_AGENT").map(PathBuf::from));
    if let Some(p) = chosen {
        return bundle_of(&p).map_err(|e| {
            BackendError::Unavailable(format!(
                "the agent for the docker backend (docker.agentPath or SANDPORT_AGENT, a sandport binary): {e}"
            ))
        });
    }
    let me = std::env::current_exe()
        .map_err(|e| BackendError::Unavailable(format!("cannot find this executable: {e}")))?;
    bundle_of(&me).map_err(|e| {
        BackendError::Unavailable(format!(
            "cannot prepare this sandport to run inside the container: {e}; \
set docker.agentPath (or SANDPORT_AGENT) to a sandport binary"
        ))
    })
}

impl DockerBackend {
    /// Connect, negotiate the API version, find the agent. The container is
    /// made on first use.
    pub async fn new(opts: DockerOptions, workspace_root: &Path) -> Result<DockerBackend> {
        let (docker, local_engine) = connect_engine(opts.host.as_deref())?;
        let docker = tokio::time::timeout(Duration::from_secs(10), docker.negotiate_version())
            .await
            .map_err(|_| unavailable("the Docker engine did not answer", "timed out"))?
            .map_err(|e| unavailable("cannot reach the Docker engine", e))?;
        let agent = Arc::new(find_agent(opts.agent.as_deref())?);
        let root = workspace_root
            .canonicalize()
            .map_err(|e| BackendError::Invalid(format!("workspace: {e}")))?;
        let b = DockerBackend {
            docker,
            opts,
            root,
            agent,
            local_engine,
            live: tokio::sync::Mutex::new(None),
            exits: Arc::new(Mutex::new(HashMap::new())),
            notices: tokio::sync::broadcast::channel(16).0,
        };
        b.clean_leftovers().await?;
        Ok(b)
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Id of the running container (made if needed).
    pub async fn container_id(&self) -> Result<String> {
        let mut live = self.live.lock().await;
        if let Some(l) = live.as_ref() {
            if !l.gone.load(std::sync::atomic::Ordering::Acquire) {
                return Ok(l.id.clone());
            }
            l.events.abort();
        }
        *live = None;
        let l = self.create().await?;
        let id = l.id.clone();
        *live = Some(l);
        Ok(id)
    }

    /// Remove containers of this sandbox, and sandport containers whose
    /// owner (on this host) is dead.
    async fn clean_leftovers(&self) -> Result<()> {
        let mut filters = HashMap::new();
        filters.insert("label".to_string(), vec![LABEL.to_string()]);
        let list = self
            .docker
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(|e| map_err("cannot list containers", e))?;
        let host = hostname();
        for c in list {
            let labels = c.labels.unwrap_or_default();
            let same_sandbox = labels.get(LABEL_SANDBOX) == Some(&self.opts.sandbox_id);
            let dead_owner = labels
                .get(LABEL_OWNER)
                .and_then(|o| o.rsplit_once(':'))
                .is_some_and(|(h, pid)| {
                    h == host
                        && pid
                            .parse::<u32>()
                            .is_ok_and(|p| !Path::new(&format!("/proc/{p}")).exists())
                });
            if same_sandbox || dead_owner {
                if let Some(id) = c.id {
                    let _ = self
                        .docker
                        .remove_container(
                            &id,
                            Some(RemoveContainerOptionsBuilder::default().force(true).build()),
                        )
                        .await;
                }
            }
        }
        Ok(())
    }

    async fn create(&self) -> Result<Live> {
        self.clean_leftovers().await?;
        let mut binds = vec![format!("{}:{WORKSPACE}", self.root.display())];
        if self.local_engine {
            for (host, inside) in &self.agent.files {
                binds.push(format!("{}:{inside}:ro", host.display()));
            }
        }
        for m in &self.opts.mounts {
            if m.split(':').count() < 2 {
                return Err(BackendError::Invalid(format!(
                    "docker.mounts: {m:?} is not host:container[:ro]"
                )));
            }
            binds.push(m.clone());
        }
        let mut labels = HashMap::new();
        labels.insert(LABEL.to_string(), "1".to_string());
        labels.insert(LABEL_SANDBOX.to_string(), self.opts.sandbox_id.clone());
        labels.insert(
            LABEL_OWNER.to_string(),
            format!("{}:{}", hostname(), std::process::id()),
        );
        let body = ContainerCreateBody {
            image: Some(self.opts.image.clone()),
            entrypoint: Some(self.agent.command(&["init"])),
            cmd: None,
            working_dir: Some(WORKSPACE.into()),
            labels: Some(labels),
            host_config: Some(HostConfig {
                binds: Some(binds),
                auto_remove: Some(self.opts.remove_on_exit),
                memory: self.opts.memory_bytes,
                nano_cpus: self.opts.nano_cpus,
                init: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        };
        let name = format!(
            "sandport-{}-{}",
            self.opts.sandbox_id,
            super::random_string(6)
        );
        let created = self
            .docker
            .create_container(
                Some(CreateContainerOptionsBuilder::default().name(&name).build()),
                body,
            )
            .await
            .map_err(|e| {
                map_err(
                    &format!("cannot create a container from {:?}", self.opts.image),
                    e,
                )
            })?;
        let id = created.id;
        if !self.local_engine {
            self.upload_agent(&id).await?;
        }
        self.docker
            .start_container(&id, None)
            .await
            .map_err(|e| map_err("cannot start the sandbox container", e))?;
        let gone = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let events = self.watch_events(&id, gone.clone());
        let (lifeline, _out) = self
            .exec_attached(&id, &["lifeline"], true, None, None)
            .await?;
        let (fast, relay) = if self.local_engine && self.opts.tcp_relay {
            self.start_relay(&id).await
        } else {
            (None, None)
        };
        Ok(Live {
            id,
            lifeline,
            fast,
            _relay: relay,
            events,
            gone,
        })
    }

    /// Start the agent's relay and check that this machine reaches it at the
    /// container's address. Any failure leaves the exec path alone in use.
    async fn start_relay(
        &self,
        id: &str,
    ) -> (Option<(std::net::SocketAddr, String)>, Option<LogStream>) {
        let token = super::random_string(32);
        let Ok((_in, mut out)) = self
            .exec_attached(id, &["relay", &token], false, None, None)
            .await
        else {
            return (None, None);
        };
        let port = match tokio::time::timeout(Duration::from_secs(5), agent_status(&mut out)).await
        {
            Ok(Some((line, _, _))) => line
                .strip_prefix("relay=")
                .and_then(|p| p.parse::<u16>().ok()),
            _ => None,
        };
        let Some(port) = port else {
            return (None, Some(out));
        };
        let ip = match self.docker.inspect_container(id, None).await {
            Ok(c) => c
                .network_settings
                .and_then(|n| n.networks)
                .and_then(|nets| {
                    nets.values()
                        .filter_map(|n| n.ip_address.clone())
                        .find(|ip| !ip.is_empty())
                }),
            Err(_) => None,
        };
        let Some(addr) = ip
            .and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
            .map(|ip| std::net::SocketAddr::new(ip, port))
        else {
            return (None, Some(out));
        };
        let reachable =
            tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr))
                .await
                .is_ok_and(|r| r.is_ok());
        (reachable.then_some((addr, token)), Some(out))
    }

    async fn fast_path(&self) -> Option<(std::net::SocketAddr, String)> {
        self.live.lock().await.as_ref().and_then(|l| l.fast.clone())
    }

    async fn upload_agent(&self, id: &str) -> Result<()> {
        let mut tar = tar::Builder::new(Vec::new());
        for (host, inside) in &self.agent.files {
            let bin = tokio::fs::read(host).await.map_err(|e| {
                BackendError::Failed(format!("cannot read the agent's {}: {e}", host.display()))
            })?;
            let mut h = tar::Header::new_gnu();
            h.set_size(bin.len() as u64);
            h.set_mode(0o755);
            h.set_cksum();
            tar.append_data(&mut h, inside.trim_start_matches('/'), &bin[..])
                .map_err(|e| BackendError::Failed(format!("agent archive: {e}")))?;
        }
        let data = tar
            .into_inner()
            .map_err(|e| BackendError::Failed(format!("agent archive: {e}")))?;
        self.docker
            .upload_to_container(
                id,
                Some(UploadToContainerOptionsBuilder::default().path("/").build()),
                bollard::body_full(Bytes::from(data)),
            )
            .await
            .map_err(|e| map_err("cannot copy the agent into the container", e))
    }

    /// Exec ends (exec_die) and the container's own end, from the event stream.
    fn watch_events(
        &self,
        id: &str,
        gone: Arc<std::sync::atomic::AtomicBool>,
    ) -> tokio::task::JoinHandle<()> {
        let docker = self.docker.clone();
        let exits = self.exits.clone();
        let notices = self.notices.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            let mut filters = HashMap::new();
            filters.insert("container".to_string(), vec![id.clone()]);
            filters.insert("type".to_string(), vec!["container".to_string()]);
            let mut events = docker.events(Some(
                EventsOptionsBuilder::default().filters(&filters).build(),
            ));
            while let Some(ev) = events.next().await {
                let Ok(ev) = ev else { break };
                let action = ev.action.unwrap_or_default();
                let attrs = ev.actor.and_then(|a| a.attributes).unwrap_or_default();
                if action.starts_with("exec_die") {
                    if let (Some(exec), Some(code)) = (attrs.get("execID"), attrs.get("exitCode")) {
                        let code: i32 = code.parse().unwrap_or(-1);
                        if let Some(tx) = exits.lock().unwrap().remove(exec) {
                            let _ = tx.send(ended_from_code(code));
                        }
                    }
                } else if action == "die" || action == "destroy" {
                    break;
                }
            }
            // The container is gone (or the engine): every process with it.
            // (A shutdown of ours aborts this task first: no notice then.)
            gone.store(true, std::sync::atomic::Ordering::Release);
            let ended = exits.lock().unwrap().len();
            let _ = notices.send(format!(
                "the sandbox container {} stopped (killed from outside, or the Docker engine went away); \
{ended} process(es) ended with it. The next start makes a new container.",
                &id[..12.min(id.len())]
            ));
            for (_, tx) in exits.lock().unwrap().drain() {
                let _ = tx.send(Ended::Signal(libc::SIGKILL));
            }
        })
    }

    /// Create and start an exec of the agent with the chosen streams.
    async fn exec_attached(
        &self,
        container: &str,
        args: &[&str],
        stdin: bool,
        cwd: Option<String>,
        env: Option<Vec<String>>,
    ) -> Result<(Pin<Box<dyn AsyncWrite + Send>>, LogStream)> {
        let (input, output, _) = self
            .exec_full(container, args, stdin, cwd, env, false)
            .await?;
        Ok((input, output))
    }

    async fn exec_full(
        &self,
        container: &str,
        args: &[&str],
        stdin: bool,
        cwd: Option<String>,
        env: Option<Vec<String>>,
        track_exit: bool,
    ) -> Result<(
        Pin<Box<dyn AsyncWrite + Send>>,
        LogStream,
        Option<(String, oneshot::Receiver<Ended>)>,
    )> {
        let cmd = self.agent.command(args);
        let exec = self
            .docker
            .create_exec(
                container,
                CreateExecOptions {
                    cmd: Some(cmd),
                    attach_stdin: Some(stdin),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    tty: Some(false),
                    env,
                    working_dir: cwd,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| self.exec_error(e))?;
        let exit = if track_exit {
            let (tx, rx) = oneshot::channel();
            self.exits.lock().unwrap().insert(exec.id.clone(), tx);
            Some((exec.id.clone(), rx))
        } else {
            None
        };
        let started = self
            .docker
            .start_exec(
                &exec.id,
                Some(StartExecOptions {
                    detach: false,
                    tty: false,
                    output_capacity: Some(1024 * 1024),
                }),
            )
            .await
            .map_err(|e| self.exec_error(e));
        let failed = match started {
            Ok(StartExecResults::Attached { output, input }) => return Ok((input, output, exit)),
            Ok(StartExecResults::Detached) => BackendError::Failed("exec did not attach".into()),
            Err(e) => e,
        };
        // No end will come for an exec that did not start: forget it.
        self.exits.lock().unwrap().remove(&exec.id);
        Err(failed)
    }

    fn exec_error(&self, e: bollard::errors::Error) -> BackendError {
        use bollard::errors::Error as E;
        if let E::DockerResponseServerError { status_code, .. } = &e {
            if *status_code == 404 || *status_code == 409 {
                // The container went away: make a new one next time.
                if let Ok(l) = self.live.try_lock() {
                    if let Some(l) = l.as_ref() {
                        l.gone.store(true, std::sync::atomic::Ordering::Release);
                    }
                }
            }
        }
        map_err("docker exec failed", e)
    }

    /// Run an agent subcommand to its end: (exit code, stdout).
    async fn run_agent(&self, args: &[&str]) -> Result<(i32, Vec<u8>)> {
        let container = self.container_id().await?;
        let (_input, mut output, exit) = self
            .exec_full(&container, args, false, None, None, true)
            .await?;
        let mut out = Vec::new();
        while let Some(f) = output.next().await {
            if let Ok(LogOutput::StdOut { message }) = f {
                out.extend_from_slice(&message);
            }
        }
        let (_, rx) = exit.expect("tracked");
        let code = match tokio::time::timeout(Duration::from_secs(10), rx).await {
            Ok(Ok(Ended::Code(c))) => c,
            Ok(Ok(Ended::Signal(s))) => 128 + s,
            _ => -1,
        };
        Ok((code, out))
    }

    fn container_path(&self, host: &Path) -> String {
        match host.strip_prefix(&self.root) {
            Ok(rel) if rel.as_os_str().is_empty() => WORKSPACE.to_string(),
            Ok(rel) => format!("{WORKSPACE}/{}", rel.display()),
            Err(_) => WORKSPACE.to_string(),
        }
    }
}

/// An exec's exit code as an end: 129–159 is how the engine reports a
/// process ended by signal N (128 + N).
fn ended_from_code(code: i32) -> Ended {
    if (129..=159).contains(&code) {
        Ended::Signal(code - 128)
    } else {
        Ended::Code(code)
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

type LogStream =
    Pin<Box<dyn Stream<Item = std::result::Result<LogOutput, bollard::errors::Error>> + Send>>;

/// Read frames until the agent's status line on stderr; returns it and
/// any stderr bytes that followed it in the same frame.
async fn agent_status(output: &mut LogStream) -> Option<(String, Bytes, Vec<Bytes>)> {
    let mut err = Vec::new();
    let mut early_out = Vec::new();
    loop {
        match output.next().await? {
            Ok(LogOutput::StdErr { message }) => {
                err.extend_from_slice(&message);
                if let Some(pos) = find(&err, MARK.as_bytes()) {
                    if let Some(nl) = err[pos..].iter().position(|&c| c == b'\n') {
                        let line =
                            String::from_utf8_lossy(&err[pos + MARK.len()..pos + nl]).into_owned();
                        let rest = Bytes::copy_from_slice(&err[pos + nl + 1..]);
                        return Some((line, rest, early_out));
                    }
                }
            }
            Ok(LogOutput::StdOut { message }) => early_out.push(message),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

struct DockerSignaller {
    backend: Arc<DockerBackendRef>,
    pgid: i32,
}

/// What a signaller needs of the backend (kept apart so the signaller can
/// outlive a borrow of it).
struct DockerBackendRef {
    docker: Docker,
    container: String,
    agent: Arc<AgentBundle>,
}

impl DockerBackendRef {
    async fn run(&self, args: &[&str]) -> Option<i32> {
        self.run_output(args).await.map(|(c, _)| c)
    }

    async fn run_output(&self, args: &[&str]) -> Option<(i32, Vec<u8>)> {
        let cmd = self.agent.command(args);
        let exec = self
            .docker
            .create_exec(
                &self.container,
                CreateExecOptions {
                    cmd: Some(cmd),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .ok()?;
        let mut out = Vec::new();
        if let Ok(StartExecResults::Attached { mut output, .. }) =
            self.docker.start_exec(&exec.id, None).await
        {
            while let Some(f) = output.next().await {
                if let Ok(LogOutput::StdOut { message }) = f {
                    out.extend_from_slice(&message);
                }
            }
        }
        for _ in 0..100 {
            let i = self.docker.inspect_exec(&exec.id).await.ok()?;
            if i.running != Some(true) {
                return i.exit_code.map(|c| (c as i32, out));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    }
}

#[async_trait]
impl Signaller for DockerSignaller {
    async fn signal_group(&self, sig: i32) -> std::io::Result<()> {
        match self
            .backend
            .run(&["signal", &sig.to_string(), &self.pgid.to_string()])
            .await
        {
            Some(0) => Ok(()),
            _ => Err(std::io::Error::other("signal not delivered")),
        }
    }

    async fn members(&self) -> Vec<(u32, String)> {
        match self
            .backend
            .run_output(&["members", &self.pgid.to_string()])
            .await
        {
            Some((0, out)) => serde_json::from_slice(&out).unwrap_or_default(),
            // The container (or engine) is gone: so is the group.
            _ => Vec::new(),
        }
    }

    async fn signal_pids(&self, sig: i32, pids: &[u32]) {
        let mut args = vec!["signal-pids".to_string(), sig.to_string()];
        args.extend(pids.iter().map(|p| p.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let _ = self.backend.run(&args).await;
    }
}

/// A TCP connection relayed by `sandport agent connect` over an exec's
/// stdin/stdout.
struct ExecConn {
    output: LogStream,
    input: Pin<Box<dyn AsyncWrite + Send>>,
    pending: Bytes,
}

impl AsyncRead for ExecConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        loop {
            if !self.pending.is_empty() {
                let n = self.pending.len().min(buf.remaining());
                let chunk = self.pending.split_to(n);
                buf.put_slice(&chunk);
                return Poll::Ready(Ok(()));
            }
            match self.output.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(std::io::Error::other(e))),
                Poll::Ready(Some(Ok(LogOutput::StdOut { message }))) => self.pending = message,
                Poll::Ready(Some(Ok(_))) => {}
            }
        }
    }
}

impl AsyncWrite for ExecConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.input.as_mut().poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.input.as_mut().poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.input.as_mut().poll_shutdown(cx)
    }
}

#[async_trait]
impl Backend for DockerBackend {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn notices(&self) -> Option<tokio::sync::broadcast::Receiver<String>> {
        Some(self.notices.subscribe())
    }

    async fn spawn(&self, spec: SpawnSpec) -> Result<Spawned> {
        let container = self.container_id().await?;
        let cwd = self.container_path(&spec.cwd);
        let env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let (_input, mut output, exit) = self
            .exec_full(
                &container,
                &["spawn", "--", &spec.command],
                false,
                Some(cwd.clone()),
                Some(env),
                true,
            )
            .await?;
        let (exec_id, exit_rx) = exit.expect("tracked");
        let status = tokio::time::timeout(Duration::from_secs(30), agent_status(&mut output))
            .await
            .ok()
            .flatten();
        let Some((line, rest, early)) = status else {
            self.exits.lock().unwrap().remove(&exec_id);
            return Err(BackendError::Failed(
                "the agent did not start the process".into(),
            ));
        };
        let pid: u32 = match line.strip_prefix("pid=").and_then(|p| p.parse().ok()) {
            Some(p) => p,
            None => {
                self.exits.lock().unwrap().remove(&exec_id);
                return Err(BackendError::Failed(
                    line.trim_start_matches("error=").to_string(),
                ));
            }
        };
        // Demultiplex the exec's stream into two pipes the engine reads.
        let (mut out_w, out_r) = tokio::io::duplex(OUTPUT_PIPE);
        let (mut err_w, err_r) = tokio::io::duplex(OUTPUT_PIPE);
        tokio::spawn(async move {
            for b in early {
                if out_w.write_all(&b).await.is_err() {
                    break;
                }
            }
            let _ = err_w.write_all(&rest).await;
            while let Some(f) = output.next().await {
                let r = match f {
                    Ok(LogOutput::StdOut { message }) => out_w.write_all(&message).await,
                    Ok(LogOutput::StdErr { message }) => err_w.write_all(&message).await,
                    Ok(_) => Ok(()),
                    Err(_) => break,
                };
                if r.is_err() {
                    break;
                }
            }
        });
        let docker = self.docker.clone();
        let exit = Box::pin(async move {
            match exit_rx.await {
                Ok(e) => Ok(e),
                // The event stream ended without this exec: ask the engine.
                Err(_) => loop {
                    match docker.inspect_exec(&exec_id).await {
                        Ok(i) if i.running == Some(false) => {
                            return Ok(ended_from_code(i.exit_code.unwrap_or(-1) as i32))
                        }
                        Ok(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                        Err(_) => return Ok(Ended::Signal(libc::SIGKILL)),
                    }
                },
            }
        });
        Ok(Spawned {
            pid: Some(pid),
            cwd_display: cwd,
            stdout: Box::new(out_r),
            stderr: Box::new(err_r),
            signaller: Arc::new(DockerSignaller {
                backend: Arc::new(DockerBackendRef {
                    docker: self.docker.clone(),
                    container,
                    agent: self.agent.clone(),
                }),
                pgid: pid as i32,
            }),
            exit,
        })
    }

    async fn connect(&self, port: u16) -> std::io::Result<Conn> {
        let container = self
            .container_id()
            .await
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::NotConnected, e.to_string()))?;
        if let Some((addr, token)) = self.fast_path().await {
            use tokio::io::AsyncReadExt;
            let relayed = async {
                let mut s = tokio::net::TcpStream::connect(addr).await?;
                s.set_nodelay(true)?;
                s.write_all(format!("{token} {port}\n").as_bytes()).await?;
                let mut b = [0u8; 1];
                s.read_exact(&mut b).await?;
                Ok::<_, std::io::Error>((s, b[0]))
            };
            match tokio::time::timeout(Duration::from_secs(5), relayed).await {
                Ok(Ok((s, b'+'))) => return Ok(Box::new(s)),
                Ok(Ok(_)) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionRefused,
                        format!("nothing accepts on port {port} in the container"),
                    ))
                }
                // The relay is unreachable after all: the exec path below.
                _ => {}
            }
        }
        let (input, mut output) = self
            .exec_attached(
                &container,
                &["connect", &port.to_string()],
                true,
                None,
                None,
            )
            .await
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::NotConnected, e.to_string()))?;
        match agent_status(&mut output).await {
            Some((line, _, early)) if line == "connected" => {
                let pending = early.into_iter().flatten().collect::<Vec<u8>>();
                Ok(Box::new(ExecConn {
                    output,
                    input,
                    pending: Bytes::from(pending),
                }))
            }
            Some((line, _, _)) => Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                line.trim_start_matches("refused=").to_string(),
            )),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "the agent ended without connecting",
            )),
        }
    }

    async fn until_accepting(&self, port: u16) {
        loop {
            let probe = async {
                let container = self.container_id().await?;
                // The agent's stdin stays open while this future lives: a
                // cancelled wait drops it, and the agent's probe ends at once.
                let (input, mut output, exit) = self
                    .exec_full(
                        &container,
                        &["wait-port", &port.to_string(), "600000"],
                        true,
                        None,
                        None,
                        true,
                    )
                    .await?;
                while output.next().await.is_some() {}
                let (_, rx) = exit.expect("tracked");
                let code = match tokio::time::timeout(Duration::from_secs(10), rx).await {
                    Ok(Ok(Ended::Code(c))) => c,
                    _ => -1,
                };
                drop(input);
                Ok::<i32, BackendError>(code)
            };
            match probe.await {
                Ok(0) => return,
                Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    async fn listening_ports(&self, pids: &[u32]) -> BTreeMap<u32, Vec<u16>> {
        if pids.is_empty() {
            return BTreeMap::new();
        }
        let mut args = vec!["ports".to_string()];
        args.extend(pids.iter().map(|p| p.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match self.run_agent(&args).await {
            Ok((0, out)) => serde_json::from_slice(&out).unwrap_or_default(),
            _ => BTreeMap::new(),
        }
    }

    async fn shutdown(&self) {
        let live = self.live.lock().await.take();
        if let Some(mut l) = live {
            let _ = l.lifeline.shutdown().await;
            l.events.abort();
            if self.opts.remove_on_exit {
                let _ = self
                    .docker
                    .remove_container(
                        &l.id,
                        Some(RemoveContainerOptionsBuilder::default().force(true).build()),
                    )
                    .await;
            } else {
                let _ = self
                    .docker
                    .stop_container(
                        &l.id,
                        None::<bollard::query_parameters::StopContainerOptions>,
                    )
                    .await;
            }
        }
        for (_, tx) in self.exits.lock().unwrap().drain() {
            let _ = tx.send(Ended::Signal(libc::SIGKILL));
        }
    }
}
