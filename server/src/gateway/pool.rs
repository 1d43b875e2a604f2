//! Keep-alive HTTP/1.1 connections to sandbox ports, opened through
//! [`Engine::connect`] (so the backend decides what "port 3000" means).
//! A connection goes back to the pool once its response body is consumed.

use super::Limits;
use crate::engine::Engine;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an idle upstream connection is kept.
const IDLE_KEEP: Duration = Duration::from_secs(60);

pub(crate) enum UpstreamError {
    /// Nothing accepted the connection (refused, unreachable, timed out).
    Connect(std::io::Error),
    /// Connected, but no usable HTTP response came back.
    Http(hyper::Error),
}

/// A free upstream connection and when it became free.
type Idle = (SendRequest<Incoming>, Instant);

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

    /// A fresh connection (upgrades always use one of their own).
    pub async fn connect(&self, port: u16) -> Result<SendRequest<Incoming>, UpstreamError> {
        let io = match tokio::time::timeout(self.connect_timeout, self.engine.connect(port)).await {
            Ok(Ok(io)) => io,
            Ok(Err(e)) => return Err(UpstreamError::Connect(e)),
            Err(_) => {
                return Err(UpstreamError::Connect(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connect timed out",
                )))
            }
        };
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

    fn take_idle(&self, port: u16) -> Option<SendRequest<Incoming>> {
        let mut idle = self.idle.lock().unwrap();
        let list = idle.get_mut(&port)?;
        let now = Instant::now();
        while let Some((s, since)) = list.pop() {
            if s.is_ready() && !s.is_closed() && now.duration_since(since) < IDLE_KEEP {
                return Some(s);
            }
        }
        None
    }

    fn put(&self, port: u16, s: SendRequest<Incoming>) {
        let mut idle = self.idle.lock().unwrap();
        let list = idle.entry(port).or_default();
        if list.len() < self.max_idle {
            list.push((s, Instant::now()));
        }
    }

    /// Once the response body has been read, `s` is free again.
    fn recycle(self: &Arc<Self>, port: u16, mut s: SendRequest<Incoming>) {
        let pool = self.clone();
        tokio::spawn(async move {
            if s.ready().await.is_ok() {
                pool.put(port, s);
            }
        });
    }

    /// Sends `req` on a pooled connection (retrying on a fresh one when a
    /// pooled connection turns out dead before the request was written).
    pub async fn send(
        self: &Arc<Self>,
        port: u16,
        mut req: Request<Incoming>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        while let Some(mut s) = self.take_idle(port) {
            match s.try_send_request(req).await {
                Ok(resp) => {
                    self.recycle(port, s);
                    return Ok(resp);
                }
                Err(mut e) => match e.take_message() {
                    Some(r) => req = r,
                    None => return Err(UpstreamError::Http(e.into_error())),
                },
            }
        }
        let mut s = self.connect(port).await?;
        let resp = s.send_request(req).await.map_err(UpstreamError::Http)?;
        self.recycle(port, s);
        Ok(resp)
    }
}
