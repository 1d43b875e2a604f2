//! Slowloris: many connections that send part of a request head and hold it
//! do not stop normal requests, and are closed after the header read
//! timeout. Alone in its binary (it uses many file descriptors).

mod gateway_util;

use gateway_util::*;
use sandport::gateway::{GatewayConfig, Limits};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// 1000, or a third of the soft RLIMIT_NOFILE when that is lower (each held
/// connection costs two descriptors here: the client's and the gateway's).
fn how_many() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur as usize
    } else {
        1024
    };
    let n = 1000.min(soft / 3);
    if n < 1000 {
        eprintln!("RLIMIT_NOFILE is {soft}: holding {n} connections instead of 1000");
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_does_not_stop_normal_requests() {
    let timeout = Duration::from_secs(3);
    let env = Env::with(GatewayConfig {
        limits: Limits {
            header_read_timeout: timeout,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let (port, _) = upstream().await;
    let host = env.expose(port, None);
    let n = how_many();
    let t0 = Instant::now();
    let mut held = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = TcpStream::connect(env.addr()).await.unwrap();
        s.write_all(format!("GET / HTTP/1.1\r\nHost: {host}\r\nX-Slow-{i}: ").as_bytes())
            .await
            .unwrap();
        held.push(s);
    }
    let opened = t0.elapsed();
    // A normal request is served promptly while they are all held.
    let t1 = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(2), get(env.addr(), &host, "/api/hello"))
        .await
        .expect("normal request served during slowloris");
    assert_eq!(r.status, 200);
    let served = t1.elapsed();
    assert!(
        t0.elapsed() < timeout,
        "opening took too long to test: {:?}",
        t0.elapsed()
    );
    eprintln!(
        "{n} slowloris connections opened in {opened:?}; normal request served in {served:?}"
    );

    // After the header read timeout the gateway drops them.
    let deadline = Instant::now() + timeout * 2 + Duration::from_secs(2);
    let mut closed = 0;
    for s in held.iter_mut().step_by((n / 50).max(1)) {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut buf = [0u8; 512];
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            // EOF, or a 408 then EOF, or a reset: closed by the gateway.
            Ok(Ok(_)) | Ok(Err(_)) => closed += 1,
            Err(_) => break,
        }
    }
    let sampled = held.iter().step_by((n / 50).max(1)).count();
    assert_eq!(
        closed, sampled,
        "held connections outlived the header read timeout"
    );
    drop(held);
    assert_eq!(get(env.addr(), &host, "/api/hello").await.status, 200);
}
