//! Every process command of the contract (and the additions), its result
//! shape and its error codes, through the real binary.

use sandport_e2e::lsp_client::Lsp;
use sandport_e2e::sys;
use serde_json::{json, Value};

fn start() -> (tempfile::TempDir, Lsp) {
    let dir = tempfile::tempdir().unwrap();
    let lsp = Lsp::spawn(dir.path());
    lsp.initialize(json!({}));
    (dir, lsp)
}

fn assert_process_shape(p: &Value) {
    for k in [
        "id",
        "name",
        "pid",
        "command",
        "cwd",
        "status",
        "exitCode",
        "signal",
        "startedAt",
        "endedAt",
    ] {
        assert!(p.get(k).is_some(), "Process lacks {k}: {p}");
    }
}

#[test]
fn initialize_advertises_every_command_and_code_lens() {
    let dir = tempfile::tempdir().unwrap();
    let lsp = Lsp::spawn(dir.path());
    let r = lsp.initialize(json!({}));
    let cmds: Vec<&str> = r["capabilities"]["executeCommandProvider"]["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for c in [
        "sandport.startProcess",
        "sandport.listProcesses",
        "sandport.getProcess",
        "sandport.killProcess",
        "sandport.killAllProcesses",
        "sandport.getLogs",
        "sandport.waitForPort",
        "sandport.waitForLog",
        "sandport.waitForExit",
        "sandport.exec",
        "sandport.writeFile",
        "sandport.readFile",
        "sandport.checkout",
    ] {
        assert!(cmds.contains(&c), "{c} not advertised");
    }
    assert!(r["capabilities"]["codeLensProvider"].is_object());
    assert!(lsp.garbage().is_empty());
}

#[test]
fn process_commands_and_shapes() {
    let (_d, lsp) = start();
    let p = lsp.ok(
        "sandport.startProcess",
        json!({"command": "echo one; echo two >&2; sleep 30", "name": "web", "processId": "web1", "env": {"X": "1"}}),
    );
    assert_process_shape(&p);
    assert_eq!(p["id"], "web1");
    assert_eq!(p["name"], "web");
    assert_eq!(p["status"], "running");
    assert_eq!(
        lsp.err_code(
            "sandport.startProcess",
            json!({"command": "true", "processId": "web1"})
        ),
        "PROCESS_ID_IN_USE"
    );
    let got = lsp.ok("sandport.getProcess", json!({"processId": "web1"}));
    assert_eq!(got["pid"], p["pid"]);
    let list = lsp.ok("sandport.listProcesses", json!({}));
    assert_eq!(list["processes"].as_array().unwrap().len(), 1);
    assert_process_shape(&list["processes"][0]);
    assert!(list["processes"][0]["listeningPorts"].is_array());

    let m = lsp.ok(
        "sandport.waitForLog",
        json!({"processId": "web1", "pattern": "two", "stream": "stderr", "timeout": 5000}),
    );
    assert_eq!(m["line"], "two");
    assert_eq!(m["stream"], "stderr");
    assert_eq!(m["match"][0], "two");

    let logs = lsp.ok("sandport.getLogs", json!({"processId": "web1"}));
    assert_eq!(logs["stdout"], "one\n");
    assert_eq!(logs["stderr"], "two\n");
    assert_eq!(logs["truncated"], false);
    let cursor = logs["cursor"].as_str().unwrap().to_string();
    let again = lsp.ok(
        "sandport.getLogs",
        json!({"processId": "web1", "since": cursor}),
    );
    assert_eq!(again["stdout"], "");
    let tail = lsp.ok("sandport.getLogs", json!({"processId": "web1", "tail": 1}));
    assert_eq!(tail["stdout"], "one\n");

    let k = lsp.ok(
        "sandport.killProcess",
        json!({"processId": "web1", "signal": "SIGTERM", "graceMs": 2000}),
    );
    assert_process_shape(&k);
    assert_eq!(k["status"], "killed");
    assert!(k["endedAt"].is_string());
    if std::env::var("SANDPORT_TEST_BACKEND").as_deref() != Ok("docker") {
        // A host pid (in a container the pid is the container's own).
        assert!(!sys::alive(p["pid"].as_u64().unwrap() as u32));
    }

    lsp.ok("sandport.startProcess", json!({"command": "sleep 30"}));
    lsp.ok("sandport.startProcess", json!({"command": "sleep 30"}));
    let ka = lsp.ok("sandport.killAllProcesses", json!({}));
    assert_eq!(ka["killed"], 2);

    let e = lsp.ok("sandport.startProcess", json!({"command": "exit 3"}));
    let x = lsp.ok(
        "sandport.waitForExit",
        json!({"processId": e["id"], "timeout": 5000}),
    );
    assert_eq!(x, json!({"exitCode": 3, "status": "failed"}));
}

#[test]
fn exec_and_files() {
    let (d, lsp) = start();
    let r = lsp.ok(
        "sandport.exec",
        json!({"command": "echo $X; echo err >&2; exit 4", "env": {"X": "hello"}}),
    );
    assert_eq!(r["exitCode"], 4);
    assert_eq!(r["stdout"], "hello\n");
    assert_eq!(r["stderr"], "err\n");
    assert!(r["durationMs"].is_u64());
    let w = lsp.ok(
        "sandport.writeFile",
        json!({"path": "sub/a.txt", "content": "hi"}),
    );
    assert_eq!(w["bytes"], 2);
    assert_eq!(
        std::fs::read_to_string(d.path().join("sub/a.txt")).unwrap(),
        "hi"
    );
    let rd = lsp.ok("sandport.readFile", json!({"path": "sub/a.txt"}));
    assert_eq!(rd["content"], "hi");
    let rd = lsp.ok(
        "sandport.readFile",
        json!({"path": "sub/a.txt", "encoding": "base64"}),
    );
    assert_eq!(rd["content"], "aGk=");
    assert_eq!(
        lsp.err_code("sandport.writeFile", json!({"path": "../x", "content": ""})),
        "PATH_OUTSIDE_WORKSPACE"
    );
    assert_eq!(
        lsp.err_code("sandport.exec", json!({"command": "pwd", "cwd": "/"})),
        "PATH_OUTSIDE_WORKSPACE"
    );
    // A local repository stands in for a remote one (no network here).
    let src = d.path().join("src-repo");
    std::fs::create_dir(&src).unwrap();
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .args(args)
            .current_dir(&src)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    std::fs::write(src.join("index.html"), "<h1>static</h1>").unwrap();
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "x"]);
    let c = lsp.ok(
        "sandport.checkout",
        // Relative to the workspace: the same path on every backend.
        json!({"url": "src-repo", "dir": "site", "depth": 1, "timeout": 30000}),
    );
    assert!(c["path"].as_str().unwrap().ends_with("/site"));
    assert!(d.path().join("site/index.html").exists());
}

#[test]
fn invalid_arguments_name_the_field() {
    let (_d, lsp) = start();
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "sandport.startProcess",
            json!({}),
            "INVALID_ARGUMENT",
            "command",
        ),
        (
            "sandport.startProcess",
            json!({"command": 5}),
            "INVALID_ARGUMENT",
            "command",
        ),
        (
            "sandport.startProcess",
            json!({"command": "x", "env": {"A": []}}),
            "INVALID_ARGUMENT",
            "env",
        ),
        (
            "sandport.getProcess",
            json!({}),
            "INVALID_ARGUMENT",
            "processId",
        ),
        (
            "sandport.getProcess",
            json!({"processId": "nope"}),
            "PROCESS_NOT_FOUND",
            "nope",
        ),
        (
            "sandport.killProcess",
            json!({"processId": "nope"}),
            "PROCESS_NOT_FOUND",
            "nope",
        ),
        (
            "sandport.killProcess",
            json!({"processId": "x", "graceMs": -1}),
            "INVALID_ARGUMENT",
            "graceMs",
        ),
        (
            "sandport.getLogs",
            json!({"processId": "x", "tail": "3"}),
            "INVALID_ARGUMENT",
            "tail",
        ),
        (
            "sandport.waitForPort",
            json!({"port": "80"}),
            "INVALID_ARGUMENT",
            "port",
        ),
        (
            "sandport.waitForPort",
            json!({"port": 70000}),
            "INVALID_PORT",
            "port",
        ),
        (
            "sandport.waitForPort",
            json!({"port": 3000, "timeout": -5}),
            "INVALID_ARGUMENT",
            "timeout",
        ),
        (
            "sandport.waitForPort",
            json!({"port": 3000, "timeout": 1e12}),
            "INVALID_ARGUMENT",
            "timeout",
        ),
        (
            "sandport.waitForPort",
            json!({"port": 3000, "mode": "udp"}),
            "INVALID_ARGUMENT",
            "mode",
        ),
        (
            "sandport.waitForPort",
            json!({"port": 3000, "status": {"min": 500, "max": 200}}),
            "INVALID_ARGUMENT",
            "status",
        ),
        (
            "sandport.waitForPort",
            json!({"port": 3000, "interval": 0}),
            "INVALID_ARGUMENT",
            "interval",
        ),
        (
            "sandport.waitForLog",
            json!({"processId": "x"}),
            "INVALID_ARGUMENT",
            "pattern",
        ),
        (
            "sandport.waitForLog",
            json!({"processId": "x", "pattern": "a", "regex": "yes"}),
            "INVALID_ARGUMENT",
            "regex",
        ),
        (
            "sandport.waitForExit",
            json!({"processId": "x", "timeout": 0}),
            "INVALID_ARGUMENT",
            "timeout",
        ),
        (
            "sandport.exec",
            json!({"command": "true", "timeout": "1s"}),
            "INVALID_ARGUMENT",
            "timeout",
        ),
        (
            "sandport.readFile",
            json!({"path": "a", "encoding": "latin1"}),
            "INVALID_ARGUMENT",
            "encoding",
        ),
        (
            "sandport.checkout",
            json!({"url": "x", "depth": 0}),
            "INVALID_ARGUMENT",
            "depth",
        ),
        (
            "sandport.noSuchCommand",
            json!({}),
            "INVALID_ARGUMENT",
            "noSuchCommand",
        ),
    ];
    for (cmd, args, code, field) in cases {
        let e = lsp.cmd(cmd, args.clone()).expect_err(cmd);
        assert_eq!(e["data"]["code"], code, "{cmd} {args}: {e}");
        let msg = e["data"]["message"].as_str().unwrap();
        assert!(
            msg.contains(field),
            "{cmd} {args}: message {msg:?} should name {field}"
        );
        if code == "INVALID_ARGUMENT" {
            assert_eq!(e["code"], -32602, "{e}");
        }
    }
    // Arguments not an object / more than one.
    let e = lsp
        .request(
            "workspace/executeCommand",
            json!({"command": "sandport.listProcesses", "arguments": [1]}),
        )
        .unwrap_err();
    assert_eq!(e["data"]["code"], "INVALID_ARGUMENT");
    let e = lsp
        .request(
            "workspace/executeCommand",
            json!({"command": "sandport.listProcesses", "arguments": [{}, {}]}),
        )
        .unwrap_err();
    assert_eq!(e["data"]["code"], "INVALID_ARGUMENT");
    // `{}` may be left out for commands without params.
    lsp.request(
        "workspace/executeCommand",
        json!({"command": "sandport.listProcesses"}),
    )
    .unwrap();
}

#[test]
fn wait_errors_carry_context() {
    let (_d, lsp) = start();
    let p = lsp.ok(
        "sandport.startProcess",
        json!({"command": "echo booting; sleep 30"}),
    );
    let port = sys::free_port();
    let e = lsp
        .cmd(
            "sandport.waitForPort",
            json!({"port": port, "processId": p["id"], "timeout": 300, "mode": "tcp"}),
        )
        .unwrap_err();
    assert_eq!(e["data"]["code"], "PROCESS_READY_TIMEOUT");
    assert_eq!(e["data"]["timeout"], 300);
    assert!(e["data"]["condition"]
        .as_str()
        .unwrap()
        .contains(&port.to_string()));
    assert!(e["data"]["logTail"].is_array());

    let q = lsp.ok(
        "sandport.startProcess",
        json!({"command": "echo dying; exit 2"}),
    );
    let e = lsp
        .cmd(
            "sandport.waitForLog",
            json!({"processId": q["id"], "pattern": "never", "timeout": 10000}),
        )
        .unwrap_err();
    assert_eq!(e["data"]["code"], "PROCESS_EXITED_BEFORE_READY");
    assert_eq!(e["data"]["exitCode"], 2);
    assert!(e["data"]["logTail"].to_string().contains("dying"));
    let e = lsp
        .cmd(
            "sandport.waitForPort",
            json!({"port": port, "processId": q["id"], "timeout": 10000}),
        )
        .unwrap_err();
    assert_eq!(e["data"]["code"], "PROCESS_EXITED_BEFORE_READY");
    // The process was left alone by the failed waits.
    assert!(sys::alive(p["pid"].as_u64().unwrap() as u32));
}

#[test]
fn the_log_buffer_bound_is_a_setting() {
    let dir = tempfile::tempdir().unwrap();
    let lsp = Lsp::spawn(dir.path());
    lsp.initialize(
        json!({"initializationOptions": {"sandport": {"logs": {"bufferBytes": 65536}}}}),
    );
    let p = lsp.ok("sandport.startProcess", json!({"command": "seq 1 100000"}));
    lsp.ok(
        "sandport.waitForExit",
        json!({"processId": p["id"], "timeout": 20000}),
    );
    let logs = lsp.ok("sandport.getLogs", json!({"processId": p["id"]}));
    let out = logs["stdout"].as_str().unwrap();
    assert!(out.len() <= 65536, "{}", out.len());
    assert!(out.ends_with("99999\n100000\n"));
    assert_eq!(logs["truncated"], true);
}

#[test]
fn an_unknown_field_is_refused_and_named() {
    let (_d, lsp) = start();
    let cases = [
        ("sandport.getProcess", json!({"procesId": "x"}), "procesId"),
        (
            "sandport.startProcess",
            json!({"command": "true", "enviroment": {}}),
            "enviroment",
        ),
        ("sandport.listProcesses", json!({"all": true}), "all"),
        (
            "sandport.waitForPort",
            json!({"port": 3000, "status": {"mn": 200}}),
            "mn",
        ),
        (
            "sandport.exposePort",
            json!({"port": 3000, "ttl": 5}),
            "ttl",
        ),
    ];
    for (cmd, args, field) in cases {
        let e = lsp.cmd(cmd, args.clone()).expect_err(cmd);
        assert_eq!(e["data"]["code"], "INVALID_ARGUMENT", "{cmd} {args}: {e}");
        assert_eq!(e["code"], -32602, "{e}");
        let msg = e["data"]["message"].as_str().unwrap();
        assert!(
            msg.contains(&format!("unknown field \"{field}\"")),
            "{cmd} {args}: {msg:?}"
        );
    }
    // Nothing was started by the refused startProcess.
    let r = lsp.ok("sandport.listProcesses", json!({}));
    assert_eq!(r["processes"].as_array().unwrap().len(), 0, "{r}");
}
