//! A service that writes its response head and body in two writes (Python's
//! `http.server`, many dev servers) over a keep-alive connection with Nagle
//! on: through the gateway's pooled upstream connection each request must
//! not wait for a delayed ACK (~40 ms on Linux).

mod gateway_util;

use gateway_util::*;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Answers every request on a connection with two writes: the head, then the
/// body. Nagle stays on (as in Python's socketserver).
async fn two_write_upstream() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(serve(s));
        }
    });
    port
}

async fn serve(mut s: TcpStream) {
    let body = b"hello from a two-write service\n";
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // One request head (GET: no body).
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        buf.drain(..end);
        if s.write_all(head.as_bytes()).await.is_err() || s.write_all(body).await.is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_write_service_answers_without_delayed_ack_wait() {
    let env = Env::new().await;
    let port = two_write_upstream().await;
    let host = env.expose(port, None);

    // One keep-alive client connection; the gateway reuses one pooled
    // upstream connection for all of them (past TCP's quick-ACK start).
    let tcp = TcpStream::connect(env.addr()).await.unwrap();
    let (mut s, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut times = Vec::new();
    for _ in 0..20 {
        let req = hyper::Request::builder()
            .uri("/")
            .header("host", &host)
            .body(full(""))
            .unwrap();
        s.ready().await.unwrap();
        let t0 = Instant::now();
        let resp = tokio::time::timeout(Duration::from_secs(5), s.send_request(req))
            .await
            .expect("response in time")
            .unwrap();
        assert_eq!(resp.status(), 200);
        let b = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap()
            .to_bytes();
        times.push(t0.elapsed());
        assert_eq!(&b[..], b"hello from a two-write service\n");
    }
    eprintln!("two-write service through the gateway: {times:?}");
    let slow: Vec<_> = times
        .iter()
        .filter(|t| **t >= Duration::from_millis(20))
        .collect();
    // A loaded machine may stall one request; a delayed-ACK wait stalls
    // nearly every one after the first few.
    assert!(
        slow.len() <= 2,
        "{} of 20 requests took >= 20 ms: {times:?}",
        slow.len()
    );
}
