//! What only the Docker backend has: a container killed from outside,
//! services bound to 127.0.0.1 inside the container reached through preview
//! URLs (HTTP and WebSocket), container clean-up. Skipped with a printed
//! reason when no engine is reachable, except under CI=true where that fails.

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use sandport::backend::docker::DockerBackend;
use sandport::engine::*;
use sandport::gateway::{Gateway, GatewayConfig};
use sandport_e2e::{docker_containers_of, docker_ready};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct DockerSandbox {
    engine: Engine,
    dir: tempfile::TempDir,
    id: String,
}

async fn docker_sandbox() -> DockerSandbox {
    docker_sandbox_with(true).await
}

async fn docker_sandbox_with(tcp_relay: bool) -> DockerSandbox {
    let dir = tempfile::tempdir().unwrap();
    let id = format!("d{}", marker());
    let mut opts = docker_options(&id);
    opts.tcp_relay = tcp_relay;
    let backend = DockerBackend::new(opts, dir.path())
        .await
        .expect("docker backend");
    let engine = Engine::new(EngineConfig::new(dir.path()), Arc::new(backend)).unwrap();
    engine.set_sandbox_id(id.clone()).unwrap();
    DockerSandbox { engine, dir, id }
}

async fn http_get(addr: std::net::SocketAddr, host: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("answer in time")
        .unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (code, body)
}

fn host_of(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

async fn gateway(engine: &Engine) -> Gateway {
    let cfg = GatewayConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    };
    Gateway::start(cfg, engine.clone()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_only_services_are_reachable_through_preview_urls() {
    loopback_only_services(true).await
}

/// The same through `docker exec` alone: what remote engines and Docker
/// Desktop use, where the container's address is out of reach.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_only_services_are_reachable_through_exec_relays() {
    loopback_only_services(false).await
}

async fn loopback_only_services(tcp_relay: bool) {
    if !docker_ready() {
        return;
    }
    let sb = docker_sandbox_with(tcp_relay).await;
    std::fs::write(sb.dir.path().join("index.html"), "from the container").unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/ws_echo.py"),
        sb.dir.path().join("ws_echo.py"),
    )
    .unwrap();
    let gw = gateway(&sb.engine).await;
    // Both bind 127.0.0.1 *inside* the container only.
    let web = sb
        .engine
        .start_process(StartProcess {
            command: "exec python3 -m http.server 8000 --bind 127.0.0.1".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let ws = sb
        .engine
        .start_process(StartProcess {
            command: "exec python3 ws_echo.py 8080".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    for (port, id) in [(8000, &web.id), (8080, &ws.id)] {
        let mut w = WaitPort::new(port);
        w.process_id = Some(id.clone());
        w.timeout_ms = 30_000;
        sb.engine.wait_for_port(w).await.unwrap();
    }
    let x = sb
        .engine
        .expose_port(8000, Some("web".into()), None, None)
        .unwrap();
    let (code, body) = http_get(gw.local_addr(), &host_of(&x.url)).await;
    assert_eq!((code, body.as_str()), (200, "from the container"));

    let y = sb
        .engine
        .expose_port(8080, Some("websocket".into()), None, None)
        .unwrap();
    let stream = tokio::net::TcpStream::connect(gw.local_addr())
        .await
        .unwrap();
    let url = format!("ws://{}/", host_of(&y.url));
    let (mut sock, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    use tokio_tungstenite::tungstenite::Message;
    sock.send(Message::text("hello")).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), sock.next())
        .await
        .unwrap();
    assert_eq!(got.unwrap().unwrap(), Message::text("Echo: hello"));
    let big = vec![7u8; 1 << 20];
    sock.send(Message::binary(big.clone())).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(20), sock.next())
        .await
        .unwrap();
    assert_eq!(got.unwrap().unwrap(), Message::binary(big));

    // listeningPorts comes from inside the container too.
    let list = sb.engine.list_processes_with_ports().await;
    let ports: Vec<_> = list
        .iter()
        .map(|p| p.listening_ports.clone().unwrap_or_default())
        .collect();
    assert!(
        ports.contains(&vec![8000]) && ports.contains(&vec![8080]),
        "{ports:?}"
    );
    gw.shutdown().await;
    sb.engine.shutdown(Duration::from_secs(2)).await;
    assert!(docker_containers_of(&sb.id).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_killed_from_outside_is_reported_and_replaced() {
    if !docker_ready() {
        return;
    }
    let sb = docker_sandbox().await;
    let gw = gateway(&sb.engine).await;
    let mut events = sb.engine.subscribe();
    let p = sb
        .engine
        .start_process(StartProcess {
            command: "exec python3 -m http.server 8000 --bind 127.0.0.1".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut w = WaitPort::new(8000);
    w.timeout_ms = 30_000;
    sb.engine.wait_for_port(w).await.unwrap();
    let x = sb.engine.expose_port(8000, None, None, None).unwrap();
    assert_eq!(http_get(gw.local_addr(), &host_of(&x.url)).await.0, 200);

    let ids = docker_containers_of(&sb.id);
    assert_eq!(ids.len(), 1);
    let st = std::process::Command::new("docker")
        .args(["kill", &ids[0]])
        .output()
        .unwrap();
    assert!(st.status.success());

    // The process is reported ended, and the editor told: processChanged,
    // and a notice about the container (the language server shows it).
    let deadline = Instant::now() + Duration::from_secs(15);
    let (mut told, mut noticed) = (false, false);
    while !(told && noticed) && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(500), events.recv()).await {
            Ok(Ok(Event::ProcessChanged(i))) if i.id == p.id && i.status != Status::Running => {
                told = true
            }
            Ok(Ok(Event::Notice(m))) => noticed = m.contains("container") && m.contains("stopped"),
            _ => {}
        }
    }
    assert!(told, "no processChanged for the killed container");
    assert!(noticed, "no notice about the container");
    let info = sb.engine.get_process(&p.id).unwrap();
    assert_eq!(info.status, Status::Killed);
    assert_eq!(info.signal.as_deref(), Some("SIGKILL"));
    // The exposure stays, but nothing answers: 502.
    let (code, body) = http_get(gw.local_addr(), &host_of(&x.url)).await;
    assert_eq!(code, 502, "{body}");
    assert!(body.contains("SERVICE_NOT_RESPONDING"));
    // The next start gets a new container.
    let q = sb
        .engine
        .start_process(StartProcess {
            command: "echo again".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let r = sb.engine.wait_for_exit(&q.id, Some(20_000)).await.unwrap();
    assert_eq!(r.status, Status::Completed);
    assert_eq!(
        sb.engine.get_logs(&q.id, None, None).unwrap().stdout,
        "again\n"
    );
    gw.shutdown().await;
    sb.engine.shutdown(Duration::from_secs(2)).await;
    assert!(docker_containers_of(&sb.id).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_of_a_crashed_server_are_removed_at_the_next_start() {
    if !docker_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let id = format!("l{}", marker());
    // A container labelled for this sandbox, as a crashed server leaves it.
    let out = std::process::Command::new("docker")
        .args([
            "create",
            "--label",
            "dev.sandport=1",
            "--label",
            &format!("dev.sandport.sandbox={id}"),
            "sandport-test:busybox",
            "/bin/sh",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(docker_containers_of(&id).len(), 1);
    let backend = DockerBackend::new(docker_options(&id), dir.path())
        .await
        .unwrap();
    assert!(
        docker_containers_of(&id).is_empty(),
        "the leftover was not removed"
    );
    drop(backend);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_with_only_busybox_is_enough() {
    if !docker_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let id = format!("b{}", marker());
    let mut o = docker_options(&id);
    o.image = "sandport-test:busybox".into();
    o.mounts.clear();
    let t = Instant::now();
    let engine = Engine::new(
        EngineConfig::new(dir.path()),
        Arc::new(DockerBackend::new(o, dir.path()).await.unwrap()),
    )
    .unwrap();
    let p = engine
        .start_process(StartProcess {
            command: "echo $((6 * 7)) > answer; cat answer".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    engine.wait_for_exit(&p.id, Some(20_000)).await.unwrap();
    eprintln!("busybox: create → first process ended in {:?}", t.elapsed());
    assert_eq!(engine.get_logs(&p.id, None, None).unwrap().stdout, "42\n");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("answer")).unwrap(),
        "42\n"
    );
    engine.shutdown(Duration::from_secs(2)).await;
    assert!(docker_containers_of(&id).is_empty());
}

/// An engine reached over TCP counts as remote: the agent is not
/// bind-mounted but uploaded (the archive API) — for the plain dynamic build,
/// its loader and libraries too. The "remote" engine is this machine's,
/// behind a TCP→unix-socket forwarder of the test's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_engine_gets_the_agent_with_its_libraries_uploaded() {
    if !docker_ready() {
        return;
    }
    let sock = std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(str::to_string))
        .unwrap_or_else(|| "/var/run/docker.sock".into());
    if !std::path::Path::new(&sock).exists() {
        eprintln!("skipped: the engine is not on a local unix socket");
        return;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let forwarder = tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            let sock = sock.clone();
            tokio::spawn(async move {
                if let Ok(mut unix) = tokio::net::UnixStream::connect(&sock).await {
                    let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
                }
            });
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let id = format!("u{}", marker());
    let mut o = docker_options(&id);
    o.image = "sandport-test:busybox".into();
    o.mounts.clear();
    o.host = Some(format!("tcp://{addr}"));
    let engine = Engine::new(
        EngineConfig::new(dir.path()),
        Arc::new(DockerBackend::new(o, dir.path()).await.unwrap()),
    )
    .unwrap();
    let p = engine
        .start_process(StartProcess {
            command: "ls /.sandport/lib; busybox tr '\\0' ' ' < /proc/1/cmdline".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    engine.wait_for_exit(&p.id, Some(30_000)).await.unwrap();
    let out = engine.get_logs(&p.id, None, None).unwrap().stdout;
    let dynamic = std::fs::read(env!("CARGO_BIN_EXE_sandport"))
        .unwrap()
        .windows(15)
        .take(4096)
        .any(|w| w == b"/lib64/ld-linux");
    if dynamic && std::env::var_os("SANDPORT_AGENT").is_none() {
        assert!(out.contains("libc.so.6"), "{out}");
        assert!(
            out.contains("--library-path /.sandport/lib /.sandport/sandport agent init"),
            "{out}"
        );
    } else {
        assert!(out.contains("/.sandport/sandport agent init"), "{out}");
    }
    engine.shutdown(Duration::from_secs(2)).await;
    assert!(docker_containers_of(&id).is_empty());
    forwarder.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_honours_grace_ms() {
    if !docker_ready() {
        return;
    }
    let sb = docker_sandbox().await;
    let p = sb
        .engine
        .start_process(StartProcess {
            command: "trap '' TERM; echo ready; sleep 30".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    sb.engine
        .wait_for_log(WaitLog {
            process_id: p.id.clone(),
            pattern: "ready".into(),
            regex: false,
            stream: StreamSel::Stdout,
            timeout_ms: 30_000,
        })
        .await
        .unwrap();
    let t = Instant::now();
    let k = sb
        .engine
        .kill_process(&p.id, None, Some(Duration::from_millis(1500)))
        .await
        .unwrap();
    let took = t.elapsed();
    assert_eq!(k.status, Status::Killed, "{k:?}");
    assert_eq!(k.signal.as_deref(), Some("SIGKILL"), "{k:?}");
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_millis(3000),
        "graceMs 1500 took {took:?}"
    );
    sb.engine.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_wait_for_port_stops_its_probe() {
    if !docker_ready() {
        return;
    }
    let sb = docker_sandbox().await;
    let probes = || async {
        let r = sb
            .engine
            .exec(Exec {
                command: r#"for f in /proc/[0-9]*/cmdline; do tr '\0' ' ' < "$f"; echo; done"#
                    .into(),
                timeout_ms: 20_000,
                ..Default::default()
            })
            .await
            .unwrap();
        r.stdout
            .lines()
            .filter(|l| l.contains("agent wait-port"))
            .count()
    };
    let mut w = WaitPort::new(8765);
    w.timeout_ms = 60_000;
    let wait = sb.engine.wait_for_port(w.clone());
    // Cancelled once its probe runs in the container.
    let waited = tokio::time::timeout(Duration::from_secs(3), wait).await;
    assert!(waited.is_err(), "nothing listens on 8765: {waited:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut left = usize::MAX;
    while Instant::now() < deadline {
        left = probes().await;
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(left, 0, "the probe outlived its cancelled wait");
    // And a probe that runs is seen (so the check above can fail).
    let e = sb.engine.clone();
    let running = tokio::spawn(async move { e.wait_for_port(w).await });
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = 0;
    while Instant::now() < deadline && seen == 0 {
        seen = probes().await;
    }
    running.abort();
    assert!(seen > 0, "a running probe is listed");
    sb.engine.shutdown(Duration::from_secs(2)).await;
}
