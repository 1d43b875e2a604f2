//! Language-server figures through the real binary over pipes (not a test):
//! initialize round trip, idle RSS, and `sandport/log` delivery for a
//! process printing a million lines. Run by `bench/lsp.sh`.

use sandport_e2e::lsp_client::Lsp;
use serde_json::json;
use std::time::{Duration, Instant};

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|n| n.parse().unwrap_or(0)))
        })
        .unwrap_or(0)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let lines: u64 = std::env::var("LINES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let dir = std::env::temp_dir().join(format!("sandport-lsp-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    // 1. initialize round trip (request written → response parsed), fresh
    //    server each time; and spawn → initialize answered.
    let mut rt = Vec::new();
    let mut cold = Vec::new();
    for _ in 0..runs {
        let t0 = Instant::now();
        let lsp = Lsp::spawn(&dir);
        let uri = format!("file://{}", dir.display());
        let t1 = Instant::now();
        lsp.request(
            "initialize",
            json!({"processId": std::process::id(), "rootUri": uri, "capabilities": Lsp::client_capabilities()}),
        )
        .expect("initialize");
        let t2 = Instant::now();
        rt.push((t2 - t1).as_secs_f64() * 1e3);
        cold.push((t2 - t0).as_secs_f64() * 1e3);
        lsp.notify("initialized", json!({}));
        lsp.shutdown_exit();
    }
    println!(
        "initialize round trip: p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms ({runs} fresh servers)",
        pct(&mut rt, 0.5),
        pct(&mut rt, 0.95),
        pct(&mut rt, 1.0)
    );
    println!(
        "spawn to initialize answered: p50 {:.2} ms, p95 {:.2} ms",
        pct(&mut cold, 0.5),
        pct(&mut cold, 0.95)
    );

    // 2. idle RSS after initialize (gateway listening, no process).
    let lsp = Lsp::spawn(&dir);
    lsp.initialize(json!({}));
    std::thread::sleep(Duration::from_secs(2));
    println!(
        "RSS idle: {:.1} MiB (server process, after initialize, 2 s idle)",
        rss_kib(lsp.pid()) as f64 / 1024.0
    );

    // 3. a process printing `lines` lines.
    let before = lsp.bytes_in();
    let t0 = Instant::now();
    let p = lsp.ok(
        "sandport.startProcess",
        json!({"command": format!("seq 1 {lines}")}),
    );
    let id = p["id"].clone();
    let last = format!("\n{lines}\n");
    let first_line = format!("{lines}\n");
    lsp.wait_notification("sandport/log", Duration::from_secs(300), |n| {
        n["processId"] == id
            && n["text"]
                .as_str()
                .is_some_and(|t| t.ends_with(&last) || t == first_line)
    });
    let t_last = t0.elapsed();
    let done = lsp.wait_notification("sandport/processChanged", Duration::from_secs(60), |n| {
        n["id"] == id && n["status"] != "running"
    });
    let logs: Vec<_> = lsp
        .timed_notifications("sandport/log")
        .into_iter()
        .filter(|(_, n)| n["processId"] == id)
        .collect();
    let text_bytes: usize = logs
        .iter()
        .map(|(_, n)| n["text"].as_str().unwrap().len())
        .sum();
    let dropped: u64 = logs
        .iter()
        .map(|(_, n)| n["dropped"].as_u64().unwrap_or(0))
        .sum();
    let expected: usize = (1..=lines).map(|i| i.to_string().len() + 1).sum();
    println!(
        "sandport/log for `seq 1 {lines}` ({expected} bytes of output): {} messages, {} bytes of text, {} bytes on the wire, dropped {dropped} bytes, last line at the client after {:.0} ms (process {})",
        logs.len(),
        text_bytes,
        lsp.bytes_in() - before,
        t_last.as_secs_f64() * 1e3,
        done["status"],
    );
    if let (Some(a), Some(b)) = (logs.first(), logs.last()) {
        let span = (b.0 - a.0).as_secs_f64();
        println!(
            "  messages over {:.0} ms: {:.1} messages/s, largest {} bytes",
            span * 1e3,
            logs.len() as f64 / span.max(1e-3),
            logs.iter()
                .map(|(_, n)| n["text"].as_str().unwrap().len())
                .max()
                .unwrap_or(0)
        );
    }
    println!(
        "RSS after the run: {:.1} MiB",
        rss_kib(lsp.pid()) as f64 / 1024.0
    );
    lsp.shutdown_exit();
    drop(lsp);
    let _ = std::fs::remove_dir_all(&dir);
}
