//! The preview gateway over real sockets (127.0.0.1 only): routing, the
//! 404/502 contract, streaming, redirects and cookies, header hygiene,
//! WebSockets, and the direct connection.

mod gateway_util;

use futures_util::{SinkExt, StreamExt};
use gateway_util::*;
use http_body_util::BodyExt;
use sandport::engine::{StartProcess, WaitPort};
use sandport::gateway::{GatewayConfig, HostHeader};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

fn json(b: &[u8]) -> serde_json::Value {
    serde_json::from_slice(b).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(b)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_site_through_python_http_server() {
    let env = Env::new().await;
    std::fs::write(env.dir.path().join("index.html"), "<h1>hello static</h1>").unwrap();
    let port = free_port();
    env.engine
        .start_process(StartProcess {
            command: format!("exec python3 -m http.server {port} --bind 127.0.0.1"),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut w = WaitPort::new(port);
    w.timeout_ms = 20_000;
    w.interval_ms = 100;
    env.engine.wait_for_port(w).await.unwrap();
    let exposed = env
        .engine
        .expose_port(port, Some("static-site".into()), None, None)
        .unwrap();
    assert!(exposed.url.starts_with(&format!("http://{port}-box-")));
    assert!(exposed
        .url
        .ends_with(&format!(".localhost:{}/", env.addr().port())));
    let host = host_of(&exposed.url);
    let r = get(env.addr(), &host, "/").await;
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains("<h1>hello static</h1>"));
    let r = get(env.addr(), &host, "/index.html").await;
    assert_eq!(&r.body[..], b"<h1>hello static</h1>");
    // The service stops: 502 with the contract's code.
    env.engine.kill_all().await;
    let r = get(env.addr(), &host, "/").await;
    assert_eq!(r.status, 502);
    let v = json(&r.body);
    assert_eq!(v["code"], "SERVICE_NOT_RESPONDING");
    assert!(v["hint"].as_str().unwrap().contains("0.0.0.0"), "{v}");
    env.engine.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_server_and_nothing_listening() {
    let env = Env::new().await;
    let (port, _) = upstream().await;
    let host = env.expose(port, None);
    let r = get(env.addr(), &host, "/api/hello").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(json(&r.body)["message"], "Hello from sandbox!");
    // Keep-alive upstream connections: many requests, all fine.
    for _ in 0..50 {
        assert_eq!(get(env.addr(), &host, "/api/hello").await.status, 200);
    }
    // POST with a body.
    let r = request(env.addr(), &host, "POST", "/upload", &[], full("12345")).await;
    assert_eq!(json(&r.body)["received"], 5);

    let dead = free_port();
    let host = env.expose(dead, None);
    let r = get(env.addr(), &host, "/").await;
    assert_eq!(r.status, 502);
    let v = json(&r.body);
    assert_eq!(v["code"], "SERVICE_NOT_RESPONDING");
    assert!(v["error"].as_str().unwrap().contains(&dead.to_string()));
    assert!(v["hint"].as_str().unwrap().contains("0.0.0.0"), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_unroutable_address_gets_the_same_404() {
    let env = Env::new().await;
    let (port, _) = upstream().await;
    let gw = env.addr();
    let suffix = format!("localhost:{}", gw.port());
    let good = env.expose(port, Some("right"));
    assert_eq!(get(gw, &good, "/api/hello").await.status, 200);

    let mut bodies = Vec::new();
    let mut check = |r: Reply, what: &str| {
        assert_eq!(r.status, 404, "{what}");
        assert_eq!(r.headers["content-type"], "application/json", "{what}");
        let v = json(&r.body);
        assert_eq!(v["code"], "INVALID_TOKEN", "{what}");
        bodies.push((what.to_string(), r.body));
    };
    check(
        get(gw, &format!("{port}-other-right.{suffix}"), "/").await,
        "unknown sandbox",
    );
    let unexposed = free_port();
    check(
        get(gw, &format!("{unexposed}-box-right.{suffix}"), "/").await,
        "unexposed port",
    );
    check(
        get(gw, &format!("{port}-box-wrong.{suffix}"), "/").await,
        "wrong token",
    );
    check(
        get(gw, &format!("127.0.0.1:{}", gw.port()), "/").await,
        "not a preview host",
    );

    // Rotation: the old URL dies, the new one works.
    let rotated = env.expose(port, Some("newer"));
    check(get(gw, &good, "/").await, "rotated token");
    assert_eq!(get(gw, &rotated, "/api/hello").await.status, 200);

    // TTL of 1 s.
    let (port2, _) = upstream().await;
    let e = env.engine.expose_port(port2, None, None, Some(1)).unwrap();
    assert!(e.expires_at.is_some());
    let ttl_host = host_of(&e.url);
    assert_eq!(get(gw, &ttl_host, "/api/hello").await.status, 200);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    check(get(gw, &ttl_host, "/").await, "expired");
    assert!(env.engine.exposed_ports().iter().all(|p| p.port != port2));

    // Closed.
    assert!(env.engine.close_port(port));
    check(get(gw, &rotated, "/").await, "closed");

    let first = bodies[0].1.clone();
    for (what, b) in &bodies {
        assert_eq!(b, &first, "{what} differs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_arrives_incrementally() {
    let env = Env::new().await;
    let (port, _) = upstream().await;
    let host = env.expose(port, None);
    let t0 = Instant::now();
    let resp = send(env.addr(), &host, "GET", "/sse", &[], full("")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.into_body();
    let first = tokio::time::timeout(Duration::from_secs(1), body.frame())
        .await
        .expect("first event before the upstream finishes")
        .unwrap()
        .unwrap()
        .into_data()
        .unwrap();
    assert_eq!(&first[..], b"data: one\n\n");
    assert!(
        t0.elapsed() < Duration::from_millis(1200),
        "{:?}",
        t0.elapsed()
    );
    let second = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .into_data()
        .unwrap();
    assert_eq!(&second[..], b"data: two\n\n");
    assert!(t0.elapsed() >= Duration::from_millis(1400));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_and_cookies_pass_untouched() {
    let env = Env::new().await;
    let (port, _) = upstream().await;
    let host = env.expose(port, None);
    let r = get(env.addr(), &host, "/redirect").await;
    assert_eq!(r.status, 307);
    assert_eq!(r.headers["location"], "/next?x=1");
    let cookies: Vec<_> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(
        cookies,
        vec!["a=1; Path=/; HttpOnly", "b=2; Path=/; Secure; SameSite=Lax"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_forwarding_and_internal_headers_are_replaced() {
    let env = Env::new().await;
    let (port, _) = upstream().await;
    let host = env.expose(port, None);
    let r = request(
        env.addr(),
        &host,
        "GET",
        "/headers",
        &[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-port", "443"),
            ("forwarded", "for=6.6.6.6"),
            ("x-sandport-session", "forged"),
            ("X-Sandport-Internal", "1"),
            ("connection", "keep-alive, x-hop"),
            ("x-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("proxy-authorization", "Basic eA=="),
            ("x-app", "kept"),
        ],
        full(""),
    )
    .await;
    assert_eq!(r.status, 200);
    let h = json(&r.body);
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-host"], host.as_str());
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["host"], format!("localhost:{port}"));
    assert_eq!(h["x-app"], "kept");
    for gone in [
        "x-forwarded-port",
        "forwarded",
        "x-sandport-session",
        "x-sandport-internal",
        "x-hop",
        "keep-alive",
        "proxy-authorization",
    ] {
        assert!(h.get(gone).is_none(), "{gone} reached the service: {h}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_echo_text_binary_and_16_mib() {
    let env = Env::new().await;
    let (port, _) = upstream().await;
    let host = env.expose(port, None);
    let mut ws = ws_connect(env.addr(), &host, "/ws", &[]).await.unwrap();
    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hello"));
    ws.send(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::binary(vec![0u8, 1, 2, 255])
    );
    let big: Vec<u8> = (0..16 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    ws.send(Message::binary(big.clone())).await.unwrap();
    let back = tokio::time::timeout(Duration::from_secs(30), ws.next())
        .await
        .expect("16 MiB echo in time")
        .unwrap()
        .unwrap();
    assert_eq!(back.into_data().as_ref(), &big[..]);
    ws.close(None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_port_closes_a_live_websocket_and_a_live_stream() {
    let env = Env::new().await;
    let (port, _) = upstream().await;
    let host = env.expose(port, None);
    let mut ws = ws_connect(env.addr(), &host, "/ws", &[]).await.unwrap();
    ws.send(Message::text("ping")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("ping"));
    let resp = send(env.addr(), &host, "GET", "/sse", &[], full("")).await;
    let mut sse = resp.into_body();
    sse.frame().await.unwrap().unwrap();

    assert!(env.engine.close_port(port));
    let end = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the WebSocket stayed open after closePort");
    let sse_end = tokio::time::timeout(Duration::from_secs(3), sse.frame())
        .await
        .expect("the stream ended after closePort");
    assert!(
        !matches!(sse_end, Some(Ok(_))),
        "the stream kept flowing after closePort"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_sees_the_same_host_for_http_and_websocket() {
    for mode in [HostHeader::Localhost, HostHeader::Preserve] {
        let env = Env::with(GatewayConfig {
            host_header: mode,
            ..Default::default()
        })
        .await;
        let (port, seen) = upstream().await;
        let host = env.expose(port, None);
        assert_eq!(get(env.addr(), &host, "/api/hello").await.status, 200);
        let mut ws = ws_connect(env.addr(), &host, "/ws", &[]).await.unwrap();
        ws.close(None).await.ok();
        let hosts = seen.hosts.lock().unwrap().clone();
        let http = &hosts.iter().find(|(p, _)| p == "/api/hello").unwrap().1;
        let wsh = &hosts.iter().find(|(p, _)| p == "/ws").unwrap().1;
        assert_eq!(http, wsh, "{mode:?}");
        let want = match mode {
            HostHeader::Localhost => format!("localhost:{port}"),
            HostHeader::Preserve => host.clone(),
        };
        assert_eq!(http, &want, "{mode:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_connection_needs_the_session_key() {
    let env = Env::new().await;
    let (port, seen) = upstream().await;
    // Not exposed: the direct connection reaches it anyway.
    let gw_host = format!("127.0.0.1:{}", env.addr().port());
    let path = format!("/_sandport/connect/{port}/ws");
    let key = env.engine.session_key();
    assert!(key.len() >= 32);
    let auth = format!("Bearer {key}");
    let mut ws = ws_connect(env.addr(), &gw_host, &path, &[("authorization", &auth)])
        .await
        .unwrap();
    ws.send(Message::text("direct")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("direct"));
    ws.close(None).await.ok();
    assert!(seen.hosts.lock().unwrap().iter().any(|(p, _)| p == "/ws"));

    for hdrs in [
        vec![(
            "authorization",
            "Bearer wrong-key-wrong-key-wrong-key-wrong",
        )],
        vec![],
    ] {
        match ws_connect(env.addr(), &gw_host, &path, &hdrs).await {
            Err(WsError::Http(resp)) => {
                assert_eq!(resp.status(), 401);
                let v = json(resp.body().as_deref().unwrap_or_default());
                assert_eq!(v["code"], "UNAUTHORIZED");
            }
            other => panic!("expected 401, got {:?}", other.map(|_| ())),
        }
    }
    // A plain request with the key is refused (it is for WebSockets).
    let r = request(
        env.addr(),
        &gw_host,
        "GET",
        &path,
        &[("authorization", &auth)],
        full(""),
    )
    .await;
    assert_eq!(r.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_port_is_reserved_and_shutdown_closes() {
    let env = Env::new().await;
    let gw_port = env.addr().port();
    let err = env
        .engine
        .expose_port(gw_port, None, None, None)
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_PORT");
    let (port, _) = upstream().await;
    let host = env.expose(port, None);
    let mut ws = ws_connect(env.addr(), &host, "/ws", &[]).await.unwrap();
    ws.send(Message::text("x")).await.unwrap();
    ws.next().await.unwrap().unwrap();
    tokio::time::timeout(Duration::from_secs(6), env.gateway.shutdown())
        .await
        .unwrap();
    let end = tokio::time::timeout(Duration::from_secs(3), ws.next()).await;
    assert!(matches!(
        end,
        Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_))))
    ));
    assert!(tokio::net::TcpStream::connect(env.addr()).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taken_port_falls_back_and_urls_show_the_real_port() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let backend =
        sandport::backend::local::LocalBackend::new(sandport::backend::local::LocalOptions {
            watchdog: false,
            subreaper: false,
        })
        .unwrap();
    let engine = sandport::engine::Engine::new(
        sandport::engine::EngineConfig::new(dir.path()),
        std::sync::Arc::new(backend),
    )
    .unwrap();
    let gw = sandport::gateway::Gateway::start(
        GatewayConfig {
            listen: taken.local_addr().unwrap(),
            ..Default::default()
        },
        engine.clone(),
    )
    .await
    .unwrap();
    assert_ne!(gw.local_addr().port(), taken.local_addr().unwrap().port());
    let e = engine.expose_port(free_port(), None, None, None).unwrap();
    assert!(
        e.url
            .ends_with(&format!(".localhost:{}/", gw.local_addr().port())),
        "{}",
        e.url
    );
    gw.shutdown().await;
}
