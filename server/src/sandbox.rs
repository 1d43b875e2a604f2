//! The one place that builds a sandbox — backend, engine and preview gateway
//! — from settings, for both front ends: `sandport lsp` (from the `sandport`
//! settings section) and `sandport run` (from its options). Each front end
//! translates its own input into a [`SandboxConfig`]; what a sandbox is made
//! of is decided here.

use crate::backend::docker::{DockerBackend, DockerOptions};
use crate::backend::local::{LocalBackend, LocalOptions};
use crate::backend::Backend;
use crate::engine::error::{EngineError, Result};
use crate::engine::{derive_sandbox_id, validate_sandbox_id, Engine, EngineConfig};
use crate::gateway::{Gateway, GatewayConfig, HostHeader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Where processes run (setting `backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    #[default]
    Local,
    Docker,
}

/// Settings `docker.*`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DockerSettings {
    pub image: Option<String>,
    pub host: Option<String>,
    pub mounts: Vec<String>,
    /// A static sandport to run inside the container (`docker.agentPath`).
    pub agent_path: Option<PathBuf>,
}

/// Settings `gateway.*`.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewaySettings {
    /// An address the user chose: kept even when taken (then an error).
    /// None: the default, which moves to another port when taken.
    pub listen: Option<SocketAddr>,
    pub domain: String,
    pub public_url: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub host_header: HostHeader,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings {
            listen: None,
            domain: "localhost".into(),
            public_url: None,
            tls_cert: None,
            tls_key: None,
            host_header: HostHeader::Localhost,
        }
    }
}

impl GatewaySettings {
    /// The gateway's configuration; `listen` (a restart on the address it
    /// has) overrides the setting.
    pub fn config(&self, listen: Option<SocketAddr>) -> GatewayConfig {
        let mut cfg = GatewayConfig {
            // Only the default address may move when its port is taken.
            move_if_taken: self.listen.is_none(),
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            host_header: self.host_header,
            domain: self.domain.clone(),
            public_url: self.public_url.clone(),
            ..GatewayConfig::default()
        };
        if let Some(l) = listen.or(self.listen) {
            cfg.listen = l;
        }
        cfg
    }
}

/// Everything a sandbox is built from.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub workspace_root: PathBuf,
    /// None: derived from the workspace folder's name.
    pub sandbox_id: Option<String>,
    pub backend: BackendKind,
    pub docker: DockerSettings,
    /// Bound of each process's stdout and stderr buffers.
    pub log_cap: usize,
    /// Ended processes kept, and the bound of their logs together.
    pub keep_ended: usize,
    pub ended_log_bytes: usize,
    /// None: no gateway (`sandport run` without `--expose`).
    pub gateway: Option<GatewaySettings>,
}

impl SandboxConfig {
    pub fn new(workspace_root: impl Into<PathBuf>) -> Self {
        SandboxConfig {
            workspace_root: workspace_root.into(),
            sandbox_id: None,
            backend: BackendKind::Local,
            docker: DockerSettings::default(),
            log_cap: crate::engine::DEFAULT_LOG_CAP,
            keep_ended: crate::engine::DEFAULT_KEEP_ENDED,
            ended_log_bytes: crate::engine::DEFAULT_ENDED_LOG_BYTES,
            gateway: Some(GatewaySettings::default()),
        }
    }

    /// The sandbox id: the setting, else derived from the folder name.
    pub fn resolved_sandbox_id(&self) -> String {
        match &self.sandbox_id {
            Some(id) => id.clone(),
            None => derive_sandbox_id(&folder_name(&self.workspace_root)),
        }
    }
}

/// The last component of `root` once resolved (`.` names its folder).
pub fn folder_name(root: &Path) -> String {
    root.canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default()
}

/// A running sandbox.
pub struct Sandbox {
    pub engine: Engine,
    pub gateway: Option<Gateway>,
}

/// Grace given to process groups when a half-built sandbox is taken down.
const UNDO_GRACE: Duration = Duration::from_secs(1);

impl Sandbox {
    /// Backend, engine (with its sandbox id) and gateway, in that order; on
    /// any failure what was already started is stopped again.
    pub async fn build(cfg: &SandboxConfig) -> Result<Sandbox> {
        let sandbox_id = cfg.resolved_sandbox_id();
        validate_sandbox_id(&sandbox_id)?;
        let backend = make_backend(cfg, &sandbox_id).await?;
        let mut config = EngineConfig::new(&cfg.workspace_root);
        config.log_cap = cfg.log_cap;
        config.keep_ended = cfg.keep_ended;
        config.ended_log_bytes = cfg.ended_log_bytes;
        let engine = Engine::new(config, backend)?;
        if let Err(e) = engine.set_sandbox_id(sandbox_id) {
            engine.shutdown(UNDO_GRACE).await;
            return Err(e);
        }
        let gateway = match &cfg.gateway {
            None => None,
            Some(g) => match Gateway::start(g.config(None), engine.clone()).await {
                Ok(gw) => Some(gw),
                Err(e) => {
                    engine.shutdown(UNDO_GRACE).await;
                    return Err(e);
                }
            },
        };
        Ok(Sandbox { engine, gateway })
    }
}

async fn make_backend(cfg: &SandboxConfig, sandbox_id: &str) -> Result<Arc<dyn Backend>> {
    match cfg.backend {
        BackendKind::Local => LocalBackend::new(LocalOptions::default())
            .map(|b| Arc::new(b) as Arc<dyn Backend>)
            .map_err(|e| {
                EngineError::BackendUnavailable(format!("cannot start the local backend: {e}"))
            }),
        BackendKind::Docker => {
            let d = &cfg.docker;
            let mut o = DockerOptions::new(sandbox_id);
            if let Some(i) = &d.image {
                o.image = i.clone();
            }
            o.host = d.host.clone();
            o.mounts = d.mounts.clone();
            o.agent = d.agent_path.clone();
            let b = DockerBackend::new(o, &cfg.workspace_root).await?;
            Ok(Arc::new(b) as Arc<dyn Backend>)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_default_gateway_address_may_move() {
        let g = GatewaySettings::default();
        assert!(g.config(None).move_if_taken);
        let chosen = GatewaySettings {
            listen: Some("127.0.0.1:9000".parse().unwrap()),
            ..GatewaySettings::default()
        };
        let c = chosen.config(None);
        assert!(!c.move_if_taken);
        assert_eq!(c.listen.port(), 9000);
        // A restart on the address it has keeps the policy.
        let c = g.config(Some("127.0.0.1:7400".parse().unwrap()));
        assert_eq!(c.listen.port(), 7400);
        assert!(c.move_if_taken);
    }
}
