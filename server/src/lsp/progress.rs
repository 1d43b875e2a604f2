//! `$/progress` while a wait runs: on the request's `workDoneToken`, or on a
//! token the server creates with `window/workDoneProgress/create` when the
//! client supports it. The progress runs in its own task: the wait never
//! waits on the client (a client slow to answer `create` only delays the
//! progress, never the result).

use super::commands::Ctx;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tower_lsp_server::lsp_types::notification::Progress;
use tower_lsp_server::lsp_types::request::WorkDoneProgressCreate;
use tower_lsp_server::lsp_types::{
    NumberOrString, ProgressParams, ProgressParamsValue, WorkDoneProgress, WorkDoneProgressBegin,
    WorkDoneProgressCreateParams, WorkDoneProgressEnd, WorkDoneProgressReport,
};

static NEXT: AtomicU64 = AtomicU64::new(1);

pub async fn around<T, E>(
    ctx: &Ctx,
    title: String,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let client = ctx.shared.client.clone();
    let token = match &ctx.work_done {
        Some(t) => Some((t.clone(), false)),
        None if ctx.shared.caps().work_done_progress => Some((
            NumberOrString::String(format!(
                "sandport-wait-{}",
                NEXT.fetch_add(1, Ordering::Relaxed)
            )),
            true,
        )),
        None => None,
    };
    let Some((token, create)) = token else {
        return fut.await;
    };
    let (done_tx, mut done_rx) = tokio::sync::oneshot::channel::<String>();
    let started = Instant::now();
    let task = tokio::spawn(async move {
        if create {
            let params = WorkDoneProgressCreateParams {
                token: token.clone(),
            };
            let created = tokio::time::timeout(
                Duration::from_secs(10),
                client.send_request::<WorkDoneProgressCreate>(params),
            )
            .await;
            if !matches!(created, Ok(Ok(()))) {
                return;
            }
        }
        let send = |value: WorkDoneProgress| {
            let client = client.clone();
            let token = token.clone();
            async move {
                client
                    .send_notification::<Progress>(ProgressParams {
                        token,
                        value: ProgressParamsValue::WorkDone(value),
                    })
                    .await
            }
        };
        send(WorkDoneProgress::Begin(WorkDoneProgressBegin {
            title,
            cancellable: Some(false),
            message: None,
            percentage: None,
        }))
        .await;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        let msg = loop {
            tokio::select! {
                r = &mut done_rx => break r.unwrap_or_default(),
                _ = tick.tick() => {
                    send(WorkDoneProgress::Report(WorkDoneProgressReport {
                        cancellable: None,
                        message: Some(format!("{} s", started.elapsed().as_secs())),
                        percentage: None,
                    }))
                    .await;
                }
            }
        };
        send(WorkDoneProgress::End(WorkDoneProgressEnd {
            message: Some(msg),
        }))
        .await;
    });
    let r = fut.await;
    let msg = match &r {
        Ok(_) => format!("ready after {} ms", started.elapsed().as_millis()),
        Err(_) => "failed".to_string(),
    };
    let _ = done_tx.send(msg);
    // The end is sent by the task; do not wait for it.
    drop(task);
    r
}
