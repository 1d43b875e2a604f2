//! `sandport run` end to end: the real binary, real child processes.

use sandport_e2e::cli::*;
use sandport_e2e::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn run(ws: &std::path::Path, args: &[&str]) -> Command {
    sandport_cmd("run", ws, args)
}

/// Read JSON events until `pred` matches one, for at most `limit`.
fn read_events_until(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    limit: Duration,
    mut pred: impl FnMut(&Value) -> bool,
) -> Vec<Value> {
    let end = Instant::now() + limit;
    let mut seen = Vec::new();
    while Instant::now() < end {
        let Some(Ok(line)) = lines.next() else { break };
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let done = pred(&v);
        seen.push(v);
        if done {
            break;
        }
    }
    seen
}

#[test]
fn json_run_of_http_server_waits_streams_and_stops_on_ctrl_c() {
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("index.html"), "hi").unwrap();
    let port = free_port();
    let m = marker();
    let mut child = run(
        ws.path(),
        &[
            "--json",
            "--name",
            "web",
            "--wait-port",
            &port.to_string(),
            "--",
            "python3",
            // An -X option python keeps to itself: the marker in its argv.
            "-X",
            &format!("tag={m}"),
            "-u",
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ],
    )
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let evs = read_events_until(&mut lines, Duration::from_secs(20), |v| {
        v["event"] == "ready"
    });
    assert_eq!(evs[0]["event"], "started", "{evs:?}");
    assert_eq!(evs[0]["process"]["name"], "web");
    assert_eq!(evs[0]["process"]["status"], "running");
    let ready = evs.last().unwrap();
    assert_eq!(ready["event"], "ready", "{evs:?}");
    assert_eq!(ready["condition"], format!("port {port} (HTTP /)"));
    assert!(ready["elapsedMs"].is_u64());
    // The service answers, and its request log arrives as a log event.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    use std::io::Write;
    s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    assert!(body.ends_with("hi"));
    let evs = read_events_until(&mut lines, Duration::from_secs(10), |v| {
        v["event"] == "log" && v["text"].as_str().unwrap_or("").contains("GET /index.html")
    });
    assert_eq!(evs.last().unwrap()["stream"], "stderr");
    sigint(&child);
    let evs = read_events_until(&mut lines, Duration::from_secs(10), |v| {
        v["event"] == "exited"
    });
    let exited = evs.last().unwrap();
    assert_eq!(exited["event"], "exited");
    assert_eq!(exited["process"]["status"], "killed");
    assert_eq!(wait_exit(&mut child, Duration::from_secs(10)), 0);
    assert!(wait_until(Duration::from_secs(3), || live_with(&m).is_empty()));
}

#[test]
fn human_output_prefixes_streams_and_exit_status_is_the_processs() {
    let ws = tempfile::tempdir().unwrap();
    let out = run(ws.path(), &["--", "echo to-out; echo to-err >&2; exit 3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("out | to-out"), "{stdout}");
    assert!(stdout.contains("err | to-err"), "{stdout}");
    assert!(stdout.contains("exit code 3"), "{stdout}");
}

#[test]
fn wait_log_with_regex_then_exit_zero() {
    let ws = tempfile::tempdir().unwrap();
    let out = run(
        ws.path(),
        &[
            "--json",
            "--wait-log",
            r"/listening on (\d+)/",
            "--",
            "sleep 0.2; echo listening on 4321; sleep 0.2",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let evs: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = evs.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["started", "log", "ready", "exited"], "{evs:?}");
    assert_eq!(evs[2]["condition"], r"log /listening on (\d+)/");
    assert_eq!(evs[3]["process"]["status"], "completed");
}

#[test]
fn a_failed_wait_reports_the_code_and_stops_the_process() {
    let ws = tempfile::tempdir().unwrap();
    let m = marker();
    let out = run(
        ws.path(),
        &[
            "--json",
            "--wait-log",
            "never",
            "--timeout",
            "300",
            "--",
            &format!("echo starting; sleep 9{m}"),
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let last: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "error");
    assert_eq!(last["code"], "PROCESS_READY_TIMEOUT");
    assert_eq!(last["condition"], "log \"never\"");
    assert_eq!(last["logTail"][0], "starting");
    assert!(String::from_utf8_lossy(&out.stderr).contains("PROCESS_READY_TIMEOUT"));
    assert!(wait_until(Duration::from_secs(3), || live_with(&m).is_empty()));

    let out = run(
        ws.path(),
        &[
            "--json",
            "--wait-port",
            &free_port().to_string(),
            "--",
            "echo bye; exit 5",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let err: Value = serde_json::from_str(
        stdout
            .lines()
            .find(|l| l.contains("\"error\""))
            .expect("an error event"),
    )
    .unwrap();
    assert_eq!(err["code"], "PROCESS_EXITED_BEFORE_READY");
    assert_eq!(err["exitCode"], 5);
}

#[test]
fn bad_arguments() {
    let ws = tempfile::tempdir().unwrap();
    // Usage errors: 2.
    let out = run(ws.path(), &["--wait-port", "notaport", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = run(ws.path(), &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    // Wrong values: 1 with an error event.
    for (args, code) in [
        (
            vec!["--json", "--env", "NOEQUALS", "--", "true"],
            "INVALID_ARGUMENT",
        ),
        (
            vec!["--json", "--cwd", "../..", "--", "true"],
            "PATH_OUTSIDE_WORKSPACE",
        ),
        (
            vec!["--json", "--cwd", "missing", "--", "true"],
            "INVALID_ARGUMENT",
        ),
        (
            vec!["--json", "--wait-log", "/(/", "--", "sleep 5"],
            "INVALID_ARGUMENT",
        ),
        (
            vec![
                "--json",
                "--wait-port",
                "9999",
                "--timeout",
                "0",
                "--",
                "sleep 5",
            ],
            "INVALID_ARGUMENT",
        ),
        (vec!["--json", "--", "  "], "INVALID_ARGUMENT"),
    ] {
        let out = run(ws.path(), &args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let last: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
        assert_eq!(last["event"], "error", "{args:?}");
        assert_eq!(last["code"], code, "{args:?}: {last}");
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn sigterm_stops_everything_and_exits_zero() {
    let ws = tempfile::tempdir().unwrap();
    let m = marker();
    let mut child = run(ws.path(), &["--", &format!("sleep 7{m} & sleep 8{m}")])
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(5), || live_with(&m).len() >= 2));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(wait_exit(&mut child, Duration::from_secs(10)), 0);
    assert!(
        wait_until(Duration::from_secs(3), || live_with(&m).is_empty()),
        "{:?}",
        live_with(&m)
    );
}

#[test]
fn a_sigkilled_server_leaves_no_child() {
    let ws = tempfile::tempdir().unwrap();
    let m = marker();
    let mut child = run(
        ws.path(),
        &[
            "--",
            &format!("sh -c 'sleep 5{m} & sleep 6{m}' & sleep 7{m}"),
        ],
    )
    .spawn()
    .unwrap();
    assert!(wait_until(Duration::from_secs(5), || live_with(&m).len() >= 3));
    child.kill().unwrap(); // SIGKILL: no cleanup code runs in the server.
    child.wait().unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || live_with(&m).is_empty()),
        "left running: {:?}",
        live_with(&m)
    );
}

#[test]
fn a_gigabyte_of_output_keeps_memory_bounded() {
    // A load test (a minute on a loaded machine): CI sets SANDPORT_LOAD_TESTS=1.
    if std::env::var_os("SANDPORT_LOAD_TESTS").is_none_or(|v| v != "1") {
        eprintln!("note: skipped a_gigabyte_of_output_keeps_memory_bounded (set SANDPORT_LOAD_TESTS=1 to run it)");
        return;
    }
    let ws = tempfile::tempdir().unwrap();
    let mut child = run(
        ws.path(),
        &[
            "--",
            "yes 'a line of output that is 48 bytes long .......' | head -c 1000000000",
        ],
    )
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    let pid = child.id();
    let mut peak = 0;
    let end = Instant::now() + Duration::from_secs(240);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < end, "1 GB took too long");
        peak = peak.max(peak_rss_kib(pid).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(child.wait().unwrap().code(), Some(0));
    // Two 4 MiB buffers, read chunks and the runtime: far below 1 GB.
    assert!(peak > 0 && peak < 64 * 1024, "peak RSS {peak} KiB");
    eprintln!("peak RSS while streaming 1 GB: {peak} KiB");
}

#[test]
fn lsp_accepts_the_stdio_flag_clients_add() {
    // vscode-languageclient (and others) start servers with `--stdio`.
    let out = Command::new(sandport_bin())
        .args(["lsp", "--stdio"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("unexpected argument"), "{err}");
    // Standard input closed without `shutdown`: a clean stop with code 1.
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(out.stdout.is_empty());
}

/// The words after `--`: several are an argv, each word kept as written.
#[test]
fn several_words_are_an_argv_each_kept_as_written() {
    let ws = tempfile::tempdir().unwrap();
    let out = run(
        ws.path(),
        &[
            "--wait-log",
            r"/Local:\s+http/",
            "--",
            "sh",
            "-c",
            r#"echo "Local: http://localhost:5173/"; sleep 1"#,
        ],
    )
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("out | Local: http://localhost:5173/"),
        "{stdout}"
    );
    assert!(
        stdout.contains(r"sandport: ready: log /Local:\s+http/"),
        "{stdout}"
    );

    // Spaces, quotes and shell characters stay inside their word.
    let out = run(
        ws.path(),
        &[
            "--", "printf", "[%s]", "a b", "it's", "$HOME", "*", ";", "x",
        ],
    )
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("out | [a b][it's][$HOME][*][;][x]"),
        "{stdout}"
    );

    // One word is a shell line.
    let out = run(ws.path(), &["--", "echo one && echo two"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("out | one") && stdout.contains("out | two"),
        "{stdout}"
    );
}

/// Every byte of output is either shown or counted once as dropped.
#[test]
fn each_drop_is_told_once() {
    let ws = tempfile::tempdir().unwrap();
    // One long line: nothing can be shown before its newline, so the 4 KiB
    // buffer drops most of it while the printer keeps being woken.
    let out = run(
        ws.path(),
        &[
            "--json",
            "--log-buffer",
            "4096",
            "--",
            "head -c 1000000 /dev/zero | tr '\\0' a; echo; sleep 0.3",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let mut dropped = 0u64;
    let mut shown = 0u64;
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        match v["event"].as_str().unwrap() {
            "dropped" => dropped += v["bytes"].as_u64().unwrap(),
            // Plus the newline the event leaves out.
            "log" => shown += v["text"].as_str().unwrap().len() as u64 + 1,
            _ => {}
        }
    }
    assert!(dropped > 0, "the bound was not reached");
    assert_eq!(
        dropped + shown,
        1_000_001,
        "dropped {dropped}, shown {shown}"
    );
}

/// Only the default gateway address may move; a chosen one that is taken is
/// an error, and nothing is started.
#[test]
fn a_taken_explicit_gateway_listen_is_an_error() {
    let ws = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let m = marker();
    let out = run(
        ws.path(),
        &[
            "--gateway-listen",
            &addr,
            "--expose",
            "3000",
            "--",
            &format!("sleep 30 # {m}"),
        ],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&addr) && stderr.contains("taken"),
        "{stderr}"
    );
    assert!(live_with(&m).is_empty(), "the command was started");
    drop(taken);
}
