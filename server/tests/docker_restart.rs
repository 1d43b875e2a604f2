//! The Docker engine stopped mid-session: BACKEND_UNAVAILABLE with a message
//! saying what to do, then normal work once it is back. Stops and restarts
//! the machine's dockerd, so it runs only when SANDPORT_DOCKER_RESTART_TEST=1
//! (CI sets it; it owns that dockerd).

mod common;

use common::*;
use sandport::backend::docker::DockerBackend;
use sandport::engine::*;
use std::sync::Arc;
use std::time::Duration;

fn docker_up() -> bool {
    std::process::Command::new("docker")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_down_then_back() {
    if std::env::var("SANDPORT_DOCKER_RESTART_TEST").as_deref() != Ok("1") {
        eprintln!(
            "skipped: set SANDPORT_DOCKER_RESTART_TEST=1 to let this test stop and restart dockerd"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let id = format!("r{}", marker());
    let engine = Engine::new(
        EngineConfig::new(dir.path()),
        Arc::new(
            DockerBackend::new(docker_options(&id), dir.path())
                .await
                .unwrap(),
        ),
    )
    .unwrap();
    let p = engine
        .start_process(StartProcess {
            command: "sleep 300".into(),
            ..Default::default()
        })
        .await
        .unwrap();

    let stop = std::process::Command::new("sh")
        .arg("-c")
        .arg("pkill -TERM -x dockerd")
        .status()
        .unwrap();
    assert!(stop.success());
    // pgrep prints the pids it finds: keep them out of the test output
    // (polled, dockerd's pid was printed dozens of times in CI).
    let dockerd_gone = || {
        !std::process::Command::new("pgrep")
            .args(["-x", "dockerd"])
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    assert!(
        eventually(Duration::from_secs(60), || !docker_up() && dockerd_gone()).await,
        "dockerd did not stop"
    );
    // Its processes are reported ended with the engine.
    let r = engine.wait_for_exit(&p.id, Some(30_000)).await.unwrap();
    assert_ne!(r.status, Status::Running);
    let e = engine
        .start_process(StartProcess {
            command: "echo hi".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), "BACKEND_UNAVAILABLE", "{e}");
    assert!(e.to_string().contains("docker"), "{e}");

    let start = std::process::Command::new("sh")
        .arg("-c")
        .arg("setsid dockerd >>/tmp/sandport-dockerd-restart.log 2>&1 < /dev/null &")
        .status()
        .unwrap();
    assert!(start.success());
    assert!(
        eventually(Duration::from_secs(60), docker_up).await,
        "dockerd did not come back"
    );
    let q = engine
        .start_process(StartProcess {
            command: "echo back".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    engine.wait_for_exit(&q.id, Some(30_000)).await.unwrap();
    assert_eq!(engine.get_logs(&q.id, None, None).unwrap().stdout, "back\n");
    engine.shutdown(Duration::from_secs(2)).await;
}
