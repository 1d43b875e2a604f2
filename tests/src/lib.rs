//! Helpers for tests that run the real `sandport` binary, and for the
//! engine's behavioural tests: finding the binary, finding processes a test
//! started (by a unique marker in their command line) and bounded polling.

pub mod cli;
pub mod lsp_client;
pub mod sys;

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The `sandport` binary of this build: `$SANDPORT_BIN`, else
/// `target/<profile>/sandport` next to the running test.
pub fn sandport_bin() -> PathBuf {
    if let Ok(p) = std::env::var("SANDPORT_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current exe");
    // target/debug/deps/<test> → target/debug/sandport
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("test binary lives in target/<profile>/deps");
    let bin = profile_dir.join("sandport");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build` first (or set SANDPORT_BIN)",
        bin.display()
    );
    bin
}

/// A port nobody listens on right now (bound, then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A unique number to put in a test's command lines.
pub fn marker() -> String {
    format!(
        "{}{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    )
}

/// State letter of a process from /proc (`Z` for a zombie), if it exists.
pub fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rfind(')').and_then(|i| stat[i + 2..].chars().next())
}

/// Whether `pid` is alive (zombies count as gone).
pub fn alive(pid: u32) -> bool {
    !matches!(proc_state(pid), None | Some('Z') | Some('X'))
}

/// Live (not zombie) processes whose command line contains `needle`.
pub fn live_with(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmd)
            .replace('\0', " ")
            .contains(needle)
            && alive(pid)
        {
            out.push(pid);
        }
    }
    out
}

/// Poll `f` (every 20 ms) until it holds, for at most `limit`.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// [`wait_until`] for async tests (does not block the runtime).
pub async fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}

/// Peak resident memory (VmHWM) of a live process, in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Containers (any state) labelled for `sandbox` by the Docker backend.
pub fn docker_containers_of(sandbox: &str) -> Vec<String> {
    let out = std::process::Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=dev.sandport.sandbox={sandbox}"),
        ])
        .output()
        .expect("docker CLI");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Whether the Docker tests can run here: an engine answers on
/// /var/run/docker.sock or DOCKER_HOST (the agent comes with the build; a
/// static one in `SANDPORT_AGENT` is used when set) and the test images of
/// tests/docker/images.sh exist. Prints why not, and
/// under CI=true that fails the run instead.
pub fn docker_ready() -> bool {
    let engine = std::path::Path::new("/var/run/docker.sock").exists()
        || std::env::var("DOCKER_HOST").is_ok();
    let images = engine
        && std::process::Command::new("docker")
            .args([
                "image",
                "inspect",
                "sandport-test:host",
                "sandport-test:busybox",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if images {
        return true;
    }
    let why = if !engine {
        "no Docker engine (/var/run/docker.sock or DOCKER_HOST)"
    } else {
        "the test images are missing: run `bash tests/docker/images.sh`"
    };
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but the Docker tests cannot run: {why}"
    );
    eprintln!("skipped: {why}");
    false
}
