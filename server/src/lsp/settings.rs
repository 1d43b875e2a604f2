//! The contract's `sandport` settings, from `initializationOptions` and
//! `workspace/didChangeConfiguration`. Keys may come nested
//! (`{gateway: {listen}}`) or dotted (`{"gateway.listen": …}`).

use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExpose {
    Notify,
    OpenBrowser,
    Silent,
}

/// `logs.bufferBytes` bounds: 64 KiB to 1 GiB per stream.
pub const MIN_LOG_BUFFER: u64 = 64 * 1024;
pub const MAX_LOG_BUFFER: u64 = 1 << 30;

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

impl Settings {
    /// Parse the `sandport` section (or an object holding it under
    /// `sandport`). Returns the settings and a warning for each value that
    /// was ignored (the default is kept for it).
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
        for (k, v) in &flat {
            if v.is_null() {
                continue;
            }
            let as_str = || v.as_str().map(str::to_string);
            let mut ok = true;
            match k.as_str() {
                "backend" => match v.as_str() {
                    Some(b @ ("local" | "docker")) => s.backend = b.into(),
                    _ => ok = false,
                },
                "sandboxId" => match as_str() {
                    Some(x) if !x.is_empty() => s.sandbox_id = Some(x),
                    _ => ok = false,
                },
                "docker.image" => {
                    s.docker_image = as_str().or_else(|| {
                        ok = false;
                        None
                    })
                }
                "docker.host" => {
                    s.docker_host = as_str().or_else(|| {
                        ok = false;
                        None
                    })
                }
                "docker.agentPath" => {
                    s.docker_agent_path = as_str().or_else(|| {
                        ok = false;
                        None
                    })
                }
                "docker.mounts" => match v.as_array() {
                    Some(a) if a.iter().all(Value::is_string) => {
                        s.docker_mounts = a
                            .iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    }
                    _ => ok = false,
                },
                "logs.bufferBytes" => match v.as_u64() {
                    Some(n) if (MIN_LOG_BUFFER..=MAX_LOG_BUFFER).contains(&n) => {
                        s.log_buffer_bytes = n as usize
                    }
                    _ => ok = false,
                },
                "processes.keepEnded" => match v.as_u64() {
                    Some(n) if n <= 100_000 => s.keep_ended = n as usize,
                    _ => ok = false,
                },
                "processes.endedLogBytes" => match v.as_u64() {
                    Some(n) => s.ended_log_bytes = n.min(usize::MAX as u64) as usize,
                    _ => ok = false,
                },
                "gateway.listen" => match as_str() {
                    Some(x) if x.parse::<std::net::SocketAddr>().is_ok() => {
                        s.gateway_listen = Some(x)
                    }
                    _ => ok = false,
                },
                "gateway.domain" => match as_str() {
                    Some(x) if !x.is_empty() => s.gateway_domain = x,
                    _ => ok = false,
                },
                "gateway.publicUrl" => match as_str() {
                    Some(x) if x.starts_with("http://") || x.starts_with("https://") => {
                        s.gateway_public_url = Some(x.trim_end_matches('/').to_string())
                    }
                    Some(x) if x.is_empty() => s.gateway_public_url = None,
                    _ => ok = false,
                },
                "gateway.tls.cert" => {
                    s.tls_cert = as_str().or_else(|| {
                        ok = false;
                        None
                    })
                }
                "gateway.tls.key" => {
                    s.tls_key = as_str().or_else(|| {
                        ok = false;
                        None
                    })
                }
                "gateway.hostHeader" => match v.as_str() {
                    Some(h @ ("localhost" | "preserve")) => s.host_header = h.into(),
                    _ => ok = false,
                },
                "onExpose" => match v.as_str() {
                    Some("notify") => s.on_expose = OnExpose::Notify,
                    Some("openBrowser") => s.on_expose = OnExpose::OpenBrowser,
                    Some("silent") => s.on_expose = OnExpose::Silent,
                    _ => ok = false,
                },
                // The editors' own keys (where to find the server, tracing):
                // part of the same settings section, not ours to judge.
                other if other.starts_with("server.") || other.starts_with("trace.") => {}
                other => {
                    warn.push(format!("unknown setting sandport.{other} ignored"));
                    continue;
                }
            }
            if !ok {
                warn.push(format!(
                    "sandport.{k}: {v} is not a valid value; the default is used"
                ));
            }
        }
        (s, warn)
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
}
