//! `sandport.toml` as a language: diagnostics, completion, hover and the
//! code-lens anchors, as pure functions of the file's text.
//!
//! Completion and hover must work on a file that is being typed (and so is
//! often not valid TOML): they follow the events of `toml_parser`'s
//! error-recovering parser, not the typed parse.

use super::schema::{self, Ctx, KeyDoc};
use super::services::{self, ServicesFile};
use super::text::{LineIndex, Pos, Problem, Range};
use std::path::Path;
use toml_parser::parser::{Event, EventKind};

/// Diagnostics of `sandport.toml`: its problems.
pub fn diagnostics(text: &str, root: &Path) -> Vec<Problem> {
    services::parse_toml(text, root).problems
}

/// Diagnostics of a `Procfile`.
pub fn procfile_diagnostics(text: &str) -> Vec<Problem> {
    services::parse_procfile(text).problems
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompletionKind {
    Key,
    Value,
    Service,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub label: String,
    pub kind: CompletionKind,
    /// The key's type, or what a value means.
    pub detail: String,
    pub documentation: String,
    /// Replaces `replace` (the partly typed word at the cursor, or an empty
    /// range at the cursor).
    pub insert: String,
    pub replace: Range,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hover {
    /// Markdown.
    pub text: String,
    pub range: Range,
}

/// Where a code lens goes: a `[services.NAME]` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LensAnchor {
    pub service: String,
    pub range: Range,
}

/// The event stream of `text`, without the zero-width events the parser
/// invents while recovering.
fn events(text: &str) -> Vec<Event> {
    let source = toml_parser::Source::new(text);
    let tokens = source.lex().into_vec();
    let mut out = Vec::new();
    let mut errors: Vec<toml_parser::ParseError> = Vec::new();
    toml_parser::parser::parse_document(&tokens, &mut |e: Event| out.push(e), &mut errors);
    out.retain(|e| !e.span().is_empty());
    out
}

fn key_text(raw: &str) -> String {
    let t = raw.trim();
    for q in ['"', '\''] {
        if let Some(inner) = t.strip_prefix(q) {
            return inner.strip_suffix(q).unwrap_or(inner).to_string();
        }
    }
    t.to_string()
}

enum Frame {
    Inline(Vec<String>),
    Array(Vec<String>),
}

/// Follows the events and knows, at each, which table path it is in.
#[derive(Default)]
struct Walker {
    header: Vec<String>,
    /// Keys of a `[header]` being read, and where it started.
    in_header: Option<(Vec<String>, usize, bool)>,
    stack: Vec<Frame>,
    keys: Vec<String>,
    after_eq: bool,
    lenses: Vec<(String, std::ops::Range<usize>)>,
    services: Vec<String>,
}

impl Walker {
    fn container(&self) -> Vec<String> {
        match self.stack.last() {
            Some(Frame::Inline(base)) | Some(Frame::Array(base)) => base.clone(),
            None => self.header.clone(),
        }
    }

    fn in_array(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Array(_)))
    }

    /// The path of the value being read.
    fn value_path(&self) -> Vec<String> {
        let mut p = self.container();
        if !self.in_array() {
            p.extend(self.keys.iter().cloned());
        }
        p
    }

    fn note_service(&mut self, path: &[String]) {
        if path.len() >= 2 && path[0] == "services" && !self.services.contains(&path[1]) {
            self.services.push(path[1].clone());
        }
    }

    fn step(&mut self, text: &str, e: &Event) {
        let span = e.span();
        let raw = &text[span.start()..span.end()];
        match e.kind() {
            EventKind::StdTableOpen | EventKind::ArrayTableOpen => {
                let std = e.kind() == EventKind::StdTableOpen;
                self.in_header = Some((Vec::new(), span.start(), std));
                self.stack.clear();
                self.keys.clear();
                self.after_eq = false;
            }
            EventKind::StdTableClose | EventKind::ArrayTableClose => {
                if let Some((keys, start, std)) = self.in_header.take() {
                    if std && keys.len() == 2 && keys[0] == "services" {
                        self.lenses.push((keys[1].clone(), start..span.end()));
                    }
                    self.note_service(&keys);
                    self.header = keys;
                }
            }
            EventKind::SimpleKey => {
                let k = key_text(raw);
                if let Some((keys, _, _)) = &mut self.in_header {
                    keys.push(k);
                } else {
                    self.keys.push(k);
                    let mut p = self.container();
                    p.extend(self.keys.iter().cloned());
                    self.note_service(&p);
                }
            }
            EventKind::KeyValSep => self.after_eq = true,
            EventKind::InlineTableOpen => {
                let base = self.value_path();
                self.stack.push(Frame::Inline(base));
                self.keys.clear();
                self.after_eq = false;
            }
            EventKind::ArrayOpen => {
                let base = self.value_path();
                self.stack.push(Frame::Array(base));
                self.keys.clear();
                self.after_eq = false;
            }
            EventKind::InlineTableClose | EventKind::ArrayClose => {
                self.stack.pop();
                self.keys.clear();
                // The value is complete: a `,`, `}` or newline comes next.
                self.after_eq = false;
            }
            EventKind::ValueSep if !self.in_array() => {
                self.keys.clear();
                self.after_eq = false;
            }
            EventKind::Newline if self.stack.is_empty() => {
                self.keys.clear();
                self.after_eq = false;
            }
            _ => {}
        }
    }
}

/// The schema contexts of the table at `path`.
fn ctxs_of(path: &[String]) -> &'static [Ctx] {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    match p.as_slice() {
        [] => &[Ctx::Root],
        ["services", _] => &[Ctx::Service],
        ["services", _, "ready"] => &[Ctx::ReadyPort, Ctx::ReadyLog],
        ["services", _, "expose"] => &[Ctx::Expose],
        ["services", _, "health"] => &[Ctx::Health],
        ["ports", _] => &[Ctx::PortAttrs],
        ["ports", _, "health"] => &[Ctx::PortHealth],
        _ => &[],
    }
}

fn key_docs(path: &[String]) -> Vec<&'static KeyDoc> {
    let mut out: Vec<&'static KeyDoc> = Vec::new();
    for &ctx in ctxs_of(path) {
        for k in schema::keys(ctx) {
            if !out.iter().any(|o| o.key == k.key) {
                out.push(k);
            }
        }
    }
    out
}

/// Completions at `pos`.
pub fn complete(text: &str, pos: Pos) -> Vec<Completion> {
    let idx = LineIndex::new(text);
    let offset = idx.offset(pos);
    let before = &text[..offset];
    let mut evs = events(before);
    // The word being typed, if the cursor touches one.
    let partial = match evs.last() {
        Some(e)
            if e.span().end() == offset
                && matches!(e.kind(), EventKind::SimpleKey | EventKind::Scalar) =>
        {
            evs.pop()
        }
        _ => None,
    };
    let mut w = Walker::default();
    for e in &evs {
        w.step(before, e);
    }
    if w.in_header.is_some() {
        return Vec::new();
    }
    let mut replace = Range {
        start: pos,
        end: pos,
    };
    let mut quoted = false;
    if let Some(p) = &partial {
        replace.start = idx.pos(p.span().start());
        let typed = &before[p.span().start()..];
        quoted = typed.starts_with('"') || typed.starts_with('\'');
        if quoted && text[offset..].starts_with(&typed[..1]) {
            replace.end = idx.pos(offset + 1);
        }
    }
    let is_key = match &partial {
        Some(p) => p.kind() == EventKind::SimpleKey,
        None => !w.after_eq && !w.in_array(),
    };
    let mut all = Walker::default();
    for e in &events(text) {
        all.step(text, e);
    }
    let services = all.services;
    let mut out = Vec::new();
    let string = |s: &str| format!("\"{s}\"");
    if is_key {
        let path = {
            let mut p = w.container();
            p.extend(w.keys.iter().cloned());
            p
        };
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        if let ["services", me, "depends-on"] = p.as_slice() {
            for s in services.iter().filter(|s| s != me) {
                out.push(Completion {
                    label: s.clone(),
                    kind: CompletionKind::Service,
                    detail: "service".into(),
                    documentation: String::new(),
                    insert: format!("{s} = \"ready\""),
                    replace,
                });
            }
            return out;
        }
        for k in key_docs(&path) {
            out.push(Completion {
                label: k.key.to_string(),
                kind: CompletionKind::Key,
                detail: k.ty.to_string(),
                documentation: schema::hover_text(k),
                insert: format!("{} = ", k.key),
                replace,
            });
        }
        return out;
    }
    let path = w.value_path();
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    let values: Vec<(String, String, String)> = match p.as_slice() {
        ["services", me, "depends-on"] => services
            .iter()
            .filter(|s| s != me)
            .map(|s| (s.clone(), "service".to_string(), string(s)))
            .collect(),
        ["services", _, "depends-on", _] => schema::CONDITIONS
            .iter()
            .map(|c| {
                (
                    c.to_string(),
                    schema::condition_doc(c).to_string(),
                    string(c),
                )
            })
            .collect(),
        [table @ .., key] => {
            let table: Vec<String> = table.iter().map(|s| s.to_string()).collect();
            match key_docs(&table).into_iter().find(|k| k.key == *key) {
                Some(k) if !k.values.is_empty() && *key != "depends-on" => k
                    .values
                    .iter()
                    .map(|v| (v.to_string(), k.doc.to_string(), string(v)))
                    .collect(),
                Some(k) if k.ty == "bool" => ["true", "false"]
                    .iter()
                    .filter(|_| !quoted)
                    .map(|v| (v.to_string(), k.doc.to_string(), v.to_string()))
                    .collect(),
                _ => Vec::new(),
            }
        }
        [] => Vec::new(),
    };
    let kind = if p.len() == 3 && p[2] == "depends-on" {
        CompletionKind::Service
    } else {
        CompletionKind::Value
    };
    for (label, doc, insert) in values {
        out.push(Completion {
            label,
            kind,
            detail: String::new(),
            documentation: doc,
            insert,
            replace,
        });
    }
    out
}

/// The hover of the key at `pos`: its type, default and meaning.
pub fn hover(text: &str, pos: Pos) -> Option<Hover> {
    let idx = LineIndex::new(text);
    let offset = idx.offset(pos);
    let mut w = Walker::default();
    for e in &events(text) {
        let span = e.span();
        let on_key = e.kind() == EventKind::SimpleKey
            && span.start() <= offset
            && offset < span.end().max(span.start() + 1);
        if !on_key {
            w.step(text, e);
            continue;
        }
        let key = key_text(&text[span.start()..span.end()]);
        let mut path = match &w.in_header {
            Some((keys, _, _)) => keys.clone(),
            None => {
                let mut p = w.container();
                p.extend(w.keys.iter().cloned());
                p
            }
        };
        path.push(key.clone());
        let range = idx.range(span.start()..span.end());
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        let text = match p.as_slice() {
            ["services", name] => format!(
                "**service `{name}`**\n\nStarted by `up`; its keys: {}.",
                schema::keys(Ctx::Service)
                    .map(|k| format!("`{}`", k.key))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ["services", me, "depends-on", dep] => format!(
                "**dependency `{dep}`**\n\n`{me}` starts once `{dep}` meets the condition: {}.",
                schema::CONDITIONS
                    .iter()
                    .map(|c| format!("`{c}`: {}", schema::condition_doc(c)))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            ["ports", port] => format!(
                "**port attributes `{port}`**\n\nFor a port or a range `A-B`: {}.",
                schema::keys(Ctx::PortAttrs)
                    .map(|k| format!("`{}`", k.key))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            [table @ .., _] => {
                let table: Vec<String> = table.iter().map(|s| s.to_string()).collect();
                let k = key_docs(&table).into_iter().find(|k| k.key == key)?;
                schema::hover_text(k)
            }
            [] => return None,
        };
        return Some(Hover { text, range });
    }
    None
}

/// The range of each `[services.NAME]` header, for the code lenses (found
/// even while the file has syntax errors elsewhere).
pub fn lens_anchors(text: &str) -> Vec<LensAnchor> {
    let idx = LineIndex::new(text);
    let mut w = Walker::default();
    for e in &events(text) {
        w.step(text, e);
    }
    w.lenses
        .into_iter()
        .map(|(service, span)| LensAnchor {
            service,
            range: idx.range(span),
        })
        .collect()
}

/// Lens anchors of a parsed file (a `Procfile` has one per line).
pub fn file_lens_anchors(file: &ServicesFile) -> Vec<LensAnchor> {
    file.services
        .iter()
        .filter_map(|s| {
            Some(LensAnchor {
                service: s.name.clone(),
                range: s.lens_range?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` with the cursor at `|`.
    fn at(marked: &str) -> (String, Pos) {
        let off = marked.find('|').expect("cursor");
        let text = marked.replacen('|', "", 1);
        let pos = LineIndex::new(&text).pos(off);
        (text, pos)
    }

    fn labels(marked: &str) -> Vec<String> {
        let (text, pos) = at(marked);
        complete(&text, pos).into_iter().map(|c| c.label).collect()
    }

    const FILE: &str = "[services.db]\ncommand = \"redis-server\"\n\n[services.api]\ncommand = \"python3 api.py\"\n";

    #[test]
    fn service_keys_at_the_start_of_a_line() {
        let got = labels(&format!("{FILE}|"));
        for k in [
            "command",
            "cwd",
            "env",
            "depends-on",
            "ready",
            "expose",
            "health",
            "restart",
            "max-restarts",
            "stop-signal",
            "stop-grace",
            "autostart",
        ] {
            assert!(got.contains(&k.to_string()), "{k} in {got:?}");
        }
        assert_eq!(got.len(), 12);
        // A partly typed key: the same list, replacing the typed word.
        let (text, pos) = at(&format!("{FILE}res|"));
        let c = complete(&text, pos);
        assert!(c
            .iter()
            .any(|c| c.label == "restart" && c.insert == "restart = "));
        assert_eq!(
            c[0].replace.start,
            Pos {
                line: 5,
                character: 0
            }
        );
        assert_eq!(c[0].replace.end, pos);
        assert!(c.iter().all(|c| c.kind == CompletionKind::Key));
        assert!(c[0].documentation.contains("Shell line"));
    }

    #[test]
    fn top_level_and_ports_keys() {
        assert_eq!(labels("|"), ["services", "ports"]);
        assert_eq!(
            labels("[ports]\n\"3000\" = { |"),
            ["label", "on-detect", "visibility", "health"]
        );
        assert_eq!(
            labels("[ports]\n\"3000\" = { health = { |"),
            ["mode", "path", "status", "interval", "failures"]
        );
        assert_eq!(
            labels("[services.a]\nhealth = { |")
                .first()
                .map(String::as_str),
            Some("port")
        );
    }

    #[test]
    fn keys_inside_ready_and_expose() {
        let got = labels(&format!("{FILE}ready = {{ port = 3000, mo|"));
        assert_eq!(
            got,
            ["port", "mode", "path", "status", "interval", "timeout", "log", "stream"]
        );
        let got = labels(&format!("{FILE}expose = [{{ port = 3000 }}, {{ |"));
        assert_eq!(
            got,
            [
                "port",
                "name",
                "ttl",
                "visibility",
                "token",
                "inspect",
                "open"
            ]
        );
        // Dotted keys and sub-tables reach the same tables.
        assert!(labels(&format!("{FILE}ready.|")).contains(&"log".to_string()));
        assert!(labels("[services.a.expose]\n|").contains(&"token".to_string()));
        // Inside env: nothing to suggest.
        assert_eq!(labels(&format!("{FILE}env = {{ |")), Vec::<String>::new());
    }

    #[test]
    fn enum_values() {
        assert_eq!(
            labels(&format!("{FILE}restart = |")),
            ["no", "on-failure", "always"]
        );
        let (text, pos) = at(&format!("{FILE}restart = \"on-|\""));
        let c = complete(&text, pos);
        assert_eq!(c.len(), 3);
        let on = c.iter().find(|c| c.label == "on-failure").unwrap();
        assert_eq!(on.insert, "\"on-failure\"");
        // The replaced range takes the quotes on both sides.
        let idx = LineIndex::new(&text);
        assert_eq!(
            &text[idx.offset(on.replace.start)..idx.offset(on.replace.end)],
            "\"on-\""
        );
        assert_eq!(
            labels(&format!("{FILE}ready = {{ port = 1, mode = |")),
            ["http", "tcp"]
        );
        assert_eq!(
            labels(&format!("{FILE}ready = {{ log = \"x\", stream = |")),
            ["stdout", "stderr", "both"]
        );
        assert_eq!(
            labels(&format!("{FILE}expose = {{ port = 3000, visibility = |")),
            ["public", "private"]
        );
        assert_eq!(
            labels("[ports]\n\"9229\" = { on-detect = |"),
            ["notify", "expose", "silent", "ignore"]
        );
        assert_eq!(
            labels("[ports.\"9229\"]\nvisibility = |"),
            ["public", "private"]
        );
        assert_eq!(labels(&format!("{FILE}autostart = |")), ["true", "false"]);
        assert!(labels(&format!("{FILE}stop-signal = |")).contains(&"SIGINT".to_string()));
        // A value with no fixed set: nothing.
        assert_eq!(labels(&format!("{FILE}command = |")), Vec::<String>::new());
    }

    #[test]
    fn dependency_names_and_conditions() {
        let text = format!("{FILE}depends-on = [|]\n\n[services.web]\ncommand = \"x\"\n");
        assert_eq!(labels(&text), ["db", "web"]);
        let text =
            format!("{FILE}depends-on = [\"db\", \"w|\"]\n[services.web]\ncommand = \"x\"\n");
        let (t, pos) = at(&text);
        let c = complete(&t, pos);
        assert_eq!(
            c.iter().map(|c| c.insert.as_str()).collect::<Vec<_>>(),
            ["\"db\"", "\"web\""]
        );
        assert!(c.iter().all(|c| c.kind == CompletionKind::Service));
        // Multi-line arrays too.
        assert_eq!(
            labels(&format!("{FILE}depends-on = [\n  \"db\",\n  |\n]")),
            ["db"]
        );
        // Table form: names as keys, then the four conditions.
        let (t, pos) = at(&format!("{FILE}depends-on = {{ |"));
        let c = complete(&t, pos);
        assert_eq!(
            c.iter().map(|c| c.insert.as_str()).collect::<Vec<_>>(),
            ["db = \"ready\""]
        );
        assert_eq!(
            labels(&format!("{FILE}depends-on = {{ db = |")),
            ["started", "ready", "healthy", "completed"]
        );
    }

    #[test]
    fn no_completion_inside_a_header() {
        assert_eq!(labels("[services.|"), Vec::<String>::new());
    }

    #[test]
    fn hover_on_each_kind_of_key() {
        let text = "[services.api]\ncommand = \"x\"\nready = { log = \"up\", stream = \"stderr\" }\ndepends-on = { db = \"completed\" }\nexpose.port = 3000\n[services.db]\ncommand = \"y\"\n[ports]\n\"9229\" = { on-detect = \"ignore\", health = { failures = 3 } }\n";
        let hover_of = |needle: &str, nth: usize| -> Hover {
            let off = text.match_indices(needle).nth(nth).unwrap().0 + 1;
            hover(text, LineIndex::new(text).pos(off)).unwrap_or_else(|| panic!("{needle}"))
        };
        let h = hover_of("command", 0);
        assert!(
            h.text.contains("**command**") && h.text.contains("Shell line"),
            "{}",
            h.text
        );
        assert_eq!(
            h.range.start,
            Pos {
                line: 1,
                character: 0
            }
        );
        assert_eq!(
            h.range.end,
            Pos {
                line: 1,
                character: 7
            }
        );
        assert!(hover_of("stream", 0).text.contains("Which output"));
        assert!(hover_of("log", 0).text.contains("/re/flags"));
        let h = hover_of("db =", 0);
        assert!(h.text.contains("dependency `db`") && h.text.contains("exited with status 0"));
        assert!(
            hover_of("port =", 0).text.contains("1024–65535"),
            "{}",
            hover_of("port =", 0).text
        );
        assert!(hover_of("api]", 0).text.contains("service `api`"));
        assert!(hover_of("services", 0).text.contains("**services**"));
        assert!(hover_of("on-detect", 0).text.contains("starts listening"));
        assert!(hover_of("failures", 0).text.contains("Consecutive"));
        assert!(hover_of("\"9229\"", 0)
            .text
            .contains("port attributes `9229`"));
        // Not on a key: none.
        let off = text.find("\"up\"").unwrap() + 1;
        assert_eq!(hover(text, LineIndex::new(text).pos(off)), None);
        // Every key of the schema has hover text in its place.
        for k in schema::SCHEMA {
            assert!(
                !k.doc.is_empty() && !k.ty.is_empty() && !k.default.is_empty(),
                "{}",
                k.key
            );
        }
    }

    #[test]
    fn hover_works_while_the_file_is_broken() {
        let text = "[services.api]\nrestart = \nmax-restarts = 3\n";
        let off = text.find("max").unwrap();
        let h = hover(text, LineIndex::new(text).pos(off)).unwrap();
        assert!(h.text.contains("restarts in a row"));
    }

    #[test]
    fn lens_anchors_are_the_service_headers() {
        let text = "# services\n[services.db]\ncommand = \"x\"\n\n  [ services.\"api\" ]  # comment\ncommand = \"y\"\n[services.api.env]\nA = \"1\"\n[ports]\n";
        let a = lens_anchors(text);
        assert_eq!(
            a,
            [
                LensAnchor {
                    service: "db".into(),
                    range: Range {
                        start: Pos {
                            line: 1,
                            character: 0
                        },
                        end: Pos {
                            line: 1,
                            character: 13
                        }
                    }
                },
                LensAnchor {
                    service: "api".into(),
                    range: Range {
                        start: Pos {
                            line: 4,
                            character: 2
                        },
                        end: Pos {
                            line: 4,
                            character: 20
                        }
                    }
                },
            ]
        );
        // Still found with a syntax error below them.
        let broken = format!("{text}oops = \n");
        assert_eq!(lens_anchors(&broken).len(), 2);
        let parsed = services::parse_toml(text, Path::new("/ws"));
        let from_file: Vec<_> = file_lens_anchors(&parsed)
            .into_iter()
            .map(|a| a.range)
            .collect();
        assert_eq!(from_file, a.iter().map(|a| a.range).collect::<Vec<_>>());
    }

    #[test]
    fn diagnostics_cover_the_issue_s_four_cases() {
        let text = r#"[services.db]
command = "redis-server"
colour = "blue"

[services.api]
command = "python3 api.py"
depends-on = ["web"]
ready = { log = '/listening on (\d+/' }
expose = 99999

[services.web]
command = "npm run dev"
depends-on = ["api"]
"#;
        let d = diagnostics(text, Path::new("/ws"));
        let mut lines: Vec<u32> = d.iter().map(|p| p.range.unwrap().start.line).collect();
        lines.sort();
        assert_eq!(lines, [2, 6, 7, 8, 12], "{d:#?}");
        assert_eq!(
            procfile_diagnostics("web python3\n")[0]
                .range
                .unwrap()
                .start
                .line,
            0
        );
    }
}
