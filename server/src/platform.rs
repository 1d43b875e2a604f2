//! Process-wide setup shared by the front ends.

/// Log to stderr (stdout carries the protocol in `sandport lsp`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SANDPORT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
