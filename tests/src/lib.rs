//! End-to-end harness: runs the real `sandport` binary and speaks to it.

pub mod lsp_client;
pub mod sys;

use std::path::PathBuf;

/// The `sandport` binary: `$SANDPORT_BIN`, or `<target>/debug/sandport`
/// next to the running test (`target/debug/deps/<test>`).
pub fn sandport_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("SANDPORT_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().expect("deps dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join("sandport");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p sandport` first (or set SANDPORT_BIN)",
        bin.display()
    );
    bin
}
