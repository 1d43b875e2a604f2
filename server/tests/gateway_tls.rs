//! HTTPS on the gateway with a certificate made in the test (rcgen):
//! HTTP/1.1 and HTTP/2 chosen by ALPN, through a preview URL.

mod gateway_util;

use gateway_util::*;
use http_body_util::BodyExt;
use hyper::{Request, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use sandport::gateway::GatewayConfig;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

async fn tls_connect(
    addr: std::net::SocketAddr,
    name: &str,
    roots: rustls::RootCertStore,
    alpn: &[&[u8]],
) -> TlsStream<TcpStream> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(addr).await.unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from(name.to_string()).unwrap(), tcp)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_over_http1_and_http2() {
    let (port, _) = upstream().await;
    let name = format!("{port}-box-tls.localhost");
    let ck = rcgen::generate_simple_self_signed(vec![name.clone(), "localhost".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let env = Env::with(GatewayConfig {
        tls_cert: Some(cert),
        tls_key: Some(key),
        ..Default::default()
    })
    .await;
    let url = env
        .engine
        .expose_port(port, None, Some("tls".into()), None)
        .unwrap()
        .url;
    assert_eq!(url, format!("https://{name}:{}/", env.addr().port()));
    let host = host_of(&url);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();

    // HTTP/1.1.
    let tls = tls_connect(env.addr(), &name, roots.clone(), &[b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (mut s, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::get("/headers")
        .header("host", &host)
        .body(full(""))
        .unwrap();
    let resp = s.send_request(req).await.unwrap();
    assert_eq!(resp.version(), Version::HTTP_11);
    assert_eq!(resp.status(), 200);
    let h: serde_json::Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(h["x-forwarded-proto"], "https");
    assert_eq!(h["host"], format!("localhost:{port}"));

    // HTTP/2 (offered first by ALPN, as browsers do).
    let tls = tls_connect(env.addr(), &name, roots, &[b"h2", b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut s, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    for path in ["/api/hello", "/headers", "/big/1048576"] {
        let req = Request::get(format!("https://{host}{path}"))
            .body(full(""))
            .unwrap();
        let resp = tokio::time::timeout(Duration::from_secs(10), s.send_request(req))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(resp.version(), Version::HTTP_2);
        assert_eq!(resp.status(), 200, "{path}");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        match path {
            "/api/hello" => assert!(body.starts_with(b"{\"message\"")),
            "/headers" => {
                let h: serde_json::Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(h["x-forwarded-proto"], "https");
                assert_eq!(h["x-forwarded-host"], host.as_str());
                assert_eq!(h["host"], format!("localhost:{port}"));
            }
            _ => assert_eq!(body.len(), 1 << 20),
        }
    }
    // A wrong token over HTTP/2 gets the same 404.
    let req = Request::get(format!(
        "https://{port}-box-nope.localhost:{}/",
        env.addr().port()
    ))
    .body(full(""))
    .unwrap();
    let resp = s.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 404);
}
