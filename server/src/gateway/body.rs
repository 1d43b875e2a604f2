//! Bodies the gateway answers with: upstream bodies streamed frame by frame
//! (cut when their exposure ends), and the gateway's own small JSON errors.

use super::pool::Lent;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub(crate) type GwBody = UnsyncBoxBody<Bytes, BoxError>;

/// One request or tunnel counted against its exposure's limit.
pub(crate) struct ActiveGuard(pub Arc<AtomicUsize>);

impl ActiveGuard {
    /// Takes a slot, or `None` when `limit` are already in use.
    pub fn acquire(active: &Arc<AtomicUsize>, limit: usize) -> Option<ActiveGuard> {
        let n = active.fetch_add(1, Ordering::AcqRel);
        let g = ActiveGuard(active.clone());
        (n < limit).then_some(g)
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An upstream response body passed through as it arrives; it fails (and
/// hyper closes the client connection) when its exposure is closed.
pub(crate) struct Relayed {
    inner: Incoming,
    /// The upstream connection the body arrives on (driven from here).
    upstream: Option<Lent>,
    closed: Option<CancellationToken>,
    /// Made only when the body has to wait (so that closing the exposure
    /// wakes it); a body that is already there allocates nothing.
    waiting: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
    _guard: Option<ActiveGuard>,
}

impl Relayed {
    pub fn new(
        inner: Incoming,
        upstream: Option<Lent>,
        closed: Option<CancellationToken>,
        guard: Option<ActiveGuard>,
    ) -> Relayed {
        Relayed {
            inner,
            upstream,
            closed,
            waiting: None,
            _guard: guard,
        }
    }
}

impl Body for Relayed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Some(c) = &this.closed {
            if c.is_cancelled() {
                return Poll::Ready(Some(Err("the preview URL was closed".into())));
            }
        }
        let mut r = Pin::new(&mut this.inner).poll_frame(cx);
        if r.is_pending() {
            if let Some(l) = &mut this.upstream {
                // Let the connection read more of the body.
                l.up.drive(cx);
                r = Pin::new(&mut this.inner).poll_frame(cx);
            }
        }
        let r = r.map_err(|e| Box::new(e) as BoxError);
        if r.is_pending() {
            if let Some(c) = &this.closed {
                let w = this
                    .waiting
                    .get_or_insert_with(|| Box::pin(c.clone().cancelled_owned()));
                if w.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Some(Err("the preview URL was closed".into())));
                }
            }
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Relayed {
    fn drop(&mut self) {
        if let Some(l) = self.upstream.take() {
            l.release();
        }
    }
}

pub(crate) fn relayed(
    inner: Incoming,
    upstream: Option<Lent>,
    closed: Option<CancellationToken>,
    guard: Option<ActiveGuard>,
) -> GwBody {
    if upstream.is_none() && closed.is_none() && guard.is_none() {
        return inner.map_err(|e| Box::new(e) as BoxError).boxed_unsync();
    }
    Relayed::new(inner, upstream, closed, guard).boxed_unsync()
}

pub(crate) fn empty() -> GwBody {
    Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// The one answer for every preview address that does not route (unknown
/// sandbox, port not exposed, wrong, rotated, expired or closed token):
/// byte-identical so it reveals nothing.
pub(crate) const NOT_FOUND_BODY: &str = r#"{"error":"no preview is exposed at this address: the URL is wrong, or it was closed, rotated or has expired","code":"INVALID_TOKEN"}"#;

pub(crate) fn json(status: StatusCode, body: impl Into<Bytes>) -> hyper::Response<GwBody> {
    let mut r = Response::new(
        Full::new(body.into())
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

pub(crate) fn not_found() -> hyper::Response<GwBody> {
    json(StatusCode::NOT_FOUND, NOT_FOUND_BODY)
}

pub(crate) fn error(
    status: StatusCode,
    code: &str,
    msg: &str,
    hint: Option<&str>,
) -> hyper::Response<GwBody> {
    let mut v = serde_json::json!({"code": code, "error": msg});
    if let Some(h) = hint {
        v["hint"] = serde_json::Value::String(h.to_string());
    }
    json(status, v.to_string())
}
