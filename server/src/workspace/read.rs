//! Typed reading of a [`Node`] tree against the [schema](super::schema),
//! collecting every problem with the range of the key or value concerned.

use super::node::{Entry, Kind, Node};
use super::schema::{self, Ctx};
use super::text::{LineIndex, Problem, Range};
use std::ops::Range as Span;

/// How keys are spelt in the source: kebab-case in TOML, camelCase in the
/// editor's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    Kebab,
    Camel,
}

pub struct Reader<'t> {
    pub idx: Option<LineIndex<'t>>,
    pub naming: Naming,
    pub problems: Vec<Problem>,
}

/// `status = 200` or `status = {min, max}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRange {
    pub min: u16,
    pub max: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Http,
    Tcp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    Public,
    Private,
}

/// A health probe as the protocol's Health; `None` fields take the
/// protocol's defaults (TCP, or HTTP with a path; every 5000 ms; 2 failures).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthSpec {
    pub port: Option<u16>,
    pub mode: Option<Mode>,
    pub path: Option<String>,
    pub status: Option<StatusRange>,
    pub interval_ms: Option<u64>,
    pub failures: Option<u32>,
}

/// `health = {…}` or `health = false`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Off,
    Probe(HealthSpec),
}

/// A key without case and separators, to suggest `on-detect` for `onDetect`.
fn loose(k: &str) -> String {
    k.chars()
        .filter(|c| *c != '-' && *c != '_')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

pub fn mode_of(s: &str) -> Mode {
    if s == "tcp" {
        Mode::Tcp
    } else {
        Mode::Http
    }
}

pub fn visibility_of(s: &str) -> Visibility {
    if s == "private" {
        Visibility::Private
    } else {
        Visibility::Public
    }
}

impl<'t> Reader<'t> {
    pub fn new(idx: Option<LineIndex<'t>>, naming: Naming) -> Reader<'t> {
        Reader {
            idx,
            naming,
            problems: Vec::new(),
        }
    }

    pub fn range(&self, span: &Option<Span<usize>>) -> Option<Range> {
        Some(self.idx.as_ref()?.range(span.clone()?))
    }

    pub fn err(&mut self, msg: impl Into<String>, span: &Option<Span<usize>>) {
        let r = self.range(span);
        self.problems.push(Problem::error(msg, r));
    }

    /// A key as this source spells it.
    pub fn spell(&self, key: &str) -> String {
        match self.naming {
            Naming::Kebab => key.to_string(),
            Naming::Camel => schema::camel(key),
        }
    }

    /// The entry of `key` (schema spelling) in a table.
    pub fn get<'n>(&self, entries: &'n [Entry], key: &str) -> Option<&'n Entry> {
        let k = self.spell(key);
        entries.iter().find(|e| e.key == k)
    }

    pub fn table<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n [Entry]> {
        match &node.kind {
            Kind::Table(e) => Some(e),
            _ => {
                let found = node.type_name();
                self.err(
                    format!("{path}: expected a table, found {found}"),
                    &node.span,
                );
                None
            }
        }
    }

    /// Reports every key of `entries` that `ctx` does not know (`allowed`
    /// narrows it further, for the two forms of `ready`).
    pub fn check_keys(&mut self, entries: &[Entry], ctx: Ctx, path: &str) {
        for e in entries {
            if schema::keys(ctx).any(|k| self.spell(k.key) == e.key) {
                continue;
            }
            let known: Vec<String> = schema::keys(ctx).map(|k| self.spell(k.key)).collect();
            let hint = known
                .iter()
                .find(|k| loose(k) == loose(&e.key))
                .map(|k| format!(" (did you mean `{k}`?)"))
                .unwrap_or_default();
            self.err(
                format!(
                    "unknown key `{}` in {path}{hint}; known keys: {}",
                    e.key,
                    known.join(", ")
                ),
                &e.key_span,
            );
        }
    }

    pub fn string(&mut self, e: &Entry, path: &str) -> Option<String> {
        match &e.value.kind {
            Kind::Str(s) => Some(s.clone()),
            _ => {
                self.wrong(e, path, "a string");
                None
            }
        }
    }

    pub fn boolean(&mut self, e: &Entry, path: &str) -> Option<bool> {
        match &e.value.kind {
            Kind::Bool(b) => Some(*b),
            _ => {
                self.wrong(e, path, "true or false");
                None
            }
        }
    }

    pub fn wrong(&mut self, e: &Entry, path: &str, expected: &str) {
        let found = e.value.type_name();
        self.err(
            format!("{path}.{}: expected {expected}, found {found}", e.key),
            &e.value.span,
        );
    }

    /// An integer in `min..=max`.
    pub fn int(&mut self, e: &Entry, path: &str, min: i64, max: i64, what: &str) -> Option<i64> {
        match &e.value.kind {
            Kind::Int(i) if (min..=max).contains(i) => Some(*i),
            Kind::Int(i) => {
                self.err(
                    format!("{path}.{}: {i} is out of range ({what} {min}–{max})", e.key),
                    &e.value.span,
                );
                None
            }
            _ => {
                self.wrong(e, path, &format!("an integer ({what})"));
                None
            }
        }
    }

    /// Milliseconds (or seconds): a non-negative integer.
    pub fn duration(&mut self, e: &Entry, path: &str, min: i64) -> Option<u64> {
        self.int(e, path, min, i64::MAX, "a duration")
            .map(|v| v as u64)
    }

    pub fn port(&mut self, e: &Entry, path: &str, min: u16) -> Option<u16> {
        self.int(e, path, min as i64, 65535, "a port")
            .map(|p| p as u16)
    }

    /// One of the schema's values for this key.
    pub fn choice(&mut self, e: &Entry, ctx: Ctx, key: &str, path: &str) -> Option<&'static str> {
        let values = schema::find(ctx, key).map(|k| k.values).unwrap_or(&[]);
        self.one_of(e, values, path)
    }

    pub fn one_of(
        &mut self,
        e: &Entry,
        values: &[&'static str],
        path: &str,
    ) -> Option<&'static str> {
        let expected = values
            .iter()
            .map(|v| format!("\"{v}\""))
            .collect::<Vec<_>>()
            .join(" | ");
        match &e.value.kind {
            Kind::Str(s) => match values.iter().find(|v| **v == s.as_str()) {
                Some(v) => Some(v),
                None => {
                    self.err(
                        format!("{path}.{}: \"{s}\" is not one of {expected}", e.key),
                        &e.value.span,
                    );
                    None
                }
            },
            _ => {
                self.wrong(e, path, &expected);
                None
            }
        }
    }

    pub fn status(&mut self, e: &Entry, path: &str) -> Option<StatusRange> {
        let code = |r: &mut Self, n: &Node, what: &str| match n.kind {
            Kind::Int(i) if (100..=599).contains(&i) => Some(i as u16),
            _ => {
                r.err(
                    format!("{path}.{what}: expected an HTTP status 100–599"),
                    &n.span,
                );
                None
            }
        };
        match &e.value.kind {
            Kind::Int(_) => {
                let c = code(self, &e.value, "status")?;
                Some(StatusRange { min: c, max: c })
            }
            Kind::Table(entries) => {
                let p = format!("{path}.status");
                for x in entries {
                    if x.key != "min" && x.key != "max" {
                        self.err(
                            format!("unknown key `{}` in {p}; known keys: min, max", x.key),
                            &x.key_span,
                        );
                    }
                }
                let get = |r: &mut Self, k: &str, d: u16| match entries.iter().find(|x| x.key == k)
                {
                    Some(x) => code(r, &x.value, &format!("status.{k}")),
                    None => Some(d),
                };
                let min = get(self, "min", 200)?;
                let max = get(self, "max", 399)?;
                if min > max {
                    self.err(format!("{p}: min {min} is above max {max}"), &e.value.span);
                    return None;
                }
                Some(StatusRange { min, max })
            }
            _ => {
                self.wrong(e, path, "an HTTP status or {min, max}");
                None
            }
        }
    }

    /// `health = {…} | false` in `ctx` ([`Ctx::Health`] or [`Ctx::PortHealth`]).
    pub fn health(&mut self, e: &Entry, ctx: Ctx, path: &str) -> Option<Health> {
        let p = format!("{path}.{}", e.key);
        match &e.value.kind {
            Kind::Bool(false) => Some(Health::Off),
            Kind::Table(entries) => {
                self.check_keys(entries, ctx, &p);
                let mut h = HealthSpec::default();
                for x in entries {
                    match self.schema_key(ctx, &x.key) {
                        Some("port") => h.port = self.port(x, &p, 1),
                        Some("mode") => h.mode = self.choice(x, ctx, "mode", &p).map(mode_of),
                        Some("path") => h.path = self.string(x, &p),
                        Some("status") => h.status = self.status(x, &p),
                        Some("interval") => h.interval_ms = self.duration(x, &p, 1),
                        Some("failures") => {
                            h.failures = self.int(x, &p, 1, 1000, "a count").map(|v| v as u32)
                        }
                        _ => {}
                    }
                }
                Some(Health::Probe(h))
            }
            _ => {
                self.wrong(e, path, "a table or false");
                None
            }
        }
    }

    /// The schema's spelling of a source key, if `ctx` knows it.
    pub fn schema_key(&self, ctx: Ctx, key: &str) -> Option<&'static str> {
        schema::keys(ctx)
            .find(|k| self.spell(k.key) == key)
            .map(|k| k.key)
    }
}
