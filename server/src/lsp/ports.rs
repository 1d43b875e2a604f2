//! Preview ports: the gateway's lifecycle under the language server, the
//! port commands (`exposePort`, `getExposedPorts`, `closePort`,
//! `openPreview`, `createLoginLink`, `info`) and what the editor is asked to do on expose.

use super::params::Command;
use super::settings::{OnExpose, Settings};
use super::Shared;
use crate::engine::error::{EngineError, Result};
use crate::engine::exposure::ExposeOptions;
use crate::engine::{Engine, ExposedPort, UrlBase, Visibility};
use crate::gateway::{Gateway, GatewayConfig};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use tower_lsp_server::lsp_types::{MessageActionItem, MessageType, ShowDocumentParams, Uri};

/// The gateway configuration the settings ask for (`listen` overrides
/// `gateway.listen`: a restart of the gateway keeps its address).
pub fn gateway_config(s: &Settings, listen: Option<SocketAddr>) -> GatewayConfig {
    s.gateway_settings().config(listen)
}

/// How URLs look for these settings with a gateway at `addr`.
pub fn url_base(s: &Settings, addr: SocketAddr) -> Result<UrlBase> {
    match &s.gateway_public_url {
        Some(u) => UrlBase::from_public_url(u),
        None => Ok(UrlBase::new(
            if s.tls_cert.is_some() {
                "https"
            } else {
                "http"
            },
            &s.gateway_domain,
            addr.port(),
        )),
    }
}

/// Apply the settings that change without waiting (sandbox id, URL base),
/// in the notification's own turn: a request sent right after
/// didChangeConfiguration already sees them. Returns messages for the user.
pub fn apply_now(shared: &Arc<Shared>, old: &Settings, new: &Settings) -> Vec<String> {
    let mut msgs = Vec::new();
    let Some(engine) = shared.engine.get() else {
        return msgs;
    };
    if old.sandbox_id != new.sandbox_id {
        let id = match &new.sandbox_id {
            Some(id) => id.clone(),
            None => crate::engine::derive_sandbox_id(&folder_name(engine)),
        };
        if let Err(e) = engine.set_sandbox_id(id) {
            msgs.push(format!("Sandport: sandboxId not applied: {e}"));
        }
    }
    if let Some(addr) = shared.gateway_addr() {
        if old.gateway_domain != new.gateway_domain
            || old.gateway_public_url != new.gateway_public_url
        {
            match url_base(new, addr) {
                Ok(b) => engine.set_url_base(b),
                Err(e) => msgs.push(format!("Sandport: gateway URL not applied: {e}")),
            }
        }
    }
    msgs
}

/// Apply the settings that need waiting for (a gateway restart for
/// hostHeader), after [`apply_now`]. Returns messages for the user.
pub async fn apply_live(shared: &Arc<Shared>, old: &Settings, new: &Settings) -> Vec<String> {
    let mut msgs = Vec::new();
    let Some(engine) = shared.engine.get() else {
        return msgs;
    };
    let addr = shared.gateway_addr();
    if let Some(addr) = addr {
        if old.host_header != new.host_header {
            // The gateway keeps its Host policy for its life: restart it on
            // the same address (URLs do not change; open connections close).
            let mut g = shared.gateway.lock().await;
            if let Some(old_gw) = g.take() {
                old_gw.shutdown().await;
            }
            let started = Gateway::start(gateway_config(new, Some(addr)), engine.clone()).await;
            match started {
                Ok(gw) => {
                    if gw.local_addr() != addr {
                        msgs.push(format!(
                            "Sandport: the gateway moved to {} (its port was taken)",
                            gw.local_addr()
                        ));
                    }
                    // The start set the URL base from the config; keep the
                    // settings' own base.
                    if let Ok(b) = url_base(new, gw.local_addr()) {
                        engine.set_url_base(b);
                    }
                    *shared.gateway_addr.lock().unwrap() = Some(gw.local_addr());
                    *g = Some(gw);
                }
                Err(e) => msgs.push(format!("Sandport: the gateway could not restart: {e}")),
            }
        }
    }
    msgs
}

pub fn folder_name(engine: &Engine) -> String {
    engine
        .workspace_root()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn find_exposed(engine: &Engine, port: u16) -> Option<ExposedPort> {
    engine.exposed_ports().into_iter().find(|p| p.port == port)
}

fn parse_uri(url: &str) -> Result<Uri> {
    url.parse::<Uri>()
        .map_err(|e| EngineError::Failed(format!("{url:?} is not a URI: {e:?}")))
}

/// `window/showDocument {uri, external: true}`, in its own task (a command
/// never waits on the client).
pub fn show_external(shared: &Arc<Shared>, url: String) {
    let client = shared.client.clone();
    tokio::spawn(async move {
        let Ok(uri) = parse_uri(&url) else {
            return;
        };
        let r = client
            .show_document(ShowDocumentParams {
                uri,
                external: Some(true),
                take_focus: Some(true),
                selection: None,
            })
            .await;
        if let Err(e) = r {
            tracing::debug!("showDocument failed: {e}");
        }
    });
}

/// The URL to open in a browser for `x`: its URL, or for a private
/// preview a fresh login link (single use, so one per opening).
fn open_url(engine: &Engine, x: &ExposedPort) -> Result<String> {
    match x.visibility {
        Visibility::Public => Ok(x.url.clone()),
        Visibility::Private => Ok(engine.create_login_link(x.port, None)?.url),
    }
}

/// `path` in the message of a path the engine refused.
fn prefix_path(e: EngineError, has_path: bool) -> EngineError {
    match e {
        EngineError::InvalidArgument(m) if has_path && !m.starts_with("path: ") => {
            EngineError::InvalidArgument(format!("path: {m}"))
        }
        other => other,
    }
}

/// Open `x` in the browser (its login link when private).
fn open_external(shared: &Arc<Shared>, engine: &Engine, x: &ExposedPort) {
    match open_url(engine, x) {
        Ok(url) => show_external(shared, url),
        Err(e) => tracing::debug!("cannot open port {}: {e}", x.port),
    }
}

/// What the editor is asked to do when a port was exposed (`onExpose`).
/// The message shows the preview's URL (a login link is single use and
/// short-lived: one is made only when "Open" is picked).
fn after_expose(shared: &Arc<Shared>, engine: &Engine, x: &ExposedPort) {
    let on_expose = shared.settings.lock().unwrap().on_expose;
    match on_expose {
        OnExpose::Silent => {}
        OnExpose::OpenBrowser => open_external(shared, engine, x),
        OnExpose::Notify => {
            let what = match &x.name {
                Some(n) => format!("{n} (port {})", x.port),
                None => format!("Port {}", x.port),
            };
            let text = format!("Sandport: {what} is exposed at {}", x.url);
            let x = x.clone();
            let engine = engine.clone();
            let shared = shared.clone();
            tokio::spawn(async move {
                let actions = vec![
                    MessageActionItem {
                        title: "Open".into(),
                        properties: Default::default(),
                    },
                    MessageActionItem {
                        title: "Copy URL".into(),
                        properties: Default::default(),
                    },
                ];
                let picked = shared
                    .client
                    .show_message_request(MessageType::INFO, text, Some(actions))
                    .await;
                if let Ok(Some(item)) = picked {
                    if item.title == "Open" {
                        // The exposure as it is now (it may have closed,
                        // rotated or turned private while the user chose).
                        match find_exposed(&engine, x.port) {
                            Some(now) => open_external(&shared, &engine, &now),
                            None => tracing::debug!("port {} closed before Open", x.port),
                        }
                    }
                    // "Copy URL" is the client's to do.
                }
            });
        }
    }
}

fn to_value<T: serde::Serialize>(v: T) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| EngineError::Failed(format!("cannot encode result: {e}")))
}

/// The port commands; any other command is handed back.
pub fn run(shared: &Arc<Shared>, engine: &Engine, cmd: Command) -> Result<Result<Value>, Command> {
    let r = match cmd {
        Command::ExposePort(p) => (|| {
            let opts = ExposeOptions {
                name: p.name,
                token: p.token,
                ttl_seconds: p.ttl_seconds.map(|n| n.get()),
                visibility: p.visibility,
            };
            let port = p.port.get()?;
            // Turning an exposed port private or public is not a new
            // exposure: the editor is not asked again.
            let only_visibility = opts.visibility.is_some()
                && opts.name.is_none()
                && opts.token.is_none()
                && opts.ttl_seconds.is_none()
                && find_exposed(engine, port).is_some();
            let x = engine.expose_port_with(port, opts)?;
            if !only_visibility {
                after_expose(shared, engine, &x);
            }
            to_value(x)
        })(),
        Command::GetExposedPorts(_) => Ok(json!({ "ports": engine.exposed_ports() })),
        Command::ClosePort(p) => (|| {
            let port = p.port.get()?;
            Ok(json!({ "port": port, "closed": engine.close_port(port) }))
        })(),
        Command::OpenPreview(p) => (|| {
            let port = p.port.get()?;
            let x = find_exposed(engine, port).ok_or_else(|| {
                EngineError::invalid(format!("port: {port} is not exposed (exposePort it first)"))
            })?;
            let url = open_url(engine, &x)?;
            parse_uri(&url)?;
            show_external(shared, url.clone());
            Ok(json!({ "url": url }))
        })(),
        Command::CreateLoginLink(p) => (|| {
            let port = p.port.get()?;
            let link = engine
                .create_login_link(port, p.path.as_deref())
                .map_err(|e| prefix_path(e, p.path.is_some()))?;
            to_value(link)
        })(),
        Command::Info(_) => {
            let s = shared.settings.lock().unwrap().clone();
            let listen = shared.gateway_addr().map(|a| a.to_string());
            let base = engine.url_base();
            Ok(json!({
                "sandboxId": engine.sandbox_id(),
                "backend": engine.backend_name(),
                "workspaceRoot": engine.workspace_root().display().to_string(),
                "gateway": {
                    "listen": listen,
                    "domain": base.domain,
                    "publicUrl": s.gateway_public_url,
                    "sessionKey": engine.session_key(),
                    "hostHeader": s.host_header,
                    "tls": s.tls_cert.is_some(),
                },
            }))
        }
        other => return Err(other),
    };
    Ok(r)
}
