//! Every command's params as serde types: one [`Command`] enum keyed by the
//! command's name, a `deny_unknown_fields` struct per command, and newtypes
//! for the values with a range (ports, milliseconds, counts).
//!
//! Reading params is two steps. [`Command::parse`] checks the shape: a field
//! the command does not know, a missing field, a wrong type or a value out of
//! range is `INVALID_ARGUMENT` whose message starts with the field's path
//! (`timeout: -5 is out of range (1..=86400000)`, `unknown field "procesId"`).
//! A [`Port`] keeps the number it was given so that its range check, which
//! has a code of its own (`INVALID_PORT`), happens at its use ([`Port::get`]).

use crate::engine::error::{EngineError, Result};
use crate::engine::exposure::MAX_TTL_SECONDS;
use crate::engine::{Visibility, MAX_TIMEOUT_MS};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// A command with its params, as sent in `workspace/executeCommand`.
#[derive(Debug, Deserialize)]
pub enum Command {
    #[serde(rename = "sandport.startProcess")]
    StartProcess(StartProcessParams),
    #[serde(rename = "sandport.listProcesses")]
    ListProcesses(NoParams),
    #[serde(rename = "sandport.getProcess")]
    GetProcess(ProcessRef),
    #[serde(rename = "sandport.killProcess")]
    KillProcess(KillParams),
    #[serde(rename = "sandport.killAllProcesses")]
    KillAllProcesses(NoParams),
    #[serde(rename = "sandport.removeProcess")]
    RemoveProcess(ProcessRef),
    #[serde(rename = "sandport.getLogs")]
    GetLogs(GetLogsParams),
    #[serde(rename = "sandport.waitForPort")]
    WaitForPort(WaitForPortParams),
    #[serde(rename = "sandport.waitForLog")]
    WaitForLog(WaitForLogParams),
    #[serde(rename = "sandport.waitForExit")]
    WaitForExit(WaitForExitParams),
    #[serde(rename = "sandport.exec")]
    Exec(ExecParams),
    #[serde(rename = "sandport.writeFile")]
    WriteFile(WriteFileParams),
    #[serde(rename = "sandport.readFile")]
    ReadFile(ReadFileParams),
    #[serde(rename = "sandport.checkout")]
    Checkout(CheckoutParams),
    #[serde(rename = "sandport.exposePort")]
    ExposePort(ExposePortParams),
    #[serde(rename = "sandport.getExposedPorts")]
    GetExposedPorts(NoParams),
    #[serde(rename = "sandport.closePort")]
    ClosePort(PortParams),
    #[serde(rename = "sandport.openPreview")]
    OpenPreview(PortParams),
    #[serde(rename = "sandport.info")]
    Info(NoParams),
    #[serde(rename = "sandport.createLoginLink")]
    CreateLoginLink(LoginLinkParams),
}

/// Commands this server answers, as advertised at `initialize`.
pub const COMMANDS: &[&str] = &[
    "sandport.startProcess",
    "sandport.listProcesses",
    "sandport.getProcess",
    "sandport.killProcess",
    "sandport.killAllProcesses",
    "sandport.removeProcess",
    "sandport.getLogs",
    "sandport.waitForPort",
    "sandport.waitForLog",
    "sandport.waitForExit",
    "sandport.exec",
    "sandport.writeFile",
    "sandport.readFile",
    "sandport.checkout",
    "sandport.exposePort",
    "sandport.getExposedPorts",
    "sandport.closePort",
    "sandport.openPreview",
    "sandport.info",
    "sandport.createLoginLink",
];

impl Command {
    /// `command` with its `arguments`: nothing (taken as `{}`) or exactly one
    /// object.
    pub fn parse(command: &str, args: Vec<Value>) -> Result<Command> {
        if !COMMANDS.contains(&command) {
            return Err(EngineError::invalid(format!(
                "command: unknown command {command:?}"
            )));
        }
        let params = match args.len() {
            0 => Value::Object(Map::new()),
            1 => match args.into_iter().next() {
                Some(v @ Value::Object(_)) => v,
                Some(other) => {
                    return Err(EngineError::invalid(format!(
                        "arguments[0]: expected an object, got {}",
                        kind(&other)
                    )))
                }
                None => unreachable!("one argument"),
            },
            n => {
                return Err(EngineError::invalid(format!(
                    "arguments: expected exactly one object, got {n} values"
                )))
            }
        };
        let mut tagged = Map::new();
        tagged.insert(command.to_string(), params);
        serde_path_to_error::deserialize(Value::Object(tagged)).map_err(|e| {
            // The first segment is the command itself.
            let segs: Vec<_> = e.path().iter().skip(1).cloned().collect();
            EngineError::invalid(message(&segs, &e.into_inner().to_string()))
        })
    }
}

/// `path: what`, the path written `a.b[0].c`. For an unknown field the path
/// is that of the object holding it (the field is named in `what`). Serde
/// quotes names in backticks; the contract writes them in double quotes:
/// `unknown field "procesId"`.
pub(crate) fn message(segs: &[serde_path_to_error::Segment], what: &str) -> String {
    use serde_path_to_error::Segment;
    let segs = match segs.split_last() {
        Some((_, parent)) if what.starts_with("unknown field") => parent,
        _ => segs,
    };
    let mut path = String::new();
    for s in segs {
        match s {
            Segment::Seq { index } => path.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    let what = what.replace('`', "\"");
    if path.is_empty() {
        what
    } else {
        format!("{path}: {what}")
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

// ---- the params of each command ---------------------------------------------

/// `{}`: the command takes no params (any field is unknown).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StartProcessParams {
    pub command: NonEmpty,
    pub cwd: Option<String>,
    #[serde(default)]
    pub env: Env,
    pub name: Option<String>,
    pub process_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProcessRef {
    pub process_id: NonEmpty,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KillParams {
    pub process_id: NonEmpty,
    pub signal: Option<String>,
    pub grace_ms: Option<Millis<0>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GetLogsParams {
    pub process_id: NonEmpty,
    pub since: Option<String>,
    pub tail: Option<Count<0, 100_000_000>>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModeArg {
    Http,
    Tcp,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WaitForPortParams {
    pub port: Port,
    pub process_id: Option<String>,
    pub mode: Option<ModeArg>,
    pub path: Option<String>,
    pub status: Option<StatusArg>,
    pub timeout: Option<Millis>,
    pub interval: Option<Millis>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamArg {
    Stdout,
    Stderr,
    Both,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WaitForLogParams {
    pub process_id: NonEmpty,
    pub pattern: NonEmpty,
    pub regex: Option<bool>,
    pub stream: Option<StreamArg>,
    pub timeout: Option<Millis>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WaitForExitParams {
    pub process_id: NonEmpty,
    pub timeout: Option<Millis>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExecParams {
    pub command: NonEmpty,
    pub cwd: Option<String>,
    #[serde(default)]
    pub env: Env,
    pub timeout: Option<Millis>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WriteFileParams {
    pub path: NonEmpty,
    pub content: String,
    pub encoding: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReadFileParams {
    pub path: NonEmpty,
    pub encoding: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CheckoutParams {
    pub url: NonEmpty,
    pub dir: Option<String>,
    pub branch: Option<String>,
    pub depth: Option<Count<1, 1_000_000>>,
    pub timeout: Option<Millis>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExposePortParams {
    pub port: Port,
    pub name: Option<String>,
    pub token: Option<String>,
    pub ttl_seconds: Option<Count<1, MAX_TTL_SECONDS>>,
    /// v2 "Private previews": absent keeps the exposure's current one.
    pub visibility: Option<Visibility>,
}

/// `sandport.createLoginLink`: `path` becomes the link's `next`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LoginLinkParams {
    pub port: Port,
    pub path: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PortParams {
    pub port: Port,
}

// ---- values -----------------------------------------------------------------

/// `v` as a whole number: an integer, or a float with no fraction.
fn whole_f64(f: f64) -> Option<i64> {
    (f.fract() == 0.0 && f.abs() < 9e15).then_some(f as i64)
}

/// A visitor for a whole number (`1000` or `1000.0`), any sign.
struct WholeNumber(&'static str);

impl Visitor<'_> for WholeNumber {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.0)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        Ok(i64::try_from(v).unwrap_or(i64::MAX))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        whole_f64(v).ok_or_else(|| E::invalid_value(de::Unexpected::Float(v), &self))
    }
}

fn whole<'de, D: Deserializer<'de>>(d: D, what: &'static str) -> Result<i64, D::Error> {
    d.deserialize_any(WholeNumber(what))
}

fn in_range<E: de::Error>(n: i64, min: u64, max: u64) -> Result<u64, E> {
    if n < 0 || (n as u64) < min || (n as u64) > max {
        return Err(E::custom(format!("{n} is out of range ({min}..={max})")));
    }
    Ok(n as u64)
}

/// A duration in whole milliseconds, `MIN` (default 1) to a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Millis<const MIN: u64 = 1>(u64);

impl<const MIN: u64> Millis<MIN> {
    pub fn ms(self) -> u64 {
        self.0
    }

    pub fn duration(self) -> Duration {
        Duration::from_millis(self.0)
    }
}

impl<'de, const MIN: u64> Deserialize<'de> for Millis<MIN> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = whole(d, "a whole number of milliseconds")?;
        in_range(n, MIN, MAX_TIMEOUT_MS).map(Millis)
    }
}

/// A whole number in `MIN..=MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count<const MIN: u64, const MAX: u64>(u64);

impl<const MIN: u64, const MAX: u64> Count<MIN, MAX> {
    pub fn get(self) -> u64 {
        self.0
    }
}

impl<'de, const MIN: u64, const MAX: u64> Deserialize<'de> for Count<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = whole(d, "a whole number")?;
        in_range(n, MIN, MAX).map(Count)
    }
}

/// A TCP port as given: a whole number whose range is checked by
/// [`Port::get`] (the contract's `INVALID_PORT`, not `INVALID_ARGUMENT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port(i64);

impl Port {
    /// The port, or `INVALID_PORT` for a number outside 1-65535.
    pub fn get(self) -> Result<u16> {
        u16::try_from(self.0)
            .ok()
            .filter(|p| *p >= 1)
            .ok_or_else(|| {
                EngineError::InvalidPort(format!("port: {} is not a port in 1-65535", self.0))
            })
    }
}

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        whole(d, "a port number").map(Port)
    }
}

/// A string that must not be empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonEmpty(String);

impl NonEmpty {
    pub fn into_string(self) -> String {
        self.0
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for NonEmpty {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() {
            return Err(de::Error::custom("must not be empty"));
        }
        Ok(NonEmpty(s))
    }
}

/// `env`: `{name: value}`, values strings, numbers or booleans (stringified).
#[derive(Debug, Default)]
pub struct Env(pub BTreeMap<String, String>);

impl<'de> Deserialize<'de> for Env {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m = Option::<BTreeMap<String, EnvValue>>::deserialize(d)?.unwrap_or_default();
        Ok(Env(m.into_iter().map(|(k, v)| (k, v.0)).collect()))
    }
}

struct EnvValue(String);

impl<'de> Deserialize<'de> for EnvValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = EnvValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<EnvValue, E> {
                Ok(EnvValue(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<EnvValue, E> {
                Ok(EnvValue(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<EnvValue, E> {
                Ok(EnvValue(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<EnvValue, E> {
                Ok(EnvValue(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<EnvValue, E> {
                Ok(EnvValue(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// `status` of `waitForPort`: one code, or `{min?, max?}` (each 100-599).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusArg {
    pub min: u16,
    pub max: u16,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusRange {
    min: Option<Count<100, 599>>,
    max: Option<Count<100, 599>>,
}

impl<'de> Deserialize<'de> for StatusArg {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl V {
            fn one<E: de::Error>(n: i64) -> Result<StatusArg, E> {
                let s = in_range(n, 100, 599)? as u16;
                Ok(StatusArg { min: s, max: s })
            }
        }
        impl<'de> Visitor<'de> for V {
            type Value = StatusArg;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a status code or {min, max}")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StatusArg, E> {
                V::one(v)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StatusArg, E> {
                V::one(i64::try_from(v).unwrap_or(i64::MAX))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<StatusArg, E> {
                match whole_f64(v) {
                    Some(n) => V::one(n),
                    None => Err(E::invalid_value(de::Unexpected::Float(v), &self)),
                }
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<StatusArg, A::Error> {
                let r = StatusRange::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let min = r.min.map_or(100, |c| c.get() as u16);
                let max = r.max.map_or(599, |c| c.get() as u16);
                if min > max {
                    return Err(de::Error::custom(format!(
                        "min ({min}) must be <= max ({max})"
                    )));
                }
                Ok(StatusArg { min, max })
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(cmd: &str, v: Value) -> Result<Command> {
        Command::parse(cmd, vec![v])
    }

    fn msg(cmd: &str, v: Value) -> String {
        parse(cmd, v).unwrap_err().to_string()
    }

    #[test]
    fn every_advertised_command_has_params() {
        for c in COMMANDS {
            // `{}` is either fine or misses a field; never an unknown command.
            if let Err(e) = parse(c, json!({})) {
                assert!(e.to_string().contains("missing field"), "{c}: {e}");
            }
        }
    }

    #[test]
    fn unknown_fields_are_named() {
        let m = msg("sandport.getProcess", json!({"procesId": "x"}));
        assert!(m.starts_with("unknown field \"procesId\""), "{m}");
        let m = msg("sandport.listProcesses", json!({"all": true}));
        assert!(m.contains("unknown field \"all\""), "{m}");
        let m = msg(
            "sandport.waitForPort",
            json!({"port": 3000, "status": {"mn": 200}}),
        );
        assert!(m.starts_with("status: unknown field \"mn\""), "{m}");
    }

    #[test]
    fn types_ranges_and_missing_fields_name_the_field() {
        let m = msg("sandport.waitForPort", json!({"port": 3000, "timeout": -5}));
        assert_eq!(m, "timeout: -5 is out of range (1..=86400000)");
        let m = msg("sandport.waitForPort", json!({"port": "80"}));
        assert!(m.starts_with("port: invalid type: string \"80\""), "{m}");
        let m = msg("sandport.startProcess", json!({}));
        assert_eq!(m, "missing field \"command\"");
        let m = msg("sandport.startProcess", json!({"command": ""}));
        assert_eq!(m, "command: must not be empty");
        let m = msg(
            "sandport.startProcess",
            json!({"command": "x", "env": {"A": []}}),
        );
        assert!(m.starts_with("env.A: invalid type"), "{m}");
        let m = msg("sandport.waitForPort", json!({"port": 1, "mode": "udp"}));
        assert!(m.starts_with("mode: unknown variant \"udp\""), "{m}");
        let m = msg(
            "sandport.waitForPort",
            json!({"port": 1, "status": {"min": 500, "max": 200}}),
        );
        assert!(m.starts_with("status: "), "{m}");
        let m = msg("sandport.getLogs", json!({"processId": "p", "tail": 1.5}));
        assert!(m.starts_with("tail: invalid value"), "{m}");
    }

    #[test]
    fn values_come_through() {
        let Command::WaitForPort(w) = parse(
            "sandport.waitForPort",
            json!({"port": 70000, "timeout": 1000.0, "status": 204, "mode": "tcp", "path": null}),
        )
        .unwrap() else {
            panic!("not waitForPort");
        };
        assert_eq!(w.port.get().unwrap_err().code(), "INVALID_PORT");
        assert_eq!(w.timeout.unwrap().ms(), 1000);
        assert_eq!(w.status, Some(StatusArg { min: 204, max: 204 }));
        assert!(w.path.is_none());
        let Command::StartProcess(s) = parse(
            "sandport.startProcess",
            json!({"command": "x", "env": {"N": 1, "B": true, "S": "s"}}),
        )
        .unwrap() else {
            panic!("not startProcess");
        };
        assert_eq!(s.env.0["N"], "1");
        assert_eq!(s.env.0["B"], "true");
        let Command::KillProcess(k) = parse(
            "sandport.killProcess",
            json!({"processId": "p", "graceMs": 0}),
        )
        .unwrap() else {
            panic!("not killProcess");
        };
        assert_eq!(k.grace_ms.unwrap().ms(), 0);
        let Command::ExposePort(x) = parse(
            "sandport.exposePort",
            json!({"port": 3000, "visibility": "private"}),
        )
        .unwrap() else {
            panic!("not exposePort");
        };
        assert_eq!(x.visibility, Some(Visibility::Private));
        let m = msg(
            "sandport.exposePort",
            json!({"port": 3000, "visibility": "secret"}),
        );
        assert!(
            m.starts_with("visibility: unknown variant \"secret\""),
            "{m}"
        );
        let Command::CreateLoginLink(l) = parse(
            "sandport.createLoginLink",
            json!({"port": 3000, "path": "/app"}),
        )
        .unwrap() else {
            panic!("not createLoginLink");
        };
        assert_eq!(l.path.as_deref(), Some("/app"));
    }

    #[test]
    fn arguments_shape() {
        assert!(Command::parse("sandport.listProcesses", vec![]).is_ok());
        assert!(Command::parse("sandport.listProcesses", vec![json!(1)]).is_err());
        assert!(Command::parse("sandport.listProcesses", vec![json!({}), json!({})]).is_err());
        let e = Command::parse("sandport.nope", vec![]).unwrap_err();
        assert!(e.to_string().contains("sandport.nope"));
    }
}
