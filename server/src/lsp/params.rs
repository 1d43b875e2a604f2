//! Validation of a command's single argument object. Every failure is an
//! `INVALID_ARGUMENT` (or `INVALID_PORT`) naming the field.

use crate::engine::error::{EngineError, Result};
use crate::engine::MAX_TIMEOUT_MS;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The one argument of a command (`arguments: [params]`).
pub struct Args {
    map: Map<String, Value>,
}

fn bad(field: &str, want: &str, got: &Value) -> EngineError {
    EngineError::invalid(format!("{field}: expected {want}, got {}", kind(got)))
}

fn kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) if s.len() <= 40 => format!("string {s:?}"),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

impl Args {
    /// From `arguments`: nothing (taken as `{}`) or exactly one object.
    pub fn from_arguments(args: Vec<Value>) -> Result<Args> {
        match args.len() {
            0 => Ok(Args { map: Map::new() }),
            1 => match args.into_iter().next() {
                Some(Value::Object(map)) => Ok(Args { map }),
                Some(other) => Err(bad("arguments[0]", "an object", &other)),
                None => unreachable!(),
            },
            n => Err(EngineError::invalid(format!(
                "arguments: expected exactly one object, got {n} values"
            ))),
        }
    }

    /// A present, non-null value.
    fn get(&self, field: &str) -> Option<&Value> {
        self.map.get(field).filter(|v| !v.is_null())
    }

    pub fn opt_str(&self, field: &str) -> Result<Option<String>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(bad(field, "a string", v)),
        }
    }

    pub fn str(&self, field: &str) -> Result<String> {
        self.opt_str(field)?
            .ok_or_else(|| EngineError::invalid(format!("{field} is required")))
    }

    /// A required string that must not be empty.
    pub fn non_empty(&self, field: &str) -> Result<String> {
        let s = self.str(field)?;
        if s.is_empty() {
            return Err(EngineError::invalid(format!("{field} must not be empty")));
        }
        Ok(s)
    }

    pub fn opt_bool(&self, field: &str) -> Result<Option<bool>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(bad(field, "a boolean", v)),
        }
    }

    /// A whole number in `min..=max` (a float with no fraction counts).
    pub fn opt_int(&self, field: &str, min: i64, max: i64) -> Result<Option<i64>> {
        let Some(v) = self.get(field) else {
            return Ok(None);
        };
        let n = whole_number(v);
        let Some(n) = n else {
            return Err(bad(field, "a whole number", v));
        };
        if n < min || n > max {
            return Err(EngineError::invalid(format!(
                "{field}: {n} is out of range ({min}..={max})"
            )));
        }
        Ok(Some(n))
    }

    /// A timeout or other duration in milliseconds: 1 ms to a day.
    pub fn opt_ms(&self, field: &str) -> Result<Option<u64>> {
        Ok(self
            .opt_int(field, 1, MAX_TIMEOUT_MS as i64)?
            .map(|n| n as u64))
    }

    /// A TCP port. Wrong type is `INVALID_ARGUMENT`; a number outside
    /// `min..=65535` is `INVALID_PORT`.
    pub fn opt_port(&self, field: &str, min: u16) -> Result<Option<u16>> {
        let Some(v) = self.get(field) else {
            return Ok(None);
        };
        let n = whole_number(v);
        let Some(n) = n else {
            return Err(bad(field, "a port number", v));
        };
        if n < min as i64 || n > 65535 {
            return Err(EngineError::InvalidPort(format!(
                "{field}: {n} is not a port in {min}-65535"
            )));
        }
        Ok(Some(n as u16))
    }

    pub fn port(&self, field: &str, min: u16) -> Result<u16> {
        self.opt_port(field, min)?
            .ok_or_else(|| EngineError::invalid(format!("{field} is required")))
    }

    /// `{name: value}` with string values.
    pub fn env(&self, field: &str) -> Result<BTreeMap<String, String>> {
        match self.get(field) {
            None => Ok(BTreeMap::new()),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    Value::Number(n) => Ok((k.clone(), n.to_string())),
                    Value::Bool(b) => Ok((k.clone(), b.to_string())),
                    other => Err(bad(&format!("{field}.{k}"), "a string", other)),
                })
                .collect(),
            Some(v) => Err(bad(field, "an object of strings", v)),
        }
    }

    /// One of a fixed set of strings.
    pub fn opt_choice(&self, field: &str, choices: &[&str]) -> Result<Option<String>> {
        match self.opt_str(field)? {
            None => Ok(None),
            Some(s) if choices.contains(&s.as_str()) => Ok(Some(s)),
            Some(s) => Err(EngineError::invalid(format!(
                "{field}: {s:?} is not one of {}",
                choices.join(", ")
            ))),
        }
    }

    pub fn raw(&self, field: &str) -> Option<&Value> {
        self.get(field)
    }
}

/// `v` as a whole number: an integer, or a float with no fraction.
fn whole_number(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
                .map(|f| f as i64)
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Value) -> Args {
        Args::from_arguments(vec![v]).unwrap()
    }

    #[test]
    fn validates_and_names_fields() {
        let a = args(json!({"timeout": -5, "port": "x", "big": 70000, "t": 1.0}));
        let e = a.opt_ms("timeout").unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT");
        assert!(e.to_string().contains("timeout"));
        let e = a.opt_port("port", 1).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT");
        assert!(e.to_string().contains("port"));
        assert_eq!(a.opt_port("big", 1).unwrap_err().code(), "INVALID_PORT");
        assert_eq!(a.opt_ms("t").unwrap(), Some(1));
        assert!(a
            .str("missing")
            .unwrap_err()
            .to_string()
            .contains("missing"));
        assert!(Args::from_arguments(vec![json!(1)]).is_err());
        assert!(Args::from_arguments(vec![json!({}), json!({})]).is_err());
        assert!(Args::from_arguments(vec![]).is_ok());
    }
}
