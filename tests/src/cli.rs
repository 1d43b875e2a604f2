//! Driving the CLI (`sandport run`, `sandport up`) as a user does: a child
//! process with piped output, Ctrl-C, bounded waits and line readers.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `sandport SUB --workspace WS ARGS…` with stdin closed and both outputs piped.
pub fn sandport_cmd(sub: &str, ws: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(crate::sandport_bin());
    c.arg(sub)
        .arg("--workspace")
        .arg(ws)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Ctrl-C, as a terminal sends it.
pub fn sigint(child: &Child) {
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
}

/// The exit code once `child` exits; kills it and panics after `limit`.
pub fn wait_exit(child: &mut Child, limit: Duration) -> i32 {
    let end = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code().unwrap_or(-1);
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("the sandport command did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Lines until `pred` matches one (or the stream ends), for at most `limit`.
pub fn read_until(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    limit: Duration,
    mut pred: impl FnMut(&str) -> bool,
) -> Vec<String> {
    let end = Instant::now() + limit;
    let mut seen = Vec::new();
    while Instant::now() < end {
        let Some(Ok(line)) = lines.next() else { break };
        let done = pred(&line);
        seen.push(line);
        if done {
            break;
        }
    }
    seen
}

/// Stops a CLI child a failed assertion left running (Ctrl-C, then a bounded
/// wait, then SIGKILL), so no test leaves its processes behind.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            sigint(&self.0);
            let end = Instant::now() + Duration::from_secs(10);
            while Instant::now() < end && self.0.try_wait().ok().flatten().is_none() {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
