//! Helpers for bench/gateway.sh (not a test):
//!
//! - `gateway_bench gateway PORT[,PORT…] [THREADS]`: an engine (local
//!   backend) and a gateway on 127.0.0.1:0 (a runtime of THREADS workers,
//!   default 2) with the ports exposed; prints `GATEWAY=addr` and
//!   `HOST_{port}=preview-host` per port, then serves until killed.
//! - `gateway_bench ws-echo`: a WebSocket echo server on 127.0.0.1:0; prints
//!   `PORT=n`.
//! - `gateway_bench ws-rtt ADDR HOST PATH N [BYTES]`: N sequential echo round
//!   trips of BYTES-byte binary messages over one WebSocket to ADDR with Host
//!   HOST; prints `rtt_us p50=… p99=… mean=…`.

use futures_util::{SinkExt, StreamExt};
use sandport::backend::local::{LocalBackend, LocalOptions};
use sandport::engine::{Engine, EngineConfig};
use sandport::gateway::{Gateway, GatewayConfig};
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    let threads: usize = match arg(0).as_str() {
        "gateway" => arg(2).parse().unwrap_or(2),
        _ => 1,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        match arg(0).as_str() {
            "gateway" => {
                let ports: Vec<u16> = arg(1).split(',').map(|p| p.parse().expect("PORT")).collect();
                gateway(&ports).await
            }
            "ws-echo" => ws_echo().await,
            "ws-rtt" => {
                ws_rtt(
                    &arg(1),
                    &arg(2),
                    &arg(3),
                    arg(4).parse().unwrap_or(2000),
                    arg(5).parse().unwrap_or(32),
                )
                .await
            }
            _ => {
                eprintln!("usage: gateway_bench gateway PORT [THREADS] | ws-echo | ws-rtt ADDR HOST PATH N [BYTES]");
                std::process::exit(2);
            }
        }
    });
}

async fn gateway(ports: &[u16]) {
    let dir = std::env::temp_dir().join(format!("sandport-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let backend = LocalBackend::new(LocalOptions {
        watchdog: false,
        subreaper: false,
    })
    .unwrap();
    let engine = Engine::new(EngineConfig::new(&dir), Arc::new(backend)).unwrap();
    engine.set_sandbox_id("bench".into()).unwrap();
    let gw = Gateway::start(
        GatewayConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..Default::default()
        },
        engine.clone(),
    )
    .await
    .unwrap();
    println!("GATEWAY={}", gw.local_addr());
    for &port in ports {
        let e = engine.expose_port(port, None, None, None).unwrap();
        let host = e.url.split("://").nth(1).unwrap().trim_end_matches('/');
        println!("HOST_{port}={host}");
    }
    std::io::stdout().flush().unwrap();
    let _ = tokio::signal::ctrl_c().await;
    gw.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

async fn ws_echo() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("PORT={}", l.local_addr().unwrap().port());
    std::io::stdout().flush().unwrap();
    loop {
        let Ok((tcp, _)) = l.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        tokio::spawn(async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                return;
            };
            while let Some(Ok(m)) = ws.next().await {
                if (m.is_binary() || m.is_text()) && ws.send(m).await.is_err() {
                    return;
                }
            }
        });
    }
}

async fn ws_rtt(addr: &str, host: &str, path: &str, n: usize, bytes: usize) {
    let req = format!("ws://{host}{path}").into_client_request().unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(req, tcp).await.unwrap();
    let payload = vec![7u8; bytes];
    let mut rtts = Vec::with_capacity(n);
    for i in 0..n + n / 10 {
        let t = Instant::now();
        ws.send(Message::binary(payload.clone())).await.unwrap();
        let m = ws.next().await.unwrap().unwrap();
        assert_eq!(m.len(), bytes);
        if i >= n / 10 {
            rtts.push(t.elapsed().as_nanos() as u64);
        }
    }
    rtts.sort_unstable();
    let p = |q: f64| rtts[((rtts.len() as f64 * q) as usize).min(rtts.len() - 1)] as f64 / 1000.0;
    let mean = rtts.iter().sum::<u64>() as f64 / rtts.len() as f64 / 1000.0;
    println!(
        "rtt_us p50={:.1} p99={:.1} mean={:.1}",
        p(0.50),
        p(0.99),
        mean
    );
}
