//! A tolerant front for the JSON-RPC stream.
//!
//! tower-lsp-server's reader stops serving after the first frame it cannot
//! decode (bad JSON, bad `Content-Length`): its framed stream ends on the
//! first decode error. So the real stdin is read here first; each frame is
//! checked, good frames are passed on unchanged, and a bad one is replaced
//! by a request of the internal method [`MALFORMED`], which the service
//! wrapper answers with the JSON-RPC error (`-32700` parse error or
//! `-32600` invalid request) — the server keeps serving.

use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Internal method standing for a frame that could not be used.
pub const MALFORMED: &str = "$/sandport/malformed";
/// Longest header block accepted.
const MAX_HEADER: usize = 8 * 1024;
/// Largest message body accepted.
pub const MAX_BODY: usize = 64 * 1024 * 1024;

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;

/// Copy frames from `input` to `output` until `input` ends (or `output`
/// is closed).
pub async fn pump<R, W>(mut input: R, mut output: W)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut eof = false;
    loop {
        // Header block.
        let header_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break Some(i);
            }
            if buf.len() > MAX_HEADER {
                break None;
            }
            if eof {
                return;
            }
            match input.read(&mut chunk).await {
                Ok(0) | Err(_) => eof = true,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let Some(header_end) = header_end else {
            tracing::warn!("header block too long; resynchronising");
            if send_error(
                &mut output,
                PARSE_ERROR,
                "header block too long",
                Value::Null,
            )
            .await
            .is_err()
            {
                return;
            }
            resync(&mut buf, 1);
            continue;
        };
        let headers = String::from_utf8_lossy(&buf[..header_end]).into_owned();
        let len = match content_length(&headers) {
            Ok(n) => n,
            Err(why) => {
                tracing::warn!("bad message header: {why}");
                buf.drain(..header_end + 4);
                resync(&mut buf, 0);
                if send_error(&mut output, PARSE_ERROR, &why, Value::Null)
                    .await
                    .is_err()
                {
                    return;
                }
                continue;
            }
        };
        buf.drain(..header_end + 4);
        while buf.len() < len {
            if eof {
                return;
            }
            match input.read(&mut chunk).await {
                Ok(0) | Err(_) => eof = true,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Vec<u8> = buf.drain(..len).collect();
        let sent = match check(&body) {
            Ok(Some(fixed)) => write_frame(&mut output, &fixed).await,
            Ok(None) => write_frame(&mut output, &body).await,
            Err((code, why, id)) => {
                tracing::warn!("malformed message: {why}");
                send_error(&mut output, code, &why, id).await
            }
        };
        if sent.is_err() {
            return;
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Drop bytes up to the next `Content-Length` (after `skip` bytes).
fn resync(buf: &mut Vec<u8>, skip: usize) {
    let skip = skip.min(buf.len());
    match find(&buf[skip..], b"Content-Length") {
        Some(i) => {
            buf.drain(..skip + i);
        }
        None => {
            // Keep a tail that may be the start of the next header.
            let keep = buf.len().min(16);
            let cut = buf.len() - keep;
            buf.drain(..cut);
        }
    }
}

fn content_length(headers: &str) -> Result<usize, String> {
    let mut len = None;
    for line in headers.split("\r\n") {
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("malformed header line {line:?}"));
        };
        if name.trim().eq_ignore_ascii_case("content-length") {
            let n: usize = value
                .trim()
                .parse()
                .map_err(|_| format!("Content-Length {:?} is not a number", value.trim()))?;
            if n > MAX_BODY {
                return Err(format!("Content-Length {n} exceeds {MAX_BODY}"));
            }
            len = Some(n);
        }
    }
    len.ok_or_else(|| "missing Content-Length".to_string())
}

/// Whether the body is a JSON-RPC 2.0 message tower-lsp-server can take;
/// `Ok(Some(body))` when it needs a fix first (`"params": null`, which
/// some clients send with `shutdown`, is taken as no params).
fn check(body: &[u8]) -> Result<Option<Vec<u8>>, (i64, String, Value)> {
    let mut v: Value = serde_json::from_slice(body)
        .map_err(|e| (PARSE_ERROR, format!("invalid JSON: {e}"), Value::Null))?;
    let Value::Object(m) = &v else {
        return Err((
            INVALID_REQUEST,
            "a message must be a JSON object".into(),
            Value::Null,
        ));
    };
    let id = m.get("id").cloned().unwrap_or(Value::Null);
    let id_ok = matches!(
        m.get("id"),
        None | Some(Value::Null | Value::String(_) | Value::Number(_))
    ) && m
        .get("id")
        .and_then(Value::as_number)
        .is_none_or(|n| n.is_i64());
    let invalid = |why: &str| {
        let id = if id_ok { id.clone() } else { Value::Null };
        Err((INVALID_REQUEST, why.to_string(), id))
    };
    if m.get("jsonrpc") != Some(&json!("2.0")) {
        return invalid("jsonrpc must be \"2.0\"");
    }
    if !id_ok {
        return invalid("id must be an integer, a string or null");
    }
    match m.get("method") {
        Some(Value::String(_)) => {}
        Some(_) => return invalid("method must be a string"),
        None => {
            // A response to one of our requests.
            if m.contains_key("id") && (m.contains_key("result") || m.contains_key("error")) {
                if let Some(e) = m.get("error") {
                    let ok = e.get("code").and_then(Value::as_i64).is_some()
                        && e.get("message").is_some_and(Value::is_string);
                    if !ok {
                        return invalid("error must be {code, message}");
                    }
                }
                return Ok(None);
            }
            return invalid("neither a request nor a response");
        }
    }
    match m.get("params") {
        None | Some(Value::Object(_) | Value::Array(_)) => Ok(None),
        Some(Value::Null) => {
            if let Some(m) = v.as_object_mut() {
                m.remove("params");
            }
            Ok(Some(v.to_string().into_bytes()))
        }
        Some(_) => invalid("params must be an object or an array"),
    }
}

async fn write_frame<W: AsyncWrite + Unpin>(out: &mut W, body: &[u8]) -> std::io::Result<()> {
    out.write_all(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes())
        .await?;
    out.write_all(body).await?;
    out.flush().await
}

async fn send_error<W: AsyncWrite + Unpin>(
    out: &mut W,
    code: i64,
    why: &str,
    id: Value,
) -> std::io::Result<()> {
    let msg = json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": MALFORMED,
        "params": {"code": code, "message": why},
    });
    write_frame(out, msg.to_string().as_bytes()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(s: &str) -> String {
        format!("Content-Length: {}\r\n\r\n{s}", s.len())
    }

    async fn run(input: String) -> Vec<Value> {
        let (mut w, r) = tokio::io::duplex(1 << 20);
        pump(input.as_bytes(), &mut w).await;
        drop(w);
        let mut out = String::new();
        let mut r = r;
        r.read_to_string(&mut out).await.unwrap();
        out.split("Content-Length: ")
            .filter(|s| !s.is_empty())
            .map(|s| serde_json::from_str(s.split_once("\r\n\r\n").unwrap().1).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn passes_good_and_replaces_bad() {
        let good = r#"{"jsonrpc":"2.0","id":1,"method":"x"}"#;
        let input = [
            frame(good),
            frame("{not json"),
            "Content-Length: abc\r\n\r\n".to_string(),
            frame(r#"{"jsonrpc":"2.0","id":7,"method":5}"#),
            frame(r#"[1,2]"#),
            frame(good),
        ]
        .concat();
        let out = run(input).await;
        assert_eq!(out.len(), 6, "{out:?}");
        assert_eq!(out[0]["method"], "x");
        assert_eq!(out[1]["method"], MALFORMED);
        assert_eq!(out[1]["params"]["code"], PARSE_ERROR);
        assert_eq!(out[2]["params"]["code"], PARSE_ERROR);
        assert_eq!(out[3]["id"], 7);
        assert_eq!(out[3]["params"]["code"], INVALID_REQUEST);
        assert_eq!(out[4]["params"]["code"], INVALID_REQUEST);
        assert_eq!(out[5]["method"], "x");
    }
}
