//! `sandport.toml` (and `Procfile`) into typed service definitions, with
//! every problem of `sandport-toml.md` at the range of its key or value.

use super::node::{Entry, Kind, Node};
use super::ports::{read_port_rules, PortRule};
use super::read::{mode_of, visibility_of, Health, Mode, Naming, Reader, StatusRange, Visibility};
use super::schema::{self, Ctx};
use super::text::{LineIndex, Problem, Range};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::{Component, Path};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    SandportToml,
    Procfile,
}

/// A parsed services file. Its services are only to be started when
/// `problems` holds no error ([`ServicesFile::is_valid`]).
#[derive(Debug, Clone)]
pub struct ServicesFile {
    pub kind: FileKind,
    pub services: Vec<ServiceDef>,
    /// `[ports]` of `sandport.toml`, in file order.
    pub ports: Vec<PortRule>,
    pub problems: Vec<Problem>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Started,
    Ready,
    Healthy,
    /// Exited with status 0.
    Completed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub name: String,
    pub condition: Condition,
    /// The name in the file (array element or table key).
    pub range: Option<Range>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
    Both,
}

pub const DEFAULT_READY_TIMEOUT_MS: u64 = 60_000;
pub const DEFAULT_MAX_RESTARTS: u32 = 10;
pub const DEFAULT_STOP_GRACE_MS: u64 = 5_000;

/// When a service counts as ready. `None` fields take `waitForPort`'s
/// defaults (http, `/`, 200–399, every 500 ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ready {
    Port {
        port: u16,
        mode: Option<Mode>,
        path: Option<String>,
        status: Option<StatusRange>,
        interval_ms: Option<u64>,
        timeout_ms: u64,
    },
    /// As `waitForLog`: a substring, or `/re/flags`.
    Log {
        pattern: String,
        stream: Stream,
        timeout_ms: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expose {
    pub port: u16,
    pub range: Option<Range>,
    pub name: Option<String>,
    pub ttl_seconds: Option<u64>,
    pub visibility: Option<Visibility>,
    pub token: Option<String>,
    pub inspect: Option<bool>,
    pub open: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceHealth {
    /// No `health` key: a TCP probe of each exposed port.
    Default,
    Set(Health),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    No,
    OnFailure,
    Always,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceDef {
    pub name: String,
    pub name_range: Option<Range>,
    /// Where a code lens goes: the `[services.NAME]` header, else the name.
    pub lens_range: Option<Range>,
    pub command: String,
    pub cwd: Option<String>,
    pub env: BTreeMap<String, String>,
    pub depends_on: Vec<Dependency>,
    pub ready: Option<Ready>,
    pub expose: Vec<Expose>,
    pub health: ServiceHealth,
    pub restart: Restart,
    pub max_restarts: u32,
    pub stop_signal: String,
    pub stop_grace_ms: u64,
    pub autostart: bool,
}

impl ServiceDef {
    fn new(name: &str) -> ServiceDef {
        ServiceDef {
            name: name.to_string(),
            name_range: None,
            lens_range: None,
            command: String::new(),
            cwd: None,
            env: BTreeMap::new(),
            depends_on: Vec::new(),
            ready: None,
            expose: Vec::new(),
            health: ServiceHealth::Default,
            restart: Restart::No,
            max_restarts: DEFAULT_MAX_RESTARTS,
            stop_signal: "SIGTERM".into(),
            stop_grace_ms: DEFAULT_STOP_GRACE_MS,
            autostart: true,
        }
    }
}

/// `[a-z0-9][a-z0-9-]{0,62}`.
pub fn valid_service_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// Checks a `ready.log` pattern as `waitForLog` reads it: a substring, or
/// `/re/flags` (flags i, m, s, x; u and g accepted and ignored).
pub fn check_log_pattern(p: &str) -> Result<(), String> {
    if p.is_empty() {
        return Err("must not be empty".into());
    }
    let Some((src, flags)) = p
        .strip_prefix('/')
        .and_then(|rest| rest.rfind('/').map(|end| (&rest[..end], &rest[end + 1..])))
        .filter(|(_, f)| f.chars().all(|c| c.is_ascii_alphabetic()))
    else {
        return Ok(());
    };
    let mut b = regex::RegexBuilder::new(src);
    for f in flags.chars() {
        match f {
            'i' => b.case_insensitive(true),
            'm' => b.multi_line(true),
            's' => b.dot_matches_new_line(true),
            'x' => b.ignore_whitespace(true),
            'u' | 'g' => &mut b,
            other => return Err(format!("unknown regex flag {other:?} (known: i, m, s, x)")),
        };
    }
    b.size_limit(1 << 20)
        .build()
        .map(|_| ())
        .map_err(|e| format!("invalid regular expression: {e}"))
}

/// Whether `cwd` stays inside the workspace, read lexically (`..` may not
/// climb above the root; an absolute path must lie under `root`). Symlinks
/// are the engine's to check when it starts the service.
pub fn cwd_inside(root: &Path, cwd: &str) -> bool {
    let p = Path::new(cwd);
    let rel = if p.is_absolute() {
        match p.strip_prefix(root) {
            Ok(rel) => rel,
            Err(_) => return false,
        }
    } else {
        p
    };
    let mut depth = 0usize;
    for c in rel.components() {
        match c {
            Component::ParentDir => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            Component::Normal(_) => depth += 1,
            _ => {}
        }
    }
    true
}

/// Parses `sandport.toml`. `root` is the workspace folder (for `cwd`).
pub fn parse_toml(text: &str, root: &Path) -> ServicesFile {
    let idx = LineIndex::new(text);
    let mut file = ServicesFile {
        kind: FileKind::SandportToml,
        services: Vec::new(),
        ports: Vec::new(),
        problems: Vec::new(),
    };
    let doc = match toml_edit::Document::parse(text) {
        Ok(d) => d,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let msg = e.message().trim().to_string();
            file.problems.push(Problem::error(
                format!("TOML syntax error: {msg}"),
                Some(idx.range(span)),
            ));
            return file;
        }
    };
    let root_node = Node::from_toml(doc.as_item());
    let mut r = Reader::new(Some(idx), Naming::Kebab);
    let entries = root_node.entries().unwrap_or(&[]);
    r.check_keys(entries, Ctx::Root, "sandport.toml");
    if let Some(e) = entries.iter().find(|e| e.key == "services") {
        if let Some(list) = r.table(&e.value, "services") {
            for s in list {
                if let Some(def) = read_service(&mut r, s, text, root) {
                    file.services.push(def);
                }
            }
        }
    }
    if let Some(e) = entries.iter().find(|e| e.key == "ports") {
        if let Some(list) = r.table(&e.value, "ports") {
            file.ports = read_port_rules(&mut r, list, "ports");
        }
    }
    check_dependencies(&mut r, &file.services);
    check_exposed_twice(&mut r, &file.services);
    file.problems = r.problems;
    file
}

fn read_service(r: &mut Reader, s: &Entry, text: &str, root: &Path) -> Option<ServiceDef> {
    let path = format!("services.{}", s.key);
    if !valid_service_name(&s.key) {
        r.err(
            format!(
                "invalid service name `{}`: it must match [a-z0-9][a-z0-9-]{{0,62}}",
                s.key
            ),
            &s.key_span,
        );
    }
    let entries = r.table(&s.value, &path)?;
    let mut def = ServiceDef::new(&s.key);
    def.name_range = r.range(&s.key_span);
    let header = s
        .value
        .span
        .clone()
        .filter(|sp| text.get(sp.clone()).is_some_and(|t| t.starts_with('[')));
    def.lens_range = r.range(&header).or(def.name_range);
    r.check_keys(entries, Ctx::Service, &path);
    let mut has_command = false;
    for e in entries {
        match e.key.as_str() {
            "command" => {
                if let Some(c) = r.string(e, &path) {
                    if c.trim().is_empty() {
                        r.err(format!("{path}.command must not be empty"), &e.value.span);
                    }
                    def.command = c;
                }
                has_command = true;
            }
            "cwd" => {
                if let Some(c) = r.string(e, &path) {
                    if !cwd_inside(root, &c) {
                        r.err(
                            format!("{path}.cwd {c:?} lies outside the workspace"),
                            &e.value.span,
                        );
                    }
                    def.cwd = Some(c);
                }
            }
            "env" => {
                if let Some(vars) = r.table(&e.value, &format!("{path}.env")) {
                    for v in vars {
                        if let Some(val) = r.string(v, &format!("{path}.env")) {
                            def.env.insert(v.key.clone(), val);
                        }
                    }
                }
            }
            "depends-on" => def.depends_on = read_depends_on(r, e, &path),
            "ready" => def.ready = read_ready(r, e, &path),
            "expose" => def.expose = read_expose(r, e, &path),
            "health" => {
                if let Some(h) = r.health(e, Ctx::Health, &path) {
                    def.health = ServiceHealth::Set(h);
                }
            }
            "restart" => {
                if let Some(v) = r.choice(e, Ctx::Service, "restart", &path) {
                    def.restart = match v {
                        "on-failure" => Restart::OnFailure,
                        "always" => Restart::Always,
                        _ => Restart::No,
                    };
                }
            }
            "max-restarts" => {
                if let Some(n) = r.int(e, &path, 0, u32::MAX as i64, "a count") {
                    def.max_restarts = n as u32;
                }
            }
            "stop-signal" => {
                if let Some(sig) = r.string(e, &path) {
                    match crate::backend::signal_from_name(&sig) {
                        Some(n) => def.stop_signal = crate::backend::signal_name(n),
                        None => r.err(
                            format!(
                                "{path}.stop-signal: unknown signal {sig:?} (known: {})",
                                schema::SIGNALS.join(", ")
                            ),
                            &e.value.span,
                        ),
                    }
                }
            }
            "stop-grace" => {
                if let Some(ms) = r.duration(e, &path, 0) {
                    def.stop_grace_ms = ms;
                }
            }
            "autostart" => {
                if let Some(b) = r.boolean(e, &path) {
                    def.autostart = b;
                }
            }
            _ => {}
        }
    }
    if !has_command {
        r.err(format!("{path}: `command` is required"), &s.key_span);
    }
    Some(def)
}

fn read_depends_on(r: &mut Reader, e: &Entry, path: &str) -> Vec<Dependency> {
    let p = format!("{path}.depends-on");
    let mut out = Vec::new();
    match &e.value.kind {
        Kind::Array(items) => {
            for it in items {
                match &it.kind {
                    Kind::Str(n) => out.push(Dependency {
                        name: n.clone(),
                        condition: Condition::Ready,
                        range: r.range(&it.span),
                    }),
                    _ => {
                        let found = it.type_name();
                        r.err(
                            format!("{p}: expected a service name, found {found}"),
                            &it.span,
                        );
                    }
                }
            }
        }
        Kind::Table(entries) => {
            for d in entries {
                if let Some(c) = r.one_of(d, schema::CONDITIONS, &p) {
                    out.push(Dependency {
                        name: d.key.clone(),
                        condition: match c {
                            "started" => Condition::Started,
                            "healthy" => Condition::Healthy,
                            "completed" => Condition::Completed,
                            _ => Condition::Ready,
                        },
                        range: r.range(&d.key_span),
                    });
                }
            }
        }
        _ => r.wrong(
            e,
            path,
            "an array of service names or a table name → condition",
        ),
    }
    out
}

fn read_ready(r: &mut Reader, e: &Entry, path: &str) -> Option<Ready> {
    let p = format!("{path}.ready");
    let entries = r.table(&e.value, &p)?;
    let has = |k: &str| entries.iter().any(|x| x.key == k);
    let ctx = match (has("port"), has("log")) {
        (true, true) => {
            r.err(
                format!(
                    "{p}: give either `port` (as waitForPort) or `log` (as waitForLog), not both"
                ),
                &e.value.span,
            );
            return None;
        }
        (false, false) => {
            r.err(
                format!("{p}: needs `port` (as waitForPort) or `log` (as waitForLog)"),
                &e.value.span,
            );
            return None;
        }
        (true, false) => Ctx::ReadyPort,
        (false, true) => Ctx::ReadyLog,
    };
    r.check_keys(entries, ctx, &p);
    let mut timeout_ms = DEFAULT_READY_TIMEOUT_MS;
    if let Some(t) = entries.iter().find(|x| x.key == "timeout") {
        timeout_ms = r.duration(t, &p, 1).unwrap_or(timeout_ms);
    }
    let get = |k: &str| entries.iter().find(|x| x.key == k);
    if ctx == Ctx::ReadyPort {
        let port = r.port(get("port")?, &p, 1);
        let mode = get("mode").and_then(|x| r.choice(x, ctx, "mode", &p).map(mode_of));
        let path_ = get("path").and_then(|x| r.string(x, &p));
        let status = get("status").and_then(|x| r.status(x, &p));
        let interval_ms = get("interval").and_then(|x| r.duration(x, &p, 1));
        Some(Ready::Port {
            port: port?,
            mode,
            path: path_,
            status,
            interval_ms,
            timeout_ms,
        })
    } else {
        let log = get("log")?;
        let pattern = r.string(log, &p);
        if let Some(pat) = &pattern {
            if let Err(why) = check_log_pattern(pat) {
                r.err(format!("{p}.log: {why}"), &log.value.span);
            }
        }
        let stream = match get("stream").and_then(|x| r.choice(x, ctx, "stream", &p)) {
            Some("stdout") => Stream::Stdout,
            Some("stderr") => Stream::Stderr,
            _ => Stream::Both,
        };
        Some(Ready::Log {
            pattern: pattern?,
            stream,
            timeout_ms,
        })
    }
}

fn read_expose(r: &mut Reader, e: &Entry, path: &str) -> Vec<Expose> {
    let p = format!("{path}.expose");
    let one = |r: &mut Reader, n: &Node| -> Option<Expose> {
        if let Kind::Int(_) = n.kind {
            let tmp = Entry {
                key: "port".into(),
                key_span: None,
                value: n.clone(),
            };
            let port = r.port(&tmp, &p, 1024)?;
            return Some(expose_of(port, r.range(&n.span)));
        }
        let entries = match &n.kind {
            Kind::Table(t) => t,
            _ => {
                let found = n.type_name();
                r.err(
                    format!("{p}: expected a port, a table or an array of tables, found {found}"),
                    &n.span,
                );
                return None;
            }
        };
        r.check_keys(entries, Ctx::Expose, &p);
        let Some(pe) = entries.iter().find(|x| x.key == "port") else {
            r.err(format!("{p}: `port` is required"), &n.span);
            return None;
        };
        let port = r.port(pe, &p, 1024);
        let mut x = expose_of(port.unwrap_or(0), r.range(&pe.value.span));
        for f in entries {
            match f.key.as_str() {
                "name" => x.name = r.string(f, &p),
                "ttl" => x.ttl_seconds = r.duration(f, &p, 1),
                "visibility" => {
                    x.visibility = r
                        .choice(f, Ctx::Expose, "visibility", &p)
                        .map(visibility_of)
                }
                "token" => {
                    x.token = r.string(f, &p);
                    if let Some(t) = &x.token {
                        let ok = (1..=16).contains(&t.len())
                            && t.bytes()
                                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_');
                        if !ok {
                            r.err(
                                format!("{p}.token {t:?} must match [a-z0-9_]{{1,16}}"),
                                &f.value.span,
                            );
                        }
                    }
                }
                "inspect" => x.inspect = r.boolean(f, &p),
                "open" => x.open = r.boolean(f, &p).unwrap_or(false),
                _ => {}
            }
        }
        port.map(|_| x)
    };
    match &e.value.kind {
        Kind::Array(items) => items.iter().filter_map(|n| one(r, n)).collect(),
        _ => one(r, &e.value).into_iter().collect(),
    }
}

fn expose_of(port: u16, range: Option<Range>) -> Expose {
    Expose {
        port,
        range,
        name: None,
        ttl_seconds: None,
        visibility: None,
        token: None,
        inspect: None,
        open: false,
    }
}

fn problem_at(r: &mut Reader, msg: String, range: Option<Range>) {
    r.problems.push(Problem::error(msg, range));
}

/// Unknown dependencies, and every cycle: each dependency edge inside a
/// cycle gets a problem naming the services of that cycle in order.
fn check_dependencies(r: &mut Reader, services: &[ServiceDef]) {
    let names: HashMap<&str, usize> = services
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    for s in services {
        for d in &s.depends_on {
            if !names.contains_key(d.name.as_str()) {
                problem_at(
                    r,
                    format!(
                        "services.{}.depends-on: no service named `{}`",
                        s.name, d.name
                    ),
                    d.range,
                );
            }
        }
    }
    let edges = edges(services);
    let comp = components(&edges);
    for (i, s) in services.iter().enumerate() {
        for d in &s.depends_on {
            let Some(&j) = names.get(d.name.as_str()) else {
                continue;
            };
            // The edge lies on a cycle exactly when both ends share a
            // component (an edge to itself included).
            if comp[i] != comp[j] {
                continue;
            }
            // A path back from the dependency to this service closes the cycle.
            let mut cycle = vec![i];
            cycle.extend(path_between(&edges, &comp, j, i));
            let names: Vec<&str> = cycle.iter().map(|&k| services[k].name.as_str()).collect();
            problem_at(
                r,
                format!("dependency cycle: {}", names.join(" → ")),
                d.range,
            );
        }
    }
}

/// `edges[i]`: the indices service `i` depends on (known names only).
fn edges(services: &[ServiceDef]) -> Vec<Vec<usize>> {
    let names: HashMap<&str, usize> = services
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    services
        .iter()
        .map(|s| {
            s.depends_on
                .iter()
                .filter_map(|d| names.get(d.name.as_str()).copied())
                .collect()
        })
        .collect()
}

/// Strongly connected components (Tarjan, iterative): a component id per
/// node. Nodes in one component of two or more, or with an edge to
/// themselves, are in a cycle.
fn components(edges: &[Vec<usize>]) -> Vec<usize> {
    let n = edges.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut comp = vec![usize::MAX; n];
    let mut next = 0;
    let mut ncomp = 0;
    for start in 0..n {
        if index[start] != usize::MAX {
            continue;
        }
        let mut work = vec![(start, 0usize)];
        while let Some(&mut (v, ref mut ei)) = work.last_mut() {
            if *ei == 0 && index[v] == usize::MAX {
                index[v] = next;
                low[v] = next;
                next += 1;
                stack.push(v);
                on_stack[v] = true;
            }
            if let Some(&w) = edges[v].get(*ei) {
                *ei += 1;
                if index[w] == usize::MAX {
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(u, _)) = work.last() {
                low[u] = low[u].min(low[v]);
            }
            if low[v] == index[v] {
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    comp[w] = ncomp;
                    if w == v {
                        break;
                    }
                }
                ncomp += 1;
            }
        }
    }
    comp
}

/// The shortest dependency path from `from` to `to` inside one component,
/// both ends included (`[from]` when they are the same).
fn path_between(edges: &[Vec<usize>], comp: &[usize], from: usize, to: usize) -> Vec<usize> {
    let mut prev = vec![usize::MAX; edges.len()];
    let mut q = VecDeque::from([from]);
    prev[from] = from;
    while let Some(v) = q.pop_front() {
        if v == to {
            break;
        }
        for &w in &edges[v] {
            if prev[w] == usize::MAX && comp[w] == comp[from] {
                prev[w] = v;
                q.push_back(w);
            }
        }
    }
    let mut path = vec![to];
    let mut v = to;
    while v != from && prev[v] != usize::MAX {
        v = prev[v];
        path.push(v);
    }
    path.reverse();
    path
}

fn check_exposed_twice(r: &mut Reader, services: &[ServiceDef]) {
    let mut seen: HashMap<u16, &str> = HashMap::new();
    for s in services {
        for x in &s.expose {
            match seen.get(&x.port) {
                Some(other) if *other == s.name => problem_at(
                    r,
                    format!(
                        "services.{}.expose: port {} is exposed twice",
                        s.name, x.port
                    ),
                    x.range,
                ),
                Some(other) => problem_at(
                    r,
                    format!(
                        "services.{}.expose: port {} is already exposed by service `{other}`",
                        s.name, x.port
                    ),
                    x.range,
                ),
                None => {
                    seen.insert(x.port, &s.name);
                }
            }
        }
    }
}

impl ServicesFile {
    /// No problem is an error.
    pub fn is_valid(&self) -> bool {
        !self
            .problems
            .iter()
            .any(|p| p.severity == super::text::Severity::Error)
    }

    pub fn service(&self, name: &str) -> Option<&ServiceDef> {
        self.services.iter().find(|s| s.name == name)
    }

    /// Every service in dependency order, as layers: each layer depends
    /// only on earlier ones, so the services of one layer may start in
    /// parallel. Services in a cycle, and those depending on them, are left
    /// out (the file then has a problem for each cycle).
    pub fn layers(&self) -> Vec<Vec<&str>> {
        let all: BTreeSet<usize> = (0..self.services.len()).collect();
        self.layers_of(&all)
    }

    /// The layers to start `names` (every service with `autostart` when
    /// empty) and what they depend on, transitively. Err: a name that is
    /// not a service.
    pub fn start_order(&self, names: &[&str]) -> Result<Vec<Vec<&str>>, String> {
        let edges = edges(&self.services);
        let mut want = BTreeSet::new();
        let mut todo: Vec<usize> = if names.is_empty() {
            (0..self.services.len())
                .filter(|&i| self.services[i].autostart)
                .collect()
        } else {
            names
                .iter()
                .map(|n| self.index(n).ok_or_else(|| n.to_string()))
                .collect::<Result<_, _>>()?
        };
        while let Some(i) = todo.pop() {
            if want.insert(i) {
                todo.extend(&edges[i]);
            }
        }
        Ok(self.layers_of(&want))
    }

    /// The order to stop `names` (all when empty): dependents first, as
    /// layers that may stop in parallel. Err: a name that is not a service.
    pub fn stop_order(&self, names: &[&str]) -> Result<Vec<Vec<&str>>, String> {
        let want: BTreeSet<usize> = if names.is_empty() {
            (0..self.services.len()).collect()
        } else {
            names
                .iter()
                .map(|n| self.index(n).ok_or_else(|| n.to_string()))
                .collect::<Result<_, _>>()?
        };
        let mut layers = self.layers_of(&want);
        layers.reverse();
        Ok(layers)
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.services.iter().position(|s| s.name == name)
    }

    /// The layers of the whole file (Kahn's algorithm), keeping `subset`.
    fn layers_of(&self, subset: &BTreeSet<usize>) -> Vec<Vec<&str>> {
        let edges = edges(&self.services);
        let mut placed: BTreeSet<usize> = BTreeSet::new();
        let mut layers = Vec::new();
        loop {
            let layer: Vec<usize> = (0..self.services.len())
                .filter(|i| !placed.contains(i))
                .filter(|&i| edges[i].iter().all(|d| placed.contains(d)))
                .collect();
            if layer.is_empty() {
                break;
            }
            placed.extend(&layer);
            let kept: Vec<&str> = layer
                .iter()
                .filter(|i| subset.contains(i))
                .map(|&i| self.services[i].name.as_str())
                .collect();
            if !kept.is_empty() {
                layers.push(kept);
            }
        }
        layers
    }
}

/// Parses a `Procfile`: `name: command` lines; blank lines and `#` comments
/// are skipped.
pub fn parse_procfile(text: &str) -> ServicesFile {
    let idx = LineIndex::new(text);
    let mut services: Vec<ServiceDef> = Vec::new();
    let mut problems = Vec::new();
    let mut offset = 0;
    for raw in text.split_inclusive('\n') {
        let start = offset;
        offset += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        let lead = line.len() - line.trim_start().len();
        let body = line.trim();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let line_span = start + lead..start + lead + body.len();
        let Some(colon) = body.find(':') else {
            problems.push(Problem::error(
                "Procfile: expected `name: command`",
                Some(idx.range(line_span)),
            ));
            continue;
        };
        let name = body[..colon].trim_end();
        let name_span = start + lead..start + lead + name.len();
        let command = body[colon + 1..].trim();
        if !valid_service_name(name) {
            problems.push(Problem::error(
                format!(
                    "Procfile: invalid service name `{name}`: it must match [a-z0-9][a-z0-9-]{{0,62}}"
                ),
                Some(idx.range(name_span)),
            ));
            continue;
        }
        if command.is_empty() {
            problems.push(Problem::error(
                format!("Procfile: `{name}` has no command"),
                Some(idx.range(line_span)),
            ));
            continue;
        }
        if services.iter().any(|s| s.name == name) {
            problems.push(Problem::error(
                format!("Procfile: `{name}` is defined twice"),
                Some(idx.range(name_span)),
            ));
            continue;
        }
        let mut def = ServiceDef::new(name);
        def.name_range = Some(idx.range(name_span));
        def.lens_range = def.name_range;
        def.command = command.to_string();
        services.push(def);
    }
    ServicesFile {
        kind: FileKind::Procfile,
        services,
        ports: Vec::new(),
        problems,
    }
}

#[cfg(test)]
#[path = "services_tests.rs"]
mod tests;
