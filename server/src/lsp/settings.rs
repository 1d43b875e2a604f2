//! The contract's `sandport` settings, from `initializationOptions` and
//! `workspace/didChangeConfiguration`. Keys may come nested
//! (`{gateway: {listen}}`) or dotted (`{"gateway.listen": …}`).

use super::params::{Count, NonEmpty};
use crate::gateway::HostHeader;
use crate::sandbox::{BackendKind, DockerSettings, GatewaySettings, SandboxConfig};
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OnExpose {
    Notify,
    OpenBrowser,
    Silent,
}

/// `logs.bufferBytes` bounds: 64 KiB to 1 GiB per stream.
pub const MIN_LOG_BUFFER: u64 = 64 * 1024;
pub const MAX_LOG_BUFFER: u64 = 1 << 30;
/// `processes.keepEnded` bound.
pub const MAX_KEEP_ENDED: u64 = 100_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub backend: String,
    pub sandbox_id: Option<String>,
    pub docker_image: Option<String>,
    pub docker_host: Option<String>,
    pub docker_mounts: Vec<String>,
    /// Added: a static sandport to run inside the container.
    pub docker_agent_path: Option<String>,
    /// Added: bound of each process's stdout and stderr buffers.
    pub log_buffer_bytes: usize,
    /// Added: ended processes kept (`processes.keepEnded`).
    pub keep_ended: usize,
    /// Added: bound of all ended processes' logs (`processes.endedLogBytes`).
    pub ended_log_bytes: usize,
    pub gateway_listen: Option<String>,
    pub gateway_domain: String,
    pub gateway_public_url: Option<String>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    pub host_header: String,
    pub on_expose: OnExpose,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            backend: "local".into(),
            sandbox_id: None,
            docker_image: None,
            docker_host: None,
            docker_mounts: Vec::new(),
            docker_agent_path: None,
            log_buffer_bytes: crate::engine::DEFAULT_LOG_CAP,
            keep_ended: crate::engine::DEFAULT_KEEP_ENDED,
            ended_log_bytes: crate::engine::DEFAULT_ENDED_LOG_BYTES,
            gateway_listen: None,
            gateway_domain: "localhost".into(),
            gateway_public_url: None,
            tls_cert: None,
            tls_key: None,
            host_header: "localhost".into(),
            on_expose: OnExpose::Notify,
        }
    }
}

/// Settings whose change needs a restart of the server.
pub const RESTART_KEYS: &[&str] = &[
    "backend",
    "docker.image",
    "docker.host",
    "docker.mounts",
    "docker.agentPath",
    "logs.bufferBytes",
    "gateway.listen",
    "gateway.tls.cert",
    "gateway.tls.key",
];

/// Flatten nested objects into dotted keys.
fn flatten(prefix: &str, v: &Map<String, Value>, out: &mut Map<String, Value>) {
    for (k, v) in v {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            // `docker.mounts` is an array; the only objects are sections.
            Value::Object(m) => flatten(&key, m, out),
            other => {
                out.insert(key, other.clone());
            }
        }
    }
}

/// Dotted keys back into nested objects: one form for the serde types. A key
/// that is both a value and a section (`gateway: 1` and `gateway.listen`) is
/// reported and the section kept.
fn unflatten(flat: Map<String, Value>, warn: &mut Vec<String>) -> Map<String, Value> {
    let mut root = Map::new();
    for (key, v) in flat {
        let mut parts: Vec<&str> = key.split('.').collect();
        let last = parts.pop().unwrap_or_default();
        let mut at = &mut root;
        let mut path = String::new();
        for p in parts {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(p);
            let slot = at.entry(p.to_string()).or_insert_with(|| json!({}));
            if !slot.is_object() {
                warn.push(format!(
                    "sandport.{path}: expected an object of settings, got {slot}; ignored"
                ));
                *slot = json!({});
            }
            at = slot.as_object_mut().expect("made an object");
        }
        match at.get(last) {
            Some(Value::Object(_)) => warn.push(format!(
                "sandport.{key}: expected an object of settings, got {v}; ignored"
            )),
            _ => {
                at.insert(last.to_string(), v);
            }
        }
    }
    root
}

/// A setting's value as read: absent (or null), usable, or not usable (the
/// message says why; the default is kept and the user told).
#[derive(Debug, Default)]
enum Lenient<T> {
    #[default]
    Absent,
    Ok(T),
    Bad(String),
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        if v.is_null() {
            return Ok(Lenient::Absent);
        }
        Ok(match T::deserialize(v) {
            Ok(t) => Lenient::Ok(t),
            Err(e) => Lenient::Bad(e.to_string().replace('`', "\"")),
        })
    }
}

impl<T> Lenient<T> {
    /// Hand a usable value to `set`; report a bad one under `key`.
    fn apply(self, key: &str, warn: &mut Vec<String>, set: impl FnOnce(T)) {
        match self {
            Lenient::Absent => {}
            Lenient::Ok(t) => set(t),
            Lenient::Bad(why) => warn.push(format!("sandport.{key}: {why}; the default is used")),
        }
    }
}

/// A section of settings (`gateway`, `docker`, …): an object (whose unknown
/// keys are reported by their path), or, when it is something else, reported
/// and left at its defaults.
#[derive(Debug, Default)]
struct Section<T> {
    value: T,
    bad: Option<String>,
}

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for Section<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Default> Visitor<'de> for V<T> {
            type Value = Section<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of settings")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Section<T>, A::Error> {
                let value = T::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Section { value, bad: None })
            }
            fn visit_unit<E: de::Error>(self) -> Result<Section<T>, E> {
                Ok(Section::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<Section<T>, E> {
                Ok(Section::default())
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Section<T>, A::Error> {
                while seq.next_element::<Value>()?.is_some() {}
                Ok(Self::bad("an array"))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Section<T>, E> {
                Ok(Self::bad(&v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Section<T>, E> {
                Ok(Self::bad(&v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Section<T>, E> {
                Ok(Self::bad(&v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Section<T>, E> {
                Ok(Self::bad(&v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Section<T>, E> {
                Ok(Self::bad(&format!("{v:?}")))
            }
        }
        impl<T: Default> V<T> {
            fn bad(got: &str) -> Section<T> {
                Section {
                    value: T::default(),
                    bad: Some(format!("expected an object of settings, got {got}")),
                }
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl<T> Section<T> {
    fn open(self, key: &str, warn: &mut Vec<String>) -> T {
        if let Some(why) = self.bad {
            warn.push(format!("sandport.{key}: {why}; ignored"));
        }
        self.value
    }
}

// ---- the `sandport` section as serde types ----------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum HostHeaderKind {
    Localhost,
    Preserve,
}

/// `gateway.listen`: `HOST:PORT` with an IP address.
#[derive(Debug)]
struct Listen(String);

impl<'de> Deserialize<'de> for Listen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.parse::<std::net::SocketAddr>() {
            Ok(_) => Ok(Listen(s)),
            Err(_) => Err(de::Error::custom(format!(
                "{s:?} is not IP:PORT (e.g. 127.0.0.1:7357)"
            ))),
        }
    }
}

/// `gateway.publicUrl`: `http(s)://…`, or `""` for none.
#[derive(Debug)]
struct PublicUrl(Option<String>);

impl<'de> Deserialize<'de> for PublicUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() {
            return Ok(PublicUrl(None));
        }
        if s.starts_with("http://") || s.starts_with("https://") {
            return Ok(PublicUrl(Some(s.trim_end_matches('/').to_string())));
        }
        Err(de::Error::custom(format!(
            "{s:?} must start with http:// or https://"
        )))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RawSettings {
    backend: Lenient<BackendKind>,
    sandbox_id: Lenient<NonEmpty>,
    docker: Section<RawDocker>,
    logs: Section<RawLogs>,
    gateway: Section<RawGateway>,
    processes: Section<RawProcesses>,
    on_expose: Lenient<OnExpose>,
    /// The editors' own keys (where to find the server, tracing): part of
    /// the same section, not ours to judge.
    server: Option<Value>,
    trace: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RawDocker {
    image: Lenient<String>,
    host: Lenient<String>,
    mounts: Lenient<Vec<String>>,
    agent_path: Lenient<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RawLogs {
    buffer_bytes: Lenient<Count<MIN_LOG_BUFFER, MAX_LOG_BUFFER>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RawProcesses {
    keep_ended: Lenient<Count<0, MAX_KEEP_ENDED>>,
    ended_log_bytes: Lenient<Count<0, { i64::MAX as u64 }>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RawGateway {
    listen: Lenient<Listen>,
    domain: Lenient<NonEmpty>,
    public_url: Lenient<PublicUrl>,
    tls: Section<RawTls>,
    host_header: Lenient<HostHeaderKind>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RawTls {
    cert: Lenient<String>,
    key: Lenient<String>,
}

impl Settings {
    /// Parse the `sandport` section (or an object holding it under
    /// `sandport`). Returns the settings and a warning for each key that is
    /// unknown and each value that was ignored (the default is kept for it).
    pub fn parse(v: Option<&Value>) -> (Settings, Vec<String>) {
        let mut s = Settings::default();
        let mut warn = Vec::new();
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return (s, warn);
        };
        let section = match v.get("sandport") {
            Some(inner) => inner,
            None => v,
        };
        let Value::Object(obj) = section else {
            warn.push("sandport settings must be an object".into());
            return (s, warn);
        };
        let mut flat = Map::new();
        flatten("", obj, &mut flat);
        let nested = Value::Object(unflatten(flat, &mut warn));
        let mut unknown = Vec::new();
        let raw: RawSettings =
            match serde_ignored::deserialize(nested, |p| unknown.push(p.to_string())) {
                Ok(r) => r,
                Err(e) => {
                    // Every leaf is lenient and every section checked: this
                    // is a bug, not the user's.
                    warn.push(format!("sandport settings not read: {e}"));
                    return (s, warn);
                }
            };
        for k in unknown {
            warn.push(format!("unknown setting sandport.{k} ignored"));
        }
        let w = &mut warn;
        raw.backend.apply("backend", w, |b| {
            s.backend = match b {
                BackendKind::Local => "local",
                BackendKind::Docker => "docker",
            }
            .into()
        });
        raw.sandbox_id
            .apply("sandboxId", w, |x| s.sandbox_id = Some(x.into_string()));
        let d = raw.docker.open("docker", w);
        d.image
            .apply("docker.image", w, |x| s.docker_image = Some(x));
        d.host.apply("docker.host", w, |x| s.docker_host = Some(x));
        d.mounts.apply("docker.mounts", w, |x| s.docker_mounts = x);
        d.agent_path
            .apply("docker.agentPath", w, |x| s.docker_agent_path = Some(x));
        let l = raw.logs.open("logs", w);
        l.buffer_bytes.apply("logs.bufferBytes", w, |n| {
            s.log_buffer_bytes = n.get() as usize
        });
        let p = raw.processes.open("processes", w);
        p.keep_ended.apply("processes.keepEnded", w, |n| {
            s.keep_ended = n.get() as usize
        });
        p.ended_log_bytes.apply("processes.endedLogBytes", w, |n| {
            s.ended_log_bytes = usize::try_from(n.get()).unwrap_or(usize::MAX)
        });
        let g = raw.gateway.open("gateway", w);
        g.listen
            .apply("gateway.listen", w, |x| s.gateway_listen = Some(x.0));
        g.domain
            .apply("gateway.domain", w, |x| s.gateway_domain = x.into_string());
        g.public_url
            .apply("gateway.publicUrl", w, |x| s.gateway_public_url = x.0);
        g.host_header.apply("gateway.hostHeader", w, |h| {
            s.host_header = match h {
                HostHeaderKind::Localhost => "localhost",
                HostHeaderKind::Preserve => "preserve",
            }
            .into()
        });
        let t = g.tls.open("gateway.tls", w);
        t.cert
            .apply("gateway.tls.cert", w, |x| s.tls_cert = Some(x));
        t.key.apply("gateway.tls.key", w, |x| s.tls_key = Some(x));
        raw.on_expose.apply("onExpose", w, |o| s.on_expose = o);
        let _ = (raw.server, raw.trace);
        (s, warn)
    }

    /// The `gateway.*` settings for the sandbox builder.
    pub fn gateway_settings(&self) -> GatewaySettings {
        GatewaySettings {
            // Checked as IP:PORT when read.
            listen: self.gateway_listen.as_ref().and_then(|l| l.parse().ok()),
            domain: self.gateway_domain.clone(),
            public_url: self.gateway_public_url.clone(),
            tls_cert: self.tls_cert.as_ref().map(PathBuf::from),
            tls_key: self.tls_key.as_ref().map(PathBuf::from),
            host_header: if self.host_header == "preserve" {
                HostHeader::Preserve
            } else {
                HostHeader::Localhost
            },
        }
    }

    /// What the sandbox of a workspace at `root` is built from.
    pub fn sandbox_config(&self, root: &Path) -> SandboxConfig {
        SandboxConfig {
            workspace_root: root.to_path_buf(),
            sandbox_id: self.sandbox_id.clone(),
            backend: if self.backend == "docker" {
                BackendKind::Docker
            } else {
                BackendKind::Local
            },
            docker: DockerSettings {
                image: self.docker_image.clone(),
                host: self.docker_host.clone(),
                mounts: self.docker_mounts.clone(),
                agent_path: self.docker_agent_path.as_ref().map(PathBuf::from),
            },
            log_cap: self.log_buffer_bytes,
            keep_ended: self.keep_ended,
            ended_log_bytes: self.ended_log_bytes,
            gateway: Some(self.gateway_settings()),
        }
    }

    /// Keys of [`RESTART_KEYS`] whose values differ.
    pub fn restart_needed(&self, new: &Settings) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.backend != new.backend {
            v.push("backend");
        }
        if self.docker_image != new.docker_image {
            v.push("docker.image");
        }
        if self.docker_host != new.docker_host {
            v.push("docker.host");
        }
        if self.docker_mounts != new.docker_mounts {
            v.push("docker.mounts");
        }
        if self.docker_agent_path != new.docker_agent_path {
            v.push("docker.agentPath");
        }
        if self.log_buffer_bytes != new.log_buffer_bytes {
            v.push("logs.bufferBytes");
        }
        if self.gateway_listen != new.gateway_listen {
            v.push("gateway.listen");
        }
        if self.tls_cert != new.tls_cert {
            v.push("gateway.tls.cert");
        }
        if self.tls_key != new.tls_key {
            v.push("gateway.tls.key");
        }
        debug_assert!(v.iter().all(|k| RESTART_KEYS.contains(k)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_dotted_and_bad_values() {
        let (s, w) = Settings::parse(Some(&json!({"sandport": {
            "onExpose": "silent",
            "gateway": {"hostHeader": "preserve", "listen": "127.0.0.1:9000"},
            "gateway.domain": "example.dev",
            "backend": 3,
        }})));
        assert_eq!(s.on_expose, OnExpose::Silent);
        assert_eq!(s.host_header, "preserve");
        assert_eq!(s.gateway_domain, "example.dev");
        assert_eq!(s.gateway_listen.as_deref(), Some("127.0.0.1:9000"));
        assert_eq!(s.backend, "local");
        assert_eq!(w.len(), 1, "{w:?}");
        let d = Settings::default();
        assert_eq!(d.restart_needed(&s), vec!["gateway.listen"]);
    }

    #[test]
    fn editor_keys_pass_silently_unknown_ones_warn() {
        let (s, w) = Settings::parse(Some(&json!({"sandport": {
            "server": {"path": "/opt/sandport"},
            "trace": {"server": "verbose"},
            "docker": {"agentPath": "/opt/sandport-static"},
            "logs": {"bufferBytes": 1048576},
            "nonsense": 1,
        }})));
        assert_eq!(s.docker_agent_path.as_deref(), Some("/opt/sandport-static"));
        assert_eq!(s.log_buffer_bytes, 1 << 20);
        assert_eq!(w, vec!["unknown setting sandport.nonsense ignored"]);
        let (s, w) = Settings::parse(Some(&json!({"logs.bufferBytes": 10})));
        assert_eq!(s.log_buffer_bytes, crate::engine::DEFAULT_LOG_CAP);
        assert_eq!(w.len(), 1, "{w:?}");
    }

    #[test]
    fn unknown_keys_are_named_nested_or_dotted() {
        let (s, w) = Settings::parse(Some(&json!({
            "gateway": {"lisen": "x", "tls": {"cert": "/c", "kee": "/k"}},
            "gateway.domian": "d",
            "onExpose": "silent",
            "procesess": {"keepEnded": 1},
        })));
        assert_eq!(s.tls_cert.as_deref(), Some("/c"));
        assert_eq!(s.on_expose, OnExpose::Silent);
        let mut w = w;
        w.sort();
        assert_eq!(
            w,
            vec![
                "unknown setting sandport.gateway.domian ignored",
                "unknown setting sandport.gateway.lisen ignored",
                "unknown setting sandport.gateway.tls.kee ignored",
                "unknown setting sandport.procesess ignored",
            ]
        );
    }

    #[test]
    fn a_section_of_the_wrong_type_is_reported() {
        let (s, w) = Settings::parse(Some(&json!({"gateway": 5, "onExpose": "silent"})));
        assert_eq!(s.on_expose, OnExpose::Silent);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("sandport.gateway: expected an object"),
            "{w:?}"
        );
        let (_, w) = Settings::parse(Some(
            &json!({"gateway": 5, "gateway.listen": "127.0.0.1:1"}),
        ));
        assert_eq!(w.len(), 1, "{w:?}");
        let (s, w) = Settings::parse(Some(&json!({"logs": {"bufferBytes": "big"}})));
        assert_eq!(s.log_buffer_bytes, crate::engine::DEFAULT_LOG_CAP);
        assert!(
            w[0].starts_with("sandport.logs.bufferBytes: invalid type"),
            "{w:?}"
        );
    }

    #[test]
    fn retention_settings() {
        let (s, w) = Settings::parse(Some(&json!({
            "processes": {"keepEnded": 5},
            "processes.endedLogBytes": 1024,
        })));
        assert!(w.is_empty(), "{w:?}");
        assert_eq!((s.keep_ended, s.ended_log_bytes), (5, 1024));
        let (s, w) = Settings::parse(Some(&json!({"processes": {"keepEnded": 100001}})));
        assert_eq!(s.keep_ended, crate::engine::DEFAULT_KEEP_ENDED);
        assert!(w[0].contains("processes.keepEnded"), "{w:?}");
        assert!(Settings::default().restart_needed(&s).is_empty());
    }
}
