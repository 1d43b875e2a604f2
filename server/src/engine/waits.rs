//! Readiness waits. Each is a plain future: dropping it (a cancelled request,
//! Ctrl-C) ends the wait and leaves the process alone.

use super::error::{EngineError, Result};
use super::logs::complete_lines;
use super::process::Proc;
use super::types::*;
use super::{check_timeout, Engine};
use regex::Regex;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How often a port that refuses connections is tried again. A refused
/// connect on this machine costs microseconds, so readiness is seen within
/// this period of the port opening, whatever `interval` says; `interval`
/// paces the checks of a port that accepts but does not answer as asked.
const FAST_PROBE: Duration = Duration::from_millis(5);
/// The longest a single HTTP check may take before it counts as a failure.
const HTTP_CHECK_TIMEOUT: Duration = Duration::from_secs(5);
const TAIL_LINES: usize = 20;

pub async fn wait_for_port(engine: &Engine, req: WaitPort) -> Result<PortReady> {
    if req.port == 0 {
        return Err(EngineError::InvalidPort("port must be 1-65535".into()));
    }
    let timeout = check_timeout(req.timeout_ms)?;
    if !req.path.starts_with('/') || req.path.chars().any(|c| c.is_control() || c == ' ') {
        return Err(EngineError::invalid(format!(
            "path must start with '/' and hold no spaces, got {:?}",
            req.path
        )));
    }
    if !(100..=599).contains(&req.status_min)
        || !(100..=599).contains(&req.status_max)
        || req.status_min > req.status_max
    {
        return Err(EngineError::invalid(
            "status must be 100-599, or {min, max} with min <= max",
        ));
    }
    let interval = Duration::from_millis(req.interval_ms.clamp(10, 10_000));
    let proc = match &req.process_id {
        Some(id) => Some(engine.proc(id)?),
        None => None,
    };
    let condition = req.condition();
    let started = Instant::now();
    let probe = async {
        loop {
            // Cheap until the port opens (the backend probes from where the
            // service runs); then one real connection for the check.
            engine.until_accepting(req.port).await;
            if req.mode == WaitMode::Tcp {
                return None;
            }
            let conn = match engine.connect(req.port).await {
                Ok(c) => c,
                Err(_) => {
                    tokio::time::sleep(FAST_PROBE.min(interval)).await;
                    continue;
                }
            };
            match tokio::time::timeout(HTTP_CHECK_TIMEOUT, http_status(conn, req.port, &req.path))
                .await
            {
                Ok(Some(code)) if (req.status_min..=req.status_max).contains(&code) => {
                    return Some(code);
                }
                // Answered, but not as asked: try again after `interval`.
                Ok(Some(_)) => tokio::time::sleep(interval).await,
                // Accepted then dropped, or no answer yet: soon again.
                _ => tokio::time::sleep(FAST_PROBE.max(interval / 10)).await,
            }
        }
    };
    let exited = async {
        match &proc {
            Some(p) => p.ended().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        code = probe => Ok(PortReady {
            port: req.port,
            elapsed_ms: started.elapsed().as_millis() as u64,
            status_code: code,
        }),
        () = exited => Err(exited_error(proc.as_ref().expect("exited implies a process"), condition)),
        () = tokio::time::sleep(Duration::from_millis(timeout)) => Err(EngineError::ReadyTimeout {
            condition,
            timeout_ms: timeout,
            log_tail: proc.map(|p| p.log_tail(TAIL_LINES)).unwrap_or_default(),
        }),
    }
}

fn exited_error(p: &Arc<Proc>, condition: String) -> EngineError {
    let info = p.info();
    EngineError::ExitedBeforeReady {
        condition,
        exit_code: info.exit_code,
        status: info.status.as_str().to_string(),
        log_tail: p.log_tail(TAIL_LINES),
    }
}

/// One `GET path` on an open connection; the status code, if one came.
async fn http_status(mut conn: crate::backend::Conn, port: u16, path: &str) -> Option<u16> {
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nUser-Agent: sandport-readiness\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    while !buf.windows(2).any(|w| w == b"\r\n") && buf.len() < 4096 {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = std::str::from_utf8(&buf[..buf.iter().position(|&c| c == b'\r')?]).ok()?;
    let mut parts = line.split(' ');
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    parts.next()?.parse().ok()
}

/// A log pattern: substring, or a regular expression (`regex: true`, or
/// written `/re/flags`).
pub enum Pattern {
    Text(String),
    Regex(Regex),
}

impl Pattern {
    pub fn parse(pattern: &str, regex: bool) -> Result<Pattern> {
        if pattern.is_empty() {
            return Err(EngineError::invalid("pattern must not be empty"));
        }
        let build = |src: &str, flags: &str| {
            let mut b = regex::RegexBuilder::new(src);
            for f in flags.chars() {
                match f {
                    'i' => b.case_insensitive(true),
                    'm' => b.multi_line(true),
                    's' => b.dot_matches_new_line(true),
                    'x' => b.ignore_whitespace(true),
                    'u' | 'g' => &mut b,
                    other => {
                        return Err(EngineError::invalid(format!(
                            "pattern: unknown regex flag {other:?}"
                        )))
                    }
                };
            }
            b.size_limit(1 << 20)
                .build()
                .map(Pattern::Regex)
                .map_err(|e| EngineError::invalid(format!("pattern: invalid regex: {e}")))
        };
        if let Some(rest) = pattern.strip_prefix('/') {
            if let Some(end) = rest.rfind('/') {
                let flags = &rest[end + 1..];
                if flags.chars().all(|c| c.is_ascii_alphabetic()) {
                    return build(&rest[..end], flags);
                }
            }
        }
        if regex {
            return build(pattern, "");
        }
        Ok(Pattern::Text(pattern.to_string()))
    }

    pub fn describe(&self) -> String {
        match self {
            Pattern::Text(t) => format!("log {t:?}"),
            Pattern::Regex(r) => format!("log /{}/", r.as_str()),
        }
    }

    /// `[full, group1, …]` when `line` matches.
    pub fn find(&self, line: &str) -> Option<Vec<Option<String>>> {
        match self {
            Pattern::Text(t) => line.contains(t.as_str()).then(|| vec![Some(t.clone())]),
            Pattern::Regex(r) => r.captures(line).map(|c| {
                c.iter()
                    .map(|m| m.map(|m| m.as_str().to_string()))
                    .collect()
            }),
        }
    }
}

pub async fn wait_for_log(engine: &Engine, req: WaitLog) -> Result<LogMatch> {
    let pattern = Pattern::parse(&req.pattern, req.regex)?;
    let timeout = check_timeout(req.timeout_ms)?;
    let p = engine.proc(&req.process_id)?;
    let streams: &[Stream] = match req.stream {
        StreamSel::Stdout => &[Stream::Stdout],
        StreamSel::Stderr => &[Stream::Stderr],
        StreamSel::Both => &[Stream::Stdout, Stream::Stderr],
    };
    let condition = pattern.describe();
    let search = async {
        let mut rx = p.changed.subscribe();
        let mut pos = [0u64; 2];
        loop {
            // Read the state first: the end is published only after the
            // output drained, so what came before it is in the buffers now.
            let running = p.is_running();
            for &s in streams {
                if let Some(m) = scan(&p, s, &mut pos[s as usize], &pattern) {
                    return Ok(m);
                }
            }
            if !running {
                return Err(exited_error(&p, condition.clone()));
            }
            if rx.changed().await.is_err() {
                return Err(exited_error(&p, condition.clone()));
            }
        }
    };
    match tokio::time::timeout(Duration::from_millis(timeout), search).await {
        Ok(r) => r,
        Err(_) => Err(EngineError::ReadyTimeout {
            condition,
            timeout_ms: timeout,
            log_tail: p.log_tail(TAIL_LINES),
        }),
    }
}

/// Search the complete lines after `*pos`, moving `*pos` past them; then the
/// partial line after them without consuming it (a prompt without newline).
fn scan(p: &Proc, s: Stream, pos: &mut u64, pat: &Pattern) -> Option<LogMatch> {
    let bufs = p.bufs.lock().unwrap();
    let b = &bufs[s as usize];
    let slice = b.read(*pos, usize::MAX);
    let (lines, used) = complete_lines(&slice.bytes);
    let start = slice.next - slice.bytes.len() as u64;
    for l in lines {
        let text = String::from_utf8_lossy(l);
        if let Some(m) = pat.find(&text) {
            return Some(LogMatch {
                line: text.into_owned(),
                matches: m,
                stream: s,
            });
        }
    }
    *pos = start + used as u64;
    let rest = &slice.bytes[used..];
    if !rest.is_empty() {
        let text = String::from_utf8_lossy(rest);
        if let Some(m) = pat.find(&text) {
            return Some(LogMatch {
                line: text.into_owned(),
                matches: m,
                stream: s,
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let p = Pattern::parse(r"/Local: http:\/\/localhost:(\d+)/", false).unwrap();
        let m = p.find("  Local: http://localhost:5173/").unwrap();
        assert_eq!(m[1].as_deref(), Some("5173"));
        let p = Pattern::parse("/READY/i", false).unwrap();
        assert!(p.find("server ready").is_some());
        let p = Pattern::parse("a.b", false).unwrap();
        assert!(p.find("axb").is_none());
        assert!(p.find("a.b").is_some());
        assert!(Pattern::parse("(", true).is_err());
        assert!(Pattern::parse("", false).is_err());
    }
}
