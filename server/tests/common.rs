//! Shared helpers for the engine's behavioural tests. The backend comes from
//! `SANDPORT_TEST_BACKEND` (default `local`), so the same cases can run
//! against every backend.
#![allow(dead_code)]

use sandport::backend::local::{LocalBackend, LocalOptions};
use sandport::backend::Backend;
use sandport::engine::{Engine, EngineConfig};
use std::sync::Arc;

pub struct Sandbox {
    pub engine: Engine,
    pub dir: tempfile::TempDir,
}

pub fn backend() -> Arc<dyn Backend> {
    match std::env::var("SANDPORT_TEST_BACKEND").as_deref() {
        Ok("local") | Err(_) => Arc::new(
            LocalBackend::new(LocalOptions {
                watchdog: true,
                subreaper: false,
            })
            .expect("local backend"),
        ),
        Ok(other) => panic!("unknown SANDPORT_TEST_BACKEND {other:?}"),
    }
}

pub fn sandbox() -> Sandbox {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::new(EngineConfig::new(dir.path()), backend()).expect("engine");
    Sandbox { engine, dir }
}

pub use sandport_e2e::{eventually, free_port, live_with, marker};
