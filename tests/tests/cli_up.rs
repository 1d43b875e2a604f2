//! `sandport up` end to end: the real binary, a `sandport.toml` of python3
//! services in a temp workspace.

use sandport_e2e::cli::*;
use sandport_e2e::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn up(ws: &Path, args: &[&str]) -> Command {
    sandport_cmd("up", ws, args)
}

/// GET `url` through the gateway listening on `gw` (the URL's host is a
/// name only the gateway resolves).
fn fetch(gw: u16, url: &str) -> String {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut s = std::net::TcpStream::connect(("127.0.0.1", gw)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

/// A database-like service that says when it is up, and two web servers
/// that need it, each serving a file naming itself.
fn workspace(m: &str) -> (tempfile::TempDir, u16, u16) {
    let ws = tempfile::tempdir().unwrap();
    let (p1, p2) = (free_port(), free_port());
    for d in ["a", "b"] {
        std::fs::create_dir(ws.path().join(d)).unwrap();
        std::fs::write(ws.path().join(d).join("index.html"), format!("site {d}")).unwrap();
    }
    std::fs::write(
        ws.path().join("sandport.toml"),
        format!(
            r#"
[services.db]
command = "python3 -X tag={m} -u -c \"import time; print('db is up', flush=True); time.sleep(600)\""
ready = {{ log = "db is up", timeout = 20000 }}

[services.api]
command = "python3 -X tag={m} -u -m http.server {p1} --bind 127.0.0.1"
cwd = "a"
depends-on = ["db"]
ready = {{ port = {p1}, path = "/", timeout = 20000 }}
expose = {{ port = {p1}, name = "api" }}

[services.web]
command = "python3 -X tag={m} -u -m http.server {p2} --bind 127.0.0.1"
cwd = "b"
depends-on = ["api"]
ready = {{ port = {p2}, path = "/", timeout = 20000 }}
expose = {{ port = {p2}, name = "web" }}
"#
        ),
    )
    .unwrap();
    (ws, p1, p2)
}

fn pos(lines: &[String], needle: &str) -> usize {
    lines
        .iter()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in {lines:#?}"))
}

#[test]
fn up_starts_in_dependency_order_prints_urls_and_ctrl_c_stops_all() {
    let m = marker();
    let (ws, p1, p2) = workspace(&m);
    let gw = free_port();
    let mut child = Guard(
        up(ws.path(), &["--gateway-listen", &format!("127.0.0.1:{gw}")])
            .spawn()
            .unwrap(),
    );
    let child = &mut child.0;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let seen = read_until(&mut lines, Duration::from_secs(30), |l| {
        l.starts_with("sandport: web: ready")
    });
    // Not a terminal: no colour codes.
    assert!(seen.iter().all(|l| !l.contains('\u{1b}')), "{seen:#?}");
    // Dependencies first: db ready before api starts, api before web.
    let db_ready = pos(&seen, "sandport: db: ready: log");
    assert!(db_ready < pos(&seen, "sandport: api: started"));
    assert!(pos(&seen, "sandport: api: ready") < pos(&seen, "sandport: web: started"));
    // Output lines carry their service's name.
    assert!(
        seen.iter().any(|l| l.starts_with("db  | db is up")),
        "{seen:#?}"
    );
    assert!(seen
        .iter()
        .any(|l| l.starts_with("api | Serving HTTP") && l.contains(&p1.to_string())));
    // One clear line per preview URL, and each URL serves its service.
    let url_of = |name: &str, port: u16| -> String {
        let l = &seen[pos(&seen, &format!("sandport: {name} ({port}) is live at "))];
        l.rsplit(' ').next().unwrap().to_string()
    };
    let (u1, u2) = (url_of("api", p1), url_of("web", p2));
    assert_eq!(
        seen.iter().filter(|l| l.contains(" is live at ")).count(),
        2
    );
    assert!(fetch(gw, &u1).ends_with("site a"), "{u1}");
    assert!(fetch(gw, &u2).ends_with("site b"), "{u2}");
    assert!(!live_with(&m).is_empty());

    sigint(child);
    let rest = read_until(&mut lines, Duration::from_secs(20), |_| false);
    assert_eq!(wait_exit(child, Duration::from_secs(20)), 0);
    // Dependents first.
    let web = pos(&rest, "sandport: web: stopped");
    let api = pos(&rest, "sandport: api: stopped");
    let db = pos(&rest, "sandport: db: stopped");
    assert!(web < api && api < db, "{rest:#?}");
    assert!(
        wait_until(Duration::from_secs(5), || live_with(&m).is_empty()),
        "left running: {:?}",
        live_with(&m)
    );
}

#[test]
fn json_events_name_their_service() {
    let m = marker();
    let (ws, p1, _) = workspace(&m);
    let gw = free_port();
    // Only api (and db, which it needs).
    let mut child = Guard(
        up(
            ws.path(),
            &[
                "--json",
                "--gateway-listen",
                &format!("127.0.0.1:{gw}"),
                "api",
            ],
        )
        .spawn()
        .unwrap(),
    );
    let child = &mut child.0;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let evs: Vec<Value> = read_until(&mut lines, Duration::from_secs(30), |l| {
        l.contains(r#""event":"ready""#) && l.contains(r#""service":"api""#)
    })
    .iter()
    .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
    .collect();
    let find = |f: &dyn Fn(&Value) -> bool| {
        evs.iter()
            .find(|v| f(v))
            .unwrap_or_else(|| panic!("not in {evs:#?}"))
            .clone()
    };
    let started = find(&|v| v["event"] == "started" && v["service"] == "db");
    assert_eq!(started["process"]["name"], "db");
    let ready = find(&|v| v["event"] == "ready" && v["service"] == "api");
    assert_eq!(ready["condition"], format!("port {p1} (HTTP /)"));
    assert!(ready["elapsedMs"].is_u64());
    let log = find(&|v| v["event"] == "log" && v["service"] == "db");
    assert_eq!(log["text"], "db is up");
    assert_eq!(log["stream"], "stdout");
    let svc = find(&|v| {
        v["event"] == "service" && v["service"]["name"] == "db" && v["service"]["state"] == "ready"
    });
    assert!(svc["service"]["processId"].is_string());
    // The exposure comes as an event of its own and in the Service.
    let x = find(&|v| v["event"] == "exposed");
    assert_eq!(x["service"], "api");
    assert_eq!(x["port"], p1);
    assert!(fetch(gw, x["url"].as_str().unwrap()).ends_with("site a"));
    // web was not asked for.
    assert!(!evs.iter().any(|v| v["service"] == "web"));

    sigint(child);
    let rest: Vec<Value> = read_until(&mut lines, Duration::from_secs(20), |_| false)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(wait_exit(child, Duration::from_secs(20)), 0);
    let stopped: Vec<&str> = rest
        .iter()
        .filter(|v| v["event"] == "service" && v["service"]["state"] == "stopped")
        .map(|v| v["service"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(stopped, ["api", "db"], "{rest:#?}");
    assert!(rest
        .iter()
        .any(|v| v["event"] == "exited" && v["service"] == "api"));
    assert!(wait_until(Duration::from_secs(5), || live_with(&m).is_empty()));
}

#[test]
fn an_invalid_file_exits_1_naming_the_problem_and_its_line() {
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(
        ws.path().join("sandport.toml"),
        "[services.web]\ncommand = \"python3 -m http.server\"\ndepends-on = [\"nosuch\"]\n",
    )
    .unwrap();
    let out = up(ws.path(), &[]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("sandport.toml:3:"), "{err}");
    assert!(err.contains("nosuch"), "{err}");
    assert!(err.contains("SERVICES_FILE_INVALID"), "{err}");

    let out = up(ws.path(), &["--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let ev: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ev["event"], "error");
    assert_eq!(ev["code"], "SERVICES_FILE_INVALID");
    let p = &ev["problems"][0];
    assert!(p["message"].as_str().unwrap().contains("nosuch"), "{ev}");
    assert_eq!(p["range"]["start"]["line"], 2);
}

#[test]
fn a_service_that_fails_to_become_ready_exits_1() {
    let m = marker();
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(
        ws.path().join("sandport.toml"),
        format!(
            r#"
[services.slow]
command = "python3 -X tag={m} -c \"import time; time.sleep(600)\""
ready = {{ log = "never", timeout = 500 }}

[services.after]
command = "python3 -X tag={m} -c \"import time; time.sleep(600)\""
depends-on = ["slow"]
"#
        ),
    )
    .unwrap();
    let out = up(ws.path(), &["--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let evs: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let err = evs
        .iter()
        .find(|v| v["event"] == "error")
        .expect("error event");
    assert_eq!(err["code"], "DEPENDENCY_FAILED", "{err}");
    assert_eq!(err["dependency"], "slow");
    assert!(live_with(&m).is_empty());
}

#[test]
fn unknown_service_exits_1_and_bad_options_2() {
    let (ws, _, _) = workspace(&marker());
    let out = up(ws.path(), &["nosuch"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SERVICE_NOT_FOUND"));
    let out = up(ws.path(), &["--no-such-option"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_fullstack_example_comes_up() {
    if Command::new("redis-server")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("redis-server not installed: skipped");
        return;
    }
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/fullstack");
    let gw = free_port();
    let mut child = Guard(
        up(&ex, &["--gateway-listen", &format!("127.0.0.1:{gw}")])
            .spawn()
            .unwrap(),
    );
    let child = &mut child.0;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let seen = read_until(&mut lines, Duration::from_secs(60), |l| {
        l.starts_with("sandport: web: ready")
    });
    assert!(pos(&seen, "sandport: db: ready") < pos(&seen, "sandport: migrate: started"));
    assert!(pos(&seen, "sandport: migrate: completed") < pos(&seen, "sandport: api: started"));
    let l = &seen[pos(&seen, "sandport: web (18081) is live at ")];
    let body = fetch(gw, l.rsplit(' ').next().unwrap());
    assert!(
        body.starts_with("HTTP/1.") && body.contains(" 200 "),
        "{body}"
    );
    sigint(child);
    let _ = read_until(&mut lines, Duration::from_secs(20), |_| false);
    assert_eq!(wait_exit(child, Duration::from_secs(20)), 0);
}

#[test]
fn sigterm_while_services_start_stops_them_and_exits_0() {
    let m = marker();
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(
        ws.path().join("sandport.toml"),
        format!(
            r#"
[services.base]
command = "python3 -X tag={m} -u -c \"import time; print('base on', flush=True); time.sleep(600)\""

[services.top]
command = "python3 -X tag={m} -u -c \"import time; time.sleep(600)\""
depends-on = ["base"]
ready = {{ log = "never printed", timeout = 60000 }}
"#
        ),
    )
    .unwrap();
    let mut child = Guard(up(ws.path(), &[]).spawn().unwrap());
    let child = &mut child.0;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // top is started but never ready: `up` is still waiting for it.
    let (mut top, mut base) = (false, false);
    let seen = read_until(&mut lines, Duration::from_secs(20), |l| {
        top |= l.starts_with("sandport: top: started");
        base |= l == "base | base on";
        top && base
    });
    assert!(top && base, "{seen:#?}");
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let rest = read_until(&mut lines, Duration::from_secs(20), |_| false);
    assert_eq!(wait_exit(child, Duration::from_secs(20)), 0);
    assert!(pos(&rest, "sandport: top: stopped") < pos(&rest, "sandport: base: stopped"));
    assert!(wait_until(Duration::from_secs(5), || live_with(&m).is_empty()));
}

#[test]
fn up_on_the_docker_backend_serves_its_url_and_leaves_no_container() {
    if !docker_ready() {
        return;
    }
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("index.html"), "docker up").unwrap();
    std::fs::write(
        ws.path().join("sandport.toml"),
        r#"
[services.web]
command = "python3 -u -m http.server 8000 --bind 127.0.0.1"
ready = { port = 8000, path = "/", timeout = 30000 }
expose = { port = 8000, name = "web" }
"#,
    )
    .unwrap();
    let id = format!("u{}", marker());
    let gw = free_port();
    let mut child = Guard(
        up(
            ws.path(),
            &[
                "--backend",
                "docker",
                "--docker-image",
                "sandport-test:host",
                "--docker-mount",
                "/usr:/usr:ro",
                "--docker-mount",
                "/etc:/etc:ro",
                "--sandbox-id",
                &id,
                "--gateway-listen",
                &format!("127.0.0.1:{gw}"),
            ],
        )
        .spawn()
        .unwrap(),
    );
    let child = &mut child.0;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let seen = read_until(&mut lines, Duration::from_secs(60), |l| {
        l.starts_with("sandport: web: ready")
    });
    let l = &seen[pos(&seen, "sandport: web (8000) is live at ")];
    assert!(fetch(gw, l.rsplit(' ').next().unwrap()).ends_with("docker up"));
    sigint(child);
    let rest = read_until(&mut lines, Duration::from_secs(30), |_| false);
    assert_eq!(wait_exit(child, Duration::from_secs(30)), 0);
    pos(&rest, "sandport: web: stopped");
    assert!(wait_until(Duration::from_secs(10), || {
        docker_containers_of(&id).is_empty()
    }));
}
