//! `sandport run --backend docker` with the real binary: a SIGKILLed server
//! leaves no container and no process behind.

use sandport_e2e::*;
use std::process::{Command, Stdio};
use std::time::Duration;

/// `sandport run` on the docker backend with the test image (the host's
/// /usr and /etc mounted read-only) in sandbox `id`.
fn docker_run(id: &str) -> Command {
    let mut c = Command::new(sandport_bin());
    c.args([
        "run",
        "--backend",
        "docker",
        "--docker-image",
        "sandport-test:host",
    ])
    .args([
        "--docker-mount",
        "/usr:/usr:ro",
        "--docker-mount",
        "/etc:/etc:ro",
    ])
    .args(["--sandbox-id", id]);
    c
}

#[test]
fn a_sigkilled_server_leaves_no_container() {
    if !docker_ready() {
        return;
    }
    let ws = tempfile::tempdir().unwrap();
    let m = marker();
    let id = format!("k{m}");
    let mut child = docker_run(&id)
        .arg("--workspace")
        .arg(ws.path())
        .args(["--", &format!("sleep 3{m} & sleep 4{m}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(20), || live_with(&m).len() >= 2));
    assert_eq!(docker_containers_of(&id).len(), 1);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || docker_containers_of(&id)
            .is_empty()),
        "container left: {:?}",
        docker_containers_of(&id)
    );
    assert!(wait_until(Duration::from_secs(5), || live_with(&m).is_empty()));
}

#[test]
fn docker_run_exposes_a_loopback_service() {
    if !docker_ready() {
        return;
    }
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("index.html"), "docker preview").unwrap();
    let m = marker();
    let gw = free_port();
    let mut child = docker_run(&format!("e{m}"))
        .args(["--json", "--gateway-listen", &format!("127.0.0.1:{gw}")])
        .args(["--wait-port", "8000", "--expose", "8000:web", "--workspace"])
        .arg(ws.path())
        .args([
            "--",
            "python3 -m http.server 8000 --bind 127.0.0.1 & sleep 3; kill %1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut url = None;
    let mut line = String::new();
    use std::io::BufRead;
    for _ in 0..200 {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if v["event"] == "exposed" {
            url = v["url"].as_str().map(str::to_string);
            break;
        }
    }
    let url = url.expect("an exposed event");
    assert!(url.starts_with(&format!("http://8000-e{m}-")), "{url}");
    assert!(url.ends_with(&format!(".localhost:{gw}/")), "{url}");
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(("127.0.0.1", gw)).unwrap();
    use std::io::{Read, Write};
    s.write_all(format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.ends_with("docker preview"), "{resp}");
    // The command ends by itself; so does sandport run, taking the container along.
    drop(reader);
    let ended = wait_until(Duration::from_secs(30), || {
        child.try_wait().unwrap().is_some()
    });
    if !ended {
        let _ = child.kill();
    }
    assert!(ended, "sandport run did not end with its process");
    assert!(wait_until(Duration::from_secs(10), || {
        docker_containers_of(&format!("e{m}")).is_empty()
    }));
}

#[test]
fn the_editor_is_told_when_the_container_is_killed_from_outside() {
    use sandport_e2e::lsp_client::Lsp;
    use serde_json::json;
    if !docker_ready() {
        return;
    }
    let ws = tempfile::tempdir().unwrap();
    let id = format!("n{}", marker());
    let lsp = Lsp::spawn(ws.path());
    lsp.initialize(json!({"initializationOptions": {"sandport": {
        "backend": "docker",
        "sandboxId": id,
        "gateway": {"listen": "127.0.0.1:0"},
        "docker": {"image": "sandport-test:host", "mounts": ["/usr:/usr:ro", "/etc:/etc:ro"]},
    }}}));
    let p = lsp.ok("sandport.startProcess", json!({"command": "sleep 300"}));
    let ids = docker_containers_of(&id);
    assert_eq!(ids.len(), 1);
    assert!(Command::new("docker")
        .args(["kill", &ids[0]])
        .status()
        .unwrap()
        .success());
    let ended = lsp.wait_notification("sandport/processChanged", Duration::from_secs(20), |v| {
        v["id"] == p["id"] && v["status"] != "running"
    });
    assert_eq!(ended["status"], "killed");
    let msg = lsp.wait_notification("window/showMessage", Duration::from_secs(10), |v| {
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("container") && m.contains("stopped"))
    });
    assert_eq!(msg["type"], 2, "a warning: {msg}");
    lsp.shutdown_exit();
}

/// Right after a plain `cargo build` (a dynamically linked sandport) and with
/// no agent variable, `sandport run --backend docker` works, even in an image
/// with no libc at all: the binary brings its own loader and libraries, and
/// the agent is the container's PID 1.
#[test]
fn the_plain_build_runs_in_a_busybox_image_with_no_agent_variable() {
    if !docker_ready() {
        return;
    }
    let bin = sandport_bin();
    let head = std::fs::read(&bin).unwrap();
    assert!(
        head[..4096.min(head.len())]
            .windows(15)
            .any(|w| w == b"/lib64/ld-linux"),
        "{} should be the plain dynamic build",
        bin.display()
    );
    let ws = tempfile::tempdir().unwrap();
    let id = format!("b{}", marker());
    let out = Command::new(&bin)
        .env_remove("SANDPORT_AGENT")
        .args(["run", "--backend", "docker", "--docker-image"])
        .args(["sandport-test:busybox", "--sandbox-id", &id, "--workspace"])
        .arg(ws.path())
        .args([
            "--",
            r#"echo "sum=$((6*7))"; busybox tr '\0' ' ' < /proc/1/cmdline; echo"#,
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("sum=42"), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("--library-path /.sandport/lib /.sandport/sandport agent init"),
        "PID 1 is the agent run by its own loader: {stdout}"
    );
    assert!(wait_until(Duration::from_secs(10), || {
        docker_containers_of(&id).is_empty()
    }));
}
