//! The service manager with real processes: dependency order, conditions,
//! restart policy, down, Procfile and reloading. Written against
//! `common::backend()`, so `SANDPORT_TEST_BACKEND=docker` runs them in a
//! container.

mod common;

use common::*;
use sandport::engine::error::EngineError;
use sandport::engine::services::{ServiceState, Services};
use sandport::engine::Status;
use std::path::Path;
use std::time::{Duration, Instant};

async fn manager(sb: &Sandbox, toml: &str) -> Services {
    std::fs::write(sb.dir.path().join("sandport.toml"), toml).unwrap();
    let s = Services::new(sb.engine.clone());
    s.reload().await;
    let all = s.list_all();
    assert!(all.problems.is_empty(), "{:?}", all.problems);
    s
}

fn lines(dir: &Path, file: &str) -> Vec<String> {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

fn pos(v: &[String], what: &str) -> usize {
    v.iter()
        .position(|l| l == what)
        .unwrap_or_else(|| panic!("{what:?} not in {v:?}"))
}

fn state(s: &Services, name: &str) -> ServiceState {
    s.get(name).unwrap().state
}

/// Every process the engine started has ended.
fn nothing_running(sb: &Sandbox) -> bool {
    sb.engine
        .list_processes()
        .iter()
        .all(|p| p.status != Status::Running)
}

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("bounded by 60 s")
}

#[tokio::test]
async fn up_follows_dependency_order_and_down_leaves_nothing() {
    let sb = sandbox().await;
    let port = free_port();
    let m = marker();
    std::fs::write(sb.dir.path().join("index.html"), "api here").unwrap();
    let s = manager(
        &sb,
        &format!(
            r#"
[services.db]
command = "echo db-start >> order.log; sleep 1; echo db-ready >> order.log; echo 'db ready {m}'; exec sleep 300"
ready = {{ log = "db ready" }}

[services.cache]
command = "echo cache-start >> order.log; exec sleep 301"

[services.api]
command = "echo api-start >> order.log; exec python3 -m http.server {port} --bind 127.0.0.1"
depends-on = ["db"]
ready = {{ port = {port} }}
expose = {port}

[services.web]
command = "echo web-start >> order.log; echo listening; exec sleep 302"
depends-on = {{ api = "ready", cache = "started" }}
ready = {{ log = "/listen(ing)?/" }}
"#
        ),
    )
    .await;
    let mut events = s.subscribe();
    assert!(s.list().iter().all(|x| x.state == ServiceState::Stopped));
    let t0 = Instant::now();
    let all = bounded(s.up(&[])).await.expect("up");
    assert!(t0.elapsed() < Duration::from_secs(30));
    assert_eq!(
        all.iter()
            .map(|x| (x.name.as_str(), x.state))
            .collect::<Vec<_>>(),
        [
            ("db", ServiceState::Ready),
            ("cache", ServiceState::Ready),
            ("api", ServiceState::Ready),
            ("web", ServiceState::Ready)
        ]
    );
    let order = lines(sb.dir.path(), "order.log");
    // db and cache are independent: cache starts while db is still starting.
    assert!(
        pos(&order, "cache-start") < pos(&order, "db-ready"),
        "{order:?}"
    );
    assert!(
        pos(&order, "db-ready") < pos(&order, "api-start"),
        "{order:?}"
    );
    assert!(
        pos(&order, "api-start") < pos(&order, "web-start"),
        "{order:?}"
    );
    // The api is exposed once ready, named after its service.
    let api = s.get("api").unwrap();
    assert_eq!(api.ports.len(), 1);
    assert_eq!(api.ports[0].port, port);
    assert_eq!(api.ports[0].name.as_deref(), Some("api"));
    assert_eq!(sb.engine.exposed_ports().len(), 1);
    assert_eq!(api.depends_on, ["db"]);
    assert!(api.process_id.is_some() && api.error.is_none());
    // Changes were announced, the last one with everything ready.
    let mut last = None;
    while let Ok(l) = events.try_recv() {
        last = Some(l);
    }
    let last = last.expect("servicesChanged");
    assert!(
        last.iter().all(|x| x.state == ServiceState::Ready),
        "{last:?}"
    );
    // up again starts nothing new.
    let ids: Vec<_> = all.iter().map(|x| x.process_id.clone()).collect();
    let again = bounded(s.up(&["web"])).await.unwrap();
    assert_eq!(
        again
            .iter()
            .map(|x| x.process_id.clone())
            .collect::<Vec<_>>(),
        ids
    );

    // down: dependents first, nothing left running, no exposure left.
    let down = bounded(s.down(&[])).await.unwrap();
    assert!(
        down.iter().all(|x| x.state == ServiceState::Stopped),
        "{down:?}"
    );
    assert!(nothing_running(&sb));
    assert!(sb.engine.exposed_ports().is_empty());
    if backend_kind() == "local" {
        assert!(eventually(Duration::from_secs(5), || live_with(&m).is_empty()).await);
    }
    let ended: Vec<_> = ["web", "api", "db"]
        .iter()
        .map(|n| {
            let id = ids[["db", "cache", "api", "web"]
                .iter()
                .position(|x| x == n)
                .unwrap()]
            .clone()
            .unwrap();
            sb.engine.get_process(&id).unwrap().ended_at.unwrap()
        })
        .collect();
    // RFC 3339 in one zone sorts as text: web ended before api, api before db.
    assert!(ended[0] <= ended[1] && ended[1] <= ended[2], "{ended:?}");
    sb.engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_failing_dependency_fails_its_dependents_unstarted() {
    let sb = sandbox().await;
    let s = manager(
        &sb,
        r#"
[services.db]
command = "echo db-start >> order.log; exit 3"
ready = { log = "never printed", timeout = 20000 }

[services.api]
command = "echo api-start >> order.log; exec sleep 300"
depends-on = ["db"]

[services.web]
command = "echo web-start >> order.log; exec sleep 300"
depends-on = ["api"]
"#,
    )
    .await;
    let err = bounded(s.up(&["web"])).await.unwrap_err();
    assert_eq!(err.code(), "DEPENDENCY_FAILED");
    let data = err.to_data();
    assert_eq!(
        data["dependencyError"]["code"],
        "PROCESS_EXITED_BEFORE_READY"
    );
    match &err {
        EngineError::DependencyFailed {
            service,
            dependency,
            ..
        } => assert_eq!((service.as_str(), dependency.as_str()), ("api", "db")),
        other => panic!("{other:?}"),
    }
    for n in ["db", "api", "web"] {
        let x = s.get(n).unwrap();
        assert_eq!(x.state, ServiceState::Failed, "{x:?}");
    }
    assert_eq!(
        s.get("api").unwrap().error.unwrap().code,
        "DEPENDENCY_FAILED"
    );
    assert_eq!(
        s.get("web").unwrap().error.unwrap().code,
        "DEPENDENCY_FAILED"
    );
    assert!(s.get("api").unwrap().process_id.is_none());
    assert_eq!(lines(sb.dir.path(), "order.log"), ["db-start"]);
    assert_eq!(sb.engine.list_processes().len(), 1);
    sb.engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn on_failure_restarts_with_backoff_and_stops_after_down() {
    let sb = sandbox().await;
    let s = manager(
        &sb,
        r#"
[services.flaky]
command = "date +%s.%N >> runs.log; sleep 0.1; exit 1"
restart = "on-failure"

[services.capped]
command = "echo run >> capped.log; exit 2"
restart = "always"
max-restarts = 1

[services.fine]
command = "echo run >> fine.log"
restart = "on-failure"
"#,
    )
    .await;
    bounded(s.up(&[])).await.expect("up");
    let dir = sb.dir.path().to_path_buf();
    // Runs at about 0 s, 1 s, 3 s (backoff 1 s, then 2 s).
    assert!(
        eventually(Duration::from_secs(8), || lines(&dir, "runs.log").len()
            >= 3)
        .await
    );
    let runs: Vec<f64> = lines(&dir, "runs.log")
        .iter()
        .map(|l| l.parse().unwrap())
        .collect();
    let (g1, g2) = (runs[1] - runs[0], runs[2] - runs[1]);
    assert!((0.9..1.9).contains(&g1), "first gap {g1}");
    assert!((1.9..3.5).contains(&g2), "second gap {g2}");
    assert!(s.get("flaky").unwrap().restarts >= 2);
    // max-restarts = 1: two runs, then failed for good.
    assert!(
        eventually(Duration::from_secs(5), || {
            let c = s.get("capped").unwrap();
            c.state == ServiceState::Failed && lines(&dir, "capped.log").len() == 2
        })
        .await
    );
    assert_eq!(s.get("capped").unwrap().restarts, 1);
    assert_eq!(
        s.get("capped").unwrap().error.unwrap().code,
        "OPERATION_FAILED"
    );
    // on-failure does not restart a success.
    assert_eq!(state(&s, "fine"), ServiceState::Completed);
    assert_eq!(lines(&dir, "fine.log").len(), 1);

    bounded(s.down(&["flaky"])).await.unwrap();
    assert_eq!(state(&s, "flaky"), ServiceState::Stopped);
    let after = lines(&dir, "runs.log").len();
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert_eq!(lines(&dir, "runs.log").len(), after, "restarted after down");
    assert!(nothing_running(&sb));
    sb.engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_completed_dependency_gates_its_dependents() {
    let sb = sandbox().await;
    let s = manager(
        &sb,
        r#"
[services.migrate]
command = "sleep 0.5; echo v1 > schema.txt"
autostart = false

[services.api]
command = "echo \"api saw $(cat schema.txt)\" >> order.log; echo up; exec sleep 300"
ready = { log = "up" }
depends-on = { migrate = "completed" }

[services.badmigrate]
command = "exit 4"
autostart = false

[services.worker]
command = "echo worker-start >> order.log; exec sleep 300"
depends-on = { badmigrate = "completed" }
autostart = false
"#,
    )
    .await;
    // `up` with no names: api is autostart, its migration runs first.
    bounded(s.up(&[])).await.expect("up");
    assert_eq!(state(&s, "migrate"), ServiceState::Completed);
    assert_eq!(state(&s, "api"), ServiceState::Ready);
    assert_eq!(lines(sb.dir.path(), "order.log"), ["api saw v1"]);
    let err = bounded(s.up(&["worker"])).await.unwrap_err();
    assert_eq!(err.code(), "DEPENDENCY_FAILED");
    assert_eq!(state(&s, "badmigrate"), ServiceState::Failed);
    assert_eq!(state(&s, "worker"), ServiceState::Failed);
    assert_eq!(lines(sb.dir.path(), "order.log"), ["api saw v1"]);
    bounded(s.down(&[])).await.unwrap();
    assert!(nothing_running(&sb));
    sb.engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_procfile_works() {
    let sb = sandbox().await;
    let port = free_port();
    std::fs::write(sb.dir.path().join("index.html"), "from procfile").unwrap();
    std::fs::write(
        sb.dir.path().join("Procfile"),
        format!(
            "# two services\nweb: exec python3 -m http.server {port} --bind 127.0.0.1\nworker: exec sleep 300\n"
        ),
    )
    .unwrap();
    let s = Services::new(sb.engine.clone());
    s.reload().await;
    let all = s.list_all();
    assert!(all.file.unwrap().ends_with("Procfile"));
    assert_eq!(
        all.services
            .iter()
            .map(|x| x.name.as_str())
            .collect::<Vec<_>>(),
        ["web", "worker"]
    );
    bounded(s.up(&[])).await.expect("up");
    let web = s.get("web").unwrap();
    assert_eq!(web.state, ServiceState::Ready);
    let mut w = sandport::engine::WaitPort::new(port);
    w.process_id = web.process_id.clone();
    w.timeout_ms = 20_000;
    sb.engine
        .wait_for_port(w)
        .await
        .expect("the web service serves");
    bounded(s.down(&[])).await.unwrap();
    assert!(nothing_running(&sb));
    sb.engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn reloading_the_file_updates_the_list() {
    let sb = sandbox().await;
    let s = manager(
        &sb,
        "[services.a]\ncommand = \"exec sleep 300\"\n\n[services.b]\ncommand = \"exec sleep 301\"\n",
    )
    .await;
    let missing = s.up(&["nope"]).await.unwrap_err();
    assert_eq!(missing.code(), "SERVICE_NOT_FOUND");
    assert_eq!(missing.to_data()["service"], "nope");
    assert_eq!(
        s.down(&["nope"]).await.unwrap_err().code(),
        "SERVICE_NOT_FOUND"
    );
    bounded(s.up(&[])).await.unwrap();
    let a_id = s.get("a").unwrap().process_id.unwrap();
    let b_id = s.get("b").unwrap().process_id.unwrap();
    let _watcher = s.watch(Duration::from_millis(100));
    let mut events = s.subscribe();

    // a goes (and is stopped), c comes, b's new command waits for its next start.
    std::fs::write(
        sb.dir.path().join("sandport.toml"),
        "[services.b]\ncommand = \"echo b2 >> order.log; exec sleep 302\"\n\n[services.c]\ncommand = \"exec sleep 303\"\n",
    )
    .unwrap();
    assert!(
        eventually(Duration::from_secs(10), || {
            s.list().iter().map(|x| x.name.clone()).collect::<Vec<_>>() == ["b", "c"]
        })
        .await
    );
    assert!(events.try_recv().is_ok(), "the change was announced");
    assert!(
        eventually(Duration::from_secs(10), || {
            sb.engine.get_process(&a_id).unwrap().status != Status::Running
        })
        .await
    );
    assert_eq!(state(&s, "b"), ServiceState::Ready);
    assert_eq!(state(&s, "c"), ServiceState::Stopped);
    assert_eq!(s.get("b").unwrap().process_id.unwrap(), b_id);
    s.restart("b").await.unwrap();
    assert_ne!(s.get("b").unwrap().process_id.unwrap(), b_id);
    let dir = sb.dir.path().to_path_buf();
    assert!(
        eventually(Duration::from_secs(5), || lines(&dir, "order.log")
            == ["b2"])
        .await
    );

    // A broken file changes no service; up says why.
    std::fs::write(
        sb.dir.path().join("sandport.toml"),
        "[services.b]\ncommand = \"x\"\nbogus-key = 1\n",
    )
    .unwrap();
    assert!(
        eventually(Duration::from_secs(10), || !s
            .list_all()
            .problems
            .is_empty())
        .await
    );
    assert_eq!(
        s.list().iter().map(|x| x.name.clone()).collect::<Vec<_>>(),
        ["b", "c"]
    );
    let err = s.up(&[]).await.unwrap_err();
    assert_eq!(err.code(), "SERVICES_FILE_INVALID");
    assert!(err.to_data()["problems"][0]["range"]["start"]["line"] == 2);

    // No file at all: every service is stopped and forgotten.
    std::fs::remove_file(sb.dir.path().join("sandport.toml")).unwrap();
    assert!(eventually(Duration::from_secs(10), || s.list().is_empty()).await);
    assert!(s.list_all().file.is_none());
    assert!(eventually(Duration::from_secs(10), || nothing_running(&sb)).await);
    sb.engine.shutdown(Duration::from_secs(1)).await;
}

/// Copies `examples/fullstack` into `dest` (files only; it has no folders).
fn copy_example(dest: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/fullstack");
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dest.join(e.file_name())).unwrap();
    }
}

#[tokio::test]
async fn the_fullstack_example_comes_up_and_every_url_serves() {
    if std::process::Command::new("redis-server")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must install redis-server"
        );
        eprintln!("note: redis-server is not installed; the fullstack example test is skipped");
        return;
    }
    let sb = sandbox().await;
    copy_example(sb.dir.path());
    let s = Services::new(sb.engine.clone());
    s.reload().await;
    assert!(
        s.list_all().problems.is_empty(),
        "{:?}",
        s.list_all().problems
    );
    let all = bounded(s.up(&[])).await.expect("up");
    let states: Vec<_> = all.iter().map(|x| (x.name.as_str(), x.state)).collect();
    assert_eq!(
        states,
        [
            ("db", ServiceState::Ready),
            ("migrate", ServiceState::Completed),
            ("api", ServiceState::Ready),
            ("web", ServiceState::Ready)
        ]
    );
    // Every exposed URL's service answers (fetched inside the sandbox, so
    // the Docker backend is covered too), and the page shows the seed data
    // that came through the API from the database.
    let mut fetched = 0;
    for svc in &all {
        for p in &svc.ports {
            assert!(p.url.contains(&p.port.to_string()), "{p:?}");
            let r = sb
                .engine
                .exec(sandport::engine::Exec {
                    command: format!("curl -fsS http://127.0.0.1:{}/", p.port),
                    timeout_ms: 20_000,
                    ..Default::default()
                })
                .await
                .unwrap();
            if svc.name == "web" {
                assert_eq!(r.exit_code, Some(0), "{r:?}");
                assert!(r.stdout.contains("<li>run sandport up</li>"), "{r:?}");
                assert!(r.stdout.contains("schema 1"), "{r:?}");
            } else {
                // The API answers `/` with its JSON 404.
                assert!(r.exit_code != Some(0) && r.stderr.contains("404"), "{r:?}");
                let api = sb
                    .engine
                    .exec(sandport::engine::Exec {
                        command: format!("curl -fsS http://127.0.0.1:{}/api/todos", p.port),
                        timeout_ms: 20_000,
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                assert!(api.stdout.contains("\"schema\": \"1\""), "{api:?}");
            }
            fetched += 1;
        }
    }
    assert_eq!(fetched, 2);
    bounded(s.down(&[])).await.unwrap();
    assert!(nothing_running(&sb));
    assert!(sb.engine.exposed_ports().is_empty());
    sb.engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn down_uses_stop_signal_and_grace_and_a_dropped_up_leaves_services_running() {
    let sb = sandbox().await;
    let s = manager(
        &sb,
        r#"
[services.polite]
command = "trap 'echo got-int >> sig.log; exit 0' INT; trap '' TERM; echo up; while true; do sleep 0.1; done"
ready = { log = "up" }
stop-signal = "SIGINT"

[services.stubborn]
command = "trap '' TERM INT; echo up; while true; do sleep 0.1; done"
ready = { log = "up" }
stop-grace = 300

[services.slow]
command = "sleep 1; echo up; exec sleep 300"
ready = { log = "up" }
"#,
    )
    .await;
    // Cancelling `up` stops the waiting, not the services.
    let cut = tokio::time::timeout(Duration::from_millis(300), s.up(&["slow"])).await;
    assert!(cut.is_err());
    assert!(
        eventually(Duration::from_secs(10), || state(&s, "slow")
            == ServiceState::Ready)
        .await
    );
    bounded(s.up(&["polite", "stubborn"])).await.unwrap();
    let t0 = Instant::now();
    bounded(s.down(&[])).await.unwrap();
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
    assert_eq!(lines(sb.dir.path(), "sig.log"), ["got-int"]);
    let stubborn = s.get("stubborn").unwrap().process_id.unwrap();
    let p = sb.engine.get_process(&stubborn).unwrap();
    assert_eq!(p.status, Status::Killed);
    assert!(nothing_running(&sb));
    sb.engine.shutdown(Duration::from_secs(1)).await;
}
