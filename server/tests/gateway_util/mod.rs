//! Shared pieces of the gateway integration tests: an engine on the local
//! backend, a gateway on 127.0.0.1:0, an in-test upstream (hyper, with a
//! WebSocket echo on /ws) and a small HTTP/1.1 client that sets any Host.
#![allow(dead_code)]

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sandport::backend::local::{LocalBackend, LocalOptions};
use sandport::engine::{Engine, EngineConfig};
use sandport::gateway::{Gateway, GatewayConfig};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>;

pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).boxed_unsync()
}

pub struct Env {
    pub engine: Engine,
    pub gateway: Gateway,
    pub dir: tempfile::TempDir,
}

impl Env {
    pub async fn new() -> Env {
        Env::with(GatewayConfig::default()).await
    }

    pub async fn with(mut cfg: GatewayConfig) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::new(LocalOptions {
            watchdog: false,
            subreaper: false,
        })
        .unwrap();
        let engine = Engine::new(EngineConfig::new(dir.path()), Arc::new(backend)).unwrap();
        engine.set_sandbox_id("box".into()).unwrap();
        cfg.listen = "127.0.0.1:0".parse().unwrap();
        let gateway = Gateway::start(cfg, engine.clone()).await.unwrap();
        Env {
            engine,
            gateway,
            dir,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.gateway.local_addr()
    }

    /// Exposes `port` and returns the preview Host (`label.localhost:gw`).
    pub fn expose(&self, port: u16, token: Option<&str>) -> String {
        let e = self
            .engine
            .expose_port(port, None, token.map(str::to_string), None)
            .unwrap();
        host_of(&e.url)
    }
}

/// `8000-box-tok.localhost:7357` of `http://8000-box-tok.localhost:7357/`.
pub fn host_of(url: &str) -> String {
    url.split("://")
        .nth(1)
        .unwrap()
        .trim_end_matches('/')
        .to_string()
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

/// One HTTP/1.1 request to the gateway with `host` as Host.
pub async fn request(
    addr: SocketAddr,
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Body,
) -> Reply {
    let resp = send(addr, host, method, path, headers, body).await;
    let (parts, b) = resp.into_parts();
    let body = tokio::time::timeout(Duration::from_secs(30), b.collect())
        .await
        .expect("body in time")
        .unwrap()
        .to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

pub async fn get(addr: SocketAddr, host: &str, path: &str) -> Reply {
    get_with(addr, host, path, &[]).await
}

/// A GET with extra headers.
pub async fn get_with(addr: SocketAddr, host: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    request(addr, host, "GET", path, headers, full("")).await
}

/// Sends a request and returns the response with its body unread.
pub async fn send(
    addr: SocketAddr,
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Body,
) -> Response<Incoming> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut s, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("host", host);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    tokio::time::timeout(
        Duration::from_secs(30),
        s.send_request(b.body(body).unwrap()),
    )
    .await
    .expect("response in time")
    .unwrap()
}

/// What the in-test upstream saw.
#[derive(Default)]
pub struct Seen {
    pub hosts: Mutex<Vec<(String, String)>>,
}

pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20))
}

/// Starts the in-test upstream on 127.0.0.1:0. Paths:
/// `/api/hello` JSON; `/headers` the request headers as JSON;
/// `/redirect` 307 with two Set-Cookie; `/sse` one event now, one after
/// 1.5 s; `/upload` counts the body; `/big/{n}` n bytes; `/ws` WebSocket echo.
pub async fn upstream() -> (u16, Arc<Seen>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(Seen::default());
    let s2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = l.accept().await else {
                return;
            };
            let seen = s2.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let seen = seen.clone();
                    async move { Ok::<_, Infallible>(serve(req, seen).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    (port, seen)
}

async fn serve(mut req: Request<Incoming>, seen: Arc<Seen>) -> Response<Body> {
    let host = req
        .headers()
        .get("host")
        .map(|h| h.to_str().unwrap().to_string())
        .unwrap_or_default();
    let path = req.uri().path().to_string();
    seen.hosts.lock().unwrap().push((path.clone(), host));
    match path.as_str() {
        "/api/hello" => json_resp(r#"{"message":"Hello from sandbox!"}"#),
        "/headers" => {
            let mut m = serde_json::Map::new();
            for (k, v) in req.headers() {
                m.insert(k.to_string(), v.to_str().unwrap_or("").into());
            }
            json_resp(&serde_json::Value::Object(m).to_string())
        }
        "/redirect" => Response::builder()
            .status(307)
            .header("location", "/next?x=1")
            .header("set-cookie", "a=1; Path=/; HttpOnly")
            .header("set-cookie", "b=2; Path=/; Secure; SameSite=Lax")
            .body(full(""))
            .unwrap(),
        "/sse" => {
            let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
            tokio::spawn(async move {
                let _ = tx.send(Bytes::from_static(b"data: one\n\n")).await;
                tokio::time::sleep(Duration::from_millis(1500)).await;
                let _ = tx.send(Bytes::from_static(b"data: two\n\n")).await;
            });
            let stream = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv()
                    .await
                    .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
            });
            Response::builder()
                .header("content-type", "text/event-stream")
                .header("cache-control", "no-cache")
                .body(StreamBody::new(stream).boxed_unsync())
                .unwrap()
        }
        "/upload" => {
            let mut n: u64 = 0;
            let mut body = req.into_body();
            while let Some(f) = body.frame().await {
                if let Ok(d) = f.unwrap().into_data() {
                    n += d.len() as u64;
                }
            }
            json_resp(&format!(r#"{{"received":{n}}}"#))
        }
        p if p.starts_with("/big/") => {
            let n: usize = p[5..].parse().unwrap();
            Response::new(full(vec![b'x'; n]))
        }
        "/ws" => {
            let key = req.headers().get("sec-websocket-key").cloned().unwrap();
            let on = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                let up = on.await.unwrap();
                let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
                    TokioIo::new(up),
                    Role::Server,
                    Some(ws_config()),
                )
                .await;
                while let Some(Ok(m)) = ws.next().await {
                    if m.is_close() {
                        return;
                    }
                    if (m.is_text() || m.is_binary()) && ws.send(m).await.is_err() {
                        return;
                    }
                }
            });
            Response::builder()
                .status(101)
                .header("connection", "upgrade")
                .header("upgrade", "websocket")
                .header(
                    "sec-websocket-accept",
                    tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes()),
                )
                .body(full(""))
                .unwrap()
        }
        _ => Response::builder().status(404).body(full("nope")).unwrap(),
    }
}

fn json_resp(s: &str) -> Response<Body> {
    Response::builder()
        .header("content-type", "application/json")
        .body(full(s.to_string()))
        .unwrap()
}

pub type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// A WebSocket through the gateway at `addr` with `host` as Host.
pub async fn ws_connect(
    addr: SocketAddr,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{host}{path}").into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            hyper::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::client_async_with_config(req, tcp, Some(ws_config())),
    )
    .await
    .expect("handshake in time")?;
    Ok(ws)
}

/// A port nothing listens on (bound then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
