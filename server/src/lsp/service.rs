//! A tower layer around tower-lsp-server's `LspService` that does two things
//! the library cannot:
//!
//! - `$/cancelRequest` for `workspace/executeCommand`: the library would
//!   abort the handler and answer `-32800` with no `data`; the contract wants
//!   `data.code = "CANCELLED"`. So cancellation of commands is ours: each
//!   command request gets a [`CancellationToken`] (visible to the handler
//!   through a task-local), `$/cancelRequest` for it trips the token, and the
//!   handler answers `-32800` with `data` itself (the process keeps running).
//!   Cancels of other requests go to the library as before.
//! - Answers the internal [`framing::MALFORMED`] requests with the JSON-RPC
//!   error for a frame that could not be used.

use super::framing::MALFORMED;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio_util::sync::CancellationToken;
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Id, Request, Response};
use tower_lsp_server::lsp_types::{CancelParams, NumberOrString};
use tower_lsp_server::{ExitedError, LspService};

use futures_util::future::{BoxFuture, FutureExt};

tokio::task_local! {
    /// The cancellation token of the command request being handled.
    pub static CANCEL: CancellationToken;
}

/// The token of the current request, if it is a command.
pub fn current_cancel() -> CancellationToken {
    CANCEL
        .try_with(|t| t.clone())
        .unwrap_or_else(|_| CancellationToken::new())
}

type Tokens = Arc<Mutex<HashMap<Id, CancellationToken>>>;

pub struct Wrapped<S: tower_lsp_server::LanguageServer> {
    inner: LspService<S>,
    tokens: Tokens,
}

impl<S: tower_lsp_server::LanguageServer> Wrapped<S> {
    pub fn new(inner: LspService<S>) -> Self {
        Wrapped {
            inner,
            tokens: Arc::default(),
        }
    }
}

impl<S: tower_lsp_server::LanguageServer> tower_service::Service<Request> for Wrapped<S> {
    type Response = Option<Response>;
    type Error = ExitedError;
    type Future = BoxFuture<'static, Result<Option<Response>, ExitedError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ExitedError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        match (req.method(), req.id().cloned()) {
            (MALFORMED, id) => {
                let p = req.params().cloned().unwrap_or_default();
                let code = p.get("code").and_then(|c| c.as_i64()).unwrap_or(-32700);
                let msg = p
                    .get("message")
                    .and_then(|m| m.as_str())
                    .unwrap_or("malformed message")
                    .to_string();
                let err = Error {
                    code: ErrorCode::from(code),
                    message: msg.into(),
                    data: None,
                };
                let resp = Response::from_error(id.unwrap_or(Id::Null), err);
                futures_util::future::ready(Ok(Some(resp))).boxed()
            }
            ("$/cancelRequest", None) => {
                let target = req
                    .params()
                    .cloned()
                    .and_then(|p| serde_json::from_value::<CancelParams>(p).ok())
                    .map(|c| match c.id {
                        NumberOrString::Number(n) => Id::Number(n as i64),
                        NumberOrString::String(s) => Id::String(s),
                    });
                if let Some(id) = target {
                    let token = self.tokens.lock().unwrap().get(&id).cloned();
                    if let Some(token) = token {
                        tracing::debug!("cancel of command request {id}");
                        token.cancel();
                        return futures_util::future::ready(Ok(None)).boxed();
                    }
                }
                self.inner.call(req).boxed()
            }
            ("workspace/executeCommand", Some(id)) => {
                let token = CancellationToken::new();
                self.tokens
                    .lock()
                    .unwrap()
                    .insert(id.clone(), token.clone());
                let tokens = self.tokens.clone();
                let fut = CANCEL.scope(token, self.inner.call(req));
                async move {
                    let r = fut.await;
                    tokens.lock().unwrap().remove(&id);
                    r
                }
                .boxed()
            }
            _ => self.inner.call(req).boxed(),
        }
    }
}
