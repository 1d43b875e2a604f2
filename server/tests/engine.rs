//! Behavioural cases of the engine with real child processes (no mocks of
//! the OS). Written against `common::backend()`, so they run unchanged on
//! any backend.

mod common;

use common::*;
use sandport::engine::error::EngineError;
use sandport::engine::files::Encoding;
use sandport::engine::*;
use std::time::{Duration, Instant};

fn start(cmd: &str) -> StartProcess {
    StartProcess {
        command: cmd.into(),
        ..Default::default()
    }
}

fn wait_log(id: &str, pattern: &str, timeout_ms: u64) -> WaitLog {
    WaitLog {
        process_id: id.into(),
        pattern: pattern.into(),
        regex: false,
        stream: StreamSel::Both,
        timeout_ms,
    }
}

#[tokio::test]
async fn http_server_and_wait_for_port_http() {
    let sb = sandbox().await;
    let port = free_port();
    std::fs::write(sb.dir.path().join("index.html"), "hello sandbox").unwrap();
    let p = sb
        .engine
        .start_process(start(&format!(
            "exec python3 -m http.server {port} --bind 127.0.0.1"
        )))
        .await
        .unwrap();
    assert_eq!(p.status, Status::Running);
    assert!(p.pid.is_some());
    let mut w = WaitPort::new(port);
    w.process_id = Some(p.id.clone());
    w.timeout_ms = 20_000;
    let r = sb.engine.wait_for_port(w).await.unwrap();
    assert_eq!(r.port, port);
    assert_eq!(r.status_code, Some(200));
    let got = sb.engine.list_processes_with_ports().await;
    assert_eq!(got[0].listening_ports.as_deref(), Some(&[port][..]));
    let killed = sb.engine.kill_process(&p.id, None, None).await.unwrap();
    assert_eq!(killed.status, Status::Killed);
    assert!(killed.ended_at.is_some());
    sb.engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn wait_for_port_tcp_and_status_range() {
    let sb = sandbox().await;
    let port = free_port();
    // Answers 404 on /: an HTTP wait for 200-399 must not pass, 404 must.
    let script = format!(
        "import http.server\nclass H(http.server.BaseHTTPRequestHandler):\n    def do_GET(self):\n        self.send_response(404 if self.path == '/' else 204); self.end_headers()\n    def log_message(self, *a): pass\nhttp.server.HTTPServer(('127.0.0.1', {port}), H).serve_forever()\n"
    );
    std::fs::write(sb.dir.path().join("s.py"), script).unwrap();
    let p = sb
        .engine
        .start_process(start("exec python3 s.py"))
        .await
        .unwrap();
    let mut tcp = WaitPort::new(port);
    tcp.mode = WaitMode::Tcp;
    tcp.timeout_ms = 20_000;
    let r = sb.engine.wait_for_port(tcp).await.unwrap();
    assert_eq!(r.status_code, None);
    let mut health = WaitPort::new(port);
    health.path = "/health".into();
    health.status_min = 204;
    health.status_max = 204;
    assert_eq!(
        sb.engine.wait_for_port(health).await.unwrap().status_code,
        Some(204)
    );
    let mut root = WaitPort::new(port);
    root.timeout_ms = 700;
    root.interval_ms = 100;
    match sb.engine.wait_for_port(root.clone()).await {
        Err(EngineError::ReadyTimeout { condition, .. }) => {
            assert_eq!(condition, format!("port {port} (HTTP /)"))
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    root.status_min = 404;
    root.status_max = 404;
    assert!(sb.engine.wait_for_port(root).await.is_ok());
    sb.engine.kill_process(&p.id, None, None).await.unwrap();
    sb.engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn wait_for_log_regex_captures_port() {
    let sb = sandbox().await;
    let p = sb
        .engine
        .start_process(start(
            "sleep 0.2; echo '  VITE v5.0.0  ready in 300 ms'; echo '  ➜  Local:   http://localhost:5173/'; sleep 30",
        ))
        .await
        .unwrap();
    let m = sb
        .engine
        .wait_for_log(wait_log(
            &p.id,
            r"/Local:\s+http:\/\/localhost:(\d+)/",
            10_000,
        ))
        .await
        .unwrap();
    assert_eq!(m.matches[1].as_deref(), Some("5173"));
    assert!(m.line.contains("Local:"));
    assert_eq!(m.stream, Stream::Stdout);
    // Already captured output is searched first.
    let again = sb
        .engine
        .wait_for_log(WaitLog {
            regex: true,
            ..wait_log(&p.id, r"ready in (\d+) ms", 1_000)
        })
        .await
        .unwrap();
    assert_eq!(again.matches[1].as_deref(), Some("300"));
    sb.engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn wait_for_log_on_stderr_and_stream_filter() {
    let sb = sandbox().await;
    let p = sb
        .engine
        .start_process(start("echo 'ready on stderr' >&2; sleep 30"))
        .await
        .unwrap();
    let m = sb
        .engine
        .wait_for_log(WaitLog {
            stream: StreamSel::Stderr,
            ..wait_log(&p.id, "ready on", 10_000)
        })
        .await
        .unwrap();
    assert_eq!(m.stream, Stream::Stderr);
    let only_out = sb
        .engine
        .wait_for_log(WaitLog {
            stream: StreamSel::Stdout,
            ..wait_log(&p.id, "ready on", 300)
        })
        .await;
    assert!(matches!(only_out, Err(EngineError::ReadyTimeout { .. })));
    sb.engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn pattern_split_across_two_writes() {
    let sb = sandbox().await;
    let p = sb
        .engine
        .start_process(start(
            "printf 'Server re'; sleep 0.3; printf 'ady on 8080\\n'; sleep 30",
        ))
        .await
        .unwrap();
    let t = Instant::now();
    let m = sb
        .engine
        .wait_for_log(wait_log(&p.id, "Server ready", 10_000))
        .await
        .unwrap();
    assert_eq!(m.line, "Server ready on 8080");
    assert!(t.elapsed() >= Duration::from_millis(250));
    // A prompt without a newline matches too.
    let q = sb
        .engine
        .start_process(start("printf 'Password: '; sleep 30"))
        .await
        .unwrap();
    let m = sb
        .engine
        .wait_for_log(wait_log(&q.id, "Password:", 10_000))
        .await
        .unwrap();
    assert_eq!(m.line, "Password: ");
    sb.engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn timeout_and_exit_before_ready() {
    let sb = sandbox().await;
    let p = sb
        .engine
        .start_process(start("echo booting; sleep 30"))
        .await
        .unwrap();
    match sb
        .engine
        .wait_for_log(wait_log(&p.id, "never printed", 300))
        .await
    {
        Err(e @ EngineError::ReadyTimeout { .. }) => {
            let d = e.to_data();
            assert_eq!(d["code"], "PROCESS_READY_TIMEOUT");
            assert_eq!(d["condition"], "log \"never printed\"");
            assert_eq!(d["timeout"], 300);
            assert_eq!(d["logTail"][0], "booting");
        }
        other => panic!("{other:?}"),
    }
    let port = free_port();
    let q = sb
        .engine
        .start_process(start("echo 'fatal: no config' >&2; sleep 0.2; exit 3"))
        .await
        .unwrap();
    let mut w = WaitPort::new(port);
    w.process_id = Some(q.id.clone());
    let t = Instant::now();
    match sb.engine.wait_for_port(w).await {
        Err(e @ EngineError::ExitedBeforeReady { .. }) => {
            let d = e.to_data();
            assert_eq!(d["code"], "PROCESS_EXITED_BEFORE_READY");
            assert_eq!(d["exitCode"], 3);
            assert_eq!(d["condition"], format!("port {port} (HTTP /)"));
            assert_eq!(d["logTail"][0], "fatal: no config");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "fails at once on exit"
    );
    let r = sb
        .engine
        .wait_for_log(wait_log(&q.id, "never", 10_000))
        .await;
    assert!(matches!(
        r,
        Err(EngineError::ExitedBeforeReady {
            exit_code: Some(3),
            ..
        })
    ));
    let info = sb.engine.get_process(&q.id).unwrap();
    assert_eq!(info.status, Status::Failed);
    assert_eq!(info.exit_code, Some(3));
    sb.engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn killing_a_three_deep_tree_leaves_nothing() {
    let sb = sandbox().await;
    let m = marker();
    let cmd = format!("sh -c 'sh -c \"sleep 1{m} & sleep 2{m}\" & sleep 3{m}' & sleep 4{m}");
    let p = sb.engine.start_process(start(&cmd)).await.unwrap();
    assert!(eventually(Duration::from_secs(5), || live_with(&m).len() >= 4).await);
    let k = sb
        .engine
        .kill_process(&p.id, None, Some(Duration::from_secs(2)))
        .await
        .unwrap();
    assert_eq!(k.status, Status::Killed);
    assert!(
        eventually(Duration::from_secs(3), || live_with(&m).is_empty()).await,
        "left running: {:?}",
        live_with(&m)
    );
    sb.engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn sigterm_trapping_process_is_sigkilled_after_grace() {
    let sb = sandbox().await;
    let p = sb
        .engine
        .start_process(start(
            "trap 'echo got TERM' TERM; echo armed; while true; do sleep 0.05; done",
        ))
        .await
        .unwrap();
    sb.engine
        .wait_for_log(wait_log(&p.id, "armed", 5_000))
        .await
        .unwrap();
    let t = Instant::now();
    let k = sb
        .engine
        .kill_process(&p.id, Some("SIGTERM"), Some(Duration::from_millis(500)))
        .await
        .unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(450),
        "{:?}",
        t.elapsed()
    );
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(k.status, Status::Killed);
    assert_eq!(k.signal.as_deref(), Some("SIGKILL"));
    sb.engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_hundred_concurrent_processes() {
    let sb = sandbox().await;
    let starts = (0..100).map(|i| {
        let e = sb.engine.clone();
        async move {
            e.start_process(StartProcess {
                command: format!("echo n{i}; sleep 0.5; echo done{i}"),
                name: Some(format!("p{i}")),
                ..Default::default()
            })
            .await
        }
    });
    let procs: Vec<ProcessInfo> = futures_util::future::join_all(starts)
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(sb.engine.list_processes().len(), 100);
    for (i, p) in procs.iter().enumerate() {
        let r = sb.engine.wait_for_exit(&p.id, Some(30_000)).await.unwrap();
        assert_eq!(r.status, Status::Completed);
        let logs = sb.engine.get_logs(&p.id, None, None).unwrap();
        assert_eq!(logs.stdout, format!("n{i}\ndone{i}\n"));
    }
    sb.engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_cancelled_wait_leaves_its_process_running() {
    let sb = sandbox().await;
    let p = sb.engine.start_process(start("sleep 30")).await.unwrap();
    let wait = sb.engine.wait_for_log(wait_log(&p.id, "never", 60_000));
    assert!(tokio::time::timeout(Duration::from_millis(200), wait)
        .await
        .is_err());
    let mut w = WaitPort::new(free_port());
    w.process_id = Some(p.id.clone());
    assert!(
        tokio::time::timeout(Duration::from_millis(200), sb.engine.wait_for_port(w))
            .await
            .is_err()
    );
    assert_eq!(
        sb.engine.get_process(&p.id).unwrap().status,
        Status::Running
    );
    sb.engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn logs_cursor_tail_and_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::new(
        EngineConfig {
            log_cap: 1000,
            ..EngineConfig::new(dir.path())
        },
        backend(dir.path()).await,
    )
    .unwrap();
    let p = engine
        .start_process(start(
            "for i in $(seq 1 5); do echo line$i; done; printf 'é' | head -c1; printf 'no newline'",
        ))
        .await
        .unwrap();
    engine.wait_for_exit(&p.id, Some(10_000)).await.unwrap();
    let all = engine.get_logs(&p.id, None, None).unwrap();
    assert!(all.stdout.starts_with("line1\nline2\n"));
    assert!(all.stdout.ends_with("no newline"));
    assert!(!all.truncated);
    let tail = engine.get_logs(&p.id, None, Some(2)).unwrap();
    assert_eq!(tail.stdout, "line5\n\u{FFFD}no newline");
    let none_new = engine.get_logs(&p.id, Some(&all.cursor), None).unwrap();
    assert_eq!(none_new.stdout, "");
    assert_eq!(none_new.cursor, all.cursor);
    assert!(matches!(
        engine.get_logs(&p.id, Some("garbage"), None),
        Err(EngineError::InvalidArgument(_))
    ));
    // Over the bound: the newest bytes stay and `truncated` says so.
    let q = engine
        .start_process(start("for i in $(seq 1 1000); do echo line$i; done"))
        .await
        .unwrap();
    engine.wait_for_exit(&q.id, Some(10_000)).await.unwrap();
    let l = engine.get_logs(&q.id, None, None).unwrap();
    assert!(l.truncated);
    assert!(l.stdout.len() <= 1000);
    assert!(l.stdout.ends_with("line1000\n"));
    let from_start = engine.get_logs(&q.id, Some("0-0"), None).unwrap();
    assert!(from_start.truncated);
    engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn read_lines_gives_whole_lines_only() {
    let sb = sandbox().await;
    let p = sb
        .engine
        .start_process(start("printf 'a\\nb\\npart'; sleep 0.3; printf 'ial\\n'"))
        .await
        .unwrap();
    sb.engine
        .wait_for_log(wait_log(&p.id, "part", 5_000))
        .await
        .unwrap();
    let r = sb
        .engine
        .read_lines(&p.id, Stream::Stdout, 0, 1 << 20)
        .unwrap();
    assert_eq!(r.text, b"a\nb\n");
    sb.engine.wait_for_exit(&p.id, Some(5_000)).await.unwrap();
    let r2 = sb
        .engine
        .read_lines(&p.id, Stream::Stdout, r.next, 1 << 20)
        .unwrap();
    assert_eq!(r2.text, b"partial\n");
    sb.engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn statuses_and_caller_ids() {
    let sb = sandbox().await;
    let ok = sb
        .engine
        .start_process(StartProcess {
            command: "exit 0".into(),
            process_id: Some("mine".into()),
            name: Some("web".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ok.id, "mine");
    assert_eq!(ok.name.as_deref(), Some("web"));
    let dup = sb
        .engine
        .start_process(StartProcess {
            command: "true".into(),
            process_id: Some("mine".into()),
            ..Default::default()
        })
        .await;
    assert_eq!(dup.unwrap_err().code(), "PROCESS_ID_IN_USE");
    assert_eq!(
        sb.engine
            .wait_for_exit("mine", Some(5000))
            .await
            .unwrap()
            .status,
        Status::Completed
    );
    let f = sb.engine.start_process(start("exit 7")).await.unwrap();
    let r = sb.engine.wait_for_exit(&f.id, Some(5000)).await.unwrap();
    assert_eq!((r.status, r.exit_code), (Status::Failed, Some(7)));
    let k = sb.engine.start_process(start("exit 137")).await.unwrap();
    let r = sb.engine.wait_for_exit(&k.id, Some(5000)).await.unwrap();
    assert_eq!(r.status, Status::Killed);
    let s = sb.engine.start_process(start("sleep 30")).await.unwrap();
    let r = sb
        .engine
        .kill_process(&s.id, Some("SIGINT"), Some(Duration::from_secs(2)))
        .await
        .unwrap();
    assert_eq!(r.status, Status::Killed);
    assert_eq!(r.signal.as_deref(), Some("SIGINT"));
    let env = sb
        .engine
        .start_process(StartProcess {
            command: "echo \"$GREETING from $(pwd)\"".into(),
            cwd: Some("sub".into()),
            env: [("GREETING".to_string(), "hi".to_string())].into(),
            ..Default::default()
        })
        .await;
    assert_eq!(
        env.unwrap_err().code(),
        "INVALID_ARGUMENT",
        "cwd must exist"
    );
    std::fs::create_dir(sb.dir.path().join("sub")).unwrap();
    let env = sb
        .engine
        .start_process(StartProcess {
            command: "echo \"$GREETING from $(pwd)\"".into(),
            cwd: Some("sub".into()),
            env: [("GREETING".to_string(), "hi".to_string())].into(),
            ..Default::default()
        })
        .await
        .unwrap();
    sb.engine.wait_for_exit(&env.id, Some(5000)).await.unwrap();
    let out = sb.engine.get_logs(&env.id, None, None).unwrap().stdout;
    assert!(
        out.starts_with("hi from /") && out.trim_end().ends_with("/sub"),
        "{out}"
    );
    assert_eq!(sb.engine.kill_all().await, 0);
    sb.engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn bad_input_answers_the_contracts_errors() {
    let sb = sandbox().await;
    let e = &sb.engine;
    assert_eq!(
        e.start_process(start("  ")).await.unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        e.get_process("nope").unwrap_err().code(),
        "PROCESS_NOT_FOUND"
    );
    assert_eq!(
        e.kill_process("nope", None, None).await.unwrap_err().code(),
        "PROCESS_NOT_FOUND"
    );
    assert_eq!(
        e.get_logs("nope", None, None).unwrap_err().code(),
        "PROCESS_NOT_FOUND"
    );
    assert_eq!(
        e.wait_for_exit("nope", None).await.unwrap_err().code(),
        "PROCESS_NOT_FOUND"
    );
    let p = e.start_process(start("sleep 30")).await.unwrap();
    assert_eq!(
        e.wait_for_log(wait_log(&p.id, "x", 0))
            .await
            .unwrap_err()
            .code(),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        e.wait_for_log(wait_log(&p.id, "x", u64::MAX))
            .await
            .unwrap_err()
            .code(),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        e.wait_for_log(wait_log(&p.id, "/(unclosed/", 1000))
            .await
            .unwrap_err()
            .code(),
        "INVALID_ARGUMENT"
    );
    let mut w = WaitPort::new(0);
    assert_eq!(
        e.wait_for_port(w.clone()).await.unwrap_err().code(),
        "INVALID_PORT"
    );
    w.port = 8000;
    w.status_min = 500;
    w.status_max = 200;
    assert_eq!(
        e.wait_for_port(w).await.unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        e.kill_process(&p.id, Some("SIGNOPE"), None)
            .await
            .unwrap_err()
            .code(),
        "INVALID_ARGUMENT"
    );
    for cwd in ["..", "/etc", "../../tmp"] {
        let r = e
            .start_process(StartProcess {
                command: "true".into(),
                cwd: Some(cwd.into()),
                ..Default::default()
            })
            .await;
        assert_eq!(r.unwrap_err().code(), "PATH_OUTSIDE_WORKSPACE", "{cwd}");
    }
    std::os::unix::fs::symlink("/tmp", sb.dir.path().join("link")).unwrap();
    let r = e
        .start_process(StartProcess {
            command: "true".into(),
            cwd: Some("link".into()),
            ..Default::default()
        })
        .await;
    assert_eq!(r.unwrap_err().code(), "PATH_OUTSIDE_WORKSPACE");
    assert_eq!(
        e.start_process(StartProcess {
            command: "true".into(),
            process_id: Some("bad id!".into()),
            ..Default::default()
        })
        .await
        .unwrap_err()
        .code(),
        "INVALID_ARGUMENT"
    );
    assert_eq!(e.get_process(&p.id).unwrap().status, Status::Running);
    e.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn exec_runs_to_completion_with_cap_and_timeout() {
    let sb = sandbox().await;
    let r = sb
        .engine
        .exec(Exec {
            command: "echo out; echo err >&2; exit 4".into(),
            timeout_ms: 10_000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        (r.exit_code, r.stdout.as_str(), r.stderr.as_str()),
        (Some(4), "out\n", "err\n")
    );
    assert!(!r.timed_out);
    let m = marker();
    let t = Instant::now();
    let r = sb
        .engine
        .exec(Exec {
            command: format!("sleep 7{m} & sleep 8{m}"),
            timeout_ms: 300,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(r.timed_out);
    assert!(t.elapsed() < Duration::from_secs(3));
    assert!(eventually(Duration::from_secs(3), || live_with(&m).is_empty()).await);
    let r = sb
        .engine
        .exec(Exec {
            command: "head -c 3000000 /dev/zero".into(),
            timeout_ms: 10_000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(r.truncated);
    assert_eq!(r.stdout.len(), EXEC_OUTPUT_CAP);
    sb.engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn files_are_confined_to_the_workspace() {
    let sb = sandbox().await;
    let e = &sb.engine;
    let w = e
        .write_file("site/index.html", "<h1>hi</h1>", Encoding::Utf8)
        .await
        .unwrap();
    assert_eq!(w.bytes, 11);
    let r = e
        .read_file("site/index.html", Encoding::Utf8)
        .await
        .unwrap();
    assert_eq!(r.content, "<h1>hi</h1>");
    e.write_file("bin.dat", "AAEC/w==", Encoding::Base64)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(sb.dir.path().join("bin.dat")).unwrap(),
        [0, 1, 2, 255]
    );
    assert_eq!(
        e.read_file("bin.dat", Encoding::Utf8)
            .await
            .unwrap_err()
            .code(),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        e.read_file("bin.dat", Encoding::Base64)
            .await
            .unwrap()
            .content,
        "AAEC/w=="
    );
    std::os::unix::fs::symlink("/etc", sb.dir.path().join("etc")).unwrap();
    for bad in ["../x", "/etc/hostname", "etc/hostname", "site/../../x"] {
        assert_eq!(
            e.read_file(bad, Encoding::Utf8).await.unwrap_err().code(),
            "PATH_OUTSIDE_WORKSPACE",
            "{bad}"
        );
        assert_eq!(
            e.write_file(bad, "x", Encoding::Utf8)
                .await
                .unwrap_err()
                .code(),
            "PATH_OUTSIDE_WORKSPACE",
            "{bad}"
        );
    }
    e.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn checkout_clones_and_reports_gits_message() {
    let sb = sandbox().await;
    // The origin lies in the workspace so every backend sees it.
    std::fs::create_dir(sb.dir.path().join("origin")).unwrap();
    let o = sb.dir.path().join("origin").display().to_string();
    let setup = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cd {o} && git init -q -b main repo && cd repo && echo hi > README && git -c user.email=t@t -c user.name=t add . && git -c user.email=t@t -c user.name=t commit -qm init && git branch dev"
        ))
        .status()
        .unwrap();
    assert!(setup.success());
    let url = "origin/repo".to_string();
    let c = sb
        .engine
        .checkout(&url, None, Some("dev"), Some(1), 30_000)
        .await
        .unwrap();
    assert!(c.path.ends_with("/repo"));
    assert!(sb.dir.path().join("repo/README").exists());
    assert_eq!(
        std::fs::read_to_string(sb.dir.path().join("repo/README")).unwrap(),
        "hi\n"
    );
    let again = sb.engine.checkout(&url, None, None, None, 30_000).await;
    assert_eq!(again.unwrap_err().code(), "INVALID_ARGUMENT");
    let missing = sb
        .engine
        .checkout(
            &format!("file://{o}/nothing-here"),
            Some("x"),
            None,
            None,
            30_000,
        )
        .await
        .unwrap_err();
    assert!(missing.to_string().contains("does not"), "{missing}");
    let outside = sb
        .engine
        .checkout(&url, Some("../escape"), None, None, 30_000)
        .await;
    assert_eq!(outside.unwrap_err().code(), "PATH_OUTSIDE_WORKSPACE");
    sb.engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn events_announce_changes_and_output() {
    let sb = sandbox().await;
    let mut rx = sb.engine.subscribe();
    let p = sb.engine.start_process(start("echo hello")).await.unwrap();
    let mut saw_start = false;
    let mut saw_output = false;
    let mut saw_end = false;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !(saw_start && saw_output && saw_end) && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(1), rx.recv()).await {
            Ok(Ok(Event::ProcessChanged(i))) if i.id == p.id => {
                if i.status == Status::Running {
                    saw_start = true
                } else {
                    saw_end = true;
                    assert_eq!(i.status, Status::Completed);
                }
            }
            Ok(Ok(Event::Output { process_id, stream })) if process_id == p.id => {
                // Each stream also announces its end of file.
                saw_output |= stream == Stream::Stdout;
            }
            _ => {}
        }
    }
    assert!(saw_start && saw_output && saw_end);
    sb.engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn shutdown_stops_everything() {
    let sb = sandbox().await;
    let m = marker();
    for i in 0..3 {
        sb.engine
            .start_process(start(&format!("sleep 5{i}{m} & exec sleep 6{i}{m}")))
            .await
            .unwrap();
    }
    assert!(eventually(Duration::from_secs(5), || live_with(&m).len() == 6).await);
    sb.engine.shutdown(Duration::from_millis(500)).await;
    assert!(eventually(Duration::from_secs(3), || live_with(&m).is_empty()).await);
    for p in sb.engine.list_processes() {
        assert_ne!(p.status, Status::Running);
    }
}

#[tokio::test]
async fn a_signal_right_after_the_start_is_not_lost() {
    // dash catches a SIGINT that lands during its start-up and forks its
    // command anyway: that command must get the signal too.
    let sb = sandbox().await;
    for i in 0..25 {
        let p = sb.engine.start_process(start("sleep 30")).await.unwrap();
        let t = Instant::now();
        let k = sb
            .engine
            .kill_process(&p.id, Some("SIGINT"), Some(Duration::from_secs(3)))
            .await
            .unwrap();
        assert_eq!(k.status, Status::Killed, "trial {i}");
        assert_eq!(k.signal.as_deref(), Some("SIGINT"), "trial {i}: {k:?}");
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "trial {i}: {:?}",
            t.elapsed()
        );
    }
    sb.engine.shutdown(Duration::from_secs(1)).await;
}

async fn sandbox_with(keep_ended: usize, ended_log_bytes: usize) -> Sandbox {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::new(
        EngineConfig {
            keep_ended,
            ended_log_bytes,
            ..EngineConfig::new(dir.path())
        },
        backend(dir.path()).await,
    )
    .expect("engine");
    Sandbox { engine, dir }
}

#[tokio::test]
async fn five_hundred_short_processes_leave_at_most_keep_ended() {
    let sb = sandbox_with(20, DEFAULT_ENDED_LOG_BYTES).await;
    let mut rx = sb.engine.subscribe();
    let mut last = Vec::new();
    // 25 rounds of 20 at once.
    for round in 0..25 {
        let starts = (0..20).map(|i| {
            let e = sb.engine.clone();
            async move {
                let p = e
                    .start_process(start(&format!("echo hi{round}-{i}; echo e >&2")))
                    .await
                    .unwrap();
                e.wait_for_exit(&p.id, Some(30_000)).await.unwrap();
                p.id
            }
        });
        last = futures_util::future::join_all(starts).await;
        assert!(sb.engine.list_processes().len() <= 20 + 20, "round {round}");
    }
    // The last ends are retired right after they are published.
    assert!(
        eventually(Duration::from_secs(5), || sb.engine.list_processes().len()
            <= 20)
        .await,
        "{} kept",
        sb.engine.list_processes().len()
    );
    let kept = sb.engine.list_processes();
    assert!(kept.iter().all(|p| p.status == Status::Completed));
    // The newest are the ones kept, with their logs.
    for id in &last {
        let logs = sb.engine.get_logs(id, None, None).unwrap();
        assert!(logs.stdout.starts_with("hi24-"), "{logs:?}");
        assert_eq!(logs.stderr, "e\n");
    }
    let mut removed = std::collections::HashSet::new();
    while let Ok(ev) = rx.try_recv() {
        if let Event::ProcessRemoved(id) = ev {
            removed.insert(id);
        }
    }
    assert_eq!(
        removed.len(),
        480,
        "each forgotten process is announced once"
    );
    let forgotten = removed.iter().next().unwrap();
    assert!(matches!(
        sb.engine.get_process(forgotten),
        Err(EngineError::ProcessNotFound(_))
    ));
    // A smaller bound applies at once.
    sb.engine.set_retention(5, DEFAULT_ENDED_LOG_BYTES);
    assert_eq!(sb.engine.list_processes().len(), 5);
    sb.engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn ended_logs_have_a_bound_of_their_own() {
    // 10 processes of 3000 bytes each; all their logs together: 8000.
    let sb = sandbox_with(100, 8000).await;
    let mut ids = Vec::new();
    for i in 0..10 {
        let p = sb
            .engine
            .start_process(start(&format!("yes p{i}-padding | head -c 3000")))
            .await
            .unwrap();
        sb.engine.wait_for_exit(&p.id, Some(30_000)).await.unwrap();
        ids.push(p.id);
    }
    let sizes = || {
        ids.iter()
            .map(|id| sb.engine.get_logs(id, None, None).unwrap().stdout.len())
            .collect::<Vec<_>>()
    };
    assert!(
        eventually(Duration::from_secs(5), || sizes().iter().sum::<usize>()
            <= 8000)
        .await,
        "{:?}",
        sizes()
    );
    let s = sizes();
    // The oldest are trimmed first; the newest keep all.
    assert_eq!(s[9], 3000, "{s:?}");
    assert_eq!(s[8], 3000, "{s:?}");
    assert_eq!(s[7], 2000, "{s:?}");
    assert_eq!(s[0], 0, "{s:?}");
    assert!(s.windows(2).all(|w| w[0] <= w[1]), "{s:?}");
    let logs = sb.engine.get_logs(&ids[7], None, None).unwrap();
    assert!(logs.truncated, "a trimmed log says so");
    // All of it gone: the process is still known, with nothing kept.
    sb.engine.set_retention(100, 0);
    assert!(sizes().iter().all(|&n| n == 0), "{:?}", sizes());
    assert_eq!(sb.engine.list_processes().len(), 10);
    sb.engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn an_id_is_used_again_after_remove_process() {
    let sb = sandbox().await;
    let mut rx = sb.engine.subscribe();
    let req = |cmd: &str| StartProcess {
        command: cmd.into(),
        process_id: Some("web".into()),
        ..Default::default()
    };
    sb.engine
        .start_process(req("echo first; sleep 30"))
        .await
        .unwrap();
    match sb.engine.remove_process("web") {
        Err(e @ EngineError::ProcessRunning(_)) => {
            assert_eq!(e.code(), "PROCESS_RUNNING");
            assert_eq!(e.to_data()["processId"], "web");
        }
        other => panic!("{other:?}"),
    }
    sb.engine
        .kill_process("web", None, Some(Duration::from_secs(2)))
        .await
        .unwrap();
    assert!(sb.engine.remove_process("web").unwrap());
    assert!(matches!(
        sb.engine.get_process("web"),
        Err(EngineError::ProcessNotFound(_))
    ));
    assert!(!sb.engine.remove_process("web").unwrap());
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut announced = false;
    while !announced && Instant::now() < deadline {
        if let Ok(Ok(Event::ProcessRemoved(id))) =
            tokio::time::timeout(Duration::from_secs(1), rx.recv()).await
        {
            announced = id == "web";
        }
    }
    assert!(announced);
    let p = sb.engine.start_process(req("echo second")).await.unwrap();
    assert_eq!(p.id, "web");
    sb.engine.wait_for_exit("web", Some(30_000)).await.unwrap();
    let logs = sb.engine.get_logs("web", None, None).unwrap();
    assert_eq!(logs.stdout, "second\n");
    sb.engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn wait_kill_and_list_racing_a_start_never_see_error() {
    let sb = sandbox().await;
    for trial in 0..10 {
        let id = format!("race{trial}");
        let e = sb.engine.clone();
        let req = StartProcess {
            command: "sleep 30".into(),
            process_id: Some(id.clone()),
            ..Default::default()
        };
        let starting = tokio::spawn(async move { e.start_process(req).await });
        // As soon as the id is known (often still `starting`).
        let deadline = Instant::now() + Duration::from_secs(30);
        let first = loop {
            let listed = sb.engine.list_processes();
            if let Some(p) = listed.iter().find(|p| p.id == id) {
                break p.status;
            }
            assert!(Instant::now() < deadline, "trial {trial}: never listed");
            tokio::task::yield_now().await;
        };
        assert!(
            matches!(first, Status::Starting | Status::Running),
            "trial {trial}: {first:?}"
        );
        // A wait waits (it does not return an `error` end).
        let w = sb.engine.wait_for_exit(&id, Some(30)).await;
        assert!(
            matches!(w, Err(EngineError::ReadyTimeout { .. })),
            "trial {trial}: {w:?}"
        );
        let got = sb.engine.get_process(&id).unwrap();
        assert!(
            matches!(got.status, Status::Starting | Status::Running),
            "trial {trial}: {got:?}"
        );
        // A kill applies once it has started.
        let k = sb
            .engine
            .kill_process(&id, None, Some(Duration::from_secs(3)))
            .await
            .unwrap();
        assert_eq!(k.status, Status::Killed, "trial {trial}: {k:?}");
        let started = starting.await.unwrap().unwrap();
        assert_eq!(started.id, id);
        assert!(sb
            .engine
            .list_processes()
            .iter()
            .all(|p| p.status != Status::Error));
    }
    sb.engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn an_ended_group_leaves_the_watchdogs_list() {
    use sandport::backend::local::{LocalBackend, LocalOptions};
    if backend_kind() != "local" {
        eprintln!(
            "note: the watchdog is the local backend's; skipped on {}",
            backend_kind()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let local = std::sync::Arc::new(
        LocalBackend::new(LocalOptions {
            watchdog: true,
            subreaper: false,
        })
        .unwrap(),
    );
    let engine = Engine::new(EngineConfig::new(dir.path()), local.clone()).unwrap();
    // The leader ends at once; a background job keeps the group for a while.
    let p = engine
        .start_process(start("sleep 0.6 & echo started"))
        .await
        .unwrap();
    let pgid = p.pid.unwrap() as i32;
    let quick = engine.start_process(start("true")).await.unwrap();
    let quick_pgid = quick.pid.unwrap() as i32;
    engine.wait_for_exit(&p.id, Some(10_000)).await.unwrap();
    engine.wait_for_exit(&quick.id, Some(10_000)).await.unwrap();
    let listed = local.watchdog_groups().await.expect("a watchdog");
    assert!(
        listed.contains(&pgid),
        "{pgid} while its job runs: {listed:?}"
    );
    assert!(local.registered_groups().contains(&pgid));
    // Gone from both lists once empty (observed in the watchdog itself).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut listed = Vec::new();
    while Instant::now() < deadline {
        listed = local.watchdog_groups().await.expect("a watchdog");
        if !listed.contains(&pgid) && !listed.contains(&quick_pgid) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!listed.contains(&pgid), "{pgid} still listed: {listed:?}");
    assert!(!listed.contains(&quick_pgid), "{quick_pgid}: {listed:?}");
    assert!(!local.registered_groups().contains(&pgid));
    // A kill of the ended process signals nothing.
    let k = engine
        .kill_process(&p.id, Some("SIGKILL"), None)
        .await
        .unwrap();
    assert_eq!(k.status, Status::Completed);
    engine.shutdown(Duration::from_secs(1)).await;
}
