//! Process retention over LSP: `sandport.removeProcess`, the
//! `processes.keepEnded` bound (at start and live), and
//! `sandport/processRemoved`.

use sandport_e2e::lsp_client::Lsp;
use sandport_e2e::sys;
use serde_json::{json, Value};
use std::time::Duration;

fn start(settings: Value) -> (tempfile::TempDir, Lsp) {
    let dir = tempfile::tempdir().unwrap();
    let lsp = Lsp::spawn(dir.path());
    lsp.initialize(json!({"initializationOptions": {"sandport": settings}}));
    (dir, lsp)
}

fn removed(lsp: &Lsp) -> Vec<String> {
    lsp.notifications("sandport/processRemoved")
        .iter()
        .map(|n| n["processId"].as_str().unwrap().to_string())
        .collect()
}

fn run_to_end(lsp: &Lsp, id: &str) {
    lsp.ok(
        "sandport.startProcess",
        json!({"command": "echo hi", "processId": id}),
    );
    lsp.ok(
        "sandport.waitForExit",
        json!({"processId": id, "timeout": 20000}),
    );
}

#[test]
fn remove_process_forgets_an_ended_one_and_its_id_is_free_again() {
    let (_d, lsp) = start(json!({}));
    run_to_end(&lsp, "job");
    let r = lsp.ok("sandport.removeProcess", json!({"processId": "job"}));
    assert_eq!(r, json!({"removed": true}));
    let n = lsp.wait_notification("sandport/processRemoved", Duration::from_secs(5), |n| {
        n["processId"] == "job"
    });
    assert_eq!(n, json!({"processId": "job"}));
    assert_eq!(
        lsp.err_code("sandport.getProcess", json!({"processId": "job"})),
        "PROCESS_NOT_FOUND"
    );
    assert_eq!(
        lsp.err_code("sandport.getLogs", json!({"processId": "job"})),
        "PROCESS_NOT_FOUND"
    );
    // Idempotent: no such process is `removed: false`.
    let r = lsp.ok("sandport.removeProcess", json!({"processId": "job"}));
    assert_eq!(r, json!({"removed": false}));
    // The id can be used again.
    run_to_end(&lsp, "job");
    let logs = lsp.ok("sandport.getLogs", json!({"processId": "job"}));
    assert_eq!(logs["stdout"], "hi\n");
    // Params are checked like every command's.
    let e = lsp
        .cmd("sandport.removeProcess", json!({"id": "job"}))
        .unwrap_err();
    assert_eq!(e["data"]["code"], "INVALID_ARGUMENT");
    assert!(e["data"]["message"]
        .as_str()
        .unwrap()
        .contains("unknown field \"id\""));
}

#[test]
fn a_running_process_is_not_removed() {
    let (_d, lsp) = start(json!({}));
    let p = lsp.ok(
        "sandport.startProcess",
        json!({"command": "sleep 30", "processId": "busy"}),
    );
    let e = lsp
        .cmd("sandport.removeProcess", json!({"processId": "busy"}))
        .unwrap_err();
    assert_eq!(e["data"]["code"], "PROCESS_RUNNING", "{e}");
    assert_eq!(e["data"]["processId"], "busy", "{e}");
    let pid = p["pid"].as_u64().unwrap() as u32;
    assert!(sys::alive(pid));
    assert_eq!(
        lsp.ok("sandport.getProcess", json!({"processId": "busy"}))["status"],
        "running"
    );
    lsp.ok(
        "sandport.killProcess",
        json!({"processId": "busy", "graceMs": 1000}),
    );
    let r = lsp.ok("sandport.removeProcess", json!({"processId": "busy"}));
    assert_eq!(r["removed"], true);
}

#[test]
fn keep_ended_bounds_the_ended_processes_at_start_and_live() {
    let (_d, lsp) = start(json!({"processes": {"keepEnded": 3}}));
    for i in 0..5 {
        run_to_end(&lsp, &format!("p{i}"));
    }
    let ids = |lsp: &Lsp| -> Vec<String> {
        lsp.ok("sandport.listProcesses", json!({}))["processes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_string())
            .collect()
    };
    // The oldest are forgotten first, and the editor is told.
    assert_eq!(ids(&lsp), ["p2", "p3", "p4"]);
    assert!(sys::eventually(Duration::from_secs(5), || removed(&lsp)
        .len()
        == 2));
    assert_eq!(removed(&lsp), ["p0", "p1"]);

    // Live: a smaller bound forgets at once; a running process is kept.
    lsp.ok(
        "sandport.startProcess",
        json!({"command": "sleep 30", "processId": "busy"}),
    );
    lsp.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"sandport": {"processes.keepEnded": 1}}}),
    );
    assert!(
        sys::eventually(Duration::from_secs(5), || ids(&lsp) == ["p4", "busy"]),
        "{:?}",
        ids(&lsp)
    );
    assert!(sys::eventually(Duration::from_secs(5), || removed(&lsp)
        .len()
        == 4));
    assert_eq!(removed(&lsp), ["p0", "p1", "p2", "p3"]);
    // 0 keeps none.
    lsp.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"sandport": {"processes": {"keepEnded": 0}}}}),
    );
    assert!(sys::eventually(Duration::from_secs(5), || ids(&lsp) == ["busy"]));
    // A bad value is reported and the default used.
    lsp.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"sandport": {"processes": {"keepEnded": -1}}}}),
    );
    lsp.wait_notification("window/showMessage", Duration::from_secs(5), |m| {
        m["message"]
            .as_str()
            .is_some_and(|t| t.contains("processes.keepEnded"))
    });
    lsp.ok("sandport.killAllProcesses", json!({}));
}

#[test]
fn remove_process_is_advertised() {
    let dir = tempfile::tempdir().unwrap();
    let lsp = Lsp::spawn(dir.path());
    let r = lsp.initialize(json!({}));
    let cmds = r["capabilities"]["executeCommandProvider"]["commands"]
        .as_array()
        .unwrap();
    assert!(cmds.contains(&json!("sandport.removeProcess")), "{cmds:?}");
}
