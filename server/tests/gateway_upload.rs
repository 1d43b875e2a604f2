//! A large upload streams through the gateway with bounded memory. Alone in
//! its binary so the process's peak RSS is this test's.
//! `SANDPORT_UPLOAD_MIB` overrides the size (default 1024 MiB).

mod gateway_util;

use bytes::Bytes;
use gateway_util::*;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use std::convert::Infallible;
use std::time::{Duration, Instant};

fn vm_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_upload_streams_with_bounded_memory() {
    let mib: u64 = std::env::var("SANDPORT_UPLOAD_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let env = Env::new().await;
    let (port, _) = upstream().await;
    let host = env.expose(port, None);
    // Warm up (pool, buffers), then take the baseline.
    let r = request(
        env.addr(),
        &host,
        "POST",
        "/upload",
        &[],
        full(vec![1u8; 1 << 20]),
    )
    .await;
    assert_eq!(r.status, 200);
    let before = vm_kib("VmHWM:");

    const CHUNK: usize = 256 * 1024;
    static ZEROS: [u8; CHUNK] = [0; CHUNK];
    let chunks = mib * (1 << 20) / CHUNK as u64;
    let stream = futures_util::stream::unfold(0u64, move |i| async move {
        (i < chunks).then(|| {
            (
                Ok::<_, Infallible>(Frame::data(Bytes::from_static(&ZEROS))),
                i + 1,
            )
        })
    });
    let t0 = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs(120),
        request(
            env.addr(),
            &host,
            "POST",
            "/upload",
            &[("content-type", "application/octet-stream")],
            StreamBody::new(stream).boxed_unsync(),
        ),
    )
    .await
    .expect("upload in time");
    let took = t0.elapsed();
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["received"], mib << 20);
    let after = vm_kib("VmHWM:");
    let grew_mib = after.saturating_sub(before) / 1024;
    eprintln!(
        "upload: {mib} MiB chunked in {took:?} ({:.0} MiB/s); peak RSS {} -> {} MiB (+{grew_mib} MiB)",
        mib as f64 / took.as_secs_f64(),
        before / 1024,
        after / 1024
    );
    // Client, gateway and upstream share this process: all of them together
    // must stay far below the body size.
    assert!(grew_mib < 64, "peak RSS grew by {grew_mib} MiB");
}
