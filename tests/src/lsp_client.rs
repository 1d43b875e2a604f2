//! A JSON-RPC client over the pipes of a real `sandport lsp` process.
//!
//! A reader thread parses every frame the server writes: responses are
//! matched to requests, notifications are recorded (with their arrival
//! time), and requests from the server are answered at once by a
//! [`Policy`] (and recorded). Every wait has a deadline.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How the fake editor answers the server's requests.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// The action picked in `window/showMessageRequest` (None: dismissed).
    pub message_action: Option<String>,
}

#[derive(Default)]
struct State {
    responses: HashMap<String, Value>,
    notifications: Vec<(Instant, Value)>,
    server_requests: Vec<Value>,
    /// Frames that were not JSON (must never happen: stdout is protocol only).
    garbage: Vec<String>,
    closed: bool,
    bytes_in: u64,
    policy: Policy,
}

struct Shared {
    state: Mutex<State>,
    cond: Condvar,
    stdin: Mutex<Option<ChildStdin>>,
}

pub struct Lsp {
    child: Child,
    shared: Arc<Shared>,
    next_id: AtomicI64,
    stderr: Arc<Mutex<Vec<u8>>>,
    pub root: std::path::PathBuf,
}

/// Default deadline of a request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

fn write_frame(w: &mut impl Write, v: &Value) -> std::io::Result<()> {
    let body = v.to_string();
    write!(w, "Content-Length: {}\r\n\r\n{}", body.len(), body)?;
    w.flush()
}

fn key(id: &Value) -> String {
    id.to_string()
}

impl Lsp {
    /// Start `sandport lsp` in `root` (not yet initialized).
    pub fn spawn(root: &Path) -> Lsp {
        Self::spawn_with(root, &[])
    }

    pub fn spawn_with(root: &Path, env: &[(&str, &str)]) -> Lsp {
        let mut bin = crate::sandport_bin();
        if bin.is_relative() {
            // The server runs in `root`; a relative path is ours.
            bin = std::env::current_dir().expect("cwd").join(bin);
        }
        let mut cmd = Command::new(bin);
        cmd.arg("lsp")
            .current_dir(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn sandport lsp");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let mut stderr_pipe = child.stderr.take().expect("stderr");
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            cond: Condvar::new(),
            stdin: Mutex::new(Some(stdin)),
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        {
            let stderr = stderr.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = stderr_pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    stderr.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
        }
        {
            let shared = shared.clone();
            std::thread::spawn(move || reader(BufReader::new(stdout), shared));
        }
        Lsp {
            child,
            shared,
            next_id: AtomicI64::new(1),
            stderr,
            root: root.to_path_buf(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn set_policy(&self, p: Policy) {
        self.shared.state.lock().unwrap().policy = p;
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// The capabilities a full-featured editor announces.
    pub fn client_capabilities() -> Value {
        json!({
            "window": {"workDoneProgress": true, "showDocument": {"support": true},
                        "showMessage": {"messageActionItem": {"additionalPropertiesSupport": false}}},
            "workspace": {"codeLens": {"refreshSupport": true}, "configuration": false},
        })
    }

    /// `initialize` (with this process as `processId` unless `extra` says
    /// otherwise) and `initialized`. Returns the initialize result.
    pub fn initialize(&self, extra: Value) -> Value {
        let uri = format!("file://{}", self.root.display());
        let mut params = json!({
            "processId": std::process::id(),
            "rootUri": uri,
            "workspaceFolders": [{"uri": uri, "name": "ws"}],
            "capabilities": Self::client_capabilities(),
        });
        if let (Some(p), Value::Object(e)) = (params.as_object_mut(), extra) {
            for (k, v) in e {
                p.insert(k, v);
            }
        }
        // SANDPORT_TEST_BACKEND=docker runs the same cases in a container.
        if std::env::var("SANDPORT_TEST_BACKEND").as_deref() == Ok("docker") {
            let opts = &mut params["initializationOptions"];
            if !opts.is_object() {
                *opts = json!({});
            }
            let sp = &mut opts["sandport"];
            if !sp.is_object() {
                *sp = json!({});
            }
            sp["backend"] = json!("docker");
            sp["docker"] = json!({
                "image": "sandport-test:host",
                "mounts": ["/usr:/usr:ro", "/etc:/etc:ro"],
            });
        }
        let r = self
            .request("initialize", params)
            .unwrap_or_else(|e| panic!("initialize failed: {e}"));
        self.notify("initialized", json!({}));
        r
    }

    pub fn send(&self, v: &Value) {
        let mut g = self.shared.stdin.lock().unwrap();
        let w = g.as_mut().expect("stdin is open");
        write_frame(w, v).expect("write to server");
    }

    pub fn send_raw(&self, bytes: &[u8]) {
        let mut g = self.shared.stdin.lock().unwrap();
        let w = g.as_mut().expect("stdin is open");
        w.write_all(bytes).expect("write to server");
        w.flush().expect("flush");
    }

    /// Send a request; returns its id.
    pub fn send_request(&self, method: &str, params: Value) -> Value {
        let id = json!(self.next_id.fetch_add(1, Ordering::Relaxed));
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        id
    }

    /// Wait for the response to `id`: `Ok(result)` or `Err(error)`.
    pub fn response(&self, id: &Value, timeout: Duration) -> Result<Value, Value> {
        let k = key(id);
        let end = Instant::now() + timeout;
        let mut st = self.shared.state.lock().unwrap();
        loop {
            if let Some(r) = st.responses.remove(&k) {
                return match r.get("error") {
                    Some(e) => Err(e.clone()),
                    None => Ok(r.get("result").cloned().unwrap_or(Value::Null)),
                };
            }
            let now = Instant::now();
            if st.closed || now >= end {
                drop(st);
                panic!(
                    "no response to request {id} within {timeout:?} (closed: {}); stderr:\n{}",
                    self.shared.state.lock().unwrap().closed,
                    self.stderr()
                );
            }
            st = self.shared.cond.wait_timeout(st, end - now).unwrap().0;
        }
    }

    /// A request and its response (60 s deadline).
    pub fn request(&self, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.send_request(method, params);
        self.response(&id, REQUEST_TIMEOUT)
    }

    pub fn notify(&self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// `workspace/executeCommand` with `arguments: [args]`.
    pub fn cmd(&self, command: &str, args: Value) -> Result<Value, Value> {
        self.request(
            "workspace/executeCommand",
            json!({"command": command, "arguments": [args]}),
        )
    }

    /// Like [`Lsp::cmd`], without waiting; returns the request id.
    pub fn cmd_async(&self, command: &str, args: Value) -> Value {
        self.send_request(
            "workspace/executeCommand",
            json!({"command": command, "arguments": [args]}),
        )
    }

    /// A command that must succeed.
    pub fn ok(&self, command: &str, args: Value) -> Value {
        self.cmd(command, args)
            .unwrap_or_else(|e| panic!("{command} failed: {e}"))
    }

    /// A command that must fail; returns `error.data.code`, checking the
    /// error's shape (`data` = `{code, message, …}`).
    pub fn err_code(&self, command: &str, args: Value) -> String {
        match self.cmd(command, args.clone()) {
            Ok(r) => panic!("{command} {args} should have failed, got {r}"),
            Err(e) => {
                assert!(e["code"].is_i64(), "error code: {e}");
                assert!(e["data"]["message"].is_string(), "error data: {e}");
                e["data"]["code"].as_str().expect("data.code").to_string()
            }
        }
    }

    /// All notifications of `method` so far (params).
    pub fn notifications(&self, method: &str) -> Vec<Value> {
        self.timed_notifications(method)
            .into_iter()
            .map(|(_, v)| v)
            .collect()
    }

    pub fn timed_notifications(&self, method: &str) -> Vec<(Instant, Value)> {
        self.shared
            .state
            .lock()
            .unwrap()
            .notifications
            .iter()
            .filter(|(_, n)| n["method"] == method)
            .map(|(t, n)| (*t, n["params"].clone()))
            .collect()
    }

    /// Wait for a notification of `method` whose params satisfy `pred`.
    pub fn wait_notification(
        &self,
        method: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let end = Instant::now() + timeout;
        let mut st = self.shared.state.lock().unwrap();
        loop {
            if let Some((_, n)) = st
                .notifications
                .iter()
                .find(|(_, n)| n["method"] == method && pred(&n["params"]))
            {
                return n["params"].clone();
            }
            let now = Instant::now();
            if now >= end || st.closed {
                let seen: Vec<String> = st
                    .notifications
                    .iter()
                    .map(|(_, n)| n["method"].to_string())
                    .collect();
                drop(st);
                panic!("no matching {method} within {timeout:?}; seen {seen:?}");
            }
            st = self.shared.cond.wait_timeout(st, end - now).unwrap().0;
        }
    }

    /// Requests the server sent us (whole messages), by method.
    pub fn server_requests(&self, method: &str) -> Vec<Value> {
        self.shared
            .state
            .lock()
            .unwrap()
            .server_requests
            .iter()
            .filter(|r| r["method"] == method)
            .cloned()
            .collect()
    }

    /// Wait until the server has sent a request of `method` matching `pred`.
    pub fn wait_server_request(
        &self,
        method: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let end = Instant::now() + timeout;
        let mut st = self.shared.state.lock().unwrap();
        loop {
            if let Some(r) = st
                .server_requests
                .iter()
                .find(|r| r["method"] == method && pred(&r["params"]))
            {
                return r.clone();
            }
            let now = Instant::now();
            if now >= end || st.closed {
                drop(st);
                panic!("server sent no matching {method} within {timeout:?}");
            }
            st = self.shared.cond.wait_timeout(st, end - now).unwrap().0;
        }
    }

    /// Bytes of protocol received so far.
    pub fn bytes_in(&self) -> u64 {
        self.shared.state.lock().unwrap().bytes_in
    }

    /// Anything on stdout that was not a protocol frame.
    pub fn garbage(&self) -> Vec<String> {
        self.shared.state.lock().unwrap().garbage.clone()
    }

    pub fn close_stdin(&self) {
        self.shared.stdin.lock().unwrap().take();
    }

    /// `shutdown` then `exit`.
    pub fn shutdown_exit(&self) {
        self.request("shutdown", Value::Null)
            .expect("shutdown succeeds");
        self.notify("exit", Value::Null);
    }

    /// Wait for the server process to end.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + timeout;
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill(&mut self, sig: i32) {
        // SAFETY: kill(2) with a pid we own and a signal number.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }
}

impl Drop for Lsp {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.shared.stdin.lock().unwrap().take();
            if self.wait_exit(Duration::from_secs(10)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

fn reader(mut r: BufReader<std::process::ChildStdout>, shared: Arc<Shared>) {
    loop {
        let mut len = None;
        let mut header_bytes = 0u64;
        loop {
            let mut line = String::new();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => {
                    let mut st = shared.state.lock().unwrap();
                    st.closed = true;
                    shared.cond.notify_all();
                    return;
                }
                Ok(n) => header_bytes += n as u64,
            }
            let t = line.trim_end();
            if t.is_empty() {
                break;
            }
            match t.split_once(':') {
                Some((k, v)) if k.eq_ignore_ascii_case("content-length") => {
                    len = v.trim().parse::<usize>().ok()
                }
                Some(_) => {}
                None => shared.state.lock().unwrap().garbage.push(t.to_string()),
            }
        }
        let Some(len) = len else {
            shared
                .state
                .lock()
                .unwrap()
                .garbage
                .push("frame without Content-Length".into());
            continue;
        };
        let mut body = vec![0u8; len];
        if r.read_exact(&mut body).is_err() {
            let mut st = shared.state.lock().unwrap();
            st.closed = true;
            shared.cond.notify_all();
            return;
        }
        let now = Instant::now();
        let msg: Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => {
                shared
                    .state
                    .lock()
                    .unwrap()
                    .garbage
                    .push(String::from_utf8_lossy(&body).into_owned());
                continue;
            }
        };
        let has_id = msg.get("id").is_some();
        let method = msg
            .get("method")
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut st = shared.state.lock().unwrap();
        st.bytes_in += header_bytes + len as u64;
        match (has_id, method) {
            (true, Some(m)) => {
                let result = match m.as_str() {
                    "window/showMessageRequest" => match &st.policy.message_action {
                        Some(a) => json!({ "title": a }),
                        None => Value::Null,
                    },
                    "window/showDocument" => json!({"success": true}),
                    _ => Value::Null,
                };
                st.server_requests.push(msg.clone());
                drop(st);
                let reply = json!({"jsonrpc": "2.0", "id": msg["id"], "result": result});
                if let Some(w) = shared.stdin.lock().unwrap().as_mut() {
                    let _ = write_frame(w, &reply);
                }
                st = shared.state.lock().unwrap();
            }
            (true, None) => {
                st.responses.insert(key(&msg["id"]), msg);
            }
            (false, Some(_)) => st.notifications.push((now, msg)),
            (false, None) => st.garbage.push(msg.to_string()),
        }
        shared.cond.notify_all();
    }
}
