use super::*;
use crate::workspace::read::{HealthSpec, Mode, Visibility};
use crate::workspace::text::Severity;

const ROOT: &str = "/ws";

fn parse(text: &str) -> ServicesFile {
    parse_toml(text, Path::new(ROOT))
}

/// The text a problem's range covers.
fn covered<'t>(text: &'t str, p: &Problem) -> &'t str {
    let idx = LineIndex::new(text);
    let r = p.range.expect("problem has a range");
    &text[idx.offset(r.start)..idx.offset(r.end)]
}

/// The one problem whose message contains `needle`; its line and text.
fn problem<'t>(text: &'t str, needle: &str) -> (u32, &'t str, String) {
    let f = parse(text);
    let found: Vec<_> = f
        .problems
        .iter()
        .filter(|p| p.message.contains(needle))
        .collect();
    assert_eq!(found.len(), 1, "{needle:?} in {:#?}", f.problems);
    let p = found[0];
    (
        p.range.unwrap().start.line,
        covered(text, p),
        p.message.clone(),
    )
}

fn only_problems(text: &str) -> Vec<String> {
    parse(text)
        .problems
        .into_iter()
        .map(|p| p.message)
        .collect()
}

const EXAMPLE: &str = r#"[services.db]
command = "postgres -D .data -k /tmp"
ready = { port = 5432, mode = "tcp" }

[services.api]
command = "node server.js"
cwd = "backend"
env = { PORT = "3000" }
depends-on = ["db"]                         # = { db = "ready" }
ready = { log = "Server ready" }            # substring; "/re/flags" for a regular expression
expose = { port = 3000, name = "api", visibility = "private" }
health = { path = "/health", interval = 10000 }
restart = "on-failure"

[services.web]
command = "npm run dev"
cwd = "frontend"
depends-on = { api = "ready" }
ready = { port = 5173, path = "/", timeout = 120000 }
expose = [{ port = 5173, name = "web", open = true }]

[services.migrate]
command = "npm run migrate"
depends-on = { db = "ready" }
autostart = false

[ports]
"9229" = { on-detect = "ignore" }           # the same attributes as the `ports` setting
"9000-9100" = { label = "tools", on-detect = "silent" }
"#;

#[test]
fn the_spec_example_parses_without_problems() {
    let f = parse(EXAMPLE);
    assert_eq!(f.problems, vec![], "{:#?}", f.problems);
    let names: Vec<_> = f.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["db", "api", "web", "migrate"]);

    let db = f.service("db").unwrap();
    assert_eq!(db.command, "postgres -D .data -k /tmp");
    assert_eq!(
        db.ready,
        Some(Ready::Port {
            port: 5432,
            mode: Some(Mode::Tcp),
            path: None,
            status: None,
            interval_ms: None,
            timeout_ms: 60_000
        })
    );
    assert_eq!(db.health, ServiceHealth::Default);
    assert_eq!(db.restart, Restart::No);
    assert_eq!(db.max_restarts, 10);
    assert_eq!(db.stop_signal, "SIGTERM");
    assert_eq!(db.stop_grace_ms, 5000);
    assert!(db.autostart);

    let api = f.service("api").unwrap();
    assert_eq!(api.cwd.as_deref(), Some("backend"));
    assert_eq!(api.env.get("PORT").map(String::as_str), Some("3000"));
    assert_eq!(api.depends_on.len(), 1);
    assert_eq!(api.depends_on[0].name, "db");
    assert_eq!(api.depends_on[0].condition, Condition::Ready);
    assert_eq!(api.depends_on[0].range.unwrap().start.line, 8);
    assert_eq!(
        api.ready,
        Some(Ready::Log {
            pattern: "Server ready".into(),
            stream: Stream::Both,
            timeout_ms: 60_000
        })
    );
    assert_eq!(api.expose.len(), 1);
    let x = &api.expose[0];
    assert_eq!(
        (x.port, x.name.as_deref(), x.visibility),
        (3000, Some("api"), Some(Visibility::Private))
    );
    assert_eq!(
        api.health,
        ServiceHealth::Set(Health::Probe(HealthSpec {
            path: Some("/health".into()),
            interval_ms: Some(10000),
            ..Default::default()
        }))
    );
    assert_eq!(api.restart, Restart::OnFailure);

    let web = f.service("web").unwrap();
    assert_eq!(web.depends_on[0].condition, Condition::Ready);
    match &web.ready {
        Some(Ready::Port {
            port: 5173,
            path: Some(p),
            timeout_ms: 120000,
            ..
        }) => assert_eq!(p, "/"),
        other => panic!("{other:?}"),
    }
    assert!(web.expose[0].open);
    assert_eq!(web.expose[0].name.as_deref(), Some("web"));
    // The lens goes on the header line.
    assert_eq!(web.lens_range.unwrap().start.line, 14);
    assert_eq!(
        covered(EXAMPLE, &Problem::error("", web.lens_range)),
        "[services.web]"
    );

    let migrate = f.service("migrate").unwrap();
    assert!(!migrate.autostart);

    assert_eq!(f.ports.len(), 2);
    assert_eq!((f.ports[0].start, f.ports[0].end), (9229, 9229));
    assert_eq!(
        f.ports[0].attrs.on_detect,
        Some(crate::workspace::OnDetect::Ignore)
    );
    assert_eq!((f.ports[1].start, f.ports[1].end), (9000, 9100));
    assert_eq!(f.ports[1].attrs.label.as_deref(), Some("tools"));
    assert_eq!(
        f.ports[1].attrs.on_detect,
        Some(crate::workspace::OnDetect::Silent)
    );
}

#[test]
fn dependency_layers_let_independent_services_start_together() {
    let f = parse(EXAMPLE);
    assert_eq!(
        f.layers(),
        vec![vec!["db"], vec!["api", "migrate"], vec!["web"]]
    );
    // `up` with no names: autostart only, plus dependencies.
    assert_eq!(
        f.start_order(&[]).unwrap(),
        vec![vec!["db"], vec!["api"], vec!["web"]]
    );
    assert_eq!(
        f.start_order(&["migrate"]).unwrap(),
        vec![vec!["db"], vec!["migrate"]]
    );
    assert_eq!(f.start_order(&["nope"]), Err("nope".to_string()));
    assert_eq!(
        f.stop_order(&[]).unwrap(),
        vec![vec!["web"], vec!["api", "migrate"], vec!["db"]]
    );
    assert_eq!(
        f.stop_order(&["db", "web"]).unwrap(),
        vec![vec!["web"], vec!["db"]]
    );
}

#[test]
fn depends_on_table_form_takes_the_four_conditions() {
    let text = r#"[services.a]
command = "a"
[services.b]
command = "b"
depends-on = { a = "started" }
[services.c]
command = "c"
depends-on = { a = "healthy", b = "completed" }
[services.d]
command = "d"
depends-on = { a = "ready", c = "finished" }
"#;
    let f = parse(text);
    let conds = |n: &str| -> Vec<Condition> {
        f.service(n)
            .unwrap()
            .depends_on
            .iter()
            .map(|d| d.condition)
            .collect()
    };
    assert_eq!(conds("b"), [Condition::Started]);
    assert_eq!(conds("c"), [Condition::Healthy, Condition::Completed]);
    assert_eq!(conds("d"), [Condition::Ready]);
    let (line, at, msg) = problem(text, "finished");
    assert_eq!((line, at), (10, "\"finished\""));
    assert!(
        msg.contains("\"started\" | \"ready\" | \"healthy\" | \"completed\""),
        "{msg}"
    );
}

#[test]
fn syntax_error_has_its_position() {
    let text = "[services.a]\ncommand = \"x\"\nready = { port = 3000\n";
    let f = parse(text);
    assert_eq!(f.problems.len(), 1);
    assert!(
        f.problems[0].message.starts_with("TOML syntax error"),
        "{:?}",
        f.problems
    );
    assert_eq!(f.problems[0].range.unwrap().start.line, 2);
    assert!(f.services.is_empty());
    assert!(!f.is_valid());
    // A key given twice is a syntax error too.
    let text = "[services.a]\ncommand = \"x\"\ncommand = \"y\"\n";
    let f = parse(text);
    assert_eq!(
        f.problems[0].range.unwrap().start.line,
        2,
        "{:?}",
        f.problems
    );
}

#[test]
fn unknown_keys_everywhere() {
    let text = r#"version = 2
[services.a]
command = "x"
comand = "y"
ready = { port = 3000, stream = "stdout" }
expose = { port = 3000, ttl_seconds = 5 }
health = { path = "/", retries = 3 }
[services.b]
command = "x"
ready = { log = "up", mode = "tcp" }
[ports]
"3000" = { label = "x", onDetect = "expose" }
"#;
    assert_eq!(problem(text, "`version`").0, 0);
    let (line, at, _) = problem(text, "`comand`");
    assert_eq!((line, at), (3, "comand"));
    assert_eq!(
        problem(text, "`stream`"),
        (4, "stream", problem(text, "`stream`").2)
    );
    assert_eq!(problem(text, "`ttl_seconds`").1, "ttl_seconds");
    assert_eq!(problem(text, "`retries`").0, 6);
    let (line, at, msg) = problem(text, "`mode`");
    assert_eq!((line, at), (9, "mode"));
    assert!(msg.contains("services.b.ready"), "{msg}");
    let (line, _, msg) = problem(text, "`onDetect`");
    assert_eq!(line, 11);
    assert!(msg.contains("did you mean `on-detect`?"), "{msg}");
    assert_eq!(only_problems(text).len(), 7, "{:#?}", only_problems(text));
}

#[test]
fn wrong_types_point_at_the_value() {
    let text = r#"[services.a]
command = ["x"]
cwd = 1
env = { A = 1 }
depends-on = "b"
restart = true
max-restarts = "3"
stop-grace = -1
autostart = "yes"
health = true
expose = "3000"
ready = 3000
"#;
    let lines: Vec<(u32, String)> = parse(text)
        .problems
        .iter()
        .map(|p| (p.range.unwrap().start.line, covered(text, p).to_string()))
        .collect();
    assert_eq!(
        lines,
        [
            (1, "[\"x\"]".to_string()),
            (2, "1".into()),
            (3, "1".into()),
            (4, "\"b\"".into()),
            (5, "true".into()),
            (6, "\"3\"".into()),
            (7, "-1".into()),
            (8, "\"yes\"".into()),
            (9, "true".into()),
            (10, "\"3000\"".into()),
            (11, "3000".into()),
        ]
    );
}

#[test]
fn command_is_required_and_names_are_checked() {
    let text = "[services.a]\ncwd = \".\"\n[services.Bad_Name]\ncommand = \"x\"\n";
    let (line, at, _) = problem(text, "`command` is required");
    assert_eq!((line, at), (0, "a"));
    // A service known only through a sub-table still gets its position.
    let (line, at, _) = problem("[services.x.env]\nA = \"1\"\n", "`command` is required");
    assert_eq!((line, at), (0, "x"));
    let (line, at, _) = problem(text, "invalid service name");
    assert_eq!((line, at), (2, "Bad_Name"));
    assert!(valid_service_name("a"));
    assert!(valid_service_name("0-db"));
    assert!(!valid_service_name("-db"));
    assert!(!valid_service_name(&"a".repeat(64)));
    assert!(valid_service_name(&"a".repeat(63)));
}

#[test]
fn unknown_dependency_at_its_name() {
    let text = "[services.a]\ncommand = \"x\"\ndepends-on = [\"db\", \"cache\"]\n[services.db]\ncommand = \"y\"\n[services.b]\ncommand = \"z\"\ndepends-on = { nope = \"ready\" }\n";
    let (line, at, _) = problem(text, "no service named `cache`");
    assert_eq!((line, at), (2, "\"cache\""));
    let (line, at, _) = problem(text, "no service named `nope`");
    assert_eq!((line, at), (7, "nope"));
}

#[test]
fn cycles_name_every_service_in_them() {
    let text = r#"[services.a]
command = "x"
depends-on = ["b"]
[services.b]
command = "x"
depends-on = { c = "ready" }
[services.c]
command = "x"
depends-on = ["a", "d"]
[services.d]
command = "x"
[services.e]
command = "x"
depends-on = ["e"]
[services.f]
command = "x"
depends-on = ["a"]
"#;
    let f = parse(text);
    let cycles: Vec<(u32, &str, &str)> = f
        .problems
        .iter()
        .map(|p| {
            (
                p.range.unwrap().start.line,
                covered(text, p),
                p.message.as_str(),
            )
        })
        .collect();
    assert_eq!(
        cycles,
        [
            (2, "\"b\"", "dependency cycle: a → b → c → a"),
            (5, "c", "dependency cycle: b → c → a → b"),
            (8, "\"a\"", "dependency cycle: c → a → b → c"),
            (13, "\"e\"", "dependency cycle: e → e"),
        ]
    );
    // Only d is outside every cycle and free of them.
    assert_eq!(f.layers(), vec![vec!["d"]]);
}

#[test]
fn ready_log_regex_is_checked_in_both_forms() {
    let text = r#"[services.a]
command = "x"
ready = { log = "/ready (/" }
[services.b]
command = "x"
ready = { log = "/Ready on (\\d+/i" }
[services.c]
command = "x"
ready = { log = "/ready/q" }
[services.d]
command = "x"
ready = { log = "/ready/i", stream = "stderr", timeout = 5000 }
[services.e]
command = "x"
ready = { log = "50% (done" }
[services.f]
command = "x"
ready = { log = "" }
"#;
    let f = parse(text);
    let got: Vec<(u32, &str)> = f
        .problems
        .iter()
        .map(|p| (p.range.unwrap().start.line, covered(text, p)))
        .collect();
    assert_eq!(
        got,
        [
            (2, "\"/ready (/\""),
            (5, "\"/Ready on (\\\\d+/i\""),
            (8, "\"/ready/q\""),
            (17, "\"\""),
        ],
        "{:#?}",
        f.problems
    );
    assert!(f.problems[0].message.contains("invalid regular expression"));
    assert!(f.problems[2].message.contains("unknown regex flag 'q'"));
    assert_eq!(
        f.service("d").unwrap().ready,
        Some(Ready::Log {
            pattern: "/ready/i".into(),
            stream: Stream::Stderr,
            timeout_ms: 5000
        })
    );
    assert!(check_log_pattern("plain text (").is_ok());
    assert!(check_log_pattern("/a/b/gi").is_ok());
}

#[test]
fn ready_needs_one_form() {
    let text = "[services.a]\ncommand = \"x\"\nready = { port = 1, log = \"x\" }\n[services.b]\ncommand = \"x\"\nready = { timeout = 5 }\n";
    assert_eq!(problem(text, "not both").0, 2);
    assert_eq!(problem(text, "needs `port`").0, 5);
}

#[test]
fn ports_out_of_range() {
    let text = r#"[services.a]
command = "x"
ready = { port = 70000 }
expose = 80
health = { port = 0 }
[services.b]
command = "x"
expose = [{ port = 3000 }, { port = 65536 }]
ready = { port = 80, mode = "http", status = { min = 200, max = 700 } }
[ports]
"0" = { label = "zero" }
"9100-9000" = { label = "backwards" }
"web" = { label = "what" }
"65535" = { label = "ok" }
"#;
    let f = parse(text);
    let got: Vec<(u32, &str)> = f
        .problems
        .iter()
        .map(|p| (p.range.unwrap().start.line, covered(text, p)))
        .collect();
    assert_eq!(
        got,
        [
            (2, "70000"),
            (3, "80"),
            (4, "0"),
            (7, "65536"),
            (8, "700"),
            (10, "\"0\""),
            (11, "\"9100-9000\""),
            (12, "\"web\""),
        ],
        "{:#?}",
        f.problems
    );
    assert!(
        f.problems[1].message.contains("1024–65535"),
        "{}",
        f.problems[1].message
    );
    assert_eq!(f.ports.len(), 1);
    assert_eq!(f.ports[0].start, 65535);
    // A privileged port is fine to wait on, not to expose.
    assert!(matches!(
        f.service("b").unwrap().ready,
        Some(Ready::Port { port: 80, .. })
    ));
}

#[test]
fn cwd_must_stay_inside_the_workspace() {
    let text = r#"[services.a]
command = "x"
cwd = "../elsewhere"
[services.b]
command = "x"
cwd = "/etc"
[services.c]
command = "x"
cwd = "sub/../other/./x"
[services.d]
command = "x"
cwd = "/ws/backend"
[services.e]
command = "x"
cwd = "sub/../../x"
"#;
    let f = parse(text);
    let got: Vec<(u32, &str)> = f
        .problems
        .iter()
        .map(|p| (p.range.unwrap().start.line, covered(text, p)))
        .collect();
    assert_eq!(
        got,
        [
            (2, "\"../elsewhere\""),
            (5, "\"/etc\""),
            (14, "\"sub/../../x\"")
        ]
    );
    assert!(f
        .problems
        .iter()
        .all(|p| p.message.contains("outside the workspace")));
    assert!(!cwd_inside(Path::new("/ws"), "/wsx"));
}

#[test]
fn two_services_exposing_one_port() {
    let text = r#"[services.a]
command = "x"
expose = 3000
[services.b]
command = "x"
expose = [{ port = 4000 }, { port = 3000 }, { port = 4000 }]
"#;
    let f = parse(text);
    let got: Vec<(u32, &str, &str)> = f
        .problems
        .iter()
        .map(|p| {
            (
                p.range.unwrap().start.line,
                covered(text, p),
                p.message.as_str(),
            )
        })
        .collect();
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(got[0].0, 5);
    assert!(got[0]
        .2
        .contains("port 3000 is already exposed by service `a`"));
    assert!(got[1].2.contains("port 4000 is exposed twice"));
}

#[test]
fn every_other_service_key() {
    let text = r#"[services.a]
command = "x"
restart = "always"
max-restarts = 3
stop-signal = "INT"
stop-grace = 250
health = false
expose = { port = 8080, ttl = 600, token = "abc_1", inspect = false }
ready = { port = 8080, mode = "http", path = "/ok", status = 204, interval = 100 }
[services.b]
command = "x"
restart = "sometimes"
stop-signal = "SIGNOPE"
expose = { port = 8081, token = "Bad-Token", visibility = "secret" }
health = { mode = "tcp", failures = 0 }
"#;
    let f = parse(text);
    let a = f.service("a").unwrap();
    assert_eq!(a.restart, Restart::Always);
    assert_eq!(a.max_restarts, 3);
    assert_eq!(a.stop_signal, "SIGINT");
    assert_eq!(a.stop_grace_ms, 250);
    assert_eq!(a.health, ServiceHealth::Set(Health::Off));
    let x = &a.expose[0];
    assert_eq!(
        (x.ttl_seconds, x.token.as_deref(), x.inspect, x.open),
        (Some(600), Some("abc_1"), Some(false), false)
    );
    assert_eq!(
        a.ready,
        Some(Ready::Port {
            port: 8080,
            mode: Some(Mode::Http),
            path: Some("/ok".into()),
            status: Some(StatusRange { min: 204, max: 204 }),
            interval_ms: Some(100),
            timeout_ms: 60000
        })
    );
    let got: Vec<(u32, &str)> = f
        .problems
        .iter()
        .map(|p| (p.range.unwrap().start.line, covered(text, p)))
        .collect();
    assert_eq!(
        got,
        [
            (11, "\"sometimes\""),
            (12, "\"SIGNOPE\""),
            (13, "\"Bad-Token\""),
            (13, "\"secret\""),
            (14, "0"),
        ],
        "{:#?}",
        f.problems
    );
    assert!(f.problems.iter().all(|p| p.severity == Severity::Error));
}

#[test]
fn other_spellings_of_the_same_tables() {
    // Inline service tables, dotted keys and an array of expose tables.
    let text = r#"[services]
db = { command = "redis-server", ready = { port = 6379, mode = "tcp" } }
api.command = "python3 api.py"
api.depends-on = ["db"]

[[services.api.expose]]
port = 3000
[[services.api.expose]]
port = 3001
"#;
    let f = parse(text);
    assert_eq!(f.problems, vec![], "{:#?}", f.problems);
    let api = f.service("api").unwrap();
    assert_eq!(
        api.expose.iter().map(|x| x.port).collect::<Vec<_>>(),
        [3000, 3001]
    );
    assert_eq!(api.expose[1].range.unwrap().start.line, 8);
    // Without a header the lens goes on the name.
    assert_eq!(f.service("db").unwrap().lens_range.unwrap().start.line, 1);
}

#[test]
fn procfile_lines_and_problems() {
    let text = "web: python3 -m http.server 8000\n# comment\n\nworker:   node worker.js --x=1:2\nnot a line\nBad: x\nempty:\nweb: again\n";
    let f = parse_procfile(text);
    assert_eq!(f.kind, FileKind::Procfile);
    let names: Vec<_> = f
        .services
        .iter()
        .map(|s| (s.name.as_str(), s.command.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("web", "python3 -m http.server 8000"),
            ("worker", "node worker.js --x=1:2")
        ]
    );
    assert_eq!(f.services[1].lens_range.unwrap().start.line, 3);
    let got: Vec<(u32, &str)> = f
        .problems
        .iter()
        .map(|p| (p.range.unwrap().start.line, covered(text, p)))
        .collect();
    assert_eq!(
        got,
        [(4, "not a line"), (5, "Bad"), (6, "empty:"), (7, "web")]
    );
    assert_eq!(f.layers(), vec![vec!["web", "worker"]]);
}
