//! `sandport agent …`: the small helper the Docker backend runs inside the
//! container. It is the same binary, copied or mounted in at
//! [`AGENT_PATH`], and talks to the server only through `docker exec`
//! standard streams (no published ports, no routable container address), so
//! it works with a remote engine and with services bound to 127.0.0.1.
//!
//! Status lines for the server go to stderr behind [`MARK`]; everything else
//! on stdout/stderr is the process's or the connection's own bytes.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub const AGENT_PATH: &str = "/.sandport/sandport";
/// Starts a status line of the agent on stderr.
pub const MARK: &str = "\u{1}sandport-agent ";

static TERM: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_: libc::c_int) {
    TERM.store(true, Ordering::SeqCst);
}

extern "C" fn on_chld(_: libc::c_int) {}

fn handle(sig: libc::c_int, f: extern "C" fn(libc::c_int)) {
    // SAFETY: installing a handler that only touches an atomic; no SA_RESTART
    // so sleeps are interrupted.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = f as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(sig, &sa, std::ptr::null_mut());
    }
}

/// Runs an agent subcommand; returns the exit code.
pub fn main(args: &[String]) -> i32 {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match a.as_slice() {
        ["init"] => init(),
        ["spawn", "--", cmd] => spawn(cmd),
        ["connect", port] => port.parse().map(connect).unwrap_or(2),
        ["wait-port", port, ms] => match (port.parse(), ms.parse()) {
            (Ok(p), Ok(ms)) => wait_port(p, ms),
            _ => 2,
        },
        ["signal", sig, pgid] => match (sig.parse::<i32>(), pgid.parse::<i32>()) {
            // SAFETY: kill(2) of a process group inside the container.
            (Ok(s), Ok(g)) if g > 1 => (unsafe { libc::kill(-g, s) } != 0) as i32,
            _ => 2,
        },
        ["members", pgid] => match pgid.parse::<i32>() {
            Ok(g) => {
                let m = crate::procfs::group_members(g);
                println!("{}", serde_json::to_string(&m).unwrap_or_default());
                0
            }
            Err(_) => 2,
        },
        ["signal-pids", sig, pids @ ..] => match sig.parse::<i32>() {
            Ok(s) => {
                for p in pids.iter().filter_map(|p| p.parse::<i32>().ok()) {
                    // SAFETY: kill(2) of a process inside the container.
                    unsafe { libc::kill(p, s) };
                }
                0
            }
            Err(_) => 2,
        },
        ["ports", pids @ ..] => {
            let pids: Vec<u32> = pids.iter().filter_map(|p| p.parse().ok()).collect();
            let m = crate::procfs::listening_ports(&pids);
            println!("{}", serde_json::to_string(&m).unwrap_or_default());
            0
        }
        ["lifeline"] => lifeline(),
        ["relay", token] => relay(token),
        _ => {
            eprintln!("sandport agent: unknown subcommand {a:?}");
            2
        }
    }
}

/// PID 1 of the container: reap every orphan; on SIGTERM kill everything
/// and exit (which stops the container).
fn init() -> i32 {
    handle(libc::SIGTERM, on_term);
    handle(libc::SIGINT, on_term);
    handle(libc::SIGCHLD, on_chld);
    loop {
        let mut st = 0;
        // SAFETY: reaping any child, non-blocking.
        while unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) } > 0 {}
        if TERM.load(Ordering::SeqCst) {
            // SAFETY: kill every process of the container's namespace but us.
            unsafe { libc::kill(-1, libc::SIGKILL) };
            let end = Instant::now() + Duration::from_secs(2);
            while Instant::now() < end {
                // SAFETY: as above.
                if unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) } < 0 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            return 0;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// New session (so the group can be signalled as one), report our pid, then
/// become `/bin/sh -c cmd`.
fn spawn(cmd: &str) -> i32 {
    use std::os::unix::process::CommandExt;
    // SAFETY: setsid in a single-threaded process before exec.
    unsafe { libc::setsid() };
    eprintln!("{MARK}pid={}", std::process::id());
    let err = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .exec();
    eprintln!("{MARK}error=cannot run /bin/sh: {err}");
    127
}

fn connect(port: u16) -> i32 {
    let s = TcpStream::connect(("127.0.0.1", port))
        .or_else(|e| TcpStream::connect(("::1", port)).map_err(|_| e));
    let s = match s {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{MARK}refused={e}");
            return 1;
        }
    };
    let _ = s.set_nodelay(true);
    eprintln!("{MARK}connected");
    let mut up = s.try_clone().expect("socket clone");
    let writer = std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let _ = std::io::copy(&mut stdin, &mut up);
        let _ = up.shutdown(Shutdown::Write);
    });
    let mut down = s;
    let mut stdout = std::io::stdout().lock();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match down.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if stdout
                    .write_all(&buf[..n])
                    .and_then(|_| stdout.flush())
                    .is_err()
                {
                    break;
                }
            }
        }
    }
    drop(stdout);
    // The peer closed: nothing more to send either.
    let _ = down.shutdown(Shutdown::Both);
    let _ = writer.join();
    0
}

/// Exit 0 once something accepts on the port (tried every 5 ms), 1 after
/// `ms`, or as soon as the server goes away (stdin closes).
fn wait_port(port: u16, ms: u64) -> i32 {
    let gone = std::sync::Arc::new(AtomicBool::new(false));
    {
        let gone = gone.clone();
        std::thread::spawn(move || {
            let mut b = [0u8; 64];
            while matches!(std::io::stdin().read(&mut b), Ok(n) if n > 0) {}
            gone.store(true, Ordering::SeqCst);
        });
    }
    let end = Instant::now() + Duration::from_millis(ms);
    while Instant::now() < end && !gone.load(Ordering::SeqCst) {
        let ok = TcpStream::connect(("127.0.0.1", port))
            .or_else(|_| TcpStream::connect(("::1", port)))
            .is_ok();
        if ok {
            return 0;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    1
}

/// Held open by the server: when it goes away (even SIGKILLed), stdin ends
/// and the container's init is told to stop everything.
fn lifeline() -> i32 {
    let mut b = [0u8; 64];
    while matches!(std::io::stdin().read(&mut b), Ok(n) if n > 0) {}
    // SAFETY: SIGTERM to the container's init (our agent), which handles it.
    unsafe { libc::kill(1, libc::SIGTERM) };
    0
}

/// A TCP relay for engines on this machine: listens on an ephemeral port of
/// the container's own address; each connection names `TOKEN PORT` on its
/// first line, gets `+` (connected to 127.0.0.1:PORT inside) or `-`, then
/// carries the bytes. The same job as `connect`, without an exec per
/// connection and without dockerd copying every byte.
fn relay(token: &str) -> i32 {
    let listener = match std::net::TcpListener::bind(("0.0.0.0", 0)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{MARK}error={e}");
            return 1;
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    eprintln!("{MARK}relay={port}");
    let token = token.as_bytes().to_vec();
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let token = token.clone();
        std::thread::spawn(move || relay_one(conn, &token));
    }
    0
}

fn relay_one(mut c: TcpStream, token: &[u8]) {
    let _ = c.set_nodelay(true);
    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::with_capacity(64);
    let mut b = [0u8; 1];
    while head.len() < 128 {
        match c.read(&mut b) {
            Ok(1) if b[0] == b'\n' => break,
            Ok(1) => head.push(b[0]),
            _ => return,
        }
    }
    let line = String::from_utf8_lossy(&head);
    let Some((t, port)) = line.split_once(' ') else {
        return;
    };
    // Compared in full whatever the first difference, as the gateway does.
    let same =
        t.len() == token.len() && t.bytes().zip(token).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    let Ok(port) = port.trim().parse::<u16>() else {
        return;
    };
    if !same {
        return;
    }
    let _ = c.set_read_timeout(None);
    let up = TcpStream::connect(("127.0.0.1", port)).or_else(|_| TcpStream::connect(("::1", port)));
    let Ok(up) = up else {
        let _ = c.write_all(b"-");
        return;
    };
    let _ = up.set_nodelay(true);
    if c.write_all(b"+").is_err() {
        return;
    }
    let (mut c2, mut up2) = match (c.try_clone(), up.try_clone()) {
        (Ok(a), Ok(b)) => (a, b),
        _ => return,
    };
    let t = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut up2);
        let _ = up2.shutdown(Shutdown::Write);
    });
    let (mut up, mut c) = (up, c);
    let _ = std::io::copy(&mut up, &mut c);
    let _ = c.shutdown(Shutdown::Write);
    let _ = t.join();
}
