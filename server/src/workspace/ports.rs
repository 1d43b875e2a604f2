//! Port attributes (`{label?, onDetect?, visibility?, health?}`) from their
//! three sources — the `ports` / `portsDefault` settings, `sandport.toml`'s
//! `[ports]`, devcontainer.json — and the resolution of one port's.
//!
//! Resolution, field by field, the first source that sets a field wins:
//! 1. the `ports` setting, 2. `[ports]` of `sandport.toml`, 3. devcontainer
//!    `portsAttributes` (and `forwardPorts`, which makes `onDetect`
//!    `expose`), 4. the `portsDefault` setting, 5. devcontainer
//!    `otherPortsAttributes`, 6. the defaults (`notify`, `public`, the
//!    default TCP probe). Within one source an exact port comes before
//!    ranges, and a narrower range before a wider one.

use super::node::{Entry, Node};
use super::read::{visibility_of, Health, Naming, Reader, Visibility};
use super::schema::Ctx;
use super::text::{LineIndex, Problem, Range};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDetect {
    Notify,
    Expose,
    Silent,
    Ignore,
}

impl OnDetect {
    pub fn parse(s: &str) -> Option<OnDetect> {
        Some(match s {
            "notify" => OnDetect::Notify,
            "expose" => OnDetect::Expose,
            "silent" => OnDetect::Silent,
            "ignore" => OnDetect::Ignore,
            _ => return None,
        })
    }
}

/// The attributes one source gives a port; `None`: this source says nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortAttributes {
    pub label: Option<String>,
    pub on_detect: Option<OnDetect>,
    pub visibility: Option<Visibility>,
    pub health: Option<Health>,
    /// Open the browser when exposed (devcontainer's `openBrowser`…).
    pub open_browser: Option<bool>,
}

impl PortAttributes {
    /// Fills each field still unset from `lower`.
    fn fill(&mut self, lower: &PortAttributes) {
        if self.label.is_none() {
            self.label.clone_from(&lower.label);
        }
        self.on_detect = self.on_detect.or(lower.on_detect);
        self.visibility = self.visibility.or(lower.visibility);
        if self.health.is_none() {
            self.health.clone_from(&lower.health);
        }
        self.open_browser = self.open_browser.or(lower.open_browser);
    }
}

/// Attributes for one port or an inclusive range of ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRule {
    pub start: u16,
    pub end: u16,
    /// The key in the file (`"9000-9100"`), when it has a position.
    pub key_range: Option<Range>,
    pub attrs: PortAttributes,
}

impl PortRule {
    pub fn matches(&self, port: u16) -> bool {
        (self.start..=self.end).contains(&port)
    }
}

/// `"5173"` or `"9000-9100"`, ports 1–65535, A ≤ B.
pub fn parse_port_key(key: &str) -> Result<(u16, u16), String> {
    let one = |s: &str| -> Result<u16, String> {
        match s.trim().parse::<u32>() {
            Ok(p) if (1..=65535).contains(&p) => Ok(p as u16),
            Ok(p) => Err(format!("port {p} is out of range (1–65535)")),
            Err(_) => Err(format!("`{key}` is not a port or a range \"A-B\"")),
        }
    };
    match key.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (one(a)?, one(b)?);
            if a > b {
                return Err(format!("range `{key}` ends before it starts"));
            }
            Ok((a, b))
        }
        None => one(key).map(|p| (p, p)),
    }
}

/// The entries of a `[ports]` table (or the `ports` setting).
pub fn read_port_rules(r: &mut Reader, entries: &[Entry], path: &str) -> Vec<PortRule> {
    let mut out = Vec::new();
    for e in entries {
        let p = format!("{path}.\"{}\"", e.key);
        let (start, end) = match parse_port_key(&e.key) {
            Ok(se) => se,
            Err(why) => {
                r.err(format!("{path}: {why}"), &e.key_span);
                continue;
            }
        };
        if let Some(attrs) = read_attrs(r, &e.value, &p) {
            out.push(PortRule {
                start,
                end,
                key_range: r.range(&e.key_span),
                attrs,
            });
        }
    }
    out
}

fn read_attrs(r: &mut Reader, node: &Node, path: &str) -> Option<PortAttributes> {
    let entries = r.table(node, path)?;
    r.check_keys(entries, Ctx::PortAttrs, path);
    let mut a = PortAttributes::default();
    for e in entries {
        match r.schema_key(Ctx::PortAttrs, &e.key) {
            Some("label") => a.label = r.string(e, path),
            Some("on-detect") => {
                a.on_detect = r
                    .choice(e, Ctx::PortAttrs, "on-detect", path)
                    .and_then(OnDetect::parse)
            }
            Some("visibility") => {
                a.visibility = r
                    .choice(e, Ctx::PortAttrs, "visibility", path)
                    .map(visibility_of)
            }
            Some("health") => a.health = r.health(e, Ctx::PortHealth, path),
            _ => {}
        }
    }
    Some(a)
}

/// The `ports` and `portsDefault` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortSettings {
    pub ports: Vec<PortRule>,
    pub default: PortAttributes,
}

/// Reads the two settings (camelCase keys); problems carry no range and
/// name the key. A setting that is not an object is a problem and ignored.
pub fn parse_port_settings(
    ports: Option<&serde_json::Value>,
    ports_default: Option<&serde_json::Value>,
) -> (PortSettings, Vec<Problem>) {
    let mut r = Reader::new(None, Naming::Camel);
    let mut s = PortSettings::default();
    if let Some(v) = ports {
        let n = Node::from_json(v);
        if let Some(entries) = r.table(&n, "ports") {
            s.ports = read_port_rules(&mut r, entries, "ports");
        }
    }
    if let Some(v) = ports_default {
        let n = Node::from_json(v);
        s.default = read_attrs(&mut r, &n, "portsDefault").unwrap_or_default();
    }
    (s, r.problems)
}

/// What devcontainer.json says about ports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DevContainer {
    /// `forwardPorts` (numbers, `"N"` or `"localhost:N"`).
    pub forward: Vec<u16>,
    /// `portsAttributes`.
    pub rules: Vec<PortRule>,
    /// `otherPortsAttributes`.
    pub other: PortAttributes,
}

/// The devcontainer.json paths, in the order they are looked for.
pub const DEVCONTAINER_PATHS: &[&str] = &[".devcontainer/devcontainer.json", ".devcontainer.json"];

/// Parses devcontainer.json (JSON with comments and trailing commas).
/// Only the port keys are read; anything of them this server cannot use
/// (a process-name pattern as a `portsAttributes` key, another host in
/// `forwardPorts`) is a warning and skipped.
pub fn parse_devcontainer(text: &str) -> (DevContainer, Vec<Problem>) {
    let mut dc = DevContainer::default();
    let mut problems = Vec::new();
    let value: serde_json::Value =
        match jsonc_parser::parse_to_serde_value(text, &jsonc_parser::ParseOptions::default()) {
            Ok(v) => v,
            Err(e) => {
                let r = e.range();
                let idx = LineIndex::new(text);
                problems.push(Problem::error(
                    format!("devcontainer.json: {}", e.kind()),
                    Some(idx.range(r.start..r.end)),
                ));
                return (dc, problems);
            }
        };
    let warn = |problems: &mut Vec<Problem>, m: String| {
        problems.push(Problem::warning(format!("devcontainer.json: {m}"), None))
    };
    let Some(obj) = value.as_object() else {
        if !value.is_null() {
            warn(&mut problems, "expected an object".into());
        }
        return (dc, problems);
    };
    if let Some(f) = obj.get("forwardPorts") {
        for v in f.as_array().map(Vec::as_slice).unwrap_or_default() {
            let port = match v {
                serde_json::Value::Number(n) => n.as_u64(),
                serde_json::Value::String(s) => match s.rsplit_once(':') {
                    Some((host, p)) if host == "localhost" || host == "127.0.0.1" => p.parse().ok(),
                    Some(_) => None,
                    None => s.parse().ok(),
                },
                _ => None,
            };
            match port.filter(|p| (1..=65535).contains(p)) {
                Some(p) => dc.forward.push(p as u16),
                None => warn(&mut problems, format!("forwardPorts entry {v} is skipped")),
            }
        }
    }
    if let Some(pa) = obj.get("portsAttributes").and_then(|v| v.as_object()) {
        for (key, v) in pa {
            match parse_port_key(key) {
                Ok((start, end)) => dc.rules.push(PortRule {
                    start,
                    end,
                    key_range: None,
                    attrs: devcontainer_attrs(v, key, &mut problems),
                }),
                Err(_) => warn(
                    &mut problems,
                    format!("portsAttributes key {key:?} is not a port or a range: skipped"),
                ),
            }
        }
    }
    if let Some(v) = obj.get("otherPortsAttributes") {
        dc.other = devcontainer_attrs(v, "otherPortsAttributes", &mut problems);
    }
    (dc, problems)
}

/// `label` and `onAutoForward` (`notify`→notify, `openBrowser`,
/// `openBrowserOnce`, `openPreview`→expose with the browser opened,
/// `silent`→silent, `ignore`→ignore); other keys belong to other tools.
fn devcontainer_attrs(
    v: &serde_json::Value,
    at: &str,
    problems: &mut Vec<Problem>,
) -> PortAttributes {
    let mut a = PortAttributes::default();
    match v.get("label") {
        Some(serde_json::Value::String(l)) => a.label = Some(l.clone()),
        Some(other) => problems.push(Problem::warning(
            format!("devcontainer.json: {at}.label {other} is not a string: skipped"),
            None,
        )),
        None => {}
    }
    if let Some(f) = v.get("onAutoForward") {
        let (on, open) = match f.as_str() {
            Some("notify") => (Some(OnDetect::Notify), None),
            Some("openBrowser" | "openBrowserOnce" | "openPreview") => {
                (Some(OnDetect::Expose), Some(true))
            }
            Some("silent") => (Some(OnDetect::Silent), None),
            Some("ignore") => (Some(OnDetect::Ignore), None),
            _ => {
                problems.push(Problem::warning(
                    format!("devcontainer.json: {at}.onAutoForward {f} is not known: skipped"),
                    None,
                ));
                (None, None)
            }
        };
        a.on_detect = on;
        a.open_browser = open;
    }
    a
}

/// One port's attributes after resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedPort {
    pub port: u16,
    pub label: Option<String>,
    pub on_detect: OnDetect,
    pub visibility: Visibility,
    /// `None`: the default probe (TCP every 5000 ms, 2 failures).
    pub health: Option<Health>,
    pub open_browser: bool,
}

/// The rules of one source that match `port`, most specific first.
fn matching(rules: &[PortRule], port: u16) -> Vec<&PortRule> {
    let mut m: Vec<&PortRule> = rules.iter().filter(|r| r.matches(port)).collect();
    m.sort_by_key(|r| r.end - r.start);
    m
}

pub fn resolve(
    port: u16,
    settings: &PortSettings,
    toml: &[PortRule],
    devcontainer: &DevContainer,
) -> ResolvedPort {
    let mut a = PortAttributes::default();
    for rule in matching(&settings.ports, port)
        .into_iter()
        .chain(matching(toml, port))
    {
        a.fill(&rule.attrs);
    }
    let mut dc = PortAttributes::default();
    if devcontainer.forward.contains(&port) {
        dc.on_detect = Some(OnDetect::Expose);
    }
    for rule in matching(&devcontainer.rules, port) {
        dc.fill(&rule.attrs);
    }
    a.fill(&dc);
    a.fill(&settings.default);
    a.fill(&devcontainer.other);
    ResolvedPort {
        port,
        label: a.label,
        on_detect: a.on_detect.unwrap_or(OnDetect::Notify),
        visibility: a.visibility.unwrap_or(Visibility::Public),
        health: a.health,
        open_browser: a.open_browser.unwrap_or(false),
    }
}
