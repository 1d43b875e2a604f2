//! The preview gateway: an HTTP/1.1 + HTTP/2 (+ TLS) reverse proxy that
//! routes `{port}-{sandboxId}-{token}.{domain}` to sandbox ports through
//! [`Engine::connect`], passes upgrades (WebSocket) end to end, and offers
//! the direct connection `/_sandport/connect/{port}`. See docs/gateway.md.

mod body;
mod hint;
mod pool;
mod private;
mod proxy;
mod tls;

use crate::engine::error::EngineError;
use crate::engine::{Engine, UrlBase};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The gateway's fixed default port (`gateway.listen` defaults to
/// `127.0.0.1:7357`). When it is taken the gateway binds another port on the
/// same host and URLs show the port really used.
pub const DEFAULT_PORT: u16 = 7357;

/// The Host header the sandboxed service sees (HTTP and WebSocket alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostHeader {
    /// `localhost:{port}`: what dev servers (Vite's host check, HMR) accept.
    #[default]
    Localhost,
    /// The preview host the browser used.
    Preserve,
}

/// Resource bounds of the gateway; the defaults are documented in
/// docs/gateway.md.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Most bytes of a request head (HTTP/1 read buffer, at least 8192;
    /// HTTP/2 header list size). Beyond: 431.
    pub max_header_bytes: usize,
    /// Most header fields in an HTTP/1 request. Beyond: 431.
    pub max_headers: usize,
    /// A request head (and the TLS handshake) must arrive within this
    /// (slowloris). HTTP/1 keep-alive connections waiting for their next
    /// request are closed after it too.
    pub header_read_timeout: Duration,
    /// A connection (or WebSocket tunnel) with no bytes moving either way
    /// for this long is closed.
    pub idle_timeout: Duration,
    /// Connecting to the sandbox port must succeed within this, else 502.
    pub upstream_connect_timeout: Duration,
    /// Requests and tunnels in flight through one exposure; beyond: 503.
    pub max_conns_per_exposure: usize,
    /// Client connections open at once; beyond, new ones are closed at accept.
    pub max_connections: usize,
    /// Idle keep-alive upstream connections kept per sandbox port.
    pub max_idle_upstream_per_port: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            header_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(300),
            upstream_connect_timeout: Duration::from_secs(10),
            max_conns_per_exposure: 512,
            max_connections: 8192,
            max_idle_upstream_per_port: 64,
        }
    }
}

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Default `127.0.0.1:7357` ([`DEFAULT_PORT`]).
    pub listen: SocketAddr,
    /// When `listen`'s port is taken, listen on another port of the same
    /// host (the default address) instead of failing (an address the user
    /// chose).
    pub move_if_taken: bool,
    /// PEM certificate chain and key: serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub host_header: HostHeader,
    /// Preview URLs are `{label}.{domain}`; default `localhost`.
    pub domain: String,
    /// `scheme://host[:port]` shown in URLs instead (behind wildcard DNS or
    /// a TLS front).
    pub public_url: Option<String>,
    pub limits: Limits,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_PORT),
            move_if_taken: true,
            tls_cert: None,
            tls_key: None,
            host_header: HostHeader::Localhost,
            domain: "localhost".into(),
            public_url: None,
            limits: Limits::default(),
        }
    }
}

/// State shared by every connection of one gateway.
pub(crate) struct Shared {
    pub engine: Engine,
    pub host_header: HostHeader,
    pub limits: Limits,
    pub pool: Arc<pool::Pool>,
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
    server: auto::Builder<TokioExecutor>,
    open: AtomicUsize,
}

/// What a request knows about the client connection it came on (shared by
/// its requests; computed once per connection).
pub(crate) struct ConnCtx {
    pub tls: bool,
    pub activity: Activity,
    /// `X-Forwarded-For`: the client's IP.
    pub forwarded_for: Option<hyper::header::HeaderValue>,
    /// The upstream `Host` last used on this connection (`localhost:{port}`).
    pub upstream_host: std::sync::Mutex<Option<(u16, hyper::header::HeaderValue)>>,
}

impl ConnCtx {
    fn new(peer: SocketAddr, tls: bool, activity: Activity) -> ConnCtx {
        ConnCtx {
            tls,
            activity,
            forwarded_for: hyper::header::HeaderValue::from_str(&peer.ip().to_string()).ok(),
            upstream_host: std::sync::Mutex::new(None),
        }
    }
}

/// A running gateway. Dropping it stops it too (without waiting).
pub struct Gateway {
    local_addr: SocketAddr,
    url_base: UrlBase,
    shared: Arc<Shared>,
}

impl Gateway {
    /// Binds `cfg.listen` (another port on the same host if that one is
    /// taken and `cfg.move_if_taken`), tells the engine how URLs look and which port is its own, and
    /// starts serving.
    pub async fn start(cfg: GatewayConfig, engine: Engine) -> Result<Gateway, EngineError> {
        let acceptor = match (&cfg.tls_cert, &cfg.tls_key) {
            (Some(c), Some(k)) => Some(tls::acceptor(c, k)?),
            (None, None) => None,
            _ => return Err(EngineError::invalid("gateway.tls needs both cert and key")),
        };
        let listener = match TcpListener::bind(cfg.listen).await {
            Ok(l) => l,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && !cfg.move_if_taken => {
                return Err(EngineError::Failed(format!(
                    "the gateway cannot listen on {}: the port is taken (choose another \
                     address, or leave it unset to let the default move)",
                    cfg.listen
                )))
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                tracing::warn!(
                    listen = %cfg.listen,
                    "gateway port is taken; listening on another port of the same host"
                );
                TcpListener::bind(SocketAddr::new(cfg.listen.ip(), 0))
                    .await
                    .map_err(|e| EngineError::Failed(format!("gateway cannot listen: {e}")))?
            }
            Err(e) => {
                return Err(EngineError::Failed(format!(
                    "gateway cannot listen on {}: {e}",
                    cfg.listen
                )))
            }
        };
        let local_addr = listener
            .local_addr()
            .map_err(|e| EngineError::Failed(e.to_string()))?;
        let url_base = match &cfg.public_url {
            Some(u) => UrlBase::from_public_url(u)?,
            None => UrlBase::new(
                if acceptor.is_some() { "https" } else { "http" },
                &cfg.domain,
                local_addr.port(),
            ),
        };
        engine.set_reserved_ports(vec![local_addr.port()]);
        engine.set_url_base(url_base.clone());

        let limits = cfg.limits.clone();
        let mut server = auto::Builder::new(TokioExecutor::new());
        {
            let mut h1 = server.http1();
            h1.timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .max_buf_size(limits.max_header_bytes.max(8192))
                .keep_alive(true);
            if limits.max_headers != 100 {
                // Not the default: hyper then allocates header space per request.
                h1.max_headers(limits.max_headers);
            }
        }
        server
            .http2()
            .timer(TokioTimer::new())
            .max_header_list_size(limits.max_header_bytes.min(u32::MAX as usize) as u32)
            .max_concurrent_streams(256);
        let shared = Arc::new(Shared {
            pool: Arc::new(pool::Pool::new(engine.clone(), &limits)),
            engine,
            host_header: cfg.host_header,
            limits,
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
            server,
            open: AtomicUsize::new(0),
        });
        let sh = shared.clone();
        shared
            .tracker
            .spawn(accept_loop(sh, listener, acceptor.map(Arc::new)));
        tracing::info!(%local_addr, "preview gateway listening");
        Ok(Gateway {
            local_addr,
            url_base,
            shared,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// How this gateway's URLs are spelled (also given to the engine).
    pub fn url_base(&self) -> &UrlBase {
        &self.url_base
    }

    /// Stops listening and closes every connection (tunnels included);
    /// returns once they are gone (at most about 5 s).
    pub async fn shutdown(&self) {
        self.shared.shutdown.cancel();
        self.shared.tracker.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.shared.tracker.wait()).await;
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}

async fn accept_loop(
    sh: Arc<Shared>,
    listener: TcpListener,
    acceptor: Option<Arc<tokio_rustls::TlsAcceptor>>,
) {
    loop {
        let accepted = tokio::select! {
            _ = sh.shutdown.cancelled() => return,
            r = listener.accept() => r,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!("gateway accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if sh.open.load(Ordering::Relaxed) >= sh.limits.max_connections {
            drop(tcp);
            continue;
        }
        sh.open.fetch_add(1, Ordering::Relaxed);
        let _ = tcp.set_nodelay(true);
        let sh2 = sh.clone();
        let acceptor = acceptor.clone();
        sh.tracker.spawn(async move {
            serve_tcp(sh2.clone(), tcp, peer, acceptor).await;
            sh2.open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

async fn serve_tcp(
    sh: Arc<Shared>,
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: Option<Arc<tokio_rustls::TlsAcceptor>>,
) {
    let activity = Activity::default();
    let io = ActivityIo {
        inner: tcp,
        activity: activity.clone(),
    };
    let ctx = Arc::new(ConnCtx::new(peer, acceptor.is_some(), activity));
    match acceptor {
        None => serve_conn(sh, io, ctx).await,
        Some(acc) => {
            let hs = tokio::select! {
                _ = sh.shutdown.cancelled() => return,
                r = tokio::time::timeout(sh.limits.header_read_timeout, acc.accept(io)) => r,
            };
            match hs {
                Ok(Ok(tls)) => serve_conn(sh, tls, ctx).await,
                Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        }
    }
}

async fn serve_conn<I>(sh: Arc<Shared>, io: I, ctx: Arc<ConnCtx>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = ctx.activity.clone();
    let sh2 = sh.clone();
    let svc = service_fn(move |req| {
        let sh = sh2.clone();
        let ctx = ctx.clone();
        async move { Ok::<_, Infallible>(proxy::handle(sh, ctx, req).await) }
    });
    let conn = sh
        .server
        .serve_connection_with_upgrades(TokioIo::new(io), svc);
    tokio::select! {
        r = conn => {
            if let Err(e) = r {
                tracing::debug!("gateway connection ended: {e}");
            }
        }
        _ = sh.shutdown.cancelled() => {}
        _ = activity.idle(sh.limits.idle_timeout) => {
            tracing::debug!("gateway connection idle; closing");
        }
    }
}

/// Counts I/O operations on a client connection, to notice idleness.
#[derive(Clone, Default)]
pub(crate) struct Activity(Arc<AtomicU64>);

impl Activity {
    fn bump(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Resolves once nothing moved for about `limit` (between `limit` and
    /// 1.25 × `limit`).
    pub async fn idle(&self, limit: Duration) {
        let tick = limit / 4;
        let mut last = self.0.load(Ordering::Relaxed);
        let mut quiet = 0;
        loop {
            tokio::time::sleep(tick).await;
            let now = self.0.load(Ordering::Relaxed);
            if now == last {
                quiet += 1;
                if quiet >= 4 {
                    return;
                }
            } else {
                quiet = 0;
                last = now;
            }
        }
    }
}

struct ActivityIo<T> {
    inner: T,
    activity: Activity,
}

impl<T: AsyncRead + Unpin> AsyncRead for ActivityIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if r.is_ready() {
            self.activity.bump();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ActivityIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if r.is_ready() {
            self.activity.bump();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if r.is_ready() {
            self.activity.bump();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
