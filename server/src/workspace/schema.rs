//! The one table of every key the workspace files know: it drives the
//! unknown-key checks, the enum checks, completion and hover.

/// Where a key may appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ctx {
    /// The top level of `sandport.toml`.
    Root,
    /// `[services.NAME]`.
    Service,
    /// `ready = {port, …}`.
    ReadyPort,
    /// `ready = {log, …}`.
    ReadyLog,
    /// `expose = {…}` or each table of `expose = [{…}]`.
    Expose,
    /// A service's `health = {…}`.
    Health,
    /// A value of `[ports]` (and of the `ports` / `portsDefault` settings,
    /// spelt in camelCase there).
    PortAttrs,
    /// `health = {…}` inside port attributes: as a service's, without `port`.
    PortHealth,
}

pub struct KeyDoc {
    pub ctx: Ctx,
    pub key: &'static str,
    pub ty: &'static str,
    pub default: &'static str,
    pub doc: &'static str,
    /// The allowed values of an enum-like key (strings), else empty.
    pub values: &'static [&'static str],
}

pub const RESTART: &[&str] = &["no", "on-failure", "always"];
pub const MODE: &[&str] = &["http", "tcp"];
pub const STREAM: &[&str] = &["stdout", "stderr", "both"];
pub const VISIBILITY: &[&str] = &["public", "private"];
pub const ON_DETECT: &[&str] = &["notify", "expose", "silent", "ignore"];
pub const CONDITIONS: &[&str] = &["started", "ready", "healthy", "completed"];
/// The names `stop-signal` accepts (those of `killProcess.signal`).
pub const SIGNALS: &[&str] = &[
    "SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGKILL", "SIGUSR1", "SIGUSR2", "SIGSTOP",
    "SIGCONT", "SIGABRT", "SIGALRM", "SIGWINCH",
];
/// The doc of a `depends-on` condition, for hover and completion.
pub fn condition_doc(c: &str) -> &'static str {
    match c {
        "started" => "the dependency's process has been started",
        "ready" => {
            "the dependency is ready (its `ready` check passed, or it started when it has none)"
        }
        "healthy" => "the dependency's health probe has succeeded",
        "completed" => "the dependency has exited with status 0 (a migration, a build step)",
        _ => "",
    }
}

macro_rules! k {
    ($ctx:ident, $key:literal, $ty:literal, $default:literal, $doc:literal) => {
        k!($ctx, $key, $ty, $default, $doc, &[])
    };
    ($ctx:ident, $key:literal, $ty:literal, $default:literal, $doc:literal, $values:expr) => {
        KeyDoc {
            ctx: Ctx::$ctx,
            key: $key,
            ty: $ty,
            default: $default,
            doc: $doc,
            values: $values,
        }
    };
}

pub const SCHEMA: &[KeyDoc] = &[
    k!(Root, "services", "table of services", "none", "The workspace's services, one `[services.NAME]` table each; NAME matches `[a-z0-9][a-z0-9-]{0,62}`."),
    k!(Root, "ports", "table", "none", "Port attributes by port (`\"9229\"`) or range (`\"9000-9100\"`): `{label?, on-detect?, visibility?, health?}`, as the `ports` setting; the setting wins over this table, which wins over devcontainer.json."),
    k!(Service, "command", "string", "required", "Shell line that starts the service (run with `/bin/sh -c`), as `startProcess.command`."),
    k!(Service, "cwd", "string", "workspace root", "Working directory, relative to the workspace root; it must stay inside it."),
    k!(Service, "env", "table of strings", "{}", "Variables that overlay the environment."),
    k!(Service, "depends-on", "array of names, or table name → condition", "[]", "Start only when each dependency meets its condition: `started`, `ready`, `healthy` or `completed` (exited with 0). The array form means `ready`.", CONDITIONS),
    k!(Service, "ready", "table", "none (ready when started)", "When the service counts as ready: `{port, mode?, path?, status?, interval?, timeout?}` as `waitForPort`, or `{log, stream?, timeout?}` as `waitForLog`; `timeout` defaults to 60000 ms."),
    k!(Service, "expose", "table, array of tables, or a port number", "none", "Ports exposed once the service is ready: `{port, name?, ttl?, visibility?, token?, inspect?, open?}`; `open = true` opens the browser the first time."),
    k!(Service, "health", "table or false", "TCP probe of each exposed port", "Health probe of the service's exposed ports: `{port?, mode?, path?, status?, interval?, failures?}` as the protocol's Health; `false` turns probing off."),
    k!(Service, "restart", "\"no\" | \"on-failure\" | \"always\"", "\"no\"", "Restart after the service ends (on-failure: non-zero exit, or killed by a signal the server did not send), with backoff 1 s doubling to 30 s, at most `max-restarts` in a row.", RESTART),
    k!(Service, "max-restarts", "integer", "10", "How many restarts in a row before the service is left failed."),
    k!(Service, "stop-signal", "signal name", "\"SIGTERM\"", "Signal that stops the service, as `killProcess.signal`.", SIGNALS),
    k!(Service, "stop-grace", "milliseconds", "5000", "How long after `stop-signal` the service's process group is killed with SIGKILL, as `killProcess.graceMs`."),
    k!(Service, "autostart", "bool", "true", "Whether `up` with no names starts this service."),
    k!(ReadyPort, "port", "port number", "required", "Ready once this port answers (1–65535)."),
    k!(ReadyPort, "mode", "\"http\" | \"tcp\"", "\"http\"", "`http`: a GET must answer with `status`; `tcp`: a connection must be accepted.", MODE),
    k!(ReadyPort, "path", "string", "\"/\"", "Path of the HTTP check."),
    k!(ReadyPort, "status", "integer, or {min, max}", "{min = 200, max = 399}", "HTTP status (or range) that counts as ready."),
    k!(ReadyPort, "interval", "milliseconds", "500", "Time between two checks (clamped to 10–10000)."),
    k!(ReadyPort, "timeout", "milliseconds", "60000", "How long to wait before the service counts as failed."),
    k!(ReadyLog, "log", "string", "required", "Ready once a line of output contains this text; written `/re/flags` it is a regular expression (flags i, m, s, x)."),
    k!(ReadyLog, "stream", "\"stdout\" | \"stderr\" | \"both\"", "\"both\"", "Which output to search.", STREAM),
    k!(ReadyLog, "timeout", "milliseconds", "60000", "How long to wait before the service counts as failed."),
    k!(Expose, "port", "port number", "required", "The port to expose through the preview gateway (1024–65535)."),
    k!(Expose, "name", "string", "the port's label, if any", "Name of the exposure, shown in the editors."),
    k!(Expose, "ttl", "seconds", "none", "The exposure ends by itself after this many seconds (as `exposePort.ttlSeconds`)."),
    k!(Expose, "visibility", "\"public\" | \"private\"", "\"public\"", "`private`: the URL also needs the session key or a login link.", VISIBILITY),
    k!(Expose, "token", "string", "generated", "Fixed URL token, `[a-z0-9_]{1,16}` (a stable URL across sessions)."),
    k!(Expose, "inspect", "bool", "true", "Whether the request inspector records this port's requests."),
    k!(Expose, "open", "bool", "false", "Open the browser on the URL the first time it is exposed."),
    k!(Health, "port", "port number", "each exposed port", "Port to probe (1–65535)."),
    k!(Health, "mode", "\"http\" | \"tcp\"", "\"tcp\", \"http\" with a path", "How to probe: a TCP connect, or an HTTP GET.", MODE),
    k!(Health, "path", "string", "none", "Path of the HTTP probe (makes the probe HTTP)."),
    k!(Health, "status", "integer, or {min, max}", "{min = 200, max = 399}", "HTTP status (or range) that counts as healthy."),
    k!(Health, "interval", "milliseconds", "5000", "Time between two probes."),
    k!(Health, "failures", "integer", "2", "Consecutive failed probes that make the port unhealthy; one success makes it healthy."),
    k!(PortAttrs, "label", "string", "none", "Name of the port; it becomes the exposure's name when none is given."),
    k!(PortAttrs, "on-detect", "\"notify\" | \"expose\" | \"silent\" | \"ignore\"", "\"notify\"", "What the server does when the port starts listening: ask (`notify`), expose it (`expose`), expose it without telling (`silent`), or nothing (`ignore`).", ON_DETECT),
    k!(PortAttrs, "visibility", "\"public\" | \"private\"", "\"public\"", "Visibility of the port's exposure.", VISIBILITY),
    k!(PortAttrs, "health", "table or false", "TCP probe", "Health probe of the port's exposure: `{mode?, path?, status?, interval?, failures?}`, or `false`."),
    k!(PortHealth, "mode", "\"http\" | \"tcp\"", "\"tcp\", \"http\" with a path", "How to probe: a TCP connect, or an HTTP GET.", MODE),
    k!(PortHealth, "path", "string", "none", "Path of the HTTP probe (makes the probe HTTP)."),
    k!(PortHealth, "status", "integer, or {min, max}", "{min = 200, max = 399}", "HTTP status (or range) that counts as healthy."),
    k!(PortHealth, "interval", "milliseconds", "5000", "Time between two probes."),
    k!(PortHealth, "failures", "integer", "2", "Consecutive failed probes that make the port unhealthy; one success makes it healthy."),
];

pub fn keys(ctx: Ctx) -> impl Iterator<Item = &'static KeyDoc> {
    SCHEMA.iter().filter(move |k| k.ctx == ctx)
}

pub fn find(ctx: Ctx, key: &str) -> Option<&'static KeyDoc> {
    keys(ctx).find(|k| k.key == key)
}

/// `on-detect` → `onDetect`: how the settings spell a key.
pub fn camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut up = false;
    for c in key.chars() {
        if c == '-' {
            up = true;
        } else if up {
            out.push(c.to_ascii_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The hover text of a key: its type, default and meaning.
pub fn hover_text(k: &KeyDoc) -> String {
    format!(
        "**{}**: {}  (default: {})\n\n{}",
        k.key, k.ty, k.default, k.doc
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_context_has_keys_and_no_key_is_listed_twice() {
        for ctx in [
            Ctx::Root,
            Ctx::Service,
            Ctx::ReadyPort,
            Ctx::ReadyLog,
            Ctx::Expose,
            Ctx::Health,
            Ctx::PortAttrs,
            Ctx::PortHealth,
        ] {
            let names: Vec<_> = keys(ctx).map(|k| k.key).collect();
            assert!(!names.is_empty(), "{ctx:?}");
            let mut dedup = names.clone();
            dedup.sort();
            dedup.dedup();
            assert_eq!(dedup.len(), names.len(), "{ctx:?}");
        }
        assert_eq!(camel("on-detect"), "onDetect");
        assert_eq!(camel("label"), "label");
    }

    #[test]
    fn signals_are_the_backend_s() {
        for s in SIGNALS {
            assert!(crate::backend::signal_from_name(s).is_some(), "{s}");
        }
    }
}
