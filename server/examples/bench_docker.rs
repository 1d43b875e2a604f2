//! Docker vs local figures for docs/performance.md (run by bench/docker.sh):
//! sandbox creation to first process, process start latency, HTTP requests
//! through the gateway, WebSocket round trips through the gateway. The same
//! upstream programs run on both backends, side by side in one run.
//! Prints figures; asserts nothing. Needs SANDPORT_AGENT and the test images
//! (tests/docker/images.sh).

use futures_util::{SinkExt, StreamExt};
use sandport::backend::docker::{DockerBackend, DockerOptions};
use sandport::backend::local::{LocalBackend, LocalOptions};
use sandport::backend::Backend;
use sandport::engine::*;
use sandport::gateway::{Gateway, GatewayConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn docker_opts(id: &str) -> DockerOptions {
    let mut o = DockerOptions::new(id);
    o.image = "sandport-test:host".into();
    o.mounts = vec!["/usr:/usr:ro".into(), "/etc:/etc:ro".into()];
    o
}

async fn backend(kind: &str, dir: &std::path::Path, id: &str) -> Arc<dyn Backend> {
    match kind {
        "local" => Arc::new(LocalBackend::new(LocalOptions::default()).unwrap()),
        _ => Arc::new(DockerBackend::new(docker_opts(id), dir).await.unwrap()),
    }
}

fn fixture(dir: &std::path::Path, name: &str) {
    let src = format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(src, dir.join(name)).unwrap();
}

/// `conns` keep-alive connections sending GETs for `secs`: (req/s, p50 ms, p99 ms).
async fn http_load(
    addr: std::net::SocketAddr,
    host: &str,
    conns: usize,
    secs: f64,
) -> (f64, f64, f64) {
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let tasks = (0..conns).map(|_| {
        let host = host.to_string();
        tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.set_nodelay(true).unwrap();
            let req = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
            let mut buf = vec![0u8; 4096];
            while Instant::now() < end {
                let t = Instant::now();
                s.write_all(req.as_bytes()).await.unwrap();
                let mut got = Vec::new();
                loop {
                    let n = s.read(&mut buf).await.unwrap();
                    assert!(n > 0, "connection closed");
                    got.extend_from_slice(&buf[..n]);
                    if let Some(h) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&got[..h]).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map(|v| v.trim().parse().unwrap())
                            .unwrap_or(0);
                        if got.len() >= h + 4 + len {
                            break;
                        }
                    }
                }
                lat.push(t.elapsed().as_secs_f64() * 1e3);
            }
            lat
        })
    });
    let mut all = Vec::new();
    for t in futures_util::future::join_all(tasks).await {
        all.extend(t.unwrap());
    }
    let n = all.len() as f64;
    (n / secs, pct(&mut all, 0.5), pct(&mut all, 0.99))
}

async fn ws_rtt(addr: std::net::SocketAddr, host: &str, n: usize) -> (f64, f64) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{host}/"), stream)
        .await
        .unwrap();
    use tokio_tungstenite::tungstenite::Message;
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        ws.send(Message::text(format!("ping {i:08}")))
            .await
            .unwrap();
        ws.next().await.unwrap().unwrap();
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    (pct(&mut lat, 0.5), pct(&mut lat, 0.99))
}

#[tokio::main]
async fn main() {
    let kinds = ["local", "docker"];
    println!(
        "# docker vs local, {} cores",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );

    // Sandbox creation → first process running / its first output.
    println!("\nsandbox creation -> first process (5 fresh sandboxes each, median)");
    for kind in kinds {
        let mut running = Vec::new();
        let mut output = Vec::new();
        for i in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let t = Instant::now();
            let b = backend(kind, dir.path(), &format!("bench{i}{}", std::process::id())).await;
            let e = Engine::new(EngineConfig::new(dir.path()), b).unwrap();
            let p = e
                .start_process(StartProcess {
                    command: "echo up; sleep 5".into(),
                    ..Default::default()
                })
                .await
                .unwrap();
            running.push(t.elapsed().as_secs_f64() * 1e3);
            e.wait_for_log(WaitLog {
                process_id: p.id,
                pattern: "up".into(),
                regex: false,
                stream: StreamSel::Stdout,
                timeout_ms: 30_000,
            })
            .await
            .unwrap();
            output.push(t.elapsed().as_secs_f64() * 1e3);
            e.shutdown(Duration::from_secs(1)).await;
        }
        println!(
            "  {kind:6}  running {:8.1} ms   first output {:8.1} ms",
            pct(&mut running, 0.5),
            pct(&mut output, 0.5)
        );
    }

    let mut engines = Vec::new();
    for kind in kinds {
        let dir = tempfile::tempdir().unwrap();
        let b = backend(kind, dir.path(), &format!("benchgw{}", std::process::id())).await;
        let e = Engine::new(EngineConfig::new(dir.path()), b).unwrap();
        e.set_sandbox_id(format!("{kind}box")).unwrap();
        engines.push((kind, e, dir));
    }

    println!("\nprocess start latency (startProcess returns; 30 starts, in a warm sandbox)");
    for (kind, e, _) in &engines {
        let mut lat = Vec::new();
        for _ in 0..30 {
            let t = Instant::now();
            let p = e
                .start_process(StartProcess {
                    command: "true".into(),
                    ..Default::default()
                })
                .await
                .unwrap();
            lat.push(t.elapsed().as_secs_f64() * 1e3);
            e.wait_for_exit(&p.id, Some(10_000)).await.unwrap();
        }
        let (p50, p95) = (pct(&mut lat, 0.5), pct(&mut lat, 0.95));
        println!("  {kind:6}  p50 {p50:7.2} ms   p95 {p95:7.2} ms");
    }

    println!("\nthrough the gateway: python keep-alive HTTP server (8 connections, 5 s) and WebSocket echo (500 round trips)");
    let mut rows = Vec::new();
    for (kind, e, dir) in &engines {
        fixture(dir.path(), "http_keepalive.py");
        fixture(dir.path(), "ws_echo.py");
        for cmd in [
            "exec python3 http_keepalive.py 8000",
            "exec python3 ws_echo.py 8080",
        ] {
            e.start_process(StartProcess {
                command: cmd.into(),
                ..Default::default()
            })
            .await
            .unwrap();
        }
        for port in [8000, 8080] {
            let mut w = WaitPort::new(port);
            w.mode = WaitMode::Tcp;
            w.timeout_ms = 30_000;
            e.wait_for_port(w).await.unwrap();
        }
        let gw = Gateway::start(
            GatewayConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                ..Default::default()
            },
            e.clone(),
        )
        .await
        .unwrap();
        let host = |url: String| {
            url.trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string()
        };
        let h = host(e.expose_port(8000, None, None, None).unwrap().url);
        let w = host(e.expose_port(8080, None, None, None).unwrap().url);
        let (rps, p50, p99) = http_load(gw.local_addr(), &h, 8, 5.0).await;
        let (w50, w99) = ws_rtt(gw.local_addr(), &w, 500).await;
        println!("  {kind:6}  HTTP {rps:8.0} req/s  p50 {p50:6.2} ms  p99 {p99:6.2} ms   WS RTT p50 {w50:6.3} ms  p99 {w99:6.3} ms");
        rows.push((rps, w50));
        gw.shutdown().await;
    }
    println!(
        "  ratio docker/local: req/s {:.2}x, WS RTT p50 {:.2}x",
        rows[1].0 / rows[0].0,
        rows[1].1 / rows[0].1
    );
    for (_, e, _) in &engines {
        e.shutdown(Duration::from_secs(2)).await;
    }
}
