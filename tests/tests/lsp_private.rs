//! Private previews (protocol v2) through `sandport lsp`: `exposePort`'s
//! `visibility`, `createLoginLink`, and `openPreview` / "Open" handing out
//! login links, with raw HTTP through the real gateway.

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

/// Answers 200 with the Cookie and X-Sandport-Key headers it was sent.
const ECHO: &str = r#"
import http.server, sys
port = int(sys.argv[1])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("path=%s cookie=%s key=%s" % (self.path, self.headers.get("Cookie"),
                self.headers.get("X-Sandport-Key"))).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer.allow_reuse_address = True
srv = http.server.HTTPServer(("127.0.0.1", port), H)
print("ready", flush=True)
srv.serve_forever()
"#;

struct Gw {
    addr: String,
    key: String,
}

fn gateway(lsp: &Lsp) -> Gw {
    let info = lsp.ok("sandport.info", json!({}));
    Gw {
        addr: info["gateway"]["listen"].as_str().unwrap().to_string(),
        key: info["gateway"]["sessionKey"].as_str().unwrap().to_string(),
    }
}

/// `(Host, path and query)` of an `http://` URL.
fn split(url: &str) -> (String, String) {
    let rest = url.strip_prefix("http://").expect("an http URL");
    match rest.find('/') {
        Some(i) => (rest[..i].to_string(), rest[i..].to_string()),
        None => (rest.to_string(), "/".to_string()),
    }
}

use sys::HttpResponse as Response;

fn get(gw: &Gw, url: &str, headers: &[(&str, &str)]) -> Response {
    let (host, path) = split(url);
    sys::http_get_with(&gw.addr, &host, &path, headers).expect("request through the gateway")
}

fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
    r.1.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Serves [`ECHO`] on a free port; returns the port.
fn serve(d: &tempfile::TempDir, lsp: &Lsp) -> u16 {
    std::fs::write(d.path().join("echo.py"), ECHO).unwrap();
    let port = sys::free_port();
    let p = lsp.ok(
        "sandport.startProcess",
        json!({"command": format!("python3 -u echo.py {port}")}),
    );
    lsp.ok(
        "sandport.waitForLog",
        json!({"processId": p["id"], "pattern": "ready", "timeout": 20000}),
    );
    port
}

/// Opens a login link: 303 with the `sandport_auth` cookie; returns
/// `(Location, "name=value" of the cookie)`.
fn log_in(gw: &Gw, link: &str) -> (String, String) {
    let r = get(gw, link, &[]);
    assert_eq!(r.0, 303, "login link {link}: {r:?}");
    let cookie = header(&r, "set-cookie").expect("Set-Cookie").to_string();
    assert!(cookie.starts_with("sandport_auth="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.to_ascii_lowercase().contains("domain="), "{cookie}");
    let pair = cookie.split(';').next().unwrap().to_string();
    (header(&r, "location").unwrap().to_string(), pair)
}

#[test]
fn create_login_link_is_advertised() {
    let dir = tempfile::tempdir().unwrap();
    let lsp = Lsp::spawn(dir.path());
    let r = lsp.initialize(json!({}));
    let cmds = r["capabilities"]["executeCommandProvider"]["commands"]
        .as_array()
        .unwrap();
    assert!(
        cmds.contains(&json!("sandport.createLoginLink")),
        "{cmds:?}"
    );
}

#[test]
fn private_expose_key_login_link_and_open_preview() {
    let (d, lsp) = start(json!({"onExpose": "silent"}));
    let port = serve(&d, &lsp);
    let gw = gateway(&lsp);

    let x = lsp.ok(
        "sandport.exposePort",
        json!({"port": port, "visibility": "private"}),
    );
    assert_eq!(x["visibility"], "private", "{x}");
    let url = x["url"].as_str().unwrap().to_string();
    lsp.wait_notification("sandport/portsChanged", Duration::from_secs(5), |p| {
        p["ports"][0]["port"] == port && p["ports"][0]["visibility"] == "private"
    });
    let listed = lsp.ok("sandport.getExposedPorts", json!({}));
    assert_eq!(listed["ports"][0]["visibility"], "private", "{listed}");

    // No credential: 401 PREVIEW_PRIVATE (JSON; an HTML page for browsers).
    let r = get(&gw, &url, &[]);
    assert_eq!(r.0, 401, "{r:?}");
    assert!(r.2.contains("PREVIEW_PRIVATE"), "{r:?}");
    let r = get(&gw, &url, &[("Accept", "text/html")]);
    assert_eq!(r.0, 401);
    assert!(r.2.to_ascii_lowercase().contains("<html"), "{r:?}");
    // A wrong key is no credential.
    let r = get(&gw, &url, &[("X-Sandport-Key", "nope")]);
    assert_eq!(r.0, 401, "{r:?}");

    // The session key admits, and the service never sees it.
    let r = get(&gw, &url, &[("X-Sandport-Key", &gw.key)]);
    assert_eq!(r.0, 200, "{r:?}");
    assert!(r.2.contains("key=None"), "{}", r.2);

    // createLoginLink: a link on the preview's host that sets the cookie
    // and sends the browser to `path`.
    let link = lsp.ok(
        "sandport.createLoginLink",
        json!({"port": port, "path": "/app?x=1"}),
    );
    let link_url = link["url"].as_str().unwrap().to_string();
    assert!(
        link_url.starts_with(&format!("{url}_sandport/login?ticket=")),
        "{link_url} is not on {url}"
    );
    assert!(link["expiresAt"].as_str().unwrap().ends_with('Z'), "{link}");
    let (location, cookie) = log_in(&gw, &link_url);
    assert_eq!(location, "/app?x=1");
    let r = get(&gw, &format!("{url}app"), &[("Cookie", &cookie)]);
    assert_eq!(r.0, 200, "{r:?}");
    // The service sees neither the cookie nor the key.
    assert!(r.2.contains("cookie=None"), "{}", r.2);
    // Other cookies pass through.
    let both = format!("theme=dark; {cookie}");
    let r = get(&gw, &url, &[("Cookie", &both)]);
    assert_eq!(r.0, 200, "{r:?}");
    assert!(r.2.contains("cookie=theme=dark key=None"), "{}", r.2);
    // A link is single use.
    let r = get(&gw, &link_url, &[]);
    assert_eq!(r.0, 401, "a used ticket: {r:?}");
    assert!(header(&r, "set-cookie").is_none());

    // openPreview on a private port: a fresh login link, opened and returned.
    let opened = lsp.ok("sandport.openPreview", json!({"port": port}));
    let open_url = opened["url"].as_str().unwrap().to_string();
    assert!(
        open_url.starts_with(&format!("{url}_sandport/login?ticket=")),
        "{open_url}"
    );
    let doc = lsp.wait_server_request("window/showDocument", Duration::from_secs(5), |_| true);
    assert_eq!(doc["params"]["uri"], open_url.as_str());
    assert_eq!(doc["params"]["external"], true);
    let (location, cookie2) = log_in(&gw, &open_url);
    assert_eq!(location, "/");
    let r = get(&gw, &url, &[("Cookie", &cookie2)]);
    assert_eq!(r.0, 200, "{r:?}");
    // Each opening gets a link of its own.
    let again = lsp.ok("sandport.openPreview", json!({"port": port}));
    assert_ne!(again["url"], opened["url"]);

    // Bad input.
    assert_eq!(
        lsp.err_code(
            "sandport.createLoginLink",
            json!({"port": port, "path": "//evil.example/"})
        ),
        "INVALID_ARGUMENT"
    );
    let e = lsp
        .cmd(
            "sandport.createLoginLink",
            json!({"port": port, "path": "http://evil.example/"}),
        )
        .unwrap_err();
    assert!(e["message"].as_str().unwrap().starts_with("path: "), "{e}");
    assert_eq!(
        lsp.err_code("sandport.createLoginLink", json!({"port": 70000})),
        "INVALID_PORT"
    );
    assert_eq!(
        lsp.err_code(
            "sandport.createLoginLink",
            json!({"port": sys::free_port()})
        ),
        "INVALID_PORT"
    );
    assert_eq!(
        lsp.err_code(
            "sandport.createLoginLink",
            json!({"port": port, "next": "/"})
        ),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        lsp.err_code(
            "sandport.exposePort",
            json!({"port": port, "visibility": "secret"})
        ),
        "INVALID_ARGUMENT"
    );

    // Re-exposing without a visibility keeps it private; "public" opens it.
    let x = lsp.ok("sandport.exposePort", json!({"port": port, "name": "echo"}));
    assert_eq!(x["visibility"], "private");
    assert_eq!(get(&gw, &url, &[]).0, 401);
    let x = lsp.ok(
        "sandport.exposePort",
        json!({"port": port, "visibility": "public"}),
    );
    assert_eq!(x["visibility"], "public");
    assert_eq!(x["url"], url.as_str(), "the URL stays");
    lsp.wait_notification("sandport/portsChanged", Duration::from_secs(5), |p| {
        p["ports"][0]["visibility"] == "public"
    });
    let r = get(&gw, &url, &[]);
    assert_eq!(r.0, 200, "{r:?}");
    // openPreview on a public port: its URL itself.
    let opened = lsp.ok("sandport.openPreview", json!({"port": port}));
    assert_eq!(opened["url"], url.as_str());
}

#[test]
fn open_actions_on_a_private_port_open_login_links() {
    // onExpose = notify, "Open" picked: a login link is opened.
    let (_d, lsp) = start(json!({}));
    lsp.set_policy(Policy {
        message_action: Some("Open".into()),
    });
    let gw = gateway(&lsp);
    let x = lsp.ok(
        "sandport.exposePort",
        json!({"port": 4811, "visibility": "private"}),
    );
    let url = x["url"].as_str().unwrap().to_string();
    let req = lsp.wait_server_request("window/showMessageRequest", Duration::from_secs(5), |_| {
        true
    });
    // The message names the preview's URL, not a short-lived link.
    assert!(
        req["params"]["message"].as_str().unwrap().contains(&url),
        "{req}"
    );
    let doc = lsp.wait_server_request("window/showDocument", Duration::from_secs(5), |_| true);
    let opened = doc["params"]["uri"].as_str().unwrap().to_string();
    assert!(
        opened.starts_with(&format!("{url}_sandport/login?ticket=")),
        "{opened}"
    );
    log_in(&gw, &opened);
    // Turning it public (only `visibility`) does not ask again; a
    // re-exposure with a name does.
    let x = lsp.ok(
        "sandport.exposePort",
        json!({"port": 4811, "visibility": "public"}),
    );
    assert_eq!(x["visibility"], "public");
    lsp.ok("sandport.exposePort", json!({"port": 4811, "name": "web"}));
    sys::eventually(Duration::from_secs(5), || {
        lsp.server_requests("window/showMessageRequest").len() == 2
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(lsp.server_requests("window/showMessageRequest").len(), 2);

    // onExpose = openBrowser: the same.
    let (_d2, lsp2) = start(json!({"onExpose": "openBrowser"}));
    let gw2 = gateway(&lsp2);
    let x = lsp2.ok(
        "sandport.exposePort",
        json!({"port": 4812, "visibility": "private"}),
    );
    let url = x["url"].as_str().unwrap().to_string();
    let doc = lsp2.wait_server_request("window/showDocument", Duration::from_secs(5), |_| true);
    let opened = doc["params"]["uri"].as_str().unwrap().to_string();
    assert!(
        opened.starts_with(&format!("{url}_sandport/login?ticket=")),
        "{opened}"
    );
    log_in(&gw2, &opened);
}
