//! One request through the gateway: route it by its Host, rewrite its
//! headers, send it to the sandbox port, stream the answer back, and turn
//! an upgrade (WebSocket) into a byte tunnel.

use super::body::{self, ActiveGuard, GwBody};
use super::pool::UpstreamError;
use super::{hint, ConnCtx, HostHeader, Shared};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode, Uri, Version};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Path prefix of the direct connection.
pub(crate) const CONNECT_PREFIX: &str = "/_sandport/connect/";

/// Tunnel copy buffers (each direction).
const TUNNEL_BUF: usize = 64 * 1024;

pub(crate) async fn handle(
    sh: Arc<Shared>,
    ctx: ConnCtx,
    req: Request<Incoming>,
) -> Response<GwBody> {
    let host = request_host(&req).unwrap_or_default();
    let label = first_label(&host);
    if looks_like_preview(&label) {
        let Some(route) = sh.engine.route(&label) else {
            return body::not_found();
        };
        let Some(guard) = ActiveGuard::acquire(&route.active, sh.limits.max_conns_per_exposure)
        else {
            return body::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "TOO_MANY_CONNECTIONS",
                "too many requests in flight through this preview URL",
                Some("retry shortly"),
            );
        };
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        return forward(
            &sh,
            &ctx,
            req,
            Target {
                port: route.port,
                path,
                host,
                closed: Some(route.closed),
                guard: Some(guard),
            },
        )
        .await;
    }
    if let Some(rest) = req.uri().path().strip_prefix(CONNECT_PREFIX) {
        let rest = rest.to_string();
        return direct(&sh, &ctx, req, host, &rest).await;
    }
    body::not_found()
}

/// `Host` (HTTP/1) or `:authority` (HTTP/2), as the client sent it.
fn request_host(req: &Request<Incoming>) -> Option<String> {
    if let Some(a) = req.uri().authority() {
        return Some(a.as_str().to_string());
    }
    req.headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
}

/// `8000-box-tok` of `8000-box-tok.localhost:7357`, lowercased.
fn first_label(host: &str) -> String {
    if host.starts_with('[') {
        // An IPv6 literal: never a preview host.
        return host.split(']').next().unwrap_or_default().to_string() + "]";
    }
    let no_port = host.split(':').next().unwrap_or_default();
    no_port
        .split('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// `{digits}-…-…`: a preview label (valid or not).
fn looks_like_preview(label: &str) -> bool {
    let digits = label.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && label.as_bytes().get(digits) == Some(&b'-') && label[digits + 1..].contains('-')
}

struct Target {
    port: u16,
    /// Path and query sent upstream.
    path: String,
    /// The client's Host.
    host: String,
    /// Fires when the exposure ends (none for the direct connection).
    closed: Option<CancellationToken>,
    guard: Option<ActiveGuard>,
}

async fn direct(
    sh: &Arc<Shared>,
    ctx: &ConnCtx,
    req: Request<Incoming>,
    host: String,
    rest: &str,
) -> Response<GwBody> {
    let key = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !sh.engine.check_session_key(key.trim()) {
        return body::error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "the direct connection needs Authorization: Bearer {sessionKey} (see sandport.info)",
            None,
        );
    }
    let (port_s, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let port = match port_s.parse::<u16>() {
        Ok(p) if p > 0 => p,
        _ => {
            return body::error(
                StatusCode::BAD_REQUEST,
                "INVALID_PORT",
                "expected /_sandport/connect/{port}",
                None,
            )
        }
    };
    if !is_upgrade(&req) {
        return body::error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "the direct connection is a WebSocket (Upgrade) request",
            None,
        );
    }
    let path = match req.uri().query() {
        Some(q) => format!("{tail}?{q}"),
        None => tail.to_string(),
    };
    forward(
        sh,
        ctx,
        req,
        Target {
            port,
            path,
            host,
            closed: None,
            guard: None,
        },
    )
    .await
}

fn is_upgrade(req: &Request<Incoming>) -> bool {
    req.version() == Version::HTTP_11
        && req.headers().contains_key(header::UPGRADE)
        && connection_has(req.headers(), "upgrade")
}

fn connection_has(h: &HeaderMap, token: &str) -> bool {
    h.get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Removes hop-by-hop headers (RFC 9110 §7.6.1): `Connection` and what it
/// names, `Keep-Alive`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`,
/// `Proxy-*`. With `upgrade`, `Upgrade` and `Connection: upgrade` are kept.
fn strip_hop_by_hop(h: &mut HeaderMap, upgrade: bool) {
    let named: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for n in named {
        if !(upgrade && n == header::UPGRADE) {
            h.remove(n);
        }
    }
    for n in [
        header::CONNECTION,
        HeaderName::from_static("keep-alive"),
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        HeaderName::from_static("proxy-connection"),
    ] {
        h.remove(n);
    }
    let proxy_other: Vec<HeaderName> = h
        .keys()
        .filter(|k| k.as_str().starts_with("proxy-"))
        .cloned()
        .collect();
    for k in proxy_other {
        h.remove(k);
    }
    if upgrade {
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        h.remove(header::UPGRADE);
    }
}

/// Removes what clients may not tell the service through the gateway:
/// `x-sandport-*` and any incoming forwarding claims (replaced by ours).
fn strip_internal(h: &mut HeaderMap) {
    let drop: Vec<HeaderName> = h
        .keys()
        .filter(|k| {
            let k = k.as_str();
            k.starts_with("x-sandport-") || k.starts_with("x-forwarded-") || k == "forwarded"
        })
        .cloned()
        .collect();
    for k in drop {
        h.remove(k);
    }
}

async fn forward(
    sh: &Arc<Shared>,
    ctx: &ConnCtx,
    mut req: Request<Incoming>,
    t: Target,
) -> Response<GwBody> {
    let upgrade = is_upgrade(&req);
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    let h = &mut parts.headers;
    strip_hop_by_hop(h, upgrade);
    strip_internal(h);
    if t.closed.is_none() {
        // The direct connection's key is for the gateway, not the service.
        h.remove(header::AUTHORIZATION);
    }
    let upstream_host = match sh.host_header {
        HostHeader::Localhost => format!("localhost:{}", t.port),
        HostHeader::Preserve => t.host.clone(),
    };
    if let Ok(v) = HeaderValue::from_str(&upstream_host) {
        h.insert(header::HOST, v);
    }
    if let Ok(v) = HeaderValue::from_str(&t.host) {
        h.insert(HeaderName::from_static("x-forwarded-host"), v);
    }
    h.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static(if ctx.tls { "https" } else { "http" }),
    );
    if let Ok(v) = HeaderValue::from_str(&ctx.peer.ip().to_string()) {
        h.insert(HeaderName::from_static("x-forwarded-for"), v);
    }
    parts.version = Version::HTTP_11;
    parts.uri = t
        .path
        .parse::<Uri>()
        .unwrap_or_else(|_| Uri::from_static("/"));
    let up_req = Request::from_parts(parts, body);

    let sent = if upgrade {
        match sh.pool.connect(t.port).await {
            Ok(mut s) => s.send_request(up_req).await.map_err(UpstreamError::Http),
            Err(e) => Err(e),
        }
    } else {
        sh.pool.send(t.port, up_req).await
    };
    let mut resp = match sent {
        Ok(r) => r,
        Err(UpstreamError::Connect(e)) => {
            tracing::debug!(port = t.port, "upstream connect failed: {e}");
            let hint = hint::not_responding(t.port, sh.engine.backend_name());
            return body::error(
                StatusCode::BAD_GATEWAY,
                "SERVICE_NOT_RESPONDING",
                &format!(
                    "nothing accepts connections on port {} in the sandbox",
                    t.port
                ),
                Some(&hint),
            );
        }
        Err(UpstreamError::Http(e)) => {
            tracing::debug!(port = t.port, "upstream request failed: {e}");
            return body::error(
                StatusCode::BAD_GATEWAY,
                "SERVICE_NOT_RESPONDING",
                &format!(
                    "the service on port {} accepted the connection but gave no valid HTTP response",
                    t.port
                ),
                Some("check the service's logs; it closed the connection or answered something that is not HTTP/1.1"),
            );
        }
    };

    if upgrade && resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        let up_upgrade = hyper::upgrade::on(&mut resp);
        let (mut parts, _) = resp.into_parts();
        strip_hop_by_hop(&mut parts.headers, true);
        let client_upgrade = client_upgrade.expect("set when upgrading");
        let shutdown = sh.shutdown.clone();
        let idle = sh.limits.idle_timeout;
        let activity = ctx.activity.clone();
        let Target { closed, guard, .. } = t;
        sh.tracker.spawn(async move {
            let _guard = guard;
            let (c, u) = match tokio::try_join!(client_upgrade, up_upgrade) {
                Ok(x) => x,
                Err(e) => {
                    tracing::debug!("upgrade failed: {e}");
                    return;
                }
            };
            let mut c = TokioIo::new(c);
            let mut u = TokioIo::new(u);
            let closed = async {
                match &closed {
                    Some(t) => t.cancelled().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = tokio::io::copy_bidirectional_with_sizes(&mut c, &mut u, TUNNEL_BUF, TUNNEL_BUF) => {
                    if let Err(e) = r {
                        tracing::debug!("tunnel ended: {e}");
                    }
                }
                _ = closed => tracing::debug!("tunnel closed with its preview URL"),
                _ = shutdown.cancelled() => {}
                _ = activity.idle(idle) => tracing::debug!("tunnel idle; closing"),
            }
        });
        return Response::from_parts(parts, body::empty());
    }

    let (mut parts, incoming) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers, false);
    // The client's connection has its own version; an HTTP/1.0 upstream
    // (python's http.server) must not downgrade it.
    parts.version = Version::default();
    Response::from_parts(parts, body::relayed(incoming, t.closed, t.guard))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(first_label("8000-box-tok.localhost:7357"), "8000-box-tok");
        assert_eq!(first_label("8000-Box-TOK.example.dev"), "8000-box-tok");
        assert_eq!(first_label("127.0.0.1:7357"), "127");
        assert_eq!(first_label("[::1]:7357"), "[::1]");
        assert!(looks_like_preview("8000-box-tok"));
        assert!(looks_like_preview("8000-a-b-c"));
        assert!(!looks_like_preview("127"));
        assert!(!looks_like_preview("8000-box"));
        assert!(!looks_like_preview("localhost"));
    }

    #[test]
    fn hop_by_hop() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert("proxy-foo", HeaderValue::from_static("1"));
        h.append(header::SET_COOKIE, HeaderValue::from_static("a=1"));
        h.append(header::SET_COOKIE, HeaderValue::from_static("b=2"));
        let mut up = h.clone();
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 2);
        assert_eq!(h.get_all(header::SET_COOKIE).iter().count(), 2);
        strip_hop_by_hop(&mut up, true);
        assert_eq!(up.get(header::UPGRADE).unwrap(), "websocket");
        assert_eq!(up.get(header::CONNECTION).unwrap(), "upgrade");
        assert!(up.get("x-secret").is_none());
    }
}
