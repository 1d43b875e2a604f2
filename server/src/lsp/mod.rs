//! The LSP edge: `sandport lsp` speaks the contract (docs/protocol.md) over
//! stdio on top of the [`Engine`].
//!
//! Layout:
//! - [`framing`]: a tolerant reader in front of tower-lsp-server (bad frames
//!   get an error answer instead of ending the session);
//! - [`service`]: cancellation of commands with `data.code = CANCELLED`;
//! - [`commands`] / [`params`]: the commands and their validation;
//! - [`events`]: engine events to `sandport/*` notifications;
//! - [`progress`], [`lens`], [`settings`]: the standard LSP parts.
//!
//! Lifecycle: `shutdown` stops everything; `exit`, the end of stdin, or the
//! death of the client's `processId` stop everything too (if not done yet)
//! and end the process within 10 s.

pub mod commands;
pub mod events;
pub mod framing;
pub mod lens;
pub mod params;
pub mod ports;
pub mod progress;
pub mod service;
pub mod settings;

use crate::engine::error::EngineError;
use crate::engine::Engine;
use crate::gateway::Gateway;
use crate::sandbox::Sandbox;
use serde_json::{json, Value};
use settings::Settings;
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tower_lsp_server::jsonrpc::{Error as RpcError, ErrorCode, Result as RpcResult};
use tower_lsp_server::lsp_types::*;
use tower_lsp_server::{Client, LanguageServer, LspService, UriExt};

/// Grace given to process groups on the way out before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// Bound of the whole stop (the contract gives 10 s).
const STOP_BOUND: Duration = Duration::from_secs(8);
/// How often the client's `processId` is checked.
const CLIENT_POLL: Duration = Duration::from_millis(500);
/// Requests handled at once. Waits are long; they must not take the only
/// slots (each command runs in its own task; these slots only hold them).
const CONCURRENCY: usize = 1024;

/// What the client said it can do.
#[derive(Debug, Clone, Copy, Default)]
pub struct Caps {
    pub work_done_progress: bool,
    pub show_document: bool,
    pub code_lens_refresh: bool,
    pub show_message_actions: bool,
}

/// State shared by the handlers and the background tasks.
pub struct Shared {
    pub client: Client,
    pub engine: OnceLock<Engine>,
    caps: OnceLock<Caps>,
    pub settings: Mutex<Settings>,
    /// Open documents (full sync).
    docs: Mutex<HashMap<Uri, String>>,
    /// Engine events held from `initialize` until `initialized`.
    pending_rx: Mutex<Option<tokio::sync::broadcast::Receiver<crate::engine::Event>>>,
    /// Ports in use by the sandbox as the lenses last saw them.
    lens_ports: Mutex<BTreeSet<u16>>,
    lens_kick: tokio::sync::Notify,
    stopped: tokio::sync::OnceCell<()>,
    shutdown_requested: AtomicBool,
    /// The preview gateway (started at `initialize`).
    pub gateway: tokio::sync::Mutex<Option<Gateway>>,
    gateway_addr: Mutex<Option<SocketAddr>>,
}

/// Custom notification with JSON params.
macro_rules! notification {
    ($t:ident, $m:literal) => {
        pub enum $t {}
        impl tower_lsp_server::lsp_types::notification::Notification for $t {
            type Params = Value;
            const METHOD: &'static str = $m;
        }
    };
}
notification!(LogNote, "sandport/log");
notification!(ProcessChangedNote, "sandport/processChanged");
notification!(PortsChangedNote, "sandport/portsChanged");
notification!(ProcessRemovedNote, "sandport/processRemoved");

/// The one mapping from engine errors to JSON-RPC errors: `data` is
/// `error.to_data()`; the JSON-RPC code is `-32602` for bad params, `-32800`
/// for a cancelled request and `-32803` (RequestFailed) otherwise.
pub fn rpc_error(e: EngineError) -> RpcError {
    let code = match &e {
        EngineError::InvalidArgument(_) => ErrorCode::InvalidParams,
        EngineError::Cancelled => ErrorCode::RequestCancelled,
        _ => ErrorCode::ServerError(-32803),
    };
    RpcError {
        code,
        message: e.to_string().into(),
        data: Some(e.to_data()),
    }
}

impl Shared {
    pub fn caps(&self) -> Caps {
        self.caps.get().copied().unwrap_or_default()
    }

    pub async fn notify_value(&self, method: &str, params: Value) {
        match method {
            "sandport/log" => self.client.send_notification::<LogNote>(params).await,
            "sandport/processChanged" => {
                self.client
                    .send_notification::<ProcessChangedNote>(params)
                    .await
            }
            "sandport/portsChanged" => {
                self.client
                    .send_notification::<PortsChangedNote>(params)
                    .await
            }
            "sandport/processRemoved" => {
                self.client
                    .send_notification::<ProcessRemovedNote>(params)
                    .await
            }
            other => tracing::error!("no such notification {other}"),
        }
    }

    /// Current exposures, after a lagged subscription.
    pub async fn resync_ports(&self) {
        if let Some(e) = self.engine.get() {
            let ports = e.exposed_ports();
            self.notify_value("sandport/portsChanged", json!({ "ports": ports }))
                .await;
        }
    }

    pub fn gateway_addr(&self) -> Option<SocketAddr> {
        *self.gateway_addr.lock().unwrap()
    }

    /// Something changed that may change which ports are in use.
    pub fn lens_maybe_changed(&self) {
        self.lens_kick.notify_one();
    }

    fn engine(&self) -> Result<&Engine, EngineError> {
        self.engine
            .get()
            .ok_or_else(|| EngineError::invalid("the server is not initialized"))
    }

    /// Stop every process and listener; idempotent, bounded in time.
    pub async fn stop_everything(&self) {
        self.stopped
            .get_or_init(|| async {
                let stop = async {
                    if let Some(engine) = self.engine.get() {
                        engine.close_all_ports();
                    }
                    let gw = self.gateway.lock().await.take();
                    if let Some(gw) = gw {
                        gw.shutdown().await;
                    }
                    if let Some(engine) = self.engine.get() {
                        engine.shutdown(STOP_GRACE).await;
                    }
                };
                if tokio::time::timeout(STOP_BOUND, stop).await.is_err() {
                    tracing::error!("stopping did not finish in time");
                }
            })
            .await;
    }
}

struct Server {
    s: Arc<Shared>,
}

fn workspace_root(params: &InitializeParams) -> PathBuf {
    #[allow(deprecated)]
    let uri = params
        .workspace_folders
        .as_ref()
        .and_then(|f| f.first())
        .map(|f| f.uri.clone())
        .or_else(|| params.root_uri.clone());
    uri.and_then(|u| u.to_file_path().map(|p| p.into_owned()))
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."))
}

fn client_caps(c: &ClientCapabilities) -> Caps {
    let window = c.window.as_ref();
    Caps {
        work_done_progress: window.and_then(|w| w.work_done_progress).unwrap_or(false),
        show_document: window
            .and_then(|w| w.show_document.as_ref())
            .is_some_and(|d| d.support),
        show_message_actions: window.and_then(|w| w.show_message.as_ref()).is_some(),
        code_lens_refresh: c
            .workspace
            .as_ref()
            .and_then(|w| w.code_lens.as_ref())
            .and_then(|l| l.refresh_support)
            .unwrap_or(false),
    }
}

/// Whether a process is alive (a zombie counts as dead).
fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state follows the `(comm)` field.
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.trim_start().chars().next());
            !matches!(state, Some('Z') | Some('X'))
        }
        Err(_) => false,
    }
}

/// Whether a process with this pid exists here (in any state): `kill(pid, 0)`
/// fails with `ESRCH` only when there is none.
fn pid_visible(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

impl LanguageServer for Server {
    async fn initialize(&self, params: InitializeParams) -> RpcResult<InitializeResult> {
        let root = workspace_root(&params);
        let _ = self.s.caps.set(client_caps(&params.capabilities));
        let (settings, warnings) = Settings::parse(params.initialization_options.as_ref());
        // `window/showMessage` is allowed while `initialize` runs.
        for w in warnings {
            tracing::warn!("{w}");
            self.s
                .client
                .show_message(MessageType::WARNING, format!("Sandport: {w}"))
                .await;
        }
        *self.s.settings.lock().unwrap() = settings.clone();
        // Nothing is left running when this fails.
        let sandbox = Sandbox::build(&settings.sandbox_config(&root))
            .await
            .map_err(rpc_error)?;
        let engine = sandbox.engine;
        *self.s.pending_rx.lock().unwrap() = Some(engine.subscribe());
        let _ = self.s.engine.set(engine);
        if let Some(gw) = sandbox.gateway {
            *self.s.gateway_addr.lock().unwrap() = Some(gw.local_addr());
            *self.s.gateway.lock().await = Some(gw);
        }
        // A `processId` this server cannot see (the editor runs in another
        // PID namespace: Flatpak, a container) cannot be watched: stdin
        // closing still ends the session.
        let watched = params.process_id.filter(|&pid| {
            let visible = pid_visible(pid);
            if !visible {
                tracing::warn!(
                    "client process {pid} is not visible here (another PID namespace?); \
                     not watching it"
                );
            }
            visible
        });
        if let Some(pid) = watched {
            let s = self.s.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(CLIENT_POLL).await;
                    if !pid_alive(pid) {
                        tracing::warn!("client process {pid} is gone; stopping");
                        s.stop_everything().await;
                        std::process::exit(1);
                    }
                }
            });
        }
        Ok(InitializeResult {
            capabilities: ServerCapabilities {
                text_document_sync: Some(TextDocumentSyncCapability::Kind(
                    TextDocumentSyncKind::FULL,
                )),
                code_lens_provider: Some(CodeLensOptions {
                    resolve_provider: Some(false),
                }),
                execute_command_provider: Some(ExecuteCommandOptions {
                    commands: commands::COMMANDS.iter().map(|c| c.to_string()).collect(),
                    work_done_progress_options: WorkDoneProgressOptions {
                        work_done_progress: Some(true),
                    },
                }),
                ..ServerCapabilities::default()
            },
            server_info: Some(ServerInfo {
                name: "sandport".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        let rx = self.s.pending_rx.lock().unwrap().take();
        if let Some(rx) = rx {
            tokio::spawn(events::forward(self.s.clone(), rx));
        }
        tokio::spawn(lens_watch(self.s.clone()));
    }

    async fn shutdown(&self) -> RpcResult<()> {
        self.s.shutdown_requested.store(true, Ordering::SeqCst);
        self.s.stop_everything().await;
        Ok(())
    }

    async fn did_open(&self, p: DidOpenTextDocumentParams) {
        self.s
            .docs
            .lock()
            .unwrap()
            .insert(p.text_document.uri, p.text_document.text);
        self.s.lens_maybe_changed();
    }

    async fn did_change(&self, p: DidChangeTextDocumentParams) {
        // Full sync: the last change holds the whole text.
        if let Some(c) = p.content_changes.into_iter().last() {
            self.s
                .docs
                .lock()
                .unwrap()
                .insert(p.text_document.uri, c.text);
        }
    }

    async fn did_close(&self, p: DidCloseTextDocumentParams) {
        self.s.docs.lock().unwrap().remove(&p.text_document.uri);
    }

    async fn did_change_configuration(&self, p: DidChangeConfigurationParams) {
        let (new, warnings) = Settings::parse(Some(&p.settings));
        let old = std::mem::replace(&mut *self.s.settings.lock().unwrap(), new.clone());
        let mut msgs: Vec<String> = warnings
            .into_iter()
            .map(|w| format!("Sandport: {w}"))
            .collect();
        let restart = old.restart_needed(&new);
        if let Some(e) = self.s.engine.get() {
            if (old.keep_ended, old.ended_log_bytes) != (new.keep_ended, new.ended_log_bytes) {
                e.set_retention(new.keep_ended, new.ended_log_bytes);
            }
        }
        if !restart.is_empty() {
            msgs.push(format!(
                "Sandport: {} changed; restart the language server to apply {}",
                restart.join(", "),
                if restart.len() == 1 { "it" } else { "them" }
            ));
        }
        // What changes at once (sandbox id, URL base) is applied before the
        // next message is read, so a request right after this notification
        // sees it; only a gateway restart (hostHeader) runs on its own.
        msgs.extend(ports::apply_now(&self.s, &old, &new));
        let s = self.s.clone();
        tokio::spawn(async move {
            msgs.extend(ports::apply_live(&s, &old, &new).await);
            for m in msgs {
                s.client.show_message(MessageType::WARNING, m).await;
            }
        });
    }

    async fn code_lens(&self, p: CodeLensParams) -> RpcResult<Option<Vec<CodeLens>>> {
        let text = self
            .s
            .docs
            .lock()
            .unwrap()
            .get(&p.text_document.uri)
            .cloned();
        let Some(text) = text else {
            return Ok(None);
        };
        let refs = lens::find_ports(&text);
        if refs.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let in_use = ports_in_use(&self.s).await;
        *self.s.lens_ports.lock().unwrap() = in_use.clone();
        let exposed: BTreeSet<u16> = self
            .s
            .engine
            .get()
            .map(|e| e.exposed_ports().iter().map(|p| p.port).collect())
            .unwrap_or_default();
        let lenses = refs
            .into_iter()
            .filter_map(|r| {
                let range =
                    Range::new(Position::new(r.line, r.start), Position::new(r.line, r.end));
                let (title, command) = if exposed.contains(&r.port) {
                    (format!("Open preview ({})", r.port), "sandport.openPreview")
                } else if in_use.contains(&r.port) {
                    (format!("Expose {}", r.port), "sandport.exposePort")
                } else {
                    return None;
                };
                Some(CodeLens {
                    range,
                    command: Some(Command {
                        title,
                        command: command.into(),
                        arguments: Some(vec![json!({ "port": r.port })]),
                    }),
                    data: None,
                })
            })
            .collect();
        Ok(Some(lenses))
    }

    async fn execute_command(&self, p: ExecuteCommandParams) -> RpcResult<Option<LSPAny>> {
        let engine = self.s.engine().map_err(rpc_error)?.clone();
        let ctx = commands::Ctx {
            shared: self.s.clone(),
            engine,
            cancel: service::current_cancel(),
            work_done: p.work_done_progress_params.work_done_token,
        };
        // Each command runs in a task of its own (the request slots only
        // hold it); if the request is dropped, the task is aborted.
        struct AbortOnDrop(tokio::task::JoinHandle<Result<Value, EngineError>>);
        impl Drop for AbortOnDrop {
            fn drop(&mut self) {
                self.0.abort();
            }
        }
        let command = p.command;
        let args = p.arguments;
        let mut task = AbortOnDrop(tokio::spawn(async move {
            commands::run(ctx, &command, args).await
        }));
        match (&mut task.0).await {
            Ok(r) => r.map(Some).map_err(rpc_error),
            Err(e) => Err(rpc_error(EngineError::Failed(format!(
                "command failed: {e}"
            )))),
        }
    }
}

/// TCP ports the sandbox's processes listen on.
async fn ports_in_use(s: &Shared) -> BTreeSet<u16> {
    let Some(engine) = s.engine.get() else {
        return BTreeSet::new();
    };
    engine
        .list_processes_with_ports()
        .await
        .into_iter()
        .flat_map(|p| p.listening_ports.unwrap_or_default())
        .collect()
}

/// Ask the client to refresh its code lenses when the ports in use or the
/// exposed ones change ("Expose 3000" / "Open preview (3000)"; checked every
/// second while documents are open, and on process events).
async fn lens_watch(s: Arc<Shared>) {
    if !s.caps().code_lens_refresh {
        return;
    }
    let exposed_now = |s: &Shared| -> BTreeSet<u16> {
        s.engine
            .get()
            .map(|e| e.exposed_ports().iter().map(|p| p.port).collect())
            .unwrap_or_default()
    };
    let mut exposed_seen = exposed_now(&s);
    loop {
        // Nothing runs and no lens shows a port in use: nothing can change
        // until a process starts (which kicks this), so no polling.
        let idle = s.engine.get().is_none_or(|e| e.running_count() == 0)
            && s.lens_ports.lock().unwrap().is_empty();
        if idle {
            s.lens_kick.notified().await;
        } else {
            let _ = tokio::time::timeout(Duration::from_secs(1), s.lens_kick.notified()).await;
        }
        if s.docs.lock().unwrap().is_empty() {
            continue;
        }
        let now = ports_in_use(&s).await;
        let exposed = exposed_now(&s);
        let changed = {
            let mut seen = s.lens_ports.lock().unwrap();
            let changed = *seen != now || exposed != exposed_seen;
            *seen = now;
            changed
        };
        exposed_seen = exposed;
        if changed {
            let _ =
                tokio::time::timeout(Duration::from_secs(5), s.client.code_lens_refresh()).await;
        }
    }
}

/// Serve the protocol on stdin/stdout until the session ends, stop
/// everything, and end the process (stdin may still be open, and tokio's
/// stdin reader would hold the runtime's shutdown).
pub async fn run() -> ! {
    crate::platform::init_tracing();
    let (service, socket) = LspService::build(|client| Server {
        s: Arc::new(Shared {
            client,
            engine: OnceLock::new(),
            caps: OnceLock::new(),
            settings: Mutex::new(Settings::default()),
            docs: Mutex::new(HashMap::new()),
            pending_rx: Mutex::new(None),
            lens_ports: Mutex::new(BTreeSet::new()),
            lens_kick: tokio::sync::Notify::new(),
            stopped: tokio::sync::OnceCell::new(),
            shutdown_requested: AtomicBool::new(false),
            gateway: tokio::sync::Mutex::new(None),
            gateway_addr: Mutex::new(None),
        }),
    })
    .finish();
    let shared = service.inner().s.clone();
    let (to_server, from_framer) = tokio::io::duplex(1 << 20);
    tokio::spawn(framing::pump(tokio::io::stdin(), to_server));
    tower_lsp_server::Server::new(from_framer, tokio::io::stdout(), socket)
        .concurrency_level(CONCURRENCY)
        .serve(service::Wrapped::new(service))
        .await;
    shared.stop_everything().await;
    let code = if shared.shutdown_requested.load(Ordering::SeqCst) {
        0
    } else {
        1
    };
    std::process::exit(code)
}
