//! The seed's flows (expose-services) driven through `sandport lsp`, with
//! requests through the preview gateway by raw HTTP carrying the preview
//! Host header.

use sandport_e2e::lsp_client::{Lsp, Policy};
use sandport_e2e::sys;
use serde_json::{json, Value};
use std::time::Duration;

fn start(settings: Value) -> (tempfile::TempDir, Lsp) {
    let dir = tempfile::tempdir().unwrap();
    let lsp = Lsp::spawn(dir.path());
    lsp.initialize(json!({ "initializationOptions": { "sandport": settings } }));
    (dir, lsp)
}

/// `(gateway address, Host header)` for a preview URL.
fn route(lsp: &Lsp, url: &str) -> (String, String) {
    let info = lsp.ok("sandport.info", json!({}));
    let addr = info["gateway"]["listen"].as_str().unwrap().to_string();
    let host = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    (addr, host)
}

fn get(lsp: &Lsp, url: &str, path: &str) -> (u16, String) {
    let (addr, host) = route(lsp, url);
    sys::http_get(&addr, &host, path).expect("request through the gateway")
}

const DEV_SERVER: &str = r#"
import http.server, socketserver, sys
port = int(sys.argv[1])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"dev server " + self.headers.get("Host", "").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
socketserver.TCPServer.allow_reuse_address = True
srv = socketserver.TCPServer(("127.0.0.1", port), H)
print(f"  VITE ready\n  Local: http://localhost:{port}/", flush=True)
srv.serve_forever()
"#;

#[test]
fn dev_server_wait_for_log_capture_expose_and_fetch() {
    let (d, lsp) = start(json!({"onExpose": "silent"}));
    std::fs::write(d.path().join("dev.py"), DEV_SERVER).unwrap();
    let port = sys::free_port();
    let p = lsp.ok(
        "sandport.startProcess",
        json!({"command": format!("python3 -u dev.py {port}"), "name": "dev"}),
    );
    let m = lsp.ok(
        "sandport.waitForLog",
        json!({"processId": p["id"], "pattern": r"/Local: http:\/\/localhost:(\d+)/", "timeout": 20000}),
    );
    assert_eq!(m["match"][1], port.to_string());
    let x = lsp.ok(
        "sandport.exposePort",
        json!({"port": port, "name": "vite-dev"}),
    );
    assert_eq!(x["port"], port);
    assert_eq!(x["name"], "vite-dev");
    assert!(x["expiresAt"].is_null());
    let url = x["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("http://{port}-")), "{url}");
    let (code, body) = get(&lsp, url, "/");
    assert_eq!(code, 200, "{body}");
    // hostHeader defaults to localhost: the service sees localhost:{port}.
    assert_eq!(body, format!("dev server localhost:{port}"));
    let n = lsp.wait_notification("sandport/portsChanged", Duration::from_secs(5), |p| {
        p["ports"][0]["port"] == port
    });
    assert_eq!(n["ports"][0]["url"], url);

    let c = lsp.ok("sandport.closePort", json!({"port": port}));
    assert_eq!(c, json!({"port": port, "closed": true}));
    let c = lsp.ok("sandport.closePort", json!({"port": port}));
    assert_eq!(c, json!({"port": port, "closed": false}));
    let (code, body) = get(&lsp, url, "/");
    assert_eq!(code, 404);
    assert!(body.contains("INVALID_TOKEN"), "{body}");
    assert_eq!(
        lsp.ok("sandport.getExposedPorts", json!({})),
        json!({"ports": []})
    );
}

#[test]
fn api_server_written_then_served() {
    let (_d, lsp) = start(json!({"onExpose": "silent"}));
    let port = sys::free_port();
    let server = format!(
        r#"
import http.server, json
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/api/hello":
            body = json.dumps({{"message": "Hello from sandbox!"}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
        else:
            body = b"not found"
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("127.0.0.1", {port}), H)
print("Server ready", flush=True)
srv.serve_forever()
"#
    );
    lsp.ok(
        "sandport.writeFile",
        json!({"path": "server.py", "content": server}),
    );
    let p = lsp.ok(
        "sandport.startProcess",
        json!({"command": "python3 server.py"}),
    );
    lsp.ok(
        "sandport.waitForLog",
        json!({"processId": p["id"], "pattern": "Server ready", "timeout": 20000}),
    );
    let x = lsp.ok("sandport.exposePort", json!({"port": port, "name": "api"}));
    let (code, body) = get(&lsp, x["url"].as_str().unwrap(), "/api/hello");
    assert_eq!(code, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["message"], "Hello from sandbox!");
}

#[test]
fn static_site_from_checkout_and_two_services_together() {
    let (d, lsp) = start(json!({"onExpose": "silent"}));
    // The "remote" repository is a local one (no network on this machine).
    let src = d.path().join(".origin");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("index.html"), "<h1>static site</h1>").unwrap();
    let sh = |c: &str| {
        assert!(std::process::Command::new("sh")
            .arg("-c")
            .arg(c)
            .current_dir(&src)
            .status()
            .unwrap()
            .success())
    };
    sh("git init -q -b main && git add . && git -c user.name=t -c user.email=t@t commit -qm site");
    lsp.ok(
        "sandport.checkout",
        // Relative to the workspace: the same path on every backend.
        json!({"url": ".origin", "dir": "static-site"}),
    );
    let p1 = sys::free_port();
    let p2 = sys::free_port();
    lsp.ok(
        "sandport.startProcess",
        json!({"command": format!("python3 -m http.server {p1} --bind 127.0.0.1"), "cwd": "static-site", "name": "frontend"}),
    );
    std::fs::create_dir_all(d.path().join("backend")).unwrap();
    std::fs::write(d.path().join("backend/health"), "ok").unwrap();
    lsp.ok(
        "sandport.startProcess",
        json!({"command": format!("python3 -m http.server {p2} --bind 127.0.0.1"), "cwd": "backend", "name": "backend"}),
    );
    // Both waits at once.
    let w1 = lsp.cmd_async(
        "sandport.waitForPort",
        json!({"port": p1, "timeout": 20000}),
    );
    let w2 = lsp.cmd_async(
        "sandport.waitForPort",
        json!({"port": p2, "path": "/health", "status": 200, "timeout": 20000}),
    );
    let r1 = lsp.response(&w1, Duration::from_secs(30)).unwrap();
    let r2 = lsp.response(&w2, Duration::from_secs(30)).unwrap();
    assert_eq!(r1["port"], p1);
    assert_eq!(r2["statusCode"], 200);
    assert!(r1["elapsedMs"].is_u64());
    let a = lsp.ok(
        "sandport.exposePort",
        json!({"port": p1, "name": "frontend"}),
    );
    let b = lsp.ok(
        "sandport.exposePort",
        json!({"port": p2, "name": "backend"}),
    );
    let (code, body) = get(&lsp, a["url"].as_str().unwrap(), "/");
    assert_eq!(code, 200);
    assert!(body.contains("<h1>static site</h1>"));
    let (code, body) = get(&lsp, b["url"].as_str().unwrap(), "/health");
    assert_eq!((code, body.as_str()), (200, "ok"));
    let list = lsp.ok("sandport.getExposedPorts", json!({}));
    let ports: Vec<u64> = list["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_u64().unwrap())
        .collect();
    let mut sorted = ports.clone();
    sorted.sort();
    assert_eq!(ports, sorted);
    assert_eq!(ports.len(), 2);
}

#[test]
fn expose_errors_and_token_rules() {
    let (_d, lsp) = start(json!({"onExpose": "silent", "sandboxId": "flows"}));
    assert_eq!(
        lsp.err_code("sandport.exposePort", json!({"port": 80})),
        "INVALID_PORT"
    );
    assert_eq!(
        lsp.err_code("sandport.exposePort", json!({"port": 70000})),
        "INVALID_PORT"
    );
    assert_eq!(
        lsp.err_code("sandport.exposePort", json!({"port": "x"})),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        lsp.err_code(
            "sandport.exposePort",
            json!({"port": 3000, "token": "Bad!"})
        ),
        "INVALID_TOKEN"
    );
    assert_eq!(
        lsp.err_code(
            "sandport.exposePort",
            json!({"port": 3000, "ttlSeconds": -1})
        ),
        "INVALID_ARGUMENT"
    );
    let a = lsp.ok("sandport.exposePort", json!({"port": 3000, "token": "abc"}));
    assert_eq!(
        lsp.err_code("sandport.exposePort", json!({"port": 3001, "token": "abc"})),
        "TOKEN_IN_USE"
    );
    let again = lsp.ok("sandport.exposePort", json!({"port": 3000}));
    assert_eq!(again["url"], a["url"]);
    let info = lsp.ok("sandport.info", json!({}));
    assert_eq!(info["sandboxId"], "flows");
    let backend = std::env::var("SANDPORT_TEST_BACKEND").unwrap_or_else(|_| "local".into());
    assert_eq!(info["backend"], backend.as_str());
    let gw_port: u16 = info["gateway"]["listen"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        lsp.err_code("sandport.exposePort", json!({"port": gw_port})),
        "INVALID_PORT"
    );
    assert!(info["gateway"]["sessionKey"].as_str().unwrap().len() >= 32);
    assert_eq!(info["gateway"]["domain"], "localhost");
    let ttl = lsp.ok(
        "sandport.exposePort",
        json!({"port": 3002, "ttlSeconds": 60}),
    );
    assert!(ttl["expiresAt"].is_string());
    let e = lsp
        .request(
            "initialize",
            json!({"processId": null, "rootUri": null, "capabilities": {}}),
        )
        .unwrap_err();
    assert_eq!(e["code"], -32600, "second initialize is refused: {e}");
    assert_eq!(
        lsp.err_code("sandport.openPreview", json!({"port": 3999})),
        "INVALID_ARGUMENT"
    );
}

#[test]
fn expose_asks_the_editor_and_open_shows_the_document() {
    let (_d, lsp) = start(json!({}));
    lsp.set_policy(Policy {
        message_action: Some("Open".into()),
    });
    let x = lsp.ok("sandport.exposePort", json!({"port": 4321, "name": "web"}));
    let url = x["url"].as_str().unwrap().to_string();
    let req = lsp.wait_server_request("window/showMessageRequest", Duration::from_secs(5), |_| {
        true
    });
    let text = req["params"]["message"].as_str().unwrap();
    assert!(
        text.contains("web") && text.contains("4321") && text.contains(&url),
        "{text}"
    );
    let titles: Vec<&str> = req["params"]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, vec!["Open", "Copy URL"]);
    let doc = lsp.wait_server_request("window/showDocument", Duration::from_secs(5), |_| true);
    assert_eq!(doc["params"]["uri"], url);
    assert_eq!(doc["params"]["external"], true);

    // openPreview: showDocument again, and the URL back.
    let r = lsp.ok("sandport.openPreview", json!({"port": 4321}));
    assert_eq!(r["url"], url);
    sys::eventually(Duration::from_secs(5), || {
        lsp.server_requests("window/showDocument").len() == 2
    });
    assert_eq!(lsp.server_requests("window/showDocument").len(), 2);

    // Copy URL: no showDocument.
    lsp.set_policy(Policy {
        message_action: Some("Copy URL".into()),
    });
    lsp.ok("sandport.exposePort", json!({"port": 4322}));
    sys::eventually(Duration::from_secs(5), || {
        lsp.server_requests("window/showMessageRequest").len() == 2
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(lsp.server_requests("window/showDocument").len(), 2);
}

#[test]
fn on_expose_open_browser_and_silent() {
    let (_d, lsp) = start(json!({"onExpose": "openBrowser"}));
    let x = lsp.ok("sandport.exposePort", json!({"port": 4500}));
    let doc = lsp.wait_server_request("window/showDocument", Duration::from_secs(5), |_| true);
    assert_eq!(doc["params"]["uri"], x["url"]);
    assert_eq!(doc["params"]["external"], true);
    assert!(lsp.server_requests("window/showMessageRequest").is_empty());
    // Live change to silent.
    lsp.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"sandport": {"onExpose": "silent"}}}),
    );
    std::thread::sleep(Duration::from_millis(200));
    lsp.ok("sandport.exposePort", json!({"port": 4501}));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(lsp.server_requests("window/showDocument").len(), 1);
    assert!(lsp.server_requests("window/showMessageRequest").is_empty());
}

/// A request sent right after didChangeConfiguration sees the new sandbox
/// id and URL domain (they were applied in a task of their own, so under
/// load `info` could still answer the old ones: the Neovim plugin's
/// "setup() while running" test failed that way).
#[test]
fn a_request_right_after_a_settings_change_sees_it() {
    let (_d, lsp) = start(json!({"gateway": {"listen": "127.0.0.1:0"}, "onExpose": "silent"}));
    for i in 0..20 {
        let id = format!("live{i}");
        let domain = format!("d{i}.localhost");
        lsp.notify(
            "workspace/didChangeConfiguration",
            json!({"settings": {"sandport": {
                "sandboxId": id,
                "gateway": {"listen": "127.0.0.1:0", "domain": domain},
                "onExpose": "silent",
            }}}),
        );
        let info = lsp.ok("sandport.info", json!({}));
        assert_eq!(info["sandboxId"], id.as_str(), "{info}");
        let x = lsp.ok("sandport.exposePort", json!({"port": 4600 + i}));
        let url = x["url"].as_str().unwrap();
        assert!(url.contains(&format!("-{id}-")), "{url}");
        assert!(url.contains(&domain), "{url}");
    }
}

#[test]
fn websocket_server_through_the_preview_url() {
    use std::io::{Read, Write};
    let (d, lsp) = start(json!({"onExpose": "silent"}));
    // The seed's WebSocket echo server ("Echo: {message}").
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/ws_echo.py"),
        d.path().join("ws_server.py"),
    )
    .unwrap();
    let port = sys::free_port();
    let p = lsp.ok(
        "sandport.startProcess",
        json!({"command": format!("python3 ws_server.py {port}")}),
    );
    lsp.ok(
        "sandport.waitForLog",
        json!({"processId": p["id"], "pattern": "WebSocket server listening", "timeout": 20000}),
    );
    let x = lsp.ok(
        "sandport.exposePort",
        json!({"port": port, "name": "websocket"}),
    );
    let ws_url = x["url"].as_str().unwrap().replace("http://", "ws://");
    assert!(ws_url.starts_with("ws://"));
    let (addr, host) = route(&lsp, x["url"].as_str().unwrap());
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
    // One masked text frame "hello".
    let mask = [1u8, 2, 3, 4];
    let payload: Vec<u8> = b"hello"
        .iter()
        .enumerate()
        .map(|(i, c)| c ^ mask[i % 4])
        .collect();
    let mut frame = vec![0x81, 0x80 | 5];
    frame.extend_from_slice(&mask);
    frame.extend_from_slice(&payload);
    s.write_all(&frame).unwrap();
    let mut hdr = [0u8; 2];
    s.read_exact(&mut hdr).unwrap();
    assert_eq!(hdr[0], 0x81);
    let mut body = vec![0u8; (hdr[1] & 0x7f) as usize];
    s.read_exact(&mut body).unwrap();
    assert_eq!(body, b"Echo: hello");
}

#[test]
fn sandbox_id_too_long_for_a_label() {
    let dir = tempfile::tempdir().unwrap();
    let lsp = Lsp::spawn(dir.path());
    let uri = format!("file://{}", dir.path().display());
    let e = lsp
        .request(
            "initialize",
            json!({"processId": null, "rootUri": uri, "capabilities": {},
                   "initializationOptions": {"sandport": {"sandboxId": "a".repeat(50)}}}),
        )
        .unwrap_err();
    assert_eq!(e["data"]["code"], "LABEL_TOO_LONG", "{e}");

    // Live: refused and said so; URLs keep the old id.
    let (_d, lsp) = start(json!({"onExpose": "silent", "sandboxId": "short"}));
    let x = lsp.ok("sandport.exposePort", json!({"port": 5000}));
    lsp.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"sandport": {"onExpose": "silent", "sandboxId": "b".repeat(50)}}}),
    );
    lsp.wait_notification("window/showMessage", Duration::from_secs(5), |m| {
        m["message"]
            .as_str()
            .is_some_and(|t| t.contains("sandboxId"))
    });
    assert_eq!(lsp.ok("sandport.info", json!({}))["sandboxId"], "short");
    // A valid new id applies live: the URL changes.
    lsp.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"sandport": {"onExpose": "silent", "sandboxId": "other"}}}),
    );
    let n = lsp.wait_notification("sandport/portsChanged", Duration::from_secs(5), |n| {
        n["ports"][0]["url"]
            .as_str()
            .is_some_and(|u| u.contains("-other-"))
    });
    assert_ne!(n["ports"][0]["url"], x["url"]);
}
