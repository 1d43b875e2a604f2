//! Keep-alive HTTP/1.1 connections to sandbox ports, opened through
//! [`Engine::connect`] (so the backend decides what "port 3000" means).
//! A connection goes back to the pool once its response body is consumed;
//! while in use it is driven by the request's own task.

use super::Limits;
use crate::backend::Conn;
use crate::engine::Engine;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::client::conn::TrySendError;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// How long an idle upstream connection is kept.
const IDLE_KEEP: Duration = Duration::from_secs(60);

pub(crate) enum UpstreamError {
    /// Nothing accepted the connection (refused, unreachable, timed out).
    Connect(std::io::Error),
    /// Connected, but no usable HTTP response came back.
    Http(hyper::Error),
}

type H1Conn = http1::Connection<TokioIo<Conn>, Incoming>;

/// A pooled keep-alive connection. No task of its own drives it: whoever
/// holds it does (the request's task while the request and its response
/// body are in flight), so a request costs no task spawn and no wake-ups
/// across tasks.
pub(crate) struct Upstream {
    sender: SendRequest<Incoming>,
    /// `None` once the connection is gone. Boxed: an `Upstream` moves from
    /// pool to response body and back, and the connection state is large.
    conn: Option<Box<H1Conn>>,
}

impl Upstream {
    /// Lets the connection do what it can (read, write, notice EOF).
    pub fn drive(&mut self, cx: &mut Context<'_>) {
        if let Some(c) = &mut self.conn {
            if let Poll::Ready(r) = c.poll_without_shutdown(cx) {
                if let Err(e) = r {
                    tracing::debug!("upstream connection ended: {e}");
                }
                // Dropping it answers requests still queued on it.
                self.conn = None;
            }
        }
    }

    /// Alive and waiting for a request (drives it once to find out).
    fn reusable(&mut self) -> bool {
        self.drive(&mut Context::from_waker(Waker::noop()));
        self.conn.is_some() && self.sender.is_ready()
    }

    /// Sends `req` and drives the connection until the response head is in.
    async fn round_trip(
        &mut self,
        req: Request<Incoming>,
    ) -> Result<Response<Incoming>, TrySendError<Request<Incoming>>> {
        let mut fut = std::pin::pin!(self.sender.try_send_request(req));
        std::future::poll_fn(|cx| {
            if let Poll::Ready(r) = fut.as_mut().poll(cx) {
                return Poll::Ready(r);
            }
            self.drive(cx);
            // Once the connection is gone the answer is there too.
            fut.as_mut().poll(cx)
        })
        .await
    }
}

/// An [`Upstream`] lent to one response; it goes back to the pool when the
/// response body is done with it (see [`Lent::release`]).
pub(crate) struct Lent {
    pub up: Upstream,
    pool: Arc<Pool>,
    port: u16,
}

impl Lent {
    /// Back to the pool if the exchange is over; if it is still going (a
    /// request body still uploading, a response body not read to its end)
    /// a task finishes it (or sees the connection close) first.
    pub fn release(mut self) {
        if self.up.reusable() {
            self.pool.put(self.port, self.up);
            return;
        }
        if self.up.conn.is_none() || self.up.sender.is_closed() {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            let ok = std::future::poll_fn(|cx| {
                self.up.drive(cx);
                if self.up.conn.is_none() {
                    return Poll::Ready(false);
                }
                self.up.sender.poll_ready(cx).map(|r| r.is_ok())
            })
            .await;
            if ok {
                self.pool.put(self.port, self.up);
            }
        });
    }
}

/// A free upstream connection and when it became free.
type Idle = (Upstream, Instant);

pub(crate) struct Pool {
    engine: Engine,
    idle: Mutex<HashMap<u16, Vec<Idle>>>,
    max_idle: usize,
    connect_timeout: Duration,
}

impl Pool {
    pub fn new(engine: Engine, limits: &Limits) -> Pool {
        Pool {
            engine,
            idle: Mutex::new(HashMap::new()),
            max_idle: limits.max_idle_upstream_per_port,
            connect_timeout: limits.upstream_connect_timeout,
        }
    }

    async fn dial(&self, port: u16) -> Result<Conn, UpstreamError> {
        match tokio::time::timeout(self.connect_timeout, self.engine.connect(port)).await {
            Ok(Ok(io)) => Ok(io),
            Ok(Err(e)) => Err(UpstreamError::Connect(e)),
            Err(_) => Err(UpstreamError::Connect(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "connect timed out",
            ))),
        }
    }

    /// A fresh connection driven by a task of its own, able to upgrade
    /// (upgrades always use one of their own).
    pub async fn connect(&self, port: u16) -> Result<SendRequest<Incoming>, UpstreamError> {
        let io = self.dial(port).await?;
        let (sender, conn) = http1::Builder::new()
            .handshake(TokioIo::new(io))
            .await
            .map_err(UpstreamError::Http)?;
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(port, "upstream connection ended: {e}");
            }
        });
        Ok(sender)
    }

    /// A fresh connection for the pool (driven by its holder).
    async fn open(&self, port: u16) -> Result<Upstream, UpstreamError> {
        let io = self.dial(port).await?;
        let (sender, conn) = http1::Builder::new()
            .handshake(TokioIo::new(io))
            .await
            .map_err(UpstreamError::Http)?;
        Ok(Upstream {
            sender,
            conn: Some(Box::new(conn)),
        })
    }

    fn take_idle(&self, port: u16) -> Option<Upstream> {
        let mut idle = self.idle.lock().unwrap();
        let list = idle.get_mut(&port)?;
        let now = Instant::now();
        while let Some((mut up, since)) = list.pop() {
            if now.duration_since(since) < IDLE_KEEP && up.reusable() {
                return Some(up);
            }
        }
        None
    }

    fn put(&self, port: u16, up: Upstream) {
        let mut idle = self.idle.lock().unwrap();
        let list = idle.entry(port).or_default();
        // Oldest first: let go of the ones kept too long.
        let now = Instant::now();
        let stale = list
            .iter()
            .take_while(|(_, since)| now.duration_since(*since) >= IDLE_KEEP)
            .count();
        list.drain(..stale);
        if list.len() < self.max_idle {
            list.push((up, now));
        }
    }

    /// Sends `req` on a pooled connection (retrying on a fresh one when a
    /// pooled connection turns out dead before the request was written).
    /// The connection comes with the response: it goes back to the pool
    /// once [`Lent::release`]d.
    pub async fn send(
        self: &Arc<Self>,
        port: u16,
        mut req: Request<Incoming>,
    ) -> Result<(Response<Incoming>, Lent), UpstreamError> {
        while let Some(mut up) = self.take_idle(port) {
            match up.round_trip(req).await {
                Ok(resp) => return Ok((resp, self.lend(port, up))),
                Err(mut e) => match e.take_message() {
                    Some(r) => req = r,
                    None => return Err(UpstreamError::Http(e.into_error())),
                },
            }
        }
        let mut up = self.open(port).await?;
        match up.round_trip(req).await {
            Ok(resp) => Ok((resp, self.lend(port, up))),
            Err(e) => Err(UpstreamError::Http(e.into_error())),
        }
    }

    fn lend(self: &Arc<Self>, port: u16, up: Upstream) -> Lent {
        Lent {
            up,
            pool: self.clone(),
            port,
        }
    }
}
