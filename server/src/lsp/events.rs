//! Engine events to client notifications: `sandport/log` (batched whole
//! lines, bounded in rate), `sandport/processChanged`, `sandport/portsChanged`.
//!
//! The engine's `Output` events carry no text; this task keeps, per process
//! and stream, the offset up to which the client has been sent lines, and
//! pulls what follows with `read_lines`. A stream is flushed at most every
//! [`FLUSH_EVERY`], at most [`MAX_MESSAGE`] bytes a message: a process that
//! prints a million lines yields a bounded number of messages and the rest
//! is fetched as it comes (nothing read is ever dropped here; what the
//! engine's buffer bound dropped before it was read is reported as
//! `dropped`, in bytes, and can no longer be had from `getLogs` either).

use super::Shared;
use crate::engine::{Event, Stream};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

/// Shortest time between two `sandport/log` messages of one stream.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// Largest `text` of one `sandport/log` message (whole lines; a single
/// longer line is sent in pieces).
pub const MAX_MESSAGE: usize = 512 * 1024;

#[derive(Default)]
struct Offsets {
    /// Bytes of stdout / stderr the client has been sent.
    next: [u64; 2],
    dirty: [bool; 2],
    last: [Option<Instant>; 2],
}

pub async fn forward(shared: Arc<Shared>, mut rx: tokio::sync::broadcast::Receiver<Event>) {
    let Some(engine) = shared.engine.get().cloned() else {
        return;
    };
    let mut procs: HashMap<String, Offsets> = HashMap::new();
    loop {
        let due = next_due(&procs);
        let ev = match due {
            Some(at) => tokio::select! {
                ev = rx.recv() => Some(ev),
                _ = tokio::time::sleep_until(at) => None,
            },
            None => Some(rx.recv().await),
        };
        match ev {
            Some(Ok(Event::Output { process_id, stream })) => {
                procs.entry(process_id).or_default().dirty[stream as usize] = true;
            }
            Some(Ok(Event::ProcessChanged(info))) => {
                // Its last lines first, then the change (an end is seen after
                // the output that came before it).
                let o = procs.entry(info.id.clone()).or_default();
                o.dirty = [true, true];
                if !info.status.is_ended() {
                    shared
                        .notify_value("sandport/processChanged", json!(info))
                        .await;
                } else {
                    flush_one(&shared, &engine, &info.id, o, true).await;
                    shared
                        .notify_value("sandport/processChanged", json!(info))
                        .await;
                }
                shared.lens_maybe_changed();
            }
            Some(Ok(Event::Notice(m))) => {
                shared
                    .client
                    .show_message(
                        tower_lsp_server::lsp_types::MessageType::WARNING,
                        format!("Sandport: {m}"),
                    )
                    .await;
            }
            Some(Ok(Event::ProcessRemoved(id))) => {
                procs.remove(&id);
                shared
                    .notify_value("sandport/processRemoved", json!({ "processId": id }))
                    .await;
                shared.lens_maybe_changed();
            }
            Some(Ok(Event::PortsChanged(ports))) => {
                shared
                    .notify_value("sandport/portsChanged", json!({ "ports": ports }))
                    .await;
                shared.lens_maybe_changed();
            }
            Some(Err(RecvError::Lagged(n))) => {
                tracing::debug!("event subscriber lagged by {n}; resynchronising");
                let list = engine.list_processes();
                // Forgotten while we lagged: the editor drops them too.
                let live: std::collections::HashSet<&str> =
                    list.iter().map(|p| p.id.as_str()).collect();
                let gone: Vec<String> = procs
                    .keys()
                    .filter(|id| !live.contains(id.as_str()))
                    .cloned()
                    .collect();
                for id in gone {
                    procs.remove(&id);
                    shared
                        .notify_value("sandport/processRemoved", json!({ "processId": id }))
                        .await;
                }
                for p in list {
                    procs.entry(p.id.clone()).or_default().dirty = [true, true];
                    shared
                        .notify_value("sandport/processChanged", json!(p))
                        .await;
                }
                shared.resync_ports().await;
            }
            Some(Err(RecvError::Closed)) => return,
            None => {}
        }
        let now = Instant::now();
        let ids: Vec<String> = procs
            .iter()
            .filter(|(_, o)| {
                (0..2).any(|i| o.dirty[i] && o.last[i].is_none_or(|t| t + FLUSH_EVERY <= now))
            })
            .map(|(k, _)| k.clone())
            .collect();
        for id in ids {
            if let Some(o) = procs.get_mut(&id) {
                flush_one(&shared, &engine, &id, o, false).await;
            }
        }
        // Offsets of ended processes are kept (a few bytes each): a late
        // event for one must not resend its output from the start.
    }
}

fn next_due(procs: &HashMap<String, Offsets>) -> Option<Instant> {
    procs
        .values()
        .flat_map(|o| {
            (0..2).filter(|&i| o.dirty[i]).map(|i| match o.last[i] {
                Some(t) => t + FLUSH_EVERY,
                None => Instant::now(),
            })
        })
        .min()
}

/// Send what is due of one process. With `force`, ignore the rate bound
/// (once: the process changed state, its last lines go before the change).
async fn flush_one(
    shared: &Shared,
    engine: &crate::engine::Engine,
    id: &str,
    o: &mut Offsets,
    force: bool,
) {
    let now = Instant::now();
    for stream in [Stream::Stdout, Stream::Stderr] {
        let i = stream as usize;
        if !o.dirty[i] {
            continue;
        }
        if !force && o.last[i].is_some_and(|t| t + FLUSH_EVERY > now) {
            continue;
        }
        let Ok(read) = engine.read_lines(id, stream, o.next[i], MAX_MESSAGE) else {
            o.dirty[i] = false;
            continue;
        };
        if read.text.is_empty() && read.dropped == 0 {
            o.dirty[i] = false;
            o.next[i] = read.next;
            continue;
        }
        o.next[i] = read.next;
        o.last[i] = Some(now);
        // Still dirty: the next round reads again and clears it when empty.
        let mut params = json!({
            "processId": id,
            "stream": stream.as_str(),
            "text": String::from_utf8_lossy(&read.text),
            "cursor": format!("{}-{}", o.next[0], o.next[1]),
        });
        if read.dropped > 0 {
            params["dropped"] = json!(read.dropped);
        }
        shared.notify_value("sandport/log", params).await;
    }
}
