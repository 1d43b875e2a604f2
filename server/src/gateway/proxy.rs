//! One request through the gateway: route it by its Host, rewrite its
//! headers, send it to the sandbox port, stream the answer back, and turn
//! an upgrade (WebSocket) into a byte tunnel.

use super::body::{self, ActiveGuard, GwBody};
use super::pool::UpstreamError;
use super::{hint, private, ConnCtx, HostHeader, Shared};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::uri::PathAndQuery;
use hyper::{Request, Response, StatusCode, Uri, Version};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Path prefix of the direct connection.
pub(crate) const CONNECT_PREFIX: &str = "/_sandport/connect/";

/// Tunnel copy buffers (each direction).
const TUNNEL_BUF: usize = 64 * 1024;

/// The longest Host first label looked up without allocating (a DNS label
/// has at most 63 characters).
const LABEL_BUF: usize = 128;

pub(crate) async fn handle(
    sh: Arc<Shared>,
    ctx: Arc<ConnCtx>,
    req: Request<Incoming>,
) -> Response<GwBody> {
    let host = request_host(&req);
    let host_str = host
        .as_ref()
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let raw_label = first_label_raw(host_str);
    if looks_like_preview(raw_label) {
        let mut buf = [0u8; LABEL_BUF];
        let lowered;
        let label = match buf.get_mut(..raw_label.len()) {
            Some(b) => {
                b.copy_from_slice(raw_label.as_bytes());
                b.make_ascii_lowercase();
                // ASCII lowercasing keeps the bytes valid UTF-8.
                std::str::from_utf8(b).unwrap_or_default()
            }
            None => {
                lowered = raw_label.to_ascii_lowercase();
                &lowered
            }
        };
        let Some(route) = sh.engine.route(label) else {
            return body::not_found();
        };
        if req.uri().path() == crate::engine::LOGIN_PATH {
            return private::login(&sh, &ctx, &req, &route);
        }
        if route.private && !private::admitted(&sh, &req, &route, host_str) {
            return private::denied(
                &req,
                "this preview is private: the request carries no valid credential",
            );
        }
        let Some(guard) = ActiveGuard::acquire(&route.active, sh.limits.max_conns_per_exposure)
        else {
            return body::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "TOO_MANY_CONNECTIONS",
                "too many requests in flight through this preview URL",
                Some("retry shortly"),
            );
        };
        return forward(
            &sh,
            &ctx,
            req,
            Target {
                port: route.port,
                path: None,
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

/// `Host` (HTTP/1) or `:authority` (HTTP/2), as the client sent it (`None`
/// when absent or not visible ASCII).
fn request_host(req: &Request<Incoming>) -> Option<HeaderValue> {
    if let Some(a) = req.uri().authority() {
        return HeaderValue::from_str(a.as_str()).ok();
    }
    req.headers()
        .get(header::HOST)
        .filter(|h| h.to_str().is_ok())
        .cloned()
}

/// `8000-Box-tok` of `8000-Box-tok.localhost:7357`, as given.
fn first_label_raw(host: &str) -> &str {
    if host.starts_with('[') {
        // An IPv6 literal: never a preview host.
        return host;
    }
    let end = host.find([':', '.']).unwrap_or(host.len());
    &host[..end]
}

/// `8000-box-tok` of `8000-box-tok.localhost:7357`, lowercased.
#[cfg(test)]
fn first_label(host: &str) -> String {
    if host.starts_with('[') {
        return host.split(']').next().unwrap_or_default().to_string() + "]";
    }
    first_label_raw(host).to_ascii_lowercase()
}

/// `{digits}-…-…`: a preview label (valid or not).
fn looks_like_preview(label: &str) -> bool {
    let digits = label.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && label.as_bytes().get(digits) == Some(&b'-') && label[digits + 1..].contains('-')
}

struct Target {
    port: u16,
    /// Path and query sent upstream; `None`: the request's own.
    path: Option<String>,
    /// The client's Host.
    host: Option<HeaderValue>,
    /// Fires when the exposure ends (none for the direct connection).
    closed: Option<CancellationToken>,
    guard: Option<ActiveGuard>,
}

async fn direct(
    sh: &Arc<Shared>,
    ctx: &ConnCtx,
    req: Request<Incoming>,
    host: Option<HeaderValue>,
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
            path: Some(path),
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

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Headers with a fixed name that [`strip`] removes (bit i of its mask).
const FIXED: [HeaderName; 9] = [
    header::CONNECTION,
    KEEP_ALIVE,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    PROXY_CONNECTION,
    header::UPGRADE,
];
const UPGRADE_BIT: u32 = 1 << 8;

/// Removes hop-by-hop headers (RFC 9110 §7.6.1): `Connection` and what it
/// names, `Keep-Alive`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`,
/// `Proxy-*`. With `upgrade`, `Upgrade` and `Connection: upgrade` are kept.
fn strip_hop_by_hop(h: &mut HeaderMap, upgrade: bool) {
    strip(h, upgrade, false)
}

/// [`strip_hop_by_hop`], and with `internal` also what clients may not tell
/// the service through the gateway: `x-sandport-*` and any incoming
/// forwarding claims (`x-forwarded-*`, `forwarded`; replaced by ours).
///
/// One pass over the names finds what is there; nothing is allocated unless
/// `Connection` names other headers or a prefixed name must go.
fn strip(h: &mut HeaderMap, upgrade: bool, internal: bool) {
    // Headers named by `Connection` (beyond the ones removed anyway).
    let mut named: Vec<HeaderName> = Vec::new();
    for t in h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let t = t.trim();
        if t.eq_ignore_ascii_case("keep-alive") || t.eq_ignore_ascii_case("upgrade") {
            continue;
        }
        if let Ok(n) = HeaderName::from_bytes(t.as_bytes()) {
            named.push(n);
        }
    }
    let mut mask = 0u32;
    let mut prefixed = false;
    for k in h.keys() {
        if let Some(i) = FIXED.iter().position(|f| f == k) {
            mask |= 1 << i;
            continue;
        }
        let k = k.as_str();
        prefixed |= k.starts_with("proxy-")
            || (internal
                && (k.starts_with("x-sandport-")
                    || k.starts_with("x-forwarded-")
                    || k == "forwarded"));
    }
    if upgrade {
        mask &= !UPGRADE_BIT;
    }
    for n in named {
        if !(upgrade && n == header::UPGRADE) {
            h.remove(n);
        }
    }
    if mask != 0 {
        for (i, n) in FIXED.iter().enumerate() {
            if mask & (1 << i) != 0 {
                h.remove(n);
            }
        }
    }
    if prefixed {
        let drop: Vec<HeaderName> = h
            .keys()
            .filter(|k| {
                let k = k.as_str();
                k.starts_with("proxy-")
                    || (internal
                        && (k.starts_with("x-sandport-")
                            || k.starts_with("x-forwarded-")
                            || k == "forwarded"))
            })
            .cloned()
            .collect();
        for k in drop {
            h.remove(k);
        }
    }
    if upgrade {
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

/// `localhost:{port}`, cached per client connection.
fn localhost_header(ctx: &ConnCtx, port: u16) -> HeaderValue {
    let mut last = ctx.upstream_host.lock().unwrap();
    match &*last {
        Some((p, v)) if *p == port => v.clone(),
        _ => {
            let v = HeaderValue::try_from(format!("localhost:{port}"))
                .expect("localhost:{port} is a valid header value");
            *last = Some((port, v.clone()));
            v
        }
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
    strip(h, upgrade, true);
    private::strip_cookie(h);
    if t.closed.is_none() {
        // The direct connection's key is for the gateway, not the service.
        h.remove(header::AUTHORIZATION);
    }
    let client_host = t.host.clone().unwrap_or(HeaderValue::from_static(""));
    let upstream_host = match sh.host_header {
        HostHeader::Localhost => localhost_header(ctx, t.port),
        HostHeader::Preserve => client_host.clone(),
    };
    h.insert(header::HOST, upstream_host);
    h.insert(X_FORWARDED_HOST, client_host);
    h.insert(
        X_FORWARDED_PROTO,
        HeaderValue::from_static(if ctx.tls { "https" } else { "http" }),
    );
    if let Some(v) = &ctx.forwarded_for {
        h.insert(X_FORWARDED_FOR, v.clone());
    }
    parts.version = Version::HTTP_11;
    match &t.path {
        Some(p) => parts.uri = p.parse::<Uri>().unwrap_or_else(|_| Uri::from_static("/")),
        // Origin form (`/path?query`) goes as it came; absolute form (and
        // HTTP/2) keeps only its path and query.
        None if parts.uri.scheme().is_none() && parts.uri.authority().is_none() => {}
        None => {
            let mut up = hyper::http::uri::Parts::default();
            up.path_and_query = Some(
                parts
                    .uri
                    .path_and_query()
                    .cloned()
                    .unwrap_or_else(|| PathAndQuery::from_static("/")),
            );
            parts.uri = Uri::from_parts(up).unwrap_or_else(|_| Uri::from_static("/"));
        }
    }
    let up_req = Request::from_parts(parts, body);

    let sent = if upgrade {
        match sh.pool.connect(t.port).await {
            Ok(mut s) => s
                .send_request(up_req)
                .await
                .map(|r| (r, None))
                .map_err(UpstreamError::Http),
            Err(e) => Err(e),
        }
    } else {
        sh.pool
            .send(t.port, up_req)
            .await
            .map(|(r, l)| (r, Some(l)))
    };
    let (mut resp, lent) = match sent {
        Ok(r) => r,
        Err(UpstreamError::Connect(e)) => {
            tracing::debug!(port = t.port, "upstream connect failed: {e}");
            let hint = hint::not_responding(t.port, sh.engine.backend_name()).await;
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
    Response::from_parts(parts, body::relayed(incoming, lent, t.closed, t.guard))
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
