//! Private previews on the gateway's side (protocol v2 "Private
//! previews"): the login link, the credential check (the `X-Sandport-Key`
//! header or the login cookie), the CORS preflight rule, the 401 answer,
//! and taking the cookie out before the request goes to the service.

use super::body::{self, GwBody};
use super::{ConnCtx, Shared};
use crate::engine::Route;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use std::time::Instant;

/// The login cookie's name (host-only: no `Domain`).
pub(crate) const COOKIE: &str = "sandport_auth";
const X_SANDPORT_KEY: HeaderName = HeaderName::from_static("x-sandport-key");

/// `GET /_sandport/login?ticket=…[&next=PATH]`: 303 to `next` (or `/`)
/// with the cookie, or 401 (used, expired or unknown ticket; nothing set).
pub(crate) fn login(
    sh: &Shared,
    ctx: &ConnCtx,
    req: &Request<Incoming>,
    route: &Route,
) -> Response<GwBody> {
    let mut ticket = None;
    let mut next = None;
    for (k, v) in form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()) {
        match &*k {
            "ticket" => ticket = Some(v.into_owned()),
            "next" => next = Some(v.into_owned()),
            _ => {}
        }
    }
    let cookie = ticket.and_then(|t| route.access.redeem(&t, Instant::now()));
    let Some(cookie) = cookie else {
        return denied(req, "this login link was already used or has expired");
    };
    let next = next
        .filter(|p| {
            p.starts_with('/')
                && !p.starts_with("//")
                && !p.contains('\\')
                && HeaderValue::from_str(p).is_ok()
        })
        .unwrap_or_else(|| "/".into());
    let secure = ctx.tls || sh.engine.url_base().scheme == "https";
    let set = format!(
        "{COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Lax{}",
        if secure { "; Secure" } else { "" }
    );
    let mut r = Response::new(body::empty());
    *r.status_mut() = StatusCode::SEE_OTHER;
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&next) {
        h.insert(header::LOCATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&set) {
        h.insert(header::SET_COOKIE, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Whether a request to a private preview may pass: it carries the session
/// key or this exposure's cookie, or it is a CORS preflight from another
/// preview of this sandbox.
pub(crate) fn admitted(sh: &Shared, req: &Request<Incoming>, route: &Route, host: &str) -> bool {
    let h = req.headers();
    if let Some(k) = h.get(X_SANDPORT_KEY).and_then(|v| v.to_str().ok()) {
        if sh.engine.check_session_key(k.trim()) {
            return true;
        }
    }
    let mut ok = false;
    for c in cookie_values(h) {
        // Every candidate is checked (constant time each).
        ok |= route.access.check_cookie(c);
    }
    ok || sibling_preflight(sh, req, host)
}

/// The values of our cookie among the request's `Cookie` headers.
fn cookie_values(h: &HeaderMap) -> impl Iterator<Item = &str> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k.trim() == COOKIE).then(|| v.trim().trim_matches('"'))
        })
}

/// `OPTIONS` with `Origin` and `Access-Control-Request-Method` whose origin
/// is a valid preview of this sandbox on the same gateway (same domain and
/// port as `host`).
fn sibling_preflight(sh: &Shared, req: &Request<Incoming>, host: &str) -> bool {
    let h = req.headers();
    if req.method() != Method::OPTIONS || !h.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) {
        return false;
    }
    let Some(origin) = h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some((_, o_host)) = origin.split_once("://") else {
        return false;
    };
    let (o_label, o_rest) = split_label(o_host);
    let (_, rest) = split_label(host);
    if o_label.is_empty() || !o_rest.eq_ignore_ascii_case(rest) || o_rest.is_empty() {
        return false;
    }
    sh.engine.route(&o_label.to_ascii_lowercase()).is_some()
}

/// `("8000-box-tok", ".localhost:7357")`.
fn split_label(host: &str) -> (&str, &str) {
    let end = host.find('.').unwrap_or(host.len());
    host.split_at(end)
}

/// 401 `PREVIEW_PRIVATE`: a short HTML page when the request accepts HTML
/// (a browser), JSON otherwise.
pub(crate) fn denied(req: &Request<Incoming>, why: &str) -> Response<GwBody> {
    let html = req
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"));
    if !html {
        let v = serde_json::json!({
            "code": "PREVIEW_PRIVATE",
            "error": why,
            "hint": "open this preview from the editor (Sandport: Open Preview), or send the header X-Sandport-Key: {sessionKey}",
        });
        return body::json(StatusCode::UNAUTHORIZED, v.to_string());
    }
    let page = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Private preview</title></head>\n\
         <body style=\"font-family: sans-serif; max-width: 40em; margin: 4em auto\">\n\
         <h1>This preview is private</h1>\n<p>{}.</p>\n\
         <p>Open it from your editor (<b>Sandport: Open Preview</b>, or <code>:Sandport open PORT</code> in Neovim): \
         it opens a fresh login link.</p>\n<!-- PREVIEW_PRIVATE -->\n</body></html>\n",
        html_escape(why)
    );
    let mut r = Response::new(
        Full::new(Bytes::from(page))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Takes our cookie out of the `Cookie` headers (the rest stay as sent);
/// `X-Sandport-Key` goes with the other `x-sandport-*` headers.
pub(crate) fn strip_cookie(h: &mut HeaderMap) {
    let has = h.get_all(header::COOKIE).iter().any(|v| {
        v.as_bytes()
            .windows(COOKIE.len())
            .any(|w| w == COOKIE.as_bytes())
    });
    if !has {
        return;
    }
    let kept: Vec<HeaderValue> = h
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| {
            let s = v.to_str().ok()?;
            let rest: Vec<&str> = s
                .split(';')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .filter(|p| p.split_once('=').map_or(p.trim(), |(k, _)| k.trim()) != COOKIE)
                .collect();
            (!rest.is_empty()).then(|| HeaderValue::from_str(&rest.join("; ")).ok())?
        })
        .collect();
    h.remove(header::COOKIE);
    for v in kept {
        h.append(header::COOKIE, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_is_taken_out_and_the_rest_kept() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; sandport_auth=xyz; b=2"),
        );
        h.append(
            header::COOKIE,
            HeaderValue::from_static("sandport_auth=xyz"),
        );
        strip_cookie(&mut h);
        let all: Vec<_> = h.get_all(header::COOKIE).iter().collect();
        assert_eq!(all, vec!["a=1; b=2"]);
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("sandport_authx=1"));
        strip_cookie(&mut h);
        assert_eq!(h.get(header::COOKIE).unwrap(), "sandport_authx=1");
    }

    #[test]
    fn labels_split() {
        assert_eq!(
            split_label("8000-box-tok.localhost:7357"),
            ("8000-box-tok", ".localhost:7357")
        );
        assert_eq!(split_label("x"), ("x", ""));
    }
}
