//! One small value tree for every source of settings-like data (TOML with
//! byte spans, JSON without), so each shape is read by one piece of code.

use std::ops::Range as Span;

#[derive(Debug, Clone)]
pub struct Node {
    pub span: Option<Span<usize>>,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Dates, JSON null: never a valid value here.
    Other(&'static str),
    Array(Vec<Node>),
    Table(Vec<Entry>),
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub key: String,
    pub key_span: Option<Span<usize>>,
    pub value: Node,
}

impl Node {
    /// What the value is, for "expected X, found Y" messages.
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            Kind::Str(_) => "a string",
            Kind::Int(_) => "an integer",
            Kind::Float(_) => "a float",
            Kind::Bool(_) => "a boolean",
            Kind::Other(t) => t,
            Kind::Array(_) => "an array",
            Kind::Table(_) => "a table",
        }
    }

    pub fn entries(&self) -> Option<&[Entry]> {
        match &self.kind {
            Kind::Table(e) => Some(e),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries()?.iter().find(|e| e.key == key)
    }

    pub fn from_toml(item: &toml_edit::Item) -> Node {
        use toml_edit::Item;
        match item {
            Item::None => Node {
                span: None,
                kind: Kind::Other("nothing"),
            },
            Item::Value(v) => Node::from_toml_value(v),
            Item::Table(t) => Node {
                span: t.span(),
                kind: Kind::Table(toml_entries(t)),
            },
            Item::ArrayOfTables(a) => Node {
                span: a.span(),
                kind: Kind::Array(
                    a.iter()
                        .map(|t| Node {
                            span: t.span(),
                            kind: Kind::Table(toml_entries(t)),
                        })
                        .collect(),
                ),
            },
        }
    }

    fn from_toml_value(v: &toml_edit::Value) -> Node {
        use toml_edit::Value;
        let kind = match v {
            Value::String(s) => Kind::Str(s.value().clone()),
            Value::Integer(i) => Kind::Int(*i.value()),
            Value::Float(f) => Kind::Float(*f.value()),
            Value::Boolean(b) => Kind::Bool(*b.value()),
            Value::Datetime(_) => Kind::Other("a date-time"),
            Value::Array(a) => Kind::Array(a.iter().map(Node::from_toml_value).collect()),
            Value::InlineTable(t) => Kind::Table(toml_entries(t)),
        };
        Node {
            span: v.span(),
            kind,
        }
    }

    pub fn from_json(v: &serde_json::Value) -> Node {
        use serde_json::Value;
        let kind = match v {
            Value::Null => Kind::Other("null"),
            Value::Bool(b) => Kind::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Kind::Int(i),
                None => Kind::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => Kind::Str(s.clone()),
            Value::Array(a) => Kind::Array(a.iter().map(Node::from_json).collect()),
            Value::Object(m) => Kind::Table(
                m.iter()
                    .map(|(k, v)| Entry {
                        key: k.clone(),
                        key_span: None,
                        value: Node::from_json(v),
                    })
                    .collect(),
            ),
        };
        Node { span: None, kind }
    }
}

fn toml_entries(t: &dyn toml_edit::TableLike) -> Vec<Entry> {
    t.iter()
        .map(|(k, item)| Entry {
            key: k.to_string(),
            key_span: t.key(k).and_then(|k| k.span()),
            value: Node::from_toml(item),
        })
        .collect()
}
