//! Each way a session ends stops every process (whole groups), exposure and
//! listener, and the server exits within 10 s.

use sandport_e2e::lsp_client::Lsp;
use sandport_e2e::sys;
use serde_json::json;
use std::io::BufRead;
use std::time::{Duration, Instant};

const EXIT_WITHIN: Duration = Duration::from_secs(10);

struct Started {
    /// Leaders of the started process groups (pgid = pid).
    groups: Vec<i32>,
    /// Ports the sandbox's services listen on, and the gateway's.
    ports: Vec<u16>,
    /// The server's own descendants (watchdog included).
    descendants: Vec<u32>,
}

/// Start a web server (exposed), a process tree that ignores SIGTERM, and
/// a plain sleeper.
fn populate(lsp: &Lsp) -> Started {
    let port = sys::free_port();
    let web = lsp.ok(
        "sandport.startProcess",
        json!({"command": format!("python3 -m http.server {port} --bind 127.0.0.1")}),
    );
    let stubborn = lsp.ok(
        "sandport.startProcess",
        json!({"command": "trap '' TERM; sleep 300 & sleep 300 & wait"}),
    );
    let sleeper = lsp.ok("sandport.startProcess", json!({"command": "sleep 300"}));
    lsp.ok(
        "sandport.waitForPort",
        json!({"port": port, "timeout": 20000}),
    );
    lsp.ok("sandport.exposePort", json!({"port": port}));
    let info = lsp.ok("sandport.info", json!({}));
    let gw: u16 = info["gateway"]["listen"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(sys::listening(port) && sys::listening(gw));
    let groups: Vec<i32> = [&web, &stubborn, &sleeper]
        .iter()
        .map(|p| p["pid"].as_i64().unwrap() as i32)
        .collect();
    for g in &groups {
        assert!(!sys::group_members(*g).is_empty());
    }
    Started {
        groups,
        ports: vec![port, gw],
        descendants: sys::descendants(lsp.pid()),
    }
}

fn assert_clean(s: &Started) {
    let ok = sys::eventually(Duration::from_secs(3), || {
        s.groups.iter().all(|g| sys::group_members(*g).is_empty())
            && s.descendants.iter().all(|p| !sys::alive(*p))
            && s.ports.iter().all(|p| !sys::listening(*p))
    });
    if !ok {
        for g in &s.groups {
            eprintln!("group {g}: {:?}", sys::group_members(*g));
        }
        for p in &s.descendants {
            eprintln!("descendant {p} alive: {}", sys::alive(*p));
        }
        for p in &s.ports {
            eprintln!("port {p} listening: {}", sys::listening(*p));
        }
        panic!("something the server started outlived it");
    }
}

#[test]
fn shutdown_then_exit() {
    let dir = tempfile::tempdir().unwrap();
    let mut lsp = Lsp::spawn(dir.path());
    lsp.initialize(json!({}));
    let s = populate(&lsp);
    let t = Instant::now();
    lsp.shutdown_exit();
    let status = lsp.wait_exit(EXIT_WITHIN).expect("exits within 10 s");
    assert!(status.success(), "exit code 0 after shutdown: {status:?}");
    eprintln!("shutdown+exit took {:?}", t.elapsed());
    assert_clean(&s);
    assert!(lsp.garbage().is_empty());
}

#[test]
fn stdin_closing() {
    let dir = tempfile::tempdir().unwrap();
    let mut lsp = Lsp::spawn(dir.path());
    lsp.initialize(json!({}));
    let s = populate(&lsp);
    let t = Instant::now();
    lsp.close_stdin();
    lsp.wait_exit(EXIT_WITHIN).expect("exits within 10 s");
    eprintln!("stdin close took {:?}", t.elapsed());
    assert_clean(&s);
}

#[test]
fn client_process_dying() {
    let dir = tempfile::tempdir().unwrap();
    let mut fake_client = std::process::Command::new("sleep")
        .arg("300")
        .spawn()
        .unwrap();
    let mut lsp = Lsp::spawn(dir.path());
    lsp.initialize(json!({"processId": fake_client.id()}));
    let s = populate(&lsp);
    let t = Instant::now();
    fake_client.kill().unwrap();
    fake_client.wait().unwrap();
    // stdin stays open: only the processId watch can notice.
    lsp.wait_exit(EXIT_WITHIN).expect("exits within 10 s");
    eprintln!("client death noticed and handled in {:?}", t.elapsed());
    assert_clean(&s);
}

/// A client that is SIGKILLed: its pipes close with it.
#[test]
fn client_sigkilled() {
    let dir = tempfile::tempdir().unwrap();
    let port = sys::free_port();
    let script = format!(
        r#"
import json, os, subprocess, sys, time
p = subprocess.Popen([{bin:?}, "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
def send(m):
    b = json.dumps(m).encode()
    p.stdin.write(b"Content-Length: %d\r\n\r\n" % len(b) + b); p.stdin.flush()
def recv_response(want):
    while True:
        n = 0
        while True:
            line = p.stdout.readline().strip()
            if not line: break
            if line.lower().startswith(b"content-length:"): n = int(line.split(b":")[1])
        m = json.loads(p.stdout.read(n))
        if m.get("id") == want and "method" not in m: return m
send({{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {{"processId": os.getpid(), "rootUri": "file://" + os.getcwd(), "capabilities": {{}}}}}})
recv_response(1)
send({{"jsonrpc": "2.0", "method": "initialized", "params": {{}}}})
send({{"jsonrpc": "2.0", "id": 2, "method": "workspace/executeCommand", "params": {{"command": "sandport.startProcess", "arguments": [{{"command": "python3 -m http.server {port} --bind 127.0.0.1"}}]}}}})
r = recv_response(2)
send({{"jsonrpc": "2.0", "id": 3, "method": "workspace/executeCommand", "params": {{"command": "sandport.waitForPort", "arguments": [{{"port": {port}, "timeout": 20000}}]}}}})
recv_response(3)
print(json.dumps({{"server": p.pid, "pid": r["result"]["pid"]}}), flush=True)
time.sleep(300)
"#,
        bin = sandport_e2e::sandport_bin().display().to_string()
    );
    let mut client = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(client.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).expect("client reports");
    let server = v["server"].as_u64().unwrap() as u32;
    let pid = v["pid"].as_i64().unwrap() as i32;
    assert!(sys::listening(port));
    let descendants = sys::descendants(server);
    let t = Instant::now();
    client.kill().unwrap(); // SIGKILL
    client.wait().unwrap();
    let gone = sys::eventually(EXIT_WITHIN, || !sys::alive(server));
    assert!(gone, "the server outlived its SIGKILLed client by 10 s");
    eprintln!("server gone {:?} after its client was killed", t.elapsed());
    assert_clean(&Started {
        groups: vec![pid],
        ports: vec![port],
        descendants,
    });
}

/// An editor in another PID namespace (Flatpak, a container) sends a
/// `processId` the server cannot see: the server must not take that for a
/// dead client.
#[test]
fn a_client_pid_not_visible_here_is_not_watched() {
    let dir = tempfile::tempdir().unwrap();
    // A pid that existed and is gone (reaped).
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} was reused already"
    );
    let mut lsp = Lsp::spawn(dir.path());
    lsp.initialize(json!({"processId": pid}));
    // The watch polls every 500 ms: well past a few polls, still serving.
    assert!(
        lsp.wait_exit(Duration::from_secs(2)).is_none(),
        "the server exited: {}",
        lsp.stderr()
    );
    let r = lsp.ok("sandport.listProcesses", json!({}));
    assert!(r["processes"].is_array());
    lsp.shutdown_exit();
    let status = lsp.wait_exit(EXIT_WITHIN).expect("exits within 10 s");
    assert!(status.success(), "{status:?}");
}
