//! Sandport: a sandbox for the open workspace — processes, readiness waits,
//! logs and preview URLs — driven by editors over LSP and by `sandport run`.

pub mod backend;
pub mod cli;
pub mod engine;
pub mod gateway;
pub mod lsp;
pub mod platform;
pub mod procfs;
pub mod sandbox;
pub mod workspace;
