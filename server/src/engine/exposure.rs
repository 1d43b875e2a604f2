//! Exposed ports: which sandbox port answers at which preview label
//! `{port}-{sandboxId}-{token}`, for how long, and the signal that ends the
//! connections opened through a label when it stops being valid (close,
//! rotation, expiry, sandbox id change).
//!
//! The state lives in [`Exposures`] (one per [`Engine`]); the public API is
//! the `impl Engine` block at the end of this file, so `engine/mod.rs` only
//! holds the field.

use super::access::{Access, Visibility, LOGIN_TTL};
use super::error::{EngineError, Result};
use super::types::{Event, ExposedPort};
use super::{random_string, Engine, Inner};
use std::collections::BTreeMap;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;

/// Length of generated tokens.
pub const TOKEN_LEN: usize = 16;
/// Longest custom token.
pub const MAX_TOKEN_LEN: usize = 16;
/// A DNS label's limit.
pub const MAX_LABEL_LEN: usize = 63;
/// Longest sandbox id: `65535-{id}-{16-char token}` must fit in a label.
pub const MAX_SANDBOX_ID_LEN: usize = MAX_LABEL_LEN - 5 - 1 - 1 - TOKEN_LEN;
/// Lowest port that may be exposed.
pub const MIN_PORT: u16 = 1024;
/// Longest `ttlSeconds` accepted (one year).
pub const MAX_TTL_SECONDS: u64 = 365 * 86_400;
/// Longest port name accepted.
pub const MAX_NAME_LEN: usize = 256;
/// Length of the direct-connection session key.
pub const SESSION_KEY_LEN: usize = 48;

/// How preview URLs are spelled: `{scheme}://{label}.{domain}[:{port}]/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlBase {
    /// `http` or `https`.
    pub scheme: String,
    /// What follows the label, e.g. `localhost` or `example.dev`.
    pub domain: String,
    /// The port shown in URLs; `None` when it is the scheme's default.
    pub port: Option<u16>,
    /// The `gateway.publicUrl` setting this base came from, if any.
    pub public_url: Option<String>,
}

impl Default for UrlBase {
    fn default() -> Self {
        UrlBase {
            scheme: "http".into(),
            domain: "localhost".into(),
            port: None,
            public_url: None,
        }
    }
}

impl UrlBase {
    /// A base for a gateway serving `scheme` on `domain`, reachable on
    /// `port` (hidden when it is the scheme's default).
    pub fn new(scheme: &str, domain: &str, port: u16) -> UrlBase {
        let default = if scheme == "https" { 443 } else { 80 };
        UrlBase {
            scheme: scheme.to_string(),
            domain: domain.trim_matches('.').to_ascii_lowercase(),
            port: (port != default).then_some(port),
            public_url: None,
        }
    }

    /// The base for `gateway.publicUrl` (`https://example.dev`,
    /// `http://preview.example.dev:8443`): its host becomes the domain, its
    /// scheme and port are what URLs show.
    pub fn from_public_url(public_url: &str) -> Result<UrlBase> {
        let bad = |why: &str| EngineError::invalid(format!("publicUrl {public_url:?}: {why}"));
        let (scheme, rest) = public_url
            .split_once("://")
            .ok_or_else(|| bad("must start with http:// or https://"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(bad("scheme must be http or https"));
        }
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
            return Err(bad("must be scheme://host[:port] with no path"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h,
                Some(p.parse::<u16>().map_err(|_| bad("port is not a number"))?),
            ),
            None => (authority, None),
        };
        let host = host.trim_matches('.').to_ascii_lowercase();
        if host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(bad("host must be a DNS name"));
        }
        let mut base = match port {
            Some(p) => UrlBase::new(&scheme, &host, p),
            None => UrlBase::new(&scheme, &host, if scheme == "https" { 443 } else { 80 }),
        };
        base.public_url = Some(public_url.to_string());
        Ok(base)
    }

    /// The URL of a preview label.
    pub fn url(&self, label: &str) -> String {
        match self.port {
            Some(p) => format!("{}://{label}.{}:{p}/", self.scheme, self.domain),
            None => format!("{}://{label}.{}/", self.scheme, self.domain),
        }
    }
}

/// The sandbox id for a workspace folder name: lowercase `[a-z0-9-]`, no
/// leading or trailing `-`, at most [`MAX_SANDBOX_ID_LEN`] characters, and
/// `sandbox` when nothing usable is left.
pub fn derive_sandbox_id(folder_name: &str) -> String {
    let mut out = String::new();
    for c in folder_name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(MAX_SANDBOX_ID_LEN);
    let out = out.trim_matches('-').to_string();
    if out.is_empty() {
        "sandbox".into()
    } else {
        out
    }
}

/// Checks a sandbox id given by the user (`sandboxId` setting).
pub fn validate_sandbox_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && !id.starts_with('-')
        && !id.ends_with('-')
        && id
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
    if !ok {
        return Err(EngineError::invalid(format!(
            "sandboxId {id:?} must be lowercase letters, digits and '-', not starting or ending with '-'"
        )));
    }
    if id.len() > MAX_SANDBOX_ID_LEN {
        return Err(EngineError::LabelTooLong(format!(
            "sandboxId {id:?} is {} characters; at most {MAX_SANDBOX_ID_LEN} fit in a preview label \
             ({{port}}-{{sandboxId}}-{{token}} must be at most {MAX_LABEL_LEN})",
            id.len()
        )));
    }
    Ok(())
}

fn validate_token(token: &str) -> Result<()> {
    let ok = !token.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && token
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_');
    if ok {
        Ok(())
    } else {
        Err(EngineError::InvalidToken(format!(
            "token must be 1-{MAX_TOKEN_LEN} characters of [a-z0-9_]"
        )))
    }
}

fn label(port: u16, sandbox_id: &str, token: &str) -> String {
    format!("{port}-{sandbox_id}-{token}")
}

/// What the gateway needs to serve a preview label.
#[derive(Debug, Clone)]
pub struct Route {
    pub port: u16,
    /// Cancelled when this exposure stops being valid (closed, rotated,
    /// expired, sandbox id changed): connections opened through it end.
    pub closed: CancellationToken,
    /// Requests and tunnels in flight through this exposure (the gateway
    /// counts them to enforce its per-exposure limit).
    pub active: Arc<AtomicUsize>,
    /// Requests need a credential (`X-Sandport-Key` or the login cookie).
    pub private: bool,
    /// The login tickets and cookie of this exposure (for this token).
    pub access: Arc<Access>,
}

/// What [`Engine::expose_port_with`] is asked for; `None` keeps what an
/// existing exposure has (a new one: no name, a fresh token, no expiry,
/// public).
#[derive(Debug, Clone, Default)]
pub struct ExposeOptions {
    pub name: Option<String>,
    pub token: Option<String>,
    pub ttl_seconds: Option<u64>,
    pub visibility: Option<Visibility>,
}

/// A login link of a preview (`sandport.createLoginLink`'s result).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginLink {
    pub url: String,
    pub expires_at: String,
}

/// The path of login links on a preview host.
pub const LOGIN_PATH: &str = "/_sandport/login";

struct Entry {
    name: Option<String>,
    token: String,
    /// Wall-clock expiry (for `expiresAt`) and its monotonic twin (for routing).
    expires: Option<(String, Instant)>,
    closed: CancellationToken,
    active: Arc<AtomicUsize>,
    /// Bumped whenever the expiry changes, so stale timers do nothing.
    timer_gen: u64,
    visibility: Visibility,
    /// New with every token: cookies and tickets of an old URL die with it.
    access: Arc<Access>,
}

impl Entry {
    fn expired(&self, now: Instant) -> bool {
        self.expires.as_ref().is_some_and(|(_, at)| now >= *at)
    }
}

struct State {
    sandbox_id: String,
    url_base: UrlBase,
    reserved: Vec<u16>,
    ports: BTreeMap<u16, Entry>,
}

/// The exposure table of one engine.
pub(crate) struct Exposures {
    state: Mutex<State>,
    session_key: String,
}

impl Exposures {
    pub(crate) fn new(sandbox_id: String) -> Exposures {
        Exposures {
            state: Mutex::new(State {
                sandbox_id,
                url_base: UrlBase::default(),
                reserved: Vec::new(),
                ports: BTreeMap::new(),
            }),
            session_key: random_string(SESSION_KEY_LEN),
        }
    }
}

impl State {
    fn list(&self) -> Vec<ExposedPort> {
        self.ports
            .iter()
            .map(|(&port, e)| ExposedPort {
                port,
                name: e.name.clone(),
                url: self.url_base.url(&label(port, &self.sandbox_id, &e.token)),
                expires_at: e.expires.as_ref().map(|(s, _)| s.clone()),
                visibility: e.visibility,
            })
            .collect()
    }

    /// Drops entries whose time is up; whether any was.
    fn sweep(&mut self, now: Instant) -> bool {
        let dead: Vec<u16> = self
            .ports
            .iter()
            .filter(|(_, e)| e.expired(now))
            .map(|(&p, _)| p)
            .collect();
        for p in &dead {
            if let Some(e) = self.ports.remove(p) {
                e.closed.cancel();
            }
        }
        !dead.is_empty()
    }
}

fn rfc3339_in(secs: u64) -> String {
    let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(secs as i64);
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Ends an exposure at its deadline unless it was closed, rotated or
/// re-timed first.
fn spawn_expiry(weak: Weak<Inner>, port: u16, gen: u64, at: Instant, closed: CancellationToken) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        // No runtime: expiry still holds for routing (checked on lookup).
        return;
    };
    rt.spawn(async move {
        tokio::select! {
            _ = tokio::time::sleep_until(at.into()) => {}
            _ = closed.cancelled() => return,
        }
        let Some(inner) = weak.upgrade() else { return };
        let engine = Engine { inner };
        let list = {
            let mut st = engine.inner.exposures.state.lock().unwrap();
            match st.ports.get(&port) {
                Some(e) if e.timer_gen == gen => {}
                _ => return,
            }
            st.sweep(Instant::now().max(at));
            st.list()
        };
        tracing::info!(port, "exposure expired");
        engine.emit(Event::PortsChanged(list));
    });
}

impl Engine {
    fn exposures(&self) -> &Exposures {
        &self.inner.exposures
    }

    /// Sets the sandbox id used in preview URLs. Existing exposures keep
    /// their tokens but get new URLs; the old URLs stop working at once.
    pub fn set_sandbox_id(&self, id: String) -> Result<()> {
        validate_sandbox_id(&id)?;
        let list = {
            let mut st = self.exposures().state.lock().unwrap();
            if st.sandbox_id == id {
                return Ok(());
            }
            if let Some((port, e)) = st
                .ports
                .iter()
                .find(|(&p, e)| label(p, &id, &e.token).len() > MAX_LABEL_LEN)
            {
                return Err(EngineError::LabelTooLong(format!(
                    "with sandboxId {id:?}, port {port}'s label {:?} would exceed {MAX_LABEL_LEN} characters",
                    label(*port, &id, &e.token)
                )));
            }
            st.sandbox_id = id;
            for e in st.ports.values_mut() {
                e.closed.cancel();
                e.closed = CancellationToken::new();
            }
            st.list()
        };
        if !list.is_empty() {
            self.emit(Event::PortsChanged(list));
        }
        Ok(())
    }

    pub fn sandbox_id(&self) -> String {
        self.exposures().state.lock().unwrap().sandbox_id.clone()
    }

    /// How URLs are spelled; the front end (or [`crate::gateway::Gateway::start`])
    /// sets it once the gateway is bound. Emits `PortsChanged` if URLs change.
    pub fn set_url_base(&self, base: UrlBase) {
        let list = {
            let mut st = self.exposures().state.lock().unwrap();
            if st.url_base == base {
                return;
            }
            st.url_base = base;
            st.list()
        };
        if !list.is_empty() {
            self.emit(Event::PortsChanged(list));
        }
    }

    pub fn url_base(&self) -> UrlBase {
        self.exposures().state.lock().unwrap().url_base.clone()
    }

    /// Ports that may not be exposed besides those below 1024 (the gateway's
    /// own port).
    pub fn set_reserved_ports(&self, ports: Vec<u16>) {
        self.exposures().state.lock().unwrap().reserved = ports;
    }

    pub fn reserved_ports(&self) -> Vec<u16> {
        self.exposures().state.lock().unwrap().reserved.clone()
    }

    /// Exposes `port` (or re-exposes it). Without `token` a new exposure
    /// gets a fresh CSPRNG token and an existing one keeps its own; with a
    /// different `token` it rotates (connections through the old URL end).
    /// `name` replaces the name when given; `ttl_seconds` sets a new expiry
    /// when given (otherwise an existing expiry is kept).
    pub fn expose_port(
        &self,
        port: u16,
        name: Option<String>,
        token: Option<String>,
        ttl_seconds: Option<u64>,
    ) -> Result<ExposedPort> {
        self.expose_port_with(
            port,
            ExposeOptions {
                name,
                token,
                ttl_seconds,
                visibility: None,
            },
        )
    }

    /// [`Engine::expose_port`] with every option, `visibility` included
    /// (kept on re-exposure when not given; a new exposure is public).
    pub fn expose_port_with(&self, port: u16, opts: ExposeOptions) -> Result<ExposedPort> {
        let ExposeOptions {
            name,
            token,
            ttl_seconds,
            visibility,
        } = opts;
        if port < MIN_PORT {
            return Err(EngineError::InvalidPort(format!(
                "port {port} is outside {MIN_PORT}-65535"
            )));
        }
        if let Some(t) = &token {
            validate_token(t)?;
        }
        if let Some(n) = &name {
            if n.len() > MAX_NAME_LEN || n.chars().any(char::is_control) {
                return Err(EngineError::invalid(format!(
                    "name must be at most {MAX_NAME_LEN} bytes without control characters"
                )));
            }
        }
        if let Some(ttl) = ttl_seconds {
            if ttl == 0 || ttl > MAX_TTL_SECONDS {
                return Err(EngineError::invalid(format!(
                    "ttlSeconds must be between 1 and {MAX_TTL_SECONDS}"
                )));
            }
        }
        let now = Instant::now();
        let (exposed, list, timer) = {
            let mut st = self.exposures().state.lock().unwrap();
            if st.reserved.contains(&port) {
                return Err(EngineError::InvalidPort(format!(
                    "port {port} is reserved (the preview gateway listens on it)"
                )));
            }
            st.sweep(now);
            if let Some(t) = &token {
                if st.ports.iter().any(|(&p, e)| p != port && e.token == *t) {
                    return Err(EngineError::TokenInUse(t.clone()));
                }
            }
            let new_token = match (&token, st.ports.get(&port)) {
                (Some(t), _) => t.clone(),
                (None, Some(e)) => e.token.clone(),
                (None, None) => loop {
                    let t = random_string(TOKEN_LEN);
                    if !st.ports.values().any(|e| e.token == t) {
                        break t;
                    }
                },
            };
            let l = label(port, &st.sandbox_id, &new_token);
            if l.len() > MAX_LABEL_LEN {
                return Err(EngineError::LabelTooLong(format!(
                    "preview label {l:?} is {} characters; at most {MAX_LABEL_LEN} are allowed",
                    l.len()
                )));
            }
            let expires = ttl_seconds.map(|s| (rfc3339_in(s), now + Duration::from_secs(s)));
            let entry = st.ports.entry(port).or_insert_with(|| Entry {
                name: None,
                token: new_token.clone(),
                expires: None,
                closed: CancellationToken::new(),
                active: Arc::new(AtomicUsize::new(0)),
                timer_gen: 0,
                visibility: Visibility::Public,
                access: Arc::new(Access::new()),
            });
            if entry.token != new_token {
                // Rotation: the old URL dies now, with its connections.
                entry.closed.cancel();
                entry.closed = CancellationToken::new();
                entry.active = Arc::new(AtomicUsize::new(0));
                entry.access = Arc::new(Access::new());
                entry.token = new_token;
            }
            if let Some(v) = visibility {
                entry.visibility = v;
            }
            if name.is_some() {
                entry.name = name;
            }
            let mut timer = None;
            if let Some(exp) = expires {
                entry.timer_gen += 1;
                timer = Some((entry.timer_gen, exp.1, entry.closed.clone()));
                entry.expires = Some(exp);
            }
            let list = st.list();
            let exposed = list.iter().find(|e| e.port == port).cloned();
            (exposed, list, timer)
        };
        if let Some((gen, at, closed)) = timer {
            spawn_expiry(Arc::downgrade(&self.inner), port, gen, at, closed);
        }
        self.emit(Event::PortsChanged(list));
        exposed.ok_or_else(|| EngineError::Failed("exposure vanished".into()))
    }

    /// Every exposure, sorted by port.
    pub fn exposed_ports(&self) -> Vec<ExposedPort> {
        let mut st = self.exposures().state.lock().unwrap();
        let swept = st.sweep(Instant::now());
        let list = st.list();
        drop(st);
        if swept {
            self.emit(Event::PortsChanged(list.clone()));
        }
        list
    }

    /// Ends the exposure of `port`; whether there was one. Idempotent.
    pub fn close_port(&self, port: u16) -> bool {
        let list = {
            let mut st = self.exposures().state.lock().unwrap();
            let Some(e) = st.ports.remove(&port) else {
                return false;
            };
            e.closed.cancel();
            st.list()
        };
        self.emit(Event::PortsChanged(list));
        true
    }

    /// Ends every exposure (shutdown).
    pub fn close_all_ports(&self) {
        let had = {
            let mut st = self.exposures().state.lock().unwrap();
            let had = !st.ports.is_empty();
            for (_, e) in std::mem::take(&mut st.ports) {
                e.closed.cancel();
            }
            had
        };
        if had {
            self.emit(Event::PortsChanged(Vec::new()));
        }
    }

    /// The secret of the gateway's direct connection (`sandport.info`'s
    /// `gateway.sessionKey`), from the OS CSPRNG, fixed for the engine's life.
    pub fn session_key(&self) -> String {
        self.exposures().session_key.clone()
    }

    /// Whether `key` is the session key (constant time).
    pub fn check_session_key(&self, key: &str) -> bool {
        bool::from(
            key.as_bytes()
                .ct_eq(self.exposures().session_key.as_bytes()),
        )
    }

    /// The exposure a preview label (`{port}-{sandboxId}-{token}`, the Host's
    /// first label) names, if it is valid now. The secret part is compared
    /// in constant time.
    pub fn route(&self, host_first_label: &str) -> Option<Route> {
        let given = host_first_label.as_bytes();
        let digits = given.iter().take_while(|c| c.is_ascii_digit()).count();
        let port: Option<u16> = if (1..=5).contains(&digits) && given.get(digits) == Some(&b'-') {
            host_first_label[..digits].parse().ok()
        } else {
            None
        };
        let st = self.exposures().state.lock().unwrap();
        let entry = port.and_then(|p| st.ports.get(&p));
        // `{sandboxId}-{token}` after the port, compared without building the
        // label (this runs per request) and in time that depends only on
        // the expected label: against a stand-in of the same shape when the
        // port is unknown, so timing says as little as the 404 body does.
        let token = entry.map_or("________________", |e| e.token.as_str());
        let rest = given.get(digits + 1..).unwrap_or(&[]);
        let expected = st
            .sandbox_id
            .bytes()
            .chain(std::iter::once(b'-'))
            .chain(token.bytes());
        let mut diff = u8::from(rest.len() != st.sandbox_id.len() + 1 + token.len());
        for (i, e) in expected.enumerate() {
            diff |= rest.get(i).copied().unwrap_or(0) ^ e;
        }
        // The port as written must be the canonical one (no leading zero).
        let same = diff == 0 && given.first() != Some(&b'0');
        let e = entry?;
        if !same || e.expired(Instant::now()) {
            return None;
        }
        Some(Route {
            port: port?,
            closed: e.closed.clone(),
            active: e.active.clone(),
            private: e.visibility == Visibility::Private,
            access: e.access.clone(),
        })
    }

    /// A single-use login link to `port`'s preview, valid for 60 s; `path`
    /// (a path on the preview's host, default `/`) is where it leads.
    pub fn create_login_link(&self, port: u16, path: Option<&str>) -> Result<LoginLink> {
        if let Some(p) = path {
            if !p.starts_with('/')
                || p.starts_with("//")
                || p.contains('\\')
                || p.len() > 2048
                || p.chars().any(|c| c.is_control() || c == ' ')
            {
                return Err(EngineError::invalid(format!(
                    "path {p:?} must be a path on the preview's host (starting with one '/')"
                )));
            }
        }
        let now = Instant::now();
        let mut st = self.exposures().state.lock().unwrap();
        st.sweep(now);
        let Some(e) = st.ports.get(&port) else {
            return Err(EngineError::InvalidPort(format!(
                "port {port} is not exposed"
            )));
        };
        let ticket = e.access.issue(now);
        let base = st.url_base.url(&label(port, &st.sandbox_id, &e.token));
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("ticket", &ticket);
        if let Some(p) = path {
            q.append_pair("next", p);
        }
        Ok(LoginLink {
            url: format!("{base}{}?{}", &LOGIN_PATH[1..], q.finish()),
            expires_at: rfc3339_in(LOGIN_TTL.as_secs()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::local::{LocalBackend, LocalOptions};
    use crate::engine::EngineConfig;

    fn engine(dir: &std::path::Path) -> Engine {
        let backend = LocalBackend::new(LocalOptions {
            watchdog: false,
            subreaper: false,
        })
        .unwrap();
        Engine::new(EngineConfig::new(dir), Arc::new(backend)).unwrap()
    }

    fn first_label(url: &str) -> &str {
        url.split("://").nth(1).unwrap().split('.').next().unwrap()
    }

    #[test]
    fn sandbox_ids() {
        assert_eq!(derive_sandbox_id("My Project_2"), "my-project-2");
        assert_eq!(derive_sandbox_id("--Ünïcode--"), "n-code");
        assert_eq!(derive_sandbox_id("..."), "sandbox");
        assert_eq!(derive_sandbox_id(""), "sandbox");
        let long = derive_sandbox_id(&"ab-".repeat(40));
        assert!(long.len() <= MAX_SANDBOX_ID_LEN && !long.ends_with('-'));
        validate_sandbox_id(&long).unwrap();
        let l = label(65535, &long, &"x".repeat(16));
        assert!(l.len() <= 63, "{l}");
        assert!(validate_sandbox_id("a").is_ok());
        assert_eq!(
            validate_sandbox_id(&"a".repeat(41)).unwrap_err().code(),
            "LABEL_TOO_LONG"
        );
        for bad in ["", "-a", "a-", "A", "a_b", "a.b"] {
            assert_eq!(
                validate_sandbox_id(bad).unwrap_err().code(),
                "INVALID_ARGUMENT",
                "{bad}"
            );
        }
    }

    #[test]
    fn url_bases() {
        let b = UrlBase::new("http", "localhost", 7357);
        assert_eq!(b.url("8000-x-t"), "http://8000-x-t.localhost:7357/");
        assert_eq!(
            UrlBase::new("https", "example.dev", 443).url("l"),
            "https://l.example.dev/"
        );
        let p = UrlBase::from_public_url("https://example.dev").unwrap();
        assert_eq!(p.url("l"), "https://l.example.dev/");
        let p = UrlBase::from_public_url("http://Preview.Example.dev:8080/").unwrap();
        assert_eq!(p.url("l"), "http://l.preview.example.dev:8080/");
        assert!(UrlBase::from_public_url("ftp://x").is_err());
        assert!(UrlBase::from_public_url("https://x/path").is_err());
    }

    #[tokio::test]
    async fn token_and_port_rules() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        e.set_sandbox_id("box".into()).unwrap();
        e.set_reserved_ports(vec![7357]);
        assert_eq!(
            e.expose_port(80, None, None, None).unwrap_err().code(),
            "INVALID_PORT"
        );
        assert_eq!(
            e.expose_port(1023, None, None, None).unwrap_err().code(),
            "INVALID_PORT"
        );
        assert_eq!(
            e.expose_port(7357, None, None, None).unwrap_err().code(),
            "INVALID_PORT"
        );
        for bad in ["", "UPPER", "has-dash", "x".repeat(17).as_str(), "sp ace"] {
            assert_eq!(
                e.expose_port(3000, None, Some(bad.into()), None)
                    .unwrap_err()
                    .code(),
                "INVALID_TOKEN",
                "{bad:?}"
            );
        }
        let a = e.expose_port(3000, Some("api".into()), None, None).unwrap();
        let t = first_label(&a.url).rsplit('-').next().unwrap().to_string();
        assert_eq!(t.len(), 16);
        assert!(t
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        assert_eq!(a.name.as_deref(), Some("api"));
        assert_eq!(a.expires_at, None);
        // Re-expose without token: same URL.
        let again = e.expose_port(3000, None, None, None).unwrap();
        assert_eq!(again.url, a.url);
        assert_eq!(again.name.as_deref(), Some("api"));
        // Custom token used elsewhere.
        e.expose_port(4000, None, Some("mine_1".into()), None)
            .unwrap();
        assert_eq!(
            e.expose_port(3000, None, Some("mine_1".into()), None)
                .unwrap_err()
                .code(),
            "TOKEN_IN_USE"
        );
        // Same token on its own port is fine (no rotation).
        e.expose_port(4000, None, Some("mine_1".into()), None)
            .unwrap();
        assert_eq!(
            e.exposed_ports().iter().map(|p| p.port).collect::<Vec<_>>(),
            vec![3000, 4000]
        );
        // Label length.
        let long_id = "a".repeat(40);
        e.set_sandbox_id(long_id).unwrap();
        e.expose_port(5000, None, Some("x".repeat(16)), None)
            .unwrap();
        e.set_sandbox_id("box".into()).unwrap();
        assert!(e.close_port(5000));
        assert!(!e.close_port(5000));
    }

    #[tokio::test]
    async fn routing_rotation_close_and_events() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        e.set_sandbox_id("box".into()).unwrap();
        e.set_url_base(UrlBase::new("http", "localhost", 7357));
        let mut rx = e.subscribe();
        let a = e.expose_port(3000, None, Some("one".into()), None).unwrap();
        assert_eq!(a.url, "http://3000-box-one.localhost:7357/");
        let ev = rx.recv().await.unwrap();
        assert!(matches!(ev, Event::PortsChanged(ref l) if l.len() == 1));
        let r = e.route("3000-box-one").unwrap();
        assert_eq!(r.port, 3000);
        assert!(e.route("3000-box-two").is_none());
        assert!(e.route("3000-other-one").is_none());
        assert!(e.route("3001-box-one").is_none());
        assert!(e.route("junk").is_none());
        // Near misses: a prefix, an extra byte, a leading zero, no token.
        assert!(e.route("3000-box-on").is_none());
        assert!(e.route("3000-box-one1").is_none());
        assert!(e.route("03000-box-one").is_none());
        assert!(e.route("3000-box-").is_none());
        assert!(e.route("3000-").is_none());
        assert!(e.route("3000").is_none());
        // Rotation.
        e.expose_port(3000, None, Some("two".into()), None).unwrap();
        assert!(r.closed.is_cancelled());
        assert!(e.route("3000-box-one").is_none());
        let r2 = e.route("3000-box-two").unwrap();
        assert!(!r2.closed.is_cancelled());
        // URL base change re-emits.
        while rx.try_recv().is_ok() {}
        e.set_url_base(UrlBase::new("http", "localhost", 9999));
        match rx.try_recv().unwrap() {
            Event::PortsChanged(l) => assert_eq!(l[0].url, "http://3000-box-two.localhost:9999/"),
            other => panic!("{other:?}"),
        }
        assert!(e.close_port(3000));
        assert!(r2.closed.is_cancelled());
        match rx.try_recv().unwrap() {
            Event::PortsChanged(l) => assert!(l.is_empty()),
            other => panic!("{other:?}"),
        }
        e.expose_port(3000, None, None, None).unwrap();
        e.expose_port(3001, None, None, None).unwrap();
        e.close_all_ports();
        assert!(e.exposed_ports().is_empty());
        assert!(e.session_key().len() >= 32);
        assert!(e.check_session_key(&e.session_key()));
        assert!(!e.check_session_key("nope"));
    }

    #[tokio::test]
    async fn ttl_expires_by_itself() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        e.set_sandbox_id("box".into()).unwrap();
        assert_eq!(
            e.expose_port(3000, None, None, Some(0)).unwrap_err().code(),
            "INVALID_ARGUMENT"
        );
        let mut rx = e.subscribe();
        let a = e
            .expose_port(3000, None, Some("tok".into()), Some(1))
            .unwrap();
        let at = a.expires_at.clone().unwrap();
        assert!(
            at.ends_with('Z') && at > rfc3339_in(0) && at <= rfc3339_in(2),
            "{at}"
        );
        let r = e.route("3000-box-tok").unwrap();
        let _ = rx.recv().await.unwrap();
        let ev = tokio::time::timeout(Duration::from_secs(3), rx.recv())
            .await
            .expect("expiry event")
            .unwrap();
        assert!(matches!(ev, Event::PortsChanged(ref l) if l.is_empty()));
        assert!(r.closed.is_cancelled());
        assert!(e.route("3000-box-tok").is_none());
        assert!(e.exposed_ports().is_empty());
    }
}
