//! Shared helpers for the engine's behavioural tests. The backend comes from
//! `SANDPORT_TEST_BACKEND` (default `local`), so the same cases can run
//! against every backend.
#![allow(dead_code)]

use sandport::backend::docker::{DockerBackend, DockerOptions};
use sandport::backend::local::{LocalBackend, LocalOptions};
use sandport::backend::Backend;
use sandport::engine::{Engine, EngineConfig};
use std::sync::Arc;

pub struct Sandbox {
    pub engine: Engine,
    pub dir: tempfile::TempDir,
}

/// `local` or `docker`.
pub fn backend_kind() -> String {
    std::env::var("SANDPORT_TEST_BACKEND").unwrap_or_else(|_| "local".into())
}

pub async fn backend(workspace: &std::path::Path) -> Arc<dyn Backend> {
    match backend_kind().as_str() {
        "local" => Arc::new(
            LocalBackend::new(LocalOptions {
                watchdog: true,
                subreaper: false,
            })
            .expect("local backend"),
        ),
        "docker" => Arc::new(
            DockerBackend::new(docker_options(&format!("t{}", marker())), workspace)
                .await
                .expect("docker backend (run tests/docker/images.sh first)"),
        ),
        other => panic!("unknown SANDPORT_TEST_BACKEND {other:?}"),
    }
}

/// The test image: an empty root with the host's /usr and /etc mounted
/// read-only (python3, sh, git… from the host). Made by tests/docker/images.sh.
/// The agent is `$SANDPORT_AGENT` when set, else the plain `cargo build`
/// sandport (this test binary, the default, has no `agent` subcommand).
pub fn docker_options(sandbox_id: &str) -> DockerOptions {
    let mut o = DockerOptions::new(sandbox_id);
    o.image = "sandport-test:host".into();
    o.mounts = vec!["/usr:/usr:ro".into(), "/etc:/etc:ro".into()];
    if std::env::var_os("SANDPORT_AGENT").is_none() {
        o.agent = Some(env!("CARGO_BIN_EXE_sandport").into());
    }
    o
}

pub async fn sandbox() -> Sandbox {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine =
        Engine::new(EngineConfig::new(dir.path()), backend(dir.path()).await).expect("engine");
    Sandbox { engine, dir }
}

#[allow(unused_imports)]
pub use sandport_e2e::{eventually, free_port, live_with, marker};
