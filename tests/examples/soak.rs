//! A long session through the real `sandport lsp` over pipes (not a test):
//! 10 000 processes `echo hi` started and waited for, then 20 printing 3 MB
//! each, then every process still kept removed with `sandport.removeProcess`.
//! Prints the server's RSS after each phase and idle. Run by `bench/soak.sh`.

use sandport_e2e::lsp_client::Lsp;
use serde_json::json;
use std::time::{Duration, Instant};

fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1).map(|n| n.parse().unwrap_or(0)))
        })
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn main() {
    let total: usize = std::env::var("PROCESSES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let dir = std::env::temp_dir().join(format!("sandport-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lsp = Lsp::spawn(&dir);
    lsp.initialize(json!({}));
    let pid = lsp.pid();
    std::thread::sleep(Duration::from_secs(1));
    let rss_start = status_kib(pid, "VmRSS:");
    println!("RSS after initialize: {:.1} MiB", mib(rss_start));

    let run = |cmd: &str| {
        let p = lsp.ok("sandport.startProcess", json!({ "command": cmd }));
        let r = lsp.ok(
            "sandport.waitForExit",
            json!({"processId": p["id"], "timeout": 120_000}),
        );
        assert_eq!(r["status"], "completed", "{cmd}: {r}");
    };
    let t0 = Instant::now();
    let mut rss_100 = 0;
    for i in 0..total {
        run("echo hi");
        if i + 1 == 100 {
            rss_100 = status_kib(pid, "VmRSS:");
            println!(
                "RSS after the first 100 `echo hi`: {:.1} MiB (VmData {:.1} MiB)",
                mib(rss_100),
                mib(status_kib(pid, "VmData:"))
            );
        }
    }
    let rss_echo = status_kib(pid, "VmRSS:");
    println!(
        "RSS after {total} `echo hi`: {:.1} MiB (VmData {:.1} MiB), {:.1} s, {:.2} ms per start+wait",
        mib(rss_echo),
        mib(status_kib(pid, "VmData:")),
        t0.elapsed().as_secs_f64(),
        t0.elapsed().as_secs_f64() * 1e3 / total as f64
    );
    for _ in 0..20 {
        run("yes 'a line of output that is 48 bytes long .......' | head -c 3000000");
    }
    let rss_all = status_kib(pid, "VmRSS:");
    println!(
        "RSS after 20 more printing 3 MB each: {:.1} MiB (VmData {:.1} MiB)",
        mib(rss_all),
        mib(status_kib(pid, "VmData:"))
    );
    let listed = lsp.ok("sandport.listProcesses", json!({}));
    let listed = listed
        .as_array()
        .or_else(|| listed["processes"].as_array())
        .cloned()
        .unwrap_or_default();
    let mut removed = 0;
    for p in &listed {
        let r = lsp.ok("sandport.removeProcess", json!({"processId": p["id"]}));
        removed += usize::from(r["removed"] == true);
    }
    let rss_removed = status_kib(pid, "VmRSS:");
    println!(
        "RSS after removing the {removed} processes still kept (of {}): {:.1} MiB (VmData {:.1} MiB)",
        total + 20,
        mib(rss_removed),
        mib(status_kib(pid, "VmData:"))
    );
    std::thread::sleep(Duration::from_secs(5));
    let rss_idle = status_kib(pid, "VmRSS:");
    println!("RSS idle (5 s later): {:.1} MiB", mib(rss_idle));
    println!(
        "ratio end / after the first 100: {:.2} (target <= 1.25); idle {:.1} MiB (target < 20)",
        rss_idle as f64 / rss_100.max(1) as f64,
        mib(rss_idle)
    );
    lsp.shutdown_exit();
    drop(lsp);
    let _ = std::fs::remove_dir_all(&dir);
}
