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
    // An unset setting may arrive as null.
    let ports = ports.filter(|v| !v.is_null());
    let ports_default = ports_default.filter(|v| !v.is_null());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::read::{HealthSpec, Mode};
    use crate::workspace::services::parse_toml;
    use serde_json::json;
    use std::path::Path;

    #[test]
    fn port_keys() {
        assert_eq!(parse_port_key("5173"), Ok((5173, 5173)));
        assert_eq!(parse_port_key("9000-9100"), Ok((9000, 9100)));
        assert!(parse_port_key("0").is_err());
        assert!(parse_port_key("65536").is_err());
        assert!(parse_port_key("10-5").is_err());
        assert!(parse_port_key("http").is_err());
        assert!(parse_port_key("1-").is_err());
    }

    #[test]
    fn settings_shape_in_camel_case() {
        let (s, problems) = parse_port_settings(
            Some(&json!({
                "5173": {"label": "web", "onDetect": "expose", "visibility": "private"},
                "9000-9100": {"onDetect": "silent", "health": {"path": "/h", "failures": 3}},
                "9229": {"health": false},
            })),
            Some(&json!({"onDetect": "ignore"})),
        );
        assert_eq!(problems, vec![]);
        assert_eq!(s.ports.len(), 3);
        assert_eq!(s.ports[0].attrs.label.as_deref(), Some("web"));
        assert_eq!(s.ports[0].attrs.on_detect, Some(OnDetect::Expose));
        assert_eq!(s.ports[0].attrs.visibility, Some(Visibility::Private));
        assert_eq!(
            s.ports[1].attrs.health,
            Some(Health::Probe(HealthSpec {
                path: Some("/h".into()),
                failures: Some(3),
                ..Default::default()
            }))
        );
        assert_eq!(s.ports[2].attrs.health, Some(Health::Off));
        assert_eq!(s.default.on_detect, Some(OnDetect::Ignore));
    }

    #[test]
    fn unset_settings_are_no_problem() {
        let (s, problems) = parse_port_settings(Some(&json!(null)), None);
        assert_eq!((s, problems), (PortSettings::default(), vec![]));
    }

    #[test]
    fn settings_problems_name_the_key() {
        let (s, problems) = parse_port_settings(
            Some(&json!({
                "5173": {"on-detect": "expose"},
                "abc": {},
                "3000": {"onDetect": "shout", "health": {"port": 1}},
            })),
            Some(&json!("expose")),
        );
        let msgs: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(msgs.len(), 5, "{msgs:#?}");
        let has = |needle: &str| msgs.iter().any(|m| m.contains(needle));
        assert!(
            has("unknown key `on-detect` in ports.\"5173\"") && has("(did you mean `onDetect`?)")
        );
        assert!(has("`abc` is not a port"));
        assert!(has("\"shout\" is not one of"));
        // Port attributes' health has no `port`: the exposure is the port.
        assert!(has("unknown key `port` in ports.\"3000\".health"));
        assert!(has("portsDefault: expected a table"));
        assert!(problems.iter().all(|p| p.range.is_none()));
        assert_eq!(s.ports.len(), 2);
    }

    const DEVCONTAINER: &str = r#"{
  // Comments and trailing commas, as VS Code writes them.
  "name": "app",
  "forwardPorts": [3000, "5173", "localhost:8080", "db:5432",],
  "portsAttributes": {
    "3000": { "label": "API", "onAutoForward": "notify" },
    "5173": { "label": "Web", "onAutoForward": "openBrowser", "protocol": "http" },
    "9000-9010": { "label": "tools", "onAutoForward": "silent" },
    "9005": { "onAutoForward": "ignore" },
    ".+\\/server.js": { "onAutoForward": "openPreview" },
  },
  /* the rest */
  "otherPortsAttributes": { "onAutoForward": "silent" },
}"#;

    #[test]
    fn devcontainer_jsonc() {
        let (dc, problems) = parse_devcontainer(DEVCONTAINER);
        assert_eq!(dc.forward, [3000, 5173, 8080]);
        assert_eq!(dc.rules.len(), 4);
        assert_eq!(dc.rules[1].attrs.on_detect, Some(OnDetect::Expose));
        assert_eq!(dc.rules[1].attrs.open_browser, Some(true));
        assert_eq!(dc.other.on_detect, Some(OnDetect::Silent));
        let msgs: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(msgs.len(), 2, "{msgs:#?}");
        assert!(msgs[0].contains("\"db:5432\""));
        assert!(msgs[1].contains(".+\\\\/server.js") || msgs[1].contains("server.js"));
        assert!(problems
            .iter()
            .all(|p| p.severity == crate::workspace::Severity::Warning));

        for (value, want, open) in [
            ("notify", OnDetect::Notify, None),
            ("openBrowser", OnDetect::Expose, Some(true)),
            ("openBrowserOnce", OnDetect::Expose, Some(true)),
            ("openPreview", OnDetect::Expose, Some(true)),
            ("silent", OnDetect::Silent, None),
            ("ignore", OnDetect::Ignore, None),
        ] {
            let text = format!(r#"{{"otherPortsAttributes": {{"onAutoForward": "{value}"}}}}"#);
            let (dc, problems) = parse_devcontainer(&text);
            assert_eq!(problems, vec![]);
            assert_eq!(
                (dc.other.on_detect, dc.other.open_browser),
                (Some(want), open),
                "{value}"
            );
        }
    }

    #[test]
    fn devcontainer_syntax_error_has_a_range() {
        let (dc, problems) = parse_devcontainer("{\n  \"forwardPorts\": [3000\n  \"x\": 1\n}");
        assert_eq!(dc, DevContainer::default());
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].severity, crate::workspace::Severity::Error);
        assert!(problems[0].range.unwrap().start.line >= 1, "{problems:?}");
    }

    #[test]
    fn resolution_precedence_settings_then_toml_then_devcontainer() {
        let toml = parse_toml(
            r#"[ports]
"3000" = { label = "api (toml)", visibility = "private" }
"9000-9100" = { label = "tools", on-detect = "silent" }
"9229" = { on-detect = "ignore", health = { mode = "tcp", interval = 1000 } }
"#,
            Path::new("/ws"),
        );
        assert_eq!(toml.problems, vec![]);
        let (settings, p) = parse_port_settings(
            Some(&json!({"3000": {"onDetect": "silent"}, "9000-9005": {"label": "narrow"}})),
            Some(&json!({"visibility": "private"})),
        );
        assert_eq!(p, vec![]);
        let (dc, _) = parse_devcontainer(DEVCONTAINER);

        // 3000: onDetect from the settings, label and visibility from the
        // toml (they beat devcontainer's "API" and forwardPorts' expose).
        let r = resolve(3000, &settings, &toml.ports, &dc);
        assert_eq!(r.on_detect, OnDetect::Silent);
        assert_eq!(r.label.as_deref(), Some("api (toml)"));
        assert_eq!(r.visibility, Visibility::Private);

        // 5173: devcontainer only: forwarded, so exposed, browser opened.
        let r = resolve(5173, &settings, &toml.ports, &dc);
        assert_eq!(
            (r.label.as_deref(), r.on_detect, r.open_browser),
            (Some("Web"), OnDetect::Expose, true)
        );
        // portsDefault applies to every port no rule sets the field for.
        assert_eq!(r.visibility, Visibility::Private);

        // 9003: the settings' narrower range gives the label; the toml's
        // wider one the onDetect.
        let r = resolve(9003, &settings, &toml.ports, &dc);
        assert_eq!(
            (r.label.as_deref(), r.on_detect),
            (Some("narrow"), OnDetect::Silent)
        );
        // 9050: toml range label beats devcontainer's.
        let r = resolve(9050, &settings, &toml.ports, &dc);
        assert_eq!(r.label.as_deref(), Some("tools"));

        // 9229: health from the toml.
        let r = resolve(9229, &settings, &toml.ports, &dc);
        assert_eq!(r.on_detect, OnDetect::Ignore);
        assert_eq!(
            r.health,
            Some(Health::Probe(HealthSpec {
                mode: Some(Mode::Tcp),
                interval_ms: Some(1000),
                ..Default::default()
            }))
        );

        // 9005 inside devcontainer's 9000-9010: its exact rule wins there,
        // but the toml's range sets onDetect first.
        let r = resolve(9005, &PortSettings::default(), &toml.ports, &dc);
        assert_eq!(r.on_detect, OnDetect::Silent);
        let r = resolve(9005, &PortSettings::default(), &[], &dc);
        assert_eq!(
            (r.on_detect, r.label.as_deref()),
            (OnDetect::Ignore, Some("tools"))
        );

        // Nothing anywhere: otherPortsAttributes, then the defaults.
        let r = resolve(4444, &PortSettings::default(), &[], &dc);
        assert_eq!(r.on_detect, OnDetect::Silent);
        let r = resolve(
            4444,
            &PortSettings::default(),
            &[],
            &DevContainer::default(),
        );
        assert_eq!(
            r,
            ResolvedPort {
                port: 4444,
                label: None,
                on_detect: OnDetect::Notify,
                visibility: Visibility::Public,
                health: None,
                open_browser: false,
            }
        );
    }
}
