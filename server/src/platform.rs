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

/// Keep glibc from holding on to freed log buffers. By default its mmap
/// threshold grows to the size of the largest block freed (up to 32 MiB),
/// after which megabyte-sized buffers (pipe reads, ended processes' logs)
/// come from the heap and their memory stays with the process once freed;
/// a fixed threshold keeps every block of 256 KiB or more in its own
/// mapping, given back to the system when freed. A long-lived server's RSS
/// then follows what it keeps.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt with an integer option, before any threads allocate much.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}
