//! Engine figures for docs/performance.md (run by bench/engine.sh):
//! (a) readiness detection latency of waitForPort with default settings,
//!     beside a naive poller that checks every 500 ms (the seed SDK's default);
//! (b) log capture: a process writing 200 MB under the engine vs. to /dev/null;
//! (c) resident memory idle and with 100 running processes.
//! Prints figures; asserts nothing.

use sandport::backend::local::{LocalBackend, LocalOptions};
use sandport::engine::{Engine, EngineConfig, StartProcess, WaitPort};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// A server that sleeps a random while, then listens and records the
/// wall-clock time of listen() in `stamp`, then answers HTTP 200.
fn server_script(port: u16, stamp: &str) -> String {
    let body = "b'HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\nok'";
    [
        "import socket, time, random".to_string(),
        "time.sleep(random.uniform(0.05, 0.3))".into(),
        "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)".into(),
        format!("s.bind(('127.0.0.1', {port})); s.listen(64)"),
        format!("open('{stamp}', 'w').write(str(time.time_ns()))"),
        "while True:".into(),
        "    c, _ = s.accept(); c.recv(4096)".into(),
        format!("    c.sendall({body}); c.close()"),
    ]
    .join("\n")
}

async fn naive_wait(port: u16) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            let _ = s
                .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .await;
            let mut b = [0u8; 64];
            if let Ok(n) = s.read(&mut b).await {
                if n > 12 && &b[9..12] == b"200" {
                    return;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::main]
async fn main() {
    let trials: usize = std::env::var("TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::new(
        EngineConfig::new(dir.path()),
        Arc::new(LocalBackend::new(LocalOptions::default()).unwrap()),
    )
    .unwrap();
    let idle = rss_kib();

    // (a) readiness latency
    let mut ours = Vec::new();
    let mut naive = Vec::new();
    for i in 0..trials * 2 {
        let port = free_port();
        let stamp = dir.path().join(format!("stamp{i}"));
        let script = dir.path().join(format!("s{i}.py"));
        std::fs::write(&script, server_script(port, &stamp.display().to_string())).unwrap();
        let p = engine
            .start_process(StartProcess {
                command: format!("exec python3 {}", script.display()),
                ..Default::default()
            })
            .await
            .unwrap();
        if i % 2 == 0 {
            let mut w = WaitPort::new(port);
            w.process_id = Some(p.id.clone());
            engine.wait_for_port(w).await.unwrap();
        } else {
            naive_wait(port).await;
        }
        let done = now_ns();
        let listened: u128 = std::fs::read_to_string(&stamp)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let ms = (done.saturating_sub(listened)) as f64 / 1e6;
        if i % 2 == 0 {
            ours.push(ms)
        } else {
            naive.push(ms)
        }
        engine
            .kill_process(&p.id, Some("SIGKILL"), None)
            .await
            .unwrap();
    }
    let (om, o95) = (pct(&mut ours, 0.5), pct(&mut ours, 0.95));
    let (nm, n95) = (pct(&mut naive, 0.5), pct(&mut naive, 0.95));
    println!("readiness latency (listen() -> wait returns), {trials} trials each, HTTP mode, default settings");
    println!("  sandport waitForPort   median {om:7.2} ms   p95 {o95:7.2} ms");
    println!("  naive 500 ms poller    median {nm:7.2} ms   p95 {n95:7.2} ms");
    println!(
        "  ratio (naive / sandport, median): {:.1}x",
        nm / om.max(0.001)
    );

    // (b) log capture: 200 MB of lines to the engine vs to /dev/null
    let writer = "yes 'a line of output that is 48 bytes long .......' | head -c 200000000";
    let runs = 5;
    let mut devnull = Vec::new();
    let mut cat = Vec::new();
    let mut captured = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let st = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("{writer} | cat > /dev/null"))
            .status()
            .unwrap();
        assert!(st.success());
        cat.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let st = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("{writer} > /dev/null"))
            .status()
            .unwrap();
        assert!(st.success());
        devnull.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let p = engine
            .start_process(StartProcess {
                command: writer.into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let r = engine.wait_for_exit(&p.id, Some(600_000)).await.unwrap();
        assert_eq!(r.exit_code, Some(0));
        captured.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (d, k, c) = (
        pct(&mut devnull, 0.5),
        pct(&mut cat, 0.5),
        pct(&mut captured, 0.5),
    );
    println!("log capture of 200 MB ({runs} runs, median)");
    println!("  writer > /dev/null         {d:8.1} ms");
    println!("  writer | cat > /dev/null   {k:8.1} ms   (any pipe reader)");
    println!("  writer under the engine    {c:8.1} ms");
    println!(
        "  ratio engine / devnull: {:.2}x   engine / cat: {:.2}x",
        c / d,
        c / k
    );
    println!("  RSS after capture: {} KiB", rss_kib());

    // (c) memory idle and with 100 processes
    let mut ids = Vec::new();
    for _ in 0..100 {
        let p = engine
            .start_process(StartProcess {
                command: "exec sleep 60".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        ids.push(p.id);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let with100 = rss_kib();
    println!("resident memory (this bench process: engine + harness)");
    println!("  idle                   {idle} KiB");
    println!("  100 running processes  {with100} KiB");
    engine.shutdown(Duration::from_secs(2)).await;
}
